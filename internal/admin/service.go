package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Service runs admin operations against a store. Its nil fields mean the documented
// defaults.
type Service struct {
	// Store is where keys, admin tokens and the audit log live. Required.
	Store store.Store
	// Config supplies the default environment of new keys and the peppers of the
	// api_key authenticators. Required for key operations.
	Config *config.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Caller says who makes a call and from where, for the audit log.
type Caller struct {
	// Actor is "admin-token:<id> (<name>)" or "cli:<os user>".
	Actor string
	// Remote is the caller's network address, or "local".
	Remote string
}

// As returns the operations of s made on behalf of c.
func (s *Service) As(c Caller) *Session { return &Session{svc: s, caller: c} }

// Session is a Service bound to a caller. It implements Keys.
type Session struct {
	svc    *Service
	caller Caller
}

// Error is a failure with a message safe to show a client (Msg) and the status and
// problem title the HTTP API answers it with. Err, when set, is the cause, for logs and
// errors.Is; it never holds a secret either.
type Error struct {
	Status int
	Msg    string
	Err    error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// classify turns a store error into an Error with a client message; msg describes the
// record for not-found and exists.
func classify(err error, notFound, exists string) error {
	var ae *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return err
	case errors.Is(err, store.ErrNotFound) && notFound != "":
		return &Error{Status: http.StatusNotFound, Msg: notFound, Err: err}
	case errors.Is(err, store.ErrExists) && exists != "":
		return &Error{Status: http.StatusConflict, Msg: exists, Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Msg: err.Error(), Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Msg: "the credential store is unavailable: " + err.Error(), Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Msg: err.Error(), Err: err}
}

// resultOf names the class of an outcome for the audit log.
func resultOf(err error) string {
	var ae *Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusNotFound:
			return "not_found"
		case http.StatusConflict:
			return "conflict"
		case http.StatusBadRequest:
			return "invalid"
		case http.StatusServiceUnavailable:
			return "unavailable"
		}
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

// audit records one change. A failure to record it fails a successful operation's
// answer (an unaudited change must not look like a clean success), but the change
// itself is already committed; the error says so.
func (s *Session) audit(ctx context.Context, action, target string, opErr error) error {
	e := store.AuditEntry{
		At: s.svc.now(), Actor: clip(s.caller.Actor), Action: action, Target: clip(target),
		Remote: clip(s.caller.Remote), Result: resultOf(opErr),
	}
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	// Record even when the caller gave up: the change may be committed.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.svc.Store.AppendAudit(actx, &e)
	if err != nil && opErr == nil {
		return &Error{Status: http.StatusServiceUnavailable,
			Msg: "the change was made but could not be recorded in the audit log: " + err.Error(), Err: err}
	}
	return opErr
}

func clip(s string) string {
	if len(s) <= store.MaxAuditField {
		return s
	}
	s = s[:store.MaxAuditField]
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}

// Time is an RFC 3339 time (seconds, UTC) that is null in JSON when zero.
type Time time.Time

// MarshalJSON writes null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	*t = Time(v)
	return nil
}

// T returns the time.Time.
func (t Time) T() time.Time { return time.Time(t) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

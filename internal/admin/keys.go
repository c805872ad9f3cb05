package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Keys is what the CLI's keys command needs: the local Session and the remote Client
// both implement it, with the same results.
type Keys interface {
	CreateKey(ctx context.Context, r CreateKeyRequest) (CreatedKey, error)
	// ListKeys returns up to limit keys with ids greater than after, in id order.
	ListKeys(ctx context.Context, after string, limit int) ([]ListedKey, error)
	RevokeKey(ctx context.Context, id string) (RevokedKey, error)
	RotateKey(ctx context.Context, id string, r RotateKeyRequest) (CreatedKey, error)
}

// DefaultGrace is how long a rotated key stays valid when no grace is given.
const DefaultGrace = time.Hour

// CreateKeyRequest is the body of POST /admin/v1/keys; its members are the flags of
// `gatehouse keys create`.
type CreateKeyRequest struct {
	Name string `json:"name"`
	// Env defaults to the configuration's environment.
	Env    string   `json:"env,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// Expires is a lifetime (24h, 30d, 2w) or an RFC 3339 time; empty means never.
	Expires string `json:"expires,omitempty"`
	// Authenticator names the api_key authenticator whose pepper hashes the key.
	Authenticator string `json:"authenticator,omitempty"`
	// Attributes become the key's claims (--attr team=billing); see
	// store.ValidateAttributes.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// RotateKeyRequest is the body of POST /admin/v1/keys/{id}/rotate.
type RotateKeyRequest struct {
	// Grace is how long the old key stays valid: a duration, "0" for not at all;
	// empty means DefaultGrace.
	Grace string `json:"grace,omitempty"`
	// Expires is the new key's lifetime; empty means the old key's lifetime.
	Expires       string `json:"expires,omitempty"`
	Authenticator string `json:"authenticator,omitempty"`
}

// CreatedKey is the answer to creating or rotating a key: the only time the key is
// shown.
type CreatedKey struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Env       string   `json:"env"`
	Scopes    []string `json:"scopes"`
	ExpiresAt Time     `json:"expires_at"`
	// Attributes are the key's attributes (a rotation keeps the old key's).
	Attributes map[string]string `json:"attributes,omitempty"`
	// Replaces is set by a rotation: the old key and when it stops being valid.
	Replaces *ReplacedKey `json:"replaces,omitempty"`
}

// ReplacedKey is the old key of a rotation.
type ReplacedKey struct {
	ID         string `json:"id"`
	ValidUntil Time   `json:"valid_until"`
	// StillValid is false when the grace period is over already (a grace of 0).
	StillValid bool `json:"still_valid"`
}

// ListedKey is one key of a listing: never a secret.
type ListedKey struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Env        string   `json:"env"`
	Scopes     []string `json:"scopes"`
	Status     string   `json:"status"`
	CreatedAt  Time     `json:"created_at"`
	ExpiresAt  Time     `json:"expires_at"`
	LastUsedAt Time     `json:"last_used_at"`
	// Attributes are the key's attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
	// RotationEndsAt is set for an active key in a rotation's grace period.
	RotationEndsAt *Time `json:"rotation_ends_at,omitempty"`
}

// RevokedKey is the answer to revoking a key.
type RevokedKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	RevokedAt Time   `json:"revoked_at"`
	// AlreadyRevoked is true when the key was revoked before this call, which then
	// changed nothing.
	AlreadyRevoked bool `json:"already_revoked,omitempty"`
}

// KeyHasher returns the hasher of the configuration's api_key authenticator (named, or
// the only one, or any when they share a pepper). Without one, keys are hashed with
// plain SHA-256, which is what an api_key authenticator without a pepper expects.
func KeyHasher(cfg *config.Config, name string) (*secret.KeyHasher, error) {
	var peppers [][]byte
	var names []string
	for n, a := range cfg.Authenticators {
		if a.Type != config.TypeAPIKey || a.APIKey == nil {
			continue
		}
		if name != "" && n != name {
			continue
		}
		names = append(names, n)
		p := a.APIKey.Pepper.Reveal()
		dup := false
		for _, q := range peppers {
			if secret.Equal(p, q) {
				dup = true
			}
		}
		if !dup {
			peppers = append(peppers, p)
		}
	}
	switch {
	case name != "" && len(names) == 0:
		return nil, badRequest("no api_key authenticator is called %q", name)
	case len(peppers) > 1:
		return nil, badRequest("the api_key authenticators %s use different peppers; choose one with --authenticator", strings.Join(names, ", "))
	case len(peppers) == 0:
		return secret.NewKeyHasher(nil)
	}
	return secret.NewKeyHasher(peppers[0])
}

// ParseSpan reads a duration: a Go duration (90m, 24h) or whole days and weeks (30d, 2w).
func ParseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || v > 100*365 {
				return 0, fmt.Errorf("%q is not a duration like 30d", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 24h, 30d or 2w", s)
	}
	return d, nil
}

// ParseExpiry reads an expiry: a duration from now, or an RFC 3339 time. It must be in
// the future. Empty is the zero time (never).
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("--expires %s is in the past", s)
		}
		return t, nil
	}
	d, err := ParseSpan(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires: %v (or an RFC 3339 time)", err)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("--expires must be positive")
	}
	return now.Add(d), nil
}

// ParseGrace reads a rotation's grace period; empty is DefaultGrace.
func ParseGrace(s string) (time.Duration, error) {
	if s == "" {
		return DefaultGrace, nil
	}
	d, err := ParseSpan(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--grace: %q is not a duration like 1h or 0", s)
	}
	return d, nil
}

// KeyIDArg accepts a key id, or a whole key pasted by mistake (only its id is used; the
// secret is never echoed back).
func KeyIDArg(s string) string {
	if k, err := secret.ParseAPIKey(s); err == nil {
		return k.ID
	}
	return s
}

func newKeyRecord(h *secret.KeyHasher, name, env string, scopes []string, attrs map[string]string, created, expires time.Time) (secret.APIKey, store.APIKey, error) {
	k, err := secret.NewAPIKey(env)
	if err != nil {
		return k, store.APIKey{}, err
	}
	return k, store.APIKey{
		ID: k.ID, Name: name, Env: env, Scopes: scopes, Attributes: attrs,
		SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: created, ExpiresAt: expires,
	}, nil
}

func (s *Session) config() (*config.Config, error) {
	if s.svc.Config == nil {
		return nil, &Error{Status: http.StatusInternalServerError, Msg: "admin service has no configuration"}
	}
	return s.svc.Config, nil
}

// CreateKey makes a key and returns it, the only time it is shown.
func (s *Session) CreateKey(ctx context.Context, r CreateKeyRequest) (CreatedKey, error) {
	out, target, err := s.createKey(ctx, r)
	return out, s.audit(ctx, "keys.create", target, err)
}

func (s *Session) createKey(ctx context.Context, r CreateKeyRequest) (CreatedKey, string, error) {
	if r.Name == "" || len(r.Name) > store.MaxNameBytes || !utf8.ValidString(r.Name) {
		return CreatedKey{}, "", badRequest("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes)
	}
	if err := store.ValidateScopes(r.Scopes); err != nil {
		return CreatedKey{}, "", badRequest("--scopes: %v", err)
	}
	if err := store.ValidateAttributes(r.Attributes); err != nil {
		return CreatedKey{}, "", badRequest("--attr: %v", err)
	}
	now := s.svc.now()
	exp, err := ParseExpiry(r.Expires, now)
	if err != nil {
		return CreatedKey{}, "", badRequest("%v", err)
	}
	cfg, err := s.config()
	if err != nil {
		return CreatedKey{}, "", err
	}
	env := r.Env
	if env == "" {
		env = cfg.Environment
	}
	if err := secret.ValidateEnv(env); err != nil {
		return CreatedKey{}, "", badRequest("--env: %v", err)
	}
	h, err := KeyHasher(cfg, r.Authenticator)
	if err != nil {
		return CreatedKey{}, "", err
	}
	var (
		key secret.APIKey
		rec store.APIKey
	)
	// A fresh id collides with probability ~n/2^71; retry a couple of times anyway.
	for attempt := 0; ; attempt++ {
		key, rec, err = newKeyRecord(h, r.Name, env, r.Scopes, r.Attributes, now, exp)
		if err == nil {
			err = s.svc.Store.CreateKey(ctx, &rec)
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return CreatedKey{}, "", classify(err, "", "")
	}
	return CreatedKey{
		ID: rec.ID, Key: key.Reveal(), Name: rec.Name, Env: rec.Env,
		Scopes: nonNil(rec.Scopes), ExpiresAt: Time(rec.ExpiresAt), Attributes: rec.Attributes,
	}, rec.ID, nil
}

// ListKeys returns a page of keys with their status; never a secret.
func (s *Session) ListKeys(ctx context.Context, after string, limit int) ([]ListedKey, error) {
	keys, err := s.svc.Store.ListKeys(ctx, after, limit)
	if err != nil {
		return nil, classify(err, "", "")
	}
	now := s.svc.now()
	out := make([]ListedKey, 0, len(keys))
	for _, k := range keys {
		status := k.Status(now)
		l := ListedKey{
			ID: k.ID, Name: k.Name, Env: k.Env, Scopes: nonNil(k.Scopes), Status: string(status),
			CreatedAt: Time(k.CreatedAt), ExpiresAt: Time(k.ExpiresAt), LastUsedAt: Time(k.LastUsedAt),
			Attributes: k.Attributes,
		}
		if status == store.KeyActive && !k.RevokedAt.IsZero() {
			t := Time(k.RevokedAt)
			l.RotationEndsAt = &t
		}
		out = append(out, l)
	}
	return out, nil
}

// RevokeKey revokes the key with id (or the id of a whole key) from now on.
func (s *Session) RevokeKey(ctx context.Context, id string) (RevokedKey, error) {
	id = KeyIDArg(id)
	now := s.svc.now()
	k, err := s.svc.Store.RevokeKey(ctx, id, now)
	if err != nil {
		return RevokedKey{}, s.audit(ctx, "keys.revoke", id, classify(err, fmt.Sprintf("no key with id %q", id), ""))
	}
	out := RevokedKey{ID: k.ID, Name: k.Name, Status: string(store.KeyRevoked), RevokedAt: Time(k.RevokedAt),
		AlreadyRevoked: k.RevokedAt.Before(store.Micro(now))}
	return out, s.audit(ctx, "keys.revoke", id, nil)
}

// RotateKey makes a replacement of the key with id and keeps the old key valid for the
// grace period.
func (s *Session) RotateKey(ctx context.Context, id string, r RotateKeyRequest) (CreatedKey, error) {
	id = KeyIDArg(id)
	out, err := s.rotateKey(ctx, id, r)
	target := id
	if err == nil {
		target = id + " -> " + out.ID
	}
	return out, s.audit(ctx, "keys.rotate", target, err)
}

func (s *Session) rotateKey(ctx context.Context, id string, r RotateKeyRequest) (CreatedKey, error) {
	grace, err := ParseGrace(r.Grace)
	if err != nil {
		return CreatedKey{}, badRequest("%v", err)
	}
	now := s.svc.now()
	exp, err := ParseExpiry(r.Expires, now)
	if err != nil {
		return CreatedKey{}, badRequest("%v", err)
	}
	cfg, err := s.config()
	if err != nil {
		return CreatedKey{}, err
	}
	h, err := KeyHasher(cfg, r.Authenticator)
	if err != nil {
		return CreatedKey{}, err
	}
	notFound := fmt.Sprintf("no key with id %q", id)
	old, err := s.svc.Store.Key(ctx, id)
	if err != nil {
		return CreatedKey{}, classify(err, notFound, "")
	}
	if exp.IsZero() && !old.ExpiresAt.IsZero() {
		exp = now.Add(old.ExpiresAt.Sub(old.CreatedAt)) // the same lifetime as the old key
	}
	var (
		key     secret.APIKey
		rec     store.APIKey
		updated store.APIKey
	)
	for attempt := 0; ; attempt++ {
		key, rec, err = newKeyRecord(h, old.Name, old.Env, old.Scopes, old.Attributes, now, exp)
		if err == nil {
			updated, err = s.svc.Store.RotateKey(ctx, old.ID, &rec, now.Add(grace))
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrRevoked):
		return CreatedKey{}, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("key %s is revoked; create a new key instead", old.ID), Err: err}
	case err != nil:
		return CreatedKey{}, classify(err, notFound, "")
	}
	return CreatedKey{
		ID: rec.ID, Key: key.Reveal(), Name: rec.Name, Env: rec.Env,
		Scopes: nonNil(rec.Scopes), ExpiresAt: Time(rec.ExpiresAt), Attributes: rec.Attributes,
		Replaces: &ReplacedKey{ID: old.ID, ValidUntil: Time(updated.RevokedAt), StillValid: updated.RevokedAt.After(store.Micro(now))},
	}, nil
}

package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// This file holds what the admin API keeps in the store: the admin tokens that
// authenticate its callers, and the audit log of every change made through it or the
// CLI.

// AdminToken is a credential for the admin API. Its secret is never stored: SecretHash
// is the hash of the whole token under HashAlg, and the only copy of the token is the
// one printed at creation.
//
// Admin tokens are read from the store on every admin call (never cached), so a
// revocation applies on every replica at the next call; no change is appended.
type AdminToken struct {
	// ID is the public lookup id, the <id> of gha_<id>_<secret>.
	ID string
	// Name says whom the token is for; it names the actor in the audit log.
	Name       string
	SecretHash []byte
	HashAlg    string
	CreatedAt  time.Time
	// ExpiresAt is when the token stops being valid; zero when it never expires.
	ExpiresAt time.Time
	// RevokedAt is when the token was revoked; zero when it is not.
	RevokedAt time.Time
}

// Valid reports whether the token authenticates calls at now.
func (t *AdminToken) Valid(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Status reports "active", "revoked" or "expired" at now.
func (t *AdminToken) Status(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// ValidateAdminToken checks an admin token before it is stored.
func ValidateAdminToken(t *AdminToken) error {
	switch {
	case t.ID == "" || len(t.ID) > 64 || !isPrintableASCII(t.ID):
		return fmt.Errorf("admin token id must be 1-64 printable ASCII characters")
	case t.Name == "" || len(t.Name) > MaxNameBytes || !utf8.ValidString(t.Name):
		return fmt.Errorf("admin token name must be 1-%d bytes of UTF-8", MaxNameBytes)
	case len(t.SecretHash) == 0 || t.HashAlg == "":
		return fmt.Errorf("admin token has no secret hash")
	case t.CreatedAt.IsZero():
		return fmt.Errorf("admin token has no creation time")
	case !t.RevokedAt.IsZero():
		return fmt.Errorf("a new admin token cannot already be revoked")
	}
	return nil
}

// AuditEntry is one change made through the admin service: who made it, what, to what,
// when, from where and with what result. It never holds a secret: targets are ids and
// names, never keys, passwords or tokens.
type AuditEntry struct {
	// Seq orders the log; the store assigns it.
	Seq int64
	At  time.Time
	// Actor is "admin-token:<id> (<name>)" for an admin API call, or "cli:<os user>"
	// for the local CLI.
	Actor string
	// Action is what was done: "keys.create", "admin-tokens.revoke", ...
	Action string
	// Target is the id or name of the record acted on; empty when none was made.
	Target string
	// Remote is the caller's address for an admin API call, "local" for the CLI.
	Remote string
	// Result is "ok", or the class of failure ("not_found", "exists", "invalid",
	// "unavailable", "error").
	Result string
}

// Limits on audit fields; longer values are cut to fit.
const MaxAuditField = 512

// ValidateAuditEntry checks an audit entry before it is stored.
func ValidateAuditEntry(e *AuditEntry) error {
	switch {
	case e.At.IsZero():
		return fmt.Errorf("audit entry has no time")
	case e.Actor == "" || e.Action == "" || e.Result == "":
		return fmt.Errorf("audit entry needs an actor, an action and a result")
	}
	for _, f := range []string{e.Actor, e.Action, e.Target, e.Remote, e.Result} {
		if len(f) > MaxAuditField || !utf8.ValidString(f) {
			return fmt.Errorf("audit entry fields must be at most %d bytes of UTF-8", MaxAuditField)
		}
	}
	return nil
}

// AdminStore keeps admin tokens and the audit log.
type AdminStore interface {
	// CreateAdminToken stores a new admin token; a taken id is ErrExists.
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// AdminToken returns the admin token with that id, or ErrNotFound.
	AdminToken(ctx context.Context, id string) (AdminToken, error)
	// ListAdminTokens returns up to limit admin tokens with ids greater than after, in
	// id order.
	ListAdminTokens(ctx context.Context, after string, limit int) ([]AdminToken, error)
	// RevokeAdminToken revokes the token at at. A token already revoked is returned
	// unchanged. An unknown id is ErrNotFound.
	RevokeAdminToken(ctx context.Context, id string, at time.Time) (AdminToken, error)
	// AppendAudit stores e and sets e.Seq.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns up to limit entries with Seq greater than after, in Seq order.
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditEntry, error)
}

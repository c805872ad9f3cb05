package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TokenPrefix starts every admin token, so one found in a log or a repository is
// recognised (and a secret scanner can match it).
const TokenPrefix = "gha_"

// An admin token is gha_<id>_<secret>: 16 hex digits of id and 64 of secret (256 bits).
const (
	tokenIDHex     = 16
	tokenSecretHex = 64
	tokenHashAlg   = "sha256"
)

// CreateAdminTokenRequest holds the flags of `gatehouse admin-tokens create`.
type CreateAdminTokenRequest struct {
	Name    string `json:"name"`
	Expires string `json:"expires,omitempty"`
}

// CreatedAdminToken is printed once at creation: the only copy of the token.
type CreatedAdminToken struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Token     string `json:"token"`
	ExpiresAt Time   `json:"expires_at"`
}

// ListedAdminToken is one admin token of a listing: never the secret.
type ListedAdminToken struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	CreatedAt Time   `json:"created_at"`
	ExpiresAt Time   `json:"expires_at"`
	RevokedAt Time   `json:"revoked_at"`
}

func hashToken(tok string) []byte {
	sum := secret.SHA256String(tok)
	return sum[:]
}

func randomHex(n int) (string, error) {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// parseToken splits gha_<id>_<secret>; ok is false for anything else.
func parseToken(tok string) (id string, ok bool) {
	rest, found := strings.CutPrefix(tok, TokenPrefix)
	if !found || len(rest) != tokenIDHex+1+tokenSecretHex || rest[tokenIDHex] != '_' {
		return "", false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if i != tokenIDHex && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return rest[:tokenIDHex], true
}

// CreateAdminToken makes an admin token and returns it, the only time it is shown.
func (s *Session) CreateAdminToken(ctx context.Context, r CreateAdminTokenRequest) (CreatedAdminToken, error) {
	out, err := s.createAdminToken(ctx, r)
	return out, s.audit(ctx, "admin-tokens.create", out.ID, err)
}

func (s *Session) createAdminToken(ctx context.Context, r CreateAdminTokenRequest) (CreatedAdminToken, error) {
	if r.Name == "" || len(r.Name) > store.MaxNameBytes || !utf8.ValidString(r.Name) {
		return CreatedAdminToken{}, badRequest("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes)
	}
	now := s.svc.now()
	exp, err := ParseExpiry(r.Expires, now)
	if err != nil {
		return CreatedAdminToken{}, badRequest("%v", err)
	}
	for attempt := 0; ; attempt++ {
		id, err := randomHex(tokenIDHex)
		if err != nil {
			return CreatedAdminToken{}, err
		}
		sec, err := randomHex(tokenSecretHex)
		if err != nil {
			return CreatedAdminToken{}, err
		}
		tok := TokenPrefix + id + "_" + sec
		rec := store.AdminToken{ID: id, Name: r.Name, SecretHash: hashToken(tok), HashAlg: tokenHashAlg, CreatedAt: now, ExpiresAt: exp}
		err = s.svc.Store.CreateAdminToken(ctx, &rec)
		if errors.Is(err, store.ErrExists) && attempt < 2 {
			continue
		}
		if err != nil {
			return CreatedAdminToken{}, classify(err, "", "")
		}
		return CreatedAdminToken{ID: id, Name: r.Name, Token: tok, ExpiresAt: Time(rec.ExpiresAt)}, nil
	}
}

// ListAdminTokens returns a page of admin tokens; never a secret.
func (s *Session) ListAdminTokens(ctx context.Context, after string, limit int) ([]ListedAdminToken, error) {
	toks, err := s.svc.Store.ListAdminTokens(ctx, after, limit)
	if err != nil {
		return nil, classify(err, "", "")
	}
	now := s.svc.now()
	out := make([]ListedAdminToken, 0, len(toks))
	for _, t := range toks {
		out = append(out, ListedAdminToken{ID: t.ID, Name: t.Name, Status: t.Status(now),
			CreatedAt: Time(t.CreatedAt), ExpiresAt: Time(t.ExpiresAt), RevokedAt: Time(t.RevokedAt)})
	}
	return out, nil
}

// RevokeAdminToken revokes the admin token with id (or the id of a whole token); every
// admin API call with it is refused from the next one on.
func (s *Session) RevokeAdminToken(ctx context.Context, id string) (ListedAdminToken, error) {
	if tid, ok := parseToken(id); ok {
		id = tid
	}
	t, err := s.svc.Store.RevokeAdminToken(ctx, id, s.svc.now())
	if err != nil {
		return ListedAdminToken{}, s.audit(ctx, "admin-tokens.revoke", id, classify(err, fmt.Sprintf("no admin token with id %q", id), ""))
	}
	out := ListedAdminToken{ID: t.ID, Name: t.Name, Status: "revoked",
		CreatedAt: Time(t.CreatedAt), ExpiresAt: Time(t.ExpiresAt), RevokedAt: Time(t.RevokedAt)}
	return out, s.audit(ctx, "admin-tokens.revoke", id, nil)
}

// ErrBadToken is any failure to authenticate with a presented admin token: malformed,
// unknown, wrong secret, expired or revoked are one error, so a caller learns nothing
// about which ids exist.
var ErrBadToken = errors.New("admin token is not valid")

// Authenticate checks a presented admin token and returns the caller it names. A store
// failure is returned as it is (it matches store.ErrUnavailable), never as ErrBadToken:
// a store that is down is a 503, not a 401.
func (s *Service) Authenticate(ctx context.Context, tok string, remote string) (Caller, error) {
	id, ok := parseToken(tok)
	if !ok {
		return Caller{}, ErrBadToken
	}
	t, err := s.Store.AdminToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Compare against something anyway, so an unknown id costs what a known one does.
		secret.Equal(hashToken(tok), make([]byte, 32))
		return Caller{}, ErrBadToken
	}
	if err != nil {
		return Caller{}, err
	}
	match := t.HashAlg == tokenHashAlg && secret.Equal(hashToken(tok), t.SecretHash)
	if !match || !t.Valid(s.now()) {
		return Caller{}, ErrBadToken
	}
	return Caller{Actor: "admin-token:" + t.ID + " (" + t.Name + ")", Remote: remote}, nil
}

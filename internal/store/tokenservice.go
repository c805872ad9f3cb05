package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds what the token service (internal/issuer) keeps in the store: OAuth
// clients, revoked access tokens and the signing keys.

// The change kinds of the token service. A client change's subject is the client_id; a
// token_revoked change's subject is the token's jti; a signing-key change's subject is the
// key's kid.
const (
	ChangeClientCreated ChangeKind = "client_created"
	// ChangeClientRemoved: every token issued to the client is refused from now on.
	ChangeClientRemoved ChangeKind = "client_removed"
	// ChangeTokenRevoked: the access token with this jti was revoked (RFC 7009).
	ChangeTokenRevoked ChangeKind = "token_revoked"
	// ChangeSigningKeyAdded: a signing key was added, and the keys before it were
	// retired; token services and self-issued verifiers reload their key sets.
	ChangeSigningKeyAdded ChangeKind = "signing_key_added"
)

// IsClient reports whether the change concerns an OAuth client.
func (k ChangeKind) IsClient() bool { return strings.HasPrefix(string(k), "client_") }

// IsSigningKey reports whether the change concerns the token service's signing keys.
func (k ChangeKind) IsSigningKey() bool { return strings.HasPrefix(string(k), "signing_key_") }

// MaxAccessTokenTTL bounds a client's access-token lifetime.
const MaxAccessTokenTTL = 24 * time.Hour

// Client is an OAuth 2.0 client of the token service, which obtains access tokens with
// the client credentials grant. Its secret is never stored: SecretHash is its hash under
// HashAlg, and the only copy of the secret is the one printed at creation.
type Client struct {
	// ID is the client_id: public, unique, never reused.
	ID string
	// Name says whom the client is for.
	Name string
	// SecretHash is the hash of the client secret; HashAlg names how it was computed
	// ("sha256": the secret is 190+ random bits, so a fast hash is as good as a slow one).
	SecretHash []byte
	HashAlg    string
	// Scopes are the most a token may carry; a request may ask for fewer.
	Scopes []string
	// Audience is the aud of the client's tokens.
	Audience string
	// AccessTokenTTL is the lifetime of the client's tokens (at most MaxAccessTokenTTL).
	AccessTokenTTL time.Duration
	// Introspect lets the client introspect tokens issued to other clients (a resource
	// server checking the tokens it receives). Without it a client may introspect only
	// its own tokens; any other token is reported inactive.
	Introspect bool
	CreatedAt  time.Time
	// RemovedAt is when the client was removed; zero while it exists. A removed client
	// is kept (without its secret hash) so the tokens it was issued stay refused and its
	// id is never reused.
	RemovedAt time.Time
}

// Removed reports whether the client was removed.
func (c *Client) Removed() bool { return !c.RemovedAt.IsZero() }

// ValidateClient checks the fields of a client before it is stored.
func ValidateClient(c *Client) error {
	switch {
	case c.ID == "" || len(c.ID) > 64 || !isPrintableASCII(c.ID):
		return fmt.Errorf("client id must be 1-64 printable ASCII characters")
	case c.Name == "" || len(c.Name) > MaxNameBytes || !utf8.ValidString(c.Name):
		return fmt.Errorf("client name must be 1-%d bytes of UTF-8", MaxNameBytes)
	case len(c.SecretHash) == 0 || c.HashAlg == "":
		return fmt.Errorf("client has no secret hash")
	case c.Audience == "" || len(c.Audience) > 1024 || !isPrintableASCII(c.Audience):
		return fmt.Errorf("client audience must be 1-1024 printable ASCII characters")
	case c.AccessTokenTTL < time.Second || c.AccessTokenTTL > MaxAccessTokenTTL:
		return fmt.Errorf("client access token lifetime must be from 1s to %s", MaxAccessTokenTTL)
	case c.CreatedAt.IsZero():
		return fmt.Errorf("client has no creation time")
	}
	return ValidateScopes(c.Scopes)
}

// RevokedToken is an access token revoked before its expiry. The record matters until
// ExpiresAt; after that the token is refused as expired anyway and the record is pruned.
type RevokedToken struct {
	// ID is the token's jti.
	ID string
	// ClientID is the client the token was issued to.
	ClientID string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	RevokedAt time.Time
}

// ValidateRevokedToken checks a revocation record before it is stored.
func ValidateRevokedToken(t *RevokedToken) error {
	switch {
	case t.ID == "" || len(t.ID) > 256 || !isPrintableASCII(t.ID):
		return fmt.Errorf("token id must be 1-256 printable ASCII characters")
	case len(t.ClientID) > 64 || !isPrintableASCII(t.ClientID):
		return fmt.Errorf("client id must be at most 64 printable ASCII characters")
	case t.ExpiresAt.IsZero() || t.RevokedAt.IsZero():
		return fmt.Errorf("revoked token needs its expiry and revocation times")
	}
	return nil
}

// SigningKeyStatus is what `signing-keys list` reports for a key at a given time.
type SigningKeyStatus string

// The statuses of a signing key, in the order a key goes through them.
const (
	// SigningKeyPending: published in the JWKS, not signing yet (publication delay).
	SigningKeyPending SigningKeyStatus = "pending"
	// SigningKeyActive: signs new tokens.
	SigningKeyActive SigningKeyStatus = "active"
	// SigningKeyRetired: no longer signs; published until every token it signed expired.
	SigningKeyRetired SigningKeyStatus = "retired"
	// SigningKeyExpired: left the JWKS; no token it signed is still valid.
	SigningKeyExpired SigningKeyStatus = "expired"
)

// SigningKey is a key the token service signs access tokens with. The private key is
// stored only encrypted (see tokens.Sealer); the public key is published in the JWKS from
// creation until ExpiresAt.
//
// A key signs from ActivatesAt until RetiresAt. Adding a key retires every key that would
// still sign at the new key's ActivatesAt, so at any time at most one key signs, and
// every replica agrees which one by its clock alone.
type SigningKey struct {
	// ID is the kid: the RFC 7638 thumbprint of the public key.
	ID string
	// Algorithm is the JWS alg the key signs with (ES256, EdDSA, RS256).
	Algorithm string
	// PublicJWK is the public key as a JWK (with kid, alg and use).
	PublicJWK []byte
	// PrivateKey is the sealed (encrypted and authenticated) private key.
	PrivateKey []byte
	CreatedAt  time.Time
	// ActivatesAt is when the key starts signing: CreatedAt, or later with a publication
	// delay, so verifiers that cache the JWKS learn the key before they see its tokens.
	ActivatesAt time.Time
	// RetiresAt is when a newer key takes over; zero while no newer key exists.
	RetiresAt time.Time
	// ExpiresAt is when the key leaves the JWKS: RetiresAt plus the longest lifetime of
	// a token it can have signed. Zero while RetiresAt is.
	ExpiresAt time.Time
}

// Signs reports whether the key signs new tokens at now.
func (k *SigningKey) Signs(now time.Time) bool {
	return !now.Before(k.ActivatesAt) && (k.RetiresAt.IsZero() || now.Before(k.RetiresAt))
}

// Published reports whether the key is in the JWKS at now.
func (k *SigningKey) Published(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// Status reports the key's status at now.
func (k *SigningKey) Status(now time.Time) SigningKeyStatus {
	switch {
	case !k.Published(now):
		return SigningKeyExpired
	case k.Signs(now):
		return SigningKeyActive
	case now.Before(k.ActivatesAt) && (k.RetiresAt.IsZero() || k.ActivatesAt.Before(k.RetiresAt)):
		return SigningKeyPending
	}
	return SigningKeyRetired
}

// ValidateSigningKey checks a signing key before it is stored.
func ValidateSigningKey(k *SigningKey) error {
	switch {
	case k.ID == "" || len(k.ID) > 128 || !isPrintableASCII(k.ID):
		return fmt.Errorf("signing key id must be 1-128 printable ASCII characters")
	case k.Algorithm == "":
		return fmt.Errorf("signing key has no algorithm")
	case len(k.PublicJWK) == 0 || len(k.PrivateKey) == 0:
		return fmt.Errorf("signing key needs its public JWK and its sealed private key")
	case k.CreatedAt.IsZero() || k.ActivatesAt.IsZero():
		return fmt.Errorf("signing key needs its creation and activation times")
	case k.ActivatesAt.Before(k.CreatedAt):
		return fmt.Errorf("signing key activates before it was created")
	case !k.RetiresAt.IsZero() || !k.ExpiresAt.IsZero():
		return fmt.Errorf("a new signing key cannot already be retired")
	}
	return nil
}

// TokenServiceStore keeps the token service's clients, revocations and signing keys.
type TokenServiceStore interface {
	// CreateClient stores a new client and appends client_created. A taken id is
	// ErrExists.
	CreateClient(ctx context.Context, c *Client) error
	// Client returns the client with that id, removed or not, or ErrNotFound.
	Client(ctx context.Context, id string) (Client, error)
	// ListClients returns up to limit clients (removed ones included) with ids greater
	// than after, in id order.
	ListClients(ctx context.Context, after string, limit int) ([]Client, error)
	// RemoveClient marks the client removed at at, forgets its secret hash and appends
	// client_removed, in one transaction. It returns the client as it was before. An
	// unknown or already removed client is ErrNotFound.
	RemoveClient(ctx context.Context, id string, at time.Time) (Client, error)

	// RevokeToken records a revoked token and appends token_revoked, in one
	// transaction, and prunes records whose tokens expired over an hour before
	// t.RevokedAt. A token already revoked is left as it was, with no change appended,
	// and created is false.
	RevokeToken(ctx context.Context, t *RevokedToken) (created bool, err error)
	// RevokedToken returns the revocation of the token with that jti, or ErrNotFound.
	RevokedToken(ctx context.Context, jti string) (RevokedToken, error)
	// ListRevokedTokens returns up to limit revocations of tokens that expire after
	// expiringAfter, with jtis greater than after, in jti order.
	ListRevokedTokens(ctx context.Context, expiringAfter time.Time, after string, limit int) ([]RevokedToken, error)

	// SigningKeys returns every stored signing key (expired ones included, until they
	// are deleted), in activation order.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k and appends signing_key_added, in one transaction. Every
	// other key that would sign at or after k.ActivatesAt is retired then, and expires
	// retain later (a key that never got to sign expires at once); keys that expired
	// before k.CreatedAt are deleted. A taken kid is ErrExists.
	AddSigningKey(ctx context.Context, k *SigningKey, retain time.Duration) error
	// InitSigningKey stores k, as AddSigningKey would, only when no stored key signs at
	// k.ActivatesAt or later; otherwise it stores nothing and returns created false. Two
	// token services starting at once on a new store thus create one key between them.
	InitSigningKey(ctx context.Context, k *SigningKey) (created bool, err error)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// SigningKeys is what the CLI's signing-keys command needs; Session and Client
// implement it.
type SigningKeys interface {
	ListSigningKeys(ctx context.Context) ([]ListedSigningKey, error)
	RotateSigningKey(ctx context.Context, r RotateSigningKeyRequest) (RotatedSigningKey, error)
}

// RotateSigningKeyRequest is the body of POST /admin/v1/signing-keys/rotate: the flags
// of `gatehouse signing-keys rotate`.
type RotateSigningKeyRequest struct {
	// PublicationDelay is how long the new key is published before it signs; empty
	// means issuer.DefaultPublicationDelay.
	PublicationDelay string `json:"publication-delay,omitempty"`
	// Now makes the new key sign at once.
	Now bool `json:"now,omitempty"`
}

// ListedSigningKey is one signing key: never the private key.
type ListedSigningKey struct {
	KeyID       string `json:"kid"`
	Algorithm   string `json:"alg"`
	Status      string `json:"status"`
	CreatedAt   Time   `json:"created_at"`
	ActivatesAt Time   `json:"activates_at"`
	RetiresAt   Time   `json:"retires_at"`
	ExpiresAt   Time   `json:"expires_at"`
}

// RotatedSigningKey is the answer to a rotation: the new key, and the keys it retires.
type RotatedSigningKey struct {
	ListedSigningKey
	// Retiring are the keys that stop signing when the new key starts.
	Retiring []ListedSigningKey `json:"retiring,omitempty"`
}

// ParsePublicationDelay reads --publication-delay (empty: the default).
func ParsePublicationDelay(s string, now bool) (time.Duration, error) {
	if s == "" {
		return issuer.DefaultPublicationDelay, nil
	}
	if now {
		return 0, errors.New("--now and --publication-delay contradict each other: give one")
	}
	d, err := ParseSpan(s)
	if err != nil || d <= 0 || d > 7*24*time.Hour {
		return 0, fmt.Errorf("--publication-delay: %q is not a duration from 1s to 7d (to sign at once, use --now)", s)
	}
	return d, nil
}

func signingKeyOf(k *store.SigningKey, now time.Time) ListedSigningKey {
	return ListedSigningKey{
		KeyID: k.ID, Algorithm: k.Algorithm, Status: string(k.Status(now)),
		CreatedAt: Time(k.CreatedAt), ActivatesAt: Time(k.ActivatesAt),
		RetiresAt: Time(k.RetiresAt), ExpiresAt: Time(k.ExpiresAt),
	}
}

// ListSigningKeys returns every stored signing key, in activation order.
func (s *Session) ListSigningKeys(ctx context.Context) ([]ListedSigningKey, error) {
	keys, err := s.svc.Store.SigningKeys(ctx)
	if err != nil {
		return nil, classify(err, "", "")
	}
	now := s.svc.now()
	out := make([]ListedSigningKey, 0, len(keys))
	for i := range keys {
		out = append(out, signingKeyOf(&keys[i], now))
	}
	return out, nil
}

// RotateSigningKey adds a signing key that signs after the publication delay (or at
// once with Now), retiring the key that signs then.
func (s *Session) RotateSigningKey(ctx context.Context, r RotateSigningKeyRequest) (RotatedSigningKey, error) {
	out, err := s.rotateSigningKey(ctx, r)
	return out, s.audit(ctx, "signing-keys.rotate", out.KeyID, err)
}

func (s *Session) rotateSigningKey(ctx context.Context, r RotateSigningKeyRequest) (RotatedSigningKey, error) {
	delay, err := ParsePublicationDelay(r.PublicationDelay, r.Now)
	if err != nil {
		return RotatedSigningKey{}, badRequest("%v", err)
	}
	ts, err := s.tokenService()
	if err != nil {
		return RotatedSigningKey{}, err
	}
	sealer, err := tokens.NewSealer(ts.SigningKeySecret.Reveal())
	if err != nil {
		return RotatedSigningKey{}, err
	}
	now := s.svc.now()
	if err := checkSealedWith(ctx, s.svc.Store, sealer, now); err != nil {
		return RotatedSigningKey{}, classify(err, "", "")
	}
	rec, err := issuer.RotateSigningKey(ctx, issuer.RotateOptions{
		Store: s.svc.Store, Sealer: sealer, Algorithm: ts.SigningAlgorithm,
		PublicationDelay: delay, Immediate: r.Now, DefaultTTL: ts.AccessTokenTTL, Now: func() time.Time { return now },
	})
	if err != nil {
		return RotatedSigningKey{}, classify(err, "", "")
	}
	keys, err := s.svc.Store.SigningKeys(ctx)
	if err != nil {
		return RotatedSigningKey{}, classify(err, "", "")
	}
	out := RotatedSigningKey{ListedSigningKey: signingKeyOf(&rec, now)}
	for i := range keys {
		k := &keys[i]
		if k.ID != rec.ID && k.RetiresAt.Equal(store.Micro(rec.ActivatesAt)) && k.ActivatesAt.Before(k.RetiresAt) {
			out.Retiring = append(out.Retiring, signingKeyOf(k, now))
		}
	}
	return out, nil
}

// checkSealedWith refuses to rotate when the stored keys were sealed under another
// secret than the configured one: token services started with this configuration could
// not open the keys that sign now, so the configuration (or the store) is not the one
// in use.
func checkSealedWith(ctx context.Context, st store.Store, sealer *tokens.Sealer, now time.Time) error {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for i := range keys {
		k := &keys[i]
		if !k.Signs(now) {
			continue
		}
		if _, err := tokens.OpenPrivateKey(sealer, k.Algorithm, k.ID, k.PrivateKey); err != nil {
			if errors.Is(err, tokens.ErrSealedWithOtherSecret) {
				return &Error{Status: 409, Msg: fmt.Sprintf("the signing key %s was stored under another signing_key_secret than the configured one (%s); is this the configuration the token service runs with?", k.ID, sealer.ID())}
			}
			return &Error{Status: 500, Msg: fmt.Sprintf("the signing key %s cannot be opened: %v", k.ID, err), Err: err}
		}
	}
	return nil
}

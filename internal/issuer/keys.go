package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// retentionMargin is added to the longest token lifetime when a retired key's
// publication ends, and kept between a token's exp and its key's removal from the JWKS:
// verifiers may accept a token up to their clock leeway (at most 5 minutes) past exp.
const retentionMargin = 5 * time.Minute

// DefaultAlgorithm signs new keys when Options.Algorithm is empty.
const DefaultAlgorithm = "ES256"

// ErrNoSigningKey means no stored key signs at this time: the store was emptied or
// tampered with. The token endpoint answers 503.
var ErrNoSigningKey = errors.New("no signing key signs now")

// keyState is one immutable snapshot of the stored signing keys.
type keyState struct {
	records []store.SigningKey // activation order
	// signers holds an opened signer for every key that signs now or will.
	signers map[string]*tokens.Signer
	// jwks is the published key set at builtAt, valid until refreshAt.
	jwks      []byte
	set       *tokens.KeySet
	builtAt   time.Time
	refreshAt time.Time
}

// signer returns the key that signs at now, with its record.
func (st *keyState) signer(now time.Time) (*tokens.Signer, *store.SigningKey) {
	for i := len(st.records) - 1; i >= 0; i-- {
		k := &st.records[i]
		if k.Signs(now) {
			if s := st.signers[k.ID]; s != nil {
				return s, k
			}
		}
	}
	return nil, nil
}

// published builds the JWKS and the verification key set of the keys published at now,
// and when that must be rebuilt.
func published(records []store.SigningKey, now time.Time) (jwks []byte, set *tokens.KeySet, refreshAt time.Time, err error) {
	doc := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for i := range records {
		k := &records[i]
		if !k.Published(now) {
			continue
		}
		doc.Keys = append(doc.Keys, json.RawMessage(k.PublicJWK))
		if !k.ExpiresAt.IsZero() && (refreshAt.IsZero() || k.ExpiresAt.Before(refreshAt)) {
			refreshAt = k.ExpiresAt
		}
	}
	jwks, err = json.Marshal(doc)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("build jwks: a stored public key is not JSON: %w", err)
	}
	if len(doc.Keys) == 0 {
		return jwks, tokens.NewKeySet(), refreshAt, nil
	}
	set, err = tokens.ParseJWKS(jwks)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("build jwks: %w", err)
	}
	return jwks, set, refreshAt, nil
}

// openKeys opens the private key of every record that signs at now or later.
func openKeys(sealer *tokens.Sealer, records []store.SigningKey, now time.Time) (map[string]*tokens.Signer, error) {
	signers := map[string]*tokens.Signer{}
	for i := range records {
		k := &records[i]
		if !k.RetiresAt.IsZero() && !now.Before(k.RetiresAt) {
			continue // signs no more: only its public half is needed
		}
		if !k.RetiresAt.IsZero() && !k.ActivatesAt.Before(k.RetiresAt) {
			continue // superseded before it ever signed
		}
		sk, err := tokens.OpenPrivateKey(sealer, k.Algorithm, k.ID, k.PrivateKey)
		if errors.Is(err, tokens.ErrSealedWithOtherSecret) {
			return nil, fmt.Errorf("open signing key %s: it was stored under another signing_key_secret (this one is %s): %w", k.ID, sealer.ID(), err)
		}
		if err != nil {
			return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
		}
		s, err := tokens.NewAccessTokenSigner(sk)
		if err != nil {
			return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
		}
		signers[k.ID] = s
	}
	return signers, nil
}

// NewSigningKeyRecord generates a key for alg and returns its store record, private key
// sealed, signing from activates.
func NewSigningKeyRecord(sealer *tokens.Sealer, alg string, created, activates time.Time) (store.SigningKey, error) {
	sk, err := tokens.GenerateSigningKey(alg)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := sk.SealPrivateKey(sealer)
	if err != nil {
		return store.SigningKey{}, err
	}
	jwk := sk.PublicJWK()
	if jwk == nil {
		return store.SigningKey{}, fmt.Errorf("new signing key: no public JWK for %s", alg)
	}
	return store.SigningKey{
		ID: sk.ID, Algorithm: alg, PublicJWK: jwk, PrivateKey: sealed,
		CreatedAt: created, ActivatesAt: activates,
	}, nil
}

// SigningKeyRetention is how long a retired key stays published: the longest access
// token lifetime of any client that exists, at least defaultTTL, plus a margin for
// verifiers' clock leeway. Tokens are never issued to outlive their key's publication,
// so a client created later with a longer lifetime gets shorter tokens from a retiring
// key rather than tokens nobody can verify.
func SigningKeyRetention(ctx context.Context, st store.TokenServiceStore, defaultTTL time.Duration) (time.Duration, error) {
	longest := defaultTTL
	for after := ""; ; {
		page, err := st.ListClients(ctx, after, 1000)
		if err != nil {
			return 0, fmt.Errorf("signing key retention: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			if !c.Removed() && c.AccessTokenTTL > longest {
				longest = c.AccessTokenTTL
			}
		}
		after = page[len(page)-1].ID
	}
	return min(longest, store.MaxAccessTokenTTL) + retentionMargin, nil
}

// RotateOptions configure RotateSigningKey.
type RotateOptions struct {
	Store  store.TokenServiceStore
	Sealer *tokens.Sealer
	// Algorithm of the new key; DefaultAlgorithm when empty.
	Algorithm string
	// PublicationDelay is how long the new key is published before it signs, so
	// verifiers that cache the JWKS learn it first. Zero means DefaultPublicationDelay.
	// A delay shorter than the JWKS cache lifetime lets a verifier holding a cached JWKS
	// refuse the new key's tokens as token_key_unknown until its copy expires.
	PublicationDelay time.Duration
	// Immediate makes the new key sign at once, ignoring PublicationDelay: for replacing
	// a compromised key, where refusals by verifiers with a stale JWKS are the lesser
	// harm. When no stored key signs now (a new store), the key signs at once anyway:
	// there is nothing else to sign with.
	Immediate bool
	// DefaultTTL is token_service.access_token_ttl, the floor of the retention.
	DefaultTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultPublicationDelay is how long a rotated-in key is published before it signs
// when RotateOptions.PublicationDelay is zero: the lifetime for which the JWKS endpoint
// lets verifiers cache the key set (its Cache-Control max-age), so every verifier that
// honours it has the new key before it sees a token signed with it.
const DefaultPublicationDelay = jwksMaxAge * time.Second

// RotateSigningKey adds a new signing key (signing after the publication delay) and
// retires the current one at that moment; the retired key stays in the JWKS for
// SigningKeyRetention. Running token services pick the change up from the store's
// change feed.
func RotateSigningKey(ctx context.Context, o RotateOptions) (store.SigningKey, error) {
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublicationDelay < 0 {
		return store.SigningKey{}, errors.New("rotate signing key: the publication delay is negative")
	}
	retain, err := SigningKeyRetention(ctx, o.Store, o.DefaultTTL)
	if err != nil {
		return store.SigningKey{}, err
	}
	now := o.Now()
	delay := o.PublicationDelay
	if delay == 0 {
		delay = DefaultPublicationDelay
	}
	if o.Immediate {
		delay = 0
	} else {
		existing, err := o.Store.SigningKeys(ctx)
		if err != nil {
			return store.SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
		}
		if !slices.ContainsFunc(existing, func(k store.SigningKey) bool { return k.Signs(now) }) {
			delay = 0
		}
	}
	for attempt := 0; ; attempt++ {
		rec, err := NewSigningKeyRecord(o.Sealer, o.Algorithm, now, now.Add(delay))
		if err != nil {
			return store.SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
		}
		err = o.Store.AddSigningKey(ctx, &rec, retain)
		if err == nil {
			return rec, nil
		}
		// A thumbprint collision means a broken random source, but retrying is cheap.
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			return store.SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
		}
	}
}

// loadKeys reads the stored keys, making the first one when there is none that signs
// now or later. At start (only: replicas configured with different algorithms during a
// rollout would otherwise rotate in turn forever, each rotation prompting the other's
// reload) it also rotates to Options.Algorithm when the newest key uses another.
func (s *Server) loadKeys(ctx context.Context, atStart bool) (*keyState, error) {
	now := s.now()
	records, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	if newestKey(records) == nil {
		rec, err := NewSigningKeyRecord(s.sealer, s.alg, now, now)
		if err != nil {
			return nil, fmt.Errorf("create the first signing key: %w", err)
		}
		created, err := s.store.InitSigningKey(ctx, &rec)
		if err != nil {
			return nil, fmt.Errorf("create the first signing key: %w", err)
		}
		if created {
			s.log.Info("token service: created a signing key", "kid", rec.ID, "alg", rec.Algorithm)
		}
		if records, err = s.store.SigningKeys(ctx); err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
	}
	if newest := newestKey(records); atStart && newest != nil && newest.Algorithm != s.alg {
		// The configuration names another algorithm than the newest key's: rotate now,
		// so tokens follow the configuration (and `issuer: self` verifiers, whose
		// algorithms default to it, accept them).
		// At once: `issuer: self` verifiers accept only the configured algorithm.
		rec, err := RotateSigningKey(ctx, RotateOptions{Store: s.store, Sealer: s.sealer, Algorithm: s.alg, DefaultTTL: s.defaultTTL, Now: s.now, Immediate: true})
		if err != nil {
			return nil, err
		}
		s.log.Info("token service: signing_algorithm changed; rotated to a new key", "from", newest.Algorithm, "to", s.alg, "kid", rec.ID)
		if records, err = s.store.SigningKeys(ctx); err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
	}
	signers, err := openKeys(s.sealer, records, now)
	if err != nil {
		return nil, err
	}
	st := &keyState{records: records, signers: signers}
	if err := st.build(now); err != nil {
		return nil, err
	}
	return st, nil
}

// newestKey returns the key no newer key retires: the one that signs now or will.
func newestKey(records []store.SigningKey) *store.SigningKey {
	for i := range records {
		if records[i].RetiresAt.IsZero() {
			return &records[i]
		}
	}
	return nil
}

// build computes the published set at now.
func (st *keyState) build(now time.Time) error {
	jwks, set, refreshAt, err := published(st.records, now)
	if err != nil {
		return err
	}
	st.jwks, st.set, st.builtAt, st.refreshAt = jwks, set, now, refreshAt
	return nil
}

// keys returns the current key state, rebuilding its published set when a key has left
// the JWKS since it was built.
func (s *Server) keys() *keyState {
	st := s.keyState.Load()
	now := s.now()
	if st.refreshAt.IsZero() || now.Before(st.refreshAt) {
		return st
	}
	next := &keyState{records: st.records, signers: st.signers}
	if err := next.build(now); err != nil {
		return st // unreachable: the same records built before
	}
	if s.keyState.CompareAndSwap(st, next) {
		s.ring.Set(next.set)
	}
	return s.keyState.Load()
}

// ReloadKeys reads the signing keys from the store again and swaps them in. The change
// feed calls it when a key was added; the `issuer: self` verifier calls it (at most
// once per second) when a token names a kid it does not know, which happens when
// another replica started signing with a new key before this one's feed caught up.
// It reports whether the set of key ids changed.
func (s *Server) ReloadKeys(ctx context.Context) (changed bool, err error) {
	return s.reloadKeys(ctx, false)
}

func (s *Server) reloadKeys(ctx context.Context, atStart bool) (changed bool, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, err := s.loadKeys(ctx, atStart)
	if err != nil {
		return false, err
	}
	old := s.keyState.Swap(st)
	s.ring.Set(st.set)
	return old == nil || !slices.Equal(old.set.KeyIDs(), st.set.KeyIDs()), nil
}

// RefreshKeys is ReloadKeys for a token with an unknown kid, rate limited to once per
// second across callers; it reports whether the key ids changed.
func (s *Server) RefreshKeys(ctx context.Context) bool {
	now := s.now().UnixNano()
	last := s.lastRefresh.Load()
	if now-last < int64(time.Second) || !s.lastRefresh.CompareAndSwap(last, now) {
		return false
	}
	changed, err := s.ReloadKeys(ctx)
	if err != nil {
		s.log.Warn("token service: reloading signing keys failed", "error", err)
		return false
	}
	return changed
}

package jwt

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Revocations says which self-issued tokens are refused before their expiry. The token
// service's *issuer.Revocations implements it.
type Revocations interface {
	// IsRevoked reports whether the token with this jti, issued to this client, was
	// revoked (or its client removed). It must be cheap: it runs on every request.
	IsRevoked(jti, clientID string) bool
	// OnRevoke registers fn to run after each new revocation becomes visible to
	// IsRevoked, and returns a function that unregisters it.
	OnRevoke(fn func()) (cancel func())
}

// SelfConfig configures a Self authenticator: a jwt authenticator with `issuer: self`,
// which verifies the tokens of Gatehouse's own token service with its live key set, in
// process. Issuer, Audience, Algorithms, Keys and Revocations are required.
type SelfConfig struct {
	// Name is the authenticator's configured name.
	Name string
	// Issuer is the token service's issuer URL (token_service.issuer), compared with iss.
	Issuer string
	// Audience lists the accepted audiences.
	Audience []string
	// Algorithms is the allow-list; the configuration defaults it to the token
	// service's signing algorithm.
	Algorithms []string
	// Keys is the token service's key ring (issuer.Server.KeyRing).
	Keys *tokens.KeyRing
	// Revocations is the token service's revocation set (issuer.Server.Revocations).
	Revocations Revocations
	// RefreshKeys, when set, is asked to reload the key set when a token names a kid the
	// ring does not hold (another replica may sign with a key this one has not loaded
	// yet); it reports whether the set changed, and rate-limits itself.
	RefreshKeys func(ctx context.Context) bool
	// Leeway, CacheSize, Now and Logger are as in Config.
	Leeway    time.Duration
	CacheSize int
	Now       func() time.Time
	Logger    *slog.Logger
	// Rules are as in Config.
	Rules identity.Rules
}

// Self is the `issuer: self` authenticator. Beyond what Authenticator checks it requires
// the RFC 9068 typ "at+jwt", refuses a revoked token (or one of a removed client) as
// token_revoked, and purges its verified-token cache on every revocation, so a token
// revoked at /oauth2/revoke is refused by the next request.
type Self struct {
	*Authenticator
	keys    *tokens.KeyRing
	revs    Revocations
	refresh func(ctx context.Context) bool
	cancel  func()
	closed  sync.Once
}

// NewSelf validates cfg and returns the authenticator.
func NewSelf(cfg SelfConfig) (*Self, error) {
	var errs []error
	if cfg.Keys == nil {
		errs = append(errs, fmt.Errorf("jwt authenticator %q: issuer self needs the token service's key ring", cfg.Name))
	}
	if cfg.Revocations == nil {
		errs = append(errs, fmt.Errorf("jwt authenticator %q: issuer self needs the token service's revocations", cfg.Name))
	}
	if cfg.Name == "" {
		errs = append(errs, errors.New("jwt authenticator: name is required"))
	}
	prefix := fmt.Sprintf("jwt authenticator %q: ", cfg.Name)
	if cfg.Issuer == "" {
		errs = append(errs, fmt.Errorf("%sissuer self needs the token service's issuer URL", prefix))
	}
	if len(cfg.Audience) == 0 {
		errs = append(errs, fmt.Errorf("%saudience is required (at least one)", prefix))
	}
	for _, a := range cfg.Audience {
		if a == "" {
			errs = append(errs, fmt.Errorf("%saudience has an empty entry", prefix))
		}
	}
	algs, err := tokens.NewAlgorithms(cfg.Algorithms...)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s%w", prefix, err))
	}
	for _, n := range algs.Names() {
		if tokens.IsHMAC(n) {
			errs = append(errs, fmt.Errorf("%sissuer self verifies with public keys; %s is not accepted", prefix, n))
		}
	}
	if !tokenrules.LeewayAllowed(cfg.Leeway) {
		errs = append(errs, fmt.Errorf("%sleeway must be between 0 and %s", prefix, MaxLeeway))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Authenticator{
		name: cfg.Name, issuer: cfg.Issuer, audience: append([]string(nil), cfg.Audience...),
		algs: algs, leeway: cfg.Leeway, now: cfg.Now, log: cfg.Logger, static: cfg.Keys,
		rules: cfg.Rules, defaults: cfg.Rules.IsDefault(),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("authenticator", cfg.Name)
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	a.cache = newTokenCache(size) // nil (no cache) for a negative size
	s := &Self{Authenticator: a, keys: cfg.Keys, revs: cfg.Revocations, refresh: cfg.RefreshKeys}
	s.cancel = cfg.Revocations.OnRevoke(a.Purge)
	return s, nil
}

// Close stops following revocations. Call it when a configuration reload replaces the
// authenticator; the token service's revocation set otherwise keeps it alive.
// Closing twice is harmless.
func (s *Self) Close() { s.closed.Do(s.cancel) }

// Authenticate verifies a self-issued access token. A refusal is a *decision.Failure,
// as from Authenticator.Authenticate; a revoked token is token_revoked.
func (s *Self) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	a := s.Authenticator
	tok := c.Value
	// Hashed without copying the token: sha256.Sum256 neither keeps nor modifies it.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
	if len(tok) > tokens.MaxTokenBytes {
		return decision.Principal{}, a.fail(&sum, decision.CredentialsMalformed, "token_too_large",
			fmt.Sprintf("the token is %d bytes; at most %d are accepted", len(tok), tokens.MaxTokenBytes))
	}
	now := a.now()
	// The cache only ever holds tokens that were not revoked when they were verified,
	// and every revocation purges it (after the revocation is visible), so a hit is
	// still unrevoked.
	var gen uint64
	if a.cache != nil {
		if p, ok := a.cache.get(&sum, now); ok {
			return p, nil
		}
		gen = a.cache.generation()
	}
	t, err := tokens.VerifyAccessToken(tok, a.algs, s.keys)
	if errors.Is(err, tokens.ErrKeyUnknown) && s.refresh != nil && s.refresh(ctx) {
		t, err = tokens.VerifyAccessToken(tok, a.algs, s.keys)
	}
	if err != nil {
		return decision.Principal{}, a.refusal(err, &sum)
	}
	p, notBefore, notAfter, f := a.check(t, &sum, now)
	if f != nil {
		return decision.Principal{}, f
	}
	if s.revs.IsRevoked(t.Claims.ID, t.Claims.ClientID) {
		return decision.Principal{}, a.fail(&sum, decision.TokenRevoked, "revoked",
			"the token was revoked")
	}
	if a.cache != nil {
		a.cache.put(&sum, p, notBefore, notAfter, now, gen)
	}
	return p, nil
}

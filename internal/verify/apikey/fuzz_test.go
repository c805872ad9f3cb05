package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// FuzzAuthenticateKey feeds arbitrary values to the API-key authenticator, in its header
// and as a Bearer token, with three stored keys: one valid, one revoked, one for another
// environment. It holds that only the exact text of the valid key is accepted; that the
// revoked key is refused as revoked and the foreign one as the wrong environment; that
// every refusal is a *decision.Failure with one of the documented reasons; that a value
// that does not parse as a key (bad shape or checksum) costs no store lookup; and that no
// detail or fingerprint quotes the secret part of what was sent.
func FuzzAuthenticateKey(f *testing.F) {
	var (
		fx                      *fixture
		valid, revoked, foreign string
	)
	setup := func(t *testing.T) {
		fx = newFixture(t, nil)
		valid, _ = fx.add(t, "live", nil)
		revoked, _ = fx.add(t, "live", func(k *store.APIKey) { k.RevokedAt = t0.Add(-time.Minute) })
		foreign, _ = fx.add(t, "test", nil)
	}
	// The keys are random, so seeds are shapes; the targets below mutate real keys.
	for _, s := range []string{"", "gk_", "gk_live_", "gk_live_0123456789ab_", "gk_live__", "Bearer gk_live_x", "gk_LIVE_0123456789ab_00000000000000000000000000000000000000"} {
		f.Add(s, uint8(0), uint8(0))
	}
	f.Add("", uint8(1), uint8(0)) // the valid key itself
	f.Add("", uint8(2), uint8(0)) // the revoked key
	f.Add("", uint8(3), uint8(0)) // the foreign key
	f.Add("x", uint8(1), uint8(50))
	f.Add("", uint8(1), uint8(200))
	f.Fuzz(func(t *testing.T, s string, which, at uint8) {
		if fx == nil {
			setup(t)
		}
		// which picks a stored key to start from; at is where s is spliced into it.
		value := s
		if base := []string{"", valid, revoked, foreign}[which%4]; base != "" {
			i := int(at) % (len(base) + 1)
			value = base[:i] + s + base[min(len(base), i+len(s)):]
		}
		lookups := fx.st.lookups.Load()
		for _, c := range []decision.Credential{header(value), bearer(value)} {
			p, err := fx.a.Authenticate(context.Background(), c)
			if err == nil {
				if value != valid {
					t.Fatalf("accepted %q, which is not the valid key", value)
				}
				if p.Subject != "billing" {
					t.Fatalf("principal %+v", p)
				}
				continue
			}
			var fail *decision.Failure
			if !errors.As(err, &fail) {
				t.Fatalf("refusal of %q is %v (%T), not a *decision.Failure", value, err, err)
			}
			switch {
			case value == valid:
				t.Fatalf("refused the valid key: %v", err)
			case value == revoked && fail.Reason != decision.APIKeyRevoked:
				t.Fatalf("revoked key refused as %q", fail.Reason)
			case value == foreign && fail.Reason != decision.CredentialsWrongEnvironment:
				t.Fatalf("foreign key refused as %q", fail.Reason)
			}
			k, perr := secret.ParseAPIKey(value)
			switch fail.Reason {
			case decision.CredentialsMalformed:
				if perr == nil {
					t.Fatalf("well-formed %q refused as malformed", value)
				}
				if n := fx.st.lookups.Load(); n != lookups {
					t.Fatalf("malformed %q cost a store lookup", value)
				}
			case decision.CredentialsWrongEnvironment, decision.APIKeyInvalid, decision.APIKeyRevoked, decision.APIKeyExpired:
				if perr != nil {
					t.Fatalf("%q does not parse (%v) but was refused as %q", value, perr, fail.Reason)
				}
			default:
				t.Fatalf("reason %q for %q", fail.Reason, value)
			}
			// The secret is what follows gk_<env>_<id>_; without a parse, any 16 bytes
			// after the prefix stand in for it.
			sec := ""
			if perr == nil {
				sec = strings.TrimPrefix(k.Reveal(), secret.KeyPrefix+k.Env+"_"+k.ID+"_")
			} else if len(value) >= 32 {
				sec = value[len(value)-16:]
			}
			if sec != "" {
				for _, out := range []string{fail.Detail, fail.Fingerprint, fail.CredentialID, fail.Cause} {
					if strings.Contains(out, sec) {
						t.Fatalf("%q quotes the secret of %q", out, value)
					}
				}
			}
		}
	})
}

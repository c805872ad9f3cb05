package mtls

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/google/go-cmp/cmp"
)

// world is a small PKI: a trusted root with an intermediate, and a CA nobody trusts.
type world struct {
	root, inter, rogue *issued
}

func newWorld(t testing.TB) *world {
	t.Helper()
	root := newCA(t, "Gatehouse Test Root", nil)
	return &world{
		root:  root,
		inter: newCA(t, "Gatehouse Test Issuing CA", root),
		rogue: newCA(t, "Rogue CA", nil),
	}
}

func newAuth(t *testing.T, w *world, from PrincipalFrom, clock *fixedClock) *Authenticator {
	t.Helper()
	a, err := New(Config{Name: "clients", CAPEM: pemOf(w.root), PrincipalFrom: from, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func failureOf(t *testing.T, err error) *decision.Failure {
	t.Helper()
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *decision.Failure", err, err)
	}
	return f
}

func TestAuthenticateCertVerdicts(t *testing.T) {
	w := newWorld(t)
	good := newLeaf(t, "alice", w.root)
	viaInter := newLeaf(t, "bob", w.inter)
	expiredInter := newCA(t, "Old Issuing CA", w.root, validity(testNow.Add(-48*time.Hour), testNow.Add(-2*time.Hour)))
	notCAInter := newCA(t, "Not A CA", w.root, notCA())

	type want struct {
		subject string
		reason  decision.Reason
		cause   string
		detail  string // substring of the detail
	}
	tests := []struct {
		name  string
		leaf  *issued
		chain []*issued
		want  want
	}{
		{"certificate signed by the trusted root yields its CN", good, nil, want{subject: "alice"}},
		{"certificate from an intermediate the client sends verifies", viaInter, []*issued{w.inter}, want{subject: "bob"}},
		{"expired certificate says how long ago",
			newLeaf(t, "carol", w.root, validity(testNow.Add(-30*24*time.Hour), testNow.Add(-3*time.Hour))), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "expired", detail: "the certificate expired 3h ago (2026-03-14T09:00:00Z)"}},
		{"certificate not yet valid says when it will be",
			newLeaf(t, "dave", w.root, validity(testNow.Add(2*time.Hour), testNow.Add(48*time.Hour))), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "not_yet_valid", detail: "the certificate is not valid yet: it becomes valid in 2h (2026-03-14T14:00:00Z)"}},
		{"certificate from an untrusted CA is not signed by a trusted CA",
			newLeaf(t, "mallory", w.rogue), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "unknown_authority", detail: `not signed by a trusted CA (its issuer is "Rogue CA"`}},
		{"untrusted chain names where it ends",
			newLeaf(t, "mallory", w.rogue), []*issued{w.rogue},
			want{reason: decision.ClientCertificateInvalid, cause: "unknown_authority", detail: `the certificate chain does not lead to a trusted CA (it ends at an issuer named "Rogue CA")`}},
		{"intermediate the client did not send is an unknown authority",
			newLeaf(t, "erin", w.inter), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "unknown_authority", detail: `its issuer is "Gatehouse Test Issuing CA"`}},
		{"server-only certificate is refused for client auth",
			newLeaf(t, "web", w.root, extKeyUsage(x509.ExtKeyUsageServerAuth)), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "incompatible_usage", detail: "not valid for TLS client authentication"}},
		{"expired intermediate is named",
			newLeaf(t, "frank", expiredInter), []*issued{expiredInter},
			want{reason: decision.ClientCertificateInvalid, cause: "expired", detail: `the intermediate certificate "Old Issuing CA" expired 2h ago`}},
		{"intermediate that is not a CA is named",
			newLeaf(t, "grace", notCAInter), []*issued{notCAInter},
			want{reason: decision.ClientCertificateInvalid, cause: "not_authorized_to_sign", detail: `the intermediate certificate "Not A CA" is not a CA certificate`}},
		{"certificate without a CN has no principal",
			newLeaf(t, "", w.root), nil,
			want{reason: decision.ClientCertificateInvalid, cause: "no_principal", detail: "the certificate has no subject common name (CN)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, w, FromCN, &fixedClock{testNow})
			var inters []*x509.Certificate
			for _, c := range tt.chain {
				inters = append(inters, c.cert)
			}
			p, err := a.AuthenticateCert(tt.leaf.cert, inters)
			if tt.want.reason == "" {
				if err != nil {
					t.Fatalf("AuthenticateCert: %v", err)
				}
				want := decision.Principal{Subject: tt.want.subject, Authenticator: "clients", Fingerprint: Fingerprint(tt.leaf.cert), ExpiresAt: tt.leaf.cert.NotAfter}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			f := failureOf(t, err)
			if f.Reason != tt.want.reason || f.Cause != tt.want.cause || !strings.Contains(f.Detail, tt.want.detail) {
				t.Errorf("failure = %s / %s / %q\nwant     %s / %s / containing %q", f.Reason, f.Cause, f.Detail, tt.want.reason, tt.want.cause, tt.want.detail)
			}
			if f.Fingerprint != Fingerprint(tt.leaf.cert) || f.CredentialID != f.Fingerprint {
				t.Errorf("fingerprint %q, credential id %q; want both %q", f.Fingerprint, f.CredentialID, Fingerprint(tt.leaf.cert))
			}
		})
	}
}

func TestNoCertificateIsMissing(t *testing.T) {
	w := newWorld(t)
	a := newAuth(t, w, FromCN, &fixedClock{testNow})
	tests := []struct {
		name string
		run  func() error
	}{
		{"nil leaf", func() error { _, err := a.AuthenticateCert(nil, nil); return err }},
		{"credential for an empty chain, nothing in the context", func() error {
			_, err := a.Authenticate(context.Background(), Credential(nil))
			return err
		}},
		{"empty chain in the context", func() error {
			ctx := WithPeerCertificates(context.Background(), nil)
			_, err := a.Authenticate(ctx, Credential(nil))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := failureOf(t, tt.run())
			if f.Reason != decision.ClientCertificateMissing || f.Detail == "" {
				t.Errorf("failure = %s %q, want client_certificate_missing with a detail", f.Reason, f.Detail)
			}
			if f.Reason.Counts() {
				t.Error("a missing certificate must not count against the failure budget")
			}
		})
	}
}

func TestPrincipalFromEachField(t *testing.T) {
	w := newWorld(t)
	full := newLeaf(t, "svc-cn", w.root, sans(t, "spiffe://example.org/ns/prod/sa/orders", "orders.internal.example", "orders@example.org"))
	bare := newLeaf(t, "svc-cn", w.root)
	tests := []struct {
		from    PrincipalFrom
		subject string
		missing string
	}{
		{"", "orders.internal.example", "DNS subject alternative name"},
		{FromCN, "svc-cn", "subject common name (CN)"},
		{FromSANURI, "spiffe://example.org/ns/prod/sa/orders", "URI subject alternative name"},
		{FromSANDNS, "orders.internal.example", "DNS subject alternative name"},
		{FromSANEmail, "orders@example.org", "email subject alternative name"},
	}
	for _, tt := range tests {
		t.Run(string(tt.from), func(t *testing.T) {
			a := newAuth(t, w, tt.from, &fixedClock{testNow})
			p, err := a.AuthenticateCert(full.cert, nil)
			if err != nil || p.Subject != tt.subject {
				t.Fatalf("AuthenticateCert = %q, %v; want %q", p.Subject, err, tt.subject)
			}
			if tt.from == FromCN {
				return
			}
			_, err = a.AuthenticateCert(bare.cert, nil)
			f := failureOf(t, err)
			if f.Reason != decision.ClientCertificateInvalid || !strings.Contains(f.Detail, "has no "+tt.missing) {
				t.Errorf("certificate without the field: %s %q", f.Reason, f.Detail)
			}
		})
	}
}

func TestAuthenticateReadsTheChainFromTheContext(t *testing.T) {
	w := newWorld(t)
	a := newAuth(t, w, FromCN, &fixedClock{testNow})
	leaf := newLeaf(t, "bob", w.inter)
	other := newLeaf(t, "eve", w.root)
	chain := []*x509.Certificate{leaf.cert, w.inter.cert}

	ctx := WithPeerCertificates(context.Background(), chain)
	p, err := a.Authenticate(ctx, Credential(chain))
	if err != nil || p.Subject != "bob" {
		t.Fatalf("Authenticate = %q, %v; want bob", p.Subject, err)
	}

	// The gateway builds both halves from the same r.TLS; when they disagree the
	// wiring is broken, and that is an outage (503), never the client's 401.
	mismatches := []struct {
		name string
		ctx  context.Context
		cred decision.Credential
	}{
		{"credential names another certificate", ctx, Credential([]*x509.Certificate{other.cert})},
		{"credential without the context", context.Background(), Credential(chain)},
		{"empty credential with certificates in the context", ctx, Credential(nil)},
	}
	for _, tt := range mismatches {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(tt.ctx, tt.cred)
			var f *decision.Failure
			if err == nil || errors.As(err, &f) {
				t.Fatalf("Authenticate error = %v; want a plain (non-Failure) error", err)
			}
		})
	}
}

func TestClaimsOnlyTLSCredentials(t *testing.T) {
	a := newAuth(t, newWorld(t), FromCN, &fixedClock{testNow})
	tests := []struct {
		cred decision.Credential
		want decision.Match
	}{
		{decision.Credential{Source: decision.FromTLS, Value: "ab"}, decision.ShapeMatch},
		{decision.Credential{Source: decision.FromTLS}, decision.ShapeMatch},
		{decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: "x"}, decision.NoMatch},
		{decision.Credential{Source: decision.FromHeader, Name: "X-Client-Cert", Value: "x"}, decision.NoMatch},
	}
	for _, tt := range tests {
		if got := a.Claims(tt.cred); got != tt.want {
			t.Errorf("Claims(source %d) = %d, want %d", tt.cred.Source, got, tt.want)
		}
	}
	if a.Scheme() != "" || a.Locations() != nil || a.Name() != "clients" {
		t.Errorf("Scheme %q, Locations %v, Name %q; want no challenge, no locations, clients", a.Scheme(), a.Locations(), a.Name())
	}
	_, err := a.Authenticate(context.Background(), decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: "x"})
	if f := failureOf(t, err); f.Reason != decision.ClientCertificateMissing {
		t.Errorf("non-TLS credential: %s, want client_certificate_missing", f.Reason)
	}
}

func TestCredentialAndFingerprintShapes(t *testing.T) {
	w := newWorld(t)
	leaf := newLeaf(t, "alice", w.root)
	c := Credential([]*x509.Certificate{leaf.cert, w.root.cert})
	if c.Source != decision.FromTLS || len(c.Value) != 64 || strings.Trim(c.Value, "0123456789abcdef") != "" {
		t.Errorf("Credential = %+v, want FromTLS with 64 lower-case hex digits", c)
	}
	fp := Fingerprint(leaf.cert)
	if !strings.HasPrefix(fp, "cert=sha256:") || len(fp) != len("cert=sha256:")+16 || !strings.HasPrefix(c.Value, strings.TrimPrefix(fp, "cert=sha256:")) {
		t.Errorf("Fingerprint = %q, want cert=sha256: and the first 16 hex of %s", fp, c.Value)
	}
}

// TestCachedVerdictEndsWithTheChain guards the verification cache: a chain verified
// once is not trusted past the end of its shortest-lived certificate.
func TestCachedVerdictEndsWithTheChain(t *testing.T) {
	w := newWorld(t)
	shortInter := newCA(t, "Short Issuing CA", w.root, validity(testNow.Add(-time.Hour), testNow.Add(time.Hour)))
	leaf := newLeaf(t, "bob", shortInter)
	clock := &fixedClock{testNow}
	a := newAuth(t, w, FromCN, clock)
	chain := []*x509.Certificate{shortInter.cert}
	for i := range 2 {
		if _, err := a.AuthenticateCert(leaf.cert, chain); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if n := len(a.cache.entries); n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
	clock.t = testNow.Add(2 * time.Hour)
	_, err := a.AuthenticateCert(leaf.cert, chain)
	if f := failureOf(t, err); f.Cause != "expired" || !strings.Contains(f.Detail, `"Short Issuing CA" expired 1h ago`) {
		t.Errorf("after the intermediate expired: %s %q", f.Cause, f.Detail)
	}
	// A different presented chain is a different entry: an attacker cannot ride on a
	// verified leaf with an unverified chain.
	clock.t = testNow
	if _, err := a.AuthenticateCert(leaf.cert, nil); err == nil {
		t.Error("the leaf without its intermediate verified from the cache")
	}
}

func TestCacheIsBounded(t *testing.T) {
	w := newWorld(t)
	a, err := New(Config{Name: "clients", CAPEM: pemOf(w.root), CacheSize: 3, Now: (&fixedClock{testNow}).now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := a.AuthenticateCert(newLeaf(t, "c", w.root, sans(t, "", "c.example", "")).cert, nil); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	if n := len(a.cache.entries); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	off, err := New(Config{Name: "clients", CAPEM: pemOf(w.root), CacheSize: -1})
	if err != nil || off.cache != nil {
		t.Errorf("CacheSize -1: cache %v, err %v; want no cache", off.cache, err)
	}
}

func TestTooManyIntermediatesAreRefusedBeforeChainBuilding(t *testing.T) {
	w := newWorld(t)
	a := newAuth(t, w, FromCN, &fixedClock{testNow})
	var junk []*x509.Certificate
	for range MaxIntermediates + 1 {
		junk = append(junk, w.rogue.cert)
	}
	_, err := a.AuthenticateCert(newLeaf(t, "x", w.root).cert, junk)
	if f := failureOf(t, err); f.Cause != "too_many_intermediates" {
		t.Errorf("cause %q, want too_many_intermediates", f.Cause)
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, pemOf(w.root, w.inter), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("super-secret-key-material")})
	truncated := pemOf(w.root)
	truncated = append(truncated, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.inter.cert.Raw[:40]})...)

	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means success
	}{
		{"CA file", Config{Name: "m", CAFile: good}, nil},
		{"CA bytes", Config{Name: "m", CAPEM: pemOf(w.root), PrincipalFrom: FromSANURI}, nil},
		{"no name and no CA", Config{}, []string{"name is required", "a CA bundle is required"}},
		{"both CA sources", Config{Name: "m", CAFile: good, CAPEM: pemOf(w.root)}, []string{"not both"}},
		{"unreadable CA file", Config{Name: "m", CAFile: filepath.Join(dir, "nope.pem")}, []string{"read CA file"}},
		{"garbage", Config{Name: "m", CAPEM: []byte("not pem at all")}, []string{"no PEM certificate found"}},
		{"private key in the bundle", Config{Name: "m", CAPEM: append(pemOf(w.root), keyPEM...)}, []string{`PEM block 2 is "PRIVATE KEY"`}},
		{"truncated certificate", Config{Name: "m", CAPEM: truncated}, []string{"certificate 2"}},
		{"unknown principal field", Config{Name: "m", CAPEM: pemOf(w.root), PrincipalFrom: "ou"}, []string{`principal_from "ou" is not a certificate field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil || a == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "super-secret") {
				t.Errorf("error %q echoes PEM content", err)
			}
		})
	}
}

func TestExpiredTrustedCAIsNamed(t *testing.T) {
	old := newCA(t, "Retired Root", nil, validity(testNow.Add(-48*time.Hour), testNow.Add(-5*time.Minute)))
	a, err := New(Config{Name: "clients", CAPEM: pemOf(old), Now: (&fixedClock{testNow}).now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AuthenticateCert(newLeaf(t, "alice", old).cert, nil)
	if f := failureOf(t, err); f.Cause != "expired" || !strings.Contains(f.Detail, `the trusted CA certificate "Retired Root" expired 5m ago`) {
		t.Errorf("failure %s %q", f.Cause, f.Detail)
	}
}

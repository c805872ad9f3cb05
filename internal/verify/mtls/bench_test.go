package mtls

import (
	"context"
	"crypto/x509"
	"testing"
)

// BenchmarkAuthenticate measures a request on a keep-alive connection whose chain was
// verified before (cached) and the full verification of a leaf and intermediate.
func BenchmarkAuthenticate(b *testing.B) {
	w := newWorld(b)
	leaf := newLeaf(b, "alice", w.inter)
	chain := []*x509.Certificate{leaf.cert, w.inter.cert}
	ctx := WithPeerCertificates(context.Background(), chain)
	cred := Credential(chain)
	for _, size := range []struct {
		name string
		n    int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(size.name, func(b *testing.B) {
			a, err := New(Config{Name: "clients", CAPEM: pemOf(w.root), CacheSize: size.n, Now: (&fixedClock{testNow}).now})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, cred); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package mtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// The tests' clock: certificates are issued around it.
var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// issued is a certificate the test made, with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// pemOf encodes certificates as a PEM bundle.
func pemOf(certs ...*issued) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})...)
	}
	return out
}

// tlsCert is c as a client certificate for crypto/tls, sending chain after it.
func tlsCert(c *issued, chain ...*issued) tls.Certificate {
	out := tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key}
	for _, i := range chain {
		out.Certificate = append(out.Certificate, i.cert.Raw)
	}
	return out
}

var serial atomic.Int64

// certOpt adjusts a template before it is signed.
type certOpt func(*x509.Certificate)

func validity(from, until time.Time) certOpt {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = from, until }
}

func extKeyUsage(u ...x509.ExtKeyUsage) certOpt {
	return func(c *x509.Certificate) { c.ExtKeyUsage = u }
}

func notCA() certOpt {
	return func(c *x509.Certificate) { c.IsCA = false; c.KeyUsage = x509.KeyUsageDigitalSignature }
}

func sans(t testing.TB, uri, dns, email string) certOpt {
	return func(c *x509.Certificate) {
		if uri != "" {
			u, err := url.Parse(uri)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = []*url.URL{u}
		}
		if dns != "" {
			c.DNSNames = []string{dns}
		}
		if email != "" {
			c.EmailAddresses = []string{email}
		}
	}
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign issues tmpl signed by parent (self-signed when parent is nil).
func sign(t testing.TB, tmpl *x509.Certificate, parent *issued, opts ...certOpt) *issued {
	t.Helper()
	for _, o := range opts {
		o(tmpl)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	key := newKey(t)
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatalf("create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

// newCA makes a CA certificate, a root when parent is nil, else an intermediate.
func newCA(t testing.TB, name string, parent *issued, opts ...certOpt) *issued {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             testNow.Add(-24 * time.Hour),
		NotAfter:              testNow.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	return sign(t, tmpl, parent, opts...)
}

// newLeaf makes a client certificate for name, valid around testNow, for client auth.
func newLeaf(t testing.TB, name string, parent *issued, opts ...certOpt) *issued {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              testNow.Add(30 * 24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return sign(t, tmpl, parent, opts...)
}

// fixedClock returns a clock the test can move.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

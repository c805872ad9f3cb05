package doctor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a throwaway CA that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// clientPair writes a client certificate and its key signed by ca; it returns the files.
func (ca *testCA) clientPair(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestMTLSClientCertificateProvedOrRuledOut: with --cert/--key a client-certificate API
// can be tested; without them the missing certificate is proved by the handshake, and a
// certificate the server does not trust is named as refused.
func TestMTLSClientCertificateProvedOrRuledOut(t *testing.T) {
	ca, other := newTestCA(t, "Partners CA"), newTestCA(t, "Someone Else CA")
	dir := t.TempDir()
	goodCert, goodKey := ca.clientPair(t, dir, "partner")
	badCert, badKey := other.clientPair(t, dir, "stranger")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(dated(0, func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte(`{"partner":"` + r.TLS.PeerCertificates[0].Subject.CommonName + `"}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name        string
		cert, key   string
		verdict     string
		wantSummary string
	}{
		{"no certificate", "", "", "mtls_client_certificate_missing", "none was presented"},
		{"a certificate the server trusts", goodCert, goodKey, VerdictOK, ""},
		{"the key in the cert file", "", "", "", ""},
		{"a certificate from another CA", badCert, badKey, "mtls_client_certificate_missing", "refused the client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(srv.URL + "/partners")
			o.Insecure = true
			o.CertFile, o.KeyFile = tc.cert, tc.key
			if tc.name == "the key in the cert file" {
				both := filepath.Join(t.TempDir(), "both.pem")
				c, _ := os.ReadFile(goodCert)
				k, _ := os.ReadFile(goodKey)
				if err := os.WriteFile(both, append(c, k...), 0o600); err != nil {
					t.Fatal(err)
				}
				o.CertFile, tc.verdict = both, VerdictOK
			}
			rep := runDoctor(t, o)
			if rep.Verdict != tc.verdict {
				t.Fatalf("verdict %q, want %q; findings %v", rep.Verdict, tc.verdict, codes(rep.Findings))
			}
			if tc.wantSummary != "" {
				if f := findingByCode(rep, tc.verdict); f == nil || !strings.Contains(f.Summary, tc.wantSummary) {
					t.Errorf("summary %+v, want %q", f, tc.wantSummary)
				}
			}
		})
	}
	t.Run("bad files are a usage error", func(t *testing.T) {
		o := baseOptions(srv.URL)
		o.CertFile = filepath.Join(dir, "missing.pem")
		if _, err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "--cert") {
			t.Errorf("err = %v", err)
		}
		o.CertFile, o.KeyFile = "", goodKey
		if _, err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "--key needs --cert") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestMTLSCertificateRefusedAfterTheHandshake: a server that takes any certificate in
// the handshake and verifies it afterwards (nginx's ssl_verify_client on answers its own
// 400 "The SSL certificate error" page) refuses the certificate presented.
func TestMTLSCertificateRefusedAfterTheHandshake(t *testing.T) {
	ca, other := newTestCA(t, "Partners CA"), newTestCA(t, "Someone Else CA")
	dir := t.TempDir()
	goodCert, goodKey := ca.clientPair(t, dir, "partner")
	badCert, badKey := other.clientPair(t, dir, "stranger")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(dated(0, func(w http.ResponseWriter, r *http.Request) {
		pc := r.TLS.PeerCertificates
		if len(pc) == 0 {
			w.WriteHeader(400)
			_, _ = w.Write([]byte("<html><head><title>400 No required SSL certificate was sent</title></head></html>"))
			return
		}
		if _, err := pc[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			w.Header().Set("Server", "nginx/1.22.1")
			w.WriteHeader(400)
			_, _ = w.Write([]byte("<html><head><title>400 The SSL certificate error</title></head><body><center>nginx/1.22.1</center></body></html>"))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, cert, key, verdict, summary string
	}{
		{"untrusted certificate", badCert, badKey, "mtls_client_certificate_missing", "refused the client certificate"},
		{"trusted certificate", goodCert, goodKey, VerdictOK, ""},
		{"no certificate", "", "", "mtls_client_certificate_missing", "none was presented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(srv.URL + "/v1/orders")
			o.Insecure = true
			o.CertFile, o.KeyFile = tc.cert, tc.key
			rep := runDoctor(t, o)
			if rep.Verdict != tc.verdict {
				t.Fatalf("verdict %q, want %q; findings %v", rep.Verdict, tc.verdict, codes(rep.Findings))
			}
			if tc.summary != "" && !strings.Contains(rep.Findings[0].Summary, tc.summary) {
				t.Errorf("summary %q", rep.Findings[0].Summary)
			}
		})
	}
}

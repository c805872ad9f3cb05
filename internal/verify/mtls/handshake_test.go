package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/google/go-cmp/cmp"
)

// verdict is what the test server reports about the client's certificate.
type verdict struct {
	Subject     string `json:"subject,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Cause       string `json:"cause,omitempty"`
}

// TestRealHandshakeFeedsTheAuthenticator runs TLS on 127.0.0.1 with
// tls.RequestClientCert, the way the gateway's listener is meant to: the handshake
// accepts any certificate (or none), and the authenticator judges what arrived, wired
// exactly as the gateway wires it (WithPeerCertificates plus Credential).
func TestRealHandshakeFeedsTheAuthenticator(t *testing.T) {
	w := newWorld(t)
	a := newAuth(t, w, FromCN, &fixedClock{testNow})

	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var peers []*x509.Certificate
		if r.TLS != nil {
			peers = r.TLS.PeerCertificates
		}
		ctx := WithPeerCertificates(r.Context(), peers)
		var v verdict
		p, err := a.Authenticate(ctx, Credential(peers))
		var f *decision.Failure
		switch {
		case err == nil:
			v.Subject, v.Fingerprint = p.Subject, p.Fingerprint
		case errors.As(err, &f):
			v.Reason, v.Cause, v.Fingerprint = string(f.Reason), f.Cause, f.Fingerprint
		default:
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(v)
	})
	start := func(clientCAs *x509.CertPool) *httptest.Server {
		srv := httptest.NewUnstartedServer(handler)
		srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, ClientCAs: clientCAs, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	plain := start(nil)
	// With ClientCAs as a hint, the certificate request names the trusted CAs, and a
	// client picks a certificate that chains to one of them, or sends none.
	hinted := start(a.CertPool())

	good := newLeaf(t, "alice", w.inter)
	expired := newLeaf(t, "carol", w.root, validity(testNow.Add(-30*24*time.Hour), testNow.Add(-3*time.Hour)))
	untrusted := newLeaf(t, "mallory", w.rogue)
	serverOnly := newLeaf(t, "web", w.root, extKeyUsage(x509.ExtKeyUsageServerAuth))

	tests := []struct {
		name  string
		srv   *httptest.Server
		certs []tls.Certificate
		want  verdict
	}{
		{"good certificate with its intermediate", plain, []tls.Certificate{tlsCert(good, w.inter)},
			verdict{Subject: "alice", Fingerprint: Fingerprint(good.cert)}},
		{"expired certificate", plain, []tls.Certificate{tlsCert(expired)},
			verdict{Reason: "client_certificate_invalid", Cause: "expired", Fingerprint: Fingerprint(expired.cert)}},
		{"certificate from an untrusted CA", plain, []tls.Certificate{tlsCert(untrusted)},
			verdict{Reason: "client_certificate_invalid", Cause: "unknown_authority", Fingerprint: Fingerprint(untrusted.cert)}},
		{"certificate without client auth usage", plain, []tls.Certificate{tlsCert(serverOnly)},
			verdict{Reason: "client_certificate_invalid", Cause: "incompatible_usage", Fingerprint: Fingerprint(serverOnly.cert)}},
		{"no certificate", plain, nil,
			verdict{Reason: "client_certificate_missing", Cause: "no_certificate", Fingerprint: "cert=none"}},
		{"hinted: the client picks its trusted certificate", hinted, []tls.Certificate{tlsCert(untrusted), tlsCert(good, w.inter)},
			verdict{Subject: "alice", Fingerprint: Fingerprint(good.cert)}},
		{"hinted: a client with only an untrusted certificate sends none", hinted, []tls.Certificate{tlsCert(untrusted)},
			verdict{Reason: "client_certificate_missing", Cause: "no_certificate", Fingerprint: "cert=none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.srv.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = tt.certs
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tt.srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var got verdict
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

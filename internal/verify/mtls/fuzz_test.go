package mtls

import (
	"bytes"
	"encoding/pem"
	"testing"
)

// FuzzParseCABundle guards the CA bundle parser against arbitrary files: no panic, an
// error or at least one certificate, and an error never echoes the file's bytes (a
// private key pasted into a bundle must not reach a log).
func FuzzParseCABundle(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("k3y-m4t3r14l")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCABundle(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		if err != nil {
			for rest := data; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				if len(b.Bytes) >= 8 && bytes.Contains([]byte(err.Error()), b.Bytes) {
					t.Fatalf("error %q echoes a PEM block's content", err)
				}
			}
		}
	})
}

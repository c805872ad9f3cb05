package config

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// redacted is what a Secret prints as, whatever the verb or encoder.
const redacted = "[REDACTED]"

// Secret is a secret setting (an HMAC key, a client secret, a pepper). It prints, formats,
// marshals and logs as "[REDACTED]", so a Config can be dumped for debugging without
// leaking; the value is only reachable through Reveal, which review can search for.
type Secret struct {
	b []byte
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	return Secret{b: append([]byte(nil), b...)}
}

// Reveal returns a copy of the secret's bytes. Never log, print or put the result in an
// error.
func (s Secret) Reveal() []byte {
	if len(s.b) == 0 {
		return nil
	}
	return append([]byte(nil), s.b...)
}

// Len returns the secret's length in bytes; lengths are safe to report.
func (s Secret) Len() int { return len(s.b) }

// IsZero reports whether the secret is unset (or empty).
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// String returns "[REDACTED]" for a set secret and "" for an unset one.
func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the bytes.
func (s Secret) GoString() string { return "config.Secret{" + redacted + "}" }

// Format keeps every fmt verb, %x and %d included, from printing the bytes.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// MarshalJSON encodes the secret as "[REDACTED]" (or "" when unset).
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.String() + `"`), nil
}

// MarshalText encodes the secret as "[REDACTED]" (or "" when unset), for encoders that use
// encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps log/slog from logging the bytes.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// isSecretKey reports whether a YAML key holds a secret: pepper, password, and every key whose name
// ends in "secret" (secret, client_secret, ...). Their values are never shown in messages,
// and each may be given as <key>_file instead.
func isSecretKey(key string) bool {
	return key == "pepper" || key == "password" || strings.HasSuffix(key, "secret")
}

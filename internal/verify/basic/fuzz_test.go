package basic

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// fuzzPassword is the one password that passes; it is long enough that finding it in an
// error or a fingerprint cannot be a coincidence.
const fuzzPassword = "correct horse battery staple"

// refDecode is a reference reading of Basic credentials (RFC 7617): standard base64 with
// padding, then the user name up to the first colon. Like encoding/base64 (and the
// decoder under test) it ignores unused bits in the last character, so two spellings of
// one credential are the same credential; unlike encoding/base64 it does not skip line
// breaks, which no header value can carry.
func refDecode(v string) (user, pass string, ok bool) {
	if strings.ContainsAny(v, "\r\n") {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(b), ":")
	return user, pass, ok
}

// FuzzBasicAuthenticate feeds arbitrary credential values to the Basic authenticator with
// one user, alice, whose password is fuzzPassword. It holds that exactly the credentials a
// reference decoder reads as alice:fuzzPassword are accepted; that every refusal is a
// *decision.Failure with a stable reason (credentials_malformed or credentials_invalid);
// that a malformed or oversized value costs no password hashing; and that no detail,
// cause or fingerprint quotes the password that was sent.
func FuzzBasicAuthenticate(f *testing.F) {
	for _, s := range []string{
		base64.StdEncoding.EncodeToString([]byte("alice:" + fuzzPassword)),
		base64.StdEncoding.EncodeToString([]byte("alice:wrong password")),
		base64.StdEncoding.EncodeToString([]byte("bob:" + fuzzPassword)),
		base64.StdEncoding.EncodeToString([]byte("alice")),
		base64.StdEncoding.EncodeToString([]byte(":")),
		base64.StdEncoding.EncodeToString([]byte("al\x00ice:" + fuzzPassword)),
		base64.StdEncoding.EncodeToString([]byte("alice:\xff\xfe")),
		base64.RawStdEncoding.EncodeToString([]byte("alice:" + fuzzPassword)),
		base64.URLEncoding.EncodeToString([]byte("alice:??>>" + fuzzPassword)),
		"not base64!", "", "====",
	} {
		f.Add(s)
	}
	var fx *fixture
	f.Fuzz(func(t *testing.T, value string) {
		if fx == nil {
			fx = newFixture(t)
			fx.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, fuzzPassword), Scopes: []string{"orders:read"}})
		}
		before := len(fx.hasher.calls())
		p, err := fx.a.Authenticate(context.Background(), decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: value})
		hashed := len(fx.hasher.calls()) > before

		user, pass, ok := refDecode(value)
		want := ok && user == "alice" && pass == fuzzPassword
		if err == nil {
			if !want {
				t.Fatalf("accepted %q (reference reads %q:%q, ok %v)", value, user, pass, ok)
			}
			if p.Subject != "alice" || p.Authenticator != "staff" {
				t.Fatalf("principal %+v", p)
			}
			return
		}
		if want {
			t.Fatalf("refused the right password: %v", err)
		}
		var fail *decision.Failure
		if !errors.As(err, &fail) {
			t.Fatalf("refusal %v (%T) is not a *decision.Failure", err, err)
		}
		switch fail.Reason {
		case decision.CredentialsMalformed:
			if hashed {
				t.Fatalf("malformed %q cost a password hash", value)
			}
		case decision.CredentialsInvalid:
			if len(value) > (secret.MaxPasswordBytes+store.MaxNameBytes+3)/3*4 {
				t.Fatalf("oversized value (%d bytes) reached the store", len(value))
			}
			if fail.Detail != invalidDetail {
				t.Fatalf("invalid credentials answered %q, want the one shared detail", fail.Detail)
			}
		default:
			t.Fatalf("reason %q for %q", fail.Reason, value)
		}
		// The fingerprint names the user by design; a password that is part of the user
		// name cannot be told apart from it.
		if ok && len(pass) >= 6 && !strings.Contains(user, pass) {
			outs := []string{fail.Detail, fail.Cause, fail.Fingerprint, err.Error()}
			for i, s := range outs {
				if !strings.Contains(s, pass) {
					continue
				}
				// Quoted, or part of a fixed message ("password")? The same credential
				// with another password of the same length and class must then say the
				// same thing with it.
				other := strings.Repeat("z", len(pass))
				_, err2 := fx.a.Authenticate(context.Background(), decision.Credential{
					Source: decision.FromAuthorization, Scheme: "basic", Value: base64.StdEncoding.EncodeToString([]byte(user + ":" + other)),
				})
				var fail2 *decision.Failure
				if !errors.As(err2, &fail2) {
					t.Fatalf("refusal of the other password is %v", err2)
				}
				outs2 := []string{fail2.Detail, fail2.Cause, fail2.Fingerprint, err2.Error()}
				if !strings.Contains(outs2[i], pass) {
					t.Fatalf("the password %q appears in %q", pass, s)
				}
			}
		}
	})
}

package jwt

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// signedWith signs the test claims with one member replaced by raw JSON text, so a test
// can send bytes (invalid UTF-8, lone surrogates) that json.Marshal would repair.
func signedWith(t *testing.T, s *tokens.Signer, claims map[string]any, name, raw string) string {
	t.Helper()
	delete(claims, name)
	if name == "sub" || name == "client_id" || name == "azp" {
		delete(claims, "sub") // let client_id or azp name the principal
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte(`{"`+name+`":`+raw+`,`), b[1:]...)
	return sign(t, s, json.RawMessage(payload))
}

// TestNamesThatCouldCollapseAreCredentialsMalformed: a subject (or the client_id or azp
// standing for it) or a scope that a later layer would fold into another value is
// refused, by both the jwt and the self-issued verifiers, so two identities can never
// reach the upstream as one. Ordinary Unicode names pass.
func TestNamesThatCouldCollapseAreCredentialsMalformed(t *testing.T) {
	tests := []struct {
		name, member, raw string
		refused           bool
	}{
		{"NUL", "sub", `"ad\u0000min"`, true},
		{"CRLF", "sub", `"admin\r\n"`, true},
		{"Tab", "sub", `"ad\tmin"`, true},
		{"DEL", "sub", "\"ad\x7fmin\"", true},
		{"C1 NEL", "sub", `"ad\u0085min"`, true},
		{"C1 CSI raw", "sub", "\"ad\xc2\x9bmin\"", true},
		{"invalid UTF-8", "sub", "\"ad\xffmin\"", true},
		{"lone surrogate", "sub", `"ad\ud800min"`, true},
		{"replacement character", "sub", `"ad\ufffdmin"`, true},
		{"leading space", "sub", `" admin"`, true},
		{"trailing space", "sub", `"admin "`, true},
		{"client_id with NUL", "client_id", `"app\u0000"`, true},
		{"azp with LF", "azp", `"web\n"`, true},
		{"scope with tab", "scope", `"orders:read\torders:admin"`, true},
		{"scope with NBSP", "scope", `"orders:read\u00a0admin"`, true},
		{"scope with C1", "scope", `"orders:read\u0085"`, true},
		{"scp entry with a space", "scp", `["orders:read admin"]`, true},
		{"scp entry with DEL", "scp", "[\"orders:read\x7f\"]", true},

		{"accented and CJK", "sub", `"Zoë 山田"`, false},
		{"email", "sub", `"zoe@example.com"`, false},
		{"emoji and inner space", "sub", `"fox 🦊 den"`, false},
		{"RTL script", "sub", `"مستخدم"`, false},
		{"client_id only", "client_id", `"svc-orders"`, false},
		{"scope list", "scope", `"orders:read  orders:write"`, false},
	}
	self := newSelfSetup(t, nil)
	plain := fileAuthenticator(t, self.clk, nil)
	verifiers := []struct {
		name   string
		signer *tokens.Signer
		auth   decision.Authenticator
	}{
		{"jwt", signers(t).es, plain},
		{"self", self.at, self.a},
	}
	for _, v := range verifiers {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				tok := signedWith(t, v.signer, claimsAt(self.clk.Now()), tc.member, tc.raw)
				_, err := v.auth.Authenticate(ctxT(t), bearer(tok))
				r, f := reasonOf(t, err)
				switch {
				case !tc.refused && err != nil:
					t.Fatalf("refused: %s (%s)", r, f.Detail)
				case tc.refused && r != decision.CredentialsMalformed:
					t.Fatalf("reason %q, want credentials_malformed", r)
				case tc.refused && f.Reason.Status() != 401:
					t.Fatalf("status %d", f.Reason.Status())
				}
			})
		}
	}
}

package doctor

import (
	"net/http"
	"strings"
	"testing"
)

// TestAlgMismatchFoundNotGuessed: jwt_alg_mismatch is the verdict when the issuer's
// published keys cannot verify the token's alg (read without --fetch-jwks when the
// issuer is the named origin), or when the server says so in its own words.
func TestAlgMismatchFoundNotGuessed(t *testing.T) {
	type keyset = string
	rsaKey := `{"kid":"k1","kty":"RSA","alg":"RS256","use":"sig","n":"AQAB","e":"AQAB"}`
	ecP384 := `{"kid":"k1","kty":"EC","crv":"P-384","x":"AA","y":"AA"}`
	tests := []struct {
		name     string
		header   map[string]any
		jwks     keyset
		body     string
		issuerOn string // "self" or "other"
		fetch    bool
		verdict  string
		evidence string
	}{
		{name: "HS256 token, the issuer publishes only RSA keys", header: map[string]any{"alg": "HS256", "typ": "JWT"},
			jwks: rsaKey, issuerOn: "self", verdict: "jwt_alg_mismatch", evidence: "none of the issuer's keys can verify HS256"},
		{name: "ES256 token whose kid is a P-384 key", header: map[string]any{"alg": "ES256", "kid": "k1"},
			jwks: ecP384, issuerOn: "self", verdict: "jwt_alg_mismatch", evidence: "the issuer's key k1 cannot verify ES256"},
		{name: "RS256 token whose kid is not published", header: map[string]any{"alg": "RS256", "kid": "gone"},
			jwks: rsaKey, issuerOn: "self", verdict: "jwt_signing_key_unknown", evidence: ""},
		{name: "the server's own words (golang-jwt)", header: map[string]any{"alg": "HS256", "typ": "JWT"},
			body: `{"error":"token is unverifiable: error while executing keyfunc: unexpected signing method: HS256"}`, issuerOn: "other",
			verdict: "jwt_alg_mismatch", evidence: "unexpected signing method"},
		{name: "the server's own words (PyJWT)", header: map[string]any{"alg": "RS512", "kid": "k1"},
			body: `{"detail":"The specified alg value is not allowed"}`, issuerOn: "other",
			verdict: "jwt_alg_mismatch", evidence: "specified alg value is not allowed"},
		{name: "issuer elsewhere and no --fetch-jwks: nothing fetched, nothing guessed", header: map[string]any{"alg": "HS256", "typ": "JWT"},
			jwks: rsaKey, issuerOn: "other", verdict: "credential_rejected_unknown"},
		{name: "issuer elsewhere with --fetch-jwks", header: map[string]any{"alg": "HS256", "typ": "JWT"},
			jwks: rsaKey, issuerOn: "other", fetch: true, verdict: "jwt_alg_mismatch", evidence: "none of the issuer's keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var idp string
			idpSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				rec.add(r)
				switch r.URL.Path {
				case "/.well-known/openid-configuration":
					_, _ = w.Write([]byte(`{"issuer":"` + idp + `","jwks_uri":"` + idp + `/jwks"}`))
				case "/jwks":
					_, _ = w.Write([]byte(`{"keys":[` + tc.jwks + `]}`))
				default:
					w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
					w.WriteHeader(401)
					_, _ = w.Write([]byte(tc.body))
				}
			})
			idp = idpSrv.URL
			api := idpSrv
			if tc.issuerOn == "other" {
				api = serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
					w.WriteHeader(401)
					_, _ = w.Write([]byte(tc.body))
				})
			}
			tok := makeJWT(tc.header, claims(map[string]any{"iss": idp}))
			o := baseOptions(api.URL + "/orders")
			o.Headers = []Header{bearer(tok)}
			o.FetchJWKS = tc.fetch
			rep := runDoctor(t, o)
			if rep.Verdict != tc.verdict {
				t.Fatalf("verdict %q, want %q; findings %v", rep.Verdict, tc.verdict, codes(rep.Findings))
			}
			if tc.evidence != "" && !strings.Contains(evidenceText(findingByCode(rep, tc.verdict)), tc.evidence) {
				t.Errorf("evidence lacks %q:\n%s", tc.evidence, evidenceText(findingByCode(rep, tc.verdict)))
			}
			if tc.issuerOn == "other" && !tc.fetch {
				for _, r := range rec.all() {
					t.Errorf("the issuer on another origin was contacted without --fetch-jwks: %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

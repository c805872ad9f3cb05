package config

import (
	"slices"
	"testing"
)

// TestIdentitySettingsProblems covers headers, subject_claim, scope_claims,
// audience_claim and discovery: each mistake is reported on its own line.
func TestIdentitySettingsProblems(t *testing.T) {
	const jwt = base + "authenticators:\n  j:\n    type: jwt\n    issuer: https://id.example\n    audience: api://x\n    algorithms: [RS256]\n    jwks_url: https://id.example/jwks\n"
	const disc = base + "authenticators:\n  j:\n    type: jwt\n    audience: api://x\n    algorithms: [RS256]\n"
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"good mapping", jwt + "    headers:\n      X-User-Email: email\n      X-User-Groups: groups\n", nil},
		{"hop-by-hop", jwt + "    headers:\n      Connection: email\n", []want{{11, "Connection is reserved"}}},
		{"authorization", jwt + "    headers:\n      authorization: sub\n", []want{{11, "authorization is reserved"}}},
		{"cookie", jwt + "    headers:\n      Cookie: sub\n", []want{{11, "reserved"}}},
		{"host", jwt + "    headers:\n      Host: sub\n", []want{{11, "reserved"}}},
		{"content-length", jwt + "    headers:\n      Content-Length: sub\n", []want{{11, "reserved"}}},
		{"transfer-encoding", jwt + "    headers:\n      Transfer_Encoding: sub\n", []want{{11, "reserved"}}},
		{"te", jwt + "    headers:\n      TE: sub\n", []want{{11, "reserved"}}},
		{"trailer", jwt + "    headers:\n      Trailer: sub\n", []want{{11, "reserved"}}},
		{"upgrade", jwt + "    headers:\n      Upgrade: sub\n", []want{{11, "reserved"}}},
		{"proxy-", jwt + "    headers:\n      Proxy-Authorization: sub\n", []want{{11, "Proxy-* headers"}}},
		{"forwarded", jwt + "    headers:\n      Forwarded: sub\n", []want{{11, "reserved"}}},
		{"x-forwarded", jwt + "    headers:\n      X-Forwarded-User: sub\n", []want{{11, "X-Forwarded-* headers"}}},
		{"gateway's own", jwt + "    headers:\n      X_Gatehouse_Subject: sub\n", []want{{11, "X-Gatehouse-* headers"}}},
		{"not a token", jwt + "    headers:\n      \"X User\": sub\n", []want{{11, "is not a valid header name"}}},
		{"same header folded", jwt + "    headers:\n      X-User: sub\n      X_User: email\n", []want{{12, "name the same header"}}},
		{"object claim", jwt + "    headers:\n      X-Roles: realm_access\n", []want{{11, "is a JSON object"}}},
		{"empty claim", jwt + "    headers:\n      X-Roles: \"\"\n", []want{{11, "the claim path is empty"}}},
		{"api key header", jwt + "    headers:\n      X-API-Key: sub\n  k: {type: api_key}\n", []want{{11, `where authenticator "k" reads API keys`}}},
		{"mtls has none", base + "authenticators:\n  m:\n    type: mtls\n    ca_file: ca.pem\n    headers: {X-A: b}\n", []want{{6, "holds no PEM"}, {7, `"headers" is not valid for an authenticator of type "mtls"`}}},
		{"subject claim control", jwt + "    subject_claim: \"a\\tb\"\n", []want{{10, "control character"}}},
		{"scope claims empty", jwt + "    scope_claims: []\n", []want{{10, "leave scope_claims out"}}},
		{"audience claim", jwt + "    audience_claim: client_id\n", nil},
		{"api key and basic headers", base + "authenticators:\n  k: {type: api_key, headers: {X-Team: team}}\n  b: {type: basic, headers: {X-Team: team}}\n", nil},
		{"introspection rules and headers", base + "authenticators:\n  i: {type: introspection, url: https://as.example/introspect, client_id: gw, client_secret: s3cret-s3cret,\n    subject_claim: username, scope_claims: [scope], headers: {X-User: username}}\n", nil},
		{"introspection has no audience_claim", base + "authenticators:\n  i: {type: introspection, url: https://as.example/introspect, client_id: gw, client_secret: s3cret-s3cret,\n    audience_claim: aud}\n", []want{{5, `key "audience_claim" is not valid for an authenticator of type "introspection" (it is a setting of jwt)`}}},
		{"headers not a mapping", jwt + "    headers: [X-A]\n", []want{{10, "expected a mapping"}}},
		{"discovery", disc + "    issuer: https://id.example\n    discovery: true\n", nil},
		{"discovery loopback http", disc + "    issuer: http://127.0.0.1:9/realms/x\n    discovery: true\n", nil},
		{"discovery http", disc + "    issuer: http://id.example\n    discovery: true\n", []want{{9, "needs an https:// issuer"}}},
		{"discovery not a url", disc + "    issuer: id.example\n    discovery: true\n", []want{{9, "needs an issuer that is an https:// URL"}}},
		{"discovery and jwks_url", disc + "    issuer: https://id.example\n    discovery: true\n    jwks_url: https://id.example/k\n", []want{{9, "give exactly one key source, not jwks_url and discovery"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"ca.pem": ""})
			_, err := Parse([]byte(tt.yaml), dir, envOf(nil))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want no problem, got:\n%v", err)
				}
				return
			}
			got := problemsOf(t, err)
			if !matches(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", formatProblems(got), formatWants(tt.want))
			}
		})
	}
}

// TestIdentitySettingsDecoded checks the decoded values.
func TestIdentitySettingsDecoded(t *testing.T) {
	c, err := Parse([]byte(base+`authenticators:
  j:
    type: jwt
    issuer: https://id.example
    audience: api://x
    algorithms: [RS256]
    discovery: true
    audience_claim: client_id
    subject_claim: oid
    scope_claims: roles
    headers: {X-User-Email: email, X-Groups: "cognito:groups"}
`), t.TempDir(), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	j := c.Authenticators["j"]
	if !j.JWT.Discovery || j.JWT.AudienceClaim != "client_id" || j.JWT.SubjectClaim != "oid" || !slices.Equal(j.JWT.ScopeClaims, []string{"roles"}) {
		t.Errorf("jwt settings = %+v", j.JWT)
	}
	want := [][2]string{{"X-User-Email", "email"}, {"X-Groups", "cognito:groups"}}
	if got := j.HeaderPairs(); !slices.Equal(got, want) {
		t.Errorf("headers = %v, want %v", got, want)
	}
}

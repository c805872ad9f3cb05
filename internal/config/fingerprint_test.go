package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fingerprintYAML = minimal + `authenticators:
  j: {type: jwt, issuer: https://id.example, audience: a, algorithms: [ES256], jwks_file: jwks.json}
  h: {type: jwt, issuer: https://id.example, audience: a, algorithms: [HS256], secret_file: hmac.key}
  k: {type: api_key, pepper_file: pepper}
  b: {type: basic}
  i: {type: introspection, url: https://id.example/i, client_id: gw, client_secret: "${CLIENT_SECRET}"}
  m: {type: mtls, ca_file: ca.pem}
`

func fingerprintFiles() map[string]string {
	return map[string]string{
		"jwks.json": `{"keys":[{"kty":"EC","kid":"1"}]}`,
		"hmac.key":  "0123456789abcdef0123456789abcdef\n",
		"pepper":    "pepper\n",
		"ca.pem":    caPEM,
	}
}

func fingerprints(t *testing.T, c *Config) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range c.AuthenticatorNames() {
		out[n] = c.Fingerprint(n)
	}
	return out
}

// TestFingerprintChangesOnlyForTheChangedAuthenticator is the reload contract: loading
// again gives the same fingerprints, and an edit changes the fingerprint of the
// authenticators it affects and no other.
func TestFingerprintChangesOnlyForTheChangedAuthenticator(t *testing.T) {
	env := map[string]string{"CLIENT_SECRET": "one"}
	// One folder throughout: paths are settings too, so they must not change.
	dir := t.TempDir()
	load := func(t *testing.T, yaml string, files map[string]string, env map[string]string) map[string]string {
		t.Helper()
		writeFiles(t, dir, files)
		c, err := Parse([]byte(yaml), dir, envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		return fingerprints(t, c)
	}
	before := load(t, fingerprintYAML, fingerprintFiles(), env)
	seen := map[string]bool{}
	for n, fp := range before {
		if len(fp) != 64 || seen[fp] {
			t.Errorf("fingerprint of %s = %q: want 64 hex digits, distinct per authenticator", n, fp)
		}
		seen[fp] = true
	}
	if again := load(t, fingerprintYAML, fingerprintFiles(), env); !reflect.DeepEqual(before, again) {
		t.Errorf("same configuration, different fingerprints:\n%v\n%v", before, again)
	}

	withFile := func(name, content string) map[string]string {
		f := fingerprintFiles()
		f[name] = content
		return f
	}
	tests := []struct {
		name    string
		yaml    string
		files   map[string]string
		env     map[string]string
		changed []string
	}{
		{"a setting", replace(fingerprintYAML, "algorithms: [ES256]", "algorithms: [ES256, ES384]"), fingerprintFiles(), env, []string{"j"}},
		{"a default made explicit", replace(fingerprintYAML, "{type: basic}", "{type: basic, cache_ttl: 5m}"), fingerprintFiles(), env, nil},
		{"a default changed", replace(fingerprintYAML, "{type: basic}", "{type: basic, cache_ttl: 1m}"), fingerprintFiles(), env, []string{"b"}},
		{"a secret in the environment", fingerprintYAML, fingerprintFiles(), map[string]string{"CLIENT_SECRET": "two"}, []string{"i"}},
		{"a secret file", fingerprintYAML, withFile("hmac.key", "fedcba9876543210fedcba9876543210\n"), env, []string{"h"}},
		{"a pepper file", fingerprintYAML, withFile("pepper", "other\n"), env, []string{"k"}},
		{"the JWKS file's content", fingerprintYAML, withFile("jwks.json", `{"keys":[{"kty":"EC","kid":"2"}]}`), env, []string{"j"}},
		{"the CA file's content", fingerprintYAML, withFile("ca.pem", caPEM+"\n"+caPEM), env, []string{"m"}},
		{"the environment", fingerprintYAML + "environment: test\n", fingerprintFiles(), env, []string{"k"}},
		{"the store", fingerprintYAML + "store: sqlite://other.db\n", fingerprintFiles(), env, []string{"b", "k"}},
		{"a file path", replace(fingerprintYAML, "jwks_file: jwks.json", "jwks_file: copy.json"), withFile("copy.json", fingerprintFiles()["jwks.json"]), env, []string{"j"}},
		{"a route", replace(fingerprintYAML, "path_prefix: /", "path_prefix: /x"), fingerprintFiles(), env, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := load(t, tt.yaml, tt.files, tt.env)
			var changed []string
			for _, n := range []string{"b", "h", "i", "j", "k", "m"} {
				if before[n] != after[n] {
					changed = append(changed, n)
				}
			}
			if !reflect.DeepEqual(changed, tt.changed) {
				t.Errorf("changed fingerprints = %v, want %v", changed, tt.changed)
			}
		})
	}
}

// replace replaces old, which must occur, once.
func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

// TestFingerprintCoversEverySettingsField changes each exported field of each settings
// struct in turn, so a field added later cannot be left out of the fingerprint.
func TestFingerprintCoversEverySettingsField(t *testing.T) {
	full := map[AuthenticatorType]any{
		TypeJWT: &JWT{Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"HS256"}, JWKSURL: "u", JWKSFile: "f",
			Secret: NewSecret([]byte("s")), Leeway: 1, JWKSMaxStale: 1, JWKSMinRefresh: 1, JWKSNegativeTTL: 1, JWKSTimeout: 1, CacheSize: 1},
		TypeAPIKey:        &APIKey{Header: "h", Query: "q", Pepper: NewSecret([]byte("p"))},
		TypeBasic:         &Basic{CacheTTL: 1, CacheSize: 1},
		TypeIntrospection: &Introspection{URL: "u", ClientID: "c", ClientSecret: NewSecret([]byte("s")), CacheMaxTTL: 1, Timeout: 1},
		TypeMTLS:          &MTLS{CAFile: "f", PrincipalFrom: PrincipalCN},
	}
	build := func(typ AuthenticatorType, settings any) *Config {
		a := &Authenticator{Name: "a", Type: typ}
		switch s := settings.(type) {
		case *JWT:
			a.JWT = s
		case *APIKey:
			a.APIKey = s
		case *Basic:
			a.Basic = s
		case *Introspection:
			a.Introspection = s
		case *MTLS:
			a.MTLS = s
		}
		return &Config{Authenticators: map[string]*Authenticator{"a": a}}
	}
	for _, typ := range AuthenticatorTypes() {
		orig := reflect.ValueOf(full[typ]).Elem()
		want := build(typ, full[typ]).Fingerprint("a")
		for i := 0; i < orig.NumField(); i++ {
			f := orig.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			t.Run(string(typ)+"."+f.Name, func(t *testing.T) {
				cp := reflect.New(orig.Type())
				cp.Elem().Set(orig)
				fv := cp.Elem().Field(i)
				switch v := fv.Addr().Interface().(type) {
				case *string:
					*v += "x"
				case *[]string:
					*v = append(append([]string(nil), *v...), "x")
				case *time.Duration:
					*v += time.Second
				case *int:
					*v++
				case *Secret:
					*v = NewSecret(append(v.Reveal(), 'x'))
				case *PrincipalSource:
					*v = PrincipalSANDNS
				case *bool:
					*v = !*v
				case *ClaimRules:
					v.SubjectClaim += "x"
				default:
					t.Fatalf("field %s has type %s: teach this test to change it", f.Name, f.Type)
				}
				if got := build(typ, cp.Interface()).Fingerprint("a"); got == want {
					t.Errorf("changing %s.%s does not change the fingerprint", typ, f.Name)
				}
			})
		}
	}
}

func TestFingerprintOfUnknownAuthenticatorIsEmpty(t *testing.T) {
	c, err := Parse([]byte(minimal), t.TempDir(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fingerprint("nope"); got != "" {
		t.Errorf("Fingerprint(nope) = %q, want empty", got)
	}
}

func TestFingerprintReadsNoFileItself(t *testing.T) {
	// The fingerprint reflects files as read at load: a change after loading is noticed
	// by loading again, not by a later call.
	dir := t.TempDir()
	writeFiles(t, dir, fingerprintFiles())
	c, err := Parse([]byte(fingerprintYAML), dir, envOf(map[string]string{"CLIENT_SECRET": "one"}))
	if err != nil {
		t.Fatal(err)
	}
	before := c.Fingerprint("j")
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if after := c.Fingerprint("j"); after != before {
		t.Error("fingerprint changed without a reload")
	}
}

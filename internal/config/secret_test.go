package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2-hunter2-hunter2-hunter2!"
	s := NewSecret([]byte(value))
	holder := struct {
		Name   string
		Secret Secret
		Ptr    *Secret
	}{"x", s, &s}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &holder))
	}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secret", s, "holder", holder)
	outputs = append(outputs, logged.String())
	text, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(text))
	hexValue := fmt.Sprintf("%x", value)
	for _, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, "hunter2") || strings.Contains(strings.ToLower(out), hexValue) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got := string(s.Reveal()); got != value {
		t.Errorf("Reveal = %q, want the value", got)
	}
	if s.Len() != len(value) || s.IsZero() || !(Secret{}).IsZero() {
		t.Error("Len/IsZero wrong")
	}
	// Reveal returns a copy: changing it does not change the secret.
	r := s.Reveal()
	r[0] = 'X'
	if string(s.Reveal()) != value {
		t.Error("Reveal exposes the secret's own bytes")
	}
}

func TestSecretFileTrimsOneTrailingNewline(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, content, want string
	}{
		{"no newline", key, key},
		{"LF", key + "\n", key},
		{"CRLF", key + "\r\n", key},
		{"only one LF trimmed", key + "\n\n", key + "\n"},
		{"only one CRLF trimmed", key + "\r\n\r\n", key + "\r\n"},
		{"lone CR kept", key + "\r", key + "\r"},
		{"spaces kept", " " + key + " \n", " " + key + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"secrets/hmac": tt.content})
			c, err := Parse([]byte(minimal+`authenticators:
  j: {type: jwt, issuer: i, audience: a, algorithms: [HS256], secret_file: secrets/hmac}
`), dir, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(c.Authenticators["j"].JWT.Secret.Reveal()); got != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretFileAbsoluteAndExpandedPaths(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"run/secrets/gw": "client-secret\n"})
	abs := filepath.Join(dir, "run/secrets/gw")
	for name, ref := range map[string]string{"absolute": abs, "expanded": "${SECRETS_DIR}/gw"} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(minimal+`authenticators:
  i: {type: introspection, url: https://id.example/i, client_id: gw, client_secret_file: "`+ref+`"}
`), t.TempDir(), envOf(map[string]string{"SECRETS_DIR": filepath.Join(dir, "run/secrets")}))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(c.Authenticators["i"].Introspection.ClientSecret.Reveal()); got != "client-secret" {
				t.Errorf("client secret = %q", got)
			}
		})
	}
}

// TestSecretsNeverAppearInProblems puts a secret value in places where loading fails and
// checks that no problem quotes it.
func TestSecretsNeverAppearInProblems(t *testing.T) {
	const secret = "s3cr3t-Value-9f8e7d6c"
	env := map[string]string{"SECRET": secret, "NL_SECRET": secret + "\n"}
	files := map[string]string{"short.key": secret + "\n", "long.key": strings.Repeat("k", 40)}
	tests := []struct {
		name string
		want string // a problem that must be reported
		yaml string
	}{
		{"expanded into a duration", "is not a duration", base + "upstream_timeout: ${SECRET}\n"},
		{"expanded into an integer", "expected an integer", base + "max_header_bytes: ${SECRET}\n"},
		{"expanded into a boolean", "expected true or false", "realm: r\nroutes: [{match: {path_prefix: /}, authenticate: anonymous, forward_authorization: \"${SECRET}\"}]\n"},
		{"expanded into an enum", "is not a log format", base + "errors: {detail: \"${SECRET}\"}\nlog: {level: \"${SECRET}\", format: \"${SECRET}\"}\n"},
		{"expanded into an address", "admin_listen:", base + "listen: ${SECRET}\nadmin_listen: ${SECRET}\n"},
		{"expanded into environment", "must be 1 to 16", base + "environment: ${SECRET}\n"},
		{"expanded into a realm with a newline", "control characters", "realm: ${NL_SECRET}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"},
		{"expanded into a rate", "write a rate as N/unit", base + "failure_budget: {per_client: \"${SECRET}\"}\n"},
		{"expanded into a proxy", "is not an IP address", base + "trusted_proxies: [\"${SECRET}\"]\n"},
		{"expanded into an origin and a header", "is not a valid header name", base + "cors: {allowed_origins: [\"${SECRET}\"], allowed_headers: [\"${SECRET} x\"]}\n"},
		{"expanded into a path prefix and method", "is not a valid method name", "realm: r\nroutes: [{match: {path_prefix: \"${SECRET}\", methods: [\"${SECRET} x\"]}, authenticate: anonymous}]\n"},
		{"expanded into a route name", "can never match", "realm: r\nroutes:\n  - {name: \"${SECRET}!\", match: {path_prefix: /}, authenticate: anonymous, bogus: 1}\n  - {name: \"${SECRET}!\", match: {path_prefix: /}, authenticate: anonymous}\n"},
		{"expanded into an authenticator reference", "which is not defined", "realm: r\nroutes: [{match: {path_prefix: /}, authenticate: [\"${SECRET}\", \"${SECRET}\"]}]\n"},
		{"expanded into authenticate", "found a string", "realm: r\nroutes: [{match: {path_prefix: /}, authenticate: \"${SECRET}\"}]\n"},
		{"expanded into a scope", "is not a valid scope", "realm: r\nauthenticators: {b: {type: basic}}\nroutes: [{match: {path_prefix: /}, authenticate: [b], require: {scopes: [\"${SECRET} x\"]}}]\n"},
		{"expanded into an authenticator type", "is not an authenticator type", base + "authenticators: {a: {type: \"${SECRET}\"}}\n"},
		{"expanded into algorithms", "is not a supported algorithm", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [\"${SECRET}\"], jwks_url: https://id.example/k}}\n"},
		{"expanded into principal_from", "is not a certificate field", base + "authenticators: {m: {type: mtls, ca_file: ca.pem, principal_from: \"${SECRET}\"}}\n"},
		{"expanded into api key settings", "query parameter name", base + "authenticators: {k: {type: api_key, header: \"${SECRET} x\", query: \"${SECRET}&\"}}\n"},
		{"expanded into URLs", "must not hold a user name or password", base + "resource: \"${SECRET}\"\nauthorization_servers: [\"${SECRET}\"]\n" +
			"authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [RS256], jwks_url: \"https://u:${SECRET}@id.example/k\"}}\n"},
		{"expanded into the store", "the postgres URL does not parse", base + "store: \"postgres://u:${SECRET}@db:badport/x\"\n"},
		{"literal secret in a postgres URL", "the postgres URL does not parse", base + "store: \"postgres://u:" + secret + "@db:badport/x\"\n"},
		{"secret path from the environment", "secret_file: cannot read", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [HS256], secret_file: \"${SECRET}\"}}\n"},
		{"jwks_file path from the environment", "jwks_file: cannot read", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [RS256], jwks_file: \"${SECRET}\"}}\n"},
		{"ca_file path from the environment", "ca_file: cannot read", base + "authenticators: {m: {type: mtls, ca_file: \"${SECRET}\"}}\n"},
		{"secret given as a file path", "cannot read the file", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [HS256], secret_file: " + secret + "}}\n"},
		{"secret given as an absolute file path", "cannot read the file", base + "authenticators: {i: {type: introspection, url: https://id.example/i, client_id: c, client_secret_file: /run/" + secret + "}}\n"},
		{"secret too short from a file", "the secret is 21 bytes", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [HS256], secret_file: short.key}}\n"},
		{"secret with the wrong algorithms", "with a secret only HS256", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [RS256], secret: \"${SECRET}\"}}\n"},
		{"literal secret with the wrong algorithms", "with a secret only HS256", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [RS256], secret: " + secret + "}}\n"},
		{"secret given twice", "not both", base + "authenticators: {j: {type: jwt, issuer: i, audience: a, algorithms: [HS256], secret: " + secret + ", secret_file: long.key}}\n"},
		{"secret under the wrong type", "is not valid for an authenticator of type", base + "authenticators: {k: {type: api_key, secret: " + secret + ", client_secret: " + secret + "}}\n"},
		{"secret under an unknown key", "unknown key \"secret\"", base + "authenticators: {k: {type: api_key, peper: " + secret + "}}\nsecret: " + secret + "\n"},
		{"secret that is not a string", "expected a string, found a mapping", base + "authenticators: {k: {type: api_key, pepper: {v: " + secret + "}}}\n"},
		{"secret with a bad reference", "write \"$$\" for a literal \"$\"", base + "authenticators: {k: {type: api_key, pepper: \"" + secret + "$\"}}\n"},
		{"secret under an unknown top-level key", "unknown key \"x\"", base + "x: " + secret + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			_, err := Parse([]byte(tt.yaml), dir, envOf(env))
			if err == nil {
				t.Fatal("want problems, got none")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("problems lack %q:\n%v", tt.want, err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("a problem quotes the secret:\n%v", err)
			}
		})
	}
}

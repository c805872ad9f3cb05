package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// want is one expected problem: its line and a substring of its message.
type want struct {
	line int
	msg  string
}

// base is prepended to most cases: a realm and an anonymous route, so a case's own lines
// start at line 3.
const base = "realm: test\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"

// jwtHead is a valid jwt authenticator's common part at lines 3-5 (after base).
const jwtHead = base + "authenticators:\n  j:\n    {type: jwt, issuer: https://id.example, audience: api://x, "

// TestProblemsCarryLineAndMessage checks, for each kind of mistake, the exact set of
// problems: their lines and message text. Listing every expected problem also guards
// against cascades (one mistake reported as three).
func TestProblemsCarryLineAndMessage(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		files map[string]string
		want  []want
	}{
		// The file as a whole.
		{"syntax error has its line", "realm: test\nroutes:\n  - match: {path_prefix: /\n    authenticate: anonymous\n", nil, nil,
			[]want{{3, "invalid YAML: did not find expected ',' or '}'"}}},
		{"unclosed flow sequence", "realm: test\nroutes: [1, 2\nx: 3\n", nil, nil, []want{{2, "invalid YAML: did not find expected ',' or ']'"}}},
		{"text after a quoted scalar", "realm: test\nlisten: 'x'y\n", nil, nil, []want{{2, "invalid YAML: did not find expected key"}}},
		{"sequence item inside a mapping", "realm: test\nlisten: x\n- c\n", nil, nil, []want{{3, "invalid YAML: did not find expected key"}}},
		{"broken block sequence", "realm: test\nroutes:\n  - x\n  y: 2\n", nil, nil, []want{{3, "invalid YAML: did not find expected '-' indicator (check the indentation"}}},
		{"mapping value in a plain scalar", "realm: test\nlisten: a: b\n", nil, nil, []want{{2, "invalid YAML: mapping values are not allowed in this context (check the indentation"}}},
		{"tab indentation", "realm: test\nroutes:\n\t- x\n", nil, nil, []want{{3, "invalid YAML: a tab in the indentation; YAML indents with spaces only"}}},
		{"empty file", "", nil, nil, []want{{0, "the configuration is empty"}}},
		{"comments only", "# nothing\n", nil, nil, []want{{0, "the configuration is empty"}}},
		{"two documents", base + "---\nrealm: other\n", nil, nil, []want{{3, "only one YAML document is allowed"}}},
		{"top level sequence", "- realm\n", nil, nil, []want{{1, "must be a mapping of settings, found a sequence"}}},
		{"top level scalar", "hello\n", nil, nil, []want{{1, "must be a mapping of settings, found a string"}}},
		{"unknown anchor", base + "listen: *nope\n", nil, nil, []want{{0, "unknown anchor 'nope' referenced"}}},

		// Keys.
		{"duplicate key", base + "realm: again\n", nil, nil, []want{{3, "realm: given twice (first at line 1)"}}},
		{"unknown top-level key with suggestion", base + "listn: 127.0.0.1:1\n", nil, nil, []want{{3, `unknown key "listn" (did you mean "listen"?)`}}},
		{"unknown key far from any", base + "colour: blue\n", nil, nil, []want{{3, `unknown key "colour"`}}},
		{"x- keys are ignored", base + "x-anything: {a: 1}\n", nil, nil, nil},
		{"unknown key in block", base + "cors:\n  max_agee: 1m\n", nil, nil, []want{{4, `unknown key "max_agee" in cors (did you mean "max_age"?)`}}},
		{"key that is not a string", base + "? [a]\n: b\n", nil, nil, []want{{3, "keys must be strings, found a sequence"}}},
		{"hostile key is quoted", base + "\"bad\\nkey\": 1\n", nil, nil, []want{{3, `unknown key "bad\nkey"`}}},

		// Types.
		{"string expected, sequence found", base + "listen: [127.0.0.1, 8080]\n", nil, nil, []want{{3, "listen: expected a string, found a sequence"}}},
		{"string expected, mapping found", base + "realm2: x\nlisten: {a: b}\n", nil, nil, []want{{3, `unknown key "realm2"`}, {4, "listen: expected a string, found a mapping"}}},
		{"mapping expected", base + "cors: [x]\n", nil, nil, []want{{3, "cors: expected a mapping, found a sequence"}}},
		{"sequence expected", base + "trusted_proxies: 10.0.0.1\n", nil, nil, []want{{3, "trusted_proxies: expected a sequence, found a string"}}},
		{"duration without unit", base + "upstream_timeout: 30\n", nil, nil, []want{{3, `upstream_timeout: "30" is not a duration; a duration needs a unit: write "30s" for seconds`}}},
		{"duration nonsense", base + "upstream_timeout: soon\n", nil, nil, []want{{3, `"soon" is not a duration; write a duration such as 30s, 5m or 1h30m`}}},
		{"integer expected", base + "max_header_bytes: 1.5\n", nil, nil, []want{{3, `max_header_bytes: expected an integer, found "1.5"`}}},
		{"binary scalar", base + "realm2: !!binary aGk=\n", nil, nil, []want{{3, `unknown key "realm2"`}}},
		{"null means default", base + "listen: ~\nlog: \n", nil, nil, nil},

		// Top-level values.
		{"realm missing", "routes: [{match: {path_prefix: /}, authenticate: anonymous}]\n", nil, nil, []want{{0, "realm: required"}}},
		{"realm with control character", "realm: \"a\\tb\"\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n", nil, nil, []want{{1, "realm: must not hold control characters"}}},
		{"listen not host:port", base + "listen: localhost\n", nil, nil, []want{{3, `listen: "localhost" is not host:port`}}},
		{"listen port out of range", base + "listen: 127.0.0.1:99999\n", nil, nil, []want{{3, "the port must be a number from 0 to 65535"}}},
		{"listen on every interface is fine", base + "listen: :8080\n", nil, nil, nil},
		{"admin on every interface", base + "admin_listen: :9090\n", nil, nil, []want{{3, "admin_listen: \":9090\" listens on every interface"}}},
		{"admin on unspecified IPv6", base + "admin_listen: \"[::]:9090\"\n", nil, nil, []want{{3, "listens on every interface"}}},
		{"admin on explicit address", base + "admin_listen: 10.1.2.3:9090\n", nil, nil, nil},
		{"admin same as listen", base + "listen: 127.0.0.1:9000\nadmin_listen: 127.0.0.1:9000\n", nil, nil, []want{{4, "admin_listen: must differ from listen"}}},
		{"environment upper case", base + "environment: PROD\n", nil, nil, []want{{3, `environment: "PROD" must be 1 to 16 lower-case letters or digits`}}},
		{"environment too long", base + "environment: abcdefghijklmnopq\n", nil, nil, []want{{3, "must be 1 to 16"}}},
		{"store unsupported", base + "store: mysql://db\n", nil, nil, []want{{3, "store: unsupported store"}}},
		{"store sqlite without path", base + "store: sqlite://\n", nil, nil, []want{{3, "sqlite:// needs a file path"}}},
		{"errors.detail", base + "errors: {detail: chatty}\n", nil, nil, []want{{3, `errors.detail: "chatty" is not a detail level: use verbose or terse`}}},
		{"cors origin with path", base + "cors: {allowed_origins: [\"https://a.example/app\"]}\n", nil, nil, []want{{3, "cors.allowed_origins[0]: \"https://a.example/app\" is not an origin: it must not hold a path"}}},
		{"cors origin trailing slash", base + "cors:\n  allowed_origins:\n    - https://a.example\n    - https://b.example/\n", nil, nil, []want{{6, "cors.allowed_origins[1]: \"https://b.example/\" is not an origin: remove the trailing /"}}},
		{"cors star not alone", base + "cors: {allowed_origins: [\"*\", \"https://a.example\"]}\n", nil, nil, []want{{3, `"*" allows every origin: list it alone`}}},
		{"cors origin without scheme", base + "cors: {allowed_origins: [a.example]}\n", nil, nil, []want{{3, "is not an origin: write scheme://host[:port]"}}},
		{"cors bad header", base + "cors: {allowed_headers: [\"X Trace\"]}\n", nil, nil, []want{{3, `cors.allowed_headers[0]: "X Trace" is not a valid header name`}}},
		{"cors max_age too long", base + "cors: {max_age: 48h}\n", nil, nil, []want{{3, "cors.max_age: must be from 0 to 24h, not 48h"}}},
		{"proxy with host bits", base + "trusted_proxies: [10.1.2.3/8]\n", nil, nil, []want{{3, "did you mean 10.0.0.0/8?"}}},
		{"proxy not an address", base + "trusted_proxies:\n  - 10.0.0.1\n  - example.com\n", nil, nil, []want{{5, `trusted_proxies[1]: "example.com" is not an IP address or CIDR prefix`}}},
		{"proxy with zone", base + "trusted_proxies: [\"fe80::1%eth0\"]\n", nil, nil, []want{{3, "zones are not supported"}}},
		{"proxy empty", base + "trusted_proxies: [\"\"]\n", nil, nil, []want{{3, "trusted_proxies[0]: empty entry"}}},
		{"forward_auth path", base + "forward_auth: {path: decide}\n", nil, nil, []want{{3, `forward_auth.path: "decide" must start with /`}}},
		{"ext_authz listen not host:port", base + "ext_authz: {listen: 9191}\n", nil, nil, []want{{3, `ext_authz.listen: "9191" is not host:port`}}},
		{"ext_authz listen same as listen", base + "listen: 127.0.0.1:8080\next_authz: {listen: \"127.0.0.1:8080\"}\n", nil, nil, []want{{4, "ext_authz.listen: must differ from listen and admin_listen"}}},
		{"ext_authz unknown key", base + "ext_authz: {listen: \"127.0.0.1:9191\", path: /x}\n", nil, nil, []want{{3, `unknown key "path"`}}},
		{"forward_auth path with query", base + "forward_auth: {path: \"/d?x=1\"}\n", nil, nil, []want{{3, "must be a plain path"}}},
		{"max_header_bytes too small", base + "max_header_bytes: 100\n", nil, nil, []want{{3, "max_header_bytes: must be from 4096 to 1048576, not 100"}}},
		{"resource not http", base + "resource: urn:x\n", nil, nil, []want{{3, "resource: must be an http:// or https:// URL"}}},
		{"resource with fragment", base + "resource: https://api.example/#x\n", nil, nil, []want{{3, "resource: must not hold a fragment"}}},
		{"authorization server with query", base + "authorization_servers: [\"https://id.example/?a=b\"]\n", nil, nil, []want{{3, "authorization_servers[0]: must not hold a query"}}},
		{"timeout zero", base + "shutdown_timeout: 0s\n", nil, nil, []want{{3, "shutdown_timeout: must be positive, not 0s"}}},
		{"log level", base + "log: {level: warning}\n", nil, nil, []want{{3, `log.level: "warning" is not a level: use debug, info, warn or error (did you mean "warn"?)`}}},
		{"log format", base + "log: {format: jsn}\n", nil, nil, []want{{3, `log.format: "jsn" is not a log format: use json or text (did you mean "json"?)`}}},
		{"rate without unit", base + "failure_budget: {per_client: 30}\n", nil, nil, []want{{3, `failure_budget.per_client: "30": write a rate as N/unit`}}},
		{"rate zero", base + "failure_budget: {per_credential: 0/min}\n", nil, nil, []want{{3, "the count in N/unit must be a whole number from 1 to 1000000"}}},
		{"rate unit", base + "failure_budget: {per_credential: 3/day}\n", nil, nil, []want{{3, "the unit in N/unit must be"}}},

		// Authenticators in general.
		{"authenticator name", base + "authenticators:\n  Corp: {type: basic}\n", nil, nil, []want{{4, "authenticators.Corp: invalid authenticator name"}}},
		{"authenticator named anonymous", base + "authenticators:\n  anonymous: {type: basic}\n", nil, nil, []want{{4, `the name "anonymous" is reserved`}}},
		{"type missing", base + "authenticators:\n  a: {cache_ttl: 1m}\n", nil, nil, []want{{4, "authenticators.a: type is required: one of jwt, api_key, basic, introspection, mtls"}}},
		{"type not a string", base + "authenticators:\n  a: {type: [jwt]}\n", nil, nil, []want{{4, "authenticators.a.type: expected a string, found a sequence"}}},
		{"type unknown with suggestion", base + "authenticators:\n  a: {type: jwk}\n", nil, nil, []want{{4, `authenticators.a.type: "jwk" is not an authenticator type: use one of jwt, api_key, basic, introspection, mtls (did you mean "jwt"?)`}}},
		{"unknown key under unknown type", base + "authenticators:\n  a: {type: saml, jwks_url: x, idp: y}\n", nil, nil, []want{{4, `unknown key "idp" in authenticator "a"`}, {4, "is not an authenticator type"}}},
		{"key of another type", base + "authenticators:\n  a:\n    type: basic\n    header: X-Key\n", nil, nil, []want{{6, `authenticators.a: key "header" is not valid for an authenticator of type "basic" (it is a setting of api_key)`}}},
		{"unknown authenticator key with suggestion", jwtHead + "algorithms: [RS256],\n     jwks_ur: https://id.example/k}\n", nil, nil, []want{{4, "authenticators.j: needs a key source"}, {6, `unknown key "jwks_ur" in authenticator "j" (did you mean "jwks_url"?)`}}},
		{"authenticators not a mapping", base + "authenticators: [a]\n", nil, nil, []want{{3, "authenticators: expected a mapping, found a sequence"}}},

		// jwt.
		{"jwt issuer, audience and algorithms required", base + "authenticators:\n  j: {type: jwt, jwks_url: https://id.example/k}\n", nil, nil, []want{
			{4, "authenticators.j.issuer: required"}, {4, "authenticators.j.audience: required"}, {4, "authenticators.j.algorithms: required"}}},
		{"jwt audience empty list", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k}\n  k: {type: jwt, issuer: i, audience: [], algorithms: [RS256], jwks_url: https://id.example/k}\n", nil, nil, []want{{6, "authenticators.k.audience: required"}}},
		{"jwt none refused", jwtHead + "algorithms: [RS256, none], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, `authenticators.j.algorithms[1]: "none" is never accepted`}}},
		{"jwt None in any case refused", jwtHead + "algorithms: [NoNe], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, `"none" is never accepted`}}},
		{"jwt unsupported algorithm", jwtHead + "algorithms: [RS257], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, `"RS257" is not a supported algorithm; supported: RS256, RS384`}}},
		{"jwt algorithm case", jwtHead + "algorithms: [es256], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, `"es256" is not a supported algorithm (did you mean "ES256"?)`}}},
		{"jwt algorithm twice", jwtHead + "algorithms: [ES256, ES256], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, "algorithms[1]: ES256 is listed twice"}}},
		{"jwt HMAC without secret", jwtHead + "algorithms: [HS256], jwks_url: https://id.example/k}\n", nil, nil, []want{{5, "algorithms: HS256 needs secret or secret_file"}}},
		{"jwt HMAC mixed with RSA", jwtHead + "algorithms: [HS256, RS256], secret: 0123456789abcdef0123456789abcdef}\n", nil, nil, []want{{5, "HMAC (HS256) cannot be mixed with public-key algorithms (RS256)"}}},
		{"jwt secret with RSA only", jwtHead + "algorithms: [RS256], secret: 0123456789abcdef0123456789abcdef}\n", nil, nil, []want{{5, "with a secret only HS256, HS384 and HS512 are allowed, not RS256"}}},
		{"jwt secret too short", jwtHead + "algorithms: [HS256], secret: short}\n", nil, nil, []want{{5, "authenticators.j.secret: the secret is 5 bytes; an HMAC key for HS256 needs at least 32"}}},
		{"jwt no key source", jwtHead + "algorithms: [RS256]}\n", nil, nil, []want{{4, "authenticators.j: needs a key source: jwks_url, jwks_file, discovery: true, or secret_file"}}},
		{"jwt two key sources", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k,\n     jwks_file: k.json}\n", nil, map[string]string{"k.json": `{"keys":[{"kty":"EC"}]}`}, []want{{6, "authenticators.j.jwks_file: give exactly one key source, not jwks_url and jwks_file"}}},
		{"jwt jwks_url scheme", jwtHead + "algorithms: [RS256], jwks_url: ftp://id.example/k}\n", nil, nil, []want{{5, "authenticators.j.jwks_url: must be an http:// or https:// URL"}}},
		{"jwt jwks_url with credentials", jwtHead + "algorithms: [RS256], jwks_url: \"https://u:p@id.example/k\"}\n", nil, nil, []want{{5, "jwks_url: must not hold a user name or password"}}},
		{"jwt jwks_url without host", jwtHead + "algorithms: [RS256], jwks_url: \"https:///k\"}\n", nil, nil, []want{{5, "jwks_url: must name a host"}}},
		{"jwt leeway too long", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k, leeway: 6m}\n", nil, nil, []want{{5, "authenticators.j.leeway: must be from 0 to 5m, not 6m"}}},
		{"jwt leeway negative", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k, leeway: -1s}\n", nil, nil, []want{{5, "leeway: must be from 0 to 5m, not -1s"}}},
		{"jwt min refresh zero", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k, jwks_min_refresh: 0s}\n", nil, nil, []want{{5, "jwks_min_refresh: must be at least 1s"}}},
		{"jwt timeout zero", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k, jwks_timeout: 0s}\n", nil, nil, []want{{5, "jwks_timeout: must be positive"}}},
		{"jwt cache size negative", jwtHead + "algorithms: [RS256], jwks_url: https://id.example/k, cache_size: -1}\n", nil, nil, []want{{5, "cache_size: must not be negative"}}},
		{"jwt jwks_file missing", jwtHead + "algorithms: [RS256], jwks_file: nope.json}\n", nil, nil, []want{{5, `nope.json": no such file or directory`}}},
		{"jwt jwks_file not a JWK Set", jwtHead + "algorithms: [RS256], jwks_file: k.json}\n", nil, map[string]string{"k.json": "[1,2]"}, []want{{5, "is not a JWK Set"}}},
		{"jwt jwks_file empty set", jwtHead + "algorithms: [RS256], jwks_file: k.json}\n", nil, map[string]string{"k.json": `{"keys":[]}`}, []want{{5, "holds no keys"}}},
		{"jwt jwks_file with private key", jwtHead + "algorithms: [ES256], jwks_file: k.json}\n", nil, map[string]string{"k.json": `{"keys":[{"kty":"EC","d":"AAAA"}]}`}, []want{{5, "holds private key material"}}},
		{"jwt self takes no key source", jwtHead + "algorithms: [ES256], jwks_url: https://id.example/k}\n  s: {type: jwt, issuer: self, audience: a, algorithms: [ES256], jwks_url: https://id.example/k}\n", nil, nil, []want{{6, `authenticators.s.jwks_url: issuer "self" verifies with the token service's own keys: remove jwks_url`}, {6, `authenticators.s.issuer: issuer "self" needs Gatehouse's token service`}}},
		{"jwt secret given twice", jwtHead + "algorithms: [HS256],\n     secret: 0123456789abcdef0123456789abcdef, secret_file: s}\n", nil, map[string]string{"s": "0123456789abcdef0123456789abcdef"}, []want{{6, "authenticators.j.secret: give secret or secret_file, not both"}}},
		{"jwt secret_file missing", jwtHead + "algorithms: [HS256],\n     secret_file: nope}\n", nil, nil, []want{{6, "authenticators.j.secret_file: cannot read the file: no such file or directory (a relative path is read from"}}},
		{"jwt secret_file empty", jwtHead + "algorithms: [HS256], secret_file: s}\n", nil, map[string]string{"s": "\n"}, []want{{5, "authenticators.j.secret_file: the file is empty"}}},
		{"jwt secret_file is a directory", jwtHead + "algorithms: [HS256], secret_file: d}\n", nil, map[string]string{"d/x": ""}, []want{{5, "not a regular file"}}},
		{"jwt secret_file without path", jwtHead + "algorithms: [HS256], secret_file: \"\"}\n", nil, nil, []want{{5, "secret_file: needs a file path"}}},

		// api_key, basic, introspection, mtls.
		{"api_key header Authorization", base + "authenticators:\n  k: {type: api_key, header: authorization}\n", nil, nil, []want{{4, "keys are already read from Authorization"}}},
		{"api_key header not a token", base + "authenticators:\n  k: {type: api_key, header: \"X:Key\"}\n", nil, nil, []want{{4, `authenticators.k.header: "X:Key" is not a valid header name`}}},
		{"api_key query name", base + "authenticators:\n  k: {type: api_key, query: \"a&b\"}\n", nil, nil, []want{{4, `authenticators.k.query: "a&b" is not a plain query parameter name`}}},
		{"api_key pepper file", base + "authenticators:\n  k: {type: api_key, pepper_file: p}\n", nil, map[string]string{"p": "pepper\n"}, nil},
		{"basic negative ttl", base + "authenticators:\n  b: {type: basic, cache_ttl: -1m}\n", nil, nil, []want{{4, "authenticators.b.cache_ttl: must not be negative"}}},
		{"introspection requirements", base + "authenticators:\n  i:\n    type: introspection\n", nil, nil, []want{
			{4, "authenticators.i.url: required"}, {4, "authenticators.i.client_id: required"}, {4, "authenticators.i.client_secret: required: give client_secret or client_secret_file"}}},
		{"introspection url", base + "authenticators:\n  i: {type: introspection, url: /introspect, client_id: a, client_secret: b}\n", nil, nil, []want{{4, "url: must be an http:// or https:// URL"}}},
		{"introspection over plain http to a remote host", base + "authenticators:\n  i: {type: introspection, url: http://id.example/introspect, client_id: a, client_secret: b}\n", nil, nil, []want{{4, "authenticators.i.url: must be an https:// URL (http:// only for a loopback host"}}},
		{"introspection over plain http to loopback", base + "authenticators:\n  i: {type: introspection, url: \"http://127.0.0.1:8081/introspect\", client_id: a, client_secret: b}\n", nil, nil, nil},
		{"introspection over plain http to localhost", base + "authenticators:\n  i:\n    type: introspection\n    client_id: a\n    client_secret: b\n    url: http://localhost/introspect\n", nil, nil, nil},
		{"introspection over plain http to a private address, block style", base + "authenticators:\n  i:\n    type: introspection\n    client_id: a\n    client_secret: b\n    url: http://10.0.0.1/introspect\n", nil, nil, []want{{8, "authenticators.i.url: must be an https:// URL"}}},
		{"mtls ca_file unreadable", base + "authenticators:\n  m: {type: mtls, ca_file: ca.pem}\n", nil, nil, []want{{4, "authenticators.m.ca_file: cannot read"}}},
		{"mtls ca_file not PEM", base + "authenticators:\n  m: {type: mtls, ca_file: ca.pem}\n", nil, map[string]string{"ca.pem": "not a certificate"}, []want{{4, "holds no PEM certificate"}}},
		{"mtls principal_from", base + "authenticators:\n  m: {type: mtls, ca_file: ca.pem, principal_from: dn}\n", nil, map[string]string{"ca.pem": caPEM}, []want{{4, `authenticators.m.principal_from: "dn" is not a certificate field`}}},
		{"mtls route without tls", "realm: test\nauthenticators:\n  m: {type: mtls, ca_file: ca.pem}\nroutes: [{match: {path_prefix: /}, authenticate: [m]}]\n", nil, map[string]string{"ca.pem": caPEM}, []want{{4, `uses mtls authenticator "m", which needs TLS on the public listener`}}},

		// TLS.
		{"tls cert without key", base + "tls: {cert_file: c.pem}\n", nil, nil, []want{{3, "tls.key_file: required with tls.cert_file"}}},
		{"tls key without cert", base + "tls: {key_file: k.pem}\n", nil, nil, []want{{3, "tls.cert_file: required with tls.key_file"}}},
		{"tls garbage", base + "tls: {cert_file: c.pem, key_file: k.pem}\n", nil, map[string]string{"c.pem": "garbage", "k.pem": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"}, []want{{3, "do not load as a certificate and key"}}},
		{"tls unknown key", base + "tls: {cert: c.pem}\n", nil, nil, []want{{3, `unknown key "cert"`}}},

		// Routes.
		{"routes missing", "realm: test\n", nil, nil, []want{{0, "routes: at least one route is required"}}},
		{"routes empty", "realm: test\nroutes: []\n", nil, nil, []want{{2, "routes: at least one route is required"}}},
		{"routes not a sequence", "realm: test\nroutes: {a: b}\n", nil, nil, []want{{2, "routes: expected a sequence of routes, found a mapping"}}},
		{"route not a mapping", "realm: test\nroutes: [x]\n", nil, nil, []want{{2, "routes[0]: expected a mapping, found a string"}}},
		{"route without match", "realm: test\nroutes:\n  - authenticate: anonymous\n", nil, nil, []want{{3, "routes[0].match: path_prefix is required"}}},
		{"path_prefix without slash", "realm: test\nroutes:\n  - match: {path_prefix: api}\n    authenticate: anonymous\n", nil, nil, []want{{3, `routes[0].match.path_prefix: "api" must start with /`}}},
		{"bad method", "realm: test\nroutes:\n  - match: {path_prefix: /, methods: [GET, \"GE T\"]}\n    authenticate: anonymous\n", nil, nil, []want{{3, `routes[0].match.methods[1]: "GE T" is not a valid method name`}}},
		{"methods upper-cased then duplicate", "realm: test\nroutes:\n  - match: {path_prefix: /, methods: [get, GET]}\n    authenticate: anonymous\n", nil, nil, []want{{3, "method GET is listed twice"}}},
		{"unknown key in match", "realm: test\nroutes:\n  - match: {path_prefix: /, method: [GET]}\n    authenticate: anonymous\n", nil, nil, []want{{3, `unknown key "method" in routes[0].match (did you mean "methods"?)`}}},
		{"unknown key in route", "realm: test\nroutes:\n  - name: r\n    match: {path_prefix: /}\n    authenticate: anonymous\n    upstrem: http://a\n", nil, nil, []want{{6, `unknown key "upstrem" in route "r" (did you mean "upstream"?)`}}},
		{"upstream scheme", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: anonymous\n    upstream: 127.0.0.1:9000\n", nil, nil, []want{{5, "routes[0].upstream: must be an http:// or https:// URL"}}},
		{"authenticate missing", "realm: test\nroutes:\n  - match: {path_prefix: /}\n", nil, nil, []want{{3, `routes[0].authenticate: route "route-0" needs authenticate: a list of authenticator names, or anonymous`}}},
		{"authenticate empty list", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: []\n", nil, nil, []want{{4, "needs authenticate"}}},
		{"authenticate a bare name", "realm: test\nauthenticators: {b: {type: basic}}\nroutes:\n  - match: {path_prefix: /}\n    authenticate: b\n", nil, nil, []want{{5, `routes[0].authenticate: expected "anonymous" or a list of authenticator names, found a string: to use one authenticator write [b]`}}},
		{"authenticate mixes anonymous", "realm: test\nauthenticators: {b: {type: basic}}\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [b, anonymous]\n", nil, nil, []want{{5, "anonymous cannot be combined with authenticators"}}},
		{"authenticate entry not a string", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [{a: b}]\n", nil, nil, []want{{4, "routes[0].authenticate[0]: expected a string, found a mapping"}}},
		{"authenticate list of anonymous alone", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [anonymous]\n", nil, nil, nil},
		{"authenticator not defined", "realm: test\nauthenticators: {corp_jwt: {type: basic}}\nroutes:\n  - name: admin\n    match: {path_prefix: /}\n    authenticate:\n      - corp_jwt\n      - corp_jtw\n", nil, nil, []want{{8, `route "admin" names authenticator "corp_jtw" which is not defined (did you mean "corp_jwt"?)`}}},
		{"authenticator listed twice", "realm: test\nauthenticators: {b: {type: basic}}\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [b, b]\n", nil, nil, []want{{5, `routes[0].authenticate[1]: authenticator "b" is listed twice`}}},
		{"scopes on anonymous route", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: anonymous\n    require: {scopes: [read]}\n", nil, nil, []want{{5, "routes[0].require.scopes: an anonymous route has no principal"}}},
		{"invalid scope", "realm: test\nauthenticators: {b: {type: basic}}\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [b]\n    require: {scopes: [\"a b\"]}\n", nil, nil, []want{{6, `routes[0].require.scopes[0]: "a b" is not a valid scope`}}},
		{"forward_authorization not a bool", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: anonymous\n    forward_authorization: yes\n", nil, nil, []want{{5, `routes[0].forward_authorization: expected true or false, found "yes"`}}},
		{"route name invalid", "realm: test\nroutes:\n  - name: \"my route\"\n    match: {path_prefix: /}\n    authenticate: anonymous\n", nil, nil, []want{{3, `routes[0].name: "my route" is not a valid route name`}}},
		{"route names clash with a default name", "realm: test\nroutes:\n  - match: {path_prefix: /a}\n    authenticate: anonymous\n  - name: route-0\n    match: {path_prefix: /b}\n    authenticate: anonymous\n", nil, nil, []want{{5, `routes[1].name: route name "route-0" is used twice (first at line 3)`}}},
		{"route shadowed by prefix", "realm: test\nroutes:\n  - name: api\n    match: {path_prefix: /api}\n    authenticate: anonymous\n  - name: v1\n    match: {path_prefix: /api/v1/}\n    authenticate: anonymous\n", nil, nil, []want{{6, `routes[1]: route "v1" can never match: route "api" (line 3) comes first`}}},
		{"route with narrower methods is not shadowing", "realm: test\nroutes:\n  - match: {path_prefix: /api, methods: [GET]}\n    authenticate: anonymous\n  - match: {path_prefix: /api}\n    authenticate: anonymous\n", nil, nil, nil},
		{"route with wider methods shadows", "realm: test\nroutes:\n  - match: {path_prefix: /, methods: [GET, POST]}\n    authenticate: anonymous\n  - match: {path_prefix: /x, methods: [POST]}\n    authenticate: anonymous\n", nil, nil, []want{{5, "can never match"}}},
		{"routes that together shadow a later one", "realm: test\nroutes:\n  - match: {path_prefix: /x, methods: [GET]}\n    authenticate: anonymous\n  - match: {path_prefix: /x/y, methods: [POST]}\n    authenticate: anonymous\n  - match: {path_prefix: /x/y/z, methods: [GET, POST]}\n    authenticate: anonymous\n", nil, nil,
			[]want{{7, `routes[2]: route "route-2" can never match: routes "route-0" (line 3) and "route-1" (line 5) come first and together match every request it would`}}},
		{"root route shadows everything", "realm: test\nroutes:\n  - match: {path_prefix: /}\n    authenticate: anonymous\n  - match: {path_prefix: /x, methods: [GET]}\n    authenticate: anonymous\n", nil, nil, []want{{5, `route "route-0" (line 3) comes first`}}},
		{"path_prefix too long", "realm: test\nroutes:\n  - match: {path_prefix: /" + strings.Repeat("a", 1024) + "}\n    authenticate: anonymous\n", nil, nil, []want{{3, "routes[0].match.path_prefix: must be at most 1024 bytes"}}},
		{"too many methods", "realm: test\nroutes:\n  - match: {path_prefix: /, methods: [" + manyMethods(33) + "]}\n    authenticate: anonymous\n", nil, nil, []want{{3, "routes[0].match.methods: at most 32 methods"}}},
		{"segment prefix does not shadow", "realm: test\nroutes:\n  - match: {path_prefix: /admin}\n    authenticate: anonymous\n  - match: {path_prefix: /administrator}\n    authenticate: anonymous\n", nil, nil, nil},

		// Expansion.
		{"unset variable", base + "listen: ${LISTEN}\n", nil, nil, []want{{3, "listen: ${LISTEN} is not set"}}},
		{"default used when unset", base + "listen: ${LISTEN:-127.0.0.1:7000}\n", nil, nil, nil},
		{"bare dollar", base + "realm2: x\nforward_auth: {path: /$path}\n", nil, nil, []want{{3, `unknown key "realm2"`}, {4, `forward_auth.path: "$" must start ${VAR} or ${VAR:-default}; write "$$" for a literal "$"`}}},
		{"unterminated reference", base + "listen: ${LISTEN\n", nil, nil, []want{{3, `listen: "${" is not closed by "}"`}}},
		{"unsupported modifier", base + "listen: ${LISTEN:?required}\n", nil, nil, []want{{3, "listen: ${LISTEN...} is not supported: write ${LISTEN} or ${LISTEN:-default}"}}},
		{"invalid variable name", base + "listen: ${1X}\n", nil, nil, []want{{3, `invalid variable name in "${...}"`}}},
		{"expanded value is validated", base + "environment: ${ENV}\n", map[string]string{"ENV": "Prod"}, nil, []want{{3, `environment: "${ENV}" (value not shown) must be 1 to 16`}}},
		{"expanded value is not YAML", base + "realm2: x\nlisten: ${L}\n", map[string]string{"L": "[1, 2]"}, nil, []want{{3, `unknown key "realm2"`}, {4, `listen: "${L}" (value not shown) is not host:port`}}},
		{"keys are not expanded", base + "${KEY}: x\n", map[string]string{"KEY": "listen"}, nil, []want{{3, `unknown key "${KEY}"`}}},

		// Aliases and merge keys.
		{"merge into a non-mapping", base + "authenticators:\n  b:\n    <<: [x]\n    type: basic\n", nil, nil, []want{{5, "authenticators.b: << merges mappings, found a string"}}},
		{"explicit keys win over merged ones", base + "x-d: &d {type: basic, cache_ttl: bad}\nauthenticators:\n  b: {<<: *d, cache_ttl: 1m}\n", nil, nil, nil},
		{"alias error points at the use", base + "x-d: &d [a]\nlisten: *d\n", nil, nil, []want{{4, "listen: expected a string, found a sequence"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			_, err := Parse([]byte(tt.yaml), dir, envOf(tt.env))
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

// matches reports whether got has exactly the wanted problems, in order.
func matches(got []Problem, wants []want) bool {
	if len(got) != len(wants) {
		return false
	}
	for i, w := range wants {
		if got[i].Line != w.line || !strings.Contains(got[i].Msg, w.msg) {
			return false
		}
	}
	return true
}

func formatProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %d: %s\n", p.Line, p.Msg)
	}
	return b.String()
}

func formatWants(ws []want) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "  %d: ...%s...\n", w.line, w.msg)
	}
	return b.String()
}

// manyMethods returns n distinct method names, comma-separated.
func manyMethods(n int) string {
	var m []string
	for i := range n {
		m = append(m, fmt.Sprintf("M%d", i))
	}
	return strings.Join(m, ", ")
}

// TestYAMLSyntaxErrorsNameTheCause loads each file under testdata/yaml_syntax and compares
// the problems with its .golden file (go test -run YAMLSyntax -update rewrites them): a
// tab in the indentation is called a tab and points at its own line, a key at the wrong
// depth is named an indentation mistake, and a stray character is not blamed on tabs.
func TestYAMLSyntaxErrorsNameTheCause(t *testing.T) {
	files, err := filepath.Glob("testdata/yaml_syntax/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f, noEnv)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			var b strings.Builder
			for _, p := range ce.Problems() {
				p.Path = filepath.Base(p.Path)
				fmt.Fprintln(&b, p.Error())
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(mustRead(t, golden), b.String()); diff != "" {
				t.Errorf("problems differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// vars builds corpusVars from name/value pairs; names in secretNames are credentials.
func cv(pairs ...string) corpusVars {
	v := corpusVars{vars: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.vars[pairs[i]] = pairs[i+1]
	}
	return v
}

func (v corpusVars) secret(s ...string) corpusVars {
	v.secrets = append(v.secrets, s...)
	return v
}

func (v corpusVars) withEnv(pairs ...string) corpusVars {
	if v.env == nil {
		v.env = map[string]string{}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.env[pairs[i]] = pairs[i+1]
	}
	return v
}

// bearerAPI is an API that accepts exactly one Bearer token, as RFC 6750 says: a 401 with
// error="invalid_token" for any other credential, and a bare challenge without one.
func bearerAPI(good string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "Bearer "+good {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"orders":[]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"unauthorized"}`)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"invalid_token"}`)
	}
}

// basicAPI accepts exactly one user and password.
func basicAPI(user, pass string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == pass {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="reports", charset="UTF-8"`)
		w.WriteHeader(401)
		io.WriteString(w, "Unauthorized")
	}
}

func jsonReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const corpusAud = "api://orders"
const corpusIss = "https://id.corp.test"

// corpToken is a valid token of the corp issuer for api://orders.
func (w *corpusWorld) corpToken(t *testing.T, over map[string]any) string {
	c := map[string]any{"iss": corpusIss, "aud": corpusAud}
	for k, v := range over {
		c[k] = v
	}
	return signCorpus(t, w.corp, c)
}

// oidcIssuer serves an issuer's discovery document and JWKS on the API's own origin, as
// many APIs that are their own authorization server do, plus the API itself.
func oidcIssuer(t *testing.T, jwks []byte, api http.HandlerFunc) string {
	t.Helper()
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			jsonReply(w, 200, fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, base, base+"/.well-known/jwks.json"))
		case "/.well-known/jwks.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(jwks)
		default:
			api(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	return base
}

func corpusCases() []corpusCase {
	var cs []corpusCase
	cs = append(cs, redirectCases()...)
	cs = append(cs, intermediaryCases()...)
	cs = append(cs, corsCases()...)
	cs = append(cs, harCases()...)
	cs = append(cs, bytesCases()...)
	cs = append(cs, deliveryCases()...)
	cs = append(cs, tokenCases()...)
	cs = append(cs, sessionCases()...)
	cs = append(cs, transportCases()...)
	cs = append(cs, notAuthCases()...)
	cs = append(cs, cloudCases()...)
	cs = append(cs, fallbackCases()...)
	cs = append(cs, gatehouseCases()...)
	cs = append(cs, realServerCases()...)
	cs = append(cs, pasteCases()...)
	cs = append(cs, healthyCases()...)
	return cs
}

// --- A. Redirects ---

func redirectCases() []corpusCase {
	return []corpusCase{
		{
			name: "A1 redirect to another host", group: "A", server: "Go", want: "redirect_cross_origin_auth_dropped",
			broken:  "the API's base URL 308-redirects from 127.0.0.1 to localhost (another host), where the token is needed",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				final := goServer(t, bearerAPI(tok))
				u, _ := url.Parse(final)
				other := "http://localhost:" + u.Port()
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					http.Redirect(rw, r, other+r.URL.Path, http.StatusPermanentRedirect)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "A2 http redirected to https", group: "A", server: "Go", want: "redirect_http_to_https",
			broken:  "the URL is http://; the server 301-redirects to https://, and the token is dropped on the scheme change",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --cacert $CA`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				secure, ca := tlsServer(t, bearerAPI(tok), nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					http.Redirect(rw, r, secure+r.URL.Path, http.StatusMovedPermanently)
				})
				return cv("API", api, "TOKEN", tok, "CA", ca).secret(tok)
			},
		},
		{
			name: "A3 POST slash redirect", group: "A", server: "Go", want: "redirect_trailing_slash",
			broken:  "POST /orders is 301-redirected to /orders/ (a framework's slash redirect), which turns the POST into a GET",
			command: `gatehouse doctor -X POST $API/orders -H "Authorization: Bearer $TOKEN" -d 'item=42'`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					switch {
					case r.URL.Path == "/orders":
						http.Redirect(rw, r, "/orders/", http.StatusMovedPermanently)
					case r.Method != "POST":
						rw.Header().Set("Allow", "POST")
						jsonReply(rw, 405, `{"detail":"Method \"GET\" not allowed."}`)
					default:
						bearerAPI(tok)(rw, r)
					}
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "A4 API redirects to a login page", group: "A", server: "Go", want: "redirect_to_login_page",
			broken:  "the endpoint sits behind a cookie SSO gate that answers 302 to /login instead of 401",
			command: `gatehouse doctor $API/api/reports -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/login" {
						rw.Header().Set("Content-Type", "text/html")
						io.WriteString(rw, "<html><form>Sign in</form></html>")
						return
					}
					http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusFound)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "A5 download redirect to a signed URL", group: "A", server: "Go", want: "auth_forwarded_to_presigned_url",
			broken:  "the download redirects to a pre-signed storage URL on the same host, and the storage refuses the Authorization that comes along",
			command: `gatehouse doctor $API/files/report.pdf -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/storage/") {
						if r.Header.Get("Authorization") != "" {
							rw.Header().Set("Content-Type", "application/xml")
							rw.WriteHeader(400)
							io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>`)
							return
						}
						io.WriteString(rw, "%PDF-1.7")
						return
					}
					if r.Header.Get("Authorization") != "Bearer "+tok {
						bearerAPI(tok)(rw, r)
						return
					}
					http.Redirect(rw, r, "/storage/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T092653Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", http.StatusFound)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "A6 redirect loop", group: "A", server: "Go", want: "redirect_loop",
			broken:  "/v1/orders redirects to /v1/orders/ and back (two rewrite rules that disagree): the client never gets an answer",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/") {
						http.Redirect(rw, r, strings.TrimSuffix(r.URL.Path, "/"), http.StatusFound)
						return
					}
					http.Redirect(rw, r, r.URL.Path+"/", http.StatusFound)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
	}
}

// --- B. Intermediaries (Go proxies; the real-server ones are in realServerCases) ---

func intermediaryCases() []corpusCase {
	return []corpusCase{
		{
			name: "B1 CDN strips Authorization", group: "B", server: "Go", want: "cdn_or_proxy_drops_authorization",
			broken:  "a caching CDN in front (Via, X-Cache) does not forward Authorization to the origin, which says no credentials were provided",
			command: `gatehouse doctor $API/v1/me -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				origin := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") == "" {
						rw.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
						jsonReply(rw, 401, `{"detail":"Authentication credentials were not provided."}`)
						return
					}
					bearerAPI(tok)(rw, r)
				})
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					req, _ := http.NewRequest(r.Method, origin+r.URL.RequestURI(), nil)
					resp, err := http.DefaultClient.Do(req) // no Authorization: the CDN's cache policy drops it
					if err != nil {
						rw.WriteHeader(502)
						return
					}
					defer resp.Body.Close()
					for k, vs := range resp.Header {
						rw.Header()[k] = vs
					}
					rw.Header().Set("Via", "1.1 edge-cache (Varnish/7.1)")
					rw.Header().Set("X-Cache", "MISS")
					rw.WriteHeader(resp.StatusCode)
					io.Copy(rw, resp.Body)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "B2 two Authorization headers", group: "B", server: "Go", want: "proxy_auth_layer_conflict",
			broken:  "the script sends the gateway's Basic pair and the app's Bearer token, each in its own Authorization header",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Basic $GATE" -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				gate := base64.StdEncoding.EncodeToString([]byte("deploy:gate-pass-7781"))
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if len(r.Header.Values("Authorization")) != 1 {
						jsonReply(rw, 400, `{"error":"invalid_request","error_description":"more than one Authorization header"}`)
						return
					}
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok, "GATE", gate).secret(tok, gate, "gate-pass-7781")
			},
		},
	}
}

// --- C. Browsers and CORS ---

func corsCases() []corpusCase {
	const origin = "http://localhost:3000"
	return []corpusCase{
		{
			name: "C1 preflight answered 401", group: "C", server: "Go", want: "cors_preflight_requires_auth",
			broken:  "the API authenticates every request, OPTIONS preflights included, which browsers send without credentials",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", origin)
					rw.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "C2 Allow-Headers wildcard", group: "C", server: "Go", want: "cors_authorization_not_allowed",
			broken:  "the preflight answers Access-Control-Allow-Headers: *, which does not cover Authorization",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", origin)
					if r.Method == "OPTIONS" {
						rw.Header().Set("Access-Control-Allow-Headers", "*")
						rw.Header().Set("Access-Control-Allow-Methods", "GET, POST")
						rw.WriteHeader(204)
						return
					}
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "C3 cookies with origin *", group: "C", server: "Go", want: "cors_credentials_misconfigured",
			broken:  "a session-cookie API answers Access-Control-Allow-Origin: *, which browsers refuse for a request with cookies",
			command: `gatehouse doctor $API/account -H "Cookie: sessionid=$SESSION" --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				sess := "q8v0c3lrm2b7x1n5k9d4f6h0j2p4s6t8"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", "*")
					if c, err := r.Cookie("sessionid"); err == nil && c.Value == sess {
						jsonReply(rw, 200, `{"user":"alice"}`)
						return
					}
					jsonReply(rw, 403, `{"detail":"Authentication credentials were not provided."}`)
				})
				return cv("API", api, "SESSION", sess).secret(sess)
			},
		},
		{
			name: "C8 challenge not exposed to a discovering client", group: "C", server: "Go", want: "www_authenticate_not_exposed",
			broken:  "a browser client (an MCP-style app) starts without a token and must read resource_metadata from the 401's WWW-Authenticate, which the API does not list in Access-Control-Expose-Headers",
			command: `gatehouse doctor $API/v1/orders --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", origin)
					if r.URL.Path == "/.well-known/oauth-protected-resource" {
						jsonReply(rw, 200, `{"resource":"http://`+r.Host+`","authorization_servers":["https://id.corp.test"]}`)
						return
					}
					rw.Header().Set("WWW-Authenticate", `Bearer resource_metadata="http://`+r.Host+`/.well-known/oauth-protected-resource"`)
					jsonReply(rw, 401, `{"error":"unauthorized"}`)
				})
				return cv("API", api)
			},
		},
		{
			name: "C4 Gatehouse: origin not allowed", group: "C", server: "Gatehouse demo", want: "cors_preflight_requires_auth", fixHas: "cors.allowed_origins",
			broken:  "the front end runs on http://localhost:5173, which is not in the gateway's cors.allowed_origins (only :3000 is)",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $VALID" --origin http://localhost:5173`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "VALID", d.vars["VALID"]).secret(d.vars["VALID"])
			},
		},
	}
}

// --- D. The credential's bytes ---

func bytesCases() []corpusCase {
	strict := func(t *testing.T, w *corpusWorld, name, value string) corpusVars {
		tok := w.corpToken(t, nil)
		api := goServer(t, bearerAPI(tok))
		return cv("API", api, "TOKEN", tok, name, value).secret(tok)
	}
	return []corpusCase{
		{
			name: "D1 placeholder in single quotes", group: "D", server: "Go", want: "unexpanded_placeholder",
			broken:  "the header is in single quotes, so the shell sent the text $TOKEN instead of the token",
			command: `gatehouse doctor $API/v1/orders -H 'Authorization: Bearer $TOKEN'`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D2 Postman variable not replaced", group: "D", server: "Go", want: "unexpanded_placeholder",
			broken:  "a request copied from Postman still holds {{access_token}}",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer {{access_token}}"`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D3 CR from a Windows file", group: "D", server: "Go", want: "trailing_newline_or_cr",
			broken:  "the token was read with $(cat token.txt) from a file with CRLF line endings, so it ends in a carriage return",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN_FROM_FILE"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				return cv("API", api, "TOKEN_FROM_FILE", tok+"\r").secret(tok)
			},
		},
		{
			name: "D4 Basic built with echo", group: "D", server: "Go", want: "basic_base64_trailing_newline",
			broken:  "the Basic value was made with echo 'alice:pass' | base64, so the password ends in a newline",
			command: `gatehouse doctor $API/reports -H "Authorization: Basic $B64"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, basicAPI("alice", "r3ports-Pass!"))
				b64 := base64.StdEncoding.EncodeToString([]byte("alice:r3ports-Pass!\n"))
				return cv("API", api, "B64", b64).secret(b64, "r3ports-Pass!")
			},
		},
		{
			name: "D5 Basic not encoded", group: "D", server: "Go", want: "basic_credentials_malformed",
			broken:  "the Basic credential is sent as plain user:password, not Base64",
			command: `gatehouse doctor $API/reports -H "Authorization: Basic alice:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, basicAPI("alice", "r3ports-Pass!"))
				return cv("API", api, "PASS", "r3ports-Pass!").secret("r3ports-Pass!")
			},
		},
		{
			name: "D6 token wrapped in quotes", group: "D", server: "Go", want: "value_wrapped_in_quotes",
			broken:  "the token variable holds the quotes from a JSON file, and they are sent as part of it",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer \"$TOKEN\""`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D7 zero-width space in the token", group: "D", server: "Go", want: "non_ascii_or_invisible_chars",
			broken:  "the token was copied from a chat message that inserted a zero-width space",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $COPIED"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				return cv("API", api, "COPIED", tok[:40]+"\u200b"+tok[40:]).secret(tok, tok[40:])
			},
		},
		{
			name: "D8 truncated token", group: "D", server: "Go", want: "truncated_or_masked_credential",
			broken:  "the token was copied from a terminal that cut it off in the middle of the signature",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $PARTIAL"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				return cv("API", api, "PARTIAL", tok[:len(tok)-30]).secret(tok)
			},
		},
		{
			name: "D9 Bearer Bearer", group: "D", server: "Go", want: "scheme_prefix_malformed",
			broken:  "the variable already holds 'Bearer <token>', and the command adds Bearer again",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN_WITH_SCHEME"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				return cv("API", api, "TOKEN_WITH_SCHEME", "Bearer "+tok).secret(tok)
			},
		},
		{
			name: "D10 lower-case scheme, strict server", group: "D", server: "Go", want: "scheme_name_or_case_mismatch",
			broken:  "the server compares the scheme byte for byte and refuses 'bearer'",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: bearer $TOKEN" --retry-variants`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D11 Token scheme to a Bearer API", group: "D", server: "Go", want: "scheme_name_or_case_mismatch",
			broken:  "the client sends 'Token <value>' (a Django REST framework habit) to an API that takes Bearer",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Token $TOKEN"`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D12 client secret with + not form-encoded", group: "D", server: "Go", want: "oauth_client_secret_basic_encoding",
			broken:  "the OAuth client secret holds '+' and '/', put in Basic without the form-encoding RFC 6749 asks for; the token endpoint decodes + as a space",
			command: `gatehouse doctor $IDP/oauth/token -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const id, sec = "reporting-job", "k7+Qz/9xR2mW+pL4vN8s"
				idp := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					u, p, _ := r.BasicAuth()
					u, _ = url.QueryUnescape(u)
					p, _ = url.QueryUnescape(p) // RFC 6749 2.3.1: the server form-decodes both
					if u == id && p == sec {
						jsonReply(rw, 200, `{"access_token":"x","token_type":"Bearer"}`)
						return
					}
					rw.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
					jsonReply(rw, 401, `{"error":"invalid_client","error_description":"Client authentication failed"}`)
				})
				return cv("IDP", idp, "CLIENT_ID", id, "CLIENT_SECRET", sec).secret(sec)
			},
		},
		{
			name: "D13 token variable empty", group: "D", server: "Go", want: "credential_missing_or_empty",
			broken:  "$TOKEN is not set in this shell, so the header is 'Bearer ' and nothing else",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				v := strict(t, w, "X", "")
				delete(v.vars, "TOKEN")
				return v
			},
		},
		{
			name: "D14 JavaScript undefined", group: "D", server: "Go", want: "credential_missing_or_empty",
			broken:  "the front end built the header from an undefined variable: 'Bearer undefined'",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer undefined"`,
			setup:   func(t *testing.T, w *corpusWorld) corpusVars { return strict(t, w, "X", "") },
		},
		{
			name: "D15 .env template never filled", group: "D", server: "Go", want: "unexpanded_placeholder",
			broken:  "the .env copied from .env.example still says API_KEY=your-api-key-here",
			command: `gatehouse doctor $API/v1/orders --env-file $ENVFILE --var API_KEY -H 'X-API-Key: $API_KEY'`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const key = "sk_9f2KqLx7pV3mZ8wR4tY6u"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-API-Key") == key {
						io.WriteString(rw, "ok")
						return
					}
					jsonReply(rw, 401, `{"message":"Invalid API key"}`)
				})
				envFile := writeCorpusFile(t, ".env", "# copied from .env.example\nAPI_KEY=your-api-key-here\n")
				return cv("API", api, "ENVFILE", envFile).secret(key)
			},
		},
	}
}

// --- E. Where the credential goes ---

func deliveryCases() []corpusCase {
	return []corpusCase{
		{
			name: "E1 API key sent as Bearer", group: "E", server: "Go", want: "api_key_wrong_place",
			broken:  "the API reads keys from X-API-Key only; the key went in Authorization: Bearer",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $KEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const key = "key_live_3f9a8b7c6d5e4f3a2b1c"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-API-Key") == key {
						io.WriteString(rw, "ok")
						return
					}
					jsonReply(rw, 401, `{"message":"Missing API key: send it in the X-API-Key header"}`)
				})
				return cv("API", api, "KEY", key).secret(key)
			},
		},
		{
			name: "E2 Gatehouse: key in another header", group: "E", server: "Gatehouse demo", want: "api_key_wrong_place", fixHas: "X-API-Key",
			broken:  "the gateway reads keys from X-API-Key; the client sends X-Api-Token",
			command: `gatehouse doctor $API/orders -H "X-Api-Token: $APIKEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "APIKEY", d.vars["APIKEY"]).secret(d.vars["APIKEY"])
			},
		},
		{
			name: "E3 Gatehouse: test key to live", group: "E", server: "Gatehouse demo", want: "wrong_environment_or_account_credential",
			broken:  "a gk_test_ key (from the staging deployment) is sent to the live gateway",
			command: `gatehouse doctor $API/orders -H "X-API-Key: $TEST_KEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				k, err := secret.NewAPIKey("test")
				if err != nil {
					t.Fatal(err)
				}
				return cv("API", d.base, "TEST_KEY", k.Reveal()).secret(k.Reveal())
			},
		},
		{
			name: "E6 netrc entry replaces the header", group: "E", server: "Go", want: "netrc_overrides_authorization",
			broken:  "curl with the Bearer header works, but the Python client fails: ~/.netrc has an old entry for the API host, and requests sends that Basic pair instead of the header",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				home := t.TempDir()
				netrc := filepath.Join(home, ".netrc")
				if err := os.WriteFile(netrc, []byte("machine 127.0.0.1 login deploy password old-Netrc-Pass-5521\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return cv("API", api, "TOKEN", tok).secret(tok, "old-Netrc-Pass-5521").withEnv("HOME", home, "NETRC", netrc)
			},
		},
		{
			name: "E4 forward proxy wants credentials", group: "E", server: "Go", want: "proxy_auth_required_407", fixHas: "proxy",
			broken:  "HTTPS_PROXY points at a corporate proxy that wants its own credentials (407)",
			command: `gatehouse doctor https://api.partner.test/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				proxy := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Proxy-Authenticate", `Basic realm="corp-proxy"`)
					rw.WriteHeader(http.StatusProxyAuthRequired)
				})
				return cv("TOKEN", tok).secret(tok).withEnv("HTTPS_PROXY", proxy)
			},
		},
		{
			name: "E5 proxy answers 401 instead of 407", group: "E", server: "Go", want: "proxy_auth_required_407", fixHas: "proxy",
			broken:  "an outbound proxy answers 401 with Proxy-Authenticate (not 407) to a plain-http API call",
			command: `gatehouse doctor http://api.partner.test/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				proxy := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Proxy-Authenticate", `Basic realm="corp-proxy"`)
					rw.Header().Set("Content-Type", "text/html")
					rw.WriteHeader(401)
					io.WriteString(rw, "<html><body>Proxy authentication required</body></html>")
				})
				return cv("TOKEN", tok).secret(tok).withEnv("HTTP_PROXY", proxy)
			},
		},
	}
}

// --- F. Tokens ---

func tokenCases() []corpusCase {
	return []corpusCase{
		{
			name: "F1 expired token, Go API", group: "F", server: "Go", want: "jwt_expired",
			broken:  "the token expired 20 minutes ago; the API says so in error_description",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				now := time.Now()
				tok := w.corpToken(t, map[string]any{"iat": now.Add(-80 * time.Minute).Unix(), "exp": now.Add(-20 * time.Minute).Unix()})
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token expired"`)
					jsonReply(rw, 401, `{"error":"invalid_token"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F2 expired token, Gatehouse demo", group: "F", server: "Gatehouse demo", want: "jwt_expired",
			broken:  "the demo's EXPIRED token (expired an hour ago)",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $EXPIRED"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "EXPIRED", d.vars["EXPIRED"]).secret(d.vars["EXPIRED"])
			},
		},
		{
			name: "F3 Gatehouse: token from the future", group: "F", server: "Gatehouse serve", want: "jwt_not_yet_valid_clock_skew",
			broken:  "the issuer's clock is 10 minutes ahead: nbf and iat are in the gateway's future",
			command: `gatehouse doctor $API/api/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				now := time.Now().Add(10 * time.Minute)
				tok := w.corpToken(t, map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F4 Gatehouse: wrong audience", group: "F", server: "Gatehouse serve", want: "jwt_audience_mismatch", fixHas: "audience setting",
			broken:  "the token was requested for api://billing; the route's authenticator accepts api://orders",
			command: `gatehouse doctor $API/api/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, map[string]any{"aud": "api://billing"})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F5 Gatehouse: wrong issuer", group: "F", server: "Gatehouse serve", want: "jwt_issuer_or_tenant_mismatch",
			broken:  "the token comes from the staging issuer https://id.staging.corp.test",
			command: `gatehouse doctor $API/api/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, map[string]any{"iss": "https://id.staging.corp.test"})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F6 Gatehouse: unknown signing key", group: "F", server: "Gatehouse serve", want: "jwt_signing_key_unknown",
			broken:  "the issuer rotated to a new key that the gateway's key set does not hold",
			command: `gatehouse doctor $API/api/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := signCorpus(t, w.stranger, map[string]any{"iss": corpusIss, "aud": corpusAud})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F7 Gatehouse: HS256 token", group: "F", server: "Gatehouse serve", want: "jwt_alg_mismatch",
			broken:  "a test script signs with HS256; the authenticator accepts ES256 only",
			command: `gatehouse doctor $API/api/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				now := time.Now()
				tok := hs256(map[string]any{"iss": corpusIss, "aud": corpusAud, "sub": "ci", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}, "a-shared-secret-of-at-least-32-bytes!!")
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F8 alg the issuer's keys cannot verify", group: "F", server: "Go", want: "jwt_alg_mismatch",
			broken:  "the API (its own issuer, discovery on the same origin) publishes only an RSA key; the token is ES256 from a misconfigured signer; the API only says invalid_token",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				var tok string
				api := oidcIssuer(t, tokensJWKS(w.partner), func(rw http.ResponseWriter, r *http.Request) { bearerAPI("never")(rw, r) })
				tok = signCorpus(t, w.stranger, map[string]any{"iss": api, "aud": corpusAud})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F9 kid not in the issuer's JWKS", group: "F", server: "Go", want: "jwt_signing_key_unknown",
			broken:  "the token's kid is not in the issuer's published key set (a key from another tenant); checked with --fetch-jwks",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --fetch-jwks`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := oidcIssuer(t, tokensJWKS(w.corp), func(rw http.ResponseWriter, r *http.Request) { bearerAPI("never")(rw, r) })
				tok := signCorpus(t, w.stranger, map[string]any{"iss": api, "aud": corpusAud})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F10 ID token sent to an API", group: "F", server: "Go", want: "id_token_instead_of_access_token",
			broken:  "the SPA sends the id_token (nonce, at_hash, aud = the client id, no scope) instead of the access_token",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $ID_TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := signCorpus(t, w.corp, map[string]any{"iss": corpusIss, "aud": "spa-client-8812", "azp": "spa-client-8812", "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "scope": nil})
				api := goServer(t, bearerAPI("never"))
				return cv("API", api, "ID_TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F11 opaque token to a JWT API", group: "F", server: "Go", want: "opaque_token_where_jwt_expected",
			broken:  "the IdP issued an opaque access token (no audience requested); the API parses JWTs",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const tok = "Q3m9xVb2LkP0aZr7TtYw4Nc8Ud1Ee5Ff"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="token is malformed: token contains an invalid number of segments"`)
					jsonReply(rw, 401, `{"error":"invalid_token"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F12 access token to IAP", group: "F", server: "Go", want: "access_token_where_id_token_expected",
			broken:  "an OAuth access token (ya29.) is sent to an Identity-Aware Proxy, which wants an identity token",
			command: `gatehouse doctor $API/ -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const tok = "ya29.a0AfB_byC9xQ3mVb2LkP0aZr7TtYw4Nc8Ud1Ee5Ff6Gg7Hh8Ii9"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("X-Goog-IAP-Generated-Response", "true")
					rw.Header().Set("Content-Type", "text/html")
					rw.WriteHeader(401)
					io.WriteString(rw, "Invalid IAP credentials: Unable to parse JWT")
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F13 missing scope", group: "F", server: "Gatehouse serve", want: "insufficient_scope_or_permission",
			broken:  "the token has orders:read; the admin route requires orders:admin",
			command: `gatehouse doctor $API/api/admin/refunds -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, nil)
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F14 GitHub-style missing scope", group: "F", server: "Go", want: "insufficient_scope_or_permission",
			broken:  "the token lacks the admin:org scope the endpoint names in X-Accepted-OAuth-Scopes",
			command: `gatehouse doctor $API/orgs/acme/hooks -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, map[string]any{"scope": "repo read:org"})
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("X-OAuth-Scopes", "repo, read:org")
					rw.Header().Set("X-Accepted-OAuth-Scopes", "admin:org_hook")
					jsonReply(rw, 403, `{"message":"Must have admin rights to Repository.","documentation_url":"https://docs.example.com/rest"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F15 404 hides a private resource", group: "F", server: "Go", want: "not_found_masking_forbidden",
			broken:  "the token works (/user answers) but the private repository answers 404 to this user",
			command: `gatehouse doctor $API/repos/acme/secret-plans -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") != "Bearer "+tok {
						bearerAPI(tok)(rw, r)
						return
					}
					if r.URL.Path == "/user" {
						jsonReply(rw, 200, `{"login":"alice"}`)
						return
					}
					jsonReply(rw, 404, `{"message":"Not Found"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F16 anonymous principal (Kubernetes)", group: "F", server: "Go", want: "anonymous_principal_in_403",
			broken:  "the API server does not recognise the token and treats the call as system:anonymous",
			command: `gatehouse doctor $API/api/v1/namespaces/default/pods -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					jsonReply(rw, 403, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","code":403}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F17 issuer differs by a slash", group: "F", server: "Go", want: "jwt_issuer_or_tenant_mismatch",
			broken:  "the API trusts https://id.corp.test/ (with the slash); the token's iss has none",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --expect-issuer https://id.corp.test/`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI("never"))
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "F18 audience of another API, server says so", group: "F", server: "Go", want: "jwt_audience_mismatch",
			broken:  "the token is for api://billing; the API's error says the audience is invalid",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, map[string]any{"aud": "api://billing"})
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The audience 'api://billing' is invalid"`)
					rw.WriteHeader(401)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
	}
}

// tokensJWKS is the public key set of a signer.
func tokensJWKS(s *tokens.Signer) []byte { return tokens.PublicJWKS(s.Key()) }

// --- G. Sessions and CSRF ---

func sessionCases() []corpusCase {
	return []corpusCase{
		{
			name: "G1 CSRF token missing", group: "G", server: "Go", want: "csrf_token_missing",
			broken:  "a Django REST framework API authenticated by the session cookie wants X-CSRFToken on POST",
			command: `gatehouse doctor -X POST $API/api/orders/ -H "Cookie: sessionid=$SESSION; csrftoken=$CSRF" -H "Content-Type: application/json" -d '{"item":42}'`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const sess, csrf = "x1c9v8b7n6m5a4s3d2f1g0h9j8k7l6p5", "Zq4Wm8Xn2Cv6Bb0Nn3Mm7Ll1Kk5Jj9Hh"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Server", "WSGIServer/0.2 CPython/3.12.1")
					if r.Header.Get("X-CSRFToken") != csrf {
						jsonReply(rw, 403, `{"detail":"CSRF Failed: CSRF token missing."}`)
						return
					}
					jsonReply(rw, 201, `{}`)
				})
				return cv("API", api, "SESSION", sess, "CSRF", csrf).secret(sess, csrf)
			},
		},
		{
			name: "G2 session expired", group: "G", server: "Go", want: "session_missing_or_expired",
			broken:  "the script replays a session cookie copied from the browser yesterday; the session has expired",
			command: `gatehouse doctor $API/api/account -H "Cookie: laravel_session=$SESSION"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const sess = "eyJpdiI6Ik1xV0Z2bGx4In0%3D9f8e7d6c5b4a"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					jsonReply(rw, 401, `{"message":"Your session has expired. Please log in again."}`)
				})
				return cv("API", api, "SESSION", sess).secret(sess)
			},
		},
	}
}

// --- H. Challenges and transport ---

func transportCases() []corpusCase {
	return []corpusCase{
		{
			name: "H1 Digest-only server, Basic sent", group: "H", server: "Go", want: "digest_auth_failure",
			broken:  "the device's API accepts only HTTP Digest; curl -u sends Basic",
			command: `gatehouse doctor $API/cgi-bin/status -u "admin:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Digest realm="camera", qop="auth", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=MD5`)
					rw.WriteHeader(401)
				})
				return cv("API", api, "PASS", "cam-Admin-2291").secret("cam-Admin-2291")
			},
		},
		{
			name: "H2 NTLM through a connection-closing proxy", group: "H", server: "Go", want: "ntlm_negotiate_handshake_broken",
			broken:  "an IIS API wants NTLM/Negotiate, and the load balancer closes the connection after each 401",
			command: `gatehouse doctor $API/ews/api -H "Authorization: NTLM $TYPE1"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				type1 := "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Server", "Microsoft-IIS/10.0")
					rw.Header().Add("WWW-Authenticate", "Negotiate")
					rw.Header().Add("WWW-Authenticate", "NTLM")
					rw.Header().Set("Connection", "close")
					rw.WriteHeader(401)
				})
				return cv("API", api, "TYPE1", type1)
			},
		},
		{
			name: "H3 client certificate required", group: "H", server: "Go", want: "mtls_client_certificate_missing",
			broken:  "the API requires a TLS client certificate, and none is configured",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --cacert $CA`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				pki := newCorpusPKI(t)
				api := pki.mtlsServer(t, bearerAPI(tok))
				return cv("API", api, "TOKEN", tok, "CA", pki.caFile).secret(tok)
			},
		},
		{
			name: "H4 repeated challenge parameter", group: "H", server: "Go", want: "challenge_unparseable",
			broken:  "the 401's WWW-Authenticate repeats realm in one challenge, which RFC 9110 forbids; clients cannot read it",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Bearer realm="api", realm="orders", error="invalid_token"`)
					rw.WriteHeader(401)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "H5 comma after the scheme", group: "H", server: "Go", want: "challenge_unparseable",
			broken:  "the 401 says WWW-Authenticate: Basic, realm=\"files\" (a comma where a space belongs)",
			command: `gatehouse doctor $API/files -u "alice:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("WWW-Authenticate", `Basic, realm="files"`)
					rw.WriteHeader(401)
				})
				return cv("API", api, "PASS", "files-Pass-3390").secret("files-Pass-3390")
			},
		},
		{
			name: "H8 401 without a challenge, client waits for one", group: "H", server: "Go", want: "missing_www_authenticate_challenge", needs: "--anyauth (issue 15 item 13)",
			broken:  "the server answers 401 with no WWW-Authenticate; curl --anyauth (like git, .NET credential caches) waits for a challenge and so never sends the password",
			command: `gatehouse doctor $API/reports --anyauth -u "alice:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "r3ports-Pass!" {
						io.WriteString(rw, "ok")
						return
					}
					jsonReply(rw, 401, `{"error":"unauthorized"}`)
				})
				return cv("API", api, "PASS", "r3ports-Pass!").secret("r3ports-Pass!")
			},
		},
		{
			name: "H6 Gatehouse: mTLS authenticator, no certificate", group: "H", server: "Gatehouse serve", want: "mtls_client_certificate_missing",
			broken:  "the route's only authenticator is mtls and the client presents no certificate",
			command: `gatehouse doctor $API/partners/orders --cacert $CA`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g, ca := w.mtlsGateway(t)
				return cv("API", g, "CA", ca)
			},
		},
	}
}

// --- I. Not an authentication failure ---

func notAuthCases() []corpusCase {
	return []corpusCase{
		{
			name: "I1 rate limit answered 403", group: "I", server: "Go", want: "rate_limit_disguised_as_auth",
			broken:  "the API answers 403 with X-RateLimit-Remaining: 0 when the hourly quota is used up",
			command: `gatehouse doctor $API/v1/search -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				reset := time.Now().Add(20 * time.Minute).Unix()
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("X-RateLimit-Limit", "5000")
					rw.Header().Set("X-RateLimit-Remaining", "0")
					rw.Header().Set("X-RateLimit-Reset", fmt.Sprint(reset))
					jsonReply(rw, 403, `{"message":"API rate limit exceeded for user ID 4242."}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "I2 Gatehouse: failure budget", group: "I", server: "Gatehouse serve", want: "rate_limit_disguised_as_auth",
			broken:  "a retry loop sent the same bad token until the gateway's failure budget answered 429",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "budget")
				tok := signCorpus(t, w.stranger, map[string]any{"iss": corpusIss, "aud": corpusAud})
				for i := 0; i < 3; i++ { // the retry loop
					get(t, g.base+"/orders", "Authorization", "Bearer "+tok)
				}
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "I3 Cloudflare block page", group: "I", server: "Go", want: "waf_or_bot_block",
			broken:  "a bot-protection rule blocks the client before the API sees it",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Server", "cloudflare")
					rw.Header().Set("CF-RAY", "8a1b2c3d4e5f6a7b-FRA")
					rw.Header().Set("Content-Type", "text/html")
					rw.WriteHeader(403)
					io.WriteString(rw, `<!DOCTYPE html><title>Attention Required! | Cloudflare</title><h1>Sorry, you have been blocked</h1>`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "I4 User-Agent removed", group: "I", server: "Go", want: "user_agent_required",
			broken:  "the script removes the User-Agent; the API refuses requests without one",
			command: `gatehouse doctor $API/user -H "Authorization: Bearer $TOKEN" -H "User-Agent:"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.UserAgent() == "" {
						rw.Header().Set("Content-Type", "text/plain")
						rw.WriteHeader(403)
						io.WriteString(rw, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.")
						return
					}
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "I5 API key restricted to referrers", group: "I", server: "Go", want: "api_key_restriction_blocked",
			broken:  "a browser key restricted to the web site's referrer is used from a server",
			command: `gatehouse doctor "$API/maps/api/geocode/json?address=Berlin&key=$KEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const key = "AIzaSyD3x9Kq7Lm2Nb8Vc1Xz4Qw6Er5Ty0Ui9Op"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					jsonReply(rw, 403, `{"error":{"code":403,"message":"Requests from referer <empty> are blocked.","status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_HTTP_REFERRER_BLOCKED"}]}}`)
				})
				return cv("API", api, "KEY", key).secret(key)
			},
		},
	}
}

// --- J. Cloud providers ---

func cloudCases() []corpusCase {
	return []corpusCase{
		{
			name: "J1 API Gateway: wrong stage", group: "J", server: "Go", want: "aws_apigw_route_not_found",
			broken:  "the URL names stage /v1; the API is deployed as /prod, and API Gateway says Missing Authentication Token",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("x-amzn-RequestId", "4b1f3c3e-2a8d-4f7e-9c1d-0e6b5a4c3d2e")
					rw.Header().Set("x-amzn-ErrorType", "MissingAuthenticationTokenException")
					jsonReply(rw, 403, `{"message":"Missing Authentication Token"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "J2 API Gateway: IAM authorizer", group: "J", server: "Go", want: "aws_apigw_iam_auth_expected",
			broken:  "the route uses IAM authorization, so API Gateway reads the Bearer token as a SigV4 signature",
			command: `gatehouse doctor $API/prod/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("x-amzn-RequestId", "9c2e1d0f-3b4a-4c5d-8e7f-6a5b4c3d2e1f")
					rw.Header().Set("x-amz-apigw-id", "Kq3XbF2aoAMEbXw=")
					jsonReply(rw, 403, `{"message":"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "J3 SigV4 with a slow clock", group: "J", server: "Go", want: "signed_request_clock_skew",
			broken:  "the machine's clock is 20 minutes behind S3's; S3 refuses the freshly signed request as RequestTimeTooSkewed",
			command: `gatehouse doctor $API/bucket/report.csv -H "Authorization: $SIGV4" -H "X-Amz-Date: $AMZDATE" -H "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				now := time.Now().UTC()
				sig, amz := sigV4(now)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Date", time.Now().Add(20*time.Minute).UTC().Format(http.TimeFormat)) // S3's clock
					s3Skewed(rw, amz)
				})
				return cv("API", api, "SIGV4", sig, "AMZDATE", amz)
			},
		},
		{
			name: "J5 SigV4 signature reused", group: "J", server: "Go", want: "signed_request_clock_skew",
			broken:  "the clocks agree, but the script reuses a signature (and X-Amz-Date) computed 20 minutes earlier; S3 says RequestTimeTooSkewed",
			command: `gatehouse doctor $API/bucket/report.csv -H "Authorization: $SIGV4" -H "X-Amz-Date: $AMZDATE" -H "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				sig, amz := sigV4(time.Now().Add(-20 * time.Minute).UTC())
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) { s3Skewed(rw, amz) })
				return cv("API", api, "SIGV4", sig, "AMZDATE", amz)
			},
		},
		{
			name: "J4 presigned URL expired", group: "J", server: "Go", want: "signed_request_clock_skew",
			broken:  "the pre-signed download URL was valid for 5 minutes and was used an hour later",
			command: `gatehouse doctor "$API/bucket/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F$DAY%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=$AMZDATE&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=$SIG"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				then := time.Now().Add(-time.Hour).UTC()
				const sig = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Content-Type", "application/xml")
					rw.Header().Set("Server", "AmazonS3")
					rw.WriteHeader(403)
					io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>300</X-Amz-Expires></Error>`)
				})
				return cv("API", api, "DAY", then.Format("20060102"), "AMZDATE", then.Format("20060102T150405Z"), "SIG", sig)
			},
		},
	}
}

// sigV4 builds an AWS SigV4 Authorization value (its signature is not checked by the
// scenarios' servers) and the X-Amz-Date it was signed with.
func sigV4(at time.Time) (string, string) {
	amz := at.Format("20060102T150405Z")
	return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" + at.Format("20060102") + "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024", amz
}

// s3Skewed is S3's answer to a request signed outside its 15-minute window.
func s3Skewed(rw http.ResponseWriter, amz string) {
	rw.Header().Set("Content-Type", "application/xml")
	rw.Header().Set("Server", "AmazonS3")
	rw.WriteHeader(403)
	io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>`+amz+`</RequestTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>`)
}

// --- Z. Fallback ---

func fallbackCases() []corpusCase {
	return []corpusCase{
		{
			name: "Z1 revoked token, nothing visible", group: "Z", server: "Go", want: "credential_rejected_unknown",
			broken:  "the token was revoked at the issuer; everything the client can see about it is fine",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI("never"))
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "Z2 Gatehouse: wrong password", group: "Z", server: "Gatehouse demo", want: "credential_rejected_unknown",
			broken:  "the demo user's password is mistyped (an unknown user would look the same)",
			command: `gatehouse doctor $API/orders -u "demo:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "PASS", "gatehouse-dmeo").secret("gatehouse-dmeo")
			},
		},
		{
			name: "Z3 wrong Basic password, Go API", group: "Z", server: "Go", want: "credential_rejected_unknown",
			broken:  "the password was changed; the old one is sent",
			command: `gatehouse doctor $API/reports -u "alice:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api := goServer(t, basicAPI("alice", "n3w-Reports-Pass"))
				return cv("API", api, "PASS", "old-Reports-Pass").secret("old-Reports-Pass")
			},
		},
	}
}

// --- Gatehouse answers that are not about the credential ---

func gatehouseCases() []corpusCase {
	return []corpusCase{
		{
			name: "GH1 no route for the path", group: "GH", server: "Gatehouse serve", want: "route_not_found",
			broken:  "the client calls /v2/orders; the gateway routes only /api, /reports, ...",
			command: `gatehouse doctor $API/v2/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, nil)
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "GH2 method not allowed", group: "GH", server: "Gatehouse serve", want: "method_not_allowed",
			broken:  "the /reports route takes GET only; the client POSTs",
			command: `gatehouse doctor -X POST $API/reports/daily -H "Authorization: Bearer $TOKEN" -d 'day=today'`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, nil)
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "GH3 path with ..;", group: "GH", server: "Gatehouse serve", want: "path_rejected",
			broken:  "the path holds ..; (a Tomcat path-parameter trick), which the gateway refuses outright",
			command: `gatehouse doctor "$API/api/public/..;/admin/users" -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, nil)
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "GH4 upstream down", group: "GH", server: "Gatehouse serve", want: "upstream_unavailable",
			broken:  "the credential is fine; the service behind the route is not running",
			command: `gatehouse doctor $API/down/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, nil)
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "GH5 gateway cannot reach its JWKS", group: "GH", server: "Gatehouse serve", want: "authenticator_unavailable",
			broken:  "the authenticator's jwks_url is unreachable from the gateway: an outage, not the token",
			command: `gatehouse doctor $API/remote/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := signCorpus(t, w.corp, map[string]any{"iss": "https://remote.test", "aud": corpusAud})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "GH6 two issuers, kid unknown at the matching one", group: "GH", server: "Gatehouse serve", want: "jwt_signing_key_unknown",
			broken:  "a route takes corp (ES256) and partner (RS256) tokens; a partner-issued token is signed with a key the partner set does not hold",
			command: `gatehouse doctor $API/mixed/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				other := newCorpusSigner(t, "RS256")
				tok := signCorpus(t, other, map[string]any{"iss": "https://partner.test", "aud": corpusAud})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
	}
}

// --- pasted commands (issue 15 item 12) ---

func pasteCases() []corpusCase {
	return []corpusCase{
		{
			name: "X1 Chrome Copy as cURL, expired token", group: "F", server: "Go", want: "jwt_expired", needs: "gatehouse doctor curl ... (issue 15 item 12)",
			broken:  "the browser's request, copied with Copy as cURL (bash) and pasted after gatehouse doctor: the token expired",
			command: `gatehouse doctor curl "$API/v1/orders" -H 'accept: application/json, text/plain, */*' -H 'accept-language: en-GB,en;q=0.9' -H "authorization: Bearer $TOKEN" -H 'origin: http://localhost:3000' -H 'sec-fetch-mode: cors' --compressed`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				now := time.Now()
				tok := w.corpToken(t, map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", "http://localhost:3000")
					rw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					jsonReply(rw, 401, `{"message":"Jwt is expired"}`)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "X2 Postman export on stdin, variable left in", group: "D", server: "Go", want: "unexpanded_placeholder", needs: "gatehouse doctor - (issue 15 item 12)",
			broken:  "Postman's code export, pasted on stdin, still holds {{token}} because the environment was not selected",
			command: `gatehouse doctor -`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, bearerAPI(tok))
				v := cv()
				v.stdin = "curl --location '" + api + "/v1/orders' \\\n--header 'Accept: application/json' \\\n--header 'Authorization: Bearer {{token}}'\n"
				return v
			},
		},
		{
			name: "X3 Firefox Copy as cURL, POST without CSRF", group: "G", server: "Go", want: "csrf_token_missing", needs: "gatehouse doctor curl ... -b ... --data-raw (issue 15 item 12)",
			broken:  "the browser's POST copied as cURL; replayed from a script it has the session cookie but not the X-CSRFToken header the page's JavaScript added",
			command: `gatehouse doctor curl "$API/api/profile/" -X POST -H 'Content-Type: application/json' -b "sessionid=$SESSION; csrftoken=$CSRF" --data-raw '{"email":"alice@example.com"}'`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				const sess, csrf = "p0o9i8u7y6t5r4e3w2q1a2s3d4f5g6h7", "Lk9Jh8Gf7Ds6Aq5Wz4Xs3Ed2Cr1Vf0Bt"
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-CSRFToken") != csrf {
						jsonReply(rw, 403, `{"detail":"CSRF Failed: CSRF token missing."}`)
						return
					}
					jsonReply(rw, 200, `{}`)
				})
				return cv("API", api, "SESSION", sess, "CSRF", csrf).secret(sess, csrf)
			},
		},
		{
			name: "H7 nginx: certificate from another CA", group: "H", server: "nginx", want: "mtls_client_certificate_missing", needs: "--cert/--key (issue 15 item 10)",
			broken:  "the client presents a certificate, but one issued by another CA than the one nginx trusts",
			command: `gatehouse doctor $API/v1/orders --cacert $CA --cert $CERT --key $KEY`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				base, ca := w.nginxMTLS(t)
				other := newCorpusPKI(t)
				return cv("API", base, "CA", ca, "CERT", other.clientCert, "KEY", other.clientKey)
			},
		},
	}
}

// --- healthy setups ---

func healthyCases() []corpusCase {
	return []corpusCase{
		{
			name: "OK1 demo: valid token", group: "ok", server: "Gatehouse demo", want: "ok",
			broken:  "nothing: the demo's VALID token",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $VALID"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "VALID", d.vars["VALID"]).secret(d.vars["VALID"])
			},
		},
		{
			name: "OK2 demo: API key", group: "ok", server: "Gatehouse demo", want: "ok",
			broken:  "nothing: the demo's API key in X-API-Key",
			command: `gatehouse doctor $API/orders -H "X-API-Key: $APIKEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "APIKEY", d.vars["APIKEY"]).secret(d.vars["APIKEY"])
			},
		},
		{
			name: "OK3 demo: Basic user", group: "ok", server: "Gatehouse demo", want: "ok",
			broken:  "nothing: the demo's Basic user",
			command: `gatehouse doctor $API/orders -u "demo:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "PASS", demoPassword)
			},
		},
		{
			name: "OK4 demo: browser on the allowed origin", group: "ok", server: "Gatehouse demo", want: "ok",
			broken:  "nothing: the valid token from http://localhost:3000, the origin the demo allows",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $VALID" --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				d := w.gatehouseDemo(t)
				return cv("API", d.base, "VALID", d.vars["VALID"]).secret(d.vars["VALID"])
			},
		},
		{
			name: "OK5 gateway: valid token with the scope", group: "ok", server: "Gatehouse serve", want: "ok",
			broken:  "nothing: an orders:admin token on the admin route",
			command: `gatehouse doctor $API/api/admin/refunds -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				g := w.gateway(t, "main")
				tok := w.corpToken(t, map[string]any{"scope": "orders:read orders:admin"})
				return cv("API", g.base, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "OK6 API with same-origin discovery", group: "ok", server: "Go", want: "ok",
			broken:  "nothing: an RS256 token the same-origin JWKS can verify",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				var tok string
				api := oidcIssuer(t, tokensJWKS(w.partner), func(rw http.ResponseWriter, r *http.Request) { bearerAPI(tok)(rw, r) })
				tok = signCorpus(t, w.partner, map[string]any{"iss": api, "aud": corpusAud})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "OK7 same-origin slash redirect", group: "ok", server: "Go", want: "ok",
			broken:  "nothing: GET /v1/orders 308-redirects to /v1/orders/ on the same origin, and the token is kept",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					if !strings.HasSuffix(r.URL.Path, "/") {
						http.Redirect(rw, r, r.URL.Path+"/", http.StatusPermanentRedirect)
						return
					}
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "OK8 client certificate presented", group: "ok", server: "Go", want: "ok", needs: "--cert/--key (issue 15 item 10)",
			broken:  "nothing: the mTLS API with --cert and --key",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --cacert $CA --cert $CERT --key $KEY`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				pki := newCorpusPKI(t)
				api := pki.mtlsServer(t, bearerAPI(tok))
				return cv("API", api, "TOKEN", tok, "CA", pki.caFile, "CERT", pki.clientCert, "KEY", pki.clientKey).secret(tok)
			},
		},
		{
			name: "OK9 Basic over TLS", group: "ok", server: "Go", want: "ok",
			broken:  "nothing: Basic credentials over https with the server's CA",
			command: `gatehouse doctor $API/reports -u "alice:$PASS" --cacert $CA`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				api, ca := tlsServer(t, basicAPI("alice", "r3ports-Pass!"), nil)
				return cv("API", api, "PASS", "r3ports-Pass!", "CA", ca).secret("r3ports-Pass!")
			},
		},
		{
			name: "OK10 CORS done right", group: "ok", server: "Go", want: "ok",
			broken:  "nothing: a preflight answered 204 listing Authorization, and the response allows the origin",
			command: `gatehouse doctor $API/v1/orders -H "Authorization: Bearer $TOKEN" --origin http://localhost:3000`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				api := goServer(t, func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Access-Control-Allow-Origin", "http://localhost:3000")
					rw.Header().Set("Vary", "Origin")
					if r.Method == "OPTIONS" {
						rw.Header().Set("Access-Control-Allow-Headers", "Authorization")
						rw.Header().Set("Access-Control-Allow-Methods", "GET")
						rw.WriteHeader(204)
						return
					}
					bearerAPI(tok)(rw, r)
				})
				return cv("API", api, "TOKEN", tok).secret(tok)
			},
		},
	}
}

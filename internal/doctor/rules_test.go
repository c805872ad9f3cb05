package doctor

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scenario is one server that reproduces a cause, and the verdict the doctor must reach.
type scenario struct {
	name    string
	setup   func(t *testing.T) Options
	verdict string
	// present are codes that must be among the findings (contributors that are, by
	// design, never the verdict on their own).
	present []string
	exit    int
}

func write401Bearer(w http.ResponseWriter, params string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="api"`+params)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(401)
	_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
}

// proxyTo routes requests for any host name to srv through the proxy variables, so a
// test can call "http://api.example.com" and reach a local server.
func proxyTo(o *Options, srv *httptest.Server) {
	o.Getenv = env{"HTTP_PROXY": srv.URL}.get
}

func TestRuleScenariosNameTheCause(t *testing.T) {
	goodJWT := makeJWT(nil, claims(nil))
	scenarios := []scenario{
		// A. Redirects.
		{name: "cross-origin redirect drops the credential", verdict: "redirect_cross_origin_auth_dropped",
			setup: func(t *testing.T) Options {
				b := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
				bu, _ := url.Parse(b.URL)
				a := serve(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "http://localhost:"+bu.Port()+"/v2/orders", http.StatusFound)
				})
				o := baseOptions(a.URL + "/v1/orders")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "http redirects to https", verdict: "redirect_http_to_https",
			setup: func(t *testing.T) Options {
				tlsSrv := httptest.NewTLSServer(dated(0, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") }))
				t.Cleanup(tlsSrv.Close)
				tu, _ := url.Parse(tlsSrv.URL)
				plain := serve(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://127.0.0.1:"+tu.Port()+r.URL.Path, http.StatusMovedPermanently)
				})
				o := baseOptions(plain.URL + "/orders")
				o.Insecure = true
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "POST redirected to the trailing-slash path becomes GET", verdict: "redirect_trailing_slash",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/items" {
						http.Redirect(w, r, "/items/", http.StatusMovedPermanently)
						return
					}
					if r.Method != "POST" {
						http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
						return
					}
					w.WriteHeader(201)
				})
				o := baseOptions(srv.URL + "/items")
				o.Headers = []Header{bearer(goodJWT)}
				o.Body, o.HasBody = "name=x", true
				return o
			}},
		{name: "API redirects to a sign-in page", verdict: "redirect_to_login_page",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/Account/Login") {
						w.Header().Set("Content-Type", "text/html")
						_, _ = w.Write([]byte("<html><form>sign in</form></html>"))
						return
					}
					http.Redirect(w, r, "/Account/Login?ReturnUrl=%2Fapi%2Fme", http.StatusFound)
				})
				o := baseOptions(srv.URL + "/api/me")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "download redirect keeps Authorization on a signed URL", verdict: "auth_forwarded_to_presigned_url",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/artifacts/1/download" {
						http.Redirect(w, r, "/bucket/a.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=deadbeef", http.StatusFound)
						return
					}
					if r.Header.Get("Authorization") != "" {
						w.WriteHeader(400)
						_, _ = w.Write([]byte(`<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>`))
						return
					}
					_, _ = w.Write([]byte("zip"))
				})
				o := baseOptions(srv.URL + "/artifacts/1/download")
				o.Headers = []Header{bearer("opaque-token-0123456789abcdef")}
				return o
			}},

		// B. Intermediaries.
		{name: "Apache in front never passes Authorization", verdict: "app_server_drops_authorization",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Server", "Apache/2.4.62 (Debian)")
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"detail":"Authentication credentials were not provided."}`))
				})
				o := baseOptions(srv.URL + "/api/orders/")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "Apache drops an expired token: delivery ranks first", verdict: "app_server_drops_authorization",
			present: []string{"jwt_expired"},
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Server", "Apache/2.4.62 (Debian)")
					w.Header().Set("X-Powered-By", "PHP/8.2.7")
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"message":"No authorization header was found"}`))
				})
				o := baseOptions(srv.URL + "/index.php/api/orders")
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})))}
				return o
			}},
		{name: "CloudFront in front does not forward Authorization", verdict: "cdn_or_proxy_drops_authorization",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Via", "1.1 abc123.cloudfront.net (CloudFront)")
					w.Header().Set("X-Amz-Cf-Id", "Zq3rOe0vPwVd2uY")
					write401Bearer(w, "")
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "Basic edge in front of a Bearer app", verdict: "proxy_auth_layer_conflict",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if u, p, ok := r.BasicAuth(); ok && u == "edge" && p == "pw" {
						write401Bearer(w, `, error="invalid_token"`)
						return
					}
					w.Header().Set("WWW-Authenticate", `Basic realm="restricted"`)
					w.WriteHeader(401)
				})
				o := baseOptions(srv.URL + "/admin")
				o.UserPass, o.HasUserPass = "edge:pw", true
				return o
			}},
		{name: "two credentials in Authorization", verdict: "proxy_auth_layer_conflict",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_request"`) })
				o := baseOptions(srv.URL + "/x")
				o.Headers = []Header{bearer(goodJWT), {Name: "Authorization", Value: "Basic dXNlcjpwYXNz"}}
				return o
			}},
		{name: "underscore header behind nginx", verdict: "underscore_header_dropped",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Server", "nginx/1.22.1")
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"error":"missing api key"}`))
				})
				o := baseOptions(srv.URL + "/v1/data")
				o.Headers = []Header{{Name: "api_key", Value: "key_5f2b9c0e7d1a4b3c8e6f"}}
				return o
			}},
		{name: "header larger than the server accepts", verdict: "header_too_large",
			setup: func(t *testing.T) Options {
				srv := httptest.NewUnstartedServer(dated(0, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
				srv.Config.MaxHeaderBytes = 2048
				srv.Start()
				t.Cleanup(srv.Close)
				groups := make([]string, 800)
				for i := range groups {
					groups[i] = fmt.Sprintf("group-%03d", i)
				}
				o := baseOptions(srv.URL + "/x")
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"groups": groups})))}
				return o
			}},

		// C. CORS, judged live.
		{name: "preflight is authenticated", verdict: "cors_preflight_requires_auth",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") == "" {
						write401Bearer(w, "")
						return
					}
					w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
					_, _ = w.Write([]byte("{}"))
				})
				o := baseOptions(srv.URL + "/orders")
				o.Origin = "http://localhost:3000"
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "preflight allows * but not Authorization", verdict: "cors_authorization_not_allowed",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
					if r.Method == "OPTIONS" {
						w.Header().Set("Access-Control-Allow-Headers", "*")
						w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
						w.WriteHeader(204)
						return
					}
					_, _ = w.Write([]byte("{}"))
				})
				o := baseOptions(srv.URL + "/orders")
				o.Origin = "http://localhost:3000"
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "cookie request answered with origin *", verdict: "cors_credentials_misconfigured",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Access-Control-Allow-Origin", "*")
					_, _ = w.Write([]byte("{}"))
				})
				o := baseOptions(srv.URL + "/me")
				o.Origin = "http://localhost:3000"
				o.Headers = []Header{{Name: "Cookie", Value: "sessionid=0123456789abcdef0123456789abcdef"}}
				return o
			}},
		{name: "401 hides WWW-Authenticate from the page", verdict: "credential_rejected_unknown",
			present: []string{"www_authenticate_not_exposed"},
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
					if r.Method == "OPTIONS" {
						w.Header().Set("Access-Control-Allow-Headers", "Authorization")
						w.WriteHeader(204)
						return
					}
					write401Bearer(w, `, error="invalid_token"`)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Origin = "http://localhost:3000"
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},

		// E. Where the credential goes.
		{name: "nothing sent", verdict: "credential_missing_or_empty",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
				return baseOptions(srv.URL + "/orders")
			}},
		{name: "key sent as Bearer, API wants X-API-Key", verdict: "api_key_wrong_place",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-API-Key") == "sk_live_4eC39HqLyjWDarjtT1zdp7dc" {
						_, _ = w.Write([]byte("{}"))
						return
					}
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"message":"Missing API key. Send it in the X-API-Key header."}`))
				})
				o := baseOptions(srv.URL + "/v1/charges")
				o.Headers = []Header{bearer("sk_live_4eC39HqLyjWDarjtT1zdp7dc")}
				o.RetryVariants = true
				return o
			}},
		{name: "netrc entry for the host", verdict: "credential_rejected_unknown",
			present: []string{"netrc_overrides_authorization"},
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				home := t.TempDir()
				if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine 127.0.0.1 login bob password hunter2hunter2\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				o := baseOptions(srv.URL + "/orders")
				o.Getenv = env{"HOME": home}.get
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "server accepts only the capitalised scheme", verdict: "scheme_name_or_case_mismatch",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
						_, _ = w.Write([]byte("{}"))
						return
					}
					write401Bearer(w, "")
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{{Name: "Authorization", Value: "bearer " + goodJWT}}
				o.RetryVariants = true
				return o
			}},
		{name: "compare-url shows the proxy in front drops it", verdict: "cdn_or_proxy_drops_authorization",
			setup: func(t *testing.T) Options {
				origin := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") == "" {
						write401Bearer(w, "")
						return
					}
					_, _ = w.Write([]byte("{}"))
				})
				edge := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
				o := baseOptions(edge.URL + "/orders")
				o.CompareURL = origin.URL
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "env file defines a near-miss name", verdict: "credential_missing_or_empty",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
				p := filepath.Join(t.TempDir(), ".env")
				if err := os.WriteFile(p, []byte("API_TOKEN="+goodJWT+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				o := baseOptions(srv.URL + "/orders")
				o.EnvFile, o.EnvVar = p, "API_KEY"
				o.Headers = []Header{{Name: "X-Api-Key", Value: "$API_KEY"}}
				return o
			}},
		{name: "staging token against production", verdict: "wrong_environment_or_account_credential",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				o := baseOptions("http://api.example.com/orders")
				proxyTo(&o, srv)
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"iss": "https://id.staging.example.com/"})))}
				return o
			}},
		{name: "outbound proxy wants credentials", verdict: "proxy_auth_required_407", exit: 1,
			setup: func(t *testing.T) Options {
				proxy := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Proxy-Authenticate", `Basic realm="corp-proxy"`)
					w.WriteHeader(407)
				})
				o := baseOptions("http://api.example.com/orders")
				proxyTo(&o, proxy)
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},

		// F. Tokens.
		{name: "expired JWT", verdict: "jwt_expired",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					write401Bearer(w, `, error="invalid_token", error_description="The token expired"`)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"exp": testNow.Add(-14 * time.Minute).Unix()})))}
				return o
			}},
		{name: "token from the future", verdict: "jwt_not_yet_valid_clock_skew",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"nbf": testNow.Add(40 * time.Second).Unix(), "iat": testNow.Add(40 * time.Second).Unix()})))}
				return o
			}},
		{name: "wrong audience", verdict: "jwt_audience_mismatch",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				o := baseOptions(srv.URL + "/orders")
				o.ExpectAudience = "api://orders"
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"aud": "api://billing"})))}
				return o
			}},
		{name: "audience named by the server", verdict: "jwt_audience_mismatch",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					write401Bearer(w, `, error="invalid_token", error_description="the token does not have a valid audience"`)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "wrong issuer", verdict: "jwt_issuer_or_tenant_mismatch",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				o := baseOptions(srv.URL + "/orders")
				o.ExpectIssuer = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "ver": "1.0"})))}
				return o
			}},
		{name: "kid not in the issuer's JWKS", verdict: "jwt_signing_key_unknown",
			setup: func(t *testing.T) Options {
				var srv *httptest.Server
				srv = serve(t, func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/.well-known/openid-configuration":
						_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
					case "/jwks":
						_, _ = w.Write([]byte(`{"keys":[{"kid":"2024-a","kty":"RSA","alg":"RS256","use":"sig"}]}`))
					default:
						write401Bearer(w, `, error="invalid_token"`)
					}
				})
				o := baseOptions(srv.URL + "/orders")
				o.FetchJWKS = true
				o.Headers = []Header{bearer(makeJWT(map[string]any{"alg": "RS256", "kid": "2023-z"}, claims(map[string]any{"iss": srv.URL})))}
				return o
			}},
		{name: "HS256 where RS256 is expected", verdict: "jwt_alg_mismatch",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"message":"Algorithm HS256 is not supported (Expected algs: [RS256])"}`))
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(makeJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, claims(nil)))}
				return o
			}},
		{name: "ID token sent to an API", verdict: "id_token_instead_of_access_token",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, `, error="invalid_token"`) })
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"aud": "spa-client", "azp": "spa-client", "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "scope": nil})))}
				return o
			}},
		{name: "opaque token where a JWT is expected", verdict: "opaque_token_where_jwt_expected",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					write401Bearer(w, `, error="invalid_token", error_description="jwt malformed"`)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer("Xk3uVq9Lb2TzR8wYp1NcHd5sJm7aFe0G")}
				return o
			}},
		{name: "Google access token to Cloud Run", verdict: "access_token_where_id_token_expected",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token" error_description="The access token could not be verified"`)
					w.WriteHeader(401)
				})
				o := baseOptions("http://orders-abc123-uc.a.run.app/v1/orders")
				proxyTo(&o, srv)
				o.Headers = []Header{bearer("ya29.a0AfB_byC0mPlEtElYfAkEtOkEn0123456789")}
				return o
			}},
		{name: "token lacks the scope", verdict: "insufficient_scope_or_permission",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="insufficient_scope", scope="orders:write"`)
					w.WriteHeader(403)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Method = "POST"
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "private resource answers 404", verdict: "not_found_masking_forbidden",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/user" && r.Header.Get("Authorization") != "" {
						_, _ = w.Write([]byte(`{"login":"octo"}`))
						return
					}
					w.WriteHeader(404)
					_, _ = w.Write([]byte(`{"message":"Not Found"}`))
				})
				o := baseOptions(srv.URL + "/repos/acme/private")
				o.Headers = []Header{bearer("ghp_16C7e42F292c6912E7710c838347Ae178B4a")}
				return o
			}},
		{name: "Kubernetes says system:anonymous", verdict: "anonymous_principal_in_403",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"kind":"Status","status":"Failure","message":"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","code":403}`))
				})
				o := baseOptions(srv.URL + "/api/v1/namespaces/default/pods")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},

		// G, live half.
		{name: "session POST without the CSRF token", verdict: "csrf_token_missing",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"detail":"CSRF Failed: CSRF token missing or incorrect."}`))
				})
				o := baseOptions(srv.URL + "/api/items/")
				o.Method = "POST"
				o.Headers = []Header{{Name: "Cookie", Value: "sessionid=6c3f9a8e2b1d4f7a0c5e8b2d9f1a3c7e"}}
				return o
			}},
		{name: "session cookie expired", verdict: "session_missing_or_expired",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"error":"Session expired, please log in again"}`))
				})
				o := baseOptions(srv.URL + "/account")
				o.Headers = []Header{{Name: "Cookie", Value: "JSESSIONID=6c3f9a8e2b1d4f7a0c5e8b2d9f1a3c7e"}}
				return o
			}},

		// H. Challenges and transport.
		{name: "401 without a challenge", verdict: "credential_rejected_unknown",
			present: []string{"missing_www_authenticate_challenge"},
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
				o := baseOptions(srv.URL + "/x")
				o.UserPass, o.HasUserPass = "alice:wonderland", true
				return o
			}},
		{name: "camera wants Digest, client sends Basic", verdict: "digest_auth_failure",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Digest realm="IP Camera", qop="auth", nonce="5f2b9c0e7d1a", algorithm=MD5, opaque="0a1b"`)
					w.WriteHeader(401)
				})
				o := baseOptions(srv.URL + "/snapshot.jpg")
				o.UserPass, o.HasUserPass = "admin:admin123", true
				return o
			}},
		{name: "NTLM behind a proxy that closes connections", verdict: "ntlm_negotiate_handshake_broken",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Add("WWW-Authenticate", "Negotiate")
					w.Header().Add("WWW-Authenticate", "NTLM")
					w.Header().Set("Connection", "close")
					w.WriteHeader(401)
				})
				o := baseOptions(srv.URL + "/sites/intranet")
				o.Headers = []Header{{Name: "Authorization", Value: "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="}}
				return o
			}},
		{name: "server requires a client certificate", verdict: "mtls_client_certificate_missing",
			setup: func(t *testing.T) Options {
				srv := httptest.NewUnstartedServer(dated(0, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
				srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
				srv.Config.ErrorLog = quietLog()
				srv.StartTLS()
				t.Cleanup(srv.Close)
				o := baseOptions(srv.URL + "/partners")
				o.Insecure = true
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "malformed challenge", verdict: "challenge_unparseable",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="api, error="invalid_token`)
					w.WriteHeader(401)
				})
				o := baseOptions(srv.URL + "/x")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},

		// I. Not really authentication.
		{name: "GitHub-style rate limit as 403", verdict: "rate_limit_disguised_as_auth",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", fmt.Sprint(testNow.Add(20*time.Minute).Unix()))
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"message":"API rate limit exceeded for user ID 1."}`))
				})
				o := baseOptions(srv.URL + "/repos")
				o.Headers = []Header{bearer("ghp_16C7e42F292c6912E7710c838347Ae178B4a")}
				return o
			}},
		{name: "Cloudflare challenge", verdict: "waf_or_bot_block",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Server", "cloudflare")
					w.Header().Set("Cf-Ray", "8c0f4a3b5d6e7f80-FRA")
					w.Header().Set("Cf-Mitigated", "challenge")
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(403)
					_, _ = w.Write([]byte("<html><title>Just a moment...</title></html>"))
				})
				o := baseOptions(srv.URL + "/api")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "no User-Agent", verdict: "user_agent_required",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.UserAgent() == "" {
						w.WriteHeader(403)
						_, _ = w.Write([]byte("Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)."))
						return
					}
					_, _ = w.Write([]byte("{}"))
				})
				o := baseOptions(srv.URL + "/user")
				o.Headers = []Header{bearer("ghp_16C7e42F292c6912E7710c838347Ae178B4a"), {Name: "User-Agent", Value: ""}}
				return o
			}},
		{name: "Google key restricted by referrer", verdict: "api_key_restriction_blocked",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"error":{"code":403,"message":"Requests from referer <empty> are blocked.","status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_HTTP_REFERRER_BLOCKED"}]}}`))
				})
				o := baseOptions(srv.URL + "/maps/api/geocode/json?address=x&key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY")
				return o
			}},

		// J. Cloud providers.
		{name: "API Gateway has no such route", verdict: "aws_apigw_route_not_found",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Amzn-Requestid", "6f3b1c2d-0000-4000-8000-1234567890ab")
					w.Header().Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"message":"Missing Authentication Token"}`))
				})
				o := baseOptions(srv.URL + "/prod/orderz")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "API Gateway expects SigV4", verdict: "aws_apigw_iam_auth_expected",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Amzn-Requestid", "6f3b1c2d-0000-4000-8000-1234567890ab")
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`{"message":"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer eyJ..."}`))
				})
				o := baseOptions(srv.URL + "/prod/orders")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
		{name: "SigV4 with a clock 12 minutes behind", verdict: "signed_request_clock_skew",
			setup: func(t *testing.T) Options {
				srv := serveSkewed(t, 12*time.Minute, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`))
				})
				o := baseOptions(srv.URL + "/bucket/key")
				o.Headers = []Header{{Name: "Authorization", Value: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"}}
				return o
			}},

		// Z. Nothing explains it.
		{name: "well-formed token rejected", verdict: "credential_rejected_unknown",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Request-Id", "req-7f3a")
					write401Bearer(w, `, error="invalid_token"`)
				})
				o := baseOptions(srv.URL + "/orders")
				o.Headers = []Header{bearer(goodJWT)}
				return o
			}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := runDoctor(t, sc.setup(t))
			if r.Verdict != sc.verdict {
				var b strings.Builder
				_ = r.WriteText(&b, false)
				t.Fatalf("verdict = %q, want %q\nfindings: %v\n%s", r.Verdict, sc.verdict, codes(r.Findings), b.String())
			}
			for _, code := range sc.present {
				if findingByCode(r, code) == nil {
					t.Errorf("finding %q missing; findings: %v", code, codes(r.Findings))
				}
			}
			want := 1
			if sc.exit != 0 {
				want = sc.exit
			}
			if got := r.ExitCode(); got != want {
				t.Errorf("exit code = %d, want %d", got, want)
			}
			top := r.Findings[0]
			if top.Summary == "" || top.Fix == "" || len(top.Evidence) == 0 {
				t.Errorf("top finding lacks summary, fix or evidence: %+v", top)
			}
		})
	}
}

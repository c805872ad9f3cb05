package doctor

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// secretMarkers are substrings of every secret the safety tests send; the second server
// must never see any of them, in a header, the URL or the body.
var secretMarkers = []string{"s3cr3t-bearer", "s3cr3t-cookie", "s3cr3t-key", "s3cr3t-query", "s3cr3t-body", "alice"}

func assertNoSecrets(t *testing.T, rc *recorder) {
	t.Helper()
	for _, req := range rc.all() {
		blob := req.Method + " " + req.Path + "\n" + req.Body
		for name, vs := range req.Header {
			blob += "\n" + name + ": " + strings.Join(vs, ",")
		}
		for _, m := range secretMarkers {
			if strings.Contains(blob, m) {
				t.Errorf("the other origin received %q:\n%s", m, blob)
			}
		}
		for _, h := range []string{"Authorization", "Cookie", "X-Api-Key", "Proxy-Authorization"} {
			if req.Header.Get(h) != "" {
				t.Errorf("the other origin received a %s header", h)
			}
		}
	}
}

// otherOrigin starts the second server, reached as "localhost" so that it is a different
// origin from 127.0.0.1 for every client.
func otherOrigin(t *testing.T, rc *recorder, h http.HandlerFunc) (srv *httptest.Server, base string) {
	t.Helper()
	srv = serve(t, func(w http.ResponseWriter, r *http.Request) {
		rc.add(r)
		h(w, r)
	})
	u, _ := url.Parse(srv.URL)
	return srv, "http://localhost:" + u.Port()
}

func secretOptions(target string) Options {
	o := baseOptions(target)
	o.Headers = []Header{
		bearer("s3cr3t-bearer-0123456789abcdef"),
		{Name: "Cookie", Value: "sid=s3cr3t-cookie-0123456789"},
		{Name: "X-Api-Key", Value: "s3cr3t-key-0123456789abcdef"},
	}
	return o
}

func TestCredentialNeverSentToAnOriginTheUserDidNotName(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		method   string
		body     string
		query    string
		location func(r *http.Request, other string) string
		// wantVisits is how many requests the other origin may receive (anonymous ones).
		wantVisits int
	}{
		{name: "GET 302 to another host is followed anonymously", status: 302, method: "GET", wantVisits: 1,
			location: func(r *http.Request, other string) string { return other + "/landing" }},
		{name: "redirect that copies the query keeps the key at home", status: 302, method: "GET", query: "?api_key=s3cr3t-query-0123456789", wantVisits: 1,
			location: func(r *http.Request, other string) string { return other + r.URL.RequestURI() }},
		{name: "POST 307 to another host is not followed at all", status: 307, method: "POST", body: "client_secret=s3cr3t-body-0123", wantVisits: 0,
			location: func(r *http.Request, other string) string { return other + "/token" }},
		{name: "POST 302 becomes an anonymous GET without the body", status: 302, method: "POST", body: "password=s3cr3t-body-0123", wantVisits: 1,
			location: func(r *http.Request, other string) string { return other + "/done" }},
		{name: "a chain through a third hop stays anonymous", status: 302, method: "GET", wantVisits: 2,
			location: func(r *http.Request, other string) string { return other + "/step1" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := &recorder{}
			var otherBase string
			_, otherBase = otherOrigin(t, rc, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/step1" {
					// Bounce back to the named origin: still without the credential.
					http.Redirect(w, r, "/step2", http.StatusFound)
					return
				}
				write401Bearer(w, "")
			})
			home := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", tc.location(r, otherBase))
				w.WriteHeader(tc.status)
			})
			o := secretOptions(home.URL + "/start" + tc.query)
			o.Method = tc.method
			if tc.body != "" {
				o.Body, o.HasBody = tc.body, true
			}
			o.RetryVariants = true // variants must not leave the origin either
			r := runDoctor(t, o)
			assertNoSecrets(t, rc)
			if got := len(rc.all()); got != tc.wantVisits {
				t.Errorf("the other origin got %d requests, want %d", got, tc.wantVisits)
			}
			if r.Verdict == VerdictOK {
				t.Errorf("verdict ok for a redirect that lost the credential")
			}
			// The report itself never shows a secret.
			var b strings.Builder
			_ = r.WriteText(&b, false)
			_ = r.WriteJSON(&b)
			for _, m := range secretMarkers[:5] {
				if strings.Contains(b.String(), m) {
					t.Errorf("the report shows the secret %q", m)
				}
			}
		})
	}
}

func TestAllowHostLetsTheCredentialFollow(t *testing.T) {
	rc := &recorder{}
	_, otherBase := otherOrigin(t, rc, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			write401Bearer(w, "")
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	ou, _ := url.Parse(otherBase)
	home := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherBase+"/v2", http.StatusFound)
	})
	o := baseOptions(home.URL + "/v1")
	o.Headers = []Header{bearer("s3cr3t-bearer-0123456789abcdef")}
	o.AllowHosts = []string{ou.Host}
	r := runDoctor(t, o)
	if r.Verdict != VerdictOK {
		t.Fatalf("verdict = %q, want ok with --allow-host", r.Verdict)
	}
	withCred := 0
	for _, req := range rc.all() {
		if req.Header.Get("Authorization") != "" {
			withCred++
		}
	}
	if withCred != 1 {
		t.Fatalf("the allowed host should have received the credential once, got it %d times", withCred)
	}
}

func TestResourceMetadataOnAnotherOriginIsNotFetchedWithoutOptIn(t *testing.T) {
	rc := &recorder{}
	_, otherBase := otherOrigin(t, rc, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"resource":"api://x"}`))
	})
	home := serve(t, func(w http.ResponseWriter, r *http.Request) {
		write401Bearer(w, `, error="invalid_token", resource_metadata="`+otherBase+`/.well-known/oauth-protected-resource"`)
	})
	o := baseOptions(home.URL + "/x")
	o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"iss": otherBase})))}
	runDoctor(t, o)
	if n := len(rc.all()); n != 0 {
		t.Fatalf("the other origin got %d requests without --fetch-jwks", n)
	}
}

func TestProbesStayOnTheNamedOrigin(t *testing.T) {
	rc := &recorder{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		rc.add(r)
		write401Bearer(w, `, error="invalid_token"`)
	})
	o := secretOptions(srv.URL + "/orders")
	o.Origin = "http://localhost:3000"
	o.RetryVariants = true
	runDoctor(t, o)
	var sawP2, sawP3 bool
	for _, req := range rc.all() {
		switch {
		case req.Method == "OPTIONS":
			sawP3 = true
			if req.Header.Get("Authorization") != "" || req.Header.Get("Cookie") != "" {
				t.Errorf("the preflight carried a credential")
			}
		case req.Header.Get("Authorization") == "" && req.Header.Get("Cookie") == "" && req.Header.Get("X-Api-Key") == "":
			sawP2 = true
		}
	}
	if !sawP2 || !sawP3 {
		t.Errorf("expected an anonymous control and a preflight, got P2=%v P3=%v", sawP2, sawP3)
	}
}

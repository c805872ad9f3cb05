package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/client"
)

// countingTransport counts the requests it sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// recordingSource gets tokens from the client credentials grant and remembers the last.
type recordingSource struct {
	cfg    *clientcredentials.Config
	mu     sync.Mutex
	last   string
	issued int
}

func (s *recordingSource) Token() (*oauth2.Token, error) {
	tok, err := s.cfg.Token(context.Background())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.last, s.issued = tok.AccessToken, s.issued+1
	s.mu.Unlock()
	return tok, nil
}

// TestGoClientAgainstGatehouse uses the client package against a real `gatehouse demo`
// and its token service: tokens from the client credentials grant, one refresh for
// concurrent requests whose token was revoked, the error of a refusal, no retry of a 403.
func TestGoClientAgainstGatehouse(t *testing.T) {
	d := startDemo(t)
	// get sends a GET and returns the response, its body and CheckResponse's verdict.
	get := func(t *testing.T, c *http.Client, path string) (*http.Response, string, error) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", d.base+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checked := client.CheckResponse(resp)
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body), checked
	}

	t.Run("client credentials, revoked, refreshed once for concurrent requests", func(t *testing.T) {
		src := &recordingSource{cfg: &clientcredentials.Config{
			ClientID: d.vars["CLIENT_ID"], ClientSecret: d.vars["CLIENT_SECRET"],
			TokenURL: d.base + "/oauth2/token", Scopes: []string{"orders:read"},
		}}
		sent := &countingTransport{}
		c := &http.Client{Transport: &client.Transport{Credentials: client.TokenSource(src), Base: sent}}
		if resp, body, _ := get(t, c, "/orders"); resp.StatusCode != 200 || !strings.Contains(body, d.vars["CLIENT_ID"]) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		// Revoke the token the client holds; the gateway refuses it at once.
		form := url.Values{"token": {src.last}}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", d.base+"/oauth2/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(d.vars["CLIENT_ID"], d.vars["CLIENT_SECRET"])
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		// Fewer than the per-credential failure budget (10 a minute), all at once.
		const n = 8
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(t.Context(), "POST", d.base+"/orders", strings.NewReader(`{"item":1}`))
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d after the refresh", resp.StatusCode)
				}
			})
		}
		wg.Wait()
		if src.issued != 2 {
			t.Errorf("%d tokens issued, want 2: the first and one refresh for %d concurrent 401s", src.issued, n)
		}
		if got := sent.n.Load(); got > 1+2*n {
			t.Errorf("%d requests sent, want at most %d", got, 1+2*n)
		}
	})

	t.Run("expired token: the error says why, without the token", func(t *testing.T) {
		c := client.NewClient(client.Bearer(d.vars["EXPIRED"]))
		resp, _, err := get(t, c, "/orders")
		e, ok := errors.AsType[*client.Error](err)
		if !ok || e.Status != 401 || e.Reason != "token_expired" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Fatalf("err = %#v", err)
		}
		if code, _ := e.Challenges[0].Param("error"); !strings.EqualFold(e.Challenges[0].Scheme, "Bearer") || code != "invalid_token" {
			t.Errorf("challenges %+v", e.Challenges)
		}
		if strings.Contains(err.Error(), d.vars["EXPIRED"]) {
			t.Errorf("the error holds the token: %s", err)
		}
	})

	t.Run("403 is not retried", func(t *testing.T) {
		sent := &countingTransport{}
		c := &http.Client{Transport: &client.Transport{Credentials: client.Bearer(d.vars["READONLY"]), Base: sent}}
		resp, _, err := get(t, c, "/admin/users")
		if e, ok := errors.AsType[*client.Error](err); !ok || e.Reason != "insufficient_scope" || sent.n.Load() != 1 {
			t.Fatalf("status %d, %d sent, err %v", resp.StatusCode, sent.n.Load(), e)
		}
	})

	t.Run("api key and basic", func(t *testing.T) {
		for name, cred := range map[string]client.Credentials{
			"api key": client.APIKey(d.vars["APIKEY"]),
			"basic":   client.Basic(demoUser, demoPassword),
		} {
			if resp, body, _ := get(t, client.NewClient(cred), "/orders"); resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", name, resp.StatusCode, body)
			}
		}
	})
}

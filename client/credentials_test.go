package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenEndpoint issues "token-N" and counts; fail makes it answer invalid_client with a
// body that echoes what it was sent.
func tokenEndpoint(t *testing.T, fail bool) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if fail {
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "you sent " + string(b) + " " + r.Header.Get("Authorization")})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("token-%d", i), "token_type": "Bearer", "expires_in": 600})
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

func TestClientCredentialsFetchOnceForConcurrentFirstRequests(t *testing.T) {
	tokens, issued := tokenEndpoint(t, false)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	c := NewClient(ClientCredentials(&clientcredentials.Config{ClientID: "id", ClientSecret: "s3cret-client", TokenURL: tokens.URL}))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			status, body := do(t, c, newReq(t, "GET", api.URL, nil))
			if status != 200 || body != "Bearer token-1" {
				t.Errorf("%d %q", status, body)
			}
		})
	}
	wg.Wait()
	if issued.Load() != 1 {
		t.Errorf("%d tokens fetched for 10 concurrent first requests, want 1", issued.Load())
	}
}

func TestTokenEndpointFailureNamesNoSecret(t *testing.T) {
	tokens, _ := tokenEndpoint(t, true)
	c := NewClient(ClientCredentials(&clientcredentials.Config{ClientID: "id", ClientSecret: "s3cret-client", TokenURL: tokens.URL}))
	_, err := c.Do(newReq(t, "GET", "http://127.0.0.1:1/", nil))
	if err == nil || !strings.Contains(err.Error(), "answered 401 (invalid_client)") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "aWQ6czNjcmV0") {
		t.Errorf("the error quotes the token endpoint's echo: %v", err)
	}
}

func TestTokenSourceThatCannotRenew(t *testing.T) {
	// A ReuseTokenSource returns the refused token again: the refresh says so, and the
	// request is not sent twice with the same token.
	var hits atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		deny(w, "token_revoked", "invalid_token")
	}))
	defer api.Close()
	src := oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "same", Expiry: time.Now().Add(time.Hour)}))
	c := NewClient(TokenSource(src))
	_, err := c.Do(newReq(t, "GET", api.URL, nil))
	if !errors.Is(err, ErrSameToken) || hits.Load() != 1 {
		t.Fatalf("err = %v after %d sends", err, hits.Load())
	}
}

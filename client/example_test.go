package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"golang.org/x/oauth2/clientcredentials"
)

// An API key in Gatehouse's default header; the request itself carries no credential.
func ExampleAPIKey() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "key received: %t", r.Header.Get("X-API-Key") == "gk_live_example")
	}))
	defer api.Close()

	c := client.NewClient(client.APIKey("gk_live_example"))
	resp, err := c.Get(api.URL + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 key received: true
}

// CheckResponse turns a refusal into an *client.Error: the reason a program can switch
// on, the detail a person can act on, and the request id `gatehouse explain` takes.
func ExampleCheckResponse() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orders", error="insufficient_scope", scope="orders:admin"`)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"status":403,"reason":"insufficient_scope","detail":"this route needs scope orders:admin","request_id":"01JREQ"}`)
	}))
	defer api.Close()

	c := client.NewClient(client.Bearer("a-read-only-token"))
	resp, err := c.Get(api.URL + "/admin/users")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	if err := client.CheckResponse(resp); err != nil {
		fmt.Println(err)
		if e, ok := errors.AsType[*client.Error](err); ok {
			scope, _ := e.Challenges[0].Param("scope")
			fmt.Println("reason:", e.Reason, "| missing scope:", scope)
		}
	}
	// Output:
	// 403 Forbidden: insufficient_scope: this route needs scope orders:admin (request id 01JREQ)
	// reason: insufficient_scope | missing scope: orders:admin
}

// OAuth 2.0 client credentials from a token service (here a stand-in for Gatehouse's
// /oauth2/token). When the API says the token is invalid or expired, the transport gets
// a new one once and sends the request again.
func ExampleClientCredentials() {
	var issued atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("token-%d", n), "token_type": "Bearer", "expires_in": 600})
	}))
	defer tokens.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-2" { // token-1 was revoked
			w.Header().Set("WWW-Authenticate", `Bearer realm="orders", error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "orders")
	}))
	defer api.Close()

	c := client.NewClient(client.ClientCredentials(&clientcredentials.Config{
		ClientID:     "my-client",
		ClientSecret: "my-secret",
		TokenURL:     tokens.URL,
		Scopes:       []string{"orders:read"},
	}))
	req, _ := http.NewRequestWithContext(context.Background(), "POST", api.URL+"/orders", strings.NewReader(`{"item":42}`))
	resp, err := c.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", issued.Load(), "tokens")
	// Output: 200 orders after 2 tokens
}

// A Transport with options: Retry-After honoured up to 5 seconds, a larger replay buffer,
// and a base transport of the caller's choice.
func ExampleTransport() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		fmt.Fprintf(w, "hello %s", user)
	}))
	defer api.Close()

	c := &http.Client{Transport: &client.Transport{
		Credentials:   client.Basic("alice", "correct horse"),
		Base:          http.DefaultTransport,
		MaxReplayBody: 4 << 20,
		MaxRetryAfter: 5 * time.Second,
	}}
	resp, err := c.Get(api.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello alice
}

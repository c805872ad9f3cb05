package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a running gateway's admin API. It implements Keys with the results the
// local Session returns, so a command prints the same either way.
type Client struct {
	// BaseURL is the admin listener, http://127.0.0.1:9090.
	BaseURL string
	// Token is the admin token sent in Authorization: Bearer.
	Token string
	// HTTP is the client to use; nil means one with a 30s timeout that uses no proxy
	// and follows no redirect, so the token goes to BaseURL's host and nowhere else.
	HTTP *http.Client
}

// NewClient checks base and returns a Client for it.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("--admin %q: want the admin listener's URL, like http://127.0.0.1:9090", base)
	}
	if strings.TrimSpace(token) == "" {
		return nil, fmt.Errorf("--admin needs an admin token: set GATEHOUSE_ADMIN_TOKEN or pass --admin-token-file")
	}
	return &Client{BaseURL: strings.TrimRight(u.String(), "/"), Token: strings.TrimSpace(token), HTTP: defaultHTTP()}, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP()
}

func defaultHTTP() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{Proxy: nil, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request and decodes a 2xx answer into out; any other answer is an *Error
// with the problem's detail.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		// The URL holds no secret; the token is only in the header.
		return fmt.Errorf("admin API %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API %s: reading the answer: %w", c.BaseURL, err)
	}
	if resp.StatusCode/100 != 2 {
		var p problem
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			return &Error{Status: resp.StatusCode, Msg: p.Detail}
		}
		return &Error{Status: resp.StatusCode, Msg: fmt.Sprintf("admin API %s answered %s", c.BaseURL, resp.Status)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s: the answer is not what was expected: %w", c.BaseURL, err)
	}
	return nil
}

// CreateKey calls POST /admin/v1/keys.
func (c *Client) CreateKey(ctx context.Context, r CreateKeyRequest) (CreatedKey, error) {
	var out CreatedKey
	return out, c.do(ctx, http.MethodPost, "/admin/v1/keys", r, &out)
}

// ListKeys calls GET /admin/v1/keys.
func (c *Client) ListKeys(ctx context.Context, after string, limit int) ([]ListedKey, error) {
	var out []ListedKey
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, MaxPage)))
	}
	return out, c.do(ctx, http.MethodGet, "/admin/v1/keys?"+q.Encode(), nil, &out)
}

// RevokeKey calls POST /admin/v1/keys/{id}/revoke.
func (c *Client) RevokeKey(ctx context.Context, id string) (RevokedKey, error) {
	var out RevokedKey
	return out, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(KeyIDArg(id))+"/revoke", struct{}{}, &out)
}

// RotateKey calls POST /admin/v1/keys/{id}/rotate.
func (c *Client) RotateKey(ctx context.Context, id string, r RotateKeyRequest) (CreatedKey, error) {
	var out CreatedKey
	return out, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(KeyIDArg(id))+"/rotate", r, &out)
}

// CreateClient calls POST /admin/v1/clients.
func (c *Client) CreateClient(ctx context.Context, r CreateClientRequest) (CreatedClient, error) {
	var out CreatedClient
	return out, c.do(ctx, http.MethodPost, "/admin/v1/clients", r, &out)
}

// ListClients calls GET /admin/v1/clients.
func (c *Client) ListClients(ctx context.Context, after string, limit int) ([]ListedClient, error) {
	var out []ListedClient
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, MaxPage)))
	}
	return out, c.do(ctx, http.MethodGet, "/admin/v1/clients?"+q.Encode(), nil, &out)
}

// RemoveClient calls POST /admin/v1/clients/{id}/remove.
func (c *Client) RemoveClient(ctx context.Context, id string) (RemovedClient, error) {
	var out RemovedClient
	return out, c.do(ctx, http.MethodPost, "/admin/v1/clients/"+url.PathEscape(id)+"/remove", struct{}{}, &out)
}

// ListSigningKeys calls GET /admin/v1/signing-keys.
func (c *Client) ListSigningKeys(ctx context.Context) ([]ListedSigningKey, error) {
	var out []ListedSigningKey
	return out, c.do(ctx, http.MethodGet, "/admin/v1/signing-keys", nil, &out)
}

// RotateSigningKey calls POST /admin/v1/signing-keys/rotate.
func (c *Client) RotateSigningKey(ctx context.Context, r RotateSigningKeyRequest) (RotatedSigningKey, error) {
	var out RotatedSigningKey
	return out, c.do(ctx, http.MethodPost, "/admin/v1/signing-keys/rotate", r, &out)
}

// User calls GET /admin/v1/users/{name}.
func (c *Client) User(ctx context.Context, name string) (UserResult, error) {
	var out UserResult
	return out, c.do(ctx, http.MethodGet, "/admin/v1/users/"+url.PathEscape(name), nil, &out)
}

// AddUser calls POST /admin/v1/users.
func (c *Client) AddUser(ctx context.Context, r AddUserRequest) (UserResult, error) {
	var out UserResult
	return out, c.do(ctx, http.MethodPost, "/admin/v1/users", r, &out)
}

// SetPassword calls POST /admin/v1/users/{name}/passwd.
func (c *Client) SetPassword(ctx context.Context, name string, r SetPasswordRequest) (UserResult, error) {
	var out UserResult
	return out, c.do(ctx, http.MethodPost, "/admin/v1/users/"+url.PathEscape(name)+"/passwd", r, &out)
}

// RemoveUser calls POST /admin/v1/users/{name}/remove.
func (c *Client) RemoveUser(ctx context.Context, name string) (UserResult, error) {
	var out UserResult
	return out, c.do(ctx, http.MethodPost, "/admin/v1/users/"+url.PathEscape(name)+"/remove", struct{}{}, &out)
}

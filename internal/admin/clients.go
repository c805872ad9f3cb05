package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Clients is what the CLI's clients command needs; Session and Client implement it.
type Clients interface {
	CreateClient(ctx context.Context, r CreateClientRequest) (CreatedClient, error)
	// ListClients returns up to limit clients (removed ones included, with RemovedAt)
	// with ids greater than after, in id order.
	ListClients(ctx context.Context, after string, limit int) ([]ListedClient, error)
	RemoveClient(ctx context.Context, id string) (RemovedClient, error)
}

// CreateClientRequest is the body of POST /admin/v1/clients: the flags of
// `gatehouse clients create`.
type CreateClientRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// Audience defaults to token_service.audience.
	Audience string `json:"audience,omitempty"`
	// TTL is the lifetime of the client's tokens (10m); default token_service's.
	TTL        string `json:"ttl,omitempty"`
	Introspect bool   `json:"introspect,omitempty"`
}

// CreatedClient is the answer to creating a client: the only time its secret is shown.
type CreatedClient struct {
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret"`
	Name           string   `json:"name"`
	Scopes         []string `json:"scopes"`
	Audience       string   `json:"audience"`
	AccessTokenTTL int64    `json:"access_token_ttl"`
	Introspect     bool     `json:"introspect"`
	// TokenEndpoint is where the client gets tokens.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
}

// ListedClient is one client of a listing: never a secret.
type ListedClient struct {
	ClientID       string   `json:"client_id"`
	Name           string   `json:"name"`
	Scopes         []string `json:"scopes"`
	Audience       string   `json:"audience"`
	AccessTokenTTL int64    `json:"access_token_ttl"`
	Introspect     bool     `json:"introspect"`
	CreatedAt      Time     `json:"created_at"`
	// RemovedAt is set for a removed client (kept so its id is never reused).
	RemovedAt *Time `json:"removed_at,omitempty"`
}

// RemovedClient is the answer to removing a client.
type RemovedClient struct {
	ClientID  string `json:"client_id"`
	Name      string `json:"name"`
	RemovedAt Time   `json:"removed_at"`
}

// TTLSeconds rounds a token lifetime up to whole seconds, as listings show it.
func TTLSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

func (s *Session) tokenService() (*config.TokenService, error) {
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	if cfg.TokenService == nil {
		return nil, &Error{Status: http.StatusConflict, Msg: "the configuration has no token_service block; add one (issuer, signing_key_secret_file) to issue tokens to clients"}
	}
	return cfg.TokenService, nil
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

// CreateClient makes an OAuth client and returns its secret, the only time it is shown.
func (s *Session) CreateClient(ctx context.Context, r CreateClientRequest) (CreatedClient, error) {
	out, err := s.createClient(ctx, r)
	return out, s.audit(ctx, "clients.create", out.ClientID, err)
}

func (s *Session) createClient(ctx context.Context, r CreateClientRequest) (CreatedClient, error) {
	if r.Name == "" || len(r.Name) > store.MaxNameBytes || !utf8.ValidString(r.Name) {
		return CreatedClient{}, badRequest("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes)
	}
	if len(r.Scopes) == 0 {
		return CreatedClient{}, badRequest("--scopes is required: the scopes the client's tokens may carry, such as orders:read,orders:write")
	}
	if err := store.ValidateScopes(r.Scopes); err != nil {
		return CreatedClient{}, badRequest("--scopes: %v", err)
	}
	var ttl time.Duration
	if r.TTL != "" {
		var err error
		if ttl, err = ParseSpan(r.TTL); err != nil {
			return CreatedClient{}, badRequest("--ttl: %v", err)
		}
		if ttl < time.Second || ttl > store.MaxAccessTokenTTL {
			return CreatedClient{}, badRequest("--ttl must be from 1s to %s", store.MaxAccessTokenTTL)
		}
	}
	if r.Audience != "" && !printableNoSpace(r.Audience) {
		return CreatedClient{}, badRequest("--audience must be printable ASCII without spaces, such as api://orders")
	}
	ts, err := s.tokenService()
	if err != nil {
		return CreatedClient{}, err
	}
	if r.Audience == "" {
		if ts.Audience == "" {
			return CreatedClient{}, badRequest("--audience is required: token_service.audience sets no default")
		}
		r.Audience = ts.Audience
	}
	if ttl == 0 {
		ttl = ts.AccessTokenTTL
	}
	spec := issuer.ClientSpec{Name: r.Name, Scopes: r.Scopes, Audience: r.Audience, AccessTokenTTL: ttl, Introspect: r.Introspect, Now: s.svc.now()}
	var (
		rec    store.Client
		secret string
	)
	// A fresh client_id collides with probability ~n/2^95; retry a couple of times anyway.
	for attempt := 0; ; attempt++ {
		rec, secret, err = issuer.NewClient(spec)
		if err == nil {
			err = s.svc.Store.CreateClient(ctx, &rec)
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return CreatedClient{}, classify(err, "", "")
	}
	return CreatedClient{
		ClientID: rec.ID, ClientSecret: secret, Name: rec.Name, Scopes: nonNil(rec.Scopes),
		Audience: rec.Audience, AccessTokenTTL: TTLSeconds(rec.AccessTokenTTL), Introspect: rec.Introspect,
		TokenEndpoint: strings.TrimSuffix(ts.Issuer, "/") + "/oauth2/token",
	}, nil
}

// ListClients returns a page of clients, removed ones marked; never a secret.
func (s *Session) ListClients(ctx context.Context, after string, limit int) ([]ListedClient, error) {
	cs, err := s.svc.Store.ListClients(ctx, after, limit)
	if err != nil {
		return nil, classify(err, "", "")
	}
	out := make([]ListedClient, 0, len(cs))
	for _, c := range cs {
		l := ListedClient{
			ClientID: c.ID, Name: c.Name, Scopes: nonNil(c.Scopes), Audience: c.Audience,
			AccessTokenTTL: TTLSeconds(c.AccessTokenTTL), Introspect: c.Introspect, CreatedAt: Time(c.CreatedAt),
		}
		if c.Removed() {
			t := Time(c.RemovedAt)
			l.RemovedAt = &t
		}
		out = append(out, l)
	}
	return out, nil
}

// RemoveClient removes the client: it gets no more tokens, and gateways refuse the ones
// it has within a second.
func (s *Session) RemoveClient(ctx context.Context, id string) (RemovedClient, error) {
	now := s.svc.now()
	c, err := s.svc.Store.RemoveClient(ctx, id, now)
	if err != nil {
		return RemovedClient{}, s.audit(ctx, "clients.remove", id, classify(err, fmt.Sprintf("no client with id %q", sanitize(id)), ""))
	}
	return RemovedClient{ClientID: c.ID, Name: c.Name, RemovedAt: Time(store.Micro(now))}, s.audit(ctx, "clients.remove", id, nil)
}

// sanitize keeps a name from moving a terminal's cursor.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

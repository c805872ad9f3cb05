package jwt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Limits of the metadata document read with discovery. Real documents are a few KiB;
// the fetch shares the JWKS fetch's timeout (jwks_timeout): metadata and key set are
// read within one fetchTimeout together.
const (
	// MaxMetadataBytes bounds the issuer's metadata document.
	MaxMetadataBytes = 256 << 10
	// maxMetadataURIBytes bounds the jwks_uri it names.
	maxMetadataURIBytes = 2048
)

// discovery finds the JWKS URL in the issuer's metadata: OpenID Connect Discovery 1.0
// (<issuer>/.well-known/openid-configuration) first, and when the issuer has no such
// document (a 4xx answer), RFC 8414 (/.well-known/oauth-authorization-server inserted
// before the issuer's path). The document's issuer must equal the configured one
// exactly (OpenID Connect Discovery section 4.3, RFC 8414 section 3.3): a document
// naming another issuer is an error, never a fallback. jwks_uri must be https (http
// only on a loopback host), like jwks_url.
//
// The discovered URL is cached under the same rules as the key set: the document's
// max-age clamped as for the JWKS, and, while the issuer's metadata cannot be read, the
// last URL found keeps being used until it is older than max_stale. Without one, the
// fetch fails, and tokens get authenticator_unavailable (503), never a 401.
type discovery struct {
	issuer string

	mu        sync.Mutex
	jwksURI   *url.URL
	fetchedAt time.Time
	expiresAt time.Time
}

// metadataURLs are the documents to try, in order.
func metadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, errors.New("the issuer is not an absolute URL")
	}
	oidc := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	// RFC 8414 section 3.1: the well-known suffix goes between the host and the path.
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	rfc := u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path
	return []string{oidc, rfc}, nil
}

// discover returns the JWKS URL, reading the metadata when the cached one has expired.
func (r *remoteKeys) discover(ctx context.Context) (*url.URL, error) {
	d := r.discovery
	now := r.now()
	d.mu.Lock()
	cached, fetchedAt, expiresAt := d.jwksURI, d.fetchedAt, d.expiresAt
	d.mu.Unlock()
	if cached != nil && now.Before(expiresAt) {
		return cached, nil
	}
	u, maxAge, err := r.readMetadata(ctx)
	if err != nil {
		if cached != nil && now.Sub(fetchedAt) <= r.maxStale {
			r.log.Warn("issuer metadata unavailable, using the jwks_uri found before", "issuer", d.issuer, "error", err,
				"found", fetchedAt.UTC().Format(time.RFC3339))
			return cached, nil
		}
		return nil, err
	}
	d.mu.Lock()
	d.jwksURI, d.fetchedAt, d.expiresAt = u, now, now.Add(maxAge)
	d.mu.Unlock()
	if cached == nil || cached.String() != u.String() {
		r.log.Info("jwks_uri discovered", "issuer", d.issuer, "jwks_uri", u.Redacted())
	}
	return u, nil
}

// readMetadata fetches the first metadata document the issuer has and checks it.
func (r *remoteKeys) readMetadata(ctx context.Context) (*url.URL, time.Duration, error) {
	urls, err := metadataURLs(r.discovery.issuer)
	if err != nil {
		return nil, 0, fmt.Errorf("discovery: %w", err)
	}
	var lastErr error
	for _, mu := range urls {
		body, hdr, status, err := r.get(ctx, mu, MaxMetadataBytes)
		if err != nil {
			return nil, 0, fmt.Errorf("discovery: %w", err)
		}
		if status >= 400 && status < 500 {
			lastErr = fmt.Errorf("discovery: %s: status %d", mu, status)
			continue // no document of this kind: try the next
		}
		if status != http.StatusOK {
			return nil, 0, fmt.Errorf("discovery: %s: status %d", mu, status)
		}
		md, err := ParseMetadata(body)
		if err != nil {
			return nil, 0, fmt.Errorf("discovery: %s: %w", mu, err)
		}
		if md.Issuer != r.discovery.issuer {
			return nil, 0, fmt.Errorf("discovery: %s names the issuer %s, not %s: the document must name exactly the configured issuer",
				mu, printable(md.Issuer), r.discovery.issuer)
		}
		u, err := url.Parse(md.JWKSURI)
		if err != nil || !secureURL(u) || u.Fragment != "" || u.User != nil {
			return nil, 0, fmt.Errorf("discovery: %s: jwks_uri %s must be an https URL (http only on a loopback host) without user info or fragment",
				mu, printable(md.JWKSURI))
		}
		return u, r.maxAge(hdr), nil
	}
	return nil, 0, lastErr
}

// get fetches url with a body limit. Redirects follow the client's same-origin policy.
func (r *remoteKeys) get(ctx context.Context, u string, limit int64) ([]byte, http.Header, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, resp.Header, resp.StatusCode, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: reading the body: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, 0, fmt.Errorf("%s: the document is larger than %d bytes", u, limit)
	}
	return body, resp.Header, resp.StatusCode, nil
}

// Metadata is what discovery reads of an issuer's metadata document.
type Metadata struct {
	Issuer  string
	JWKSURI string
}

// ParseMetadata reads an OpenID Connect Discovery or RFC 8414 metadata document: one
// JSON object, nothing after it; issuer and jwks_uri non-empty strings, each present
// once (a member named twice would let two parsers read two issuers from one document);
// other members skipped unread.
func ParseMetadata(body []byte) (Metadata, error) {
	var md Metadata
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return md, errors.New("the metadata is not a JSON object")
	}
	var seenIss, seenJWKS bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return md, errors.New("the metadata is not valid JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return md, errors.New("the metadata is not valid JSON")
		}
		var dst *string
		switch name {
		case "issuer":
			if seenIss {
				return md, errors.New(`the metadata names "issuer" more than once`)
			}
			seenIss, dst = true, &md.Issuer
		case "jwks_uri":
			if seenJWKS {
				return md, errors.New(`the metadata names "jwks_uri" more than once`)
			}
			seenJWKS, dst = true, &md.JWKSURI
		default:
			continue
		}
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return md, fmt.Errorf("the metadata's %q is not a string", name)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return md, errors.New("the metadata is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return md, errors.New("the metadata has data after the JSON object")
	}
	switch {
	case md.Issuer == "":
		return md, errors.New(`the metadata has no "issuer"`)
	case md.JWKSURI == "":
		return md, errors.New(`the metadata has no "jwks_uri"`)
	case len(md.JWKSURI) > maxMetadataURIBytes:
		return md, fmt.Errorf(`the metadata's "jwks_uri" is longer than %d bytes`, maxMetadataURIBytes)
	}
	return md, nil
}

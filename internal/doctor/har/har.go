package har

import (
	"net/url"
	"strings"
	"time"
)

// Header is one HTTP header field as the HAR recorded it (HTTP/2 names are lower case).
type Header struct{ Name, Value string }

// Entry is one request/response pair of a HAR log, reduced to what diagnosis needs.
type Entry struct {
	Index           int
	StartedAt       time.Time
	Method, URL     string
	RequestHeaders  []Header
	Status          int
	StatusText      string
	ResponseHeaders []Header
	BodyPrefix      string // at most 64 KiB of response text
	Error           string // _error / net::ERR_FAILED when present
	MimeType        string
	ResourceType    string // _resourceType (fetch, xhr, preflight, document)
	// PostDataPrefix is at most 8 KiB of the request body, kept only to recognise token
	// endpoint calls (grant_type=); it is never printed.
	PostDataPrefix string
	// PageRef is the entry's pageref; PageOrigin the origin of that page's URL, if known.
	PageRef, PageOrigin string
	// Truncated is set when a field was cut to its bound (a header value, the body).
	Truncated bool
}

// Log is a parsed HAR file.
type Log struct {
	Creator        string
	CreatorVersion string
	PageOrigins    []string
	Entries        []Entry
}

// RequestHeader returns the first request header with that name (any case).
func (e *Entry) RequestHeader(name string) (string, bool) { return headerValue(e.RequestHeaders, name) }

// ResponseHeader returns the first response header with that name (any case).
func (e *Entry) ResponseHeader(name string) (string, bool) {
	return headerValue(e.ResponseHeaders, name)
}

func headerValue(hs []Header, name string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

func headerValues(hs []Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// originOf returns scheme://host[:port] of a URL, lower-cased, without default ports, or
// "" when it has none.
func originOf(raw string) string {
	u, err := parseURL(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port
	}
	return scheme + "://" + host
}

// requestOrigin is the origin the browser acted for: the Origin header, else the
// Referer's origin, else the page's.
func (e *Entry) requestOrigin() string {
	if o, ok := e.RequestHeader("Origin"); ok && o != "" && o != "null" {
		return strings.ToLower(strings.TrimRight(o, "/"))
	}
	if r, ok := e.RequestHeader("Referer"); ok {
		if o := originOf(r); o != "" {
			return o
		}
	}
	return e.PageOrigin
}

// crossOrigin reports whether the request went to another origin than the page's. It
// trusts what the browser recorded (Sec-Fetch-Site, or the Origin header it adds to every
// cross-origin CORS request) and otherwise assumes same-origin, so that a HAR without
// these headers does not produce CORS findings from a guess.
func (e *Entry) crossOrigin() bool {
	if s, ok := e.RequestHeader("Sec-Fetch-Site"); ok {
		return !strings.EqualFold(s, "same-origin") && !strings.EqualFold(s, "none")
	}
	o, ok := e.RequestHeader("Origin")
	o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
	return ok && o != "" && o != "null" && o != originOf(e.URL)
}

// isPreflight reports whether the entry is a CORS preflight.
func (e *Entry) isPreflight() bool {
	if !strings.EqualFold(e.Method, "OPTIONS") {
		return false
	}
	_, ok := e.RequestHeader("Access-Control-Request-Method")
	return ok || strings.EqualFold(e.ResourceType, "preflight")
}

// isScripted reports whether the entry was made by script (fetch or XHR) rather than by
// the page loading an image, a stylesheet or a document.
func (e *Entry) isScripted() bool {
	switch strings.ToLower(e.ResourceType) {
	case "fetch", "xhr", "preflight", "eventsource", "websocket":
		return true
	case "":
		d, ok := e.RequestHeader("Sec-Fetch-Dest")
		return !ok || strings.EqualFold(d, "empty")
	}
	return false
}

// parseURL is url.Parse; tests count its calls to hold the analysis linear.
var parseURL = url.Parse

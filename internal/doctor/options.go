package doctor

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Header is one request header as the user gave it: the name keeps its case and the value
// its bytes, control characters included, so that lint can see exactly what was typed.
type Header struct {
	Name  string
	Value string
}

// Options describe one diagnosis. The zero value of every optional field means the
// documented default; URL is the only required field.
type Options struct {
	// URL is the request target; http and https only.
	URL string
	// Method defaults to GET, or to POST when HasBody is set (as curl -d does).
	Method string
	// Headers are sent in order, with their names' case kept. A header given with an
	// empty value ("User-Agent:") removes that header, as in curl.
	Headers []Header
	// Body is sent when HasBody is set. Without an explicit Content-Type it is sent as
	// application/x-www-form-urlencoded, as curl -d does.
	Body    string
	HasBody bool
	// UserPass is curl's -u USER:PASS, sent as Basic when HasUserPass is set and no
	// Authorization header was given.
	UserPass    string
	HasUserPass bool
	// Origin, when set, makes the doctor judge the request as a browser page on that
	// origin would make it: the request carries Origin and a CORS preflight is sent (P3).
	Origin string
	// ExpectIssuer and ExpectAudience are what the API is known to accept; they turn the
	// token's iss and aud into proof instead of heuristics.
	ExpectIssuer   string
	ExpectAudience string
	// EnvFile and EnvVar read the credential from a .env file as the common loaders
	// would. $EnvVar or ${EnvVar} in a header value is replaced by the value read; with no
	// such header the value is sent as "Authorization: Bearer <value>".
	EnvFile string
	EnvVar  string
	// AllowHosts are further hosts ("host" or "host:port") that may receive the
	// credential when a redirect leads there.
	AllowHosts []string
	// CompareURL repeats the request against another base URL (for example the origin
	// behind a CDN, or a dev server) to show where the credential stops working. A URL
	// without a path gets the target's path and query.
	CompareURL string
	// FetchJWKS opts in to fetching the token issuer's discovery document and JWKS, and
	// a resource_metadata document on another origin. Nothing is fetched from a
	// third-party origin without it.
	FetchJWKS bool
	// CACertFile replaces the trusted roots for TLS (curl --cacert); without it
	// SSL_CERT_FILE (read through Getenv) does, else the system roots are used.
	CACertFile string
	// Insecure skips TLS certificate verification (curl --insecure).
	Insecure bool
	// CertFile and KeyFile are a client certificate and its key, PEM (curl --cert and
	// --key): the TLS client certificate for an API that asks for one. KeyFile may be
	// empty when CertFile holds both.
	CertFile string
	KeyFile  string
	// ChallengeFirst names a client that sends credentials only after the server's
	// challenge asks for them (curl --anyauth, --digest, --ntlm or --negotiate; git;
	// .NET credential caches): the doctor then first sends the request without the
	// credential, as that client would, to see whether a challenge comes back.
	ChallengeFirst string
	// Proxy is a forward proxy URL (curl --proxy) for every request, in place of the
	// proxy variables; "http://host:port" when no scheme is given.
	Proxy string
	// RetryVariants allows a few corrected retries (scheme casing, another scheme the
	// server offers, the key in the header the server names) against the target's origin.
	RetryVariants bool
	// Timeout bounds each request; 10 seconds when zero.
	Timeout time.Duration
	// UserAgent is sent unless a User-Agent header is given; "gatehouse-doctor" when empty.
	UserAgent string
	// MaxBodyBytes is how much of any response body is read; 64 KiB when zero.
	MaxBodyBytes int64
	// Now is the local clock; time.Now when nil.
	Now func() time.Time
	// Getenv reads the environment (proxy variables, SSL_CERT_FILE, NETRC, HOME);
	// os.Getenv when nil.
	Getenv func(string) string
}

// ErrUsage marks an error in the options themselves (a URL that does not parse, a flag
// that needs another); the command line turns it into exit status 2.
var ErrUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

const (
	defaultTimeout   = 10 * time.Second
	defaultMaxBody   = 64 << 10
	maxHops          = 10
	defaultUserAgent = "gatehouse-doctor"
)

// parseTarget checks a URL the user gave: absolute, http or https, with a host.
func parseTarget(what, raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, usageErr("%s is empty", what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usageErr("%s does not parse: %v", what, stripURLFromErr(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, usageErr("%s must start with http:// or https://", what)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, usageErr("%s has no host", what)
	}
	if p := u.Port(); p != "" {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
			if n > 65535 {
				break
			}
		}
		if n == 0 || n > 65535 {
			return nil, usageErr("%s has an invalid port", what)
		}
	}
	return u, nil
}

// stripURLFromErr keeps url.Error's reason but not the URL, which may hold a credential.
func stripURLFromErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBody
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	if c.Method == "" {
		c.Method = "GET"
		if c.HasBody {
			c.Method = "POST"
		}
	}
	return c
}

// Package mtls is the `type: mtls` authenticator: TLS client certificates verified
// against a CA bundle, the principal taken from the certificate's first DNS SAN (the
// default), its first URI or email SAN, or its CN.
//
// The principal must be a name the CAs' name constraints govern. X.509 name constraints
// apply to subject alternative names, never to the CN, so a CA constrained to
// partner.example can still issue CN=admin: with principal_from cn, a certificate
// whose chain holds a CA with any name constraint is refused (client_certificate_invalid,
// cause cn_under_name_constraints), and the default is a SAN. A certificate whose
// subject holds more than one CN attribute is refused whatever the principal field
// (credentials_malformed, cause duplicate_cn): which one counts differs between
// implementations. A principal with control characters, Unicode format characters
// (bidirectional overrides, zero-width characters) or bytes that are not UTF-8 is
// refused as credentials_malformed (cause principal_malformed), never passed upstream.
//
// The TLS layer only collects the client's certificates (tls.RequestClientCert; the
// Verify* modes would fail the handshake instead); this package judges them, so a
// missing, expired or untrusted certificate becomes a 401 with a reason and a detail
// instead of a failed handshake the client cannot read. decision.Request carries no TLS
// state, so the gateway hands the certificates over in two parts:
//
//   - the request context, through WithPeerCertificates(ctx, r.TLS.PeerCertificates);
//   - a decision.Credential from Credential(r.TLS.PeerCertificates): Source FromTLS and,
//     as Value, the hex SHA-256 of the leaf's DER (empty when no certificate was
//     presented), which Authenticate checks against the context so the two cannot
//     disagree.
//
// Callers that hold the certificates directly use AuthenticateCert. Reasons:
// client_certificate_missing when nothing was presented; client_certificate_invalid
// when the chain does not verify (expired, not yet valid, not signed by a trusted CA,
// not valid for client authentication, outside a CA's name constraints), the
// configured principal field is empty, or the principal is a CN under name constraints, with a detail that names which. Successful
// verifications are cached (bounded, keyed by the SHA-256 of the presented chain, valid
// only within the validity period of every certificate in the verified chain), so a
// keep-alive connection does not pay a signature check per request.
//
// The authenticator has no HTTP challenge (Scheme is ""), reads no header, and
// fingerprints a certificate as "cert=sha256:" and the first 16 hex digits of the
// SHA-256 of its DER. Certificates are public: the fingerprint, CN and issuer name may
// appear in details and logs.
package mtls

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// PrincipalFrom names the certificate field that becomes the principal's subject. The
// values are those of the configuration's principal_from.
type PrincipalFrom string

// The certificate fields a principal can come from.
const (
	// FromCN is the subject's common name.
	FromCN PrincipalFrom = "cn"
	// FromSANURI is the first URI subject alternative name (a SPIFFE id, for example).
	FromSANURI PrincipalFrom = "san_uri"
	// FromSANDNS is the first DNS subject alternative name.
	FromSANDNS PrincipalFrom = "san_dns"
	// FromSANEmail is the first email subject alternative name.
	FromSANEmail PrincipalFrom = "san_email"
)

// DefaultPrincipalFrom is the field the subject comes from when Config.PrincipalFrom is
// empty: a SAN, which name constraints govern (the CN never is).
const DefaultPrincipalFrom = FromSANDNS

// Limits and defaults.
const (
	// DefaultCacheSize bounds the verification cache when Config.CacheSize is zero.
	DefaultCacheSize = 1024
	// MaxIntermediates is the most intermediate certificates a client may present: chain
	// building is a search, and a client must not be able to make it long.
	MaxIntermediates = 8
	// MaxCAFileBytes is the largest CA bundle New reads.
	MaxCAFileBytes = 1 << 20
)

// Config configures an Authenticator. Name and exactly one of CAFile and CAPEM are
// required; the CA bundle must hold at least one certificate and nothing else.
type Config struct {
	// Name is the authenticator's configured name, reported in principals and logs.
	Name string
	// CAFile is a PEM bundle of the CAs client certificates must chain to, read once by
	// New (a reload builds a new Authenticator).
	CAFile string
	// CAPEM is the same bundle given as bytes.
	CAPEM []byte
	// PrincipalFrom names the field the subject comes from; DefaultPrincipalFrom when
	// empty.
	PrincipalFrom PrincipalFrom
	// CacheSize bounds the cache of verified chains; DefaultCacheSize when zero; below
	// zero, every request verifies its chain.
	CacheSize int
	// Now is the clock certificates are checked against; time.Now when nil.
	Now func() time.Time
}

// Authenticator verifies TLS client certificates. It implements decision.Authenticator
// and is safe for concurrent use.
type Authenticator struct {
	name  string
	from  PrincipalFrom
	roots *x509.CertPool
	cas   []*x509.Certificate
	now   func() time.Time
	cache *cache
}

var _ decision.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg, or an error naming every problem in it.
func New(cfg Config) (*Authenticator, error) {
	var problems []error
	if cfg.Name == "" {
		problems = append(problems, errors.New("name is required"))
	}
	from := cfg.PrincipalFrom
	switch from {
	case "":
		from = DefaultPrincipalFrom
	case FromCN, FromSANURI, FromSANDNS, FromSANEmail:
	default:
		problems = append(problems, fmt.Errorf("principal_from %q is not a certificate field: use cn, san_uri, san_dns or san_email", string(from)))
	}
	var cas []*x509.Certificate
	switch {
	case cfg.CAFile != "" && cfg.CAPEM != nil:
		problems = append(problems, errors.New("give a CA file or CA PEM bytes, not both"))
	case cfg.CAFile == "" && cfg.CAPEM == nil:
		problems = append(problems, errors.New("a CA bundle is required"))
	default:
		pemBytes := cfg.CAPEM
		where := "the CA bundle"
		if cfg.CAFile != "" {
			where = cfg.CAFile
			var err error
			if pemBytes, err = readFileLimited(cfg.CAFile, MaxCAFileBytes); err != nil {
				problems = append(problems, err)
				break
			}
		}
		var err error
		if cas, err = ParseCABundle(pemBytes); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("mtls: new %q: %w", cfg.Name, errors.Join(problems...))
	}
	a := &Authenticator{name: cfg.Name, from: from, roots: x509.NewCertPool(), cas: cas, now: cfg.Now}
	for _, c := range cas {
		a.roots.AddCert(c)
	}
	if a.now == nil {
		a.now = time.Now
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		a.cache = newCache(size)
	}
	return a, nil
}

// ParseCABundle parses a PEM bundle of CA certificates. Every block must be a valid
// CERTIFICATE and there must be at least one: x509.CertPool.AppendCertsFromPEM skips what
// it cannot read, which turns a truncated bundle into a silently smaller trust set.
func ParseCABundle(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := pemBytes
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// The type only: a private key pasted into a bundle must not be echoed.
			return nil, fmt.Errorf("parse CA bundle: PEM block %d is %q, not a CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse CA bundle: certificate %d: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("parse CA bundle: no PEM certificate found")
	}
	return out, nil
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read CA file %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read CA file %s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// Name is the authenticator's configured name.
func (a *Authenticator) Name() string { return a.name }

// Scheme is "": client certificates have no WWW-Authenticate challenge.
func (a *Authenticator) Scheme() string { return "" }

// Locations is empty: the authenticator reads no header or query parameter.
func (a *Authenticator) Locations() []decision.Location { return nil }

// CertPool returns a copy of the trusted CAs as a pool. A TLS listener can set it as
// tls.Config.ClientCAs (with ClientAuth tls.RequestClientCert) so the handshake's
// certificate request names these CAs and clients holding several certificates pick
// the right one; the handshake still accepts any certificate, and this authenticator
// judges it. The hint has a cost: a client whose only certificate is from another CA
// then typically sends none, and gets client_certificate_missing instead of the more
// telling client_certificate_invalid.
func (a *Authenticator) CertPool() *x509.CertPool { return a.roots.Clone() }

// PrincipalFrom reports the field the subject is taken from.
func (a *Authenticator) PrincipalFrom() PrincipalFrom { return a.from }

// Claims is ShapeMatch for a credential from the TLS layer and NoMatch for any other.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromTLS {
		return decision.ShapeMatch
	}
	return decision.NoMatch
}

type peerKey struct{}

// WithPeerCertificates returns a copy of ctx carrying the certificates the client
// presented in the TLS handshake (r.TLS.PeerCertificates: the leaf first). The slice is
// not copied and must not be modified afterwards.
func WithPeerCertificates(ctx context.Context, certs []*x509.Certificate) context.Context {
	return context.WithValue(ctx, peerKey{}, certs)
}

// PeerCertificates returns the certificates WithPeerCertificates put in ctx, or nil.
func PeerCertificates(ctx context.Context) []*x509.Certificate {
	certs, _ := ctx.Value(peerKey{}).([]*x509.Certificate)
	return certs
}

// Credential returns the credential the gateway hands to decision for a TLS peer:
// Source FromTLS and, as Value, the hex SHA-256 of the leaf's DER, or an empty Value
// when certs is empty (which Authenticate answers with client_certificate_missing). The
// value is an identifier of a public certificate, not a secret.
func Credential(certs []*x509.Certificate) decision.Credential {
	c := decision.Credential{Source: decision.FromTLS}
	if len(certs) > 0 && certs[0] != nil {
		sum := sha256.Sum256(certs[0].Raw)
		c.Value = hex.EncodeToString(sum[:])
	}
	return c
}

// Fingerprint identifies a certificate in logs and principals: "cert=sha256:" and the
// first 16 hex digits of the SHA-256 of its DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "cert=sha256:" + hex.EncodeToString(sum[:8])
}

// Authenticate verifies the client certificates c carries (c.Certificates, as the
// decision core fills them from the request), or else those in ctx (see
// WithPeerCertificates), that c names. A credential with an empty Value, or a context without certificates when the
// Value is empty, is client_certificate_missing. A credential naming a certificate the
// context does not hold is a wiring error, returned as a plain error (the decision
// treats it as authenticator_unavailable) rather than judged as the client's fault.
func (a *Authenticator) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	if c.Source != decision.FromTLS {
		return decision.Principal{}, missing()
	}
	certs := c.Certificates
	if certs == nil {
		certs = PeerCertificates(ctx)
	}
	if c.Value == "" {
		if len(certs) == 0 {
			return decision.Principal{}, missing()
		}
		return decision.Principal{}, errors.New("mtls: authenticate: the credential names no certificate but the request context holds some")
	}
	if len(certs) == 0 || certs[0] == nil {
		return decision.Principal{}, errors.New("mtls: authenticate: the request context holds no peer certificates (WithPeerCertificates was not called)")
	}
	if want := Credential(certs).Value; want != c.Value {
		return decision.Principal{}, errors.New("mtls: authenticate: the credential names another certificate than the request context holds")
	}
	return a.AuthenticateCert(certs[0], certs[1:])
}

func missing() *decision.Failure {
	return &decision.Failure{
		Reason: decision.ClientCertificateMissing,
		Detail: "no client certificate was presented in the TLS handshake",
		Cause:  "no_certificate",
		// Without it the decision would fingerprint the empty credential value.
		Fingerprint: "cert=none",
	}
}

// AuthenticateCert verifies leaf, with the intermediates the client presented, against
// the CA bundle at the authenticator's clock, for client authentication, and returns
// the principal named by the configured field. A refusal is a *decision.Failure with
// reason client_certificate_missing (leaf is nil) or client_certificate_invalid.
func (a *Authenticator) AuthenticateCert(leaf *x509.Certificate, intermediates []*x509.Certificate) (decision.Principal, error) {
	if leaf == nil {
		return decision.Principal{}, missing()
	}
	now := a.now()
	fp := Fingerprint(leaf)
	var key [sha256.Size]byte
	if a.cache != nil {
		key = chainKey(leaf, intermediates)
		if p, ok := a.cache.get(key, now); ok {
			return p, nil
		}
	}
	if len(intermediates) > MaxIntermediates {
		return decision.Principal{}, a.invalid(fp, "too_many_intermediates",
			"the client presented %d intermediate certificates; at most %d are accepted", len(intermediates), MaxIntermediates)
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		if c != nil {
			pool.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.roots,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return decision.Principal{}, a.explain(leaf, intermediates, fp, now, err)
	}
	if n := commonNames(leaf); n > 1 {
		return decision.Principal{}, malformed(fp, "duplicate_cn",
			"the certificate's subject has %d common name (CN) attributes; at most one is accepted", n)
	}
	subject, field := a.subject(leaf)
	if subject == "" {
		return decision.Principal{}, a.invalid(fp, "no_principal",
			"the certificate has no %s, which this authenticator takes the principal from", field)
	}
	if !cleanName(subject) {
		return decision.Principal{}, malformed(fp, "principal_malformed",
			"the certificate's %s contains control or invisible formatting characters", field)
	}
	if a.from == FromCN {
		if ca := constrainedCA(chains); ca != nil {
			return decision.Principal{}, a.invalid(fp, "cn_under_name_constraints",
				"the CA certificate %s limits the names it may issue (name constraints), which never apply to the subject common name (CN) this authenticator takes the principal from", describe(ca))
		}
	}
	p := decision.Principal{
		Subject:       subject,
		Authenticator: a.name,
		Fingerprint:   fp,
		ExpiresAt:     leaf.NotAfter,
	}
	if a.cache != nil {
		// The result holds only while every certificate of the verified chain is valid.
		from, until := leaf.NotBefore, leaf.NotAfter
		for _, ch := range chains {
			for _, c := range ch {
				if c.NotBefore.After(from) {
					from = c.NotBefore
				}
				if c.NotAfter.Before(until) {
					until = c.NotAfter
				}
			}
		}
		a.cache.put(key, p, from, until)
	}
	return p, nil
}

// subject returns the configured principal field of leaf, and its name for details.
func (a *Authenticator) subject(leaf *x509.Certificate) (value, field string) {
	switch a.from {
	case FromSANURI:
		if len(leaf.URIs) > 0 && leaf.URIs[0] != nil {
			return leaf.URIs[0].String(), "URI subject alternative name"
		}
		return "", "URI subject alternative name"
	case FromSANDNS:
		if len(leaf.DNSNames) > 0 {
			return leaf.DNSNames[0], "DNS subject alternative name"
		}
		return "", "DNS subject alternative name"
	case FromSANEmail:
		if len(leaf.EmailAddresses) > 0 {
			return leaf.EmailAddresses[0], "email subject alternative name"
		}
		return "", "email subject alternative name"
	}
	return leaf.Subject.CommonName, "subject common name (CN)"
}

// oidCommonName is the X.520 commonName attribute type, 2.5.4.3.
var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// commonNames counts the CN attributes of c's subject. pkix.Name keeps only the last
// in CommonName; other software may read the first.
func commonNames(c *x509.Certificate) int {
	n := 0
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidCommonName) {
			n++
		}
	}
	return n
}

// cleanName reports whether a principal is valid UTF-8 free of control characters
// (C0, DEL, C1) and format characters (category Cf: bidirectional overrides, zero-width
// joiners), which would let a name print as another ("ad\x00min", "admin\u202e").
func cleanName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// constrainedCA returns a CA certificate with name constraints of any kind in any of
// the verified chains, or nil.
func constrainedCA(chains [][]*x509.Certificate) *x509.Certificate {
	for _, ch := range chains {
		for _, c := range ch[min(1, len(ch)):] {
			if hasNameConstraints(c) {
				return c
			}
		}
	}
	return nil
}

func hasNameConstraints(c *x509.Certificate) bool {
	return c.PermittedDNSDomainsCritical ||
		len(c.PermittedDNSDomains) > 0 || len(c.ExcludedDNSDomains) > 0 ||
		len(c.PermittedIPRanges) > 0 || len(c.ExcludedIPRanges) > 0 ||
		len(c.PermittedEmailAddresses) > 0 || len(c.ExcludedEmailAddresses) > 0 ||
		len(c.PermittedURIDomains) > 0 || len(c.ExcludedURIDomains) > 0
}

// malformed is a refusal of a certificate that verifies but cannot name a principal
// unambiguously.
func malformed(fp, cause, detail string, args ...any) *decision.Failure {
	return &decision.Failure{
		Reason:       decision.CredentialsMalformed,
		Detail:       fmt.Sprintf(detail, args...),
		Cause:        cause,
		Fingerprint:  fp,
		CredentialID: fp,
	}
}

func (a *Authenticator) invalid(fp, cause, detail string, args ...any) *decision.Failure {
	return &decision.Failure{
		Reason:       decision.ClientCertificateInvalid,
		Detail:       fmt.Sprintf(detail, args...),
		Cause:        cause,
		Fingerprint:  fp,
		CredentialID: fp,
	}
}

// explain turns a verification error into a failure whose detail says what the client
// can act on. x509 reports an expired or unusable intermediate only as "unknown
// authority", so for that case it walks the presented chain itself to find the link
// that broke.
func (a *Authenticator) explain(leaf *x509.Certificate, intermediates []*x509.Certificate, fp string, now time.Time, err error) *decision.Failure {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		who := "the certificate"
		switch {
		case inv.Cert == nil || inv.Cert == leaf:
		case slices.Contains(a.cas, inv.Cert):
			who = "the trusted CA certificate " + describe(inv.Cert)
		case slices.Contains(intermediates, inv.Cert):
			who = "the intermediate certificate " + describe(inv.Cert)
		default:
			who = "the chain's certificate " + describe(inv.Cert)
		}
		switch inv.Reason {
		case x509.Expired:
			if inv.Cert != nil {
				return a.timeFailure(fp, who, inv.Cert, now)
			}
			return a.invalid(fp, "expired", "%s is outside its validity period", who)
		case x509.IncompatibleUsage:
			return a.invalid(fp, "incompatible_usage", "%s is not valid for TLS client authentication (its extended key usage does not include clientAuth)", who)
		case x509.NotAuthorizedToSign:
			return a.invalid(fp, "not_authorized_to_sign", "%s is not a CA certificate but signed another certificate of the chain", who)
		case x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
			return a.invalid(fp, "name_constraints", "the certificate is outside what its CA may issue (name constraints or extended key usage of the CA)")
		case x509.TooManyIntermediates:
			return a.invalid(fp, "too_many_intermediates", "the chain is longer than a CA's path length allows")
		}
		return a.invalid(fp, "verify_failed", "the certificate does not verify: %s", invalidReason(inv.Reason))
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return a.brokenLink(leaf, intermediates, fp, now)
	}
	var constraint x509.ConstraintViolationError
	if errors.As(err, &constraint) {
		return a.invalid(fp, "constraint_violation", "the certificate's key usage does not allow this use")
	}
	return a.invalid(fp, "verify_failed", "the certificate does not verify against the trusted CAs")
}

// brokenLink follows issuers from leaf through the presented intermediates towards the
// trusted CAs and reports the first link that fails: an issuer that is expired or not a
// CA, or an issuer nobody presented and the bundle does not hold.
func (a *Authenticator) brokenLink(leaf *x509.Certificate, intermediates []*x509.Certificate, fp string, now time.Time) *decision.Failure {
	cur := leaf
	for depth := 0; depth <= MaxIntermediates; depth++ {
		if root := issuerIn(cur, a.cas); root != nil {
			if now.Before(root.NotBefore) || now.After(root.NotAfter) {
				return a.timeFailure(fp, "the trusted CA certificate "+describe(root), root, now)
			}
			if !canSign(root) {
				return a.invalid(fp, "not_authorized_to_sign", "the trusted certificate %s is not a CA certificate allowed to sign certificates", describe(root))
			}
			return a.invalid(fp, "verify_failed", "the chain to the trusted CA %s does not verify", describe(root))
		}
		next := issuerIn(cur, intermediates)
		if next == nil || next == cur {
			break
		}
		if now.Before(next.NotBefore) || now.After(next.NotAfter) {
			return a.timeFailure(fp, "the intermediate certificate "+describe(next), next, now)
		}
		if !canSign(next) {
			return a.invalid(fp, "not_authorized_to_sign", "the intermediate certificate %s is not a CA certificate allowed to sign certificates", describe(next))
		}
		cur = next
	}
	issuer := cur.Issuer.CommonName
	if issuer == "" {
		issuer = cur.Issuer.String()
	}
	if cur == leaf {
		return a.invalid(fp, "unknown_authority", "the certificate is not signed by a trusted CA (its issuer is %q, and no intermediate certificate from it was presented)", issuer)
	}
	return a.invalid(fp, "unknown_authority", "the certificate chain does not lead to a trusted CA (it ends at an issuer named %q)", issuer)
}

// canSign reports whether c may sign certificates: a CA by its basic constraints, with
// keyCertSign when it states key usages at all.
func canSign(c *x509.Certificate) bool {
	return c.BasicConstraintsValid && c.IsCA && (c.KeyUsage == 0 || c.KeyUsage&x509.KeyUsageCertSign != 0)
}

// issuerIn returns the certificate among candidates whose key signed c, or nil. Names
// are compared before signatures so the search costs a signature check only on a likely
// match. It checks the signature alone, not whether the signer may sign (that is what
// the caller reports on).
func issuerIn(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, p := range candidates {
		if p == nil || p == c || string(p.RawSubject) != string(c.RawIssuer) {
			continue
		}
		if p.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return p
		}
	}
	return nil
}

func (a *Authenticator) timeFailure(fp, who string, c *x509.Certificate, now time.Time) *decision.Failure {
	if now.Before(c.NotBefore) {
		return a.invalid(fp, "not_yet_valid", "%s is not valid yet: it becomes valid in %s (%s)",
			who, decision.FormatDuration(c.NotBefore.Sub(now)), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return a.invalid(fp, "expired", "%s expired %s ago (%s)",
		who, decision.FormatDuration(now.Sub(c.NotAfter)), c.NotAfter.UTC().Format(time.RFC3339))
}

// describe names a CA or intermediate in a detail: its CN, or its whole subject.
func describe(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return strconv.Quote(c.Subject.CommonName)
	}
	return strconv.Quote(c.Subject.String())
}

func invalidReason(r x509.InvalidReason) string {
	switch r {
	case x509.NameMismatch:
		return "issuer name mismatch"
	case x509.NameConstraintsWithoutSANs:
		return "a CA has name constraints but the certificate has no SANs"
	case x509.UnconstrainedName:
		return "a name the CA's constraints do not cover"
	case x509.TooManyConstraints:
		return "too many name constraints to check"
	case x509.NoValidChains:
		return "no valid chain to a trusted CA"
	}
	return "invalid reason " + strconv.Itoa(int(r))
}

// chainKey is the cache key of a presented chain: the SHA-256 of each certificate's DER,
// length-prefixed so two different chains cannot collide by concatenation.
func chainKey(leaf *x509.Certificate, intermediates []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	write := func(c *x509.Certificate) {
		var raw []byte
		if c != nil {
			raw = c.Raw
		}
		l := uint64(len(raw))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(raw)
	}
	write(leaf)
	for _, c := range intermediates {
		write(c)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// cache holds verified principals by chain key. It is bounded: when full, an arbitrary
// entry (Go's map order) makes room, which is cheap and good enough for a cache whose
// misses cost one verification.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]cached
}

type cached struct {
	p           decision.Principal
	from, until time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[[sha256.Size]byte]cached, min(max, 1024))}
}

func (c *cache) get(key [sha256.Size]byte, now time.Time) (decision.Principal, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && (now.Before(e.from) || now.After(e.until)) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	return e.p, ok
}

func (c *cache) put(key [sha256.Size]byte, p decision.Principal, from, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cached{p: p, from: from, until: until}
}

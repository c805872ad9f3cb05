package mtls

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// permittedDNS constrains a CA to names under domain.
func permittedDNS(domain string) certOpt {
	return func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical = true
		c.PermittedDNSDomains = []string{domain}
	}
}

// twoCNs gives the subject two CN attributes.
func twoCNs(first, second string) certOpt {
	oid := asn1.ObjectIdentifier{2, 5, 4, 3}
	return func(c *x509.Certificate) {
		c.Subject = pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: oid, Value: first}, {Type: oid, Value: second}}}
	}
}

// TestNameConstrainedPartnerCannotIssueAnyPrincipal is the attack of a partner whose
// intermediate is constrained to partner.example: it issues CN=admin, with a SAN inside
// its constraint or none. Name constraints never apply to the CN, so the CN must not
// become a principal under such a CA; the default SAN principal stays inside the
// constraint.
func TestNameConstrainedPartnerCannotIssueAnyPrincipal(t *testing.T) {
	w := newWorld(t)
	partner := newCA(t, "Partner Issuing CA", w.root, permittedDNS("partner.example"))
	adminInsideSAN := newLeaf(t, "admin", partner, sans(t, "", "svc.partner.example", ""))
	adminNoSAN := newLeaf(t, "admin", partner)
	adminOutsideSAN := newLeaf(t, "admin", partner, sans(t, "", "admin.corp.example", ""))
	unconstrained := newLeaf(t, "alice", w.inter, sans(t, "", "alice.corp.example", ""))

	type want struct {
		subject string
		reason  decision.Reason
		cause   string
	}
	tests := []struct {
		name string
		from PrincipalFrom
		leaf *issued
		ca   *issued
		want want
	}{
		{"CNWithSANInsideConstraint", FromCN, adminInsideSAN, partner, want{reason: decision.ClientCertificateInvalid, cause: "cn_under_name_constraints"}},
		{"CNWithoutSAN", FromCN, adminNoSAN, partner, want{reason: decision.ClientCertificateInvalid, cause: "cn_under_name_constraints"}},
		{"CNFromUnconstrainedCAStillWorks", FromCN, unconstrained, w.inter, want{subject: "alice"}},
		{"DefaultIsTheDNSSANInsideTheConstraint", "", adminInsideSAN, partner, want{subject: "svc.partner.example"}},
		{"DefaultWithoutSANHasNoPrincipal", "", adminNoSAN, partner, want{reason: decision.ClientCertificateInvalid, cause: "no_principal"}},
		{"DefaultSANOutsideTheConstraintFails", "", adminOutsideSAN, partner, want{reason: decision.ClientCertificateInvalid, cause: "name_constraints"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, w, tt.from, &fixedClock{testNow})
			p, err := a.AuthenticateCert(tt.leaf.cert, []*x509.Certificate{tt.ca.cert})
			if tt.want.reason == "" {
				if err != nil || p.Subject != tt.want.subject {
					t.Fatalf("AuthenticateCert = %q, %v; want %q", p.Subject, err, tt.want.subject)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %q; want %s/%s", p.Subject, tt.want.reason, tt.want.cause)
			}
			f := failureOf(t, err)
			if f.Reason != tt.want.reason || f.Cause != tt.want.cause {
				t.Errorf("failure = %s/%s %q; want %s/%s", f.Reason, f.Cause, f.Detail, tt.want.reason, tt.want.cause)
			}
		})
	}
}

// TestAmbiguousOrDisguisedPrincipalsAreMalformed refuses certificates whose principal
// could print as another name, or that carry two CNs (implementations disagree on
// which one counts).
func TestAmbiguousOrDisguisedPrincipalsAreMalformed(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name  string
		from  PrincipalFrom
		leaf  *issued
		cause string
	}{
		{"NULInCN", FromCN, newLeaf(t, "ad\x00min", w.root), "principal_malformed"},
		{"NewlineInCN", FromCN, newLeaf(t, "admin\nrole=root", w.root), "principal_malformed"},
		{"C1ControlInCN", FromCN, newLeaf(t, "ad\u0085min", w.root), "principal_malformed"},
		{"BidiOverrideInCN", FromCN, newLeaf(t, "nimda\u202e", w.root), "principal_malformed"},
		{"ZeroWidthInCN", FromCN, newLeaf(t, "ad\u200bmin", w.root), "principal_malformed"},
		{"ControlInDNSSAN", FromSANDNS, newLeaf(t, "x", w.root, sans(t, "", "ad\x01min.example", "")), "principal_malformed"},
		{"ControlInEmailSAN", FromSANEmail, newLeaf(t, "x", w.root, sans(t, "", "", "ad\x7fmin@example.org")), "principal_malformed"},
		{"TwoCNs", FromCN, newLeaf(t, "", w.root, twoCNs("alice", "admin")), "duplicate_cn"},
		{"TwoCNsWithSANPrincipal", FromSANDNS, newLeaf(t, "", w.root, twoCNs("alice", "admin"), sans(t, "", "alice.example", "")), "duplicate_cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, w, tt.from, &fixedClock{testNow})
			p, err := a.AuthenticateCert(tt.leaf.cert, nil)
			if err == nil {
				t.Fatalf("accepted as %q", p.Subject)
			}
			f := failureOf(t, err)
			if f.Reason != decision.CredentialsMalformed || f.Cause != tt.cause {
				t.Errorf("failure = %s/%s %q; want credentials_malformed/%s", f.Reason, f.Cause, f.Detail, tt.cause)
			}
			if strings.ContainsAny(f.Detail, "\x00\n\u0085\u202e\u200b\x01\x7f") {
				t.Errorf("detail echoes the disguised name: %q", f.Detail)
			}
		})
	}
}

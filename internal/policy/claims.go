package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Limits of claim rules.
const (
	// MaxClaimPathBytes bounds a claim path.
	MaxClaimPathBytes = identity.MaxPathBytes
	// MaxClaimPathDepth bounds the segments of a nested claim path.
	MaxClaimPathDepth = identity.MaxPathDepth
	// MaxClaimValues bounds the values one claim rule lists.
	MaxClaimValues = 64
)

// ClaimPath names a claim, by the gateway's one claim-path rule (identity.Path).
type ClaimPath = identity.Path

// ParseClaimPath parses a claim path (identity.ParsePath).
func ParseClaimPath(s string) (ClaimPath, error) { return identity.ParsePath(s) }

// ClaimRule is one entry of a require block's claims: the claim Path names must equal
// one of Values or, when it is an array, contain one of them.
type ClaimRule struct {
	Path   ClaimPath
	Values []string
	// unmet and absent are the texts of a failure, built once: a refusal must not
	// allocate, nor name anything the token carried.
	unmet, absent string
}

// NewClaimRule builds the rule for path and values. Values are compared as written
// with string claims; a boolean claim matches "true" or "false", a number its
// shortest decimal form ("42", "1.5").
func NewClaimRule(path string, values []string) (*ClaimRule, error) {
	p, err := ParseClaimPath(path)
	if err != nil {
		return nil, err
	}
	if err := CheckClaimValues(values); err != nil {
		return nil, err
	}
	list := "[" + strings.Join(values, ", ") + "]"
	return &ClaimRule{
		Path:   p,
		Values: values,
		unmet:  "claim " + path + " must contain one of " + list,
		absent: "claim " + path + " is absent; it must contain one of " + list,
	}, nil
}

// CheckClaimValues checks the values of a claim rule: at least one, at most
// MaxClaimValues, each valid UTF-8 without control characters.
func CheckClaimValues(values []string) error {
	switch {
	case len(values) == 0:
		return errors.New("list at least one value the claim must hold")
	case len(values) > MaxClaimValues:
		return fmt.Errorf("%d values; at most %d are accepted", len(values), MaxClaimValues)
	}
	for _, v := range values {
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return errors.New("a value holds a control character or invalid UTF-8")
		}
	}
	return nil
}

// Check implements decision.Requirement.
func (c *ClaimRule) Check(_ context.Context, p *decision.Principal, _ *decision.Request) (unmet, cause string) {
	return c.CheckClaims(p.Claims)
}

// CheckClaims implements decision.ClaimsRequirement.
func (c *ClaimRule) CheckClaims(claims map[string]any) (unmet, cause string) {
	v, ok := c.Path.Lookup(claims)
	if !ok {
		return c.absent, "claim_absent"
	}
	if c.holds(v) {
		return "", ""
	}
	return c.unmet, "claim_mismatch"
}

// holds reports whether the claim value v equals or contains one of the rule's values.
// Objects and nested arrays never match.
func (c *ClaimRule) holds(v any) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if c.scalar(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range v {
			if c.equal(e) {
				return true
			}
		}
		return false
	}
	return c.scalar(v)
}

func (c *ClaimRule) scalar(v any) bool {
	switch v := v.(type) {
	case string:
		return c.equal(v)
	case bool:
		return c.equal(strconv.FormatBool(v))
	case float64:
		if len(c.Values) == 0 {
			return false
		}
		for _, w := range c.Values {
			if f, err := strconv.ParseFloat(w, 64); err == nil && f == v {
				return true
			}
		}
	case json.Number:
		for _, w := range c.Values {
			if string(v) == w {
				return true
			}
			if f, err := v.Float64(); err == nil {
				if g, err := strconv.ParseFloat(w, 64); err == nil && f == g {
					return true
				}
			}
		}
	case int64:
		return c.equal(strconv.FormatInt(v, 10))
	case int:
		return c.equal(strconv.Itoa(v))
	}
	return false
}

func (c *ClaimRule) equal(s string) bool {
	for _, w := range c.Values {
		if s == w {
			return true
		}
	}
	return false
}

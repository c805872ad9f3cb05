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
)

// Limits of claim rules.
const (
	// MaxClaimPathBytes bounds a claim path.
	MaxClaimPathBytes = 256
	// MaxClaimPathDepth bounds the segments of a nested claim path.
	MaxClaimPathDepth = 16
	// MaxClaimValues bounds the values one claim rule lists.
	MaxClaimValues = 64
)

// ClaimPath names a claim: a top-level claim by its exact name, else a nested claim by
// the dot-separated names leading to it ("realm_access.roles"). The exact name wins, so
// a URL-shaped claim name such as "https://example.com/roles" names that claim as
// written. A path with an empty segment ("a..b", ".a", "a.") names only a top-level
// claim.
type ClaimPath struct {
	raw  string
	segs []string // nil when the path names only a top-level claim
}

// ParseClaimPath parses a claim path. It refuses an empty path, one longer than
// MaxClaimPathBytes, invalid UTF-8, control characters, surrounding spaces and more
// than MaxClaimPathDepth segments.
func ParseClaimPath(s string) (ClaimPath, error) {
	switch {
	case s == "":
		return ClaimPath{}, errors.New("the claim path is empty")
	case len(s) > MaxClaimPathBytes:
		return ClaimPath{}, fmt.Errorf("the claim path is %d bytes; at most %d are accepted", len(s), MaxClaimPathBytes)
	case !utf8.ValidString(s):
		return ClaimPath{}, errors.New("the claim path is not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return ClaimPath{}, errors.New("the claim path starts or ends with a space")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ClaimPath{}, errors.New("the claim path holds a control character")
		}
	}
	p := ClaimPath{raw: s}
	if !strings.Contains(s, ".") {
		return p, nil
	}
	segs := strings.Split(s, ".")
	if len(segs) > MaxClaimPathDepth {
		return ClaimPath{}, fmt.Errorf("the claim path has %d segments; at most %d are accepted", len(segs), MaxClaimPathDepth)
	}
	for _, seg := range segs {
		if seg == "" {
			return p, nil // a top-level name only
		}
	}
	p.segs = segs
	return p, nil
}

// String returns the path as written.
func (p ClaimPath) String() string { return p.raw }

// Nested reports whether the path may name a nested claim.
func (p ClaimPath) Nested() bool { return p.segs != nil }

// Lookup returns the claim p names in claims: the top-level claim of that exact name
// when there is one, else the nested claim its segments lead to through JSON objects.
func (p ClaimPath) Lookup(claims map[string]any) (any, bool) {
	if v, ok := claims[p.raw]; ok {
		return v, true
	}
	if p.segs == nil {
		return nil, false
	}
	cur := claims
	last := len(p.segs) - 1
	for _, seg := range p.segs[:last] {
		next, ok := cur[seg].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	v, ok := cur[p.segs[last]]
	return v, ok
}

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

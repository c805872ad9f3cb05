package tokens

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// referenceClaims reads claims the slow, general way (a map from encoding/json), with
// the same typing rules as decodeClaims; ok is false where decodeClaims must refuse.
func referenceClaims(payload []byte) (c Claims, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return c, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, false
	}
	str := func(name string, dst *string) bool {
		v, present := m[name]
		if !present {
			return true
		}
		s, isStr := v.(string)
		*dst = s
		return isStr
	}
	date := func(name string, dst *time.Time) bool {
		v, present := m[name]
		if !present {
			return true
		}
		n, isNum := v.(json.Number)
		if !isNum {
			return false
		}
		var good bool
		*dst, good = NumericDate(n)
		return good
	}
	list := func(v any, fields bool) ([]string, bool) {
		switch x := v.(type) {
		case string:
			if fields {
				return strings.Fields(x), true
			}
			return []string{x}, true
		case []any:
			out := []string{}
			for _, e := range x {
				s, isStr := e.(string)
				if !isStr {
					return nil, false
				}
				out = append(out, s)
			}
			return out, true
		}
		return nil, false
	}
	ok = str("iss", &c.Issuer) && str("sub", &c.Subject) && str("jti", &c.ID) &&
		str("client_id", &c.ClientID) && str("azp", &c.AuthorizedParty) &&
		date("exp", &c.Expiry) && date("nbf", &c.NotBefore) && date("iat", &c.IssuedAt)
	if v, present := m["aud"]; present {
		var good bool
		c.Audience, good = list(v, false)
		ok = ok && good
	}
	var scope string
	if v, present := m["scope"]; present {
		var isStr bool
		scope, isStr = v.(string)
		ok = ok && isStr
		c.Scopes = strings.Fields(scope)
	}
	if v, present := m["scp"]; present {
		scp, good := list(v, true)
		ok = ok && good
		if _, hasScope := m["scope"]; !hasScope {
			c.Scopes = scp
		}
		if s, isStr := v.(string); isStr && ScopeProblem(s, false) != "" {
			ok = false
		}
		for _, s := range scp {
			ok = ok && ScopeProblem(s, true) == ""
		}
	}
	// Names and scopes that could collapse into others upstream are refused.
	for _, n := range []string{c.Subject, c.ClientID, c.AuthorizedParty} {
		ok = ok && NameProblem(n) == ""
	}
	ok = ok && ScopeProblem(scope, false) == ""
	return c, ok
}

// hasDuplicateKnownClaim reports whether a top-level member Claims reads appears twice.
func hasDuplicateKnownClaim(payload []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		switch key {
		case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "client_id", "azp":
			if seen[key] {
				return true
			}
			seen[key] = true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

func TestDecodeClaimsMatchesEncodingJSON(t *testing.T) {
	for _, p := range claimSeeds {
		t.Run(p, func(t *testing.T) { checkClaimsAgainstReference(t, []byte(p)) })
	}
}

// FuzzClaims is a differential test: the one-pass claims reader must agree with
// encoding/json on every payload. Seeds live in testdata/fuzz/FuzzClaims.
func FuzzClaims(f *testing.F) {
	for _, p := range claimSeeds {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkClaimsAgainstReference(t, payload) })
}

func checkClaimsAgainstReference(t *testing.T, payload []byte) {
	t.Helper()
	var got Claims
	verr := decodeClaims(payload, &got)
	want, ok := referenceClaims(payload)
	if hasDuplicateKnownClaim(payload) {
		if verr == nil {
			t.Fatalf("accepted duplicate claims in %q", payload)
		}
		return
	}
	if !ok {
		if verr == nil {
			t.Fatalf("accepted %q, which the reference refuses; got %+v", payload, got)
		}
		return
	}
	if verr != nil {
		t.Fatalf("refused %q (%v), which the reference accepts", payload, verr)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Claims{}), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("claims of %q differ (-reference +decodeClaims):\n%s", payload, diff)
	}
}

var claimSeeds = []string{
	`{}`,
	` { "iss" : "https://id.example" , "sub":"u" } `,
	`{"iss":"https://id.example","sub":"user-42","aud":["a","b"],"exp":1772367000,"nbf":1.5,"iat":-3,"jti":"j","scope":"a  b","client_id":"c","azp":"w"}`,
	`{"aud":"a","scp":["x","y"]}`,
	`{"scp":"x y","scope":"z"}`,
	`{"scope":"z","scp":"x y"}`,
	`{"s\u0075b":"escaped key","n\u0062f":1}`,
	`{"sub":"tab\tand \"quote\" and \u00e9"}`,
	`{"Sub":"case","SUB":"differs","sub":"real"}`,
	`{"sub":"a","sub":"b"}`,
	`{"sub":null}`,
	`{"exp":"1700000000"}`,
	`{"exp":1e400}`,
	`{"exp":1e13,"nbf":-1e13}`,
	`{"aud":[]}`,
	`{"aud":["a",1]}`,
	`{"aud":{"a":1}}`,
	`{"x":{"sub":"nested","aud":[{"deep":["]"]}]},"sub":"top"}`,
	`{"sub":"u"}}`,
	`{"sub":"u"} {}`,
	`[1]`,
	`null`,
	`{"sub":"u",}`,
	`{"exp":01}`,
	"{\"sub\":\"\xff\"}",
	`{"sub":"ad\u0000min"}`,
	`{"sub":"admin\r\n"}`,
	"{\"sub\":\"ad\x7fmin\"}",
	`{"sub":"ad\u0085min"}`,
	`{"azp":"w\u009b"}`,
	`{"client_id":" c"}`,
	`{"sub":"Zoë 山田","scope":"a b"}`,
	`{"scope":"a\tb"}`,
	"{\"scope\":\"a\u00a0b\"}",
	`{"scp":["a b"]}`,
	`{"scp":"a\u2028b"}`,
}

func TestNameAndScopeProblems(t *testing.T) {
	tests := []struct {
		in          string
		name, scope bool // refused as a name, as a scope list
	}{
		{"admin", false, false},
		{"Zoë 山田", false, false},
		{"a b", false, false},
		{"", false, false},
		{"ad\x00min", true, true},
		{"admin\r\n", true, true},
		{"a\tb", true, true},
		{"ad\x7fmin", true, true},
		{"ad\u0085min", true, true},
		{"ad\u009fmin", true, true},
		{"ad\xffmin", true, true},
		{"ad\ufffdmin", true, true},
		{"\xc0\x80", true, true}, // overlong NUL
		{" admin", true, false},
		{"admin ", true, false},
		{"admin\u00a0", true, true},
		{"\u3000admin", true, true},
		{"a\u00a0b", false, true},
		{"a\u2028b", false, true},
		{"a\u3000b", false, true},
	}
	for _, tc := range tests {
		if got := NameProblem(tc.in) != ""; got != tc.name {
			t.Errorf("NameProblem(%q) refused = %v, want %v", tc.in, got, tc.name)
		}
		if got := ScopeProblem(tc.in, false) != ""; got != tc.scope {
			t.Errorf("ScopeProblem(%q) refused = %v, want %v", tc.in, got, tc.scope)
		}
	}
	if ScopeProblem("a b", true) == "" {
		t.Error(`ScopeProblem("a b", single) accepted a space inside one scope`)
	}
	if ScopeProblem("", true) == "" {
		t.Error(`ScopeProblem("", single) accepted an empty scope`)
	}
}

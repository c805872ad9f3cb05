package challenge

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Seeds live in testdata/fuzz/<FuzzName>/; `go test` runs them as ordinary tests.

// checkSyntaxError fails unless err is a *SyntaxError pointing inside one of the fields.
func checkSyntaxError(t *testing.T, err error, fields []string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is %T, want *SyntaxError", err, err)
	}
	if se.Field < 0 || se.Field >= len(fields) {
		t.Fatalf("SyntaxError.Field = %d, want an index into %d fields", se.Field, len(fields))
	}
	if se.Offset < 0 || se.Offset > len(fields[se.Field]) {
		t.Fatalf("SyntaxError.Offset = %d, outside field of %d bytes", se.Offset, len(fields[se.Field]))
	}
	if se.Msg == "" {
		t.Fatal("SyntaxError.Msg is empty")
	}
}

// checkWellFormed fails unless c is something String renders without repairing.
func checkWellFormed(t *testing.T, c Challenge) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("parsed challenge %+v does not validate: %v", c, err)
	}
	for _, p := range c.Params {
		if p.Name != strings.ToLower(p.Name) {
			t.Fatalf("parameter name %q is not lower-cased", p.Name)
		}
		for i := 0; i < len(p.Value); i++ {
			if isCTL(p.Value[i]) {
				t.Fatalf("parameter value %q holds a control character", p.Value)
			}
		}
	}
}

func FuzzParseChallenges(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string) {
		fields := []string{a, b}
		got, err := ParseChallenges(fields)
		strict, serr := ParseChallengesStrict(fields)
		if serr != nil {
			checkSyntaxError(t, serr, fields)
		} else if err != nil || !cmp.Equal(got, strict, equateEmpty) {
			t.Fatalf("strict accepted %q as %+v where lenient gave %+v, %v", fields, strict, got, err)
		}
		if err != nil {
			checkSyntaxError(t, err, fields)
			return
		}
		if got == nil {
			t.Fatal("ParseChallenges returned nil without an error")
		}
		for _, c := range got {
			checkWellFormed(t, c)
		}
		// A parsed value carries no control characters and either a token68 or params, so
		// rendering is exact and re-parsing must give the same challenges back.
		again, err := ParseChallenges([]string{Render(got...)})
		if err != nil {
			t.Fatalf("re-parse of Render(%+v) = %q: %v", got, Render(got...), err)
		}
		if diff := cmp.Diff(got, again, equateEmpty); diff != "" {
			t.Fatalf("Render round trip of %q mismatch (-first +again):\n%s", fields, diff)
		}
		perField := make([]string, len(got))
		for i, c := range got {
			perField[i] = c.String()
		}
		again, err = ParseChallenges(perField)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", perField, err)
		}
		if diff := cmp.Diff(got, again, equateEmpty); diff != "" {
			t.Fatalf("String round trip of %q mismatch (-first +again):\n%s", fields, diff)
		}
	})
}

func FuzzParseCredentials(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string) {
		c, err := ParseCredentials(value)
		if err != nil {
			checkSyntaxError(t, err, []string{value})
			return
		}
		checkWellFormed(t, c)
		again, err := ParseCredentials(c.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", c.String(), err)
		}
		if diff := cmp.Diff(c, again, equateEmpty); diff != "" {
			t.Fatalf("String round trip of %q mismatch (-first +again):\n%s", value, diff)
		}
		if c.Token68 != "" {
			// Whatever the scheme says, Basic decoding of a token68 must not panic and must
			// either fail with one of its errors or give bytes that encode back.
			user, pass, err := DecodeBasic(c.Token68)
			switch {
			case err == nil:
				if u2, p2, err := DecodeBasic(EncodeBasic(user, pass)); err != nil || u2 != user || p2 != pass {
					t.Fatalf("Basic re-encode of %q: %q, %q, %v", c.Token68, u2, p2, err)
				}
			case !errors.Is(err, ErrBasicNotBase64) && !errors.Is(err, ErrBasicBase64URL) && !errors.Is(err, ErrBasicNoColon):
				t.Fatalf("DecodeBasic error %v is none of the documented ones", err)
			}
		}
	})
}

func FuzzRenderRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, scheme, names, v1, v2, v3 string) {
		// Keep only token bytes so most inputs reach the round trip; String's repair of
		// invalid schemes and names is covered by the unit tests.
		if scheme = onlyTchar(scheme); scheme == "" {
			return
		}
		values := []string{v1, v2, v3}
		// Each name repeats a value; keep the rendered field (at most twice the input per
		// value, for escapes) well inside the parser's limit.
		if n := strings.Count(names, ",") + 1; n*(len(v1)+len(v2)+len(v3))*2+len(names)*3+len(scheme) > MaxFieldBytes/2 {
			return
		}
		var c Challenge
		c.Scheme = scheme
		want := Challenge{Scheme: scheme}
		if names != "" {
			for i, n := range strings.Split(names, ",") {
				if n = onlyTchar(n); n == "" {
					continue
				}
				v := values[i%len(values)]
				c.Params = append(c.Params, Param{Name: n, Value: v})
				want.Params = append(want.Params, Param{Name: strings.ToLower(n), Value: withoutCTL(v)})
			}
		}
		got, err := ParseChallenges([]string{c.String()})
		if err != nil {
			t.Fatalf("ParseChallenges(%q): %v", c.String(), err)
		}
		if diff := cmp.Diff([]Challenge{want}, got, equateEmpty); diff != "" {
			t.Fatalf("ParseChallenges(%q) mismatch (-want +got):\n%s", c.String(), diff)
		}
		// Followed by another challenge in the same field, the boundary must hold too.
		basic := Challenge{Scheme: "Basic", Params: []Param{{Name: "realm", Value: v1}}}
		got, err = ParseChallenges([]string{Render(c, basic)})
		if err != nil {
			t.Fatalf("ParseChallenges(%q): %v", Render(c, basic), err)
		}
		wantBasic := Challenge{Scheme: "Basic", Params: []Param{{Name: "realm", Value: withoutCTL(v1)}}}
		if diff := cmp.Diff([]Challenge{want, wantBasic}, got, equateEmpty); diff != "" {
			t.Fatalf("ParseChallenges(%q) mismatch (-want +got):\n%s", Render(c, basic), diff)
		}
		if cred, err := ParseCredentials(c.String()); err != nil {
			t.Fatalf("ParseCredentials(%q): %v", c.String(), err)
		} else if diff := cmp.Diff(want, cred, equateEmpty); diff != "" {
			t.Fatalf("ParseCredentials(%q) mismatch (-want +got):\n%s", c.String(), diff)
		}
	})
}

func FuzzDecodeBasic(f *testing.F) {
	f.Fuzz(func(t *testing.T, token68 string) {
		user, pass, err := DecodeBasic(token68)
		if err != nil {
			if !errors.Is(err, ErrBasicNotBase64) && !errors.Is(err, ErrBasicBase64URL) && !errors.Is(err, ErrBasicNoColon) {
				t.Fatalf("DecodeBasic error %v is none of the documented ones", err)
			}
			if len(token68) >= 8 && strings.Contains(err.Error(), token68) {
				t.Fatalf("error %q echoes the input", err)
			}
			if user != "" || pass != "" {
				t.Fatal("DecodeBasic returned values along with an error")
			}
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("user %q contains ':'", user)
		}
		if u2, p2, err := DecodeBasic(EncodeBasic(user, pass)); err != nil || u2 != user || p2 != pass {
			t.Fatalf("DecodeBasic(EncodeBasic(%q, %q)) = %q, %q, %v", user, pass, u2, p2, err)
		}
	})
}

// withoutCTL is what String does to a value: control characters other than tab become
// spaces.
func withoutCTL(s string) string {
	b := []byte(s)
	for i, c := range b {
		if isCTL(c) {
			b[i] = ' '
		}
	}
	return string(b)
}

// onlyTchar drops every byte of s that is not a token character.
func onlyTchar(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isTchar(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

package tokens

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	hdr := b64json(t, `{"alg":"ES256","kid":"k1"}`)
	claims := b64json(t, `{"sub":"u","exp":1700000000,"aud":["a","b"],"scope":"x y"}`)
	tests := []struct {
		name    string
		in      string
		wantErr error
		errText string
		check   func(t *testing.T, d *Decoded)
	}{
		{name: "well-formed", in: hdr + "." + claims + ".c2ln", check: func(t *testing.T, d *Decoded) {
			if d.HeaderString("alg") != "ES256" || d.HeaderString("kid") != "k1" || d.ClaimString("sub") != "u" {
				t.Errorf("header %v claims %v", d.Header, d.Claims)
			}
			if d.SignatureBytes != 3 {
				t.Errorf("SignatureBytes = %d, want 3", d.SignatureBytes)
			}
			if diff := cmp.Diff([]string{"a", "b"}, d.Audience()); diff != "" {
				t.Errorf("aud: %s", diff)
			}
			if diff := cmp.Diff([]string{"x", "y"}, d.Scopes()); diff != "" {
				t.Errorf("scopes: %s", diff)
			}
			if exp, ok := d.Time("exp"); !ok || !exp.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("exp = %v %v", exp, ok)
			}
		}},
		{name: "unsigned token decodes (it is not verified)", in: b64json(t, `{"alg":"none"}`) + "." + claims + ".", check: func(t *testing.T, d *Decoded) {
			if d.SignatureBytes != 0 {
				t.Errorf("SignatureBytes = %d", d.SignatureBytes)
			}
		}},
		{name: "padded segments are tolerated", in: hdr + "==." + claims + ".c2ln", check: func(t *testing.T, d *Decoded) {}},
		{name: "empty", in: "", wantErr: ErrEmpty},
		{name: "too large", in: strings.Repeat("a", MaxTokenBytes+1), wantErr: ErrTooLarge},
		{name: "opaque", in: "abc", wantErr: ErrNotJWT, errText: "(found 1)"},
		{name: "JWE", in: "a.b.c.d.e", wantErr: ErrJWE},
		{name: "four segments", in: "a.b.c.d", wantErr: ErrNotJWT, errText: "(found 4)"},
		{name: "empty header", in: "." + claims + ".", wantErr: ErrMalformed, errText: "header segment is empty"},
		{name: "header not base64", in: "e*J." + claims + ".", wantErr: ErrMalformed, errText: "header segment is not base64url"},
		{name: "claims not JSON", in: hdr + "." + b64json(t, "nope") + ".", wantErr: ErrMalformed, errText: "claims segment is not a JSON object"},
		{name: "claims JSON null", in: hdr + "." + b64json(t, "null") + ".", wantErr: ErrMalformed, errText: "JSON null"},
		{name: "claims an array", in: hdr + "." + b64json(t, "[1]") + ".", wantErr: ErrMalformed},
		{name: "second object after the header", in: b64json(t, `{"alg":"ES256"} {}`) + "." + claims + ".", wantErr: ErrMalformed, errText: "has data after the JSON object"},
		// A stray closing brace used to slip past the check for trailing data.
		{name: "stray closing brace after the header", in: b64json(t, `{"alg":"ES256"}}`) + "." + claims + ".", wantErr: ErrMalformed, errText: "header segment has data after the JSON object"},
		{name: "stray closing bracket after the claims", in: hdr + "." + b64json(t, `{"sub":"u"}]`) + ".", wantErr: ErrMalformed, errText: "claims segment has data after the JSON object"},
		{name: "trailing whitespace is fine", in: b64json(t, "{\"alg\":\"ES256\"}\n ") + "." + claims + ".", check: func(t *testing.T, d *Decoded) {}},
		{name: "signature not base64", in: hdr + "." + claims + ".!!", wantErr: ErrMalformed, errText: "signature segment is not base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decode(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, d)
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", true},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.", true}, // unsigned: still routed to the JWT verifier, which refuses it
		{"gk_live_abc_def", false},
		{"eyJ.eyJ", false},
		{"eyJ.a.b.c.d", false},
		{"xyJ.a.b", false},
		{"eyJ a.b.c", false},
		{"eyJ+.a.b", false},
		{"eyJ", false},
		{"", false},
		{"ey" + strings.Repeat("a", MaxTokenBytes) + "..", false},
	}
	for _, tt := range tests {
		if got := LooksLikeJWT(tt.in); got != tt.want {
			t.Errorf("LooksLikeJWT(%.30q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClaimHelpers(t *testing.T) {
	t.Run("StringOrList", func(t *testing.T) {
		tests := []struct {
			in   any
			want []string
		}{
			{"a", []string{"a"}},
			{[]any{"a", 1, "b"}, []string{"a", "b"}},
			{[]string{"x"}, []string{"x"}},
			{7.0, nil},
			{nil, nil},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, StringOrList(tt.in)); diff != "" {
				t.Errorf("StringOrList(%v): %s", tt.in, diff)
			}
		}
	})
	t.Run("ScopesOf", func(t *testing.T) {
		tests := []struct {
			claims map[string]any
			want   []string
		}{
			{map[string]any{"scope": "a  b"}, []string{"a", "b"}},
			{map[string]any{"scp": []any{"a", "b"}}, []string{"a", "b"}},
			{map[string]any{"scp": "a b"}, []string{"a", "b"}},
			{map[string]any{"scope": "a", "scp": []any{"b"}}, []string{"a"}},
			{map[string]any{}, nil},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, ScopesOf(tt.claims)); diff != "" {
				t.Errorf("ScopesOf(%v): %s", tt.claims, diff)
			}
		}
	})
	t.Run("NumericDate", func(t *testing.T) {
		tests := []struct {
			in     any
			want   time.Time
			wantOK bool
		}{
			{json.Number("1700000000"), time.Unix(1700000000, 0).UTC(), true},
			{json.Number("1700000000.25"), time.Unix(1700000000, 25e7).UTC(), true},
			{1700000000.0, time.Unix(1700000000, 0).UTC(), true},
			{int64(5), time.Unix(5, 0).UTC(), true},
			{json.Number("1e400"), time.Time{}, false},
			{json.Number("1e14"), time.Time{}, false},
			{"1700000000", time.Time{}, false},
			{nil, time.Time{}, false},
		}
		for _, tt := range tests {
			got, ok := NumericDate(tt.in)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("NumericDate(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		}
	})
}

// TestLooksLikeJWTAcceptsExactlyTheBase64URLAlphabet checks the byte table against the
// alphabet, byte by byte.
func TestLooksLikeJWTAcceptsExactlyTheBase64URLAlphabet(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
		if got := LooksLikeJWT("eyJ" + string([]byte{b}) + "x.eyJ.sig"); got != want {
			t.Errorf("byte %#x: LooksLikeJWT = %v, want %v", b, got, want)
		}
	}
	if LooksLikeJWT("eyJx.eyJ.s.ig") || LooksLikeJWT("eyJx.eyJsig") {
		t.Error("a token with other than two dots looks like a JWT")
	}
}

package lint

import (
	"strings"
	"testing"
)

func TestEscapeShowsInvisibleBytesGoStyle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ASCII \"quoted\"", "plain ASCII \"quoted\""},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{`back\slash`, `back\\slash`},
		{"zw\u200bsp", `zw\u200bsp`},
		{"nb\u00a0sp", `nb\u00a0sp`},
		{"bom\ufeff", `bom\ufeff`},
		{"emoji😀", `emoji\U0001f600`},
		{"nul\x00del\x7f", `nul\x00del\x7f`},
		{"latin1\xe9", `latin1\xe9`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactShowsOnlyEdgesLengthAndHash(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Empty", "", "(0 bytes)"},
		{"ShortShowsNoCharacters", "hunter2", "(7 bytes, sha256:f52fbd32)"},
		{"FifteenCharsStillHidden", "abcdefghijklmno", "(15 bytes, sha256:41c7760c)"},
		{"LongShowsFourAndFour", "Bearer abcdefghijklmnopqrstuvwxyz0123456789", "Bear…6789 (43 bytes, sha256:"},
		{"ControlCharactersEscaped", "abcdefghijklmnopqrs\r\n", `abcd…rs\r\n (21 bytes, sha256:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Redact(%q) = %q, want prefix %q", tt.in, got, tt.want)
			}
			if len(tt.in) >= 16 && strings.Contains(got, tt.in[4:len(tt.in)-4]) {
				t.Errorf("Redact(%q) = %q reveals the middle", tt.in, got)
			}
		})
	}
}

func TestDescribeRuneNamesCommonPasteArtifacts(t *testing.T) {
	tests := []struct {
		r    rune
		want string
	}{
		{0x200b, "U+200B ZERO WIDTH SPACE"},
		{0x2019, "U+2019 RIGHT SINGLE QUOTATION MARK"},
		{'о', "U+043E CYRILLIC SMALL LETTER (looks like Latin 'o')"},
		{'Α', "U+0391 GREEK CAPITAL LETTER (looks like Latin 'A')"},
		{0xff41, "U+FF41 FULLWIDTH form of 'a'"},
		{0x00e9, "U+00E9 non-ASCII letter"},
	}
	for _, tt := range tests {
		if got := describeRune(tt.r); got != tt.want {
			t.Errorf("describeRune(%U) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

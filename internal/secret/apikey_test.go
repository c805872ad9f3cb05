package secret

import (
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
)

// vector is the worked example of the package documentation.
const vector = "gk_live_0123456789ab_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef4ch0yb"

// scannerPattern is the regular expression the package documentation gives scanners.
var scannerPattern = regexp.MustCompile(`^gk_[a-z0-9]{1,16}_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$`)

func TestDocumentedVectorParses(t *testing.T) {
	k, err := ParseAPIKey(vector)
	if err != nil {
		t.Fatalf("ParseAPIKey(doc vector): %v", err)
	}
	if k.Env != "live" || k.ID != "0123456789ab" || k.Reveal() != vector {
		t.Errorf("parsed %+v", k)
	}
	body := vector[:len(vector)-KeyChecksumLen]
	if got := crc32.ChecksumIEEE([]byte(body)); got != 0xfc809035 {
		t.Errorf("CRC-32 of the documented body = %#x, doc says 0xfc809035", got)
	}
	if got := checksum(body); got != "4ch0yb" {
		t.Errorf("checksum = %q, doc says 4ch0yb", got)
	}
}

func TestNewKeysParseAndMatchTheDocumentedPattern(t *testing.T) {
	seen := map[string]bool{}
	for _, env := range []string{"live", "test", "a", "0123456789abcdef"} {
		for range 50 {
			k, err := NewAPIKey(env)
			if err != nil {
				t.Fatal(err)
			}
			s := k.Reveal()
			if !scannerPattern.MatchString(s) {
				t.Fatalf("%q does not match the documented pattern", s)
			}
			p, err := ParseAPIKey(s)
			if err != nil {
				t.Fatalf("ParseAPIKey(NewAPIKey()): %v", err)
			}
			if p.Env != env || p.ID != k.ID {
				t.Errorf("round trip: %+v vs %+v", p, k)
			}
			if seen[s] {
				t.Fatal("NewAPIKey repeated a key")
			}
			seen[s] = true
		}
	}
}

func TestParseAPIKey(t *testing.T) {
	good := vector
	replace := func(i int, c byte) string {
		b := []byte(good)
		b[i] = c
		return string(b)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
		detail  string
	}{
		{"Good", good, nil, ""},
		{"WrongChecksum", replace(len(good)-1, 'c'), ErrKeyChecksum, "truncated or mistyped"},
		{"MistypedSecret", replace(30, 'z'), ErrKeyChecksum, ""},
		{"MistypedID", replace(10, 'Z'), ErrKeyChecksum, ""},
		{"SwappedCase", strings.Replace(good, "ABC", "abc", 1), ErrKeyChecksum, ""},
		{"TruncatedByOne", good[:len(good)-1], ErrKeyMalformed, "truncated"},
		{"TruncatedHalf", good[:30], ErrKeyMalformed, "truncated"},
		{"TruncatedInID", good[:14], ErrKeyMalformed, "no '_' after the id"},
		{"TruncatedInEnv", good[:5], ErrKeyMalformed, "no '_' after the environment"},
		{"ExtraCharacter", good + "x", ErrKeyMalformed, "38 base62 characters"},
		{"WrongPrefix", "sk" + good[2:], ErrNotAPIKey, ""},
		{"UpperPrefix", "GK" + good[2:], ErrNotAPIKey, ""},
		{"NoPrefix", good[3:], ErrNotAPIKey, ""},
		{"Empty", "", ErrNotAPIKey, ""},
		{"UpperCaseEnv", strings.Replace(good, "live", "LIVE", 1), ErrKeyMalformed, "environment"},
		{"EmptyEnv", strings.Replace(good, "live", "", 1), ErrKeyMalformed, "environment"},
		{"LongEnv", strings.Replace(good, "live", strings.Repeat("e", 17), 1), ErrKeyMalformed, "environment"},
		{"ShortID", strings.Replace(good, "0123456789ab", "0123456789a", 1), ErrKeyMalformed, "id must be 12"},
		{"IDWithDash", strings.Replace(good, "0123456789ab", "0123456789-b", 1), ErrKeyMalformed, "id must be 12"},
		{"NonASCIISecret", strings.Replace(good, "ABC", "ÄB", 1), ErrKeyMalformed, ""},
		{"NonUTF8", "gk_live_0123456789ab_\xff\xfe", ErrKeyMalformed, ""},
		{"SpaceInside", strings.Replace(good, "ABC", "A C", 1), ErrKeyMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseAPIKey(tc.in)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseAPIKey = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseAPIKey = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
			if len(tc.in) > 24 && strings.Contains(err.Error(), tc.in[21:]) {
				t.Errorf("error echoes the key: %v", err)
			}
			if k != (APIKey{}) {
				t.Errorf("a refused key returned %+v", k)
			}
		})
	}
}

func TestEverySingleCharacterChangeIsCaught(t *testing.T) {
	k, err := NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	s := k.Reveal()
	for i := len(KeyPrefix); i < len(s); i++ {
		for _, c := range []byte(base62Digits + "_") {
			if c == s[i] {
				continue
			}
			b := []byte(s)
			b[i] = c
			if _, err := ParseAPIKey(string(b)); err == nil {
				t.Fatalf("changing byte %d to %q went unnoticed", i, c)
			}
		}
	}
}

func TestAPIKeyPrintsRedacted(t *testing.T) {
	k, err := NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	secretPart := k.Reveal()[len(k.Reveal())-38:]
	//lint:ignore S1025 every way of formatting the key is checked on purpose, %s included
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%s", k)} {
		if strings.Contains(s, secretPart) || strings.Contains(s, secretPart[:8]) {
			t.Errorf("formatted key shows the secret: %s", s)
		}
	}
	if !strings.HasPrefix(k.String(), "gk_live_"+k.ID+"_") {
		t.Errorf("String() = %q", k.String())
	}
}

func TestValidateEnv(t *testing.T) {
	for _, env := range []string{"live", "test", "dev2", "0", strings.Repeat("a", 16)} {
		if err := ValidateEnv(env); err != nil {
			t.Errorf("ValidateEnv(%q) = %v", env, err)
		}
	}
	for _, env := range []string{"", "Live", "li_ve", "li-ve", "é", strings.Repeat("a", 17)} {
		if err := ValidateEnv(env); err == nil {
			t.Errorf("ValidateEnv(%q) accepted", env)
		}
	}
}

func TestNewAPIKeyWithIDRefusesBadIDs(t *testing.T) {
	for _, id := range []string{"", "short", "0123456789a_", "0123456789abc"} {
		if _, err := NewAPIKeyWithID("live", id); err == nil {
			t.Errorf("NewAPIKeyWithID(%q) accepted", id)
		}
	}
}

func TestRandomBase62IsUnbiasedEnough(t *testing.T) {
	s, err := randomBase62(62 * 2000)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct digits, want 62", len(counts))
	}
	for r, n := range counts {
		// Expected 2000 each; a modulo bias toward the first digits would show here.
		if n < 1700 || n > 2300 {
			t.Errorf("digit %q drawn %d times, expected about 2000", r, n)
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, err := ParseAPIKey(vector); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("ParseAPIKey allocates %.0f times", n)
	}
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add(vector)
	f.Add(vector[:40])
	f.Add("gk_")
	f.Add("gk_live__")
	f.Add("gk_live_0123456789ab_")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseAPIKey(s)
		if err != nil {
			if k != (APIKey{}) {
				t.Fatalf("error with a non-zero key: %+v", k)
			}
			return
		}
		if !scannerPattern.MatchString(s) {
			t.Fatalf("accepted %q, which does not match the documented pattern", s)
		}
		if k.Reveal() != s || !strings.HasPrefix(s, KeyPrefix+k.Env+"_"+k.ID+"_") {
			t.Fatalf("parts do not make up the key: %+v", k)
		}
		if checksum(s[:len(s)-KeyChecksumLen]) != s[len(s)-KeyChecksumLen:] {
			t.Fatal("accepted a bad checksum")
		}
	})
}

func BenchmarkParseAPIKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseAPIKey(vector)
	}
}

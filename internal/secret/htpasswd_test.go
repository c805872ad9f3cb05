package secret

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestParseHtpasswdAcceptsBcryptAndArgon2id(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "good.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ParseHtpasswd(f)
	if err != nil {
		t.Fatalf("ParseHtpasswd: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.User+" "+HashKind(e.Hash))
		ok, err := VerifyPassword(e.Hash, "password")
		if err != nil || !ok {
			t.Errorf("%s (line %d): password does not verify: %v %v", e.User, e.Line, ok, err)
		}
	}
	want := []string{"alice bcrypt", "bob bcrypt", "carol bcrypt", "dave argon2id", "Zoë bcrypt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// TestParseHtpasswdRefusesWeakFormatsLineByLine compares the whole error with a golden
// file: one clear line per refused entry, naming the format and what to do, and no hash.
func TestParseHtpasswdRefusesWeakFormatsLineByLine(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "weak.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseHtpasswd(strings.NewReader(string(in)))
	if entries != nil {
		t.Errorf("a refused file returned %d entries; import must be all or nothing", len(entries))
	}
	var he *HtpasswdError
	if !errors.As(err, &he) {
		t.Fatalf("ParseHtpasswd = %v, want *HtpasswdError", err)
	}
	if !errors.Is(err, ErrHashUnsupported) {
		t.Error("errors.Is(err, ErrHashUnsupported) is false")
	}
	golden := filepath.Join("testdata", "weak.htpasswd.golden")
	if *update {
		os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
	}
	want, rerr := os.ReadFile(golden)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if diff := cmp.Diff(string(want), err.Error()+"\n"); diff != "" {
		t.Errorf("error (-golden +got):\n%s", diff)
	}
	for _, line := range strings.Split(string(in), "\n") {
		if _, hash, ok := strings.Cut(line, ":"); ok && len(hash) > 6 && strings.Contains(err.Error(), hash) {
			t.Errorf("the error quotes a hash: %q", hash)
		}
	}
}

func TestParseHtpasswdEdgeCases(t *testing.T) {
	const bc = "$2y$05$NVkPNvhFHLLLCAl.Axsv1.O8LNxuUnmqcJLVzQsk5Fgb3xh2rDXW2"
	tests := []struct {
		name  string
		in    string
		users []string
		probs []string
	}{
		{"CRLFAndBOM", "\xef\xbb\xbfalice:" + bc + "\r\nbob:" + bc + "\r\n", []string{"alice", "bob"}, nil},
		{"CommentsAndBlanks", "# staff\n\n   \nalice:" + bc + "\n", []string{"alice"}, nil},
		{"Duplicate", "alice:" + bc + "\nalice:" + bc + "\n", nil, []string{"line 2: user \"alice\": appears again (first on line 1)"}},
		{"NoColon", "alice\n", nil, []string{"line 1: no ':' between user and hash"}},
		{"EmptyUser", ":" + bc + "\n", nil, []string{"line 1: empty user name"}},
		{"NonUTF8User", "al\xffice:" + bc + "\n", nil, []string{"line 1: user name is not valid UTF-8"}},
		{"ControlInUser", "al\x01ice:" + bc + "\n", nil, []string{"line 1: user name has a control character"}},
		{"ColonInUserBecomesBadHash", "a:b:" + bc + "\n", nil, []string{`line 1: user "a": the password is plain text or in an unknown format`}},
		{"LongLine", "alice:" + strings.Repeat("x", MaxHtpasswdLine+1) + "\n", nil, []string{"longer than"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ParseHtpasswd(strings.NewReader(tc.in))
			var users []string
			for _, e := range entries {
				users = append(users, e.User)
			}
			if diff := cmp.Diff(tc.users, users); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if len(tc.probs) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, p := range tc.probs {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

func FuzzParseHtpasswd(f *testing.F) {
	for _, name := range []string{"good.htpasswd", "weak.htpasswd"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Add("a:b\n:\n\x00:\x00")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := ParseHtpasswd(strings.NewReader(in))
		if err != nil && entries != nil {
			t.Fatal("entries returned with an error")
		}
		for _, e := range entries {
			if e.User == "" || strings.Contains(e.User, ":") {
				t.Fatalf("bad user %q accepted", e.User)
			}
			if CheckPasswordHash(e.Hash) != nil {
				t.Fatalf("bad hash accepted for %q", e.User)
			}
		}
	})
}

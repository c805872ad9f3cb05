package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNetrcReportsEntriesWithoutPasswords(t *testing.T) {
	dir := t.TempDir()
	const file = `# comment
machine api.example.com login alice password "s3cret pass"
machine other.example.com
  login bob
  password hunter2
macdef init
machine api.evil.example.com login mallory password x

default login anon password guest
`
	path := filepath.Join(dir, "netrc")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name string
		host string
		env  map[string]string
		want NetrcFacts
	}{
		{"HostEntryWithPort", "api.example.com:443", map[string]string{"NETRC": path}, NetrcFacts{Present: true, Path: path, Login: true}},
		{"CaseInsensitiveHost", "OTHER.example.com", map[string]string{"NETRC": path}, NetrcFacts{Present: true, Path: path, Login: true}},
		{"MacroBodyIsNotAnEntry", "api.evil.example.com", map[string]string{"NETRC": path}, NetrcFacts{Present: true, Path: path, Login: true, Default: true}},
		{"DefaultEntry", "unlisted.example.com", map[string]string{"NETRC": path}, NetrcFacts{Present: true, Path: path, Login: true, Default: true}},
		{"NoFile", "api.example.com", map[string]string{"HOME": filepath.Join(dir, "nohome")}, NetrcFacts{}},
		{"NoHome", "api.example.com", map[string]string{}, NetrcFacts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Netrc(tt.host, env(tt.env))
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("Netrc (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetrcFindsHomeDotNetrcThenUnderscoreNetrc(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "_netrc"), []byte("machine h login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Netrc("h", func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	})
	if !got.Present || !strings.HasSuffix(got.Path, "_netrc") {
		t.Errorf("Netrc = %+v, want the _netrc entry", got)
	}
}

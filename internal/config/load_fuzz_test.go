package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dotenvSecret is the value of a variable every fuzzed .env file ends with: no problem
// may quote it unless the configuration or the rest of the .env holds it in plain sight.
const dotenvSecret = "zq8DOTENVSECRETzq8"

// FuzzLoadWithDotenv writes an arbitrary configuration and an arbitrary .env file next
// to it and calls Load, the path `gatehouse serve` and `gatehouse config check` take: it
// must never panic, must answer an *Error (or a plain error only for a file it could not
// read) whose problems are sorted and never quote a value defined in .env, and must only
// accept configurations that pass Validate. Oversized files are covered by the unit
// tests; the fuzzer's inputs stay far below MaxConfigBytes.
func FuzzLoadWithDotenv(f *testing.F) {
	good, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("GATEHOUSE_REALM=shop\nKEY_PEPPER=${FUZZ_DOTENV_SECRET}\nUPSTREAM=http://127.0.0.1:9\n"))
	f.Add([]byte(minimal), []byte(""))
	f.Add([]byte("realm: ${FUZZ_DOTENV_SECRET}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"), []byte("A='unterminated\n"))
	f.Add([]byte("realm: ${A}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"), []byte("A=\"x\\\"y\"\nexport B=1\n#c\nC\n"))
	f.Add([]byte("realm: x\nlog: {level: ${FUZZ_DOTENV_SECRET}}\nroutes: []\n"), []byte("\xff=1\n=2\nA B=3\n"))
	f.Fuzz(func(t *testing.T, cfg, dotenv []byte) {
		dir := t.TempDir()
		env := append(append(bytes.Clone(dotenv), '\n'), "FUZZ_DOTENV_SECRET="+dotenvSecret+"\n"...)
		path := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".env"), env, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, func(string) string { return "" })
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load error is %T, want *Error: %v", err, err)
			}
			ps := e.Problems()
			if len(ps) == 0 {
				t.Fatal("*Error with no problems")
			}
			for i, p := range ps {
				if p.Msg == "" {
					t.Errorf("problem %d has an empty message", i)
				}
				if p.Line < 0 || (i > 0 && p.Path == ps[i-1].Path && p.Line < ps[i-1].Line) {
					t.Errorf("problems not sorted by line: %v", ps)
				}
			}
			if strings.Contains(err.Error(), dotenvSecret) && !bytes.Contains(cfg, []byte(dotenvSecret)) && !bytes.Contains(dotenv, []byte(dotenvSecret)) {
				t.Fatalf("a problem quotes a value from .env:\n%v", err)
			}
			return
		}
		if len(c.Routes) == 0 || c.Realm == "" {
			t.Fatalf("accepted a configuration without routes or realm: %+v", c)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted what Validate refuses: %v", err)
		}
	})
}

package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// fuzzSecret is the value of ${SECRET} while fuzzing: no problem may quote it unless the
// input itself holds it.
const fuzzSecret = "zq7FUZZSECRETzq7"

func fuzzEnv(name string) string {
	switch name {
	case "SECRET":
		return fuzzSecret
	case "LISTEN":
		return "127.0.0.1:8081"
	case "EMPTY":
		return ""
	}
	return ""
}

// FuzzParse feeds arbitrary bytes to Parse: it must never panic or hang, must report
// problems only as an *Error with sorted, non-empty messages that never quote a value from
// the environment, and must only accept configurations that pass Validate. Seeds are in
// testdata/fuzz/FuzzParse; the fixtures are added too.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/good.yaml", "testdata/bad_many.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "", fuzzEnv)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error is %T, want *Error: %v", err, err)
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
			if strings.Contains(err.Error(), fuzzSecret) && !bytes.Contains(data, []byte(fuzzSecret)) {
				t.Fatalf("a problem quotes the value of ${SECRET}:\n%v", err)
			}
			return
		}
		if len(c.Routes) == 0 || c.Realm == "" {
			t.Fatalf("accepted a configuration without routes or realm: %+v", c)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		for _, n := range c.AuthenticatorNames() {
			if c.Fingerprint(n) == "" {
				t.Fatalf("no fingerprint for %q", n)
			}
		}
	})
}

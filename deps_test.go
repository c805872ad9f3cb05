// Repository-wide checks: the import graph of DESIGN/STYLE
// (the decision core at the bottom, the doctor independent of the gateway) and the
// presence of a doc comment on every package.
package gatehouse_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

// allowed maps each package (relative to the module) to the module packages it may
// import directly. A new package must be added here, which is the point: its place in
// the graph is a design decision, not an accident.
var allowed = map[string][]string{
	"internal/decision":              {},
	"internal/challenge":             {},
	"internal/tokens":                {},
	"internal/secret":                {},
	"internal/budget":                {"internal/decision"},
	"internal/proxy":                 {},
	"internal/editdist":              {},
	"internal/config":                {"internal/editdist"},
	"internal/logline":               {},
	"internal/buildinfo":             {},
	"internal/doctor/finding":        {},
	"internal/store":                 {"internal/decision"},
	"internal/store/sqlite":          {"internal/store"},
	"internal/store/postgres":        {"internal/store"},
	"internal/store/postgres/pgtest": {},
	"internal/store/storetest":       {"internal/store", "internal/secret"},
	"internal/verify/jwt":            {"internal/decision", "internal/tokens"},
	"internal/issuer":                {"internal/budget", "internal/decision", "internal/challenge", "internal/secret", "internal/store", "internal/tokens"},
	"internal/verify/apikey":         {"internal/decision", "internal/secret", "internal/store"},
	"internal/verify/basic":          {"internal/decision", "internal/secret", "internal/store", "internal/challenge"},
	"internal/verify/introspect":     {"internal/decision", "internal/secret", "internal/tokens"},
	"internal/verify/mtls":           {"internal/decision"},
	"internal/explain":               {"internal/gateway", "internal/decision"},
	"internal/admin":                 {"internal/config", "internal/decision", "internal/issuer", "internal/secret", "internal/store", "internal/tokens"},
	"internal/metrics":               {"internal/gateway", "internal/decision", "internal/buildinfo"},
	"internal/gateway":               {"internal/decision", "internal/proxy", "internal/challenge", "internal/budget", "internal/logline"},
	"internal/doctor/lint":           {"internal/doctor/finding", "internal/challenge", "internal/tokens", "internal/secret", "internal/editdist"},
	"internal/doctor/har":            {"internal/doctor/finding", "internal/doctor/lint", "internal/challenge", "internal/tokens"},
	"internal/doctor":                {"internal/doctor/finding", "internal/doctor/lint", "internal/doctor/har", "internal/challenge", "internal/tokens", "internal/decision"},
	"internal/app": {"internal/config", "internal/decision", "internal/gateway", "internal/proxy", "internal/tokens",
		"internal/verify/jwt", "internal/verify/apikey", "internal/verify/basic", "internal/verify/introspect",
		"internal/store", "internal/store/sqlite", "internal/store/postgres", "internal/secret", "internal/budget",
		"internal/verify/mtls", "internal/explain", "internal/metrics", "internal/issuer", "internal/logline", "internal/admin",
		"internal/buildinfo"},
	"cmd/gatehouse": nil, // the command may import anything
	"scripts/image": {},  // a release build tool, linked into no binary we ship
}

// onlyImporters lists third-party modules that exactly one package may import.
var onlyImporters = map[string]string{
	"github.com/go-jose/go-jose/v4":          "internal/tokens",
	"github.com/google/go-containerregistry": "scripts/image",
}

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportGraphFollowsTheDesign(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "" || strings.HasPrefix(rel, "bench") || strings.HasPrefix(rel, "test") {
			continue
		}
		allow, known := allowed[rel]
		if !known {
			t.Errorf("package %s is not in the import allow-list of deps_test.go: decide its place in the graph", rel)
			continue
		}
		for _, imp := range p.Imports {
			for mod, only := range onlyImporters {
				if strings.HasPrefix(imp, mod) && rel != only {
					t.Errorf("%s imports %s; only %s may", rel, imp, only)
				}
			}
			if !strings.HasPrefix(imp, module+"/") || allow == nil {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			ok := false
			for _, a := range allow {
				if a == dep {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which the design does not allow", rel, dep)
			}
		}
		if rel == "internal/decision" {
			for _, imp := range p.Imports {
				if strings.Contains(imp, ".") || imp == "net/http" {
					t.Errorf("the decision core imports %s; it must use the standard library only, without net/http", imp)
				}
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

// Repository-wide checks: the import graph of DESIGN/STYLE
// (the decision core at the bottom, the doctor independent of the gateway) and the
// presence of a doc comment on every package.
package gatehouse_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/gatehouse-dev/gatehouse"

// allowed maps each package (relative to the module) to the module packages it may
// import directly. A new package must be added here, which is the point: its place in
// the graph is a design decision, not an accident.
var allowed = map[string][]string{
	"internal/decision":              {},
	"internal/challenge":             {},
	"internal/tokenrules":            {}, // std-lib only: the rules both config and the verifiers apply
	"internal/tokens":                {"internal/tokenrules"},
	"internal/secret":                {},
	"internal/budget":                {"internal/decision"},
	"internal/proxy":                 {},
	"internal/editdist":              {},
	"internal/identity":              {}, // claim paths and header mappings, std-lib only
	"internal/config":                {"internal/editdist", "internal/identity", "internal/policy", "internal/tokenrules"},
	"internal/policy":                {"internal/decision", "internal/identity"},
	"internal/logline":               {},
	"internal/tracing":               {},
	"internal/buildinfo":             {},
	"internal/doctor/finding":        {},
	"internal/store":                 {"internal/decision"},
	"internal/store/sqlite":          {"internal/store"},
	"internal/store/postgres":        {"internal/store"},
	"internal/store/postgres/pgtest": {},
	"internal/store/storetest":       {"internal/store"},
	"internal/verify/jwt":            {"internal/decision", "internal/tokenrules", "internal/tokens", "internal/identity"},
	"internal/issuer":                {"internal/budget", "internal/decision", "internal/challenge", "internal/secret", "internal/store", "internal/tokens"},
	"internal/verify/apikey":         {"internal/decision", "internal/secret", "internal/store"},
	"internal/verify/basic":          {"internal/decision", "internal/secret", "internal/store", "internal/challenge"},
	"internal/verify/introspect":     {"internal/decision", "internal/secret", "internal/tokens", "internal/identity"},
	"internal/verify/mtls":           {"internal/decision"},
	"internal/explain":               {"internal/gateway", "internal/decision"},
	"internal/admin":                 {"internal/config", "internal/decision", "internal/issuer", "internal/secret", "internal/store", "internal/tokens"},
	"internal/metrics":               {"internal/gateway", "internal/decision", "internal/buildinfo"},
	"internal/gateway":               {"internal/decision", "internal/proxy", "internal/challenge", "internal/logline", "internal/tracing", "internal/identity"},
	"internal/doctor/lint":           {"internal/doctor/finding", "internal/challenge", "internal/tokens", "internal/editdist", "internal/secret"},
	"internal/doctor/shellwords":     {},
	"internal/extauthz":              {"internal/gateway", "internal/proxy"},
	"internal/doctor/har":            {"internal/doctor/finding", "internal/doctor/lint", "internal/challenge"},
	"internal/doctor":                {"internal/doctor/finding", "internal/doctor/lint", "internal/doctor/har", "internal/challenge", "internal/tokens", "internal/decision"},
	"internal/app": {"internal/config", "internal/decision", "internal/gateway", "internal/policy", "internal/proxy",
		"internal/verify/jwt", "internal/verify/apikey", "internal/verify/basic", "internal/verify/introspect",
		"internal/store", "internal/store/sqlite", "internal/store/postgres", "internal/secret", "internal/budget",
		"internal/verify/mtls", "internal/explain", "internal/metrics", "internal/issuer", "internal/logline", "internal/admin",
		"internal/buildinfo", "internal/tracing", "internal/extauthz", "internal/identity"},
	// The public client library: the same RFC 9110 challenge parser as the gateway and the
	// doctor (an internal package a public one of this module may import), and nothing of
	// the server, so a program that imports it links no gateway code.
	"client":        {"internal/challenge"},
	"cmd/gatehouse": nil, // the command may import anything
	"scripts/image": {},  // a release build tool, linked into no binary we ship
}

// onlyImporters lists third-party modules that exactly one package may import.
var onlyImporters = map[string]string{
	"github.com/go-jose/go-jose/v4":          "internal/tokens",
	"cel.dev/cel-go":                         "internal/policy",
	"github.com/google/go-containerregistry": "scripts/image",
	// Drives Debian's Chromium in the browser tests of the JavaScript client; only
	// cmd/gatehouse's tests import it, so no shipped binary links it.
	"github.com/chromedp/chromedp": "cmd/gatehouse",
	// The OTLP exporter (and the SDK behind it) is set up in one place; the rest of the
	// code sees only the tracing package and the OpenTelemetry API.
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp": "internal/tracing",
	"go.opentelemetry.io/otel/sdk":                                    "internal/tracing",
	// Envoy's generated protos (envoyproxy/go-control-plane, the module Envoy's own
	// project publishes them in) and the gRPC status message: the ext_authz service alone
	// speaks Envoy's API. google.golang.org/grpc itself is not listed: the listener
	// wiring in internal/app holds a *grpc.Server.
	"github.com/envoyproxy/go-control-plane":    "internal/extauthz",
	"google.golang.org/genproto/googleapis/rpc": "internal/extauthz",
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
	for _, problem := range graphProblems(listPackages(t), allowed, onlyImporters) {
		t.Error(problem)
	}
}

// graphProblems checks the packages against the allow-list both ways: every internal
// import must be allowed, and every allowance must be used. A permission that no import
// needs any more, or a package in the list that no longer exists, is an error too, so the
// list stays an exact picture of the graph rather than a growing set of old permissions.
func graphProblems(pkgs []pkg, allowed map[string][]string, onlyImporters map[string]string) []string {
	var problems []string
	seen := map[string]bool{}            // packages of the list that exist
	used := map[string]map[string]bool{} // allowed edges that some import uses
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "" || strings.HasPrefix(rel, "bench") || strings.HasPrefix(rel, "test") {
			continue
		}
		allow, known := allowed[rel]
		if !known {
			problems = append(problems, fmt.Sprintf("package %s is not in the import allow-list of deps_test.go: decide its place in the graph", rel))
			continue
		}
		seen[rel] = true
		for _, imp := range p.Imports {
			for mod, only := range onlyImporters {
				if strings.HasPrefix(imp, mod) && rel != only {
					problems = append(problems, fmt.Sprintf("%s imports %s; only %s may", rel, imp, only))
				}
			}
			if !strings.HasPrefix(imp, module+"/") || allow == nil {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !slices.Contains(allow, dep) {
				problems = append(problems, fmt.Sprintf("%s imports %s, which the design does not allow", rel, dep))
				continue
			}
			if used[rel] == nil {
				used[rel] = map[string]bool{}
			}
			used[rel][dep] = true
		}
		if rel == "internal/decision" {
			for _, imp := range p.Imports {
				if strings.Contains(imp, ".") || imp == "net/http" {
					problems = append(problems, fmt.Sprintf("the decision core imports %s; it must use the standard library only, without net/http", imp))
				}
			}
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(allowed)) {
		if !seen[rel] {
			problems = append(problems, fmt.Sprintf("package %s is in the import allow-list of deps_test.go but does not exist: remove it from the list", rel))
			continue
		}
		for _, dep := range allowed[rel] {
			if !used[rel][dep] {
				problems = append(problems, fmt.Sprintf("%s may import %s but does not: remove the unused permission from deps_test.go", rel, dep))
			}
		}
	}
	for mod, only := range onlyImporters {
		if !seen[only] {
			problems = append(problems, fmt.Sprintf("%s is the only package allowed to import %s but does not exist", only, mod))
		}
	}
	return problems
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

// TestGraphProblemsBothWays holds the checker itself to account on a small made-up graph:
// a forbidden edge, an unused permission, a listed package that does not exist and an
// unlisted package each give exactly one problem, and an exact list gives none.
func TestGraphProblemsBothWays(t *testing.T) {
	pk := func(rel string, imports ...string) pkg {
		p := pkg{ImportPath: module + "/" + rel}
		for _, imp := range imports {
			p.Imports = append(p.Imports, module+"/"+imp)
		}
		return p
	}
	pkgs := []pkg{pk("internal/a"), pk("internal/b", "internal/a")}
	tests := []struct {
		name    string
		pkgs    []pkg
		allowed map[string][]string
		want    []string
	}{
		{"exact", pkgs, map[string][]string{"internal/a": {}, "internal/b": {"internal/a"}}, nil},
		{"forbidden edge", pkgs, map[string][]string{"internal/a": {}, "internal/b": {}},
			[]string{"internal/b imports internal/a, which the design does not allow"}},
		{"unused permission", pkgs, map[string][]string{"internal/a": {"internal/b"}, "internal/b": {"internal/a"}},
			[]string{"internal/a may import internal/b but does not: remove the unused permission from deps_test.go"}},
		{"listed package gone", pkgs, map[string][]string{"internal/a": {}, "internal/b": {"internal/a"}, "internal/gone": {}},
			[]string{"package internal/gone is in the import allow-list of deps_test.go but does not exist: remove it from the list"}},
		{"unlisted package", pkgs, map[string][]string{"internal/b": {"internal/a"}},
			[]string{"package internal/a is not in the import allow-list of deps_test.go: decide its place in the graph"}},
		{"anything goes", []pkg{pk("cmd/x", "internal/a"), pk("internal/a")}, map[string][]string{"cmd/x": nil, "internal/a": {}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := graphProblems(tc.pkgs, tc.allowed, nil)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

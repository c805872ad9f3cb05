package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

func init() {
	register(command{name: "version", summary: "print the version, revision and Go version", run: runVersion})
}

const versionUsage = `Usage: gatehouse version [--json]
       gatehouse --version [--json]

Prints which Gatehouse this is: the module version (a release tag, a pseudo-version for
a build from another commit, or "(devel)"), the VCS revision and its time, "dirty" when
the tree had uncommitted changes, the Go version and the platform. --json prints the
same facts as one JSON object with the keys version, revision, time, dirty, go_version
and platform. The admin listener's /healthz and the gatehouse_build_info metric report
the same facts.

Flags:
`

// readBuildInfo is what the version command reports; tests replace it.
var readBuildInfo = buildinfo.Read

func runVersion(_ context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the facts as one JSON object")
	if code, ok := parseCommandFlags(fs, env, versionUsage, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse version: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	info := readBuildInfo()
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse version: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(env.stdout, info)
	return 0
}

// version is this build's module version in the form a User-Agent product version takes
// (the doctor and explain send "gatehouse-doctor/VERSION"): "(devel)" becomes "devel",
// and any character outside the token set of RFC 9110 is dropped.
var version = productVersion(buildinfo.Read().Version)

func productVersion(v string) string {
	if v == "(devel)" {
		return "devel"
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "devel"
	}
	return string(b)
}

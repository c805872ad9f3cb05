// Package buildinfo says which Gatehouse this is: the module version, the VCS revision and
// its time, whether the tree had uncommitted changes, and the Go version that built it.
//
// The facts come from runtime/debug.ReadBuildInfo, which the Go toolchain fills when it
// builds inside a checkout (a tagged commit gives its tag as the version, any other commit
// a pseudo-version). A release build sets them explicitly instead, because a build from a
// source archive, a container build context without .git, or a git worktree carries no
// VCS stamp:
//
//	go build -ldflags "-X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=v1.2.0 \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.revision=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.vcsTime=2026-12-07T22:00:00Z \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.dirty=false" ./cmd/gatehouse
//
// A value set with -ldflags wins over the one read from the build; an empty one is ignored.
// scripts/release.sh does exactly this. Nothing here is secret: the admin listener's
// /healthz and /metrics show it, and the public listener never does.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time with -X; see the package comment. They are strings because -X can only
// set strings; dirty takes "true" or "false".
var (
	version  string
	revision string
	vcsTime  string
	dirty    string
)

// Unknown stands for a fact the build did not record.
const Unknown = "unknown"

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the module version: a tag such as v1.2.0, a pseudo-version, or "(devel)"
	// for a build without version information.
	Version string `json:"version"`
	// Revision is the full VCS commit id, or Unknown.
	Revision string `json:"revision"`
	// Time is the commit time in RFC 3339 (UTC), or Unknown.
	Time string `json:"time"`
	// Dirty reports uncommitted changes in the tree the binary was built from.
	Dirty bool `json:"dirty"`
	// GoVersion is the Go toolchain that built the binary, such as go1.26.8.
	GoVersion string `json:"go_version"`
	// Platform is the GOOS/GOARCH the binary was built for.
	Platform string `json:"platform"`
}

// Read returns this binary's build facts.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(bi, overrides{version: version, revision: revision, time: vcsTime, dirty: dirty})
}

// overrides are the link-time values; an empty field keeps what the build recorded.
type overrides struct {
	version, revision, time, dirty string
}

func fromBuild(bi *debug.BuildInfo, o overrides) Info {
	info := Info{
		Version:   "(devel)",
		Revision:  Unknown,
		Time:      Unknown,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Dirty = s.Value == "true"
			}
		}
	}
	if v := strings.TrimSpace(o.version); v != "" {
		info.Version = v
	}
	if v := strings.TrimSpace(o.revision); v != "" {
		info.Revision = v
	}
	if v := strings.TrimSpace(o.time); v != "" {
		info.Time = v
	}
	switch strings.TrimSpace(o.dirty) {
	case "true":
		info.Dirty = true
	case "false":
		info.Dirty = false
	}
	return info
}

// String is the one line `gatehouse version` prints, for example
// "gatehouse v1.2.0 (revision 3f2c1a9b4d5e, 2026-12-07T22:00:00Z) go1.26.8 linux/amd64",
// with ", dirty" after the time when the tree had uncommitted changes.
func (i Info) String() string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	d := ""
	if i.Dirty {
		d = ", dirty"
	}
	return fmt.Sprintf("gatehouse %s (revision %s, %s%s) %s %s", i.Version, rev, i.Time, d, i.GoVersion, i.Platform)
}

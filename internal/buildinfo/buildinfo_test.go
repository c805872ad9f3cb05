package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuildPrefersLinkTimeValuesOverTheStamp(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "v0.0.0-20261207220000-3f2c1a9b4d5e+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233"},
			{Key: "vcs.time", Value: "2026-12-07T22:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		o    overrides
		want Info
	}{
		{"no build info at all", nil, overrides{},
			Info{Version: "(devel)", Revision: Unknown, Time: Unknown, GoVersion: runtime.Version(), Platform: platform}},
		{"a build without a VCS stamp", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, overrides{},
			Info{Version: "(devel)", Revision: Unknown, Time: Unknown, GoVersion: "go1.26.8", Platform: platform}},
		{"the toolchain's VCS stamp", stamped, overrides{},
			Info{Version: "v0.0.0-20261207220000-3f2c1a9b4d5e+dirty", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
				Time: "2026-12-07T22:00:00Z", Dirty: true, GoVersion: "go1.26.8", Platform: platform}},
		{"a release build sets every fact", stamped,
			overrides{version: "v1.2.0", revision: "aaaabbbbccccddddeeeeffff0000111122223333", time: "2026-12-08T09:00:00Z", dirty: "false"},
			Info{Version: "v1.2.0", Revision: "aaaabbbbccccddddeeeeffff0000111122223333",
				Time: "2026-12-08T09:00:00Z", Dirty: false, GoVersion: "go1.26.8", Platform: platform}},
		{"empty and unknown link-time values keep the stamp", stamped, overrides{version: " ", dirty: "maybe"},
			Info{Version: "v0.0.0-20261207220000-3f2c1a9b4d5e+dirty", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
				Time: "2026-12-07T22:00:00Z", Dirty: true, GoVersion: "go1.26.8", Platform: platform}},
		{"dirty set at link time", nil, overrides{version: "v1.2.0", dirty: "true"},
			Info{Version: "v1.2.0", Revision: Unknown, Time: Unknown, Dirty: true, GoVersion: runtime.Version(), Platform: platform}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fromBuild(tt.bi, tt.o)); diff != "" {
				t.Errorf("fromBuild (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStringIsOneLineWithEveryFact(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Version: "v1.2.0", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233", Time: "2026-12-07T22:00:00Z",
			GoVersion: "go1.26.8", Platform: "linux/arm64"},
			"gatehouse v1.2.0 (revision 3f2c1a9b4d5e, 2026-12-07T22:00:00Z) go1.26.8 linux/arm64"},
		{Info{Version: "(devel)", Revision: Unknown, Time: Unknown, Dirty: true, GoVersion: "go1.26.8", Platform: "darwin/arm64"},
			"gatehouse (devel) (revision unknown, unknown, dirty) go1.26.8 darwin/arm64"},
	}
	for _, tt := range tests {
		if got := tt.info.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

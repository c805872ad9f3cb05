package main

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const testPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func wantLabels(version, revision, created string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "gatehouse",
		"org.opencontainers.image.source":   "https://github.com/gatehouse-dev/gatehouse",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  created,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
}

// entry is one file of the image's layer, as a test sees it.
type entry struct {
	Mode     int64
	UID, GID int
	Dir      bool
	Body     string
}

// layerFiles reads the single layer of img.
func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = entry{Mode: h.Mode, UID: h.Uid, GID: h.Gid, Dir: h.Typeflag == tar.TypeDir, Body: string(b)}
	}
}

// checkConfig checks what a runtime reads from the image's configuration.
func checkConfig(t *testing.T, img v1.Image, arch, version, revision, created string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", cf.Config.User)
	}
	if diff := cmp.Diff([]string{"/gatehouse"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"serve", "--config", "/etc/gatehouse/gatehouse.yaml"}, cf.Config.Cmd); diff != "" {
		t.Errorf("cmd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels(version, revision, created), cf.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if got := cf.Created.UTC().Format(time.RFC3339); got != created {
		t.Errorf("created %s, want the commit time %s", got, created)
	}
}

func TestBuildMakesANonRootImageOfTheBinary(t *testing.T) {
	created := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	img, tag, err := Build(Options{Binary: []byte("\x7fELF fake"), CACerts: []byte(testPEM), OS: "linux", Arch: "arm64", Variant: "v8",
		Version: "v1.2.0", Revision: "3f2c1a9b", Created: created, Source: "https://github.com/gatehouse-dev/gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	if tag.String() != "ghcr.io/gatehouse-dev/gatehouse:v1.2.0" {
		t.Errorf("tag %s", tag)
	}
	checkConfig(t, img, "arm64", "v1.2.0", "3f2c1a9b", "2026-12-07T22:00:00Z")
	want := map[string]entry{
		"gatehouse":                         {Mode: 0o755, Body: "\x7fELF fake"},
		"etc/":                              {Mode: 0o755, Dir: true},
		"etc/gatehouse/":                    {Mode: 0o755, Dir: true},
		"etc/ssl/":                          {Mode: 0o755, Dir: true},
		"etc/ssl/certs/":                    {Mode: 0o755, Dir: true},
		"etc/ssl/certs/ca-certificates.crt": {Mode: 0o644, Body: testPEM},
		"tmp/":                              {Mode: 0o1777, Dir: true},
		"var/":                              {Mode: 0o755, Dir: true},
		"var/lib/":                          {Mode: 0o755, Dir: true},
		"var/lib/gatehouse/":                {Mode: 0o700, UID: 65532, GID: 65532, Dir: true},
	}
	if diff := cmp.Diff(want, layerFiles(t, img)); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}

	// The same inputs give the same image, byte for byte.
	again, _, err := Build(Options{Binary: []byte("\x7fELF fake"), CACerts: []byte(testPEM), OS: "linux", Arch: "arm64", Variant: "v8",
		Version: "v1.2.0", Revision: "3f2c1a9b", Created: created, Source: "https://github.com/gatehouse-dev/gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same inputs differ: %s and %s", d1, d2)
	}
}

func TestBuildRefusesWhatCannotMakeAnImage(t *testing.T) {
	good := Options{Binary: []byte("x"), CACerts: []byte(testPEM), OS: "linux", Arch: "amd64", Version: "v1.2.0"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"a version with +", func(o *Options) { o.Version = "v1.2.0+dirty" }, "cannot be an image tag"},
		{"a version with a slash", func(o *Options) { o.Version = "../v1" }, "cannot be an image tag"},
		{"a version starting with a dot", func(o *Options) { o.Version = ".v1" }, "cannot be an image tag"},
		{"an empty version", func(o *Options) { o.Version = "" }, "cannot be an image tag"},
		{"a darwin binary", func(o *Options) { o.OS = "darwin" }, "linux binaries only"},
		{"no binary", func(o *Options) { o.Binary = nil }, "binary is empty"},
		{"no CA certificates", func(o *Options) { o.CACerts = []byte("not pem") }, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, _, err := Build(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// dockerfileFinal returns the instructions of the Dockerfile's last stage, keyed by
// instruction, with continuation lines joined.
func dockerfileFinal(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	final := map[string][]string{}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			final = map[string][]string{}
		}
		final[instr] = append(final[instr], strings.TrimSpace(rest))
	}
	return final
}

// TestDockerfileAgreesWithTheImage holds the Dockerfile (for those with a container
// daemon) and scripts/image (for the release) to one user, entrypoint, command and set
// of labels.
func TestDockerfileAgreesWithTheImage(t *testing.T) {
	final := dockerfileFinal(t)
	if from := final["FROM"]; len(from) != 1 || !strings.HasPrefix(from[0], "gcr.io/distroless/static-") || !strings.HasSuffix(from[0], ":nonroot") {
		t.Errorf("final stage FROM %q, want a distroless static nonroot base", from)
	}
	if diff := cmp.Diff([]string{User}, final["USER"]); diff != "" {
		t.Errorf("USER (-image +Dockerfile):\n%s", diff)
	}
	for instr, want := range map[string][]string{"ENTRYPOINT": Entrypoint, "CMD": Cmd} {
		var got []string
		if len(final[instr]) != 1 || json.Unmarshal([]byte(final[instr][0]), &got) != nil {
			t.Errorf("%s %q: want one exec-form (JSON) line, since the base has no shell", instr, final[instr])
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-image +Dockerfile):\n%s", instr, diff)
		}
	}
	var keys []string
	for _, l := range final["LABEL"] {
		for _, f := range strings.Fields(l) {
			if k, _, ok := strings.Cut(f, "="); ok {
				keys = append(keys, k)
			}
		}
	}
	var want []string
	for k := range wantLabels("", "", "") {
		want = append(want, k)
	}
	less := func(a, b string) bool { return a < b }
	if diff := cmp.Diff(want, keys, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("LABEL keys (-image +Dockerfile):\n%s", diff)
	}
	if !strings.Contains(strings.Join(final["LABEL"], " "), `org.opencontainers.image.licenses="Apache-2.0"`) {
		t.Errorf("LABEL: the licence label is not Apache-2.0")
	}
}

// TestReleaseScriptForTheHost runs scripts/release.sh as a release would, restricted to
// the machine's own platform, then checks what it wrote: the checksums, the module list,
// the binary's reported version, and (on Linux) the image tarball and the binary inside it.
// The full cross-build is `scripts/release.sh --version vX.Y.Z` (docs/release.md).
func TestReleaseScriptForTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary (a minute or more with a cold build cache)")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		defer cancel()
	}
	statSources(t, filepath.Join("..", ".."))
	const version = "v0.0.0-releasetest"
	out := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "release.sh"), "--platforms", "host", "--version", version, "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}
	revision := ""
	if b, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
		revision = strings.TrimSpace(string(b))
	}

	bin := "gatehouse_" + version + "_" + runtime.GOOS + "_" + runtime.GOARCH
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	want := []string{bin, bin + ".modules.txt"}
	if runtime.GOOS == "linux" {
		want = append(want, bin+".image.tar")
	}

	// SHA256SUMS lists every artifact once, with its digest, in sha256sum's format.
	sums := map[string]string{}
	f, err := os.Open(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Errorf("SHA256SUMS line %q is not \"HEX  FILE\"", sc.Text())
			continue
		}
		if _, dup := sums[file]; dup {
			t.Errorf("SHA256SUMS lists %s twice", file)
		}
		sums[file] = sum
	}
	f.Close()
	var listed []string
	for file, sum := range sums {
		listed = append(listed, file)
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Errorf("SHA256SUMS lists %s: %v", file, err)
			continue
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s has digest %x, the file lists %s", file, got, sum)
		}
	}
	if diff := cmp.Diff(want, listed, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("SHA256SUMS files (-want +got):\n%s", diff)
	}

	// The module list is `go version -m` of a static, path-free build of the command,
	// and the image builder's module is not in the gateway.
	mods, err := os.ReadFile(filepath.Join(out, bin+".modules.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"\tpath\tgithub.com/gatehouse-dev/gatehouse/cmd/gatehouse\n",
		"\tdep\tgithub.com/prometheus/client_golang\t",
		"\tdep\tmodernc.org/sqlite\t",
		"\tbuild\tCGO_ENABLED=0\n",
		"\tbuild\t-trimpath=true\n",
		"\tbuild\tGOOS=" + runtime.GOOS + "\n",
		"\tbuild\tGOARCH=" + runtime.GOARCH + "\n",
	} {
		if !strings.Contains(string(mods), line) {
			t.Errorf("module list lacks %q:\n%s", line, mods)
		}
	}
	if strings.Contains(string(mods), "go-containerregistry") {
		t.Errorf("the gateway links the image builder's module:\n%s", mods)
	}

	checkVersion := func(t *testing.T, path string) {
		t.Helper()
		b, err := exec.CommandContext(ctx, path, "version", "--json").Output()
		if err != nil {
			t.Fatalf("%s version --json: %v", path, err)
		}
		var info struct{ Version, Revision, Platform string }
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatalf("version --json: %v\n%s", err, b)
		}
		if info.Version != version || info.Platform != runtime.GOOS+"/"+runtime.GOARCH || (revision != "" && info.Revision != revision) {
			t.Errorf("version --json: %s, want version %s, revision %q", b, version, revision)
		}
	}
	checkVersion(t, filepath.Join(out, bin))

	if runtime.GOOS != "linux" {
		return
	}
	t.Run("image", func(t *testing.T) {
		path := filepath.Join(out, bin+".image.tar")
		tag, err := name.NewTag(Repository + ":" + version)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(path, &tag)
		if err != nil {
			t.Fatalf("the tarball holds no image tagged %s: %v", tag, err)
		}
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil || len(m) != 1 {
			t.Fatalf("manifest.json: %v %v", m, err)
		}
		if diff := cmp.Diff([]string{tag.String()}, m[0].RepoTags); diff != "" {
			t.Errorf("RepoTags, which docker load tags the image with (-want +got):\n%s", diff)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, img, runtime.GOARCH, version, revision, cf.Config.Labels["org.opencontainers.image.created"])

		files := layerFiles(t, img)
		inImage := files[BinaryPath]
		binary, err := os.ReadFile(filepath.Join(out, bin))
		if err != nil {
			t.Fatal(err)
		}
		if inImage.Body != string(binary) || inImage.Mode != 0o755 || inImage.UID != 0 {
			t.Fatalf("/gatehouse in the image (mode %o, uid %d) is not the released binary, root-owned and 0755", inImage.Mode, inImage.UID)
		}
		if !strings.Contains(files[CACertPath].Body, "-----BEGIN CERTIFICATE-----") {
			t.Errorf("the image has no CA certificates at /%s", CACertPath)
		}
		extracted := filepath.Join(t.TempDir(), "gatehouse")
		if err := os.WriteFile(extracted, []byte(inImage.Body), 0o755); err != nil {
			t.Fatal(err)
		}
		checkVersion(t, extracted)
	})
}

// statSources looks at every file a release build reads (Go sources, go.mod, go.sum, the
// scripts). go test caches a result by the files the test itself touched, and the build
// runs in another process: without this, a cached pass would hide a change to the code.
func statSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".mod", ".sum", ".sh":
			_, err := os.Stat(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

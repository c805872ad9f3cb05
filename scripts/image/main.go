// Command image builds Gatehouse's container image without a container daemon: from an
// empty base, one layer holding the static binary at /gatehouse, the CA certificates
// (the gateway fetches key sets and introspects over HTTPS) and an empty
// /var/lib/gatehouse owned by the runtime user, with the same user, entrypoint, command
// and labels as the repository's Dockerfile. It writes a tarball that `docker load` (and
// podman, crane, skopeo) accepts, tagged ghcr.io/gatehouse-dev/gatehouse:VERSION.
//
// scripts/release.sh runs it for each Linux binary it builds; run by hand:
//
//	go run ./scripts/image --binary dist/gatehouse_v1.2.0_linux_amd64 --platform linux/amd64 \
//	  --version v1.2.0 --revision $(git rev-parse HEAD) --created 2026-12-07T22:00:00Z \
//	  --out dist/gatehouse_v1.2.0_linux_amd64.image.tar
//
// It is a build tool: the gateway never imports it, and it is the only package of the
// module that imports go-containerregistry.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Repository is the image's name; a tag is the release version.
const Repository = "ghcr.io/gatehouse-dev/gatehouse"

// The runtime identity: the non-root UID and GID distroless images call "nonroot". No
// /etc/passwd is needed for a numeric user.
const (
	UID  = 65532
	User = "65532:65532"
)

// What the container runs, as the Dockerfile says it too (TestDockerfileAgreesWithTheImage).
var (
	Entrypoint = []string{"/gatehouse"}
	Cmd        = []string{"serve", "--config", "/etc/gatehouse/gatehouse.yaml"}
)

// Paths inside the image.
const (
	BinaryPath = "gatehouse"
	CACertPath = "etc/ssl/certs/ca-certificates.crt"
	DataDir    = "var/lib/gatehouse"
)

// Options describe one image.
type Options struct {
	Binary   []byte    // the static linux gatehouse binary
	CACerts  []byte    // a PEM bundle of CA certificates
	OS, Arch string    // the binary's platform, e.g. linux and arm64
	Variant  string    // e.g. v8 for arm64; may be empty
	Version  string    // the release version; the image tag
	Revision string    // the VCS revision the binary was built from
	Created  time.Time // the commit time, so rebuilding gives the same image
	Source   string    // the repository URL for org.opencontainers.image.source
}

// versionTag is the form of an image tag (the registry's rule) that a release version
// must already have: no rewriting, so the tag is the version the binary reports.
var versionTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Build returns the image and its tag.
func Build(o Options) (v1.Image, name.Tag, error) {
	var problems []error
	if !versionTag.MatchString(o.Version) {
		problems = append(problems, fmt.Errorf("version %q cannot be an image tag: use letters, digits, '.', '_' and '-', at most 128, not starting with '.' or '-'", o.Version))
	}
	if o.OS != "linux" {
		problems = append(problems, fmt.Errorf("platform %s/%s: the image runs linux binaries only", o.OS, o.Arch))
	}
	if len(o.Binary) == 0 {
		problems = append(problems, errors.New("binary is empty"))
	}
	if !bytes.Contains(o.CACerts, []byte("-----BEGIN CERTIFICATE-----")) {
		problems = append(problems, errors.New("CA certificates: no PEM certificate in the bundle; the gateway could not verify any HTTPS key set"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, name.Tag{}, err
	}
	tag, err := name.NewTag(Repository+":"+o.Version, name.StrictValidation)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image tag: %w", err)
	}
	created := o.Created.UTC()
	layerTar, err := rootFS(o.Binary, o.CACerts, created)
	if err != nil {
		return nil, name.Tag{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "scripts/image: /gatehouse, CA certificates, /var/lib/gatehouse",
			Comment:   "static gatehouse " + o.Version,
		},
	})
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = o.OS, o.Arch, o.Variant
	cf.Created = v1.Time{Time: created}
	cf.Author = "The Gatehouse authors"
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		WorkingDir:   "/" + DataDir,
		Env:          []string{"SSL_CERT_FILE=/" + CACertPath},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "gatehouse",
			"org.opencontainers.image.source":   o.Source,
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.created":  created.Format(time.RFC3339),
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image config: %w", err)
	}
	return img, tag, nil
}

// rootFS is the layer: directories before their files, every entry owned by root except
// the data directory, modification times set to created.
func rootFS(binary, caCerts []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(p string, uid int, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: uid, Gid: uid,
			ModTime: created, Format: tar.FormatPAX})
	}
	file := func(p string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(b)),
			ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	steps := []func() error{
		func() error { return file(BinaryPath, 0o755, binary) },
		func() error { return dir("etc", 0, 0o755) },
		func() error { return dir("etc/gatehouse", 0, 0o755) },
		func() error { return dir("etc/ssl", 0, 0o755) },
		func() error { return dir("etc/ssl/certs", 0, 0o755) },
		func() error { return file(CACertPath, 0o644, caCerts) },
		func() error { return dir("tmp", 0, 0o1777) },
		func() error { return dir("var", 0, 0o755) },
		func() error { return dir("var/lib", 0, 0o755) },
		func() error { return dir(DataDir, UID, 0o700) },
		tw.Close,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	return buf.Bytes(), nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binary := fs.String("binary", "", "the static linux gatehouse `FILE`")
	platform := fs.String("platform", "", "the binary's `OS/ARCH[/VARIANT]`, such as linux/arm64")
	version := fs.String("version", "", "the release `VERSION`, which becomes the tag")
	revision := fs.String("revision", "", "the VCS `REVISION` the binary was built from")
	created := fs.String("created", "", "the commit `TIME` (RFC 3339); the image's creation time and every file's")
	caCerts := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "the CA certificate `BUNDLE` (PEM) to include")
	source := fs.String("source", "https://github.com/gatehouse-dev/gatehouse", "the repository `URL` for the source label")
	out := fs.String("out", "", "where to write the image `TARBALL` (docker load format)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *binary == "" || *platform == "" || *version == "" || *out == "" {
		fmt.Fprintln(stderr, "image: --binary, --platform, --version and --out are required, and nothing else")
		return 2
	}
	if err := build(*binary, *platform, *version, *revision, *created, *caCerts, *source, *out); err != nil {
		fmt.Fprintf(stderr, "image: %v\n", err)
		return 1
	}
	return 0
}

func build(binary, platform, version, revision, created, caCerts, source, out string) error {
	o := Options{Version: version, Revision: revision, Source: source}
	parts := strings.Split(platform, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("platform %q: want OS/ARCH or OS/ARCH/VARIANT", platform)
	}
	o.OS, o.Arch = parts[0], parts[1]
	if len(parts) == 3 {
		o.Variant = parts[2]
	}
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("created %q: want RFC 3339 such as 2026-12-07T22:00:00Z", created)
		}
		o.Created = t
	} else {
		o.Created = time.Unix(0, 0)
	}
	var err error
	if o.Binary, err = os.ReadFile(binary); err != nil {
		return err
	}
	if o.CACerts, err = os.ReadFile(caCerts); err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	img, tag, err := Build(o)
	if err != nil {
		return err
	}
	tmp := out + ".partial"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

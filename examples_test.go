// Documentation that is tested: every configuration under examples/, the configuration
// README.md shows, and the examples in docs/config.md (including the `gatehouse config
// check` output it quotes) must load, and those meant to run must also build.
package gatehouse_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

var update = flag.Bool("update", false, "rewrite the `gatehouse config check` output quoted in docs/config.md")

// noEnv is an empty process environment: examples must get every variable from the .env
// file beside them, so they never depend on the machine that runs the tests.
func noEnv(string) string { return "" }

// problemLines returns err's problems one per line, as `gatehouse config check` prints
// them, failing the test when err is not a *config.Error.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *config.Error listing problems", err, err)
	}
	var out []string
	for _, p := range ce.Problems() {
		out = append(out, p.Error())
	}
	return out
}

// mustLoad loads a configuration file, failing with every problem it has.
func mustLoad(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("load %s: %v", path, err)
		}
		t.Fatalf("%s does not load:\n%s", path, strings.Join(problemLines(t, err), "\n"))
	}
	return cfg
}

// mustBuild compiles a loaded configuration the way `gatehouse serve` does, so an example
// that validates but names something this build cannot run (an authenticator type that
// has not landed yet, say) fails. Nothing is fetched: JWKS URLs are read on first use.
func mustBuild(t *testing.T, name string, cfg *config.Config) {
	t.Helper()
	rt, err := app.Build(cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%s loads but does not build: %v", name, err)
	}
	rt.Close()
}

// isGatehouseConfig reports whether a YAML file is a Gatehouse configuration, as opposed
// to other YAML kept with the examples (Kubernetes manifests, Compose files): a
// configuration has a top-level routes key. realm and authenticators count too, so a
// configuration whose routes key is misspelled is still loaded, and fails, rather than
// being skipped. Every document of the file must parse, whatever it is.
func isGatehouseConfig(data []byte) (bool, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	found := false
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return false, err
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			switch m.Content[i].Value {
			case "routes", "realm", "authenticators":
				found = true
			}
		}
	}
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// TestEveryExampleLoads loads and builds every Gatehouse configuration under examples/, with
// an empty process environment, and checks that every other YAML file there parses.
func TestEveryExampleLoads(t *testing.T) {
	var configs []string
	err := filepath.WalkDir("examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		isConfig, err := isGatehouseConfig(data)
		switch {
		case err != nil:
			t.Errorf("%s is not valid YAML: %v", path, err)
		case isConfig:
			configs = append(configs, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk examples: %v", err)
	}
	// The walk must have found the examples README.md and docs/config.md point to.
	for _, want := range []string{"examples/gateway.yaml", "examples/hmac/gatehouse.yaml", "examples/env/gatehouse.yaml"} {
		if !slices.Contains(configs, want) {
			t.Errorf("%s was not found as a Gatehouse configuration (found %v)", want, configs)
		}
	}
	for _, path := range configs {
		t.Run(path, func(t *testing.T) {
			cfg := mustLoad(t, filepath.FromSlash(path))
			mustBuild(t, path, cfg)
			// Examples get copied and run as they are: they must never send traffic
			// anywhere but this machine.
			for _, r := range cfg.Routes {
				if r.Upstream == "" {
					continue
				}
				u, err := url.Parse(r.Upstream)
				if err != nil || !isLoopbackHost(u.Hostname()) {
					t.Errorf("route %q: upstream %q is not on a loopback address", r.Name, r.Upstream)
				}
			}
			if h, _, err := net.SplitHostPort(cfg.Listen); err != nil || !isLoopbackHost(h) {
				t.Errorf("listen %q: examples listen on loopback only", cfg.Listen)
			}
		})
	}
}

// readmeConfig returns the YAML README.md shows after "A minimal configuration".
func readmeConfig(t *testing.T) []byte {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(readme, []byte("A minimal configuration"))
	if !ok {
		t.Fatal(`README.md has no "A minimal configuration" paragraph`)
	}
	_, after, ok = bytes.Cut(after, []byte("```yaml\n"))
	if !ok {
		t.Fatal("README.md has no ```yaml block after \"A minimal configuration\"")
	}
	block, _, ok := bytes.Cut(after, []byte("\n```"))
	if !ok {
		t.Fatal("README.md's configuration block is not closed")
	}
	return append(block, '\n')
}

func TestReadmeExampleConfigLoads(t *testing.T) {
	cfg, err := config.Parse(readmeConfig(t), t.TempDir(), noEnv)
	if err != nil {
		t.Fatalf("README.md's configuration does not load:\n%s", strings.Join(problemLines(t, err), "\n"))
	}
	mustBuild(t, "README.md's configuration", cfg)
}

// TestReadmeExampleIsGatewayYAML guards README.md's claim that its configuration is
// examples/gateway.yaml: the two must mean the same, whatever their comments.
func TestReadmeExampleIsGatewayYAML(t *testing.T) {
	readme, err := config.Parse(readmeConfig(t), t.TempDir(), noEnv)
	if err != nil {
		t.Fatalf("README.md's configuration does not load: %v", err)
	}
	example := mustLoad(t, filepath.Join("examples", "gateway.yaml"))
	opts := cmp.Options{
		// Where each was read from, and the store path resolved against it, differ.
		cmpopts.IgnoreFields(config.Config{}, "File", "Dir", "Store"),
		cmpopts.IgnoreFields(config.Authenticator{}, "Line"),
		cmpopts.IgnoreFields(config.Route{}, "Line"),
		cmpopts.IgnoreUnexported(config.Config{}),
		cmp.Comparer(func(a, b config.Secret) bool { return bytes.Equal(a.Reveal(), b.Reveal()) }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(readme, example, opts); diff != "" {
		t.Errorf("README.md's configuration and examples/gateway.yaml differ (-README +example):\n%s", diff)
	}
}

// docBlock is a fenced code block of a Markdown file with the test marker before it.
type docBlock struct {
	marker string // the X of the "<!-- test: X -->" line before the fence; "" when none
	lang   string
	start  int // 0-based index of the first content line
	lines  []string
}

func (b docBlock) text() string { return strings.Join(b.lines, "\n") + "\n" }

var markerPrefix, markerSuffix = "<!-- test: ", " -->"

// docBlocks splits Markdown into its fenced code blocks.
func docBlocks(t *testing.T, lines []string) []docBlock {
	t.Helper()
	var blocks []docBlock
	marker := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m, ok := strings.CutPrefix(line, markerPrefix); ok && strings.HasSuffix(m, markerSuffix) {
			marker = strings.TrimSuffix(m, markerSuffix)
			continue
		}
		lang, ok := strings.CutPrefix(line, "```")
		if !ok {
			if strings.TrimSpace(line) != "" {
				marker = ""
			}
			continue
		}
		b := docBlock{marker: marker, lang: lang, start: i + 1}
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			b.lines = append(b.lines, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("docs/config.md: the block opened on line %d is not closed", b.start)
		}
		blocks = append(blocks, b)
		marker = ""
	}
	return blocks
}

// TestConfigDocExamplesAreCurrent checks docs/config.md against the code:
//
//   - every yaml block parses as YAML, fragments included;
//   - a block marked <!-- test: loads --> is a complete configuration that loads, and one
//     marked <!-- test: builds --> also builds;
//   - blocks marked <!-- test: file NAME --> are written to a folder, and the block
//     marked <!-- test: output -->, which starts with "$ gatehouse config check NAME",
//     must be exactly what checking NAME there prints (go test -run ConfigDoc -update
//     rewrites it).
func TestConfigDocExamplesAreCurrent(t *testing.T) {
	const doc = "docs/config.md"
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	blocks := docBlocks(t, lines)
	dir := t.TempDir()
	var output *docBlock
	counts := map[string]int{}
	for i, b := range blocks {
		where := doc + ":" + strconv.Itoa(b.start+1)
		kind, arg, _ := strings.Cut(b.marker, " ")
		counts[kind]++
		if b.lang == "yaml" && kind != "file" {
			if _, err := isGatehouseConfig([]byte(b.text())); err != nil {
				t.Errorf("%s: the yaml block does not parse: %v", where, err)
			}
		}
		switch kind {
		case "":
		case "loads", "builds":
			cfg, err := config.Parse([]byte(b.text()), t.TempDir(), noEnv)
			if err != nil {
				t.Errorf("%s: the configuration does not load:\n%s", where, strings.Join(problemLines(t, err), "\n"))
				continue
			}
			if kind == "builds" {
				if rt, err := app.Build(cfg, app.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
					t.Errorf("%s: the configuration loads but does not build: %v", where, err)
				} else {
					rt.Close()
				}
			}
		case "file":
			if arg == "" || strings.ContainsAny(arg, `/\`) {
				t.Fatalf("%s: marker %q needs a plain file name", where, b.marker)
			}
			if err := os.WriteFile(filepath.Join(dir, arg), []byte(b.text()), 0o600); err != nil {
				t.Fatal(err)
			}
		case "output":
			output = &blocks[i]
		default:
			t.Errorf("%s: unknown test marker %q", where, b.marker)
		}
	}
	if counts["builds"] == 0 || counts["file"] == 0 || output == nil {
		t.Fatalf("%s lost its tested examples (markers found: %v, output block: %v)", doc, counts, output != nil)
	}

	if len(output.lines) == 0 {
		t.Fatalf("%s:%d: the output block is empty", doc, output.start+1)
	}
	file, ok := strings.CutPrefix(output.lines[0], "$ gatehouse config check ")
	if !ok {
		t.Fatalf("%s:%d: the output block must start with \"$ gatehouse config check FILE\"", doc, output.start+1)
	}
	// Problems name the file as given, so load it by that name from its folder.
	t.Chdir(dir)
	_, err = config.Load(file, noEnv)
	if err == nil {
		t.Fatalf("%s:%d: %s loads without problems; the example is meant to be broken", doc, output.start+1, file)
	}
	got := problemLines(t, err)
	if *update {
		newLines := slices.Concat(lines[:output.start+1], got, lines[output.start+len(output.lines):])
		if err := os.WriteFile(filepath.Join(repoRoot(t), doc), []byte(strings.Join(newLines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(output.lines[1:], got); diff != "" {
		t.Errorf("%s:%d: the quoted `gatehouse config check` output is stale (-doc +now); go test -run ConfigDoc -update rewrites it:\n%s",
			doc, output.start+1, diff)
	}
}

// repoRoot is the module root, where go test starts this package; saved before any
// t.Chdir.
var repoRootDir, repoRootErr = os.Getwd()

func repoRoot(t *testing.T) string {
	t.Helper()
	if repoRootErr != nil {
		t.Fatal(repoRootErr)
	}
	return repoRootDir
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

const observabilityDir = "../../examples/observability"

// TestObservabilityRulesWithPromtool checks the example alerting rules with Debian's
// promtool (package prometheus) and runs their unit tests (alerts_test.yaml).
func TestObservabilityRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = observabilityDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var metricNameRe = regexp.MustCompile(`\bgatehouse_[a-z0-9_]+`)

// referencedMetrics returns every gatehouse_ metric name in the example rules' and
// dashboard's queries.
func referencedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	refs := map[string][]string{}
	rules, err := os.ReadFile(filepath.Join(observabilityDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.Contains(line, "summary:") || strings.Contains(line, "description:") {
			continue // prose may name metrics to look at; the queries must be right
		}
		for _, n := range metricNameRe.FindAllString(line, -1) {
			refs[n] = append(refs[n], "alerts.yaml")
		}
	}
	raw, err := os.ReadFile(filepath.Join(observabilityDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title, Type string
			Targets     []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	for _, e := range exprs {
		for _, n := range metricNameRe.FindAllString(e, -1) {
			refs[n] = append(refs[n], "grafana-dashboard.json")
		}
	}
	if len(refs) < 10 {
		t.Fatalf("only %d metric names found in the examples: the extraction is broken", len(refs))
	}
	return refs
}

// TestObservabilityMetricsExist runs the real binary with a JWKS URL, a token service
// and a proxied route, sends a few requests, and checks that every metric name the
// example rules and dashboard query is a series the binary's /metrics serves.
func TestObservabilityMetricsExist(t *testing.T) {
	refs := referencedMetrics(t)

	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks := tokens.PublicJWKS(key)
	idp := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	})}
	idpLn := listenLoopback(t)
	go idp.Serve(idpLn)
	t.Cleanup(func() { idp.Close() })
	api, hits := startAPI(t)
	os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("s", 48)+"\n"), 0o600)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
authenticators:
  corp_jwt:
    type: jwt
    issuer: %s
    audience: [%s]
    algorithms: [ES256]
    jwks_url: http://%s/jwks
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [corp_jwt]
token_service:
  issuer: https://auth.orders.example
  signing_key_secret_file: signing.key
`, e2eIssuer, e2eAudience, idpLn.Addr(), api)
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	base, admin := "http://"+m[1], "http://"+m[2]

	now := time.Now()
	tok, err := signer.Sign(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, base+"/orders", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("allowed request: %d", resp.StatusCode)
	}
	<-hits
	if resp, _ := get(t, base+"/orders"); resp.StatusCode != 401 {
		t.Fatalf("request without a credential: %d", resp.StatusCode)
	}

	resp, err := httpClient().Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		served[line[:strings.IndexAny(line, "{ ")]] = true
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range refs {
			if !yield(n) {
				return
			}
		}
	}) {
		if !served[name] {
			t.Errorf("%s (used by %s) is not served by /metrics", name, strings.Join(slices.Compact(refs[name]), ", "))
		}
	}
	// The values of what these requests did: one proxied 2xx, one refusal, nothing in
	// flight (the scrape is on the admin listener), the token service's series at 0.
	for _, want := range []string{
		`gatehouse_upstream_responses_total{class="2xx",route="api"} 1`,
		`gatehouse_upstream_duration_seconds_count{route="api"} 1`,
		`gatehouse_requests_in_flight 0`,
		`gatehouse_token_requests_total{grant="client_credentials",result="issued"} 0`,
		`gatehouse_decisions_total{authenticator="",reason="credentials_missing",result="deny",route="api"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^gatehouse_jwks_age_seconds\{authenticator="corp_jwt"\} \d`).Match(body) {
		t.Error("no key set age for corp_jwt")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

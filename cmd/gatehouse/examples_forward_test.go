package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// The Traefik and Kubernetes examples are YAML that no Traefik or cluster reads in CI:
// these tests hold their pieces together instead (the nginx example runs for real in
// forward_e2e_test.go). For Kubernetes, every document must be a Kubernetes object; the
// ConfigMap's configuration must load and build; and the names, ports and paths that tie
// the ConfigMap, Deployment, Service, NetworkPolicy and Ingress together must agree.

// k8sObject is one manifest document.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string      { s, _ := dig(o.doc, "kind").(string); return s }
func (o k8sObject) name() string      { s, _ := dig(o.doc, "metadata", "name").(string); return s }
func (o k8sObject) namespace() string { s, _ := dig(o.doc, "metadata", "namespace").(string); return s }

// dig walks maps by key and lists by index ("0"); nil when the path does not exist.
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// loadManifests decodes every document of every YAML file in dir.
func loadManifests(t *testing.T, dir string) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var objs []k8sObject
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 0; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			if doc == nil {
				continue // an empty document (comments before the first ---)
			}
			objs = append(objs, k8sObject{file: filepath.Base(f), doc: doc})
		}
	}
	return objs
}

// deploymentEnv is the environment the Deployment gives the container: the pod's
// address, and the Secret's store DSN and Redis URL (secretEnv names which key of the
// Secret each comes from).
func deploymentEnv(store string) func(string) string {
	return func(name string) string {
		switch name {
		case "POD_IP":
			return "10.244.1.7"
		case "GATEHOUSE_STORE_DSN":
			return store
		case "GATEHOUSE_REDIS_URL":
			return "redis://127.0.0.1:6379/15"
		}
		return ""
	}
}

var secretEnv = map[string]string{"GATEHOUSE_STORE_DSN": "store-dsn", "GATEHOUSE_REDIS_URL": "redis-url"}

func TestExampleKubernetesManifests(t *testing.T) {
	objs := loadManifests(t, filepath.Join("..", "..", "examples", "kubernetes"))
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		where := o.file + ": " + o.kind() + " " + o.name()
		if v, _ := dig(o.doc, "apiVersion").(string); v == "" {
			t.Errorf("%s: no apiVersion", where)
		}
		if o.kind() == "" || o.name() == "" {
			t.Errorf("%s: every object needs kind and metadata.name", where)
		}
		byKind[o.kind()] = append(byKind[o.kind()], o)
	}
	one := func(kind string) k8sObject {
		t.Helper()
		if len(byKind[kind]) != 1 {
			t.Fatalf("want one %s, found %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0]
	}
	cm, dep, svc, pol, ing := one("ConfigMap"), one("Deployment"), one("Service"), one("NetworkPolicy"), one("Ingress")
	pdb := one("PodDisruptionBudget")
	for _, o := range []k8sObject{cm, dep, svc, pol, pdb} {
		if o.namespace() != dep.namespace() || o.namespace() == "" {
			t.Errorf("%s %s is in namespace %q, the Deployment in %q", o.kind(), o.name(), o.namespace(), dep.namespace())
		}
	}

	// The configuration loads with the environment the Deployment provides, and builds.
	// The store is the Secret's PostgreSQL DSN; the build below uses a SQLite file in
	// its place (store_e2e_test.go runs replicas on a real PostgreSQL).
	text, _ := dig(cm.doc, "data", "gatehouse.yaml").(string)
	pgCfg, err := config.Parse([]byte(text), t.TempDir(), deploymentEnv("postgres://gatehouse@postgres.db:5432/gatehouse?sslmode=verify-full"))
	if err != nil {
		t.Fatalf("the ConfigMap's gatehouse.yaml does not load: %v", err)
	}
	if pgCfg.Store.Driver != config.StorePostgres || pgCfg.StoreOutageGrace <= 0 {
		t.Errorf("the replicas do not share a PostgreSQL store with an outage grace: %+v, grace %v", pgCfg.Store.Driver, pgCfg.StoreOutageGrace)
	}
	cfg, err := config.Parse([]byte(text), t.TempDir(), deploymentEnv("sqlite://"+filepath.Join(t.TempDir(), "k8s.db")))
	if err != nil {
		t.Fatalf("the ConfigMap's gatehouse.yaml does not load: %v", err)
	}
	rt, err := app.Build(cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("the ConfigMap's gatehouse.yaml loads but does not build: %v", err)
	}
	rt.Close()
	for _, missing := range []string{"POD_IP", "GATEHOUSE_STORE_DSN", "GATEHOUSE_REDIS_URL"} {
		env := func(name string) string {
			if name == missing {
				return ""
			}
			return deploymentEnv("sqlite://k8s.db")(name)
		}
		if _, err := config.Parse([]byte(text), t.TempDir(), env); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s the configuration should fail naming it, got %v", missing, err)
		}
	}
	for _, r := range cfg.Routes {
		if r.Upstream != "" {
			t.Errorf("route %q has an upstream; behind ingress-nginx Gatehouse only decides", r.Name)
		}
	}
	if len(cfg.TrustedProxies) == 0 {
		t.Errorf("no trusted_proxies: the controller could not call the decide endpoint")
	}
	_, listenPort, _ := net.SplitHostPort(cfg.Listen)
	adminHost, adminPort, _ := net.SplitHostPort(cfg.AdminListen)
	if adminHost != deploymentEnv("")("POD_IP") {
		t.Errorf("admin_listen %q is not on the pod IP the kubelet probes", cfg.AdminListen)
	}

	// The Deployment runs that file, with POD_IP, and probes the admin listener.
	c := dig(dep.doc, "spec", "template", "spec", "containers", "0")
	if c == nil {
		t.Fatal("the Deployment has no container")
	}
	volume := dig(dep.doc, "spec", "template", "spec", "volumes", "0")
	mount := dig(c, "volumeMounts", "0")
	if dig(volume, "configMap", "name") != cm.name() || dig(mount, "name") != dig(volume, "name") {
		t.Errorf("the Deployment mounts %v as %v, not the ConfigMap %s", dig(volume, "configMap", "name"), dig(mount, "name"), cm.name())
	}
	args, _ := dig(c, "args").([]any)
	wantConfig := dig(mount, "mountPath").(string) + "/gatehouse.yaml"
	if i := slices.Index(args, any("--config")); i < 0 || i+1 >= len(args) || args[i+1] != wantConfig {
		t.Errorf("args %v do not name --config %s", args, wantConfig)
	}
	if dig(c, "env", "0", "name") != "POD_IP" || dig(c, "env", "0", "valueFrom", "fieldRef", "fieldPath") != "status.podIP" {
		t.Errorf("POD_IP is not set from status.podIP: %v", dig(c, "env"))
	}
	fromSecret := map[string]string{}
	for _, e := range dig(c, "env").([]any) {
		if key, ok := dig(e, "valueFrom", "secretKeyRef", "key").(string); ok {
			fromSecret[dig(e, "name").(string)] = key
		}
	}
	if diff := cmp.Diff(secretEnv, fromSecret); diff != "" {
		t.Errorf("the DSN and Redis URL must come from the Secret (-want +Deployment):\n%s", diff)
	}

	// Three replicas, spread over nodes, rolled one at a time; the disruption budget
	// keeps a majority serving and selects the same pods.
	if n, _ := dig(dep.doc, "spec", "replicas").(int); n < 3 {
		t.Errorf("replicas = %d, want at least 3", n)
	}
	if dig(dep.doc, "spec", "strategy", "rollingUpdate", "maxUnavailable") != 0 {
		t.Errorf("a rollout may take a ready replica away before its replacement is ready")
	}
	anti := dig(dep.doc, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "0", "podAffinityTerm")
	if dig(anti, "topologyKey") != "kubernetes.io/hostname" {
		t.Errorf("no pod anti-affinity across nodes: %v", anti)
	}
	ports := map[string]string{}
	for _, p := range dig(c, "ports").([]any) {
		ports[dig(p, "name").(string)] = strconv.Itoa(dig(p, "containerPort").(int))
	}
	if diff := cmp.Diff(map[string]string{"http": listenPort, "admin": adminPort}, ports); diff != "" {
		t.Errorf("container ports (-configuration +Deployment):\n%s", diff)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if dig(c, probe, "httpGet", "path") != path || dig(c, probe, "httpGet", "port") != "admin" {
			t.Errorf("%s %v, want %s on the admin port", probe, dig(c, probe), path)
		}
	}
	labels := dig(dep.doc, "spec", "template", "metadata", "labels")
	if diff := cmp.Diff(dig(dep.doc, "spec", "selector", "matchLabels"), labels); diff != "" {
		t.Errorf("the Deployment's selector does not select its pods:\n%s", diff)
	}

	if diff := cmp.Diff(labels, dig(anti, "labelSelector", "matchLabels")); diff != "" {
		t.Errorf("the anti-affinity does not select the Deployment's pods:\n%s", diff)
	}
	if diff := cmp.Diff(labels, dig(pdb.doc, "spec", "selector", "matchLabels")); diff != "" {
		t.Errorf("the PodDisruptionBudget does not select the Deployment's pods:\n%s", diff)
	}
	if min, _ := dig(pdb.doc, "spec", "minAvailable").(int); min < 2 || min >= dig(dep.doc, "spec", "replicas").(int) {
		t.Errorf("PodDisruptionBudget minAvailable %v: want at least 2 and fewer than the replicas, so drains can proceed", min)
	}

	// The Service and the NetworkPolicy reach those pods on the public port.
	if diff := cmp.Diff(labels, dig(svc.doc, "spec", "selector")); diff != "" {
		t.Errorf("the Service does not select the Deployment's pods:\n%s", diff)
	}
	if dig(svc.doc, "spec", "ports", "0", "targetPort") != "http" {
		t.Errorf("the Service targets %v, not the http port", dig(svc.doc, "spec", "ports", "0", "targetPort"))
	}
	svcPort := strconv.Itoa(dig(svc.doc, "spec", "ports", "0", "port").(int))
	if diff := cmp.Diff(labels, dig(pol.doc, "spec", "podSelector", "matchLabels")); diff != "" {
		t.Errorf("the NetworkPolicy does not select the Deployment's pods:\n%s", diff)
	}
	if got := dig(pol.doc, "spec", "ingress", "0", "ports", "0", "port"); got == nil || strconv.Itoa(got.(int)) != listenPort {
		t.Errorf("the NetworkPolicy opens port %v, Gatehouse listens on %s", got, listenPort)
	}

	// The Ingress asks that Service, on the configured path, and passes the identity on.
	authURL, _ := dig(ing.doc, "metadata", "annotations", "nginx.ingress.kubernetes.io/auth-url").(string)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("auth-url %q: %v", authURL, err)
	}
	wantHost := svc.name() + "." + svc.namespace() + ".svc.cluster.local:" + svcPort
	if u.Host != wantHost || u.Path != cfg.ForwardAuth.Path {
		t.Errorf("auth-url %s, want http://%s%s", authURL, wantHost, cfg.ForwardAuth.Path)
	}
	headers, _ := dig(ing.doc, "metadata", "annotations", "nginx.ingress.kubernetes.io/auth-response-headers").(string)
	want := []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator, proxy.HeaderRequestID}
	if diff := cmp.Diff(want, strings.Split(headers, ",")); diff != "" {
		t.Errorf("auth-response-headers (-want +got):\n%s", diff)
	}
}

func TestExampleTraefikMatchesItsGatehouse(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "traefik")
	cfg, err := config.Load(filepath.Join(dir, "gatehouse.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("examples/traefik/gatehouse.yaml: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "dynamic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dyn map[string]any
	if err := yaml.Unmarshal(raw, &dyn); err != nil {
		t.Fatal(err)
	}
	fa := dig(dyn, "http", "middlewares", "gatehouse", "forwardAuth")
	if fa == nil {
		t.Fatal("dynamic.yaml has no gatehouse forwardAuth middleware")
	}
	addr, _ := dig(fa, "address").(string)
	if want := "http://" + cfg.Listen + cfg.ForwardAuth.Path; addr != want {
		t.Errorf("forwardAuth.address %q, want %q (listen and forward_auth.path)", addr, want)
	}
	if dig(fa, "trustForwardHeader") != false {
		t.Errorf("trustForwardHeader must be false: with true a client names the request Gatehouse decides")
	}
	var got []string
	for _, h := range dig(fa, "authResponseHeaders").([]any) {
		got = append(got, h.(string))
	}
	want := []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator, proxy.HeaderRequestID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authResponseHeaders (-want +got):\n%s", diff)
	}
	// Traefik compiles the regex with Go's regexp and matches canonical header names.
	re, err := regexp.Compile(dig(fa, "authResponseHeadersRegex").(string))
	if err != nil {
		t.Fatalf("authResponseHeadersRegex: %v", err)
	}
	for name, match := range map[string]bool{
		"X-Gatehouse-Subject": true, "X_gatehouse_subject": true, "X.Gatehouse.Scopes": true, "X-Gatehouse-Whatever": true,
		"X-Gatehousey": false, "Authorization": false, "X-Request-Id": false,
	} {
		if re.MatchString(name) != match {
			t.Errorf("authResponseHeadersRegex matches %s: %v, want %v", name, !match, match)
		}
	}
	for _, p := range cfg.TrustedProxies {
		if !p.Addr().IsLoopback() {
			t.Errorf("trusted_proxies %s: Traefik runs on this machine in the example", p)
		}
	}
	// The routers send the metadata path to Gatehouse and everything else through it.
	if mw, _ := dig(dyn, "http", "routers", "orders-api", "middlewares").([]any); !slices.Contains(mw, any("gatehouse")) {
		t.Errorf("the API's router does not use the gatehouse middleware")
	}
	gh, _ := dig(dyn, "http", "services", "gatehouse", "loadBalancer", "servers", "0", "url").(string)
	if gh != "http://"+cfg.Listen {
		t.Errorf("the gatehouse service is %q, Gatehouse listens on %s", gh, cfg.Listen)
	}
}

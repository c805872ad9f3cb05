package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"io"
)

// installPeers tries `go install` of Caddy and oauth2-proxy once each, into dir.
func installPeers(ctx context.Context, dir string) {
	for _, mod := range []string{caddyModule, oauth2Module} {
		logf("go install %s (GOBIN=%s)", mod, dir)
		ictx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		cmd := execGo(ictx, dir, "install", mod)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			logf("go install %s failed (the row is skipped): %v\n%s", mod, err, tail(string(out), 2000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// peerRows starts Caddy and oauth2-proxy when their binaries are found, and returns
// their rows (skipped rows say why).
func peerRows(o options, work, upstream string, is *issuer) []*row {
	var rows []*row
	if bin := findPeer("caddy", o.peersDir); bin == "" {
		rows = append(rows, &row{key: "caddy", name: "Caddy reverse_proxy", skip: "caddy not installed (go run ./bench -install-peers, or go install " + caddyModule + ")"})
	} else {
		const user, pass = "bench", "bench-password-for-caddy"
		p, plain, basic, err := startCaddy(bin, work, upstream, user, pass)
		if err != nil {
			rows = append(rows, &row{key: "caddy", name: "Caddy reverse_proxy", skip: firstLine(err.Error())})
		} else {
			rows = append(rows,
				&row{key: "caddy", name: "Caddy reverse_proxy", url: plain + "/", expect: 200, pid: p.pid},
				&row{key: "caddy-basic", name: "Caddy basic_auth (bcrypt, cached) + reverse_proxy", url: basic + "/",
					headers: []string{"Authorization: Basic " + b64(user+":"+pass)}, expect: 200, pid: p.pid})
		}
	}
	if bin := findPeer("oauth2-proxy", o.peersDir); bin == "" {
		rows = append(rows, &row{key: "oauth2-proxy", name: "oauth2-proxy JWT RS256", skip: "oauth2-proxy not installed (go run ./bench -install-peers, or go install " + oauth2Module + ")"})
	} else {
		const clientID = "bench-client"
		tok, err := is.rs.Sign(claims(upstream, clientID, 7))
		if err != nil {
			return append(rows, &row{key: "oauth2-proxy", name: "oauth2-proxy JWT RS256", skip: err.Error()})
		}
		p, url, err := startOAuth2Proxy(bin, filepath.Join(work), upstream, upstream, clientID)
		if err != nil {
			rows = append(rows, &row{key: "oauth2-proxy", name: "oauth2-proxy JWT RS256", skip: firstLine(err.Error())})
		} else {
			rows = append(rows, &row{key: "oauth2-proxy", name: "oauth2-proxy JWT RS256 (skip_jwt_bearer_tokens)", url: url + "/",
				headers: []string{"Authorization: Bearer " + tok}, expect: 200, pid: p.pid})
		}
	}
	return rows
}

// profiler takes a CPU profile of the gateway during a row and allocation profiles
// before and after it (compare them with `go tool pprof -base`).
type profiler struct {
	base, dir, key string
	done           chan struct{}
}

func startProfile(base, dir, key string, d time.Duration) *profiler {
	p := &profiler{base: base, dir: dir, key: key, done: make(chan struct{})}
	fetchTo(base+"/debug/pprof/allocs", filepath.Join(dir, key+".allocs.before.pprof"))
	secs := max(int(d.Seconds())-1, 1)
	go func() {
		defer close(p.done)
		fetchTo(base+"/debug/pprof/profile?seconds="+itoa(secs), filepath.Join(dir, key+".cpu.pprof"))
	}()
	return p
}

func (p *profiler) finish() {
	<-p.done
	fetchTo(p.base+"/debug/pprof/allocs", filepath.Join(p.dir, p.key+".allocs.after.pprof"))
}

func fetchTo(url, path string) {
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		logf("profile %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

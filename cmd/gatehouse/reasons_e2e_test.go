package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTheTrueReasonReachesTheClientTheLogAndExplain: an API key sent to a route without an
// api_key authenticator, and a JWT from an issuer the route does not trust, get the
// reason docs/reasons.md names, and the decision log and `gatehouse explain` carry the
// same reason and detail as the response.
func TestTheTrueReasonReachesTheClientTheLogAndExplain(t *testing.T) {
	e := startOpsGateway(t, 0)
	now := time.Now()
	stranger, err := e.signer.Sign(map[string]any{"iss": "https://stranger.example", "aud": e2eAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tokOut, err := execCommand(ctx, "admin-tokens", "create", "--config", e.cfgPath, "--name", "ops", "--json")
	var tok struct{ Token string }
	if err != nil || json.Unmarshal([]byte(tokOut), &tok) != nil {
		t.Fatalf("admin-tokens create: %v\n%s", err, tokOut)
	}
	tokFile := filepath.Join(e.dir, "admin-token")
	os.WriteFile(tokFile, []byte(tok.Token), 0o600)

	tests := []struct {
		name      string
		headers   []string
		reason    string
		detail    string
		challenge string
	}{
		{"API key to a route without api_key", []string{"X-API-Key", "gk_live_abc_secret"}, "scheme_not_accepted",
			"this route accepts Bearer tokens, not API keys", `Bearer realm="orders", resource_metadata=`},
		{"JWT from an issuer the route does not trust", []string{"Authorization", "Bearer " + stranger}, "token_issuer_mismatch",
			"issuer is https://stranger.example, this API expects " + e2eIssuer, `error="invalid_token"`},
		{"nothing", nil, "credentials_missing", "no credentials were sent", `Bearer realm="orders", resource_metadata=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, e.base+"/orders", tt.headers...)
			var p struct{ Reason, Detail string }
			if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 401 || p.Reason != tt.reason || p.Detail != tt.detail {
				t.Fatalf("status %d body %s, want 401 %s %q", resp.StatusCode, body, tt.reason, tt.detail)
			}
			if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, tt.challenge) && !strings.Contains(wa, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", wa, tt.challenge)
			}
			rid := resp.Header.Get("X-Request-Id")
			line := e.proc.waitFor(t, regexp.MustCompile(`\{[^\n]*"request_id":"`+regexp.QuoteMeta(rid)+`"[^\n]*\}`))[0]
			// The log line carries the reason and the log-only cause, not the detail.
			var logged struct{ Reason string }
			if err := json.Unmarshal([]byte(line), &logged); err != nil || logged.Reason != tt.reason {
				t.Errorf("log line %s, want reason %s", line, tt.reason)
			}
			out, err := execCommand(ctx, "explain", rid, "--admin", e.admin, "--admin-token-file", tokFile, "--json")
			var entry struct{ Reason, Detail string }
			if err != nil || json.Unmarshal([]byte(out), &entry) != nil || entry.Reason != tt.reason || entry.Detail != tt.detail {
				t.Errorf("explain: %v\n%s\nwant reason %s detail %q", err, out, tt.reason, tt.detail)
			}
			if strings.Contains(out, "gk_live_abc_secret") || strings.Contains(line, "gk_live_abc_secret") || strings.Contains(out+line, stranger) {
				t.Errorf("a credential reached the log or explain")
			}
		})
	}
}

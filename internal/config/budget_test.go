package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFailureBudgetRedisURL(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
	}{
		{"plain", "redis://127.0.0.1:6379/0", ""},
		{"tls with password", "rediss://user:hunter2@redis.internal:6380/3", ""},
		{"no database", "redis://127.0.0.1:6379", ""},
		{"bad scheme", "http://:hunter2@127.0.0.1:6379/0", "unsupported redis URL scheme"},
		{"unix sockets are not offered", "unix:///run/redis.sock", "unsupported redis URL scheme"},
		{"no host", "redis://:hunter2@/0", "no host"},
		{"database is not a number", "redis://:hunter2@127.0.0.1:6379/cache", "database number"},
		{"does not parse", "redis://:hunter2@127.0.0.1:6379/0\x7f%zz", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "realm: r\nfailure_budget: {redis: \"" + strings.ReplaceAll(tt.url, "\x7f", `\x7f`) + "\"}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"
			c, err := Parse([]byte(yaml), t.TempDir(), func(string) string { return "" })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if string(c.FailureBudget.Redis) != tt.url {
					t.Errorf("redis = %q, want %q", c.FailureBudget.Redis, tt.url)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted %q", tt.url)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Line != 2 || !strings.HasPrefix(ps[0].Msg, "failure_budget.redis: ") || !strings.Contains(ps[0].Msg, tt.wantErr) {
				t.Errorf("problems = %v, want one at failure_budget.redis saying %q", ps, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}

func TestRedisURLNeverPrintsItsPassword(t *testing.T) {
	r := RedisURL("redis://gatehouse:hunter2@127.0.0.1:6379/1")
	j, err := json.Marshal(FailureBudget{Redis: r})
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"String": r.String(), "JSON": string(j), "LogValue": r.LogValue().String()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "127.0.0.1:6379/1") {
			t.Errorf("%s = %q", what, s)
		}
	}
}

func TestFailureBudgetRedisTimeout(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    time.Duration
		problem bool
	}{
		{"250ms", 250 * time.Millisecond, false},
		{"0s", 0, false},
		{"-1s", 0, true},
		{"10s", 0, true},
	} {
		yaml := "realm: r\nfailure_budget: {redis: 'redis://127.0.0.1:6379/0', redis_timeout: " + tt.value + "}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"
		c, err := Parse([]byte(yaml), t.TempDir(), func(string) string { return "" })
		if tt.problem {
			if err == nil || !strings.Contains(err.Error(), "failure_budget.redis_timeout") {
				t.Errorf("redis_timeout %s: %v, want a problem at failure_budget.redis_timeout", tt.value, err)
			}
			continue
		}
		if err != nil || c.FailureBudget.RedisTimeout != tt.want {
			t.Errorf("redis_timeout %s = %v, %v; want %v", tt.value, c.FailureBudget.RedisTimeout, err, tt.want)
		}
	}
}

//go:build !doctorshim

package doctor

import (
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/lint"
)

// This file is the doctor's only contact with internal/doctor/lint, so the P0 step reads
// as one list of calls.

// lintInput mirrors lint.Input.
type lintInput struct {
	HeaderName, Value, Source string
	TargetHost                string
	ServerSchemes             []string
	TokenEndpoint             bool
	BasicCharset              string
}

func lintCredential(in lintInput) []finding.Finding {
	return lint.Credential(lint.Input{
		HeaderName:    in.HeaderName,
		Value:         in.Value,
		Source:        in.Source,
		TargetHost:    in.TargetHost,
		ServerSchemes: in.ServerSchemes,
		TokenEndpoint: in.TokenEndpoint,
		BasicCharset:  in.BasicCharset,
	})
}

// lintReadEnv reads name from an env file; found is false when the file does not define
// it (the findings then say why, e.g. a near-miss name).
func lintReadEnv(path, name string) (value string, found bool, fs []finding.Finding, err error) {
	r, fs, err := lint.ReadEnv(path, name)
	if err != nil {
		return "", false, fs, err
	}
	if r == nil || r.Line == 0 {
		return "", false, fs, nil
	}
	return r.Value, true, fs, nil
}

func lintNetrc(host string, getenv func(string) string) (present bool, path string) {
	n := lint.Netrc(host, getenv)
	if n == nil {
		return false, ""
	}
	return n.Present, n.Path
}

func lintProxy(target *url.URL, getenv func(string) string) *ProxyFacts {
	p := lint.Proxy(target, getenv)
	if p == nil {
		return nil
	}
	return &ProxyFacts{
		Var: p.Var, URL: p.URL, HasCredentials: p.HasCredentials, PercentEncoded: p.PercentEncoded,
		NeedsEncoding: p.NeedsEncoding, Bypassed: p.Bypassed, NoProxy: p.NoProxy, ReadBy: p.ReadBy,
	}
}

// redact is lint.Redact: first and last four characters, length and a short SHA-256.
func redact(v string) string { return lint.Redact(v) }

// escape is lint.Escape: control characters and non-ASCII written as Go escapes.
func escape(s string) string { return lint.Escape(s) }

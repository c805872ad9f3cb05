package doctor

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// fakeGatehouse answers like the gateway's deny (docs/design.md, section 2): the reason's
// status, Bearer and Basic challenges, a problem+json body with the reason, X-Request-Id.
func fakeGatehouse(t *testing.T, reason decision.Reason, detail string) string {
	t.Helper()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		status := reason.Status()
		h := w.Header()
		switch {
		case status == 401:
			errp := ""
			if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
				errp = `, error="invalid_token", error_description="` + detail + `"`
			}
			h.Add("WWW-Authenticate", `Bearer realm="orders-api"`+errp+`, resource_metadata="http://`+r.Host+`/.well-known/oauth-protected-resource"`)
			h.Add("WWW-Authenticate", `Basic realm="orders-api", charset="UTF-8"`)
		case status == 400:
			h.Add("WWW-Authenticate", `Bearer realm="orders-api", error="invalid_request"`)
		case status == 403 && reason == decision.InsufficientScope:
			h.Add("WWW-Authenticate", `Bearer realm="orders-api", error="insufficient_scope", scope="orders:admin"`)
		case status == 429 || status == 503:
			h.Set("Retry-After", "30")
		}
		if r.URL.Path == "/.well-known/oauth-protected-resource" {
			_, _ = w.Write([]byte(`{"resource":"http://` + r.Host + `"}`))
			return
		}
		h.Set("Content-Type", "application/problem+json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Request-Id", "01HV3K8Z6Q")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type":  "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/reasons.md#" + string(reason),
			"title": reason.Title(), "status": status, "detail": detail, "reason": string(reason), "request_id": "01HV3K8Z6Q",
		})
	})
	return srv.URL + "/orders"
}

func TestGatehouseReasonIsAuthoritative(t *testing.T) {
	jwt := makeJWT(nil, claims(nil))
	tests := []struct {
		reason  decision.Reason
		headers []Header
		user    string
		want    string
	}{
		{reason: decision.CredentialsMissing, want: "credential_missing_or_empty"},
		{reason: decision.CredentialsMissing, headers: []Header{bearer(jwt)}, want: "cdn_or_proxy_drops_authorization"},
		{reason: decision.CredentialsMissing, headers: []Header{{Name: "X-Orders-Key", Value: "k3y0123456789abcdefghij"}}, want: "api_key_wrong_place"},
		{reason: decision.SchemeNotAccepted, headers: []Header{{Name: "Authorization", Value: "Token k3y0123456789abcdefghij"}}, want: "scheme_name_or_case_mismatch"},
		{reason: decision.CredentialsMalformed, headers: []Header{bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOi")}, want: "truncated_or_masked_credential"},
		{reason: decision.TokenExpired, headers: []Header{bearer(jwt)}, want: "jwt_expired"},
		{reason: decision.TokenNotYetValid, headers: []Header{bearer(jwt)}, want: "jwt_not_yet_valid_clock_skew"},
		{reason: decision.TokenSignatureInvalid, headers: []Header{bearer(jwt)}, want: "jwt_signing_key_unknown"},
		{reason: decision.TokenKeyUnknown, headers: []Header{bearer(jwt)}, want: "jwt_signing_key_unknown"},
		{reason: decision.TokenAlgorithmRejected, headers: []Header{bearer(jwt)}, want: "jwt_alg_mismatch"},
		{reason: decision.TokenIssuerMismatch, headers: []Header{bearer(jwt)}, want: "jwt_issuer_or_tenant_mismatch"},
		{reason: decision.TokenAudienceMismatch, headers: []Header{bearer(jwt)}, want: "jwt_audience_mismatch"},
		{reason: decision.TokenRevoked, headers: []Header{bearer(jwt)}, want: "credential_rejected_unknown"},
		{reason: decision.TokenInactive, headers: []Header{bearer("opaqueToken0123456789abcdef")}, want: "credential_rejected_unknown"},
		{reason: decision.APIKeyInvalid, headers: []Header{{Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}, want: "credential_rejected_unknown"},
		{reason: decision.APIKeyRevoked, headers: []Header{{Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}, want: "credential_rejected_unknown"},
		{reason: decision.APIKeyExpired, headers: []Header{{Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}, want: "credential_rejected_unknown"},
		{reason: decision.CredentialsWrongEnvironment, headers: []Header{{Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}, want: "wrong_environment_or_account_credential"},
		{reason: decision.CredentialsInvalid, user: "alice:wonderland", want: "credential_rejected_unknown"},
		{reason: decision.ClientCertificateMissing, want: "mtls_client_certificate_missing"},
		{reason: decision.ClientCertificateInvalid, want: "mtls_client_certificate_missing"},
		{reason: decision.InvalidRequest, headers: []Header{bearer(jwt), {Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}, want: "proxy_auth_layer_conflict"},
		{reason: decision.InsufficientScope, headers: []Header{bearer(jwt)}, want: "insufficient_scope_or_permission"},
		{reason: decision.Forbidden, headers: []Header{bearer(jwt)}, want: "insufficient_scope_or_permission"},
		{reason: decision.TooManyFailures, headers: []Header{bearer(jwt)}, want: "rate_limit_disguised_as_auth"},
		{reason: decision.AuthenticatorUnavailable, headers: []Header{bearer(jwt)}, want: CodeAuthenticatorUnavailable},
		{reason: decision.RouteNotFound, headers: []Header{bearer(jwt)}, want: CodeRouteNotFound},
		{reason: decision.MethodNotAllowed, headers: []Header{bearer(jwt)}, want: CodeMethodNotAllowed},
		{reason: decision.PathRejected, headers: []Header{bearer(jwt)}, want: CodePathRejected},
	}
	covered := map[decision.Reason]bool{}
	for _, tc := range tests {
		covered[tc.reason] = true
		name := string(tc.reason) + "/" + tc.want
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := baseOptions(fakeGatehouse(t, tc.reason, "detail for "+string(tc.reason)))
			o.Headers = tc.headers
			if tc.user != "" {
				o.UserPass, o.HasUserPass = tc.user, true
			}
			r := runDoctor(t, o)
			if r.Verdict != tc.want {
				t.Fatalf("verdict = %q, want %q; findings %v", r.Verdict, tc.want, codes(r.Findings))
			}
			ev := evidenceText(&r.Findings[0])
			if !strings.Contains(ev, "Gatehouse reason: "+string(tc.reason)) || !strings.Contains(ev, "request id: 01HV3K8Z6Q") {
				t.Errorf("evidence does not cite the gateway's reason and request id:\n%s", ev)
			}
			if !strings.Contains(r.Findings[0].Fix, "gatehouse explain 01HV3K8Z6Q") {
				t.Errorf("fix does not point at gatehouse explain: %s", r.Findings[0].Fix)
			}
		})
	}
	for _, reason := range decision.Reasons {
		if !covered[reason] {
			t.Errorf("reason %s has no test", reason)
		}
		if _, ok := gatehouseReason[reason]; !ok {
			t.Errorf("reason %s is not mapped", reason)
		}
		if gatehouseSummary[reason] == "" {
			t.Errorf("reason %s has no summary", reason)
		}
	}
}

func TestGatehouseExpiredTokenShowsBothClocks(t *testing.T) {
	o := baseOptions(fakeGatehouse(t, decision.TokenExpired, "expired 4m12s ago"))
	o.Now = func() time.Time { return testNow.Add(-3 * time.Second) }
	o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"exp": testNow.Add(-252 * time.Second).Unix()})))}
	r := runDoctor(t, o)
	f := findingByCode(r, "jwt_expired")
	if f == nil {
		t.Fatalf("no jwt_expired; %v", codes(r.Findings))
	}
	ev := evidenceText(f)
	for _, want := range []string{"exp 2026-03-14T09:22:41Z", "before the server's Date 2026-03-14T09:26:53Z", "local clock 2026-03-14T09:26:50Z", "detail: expired 4m12s ago"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
}

func TestGatehouseUpstreamFailureIsNotACredentialProblem(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(502)
		_, _ = w.Write([]byte(`{"type":"x","title":"Upstream unavailable","status":502,"detail":"the upstream could not be reached","reason":"upstream_unavailable","request_id":"01HV3K8Z6Q"}`))
	})
	o := baseOptions(srv.URL + "/orders")
	o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
	r := runDoctor(t, o)
	if r.Verdict != CodeUpstreamUnavailable {
		t.Fatalf("verdict %q; %v", r.Verdict, codes(r.Findings))
	}
}

// TestGatehouseFixesNameItsKnobs: against a Gatehouse, the fix names the configuration
// setting to change.
func TestGatehouseFixesNameItsKnobs(t *testing.T) {
	jwt := makeJWT(nil, claims(nil))
	for reason, want := range map[decision.Reason]string{
		decision.TokenAudienceMismatch:  "audience setting",
		decision.TokenIssuerMismatch:    "issuer setting",
		decision.TokenAlgorithmRejected: "algorithms setting",
	} {
		t.Run(string(reason), func(t *testing.T) {
			o := baseOptions(fakeGatehouse(t, reason, "detail"))
			o.Headers = []Header{bearer(jwt)}
			r := runDoctor(t, o)
			if !strings.Contains(r.Findings[0].Fix, want) {
				t.Errorf("fix %q does not name %q", r.Findings[0].Fix, want)
			}
		})
	}
}

package doctor

import (
	"net"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Group H: challenge-driven and transport-level authentication.
var transportChecks = []check{
	{"missing_www_authenticate_challenge", checkMissingChallenge},
	{"digest_auth_failure", checkDigest},
	{"ntlm_negotiate_handshake_broken", checkNTLM},
	{"mtls_client_certificate_missing", checkMTLS},
	{"challenge_unparseable", checkUnparseable},
}

func checkMissingChallenge(f *Facts) *finding.Finding {
	if challengeNeverComes(f) {
		x := f.ChallengeProbe
		ev := []string{
			"a client that waits for the server's challenge (" + escape(f.ChallengeFirst) + ") first sends the request without the credential, and the doctor did the same: " + statusLine(x.Resp) + " with no WWW-Authenticate header",
			"so that client never learns which scheme to use and never sends your credential",
		}
		if r := f.credResp(); r != nil {
			ev = append(ev, "sent preemptively, the credential gets "+statusLine(r)+cond(r.Status/100 == 2, ": the credential itself works", ""))
		}
		return newFinding("missing_www_authenticate_challenge", scoreProof,
			"The server answers 401 without a WWW-Authenticate challenge, and your client ("+escape(f.ChallengeFirst)+") sends the credential only when challenged: it never sends it.",
			"Send the credential preemptively: curl -u user:pass without --anyauth or --digest (Basic), git with the "+
				"credential in the URL's helper, Ansible uri with force_basic_auth: yes, .NET with the Authorization "+
				"header set yourself. Server owners: add a WWW-Authenticate header to every 401 (RFC 9110 requires one).",
			ev...)
	}
	var r *Response
	which := ""
	switch {
	case f.credResp() != nil && f.credResp().Status == 401:
		r, which = f.credResp(), "the response"
	case f.Anon != nil && f.Anon.Resp != nil && f.Anon.Resp.Status == 401:
		r, which = f.Anon.Resp, "the anonymous control"
	}
	if r == nil || len(r.Header.Values("WWW-Authenticate")) > 0 {
		return nil
	}
	score := scoreContributor
	if which != "the response" {
		score = scoreContributor - 5
	}
	return newFinding("missing_www_authenticate_challenge", score,
		"The server answers 401 without a WWW-Authenticate header, so it never says which authentication it wants.",
		"Clients that wait for a challenge never send credentials to this server: curl --anyauth, --digest or "+
			"--negotiate, git, Ansible uri without force_basic_auth, .NET credential caches, browsers. Send the "+
			"credential preemptively (curl -u, Ansible force_basic_auth: yes). Server owners: add a WWW-Authenticate "+
			"header to every 401 (RFC 9110 requires one).",
		which+" is "+statusLine(r)+" with no WWW-Authenticate header")
}

// digestAlgorithms are the algorithms RFC 7616 defines (and MD5, which it keeps).
var digestAlgorithms = map[string]bool{
	"md5": true, "md5-sess": true, "sha-256": true, "sha-256-sess": true, "sha-512-256": true, "sha-512-256-sess": true,
}

func digestChallenge(r *Response) *challenge.Challenge {
	if r == nil {
		return nil
	}
	for i := range r.Challenges {
		if strings.EqualFold(r.Challenges[i].Scheme, "Digest") {
			return &r.Challenges[i]
		}
	}
	return nil
}

func checkDigest(f *Facts) *finding.Finding {
	r := f.credResp()
	dc := digestChallenge(r)
	if dc == nil || r.Status != 401 {
		return nil
	}
	param := func(n string) string { v, _ := dc.Param(n); return v }
	ev := []string{"Digest challenge: realm " + orMissing(param("realm")) + ", qop " + orMissing(param("qop")) +
		", algorithm " + orMissing(cond(param("algorithm") != "", param("algorithm"), "MD5 (default)")) +
		cond(param("userhash") != "", ", userhash "+escape(param("userhash")), "") +
		cond(param("opaque") != "", ", with opaque", "")}
	onlyDigest := true
	for _, c := range r.Challenges {
		if !strings.EqualFold(c.Scheme, "Digest") {
			onlyDigest = false
		}
	}
	c := f.primary()
	score := 0
	summary := ""
	fix := "The server requires HTTP Digest authentication (realm " + escape(param("realm")) + "). Use a Digest-capable client: curl --digest -u user:pass, requests HTTPDigestAuth."
	switch {
	case strings.EqualFold(param("stale"), "true"):
		score = scoreStrong + 5
		summary = "The server says the Digest nonce is stale: the credentials were right, the nonce expired."
		fix = "Retry with the new nonce from this challenge (a Digest client does this automatically on stale=true); nothing is wrong with the password."
		ev = append(ev, "stale=true")
	case param("algorithm") != "" && !digestAlgorithms[strings.ToLower(param("algorithm"))]:
		score = scoreStrong - 5
		summary = "The server offers a Digest algorithm most clients do not implement (" + escape(param("algorithm")) + ")."
		ev = append(ev, "algorithm "+escape(param("algorithm"))+" is not one of MD5, SHA-256, SHA-512-256 (or their -sess forms)")
	case c == nil || !c.IsAuthorization():
		if onlyDigest {
			score = scoreStrong
			summary = "The server accepts only Digest authentication, and the request carried no Digest credentials."
		}
	case !strings.EqualFold(c.Scheme, "Digest") && onlyDigest:
		score = scoreStrong + 8
		summary = "The server requires Digest, and your client sent " + escape(c.Scheme) + "."
		ev = append(ev, "sent: "+sentCredentialLine(f))
	case strings.EqualFold(c.Scheme, "Digest"):
		sent, err := challenge.ParseCredentials(c.Value)
		if err == nil {
			if uri, ok := sent.Param("uri"); ok {
				target := f.LastCredentialed.URL.RequestURI()
				if uri != target {
					score = scoreStrong + 5
					summary = "The Digest response was computed for another URI than the one requested."
					ev = append(ev, "uri in the credentials: "+escape(uri)+", request target: "+escape(target)+" (a proxy rewrote the path, or a redirect changed it)")
					fix = "Compute the Digest response for the exact request target; when a proxy rewrites the path or a redirect moves it, let the client redo the handshake against the final URL."
					break
				}
			}
		}
		score = scoreLikely - 5
		summary = "The server refused the Digest credentials (the nonce was not stale, so the user name or password is wrong, or the response was computed differently)."
		fix = "Check the user name and password for realm " + escape(param("realm")) + ", and that the client supports the qop and algorithm offered."
	}
	if score == 0 {
		return nil
	}
	return newFinding("digest_auth_failure", score, summary, fix, ev...)
}

func checkNTLM(f *Facts) *finding.Finding {
	r := f.credResp()
	if r == nil || r.Status != 401 || !(hasScheme(r, "NTLM") || hasScheme(r, "Negotiate")) {
		return nil
	}
	ev := []string{challengeLine(r)}
	broken := 0
	ex := f.LastCredentialed
	if ex == nil {
		ex = f.Final
	}
	if ex != nil && strings.HasPrefix(ex.Conn.Proto, "HTTP/2") {
		broken++
		ev = append(ev, "the connection uses HTTP/2 (ALPN h2); NTLM and Negotiate need HTTP/1.1, because they authenticate the connection")
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Connection")), "close") {
		broken++
		ev = append(ev, "the 401 carries Connection: close, so the next leg of the handshake must use a new connection and starts over")
	}
	if net.ParseIP(f.Target.Hostname()) != nil {
		broken++
		ev = append(ev, "the target is an IP address: Kerberos needs the server's DNS name for its SPN, so Negotiate falls back to NTLM or fails")
	}
	if c := f.primary(); c != nil && (strings.EqualFold(c.Scheme, "NTLM") || strings.EqualFold(c.Scheme, "Negotiate")) {
		ev = append(ev, "a "+escape(c.Scheme)+" token was sent and the server still answered 401")
		broken++
	}
	if ex != nil {
		ev = append(ev, "connection reused for this request: "+cond(ex.Conn.Reused, "yes", "no"))
	}
	score := scoreContributor + 10
	if broken > 0 {
		score = scoreStrong
	} else {
		ev = append(ev, "the doctor does not run the NTLM/Negotiate handshake itself; curl --ntlm -v (or --negotiate) shows whether legs 2 and 3 reuse one connection (\"Re-using existing connection\"), which would settle it")
	}
	return newFinding("ntlm_negotiate_handshake_broken", score,
		"The server wants NTLM or Negotiate, a handshake that only works when all its legs use one HTTP/1.1 connection.",
		"NTLM and Negotiate work only when every leg of the handshake uses the same connection. Something in "+
			"between (a load balancer or proxy without keep-alive or connection pinning, or HTTP/2) breaks that. "+
			"Use the server's real DNS name (for Kerberos), HTTP/1.1, and a proxy that keeps one upstream "+
			"connection per client.",
		ev...)
}

func checkMTLS(f *Facts) *finding.Finding {
	hs := f.hits("mtls_client_certificate_missing")
	var req *Exchange
	for _, h := range f.Hops {
		if h.Ex.Conn.ClientCertRequested {
			req = h.Ex
			break
		}
	}
	var ev []string
	score := 0
	summary := "The server requires a client TLS certificate, and none was presented."
	if req != nil && req.Conn.ClientCertSent {
		// --cert was given and presented: "missing" is ruled out unless the server refused
		// it, which is then the cause.
		ev = append(ev, "the server asked for a client certificate (TLS CertificateRequest) and the one from --cert was presented")
		if len(req.Conn.AcceptableCAs) > 0 {
			ev = append(ev, "acceptable CAs: "+escape(strings.Join(req.Conn.AcceptableCAs, "; ")))
		}
		switch {
		case req.ErrKind == ErrTLS:
			score = scoreProof
			summary = "The server refused the client certificate that was presented (--cert)."
			ev = append(ev, "the handshake then failed: "+errText(req))
		case req.Resp != nil && (req.Resp.Status == 495 || req.Resp.Status == 496 || len(hs) > 0):
			// nginx verifies after the handshake (ssl_verify_client on) and answers its
			// own 400 "The SSL certificate error" page for an untrusted certificate.
			score = scoreProof
			summary = "The server refused the client certificate that was presented (--cert)."
			ev = append(ev, "the server then answered "+statusLine(req.Resp))
			ev = append(ev, hitEvidence(hs)...)
			hs = nil
		default:
			hs = nil // the certificate went through; a body that mentions certificates is not this
		}
	} else if req != nil {
		ev = append(ev, "the server sent a TLS CertificateRequest during the handshake (it asked for a client certificate) and none was sent")
		if len(req.Conn.AcceptableCAs) > 0 {
			ev = append(ev, "acceptable CAs: "+escape(strings.Join(req.Conn.AcceptableCAs, "; ")))
		}
		switch {
		case req.ErrKind == ErrTLS:
			score = scoreProof
			ev = append(ev, "the handshake then failed: "+errText(req))
		case req.Resp != nil && (isAuthFailure(req.Resp.Status) || req.Resp.Status == 400 || req.Resp.Status == 495 || req.Resp.Status == 496):
			score = scoreStrong + 5
			ev = append(ev, "the server then answered "+statusLine(req.Resp))
		}
	}
	if len(hs) > 0 {
		score = max(score, scoreProof)
		ev = append(ev, hitEvidence(hs)...)
	}
	if score == 0 {
		return nil
	}
	cas := ""
	if req != nil && len(req.Conn.AcceptableCAs) > 0 {
		cas = " signed by one of: " + escape(strings.Join(req.Conn.AcceptableCAs, "; "))
	}
	fix := "Present a client certificate" + cas + " (gatehouse doctor and curl: --cert client.pem --key client.key; " +
		"in code, the TLS config's client certificate). The gateway or load balancer in front decides this before " +
		"any HTTP credential is looked at."
	if req != nil && req.Conn.ClientCertSent {
		fix = "Present a certificate the server trusts" + cas + ", not expired, with the clientAuth extended key " +
			"usage, and its full chain in the --cert file when an intermediate CA signed it."
	}
	return newFinding("mtls_client_certificate_missing", score, summary, fix, ev...)
}

func checkUnparseable(f *Facts) *finding.Finding {
	r := f.credResp()
	for _, resp := range []*Response{r, anonResp(f)} {
		if resp == nil {
			continue
		}
		for _, pair := range []struct {
			name string
			err  *challenge.SyntaxError
		}{{"WWW-Authenticate", resp.ChallengeErr}, {"Proxy-Authenticate", resp.ProxyChallengeErr}} {
			if pair.err == nil {
				continue
			}
			fields := resp.Header.Values(pair.name)
			raw := ""
			if pair.err.Field < len(fields) {
				raw = fields[pair.err.Field]
			}
			ev := []string{
				pair.name + " field " + itoa(pair.err.Field+1) + " of " + itoa(len(fields)) + ": " + clip(escape(toUTF8(raw)), 200),
				"parsing stopped at byte " + itoa(pair.err.Offset) + ": " + pair.err.Msg,
			}
			if pair.err.Offset <= len(raw) && pair.err.Offset < 200 {
				ev = append(ev, "at: …"+clip(escape(toUTF8(raw[pair.err.Offset:])), 40))
			}
			if pair.name == "WWW-Authenticate" && resp.LenientChallenges != nil {
				var parts []string
				for _, c := range resp.LenientChallenges {
					parts = append(parts, escape(toUTF8(c.String())))
				}
				ev = append(ev, "a lenient reading would give: "+orMissing(clip(strings.Join(parts, " | "), 200))+
					" (clients differ on such fields: some take the first parameter, some the last, some refuse it)")
			}
			score := scoreUnknown + 2
			if !f.failed() {
				score = scoreContributor - 10
			}
			return newFinding("challenge_unparseable", score,
				"The server's "+pair.name+" header is malformed, so clients cannot tell which scheme it wants.",
				"Server owners: follow RFC 9110 section 11: one scheme, then comma-separated name=value parameters with "+
					"quoted values (Bearer realm=\"api\", error=\"invalid_token\"); escape quotes inside values.",
				ev...)
		}
	}
	return nil
}

func anonResp(f *Facts) *Response {
	if f.Anon == nil {
		return nil
	}
	return f.Anon.Resp
}

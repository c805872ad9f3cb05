package doctor

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Group J: cloud-provider patterns.
var cloudChecks = []check{
	{"aws_apigw_route_not_found", checkAPIGWRoute},
	{"aws_apigw_iam_auth_expected", checkAPIGWIAM},
	{"signed_request_clock_skew", checkSignedSkew},
}

func checkAPIGWRoute(f *Facts) *finding.Finding {
	hs := f.hits("aws_apigw_route_not_found", "response", "final response")
	if len(hs) == 0 {
		return nil
	}
	ev := hitEvidence(hs)
	ev = append(ev, hitEvidence(f.hits(sigAPIGateway))...)
	u := f.Target
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	ev = append(ev, "request: "+f.Method+" "+redactURL(u))
	if strings.Contains(u.Hostname(), ".execute-api.") {
		stage := ""
		if len(segs) > 0 {
			stage = segs[0]
		}
		ev = append(ev, "on an execute-api host the first path segment is the stage: "+orMissing(stage)+"; check it is a deployed stage")
	} else {
		ev = append(ev, "on a custom domain the base-path mapping replaces the stage: check that the path starts with the mapped base path")
	}
	if strings.HasSuffix(u.Path, "/") {
		ev = append(ev, "the path ends with a slash; API Gateway routes match exactly")
	}
	return newFinding("aws_apigw_route_not_found", scoreProof-2,
		"API Gateway found no deployed route for this method and path; despite the wording, this is not about your token.",
		"Check the stage segment, the path (and trailing slash), the method, and the custom-domain base path "+
			"mapping; redeploy the API if the route was added after the last deployment.",
		ev...)
}

func checkAPIGWIAM(f *Facts) *finding.Finding {
	hs := f.hits("aws_apigw_iam_auth_expected", "response", "final response")
	if len(hs) == 0 {
		return nil
	}
	ev := append(hitEvidence(hs), sentCredentialLine(f))
	ev = append(ev, hitEvidence(f.hits(sigAPIGateway))...)
	return newFinding("aws_apigw_iam_auth_expected", scoreProof-2,
		"API Gateway is reading your Authorization header as an AWS SigV4 signature (IAM authorization), not as your app's token.",
		"Sign the request with SigV4 (aws-sigv4 in curl, botocore/aws4 libraries), or, if the API uses a "+
			"Lambda or JWT authorizer, send the token where that authorizer reads it and check that the route has it "+
			"attached. A private API's VPC-endpoint policy, or a wrong path, can produce the same message.",
		ev...)
}

// isSignedRequest reports whether the request carries a signature computed over the
// time: AWS SigV4, Azure Shared Key, or a presigned URL.
func isSignedRequest(f *Facts) (bool, string) {
	if c := f.primary(); c != nil && c.IsAuthorization() {
		switch strings.ToUpper(c.Scheme) {
		case "AWS4-HMAC-SHA256":
			return true, "the request is signed with AWS SigV4"
		case "SHAREDKEY", "SHAREDKEYLITE":
			return true, "the request is signed with an Azure Shared Key"
		}
	}
	q := f.Target.Query()
	if q.Get("X-Amz-Date") != "" || q.Get("X-Amz-Signature") != "" {
		return true, "the URL is an AWS presigned URL"
	}
	if q.Get("sig") != "" && q.Get("se") != "" {
		return true, "the URL carries an Azure SAS signature"
	}
	return false, ""
}

func checkSignedSkew(f *Facts) *finding.Finding {
	said := f.hits(sigSignedReject, "response", "final response")
	signed, how := isSignedRequest(f)
	var ev []string
	skew := f.Clock.Skew
	if skew < 0 {
		skew = -skew
	}
	if f.Clock.HaveServer {
		ev = append(ev, clockLine(f.Clock))
	}
	// An expired presigned URL is judged against the server's clock.
	q := f.Target.Query()
	if d, e := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"); d != "" && e != "" {
		start, err1 := time.Parse("20060102T150405Z", d)
		secs, err2 := strconv.Atoi(e)
		if err1 == nil && err2 == nil {
			end := start.Add(time.Duration(secs) * time.Second)
			if ref := f.Clock.Reference(); end.Before(ref) {
				ev = append(ev, "the presigned URL was signed at "+fmtTime(start)+" for "+e+"s, so it expired at "+fmtTime(end)+", "+fmtDur(ref.Sub(end))+" before the server's clock")
				return newFinding("signed_request_clock_skew", scoreProof-5,
					"The presigned URL has expired.",
					"Generate a new presigned URL (with an expiry long enough for the download), and use it soon after signing.",
					append(ev, hitEvidence(said)...)...)
			}
		}
	}
	// The signing date the request itself carries (a script that reuses a signed
	// request, or signs with a cached date) against the server's clock.
	if f.Clock.HaveServer && signed {
		for _, h := range []struct{ name, layout string }{{"X-Amz-Date", "20060102T150405Z"}, {"X-Ms-Date", http.TimeFormat}} {
			v := headerValue(f.Sent, h.name)
			if v == "" {
				continue
			}
			t, err := time.Parse(h.layout, strings.TrimSpace(v))
			if err != nil {
				continue
			}
			if d := f.Clock.Server.Sub(t); d > 5*time.Minute || d < -5*time.Minute {
				ev = append(ev, "the request's "+h.name+" is "+fmtTime(t)+", "+fmtDur(d)+cond(d > 0, " before", " after")+" the server's Date "+fmtTime(f.Clock.Server)+": the signature was computed for another time (a reused or cached signed request)")
				if how != "" {
					ev = append(ev, how)
				}
				ev = append(ev, hitEvidence(said)...)
				return newFinding("signed_request_clock_skew", scoreProof-2,
					"The request was signed for "+fmtTime(t)+", "+fmtDur(d)+" away from the server's clock: signed requests are refused outside a few minutes' window.",
					"Sign each request when you send it (do not reuse a signed request or cache its date); if your clock is off, sync it (timedatectl set-ntp true).",
					ev...)
			}
		}
	}
	score := 0
	switch {
	case f.Clock.HaveServer && skew > 5*time.Minute && (len(said) > 0 || signed):
		score = scoreProof - 2
	case len(said) > 0 && f.failed():
		score = scoreLikely - 5
		if f.Clock.HaveServer {
			ev = append(ev, "the server complains about time, but your clock is within "+fmtDur(skew)+" of its Date: the signing date in the request (x-amz-date, x-ms-date) may be stale or cached")
		}
	default:
		return nil
	}
	if how != "" {
		ev = append(ev, how)
	}
	ev = append(ev, hitEvidence(said)...)
	return newFinding("signed_request_clock_skew", score,
		"Your clock is "+fmtDur(skew)+" off the server's, and signed requests are refused outside a few minutes' window.",
		"Sync the clock (timedatectl set-ntp true, or w32tm /resync on Windows), then sign again. Signed requests "+
			"(AWS SigV4, Azure Shared Key and SAS) are rejected outside a window of about 5 to 15 minutes; new "+
			"keys will not help.",
		ev...)
}

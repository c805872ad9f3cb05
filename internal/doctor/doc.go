// Package doctor explains why an HTTP request gets 401, 403 or 407, from any server, with
// evidence. Run probes the target in the order of docs/doctor.md#what-it-does (P0 lint, P1
// the request as given with every redirect hop walked by hand, P2 an anonymous control to
// the same origin, P3 a CORS preflight, P4 challenge parsing, P5 clocks, P6 token
// forensics, P7 TLS facts, P8 fingerprints) and collects what it saw into Facts. The rules
// are small named checks over Facts that never do I/O; each returns a finding.Finding
// with a stable code, and the highest-scoring finding is the verdict. AnalyzeHAR runs the
// same rules over a browser HAR export without sending anything.
//
// Safety: a credential is only ever sent to an origin the user named (the target URL's,
// --compare-url's, and --allow-host hosts). A redirect that leaves those origins is
// reported and followed, if at all, without any credential, cookie or body; variant
// retries happen only when asked for and only against the target's origin. Secrets are
// shown only in the redacted form of lint.Redact, and every rendering (text, JSON, the HAR
// report) ends by scrubbing each known credential value, in its encoded forms too, from
// all it prints, since a server may reflect the credential (see scrub.go).
package doctor

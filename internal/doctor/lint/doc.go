// Package lint checks a credential before anything is sent (the doctor's P0 step): the
// bytes of a header value, its scheme, a Basic payload, a JWT's shape, key prefixes, and
// where the value came from (.env files as the common loaders read them, ~/.netrc, the
// proxy environment variables). Every check returns finding.Finding values whose evidence
// shows the facts with control characters escaped and secrets reduced to Redact's form;
// nothing in this package prints, logs or returns a secret.
package lint

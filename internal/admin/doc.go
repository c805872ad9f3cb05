// Package admin is the one admin service that the CLI and the HTTP admin API both call:
// it holds the store logic of managing API keys, admin tokens and the audit log, and
// returns the result types that both print as JSON, so the local CLI, the remote CLI
// (through Client) and the admin API answer with the same shapes by construction.
//
// Rules it enforces:
//
//   - Every change is recorded in the store's audit log: the actor, the action, the
//     target's id or name, the time, the caller's address and the result. An audit entry
//     never holds a secret (no key, no token, no password), only ids and names.
//   - Admin tokens (gha_<id>_<secret>) carry 256 random bits from crypto/rand; only their
//     SHA-256 is stored, and it is compared in constant time. They are read from the
//     store on every call, never cached, so a revocation applies on every replica at the
//     next call.
//   - The HTTP API (Handler) refuses every call without a valid admin token with 401 and
//     the gateway's problem+json contract (reason credentials_missing or
//     credentials_invalid, WWW-Authenticate: Bearer realm="gatehouse-admin"), without
//     saying whether a token id exists; a token in the query string is refused; bodies
//     are at most MaxBodyBytes and must not hold unknown members; a store that is down
//     is a 503, never a 500.
package admin

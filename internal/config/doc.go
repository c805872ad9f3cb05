// Package config is Gatehouse's configuration: the schema of the YAML file (docs/design.md,
// section 4), its defaults, and Load/Parse, which read it and validate it once.
//
// Loading is strict and complete. The file is decoded through yaml.Node so every problem
// carries its line; unknown keys (with a "did you mean" when a known key is close), wrong
// types, unparsable durations, unset ${VAR} references, unreadable secret files and
// semantic mistakes (an undefined authenticator, an HMAC algorithm without a secret, a
// route that can never match) are all collected and returned together as an *Error,
// sorted by line, so `gatehouse config check` lists every problem in one run.
//
// Reading rules:
//
//   - ${VAR} and ${VAR:-default} expand in scalar values, never in keys; "$$" is a literal
//     "$" and any other "$" is a problem. Expanded text is never parsed as YAML again. A
//     variable set to "" counts as unset.
//   - A .env file beside the configuration (KEY=VALUE lines, # comments, optional
//     "export ", quoted values, CRLF) supplies variables the real environment leaves unset.
//   - Any secret (secret, client_secret, pepper: every key named "pepper" or ending in
//     "secret") may instead be given as <key>_file: PATH, the Docker and Kubernetes secrets
//     convention: the file's raw bytes with one trailing newline removed.
//   - Relative paths (store, jwks_file, ca_file, <key>_file) resolve against the
//     configuration's folder.
//   - An empty or null value is the same as leaving the key out.
//   - YAML anchors, aliases and merge keys (<<: *anchor) work; top-level keys starting
//     with "x-" are ignored, as in Compose files, to give anchors a home.
//
// Secret values never appear in an error message: values of secret keys are held in a
// Secret, which prints as "[REDACTED]", and a value that came from the environment is
// never quoted back, only the ${VAR} reference that produced it.
//
// A loaded *Config is meant to be treated as immutable; a reload loads a new one and
// compares authenticators with Fingerprint to keep the caches of unchanged ones.
package config

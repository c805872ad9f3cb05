// Package policy compiles a route's require block beyond scopes into
// decision.Requirements: claim rules (claims: {PATH: [values...]}) and CEL expressions
// (expression:). Configuration validation compiles with the same functions the gateway
// runs, so a requirement that loads is one the gateway can check.
//
// A requirement never puts a claim value in what it says: the unmet text names the
// claim path and the configured values, or the expression's number, and nothing the
// token carried.
package policy

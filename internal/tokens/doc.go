// Package tokens decodes and verifies JSON Web Tokens. It is the only package that
// imports the JOSE library. Decode reads a token without verifying it (for diagnosis and
// display); verification lives in verify.go and always takes an explicit algorithm
// allow-list.
package tokens

// Package gatehouse is the root of the Gatehouse module: an authentication gateway for
// HTTP APIs and a doctor that explains any 401 or 403. The program is cmd/gatehouse; the
// code lives under internal/ (see README.md for the layout). This package holds no code,
// only the repository-wide tests in deps_test.go.
package gatehouse

// Package har reads browser HAR exports with bounded memory and diagnoses their failing
// requests offline: CORS preflights and responses (docs/doctor.md#c-browsers-and-cors), cookies and
// CSRF (group G), sanitised exports (har_credentials_redacted), and, through package
// lint, the credential each failing request carried (group D). The CORS evaluators are
// exported so that the doctor's live preflight probe (P3) applies the same rules.
package har

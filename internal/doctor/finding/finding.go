// Package finding holds the result type every doctor check produces, so that the doctor's
// sub-analyses (credential lint, HAR analysis, probes) share one shape and one ranking.
package finding

// Severity says how much a finding matters.
type Severity string

const (
	// Error: this finding explains (or very likely explains) the failure.
	Error Severity = "error"
	// Warning: a problem that may contribute, or will bite later.
	Warning Severity = "warning"
	// Info: a fact worth knowing; never the verdict unless nothing else is found.
	Info Severity = "info"
)

// Finding is one diagnosed cause, with the facts that show it and a fix in plain words.
// Code is stable (docs/doctor.md#the-rule-catalogue) and is what --json and the verdict report.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix"`
	// Score ranks findings: the highest-scoring finding is the verdict. 0-100, where 90+
	// is proof (the server said so, or the bytes show it), 60-89 strong evidence,
	// 30-59 a likely contributor, below 30 context.
	Score int `json:"-"`
}

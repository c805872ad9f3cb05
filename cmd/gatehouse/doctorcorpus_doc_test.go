package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() {
	// Several test files may want -update; register it once, whoever comes first.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

const (
	corpusDocBegin = "<!-- scenario corpus: begin (generated from cmd/gatehouse/doctorcorpus_*_test.go; go test ./cmd/gatehouse -run TestDoctorCorpusIsDocumented -update) -->"
	corpusDocEnd   = "<!-- scenario corpus: end -->"
)

// corpusTable renders the scenarios as the Markdown table docs/doctor.md lists.
func corpusTable() string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| scenario | server | what is broken | expected verdict | command |\n|---|---|---|---|---|\n")
	for _, c := range corpusCases() {
		want := "`" + c.want + "`"
		if c.needs != "" {
			want += " (needs " + cell(c.needs) + ")"
		}
		b.WriteString("| " + cell(c.name) + " | " + cell(c.server) + " | " + cell(c.broken) + " | " + want + " | `" + cell(c.command) + "` |\n")
	}
	return b.String()
}

// TestDoctorCorpusIsDocumented keeps docs/doctor.md's list of scenarios the corpus's own.
func TestDoctorCorpusIsDocumented(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "doctor.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, corpusDocBegin), strings.Index(doc, corpusDocEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/doctor.md has no scenario list between %q and %q", corpusDocBegin, corpusDocEnd)
	}
	want := corpusTable()
	got := doc[i+len(corpusDocBegin)+1 : j]
	if got == want {
		return
	}
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		doc = doc[:i+len(corpusDocBegin)+1] + want + doc[j:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/doctor.md's scenario list differs from the corpus; run go test ./cmd/gatehouse -run TestDoctorCorpusIsDocumented -update")
}

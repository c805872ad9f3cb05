package challenge

import "testing"

var benchFields = []string{
	`Bearer realm="orders-api", error="invalid_token", error_description="token expired", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
	`Basic realm="orders-api", charset="UTF-8"`,
}

func BenchmarkParseChallenges(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChallenges(benchFields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCredentials(b *testing.B) {
	const v = "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJvcmRlcnMifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCredentials(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChallengeString(b *testing.B) {
	c := Challenge{Scheme: "Bearer", Params: []Param{
		{"realm", "orders-api"}, {"error", "invalid_token"}, {"error_description", "token expired"},
		{"resource_metadata", "https://api.example.com/.well-known/oauth-protected-resource"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.String()
	}
}

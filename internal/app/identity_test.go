package app

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func TestAuthorizationServersNameEveryAcceptedIssuer(t *testing.T) {
	cfg := &config.Config{
		AuthorizationServers: []string{"https://as.example"},
		TokenService:         &config.TokenService{Issuer: "https://gw.example"},
		Authenticators: map[string]*config.Authenticator{
			"entra":  {Name: "entra", Type: config.TypeJWT, JWT: &config.JWT{Issuer: "https://login.microsoftonline.com/t/v2.0"}},
			"kc":     {Name: "kc", Type: config.TypeJWT, JWT: &config.JWT{Issuer: "https://kc.example/realms/acme"}},
			"self":   {Name: "self", Type: config.TypeJWT, JWT: &config.JWT{Issuer: config.IssuerSelf}},
			"unused": {Name: "unused", Type: config.TypeJWT, JWT: &config.JWT{Issuer: "https://unused.example"}},
			"keys":   {Name: "keys", Type: config.TypeAPIKey, APIKey: &config.APIKey{}},
		},
		Routes: []config.Route{
			{Authenticators: []string{"keys", "kc"}},
			{Authenticators: []string{"entra", "self", "kc"}},
			{Anonymous: true},
		},
	}
	want := []string{"https://as.example", "https://kc.example/realms/acme", "https://login.microsoftonline.com/t/v2.0", "https://gw.example"}
	if got := authorizationServers(cfg); !slices.Equal(got, want) {
		t.Errorf("authorizationServers = %v, want %v", got, want)
	}
}

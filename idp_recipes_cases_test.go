package gatehouse_test

import (
	"net/http"
	"time"
)

// recipes are the IdP recipe pages of docs/idp and their cases. Claims follow each
// IdP's documented token (see the page for a full example).
var recipes = []recipe{
	{page: "keycloak.md", cases: func(now time.Time) []recipeCase {
		hd := map[string]any{"typ": "JWT"}
		c := map[string]any{
			"exp": unix(now.Add(5 * time.Minute)), "iat": unix(now), "jti": "onrtac:6f6e2b1c",
			"iss": "https://keycloak.example.com/realms/acme", "aud": []any{"orders-api", "account"},
			"sub": "f1b2c3d4-0a1b-4c5d-8e9f-0a1b2c3d4e5f", "typ": "Bearer", "azp": "web-shop", "acr": "1",
			"allowed-origins": []any{"https://shop.example.com"},
			"realm_access":    map[string]any{"roles": []any{"default-roles-acme", "offline_access", "orders-admin"}},
			"resource_access": map[string]any{"orders-api": map[string]any{"roles": []any{"reader"}}},
			"scope":           "openid orders:read profile email", "email_verified": true, "name": "Alice Liddell",
			"preferred_username": "alice", "email": "alice@example.com",
		}
		return []recipeCase{
			{name: "access token with the audience mapper", path: "/orders/1", header: hd, claims: c, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "f1b2c3d4-0a1b-4c5d-8e9f-0a1b2c3d4e5f", "X-User-Email": "alice@example.com",
					"X-User-Name": "alice", "X-User-Roles": "default-roles-acme,offline_access,orders-admin"}},
			{name: "no audience mapper: aud is account", path: "/orders/1", header: hd, claims: with(c, "aud", "account"),
				status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
			{name: "the /auth prefix", path: "/orders/1", header: hd, claims: with(c, "iss", "https://keycloak.example.com/auth/realms/acme"),
				status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
			{name: "localhost frontend URL", path: "/orders/1", header: hd, claims: with(c, "iss", "http://localhost:8080/realms/acme"),
				status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
			{name: "without the orders:read client scope", path: "/orders/1", header: hd, claims: with(c, "scope", "openid profile email"),
				status: http.StatusForbidden, reason: "insufficient_scope"},
			{name: "a user without email", path: "/orders/1", header: hd, claims: with(c, "email", nil), status: 200,
				upstream: map[string]string{"X-User-Email": "", "X-User-Name": "alice"}},
			{name: "realm role orders-admin", path: "/orders/admin/x", header: hd, claims: c, status: 200,
				upstream: map[string]string{"X-User-Roles": "default-roles-acme,offline_access,orders-admin"}},
			{name: "without the realm role", path: "/orders/admin/x", header: hd,
				claims: with(c, "realm_access", map[string]any{"roles": []any{"default-roles-acme"}}), status: http.StatusForbidden, reason: "forbidden"},
			{name: "the role as a client role only", path: "/orders/admin/x", header: hd,
				claims: with(c, "realm_access", map[string]any{"roles": []any{}}, "resource_access", map[string]any{"orders-api": map[string]any{"roles": []any{"orders-admin"}}}),
				status: http.StatusForbidden, reason: "forbidden"},
		}
	}},
}

func init() {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	const api = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	recipes = append(recipes, recipe{page: "entra-id.md", cases: func(now time.Time) []recipeCase {
		v2h := map[string]any{"typ": "JWT"}
		v1h := map[string]any{"typ": "JWT", "x5t": "L1KfKFI_jnXbwWc22xZxw1sUHH0"}
		v2 := map[string]any{
			"aud": api, "iss": "https://login.microsoftonline.com/" + tid + "/v2.0",
			"iat": unix(now), "nbf": unix(now), "exp": unix(now.Add(time.Hour)), "aio": "AWQAm/8", "azp": "1c4d7a0e-8f2b-4a9c-9a43-7d2a7c1b5e10",
			"azpacr": "0", "name": "Alice Liddell", "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "preferred_username": "alice@contoso.com",
			"rh": "I", "scp": "Orders.Read", "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ", "tid": tid,
			"uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
		}
		v1 := map[string]any{
			"aud": "api://orders-api", "iss": "https://sts.windows.net/" + tid + "/",
			"iat": unix(now), "nbf": unix(now), "exp": unix(now.Add(time.Hour)), "acr": "1", "aio": "AVQAq/8",
			"amr": []any{"pwd"}, "appid": "1c4d7a0e-8f2b-4a9c-9a43-7d2a7c1b5e10", "appidacr": "0", "family_name": "Liddell",
			"given_name": "Alice", "ipaddr": "203.0.113.7", "name": "Alice Liddell", "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
			"roles": []any{"Orders.Admin"}, "scp": "Orders.Read Orders.Write", "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
			"tid": tid, "unique_name": "alice@contoso.com", "upn": "alice@contoso.com", "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "1.0",
		}
		app := with(v2, "scp", nil, "name", nil, "preferred_username", nil, "roles", []any{"Orders.Read"},
			"oid", "a9b8c7d6-1111-2222-3333-444455556666", "sub", "a9b8c7d6-1111-2222-3333-444455556666", "idtyp", "app")
		return []recipeCase{
			{name: "v2 delegated token", path: "/orders", header: v2h, claims: v2, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "X-Gatehouse-Scopes": "Orders.Read",
					"X-User-Name": "alice@contoso.com", "X-Tenant-Id": tid, "X-User-Roles": ""}},
			{name: "v1 delegated token with app roles", path: "/orders", header: v1h, claims: v1, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "X-Gatehouse-Scopes": "Orders.Read Orders.Write",
					"X-User-Name": "alice@contoso.com", "X-User-Roles": "Orders.Admin"}},
			{name: "v2 application token: scopes from roles", path: "/orders", header: v2h, claims: app, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "a9b8c7d6-1111-2222-3333-444455556666", "X-Gatehouse-Scopes": "Orders.Read",
					"X-User-Roles": "Orders.Read", "X-User-Name": ""}},
			{name: "v1 issuer without the trailing slash", path: "/orders", header: v1h, claims: with(v1, "iss", "https://sts.windows.net/"+tid),
				status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
			{name: "v2 token with the api:// audience", path: "/orders", header: v2h, claims: with(v2, "aud", "api://orders-api"),
				status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
			{name: "a Microsoft Graph token", path: "/orders", header: v2h, claims: with(v2, "aud", "00000003-0000-0000-c000-000000000000"),
				status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
			{name: "an ID token", path: "/orders", header: v2h, claims: with(v2, "aud", "1c4d7a0e-8f2b-4a9c-9a43-7d2a7c1b5e10", "scp", nil),
				status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
			{name: "another tenant", path: "/orders", header: v2h, claims: with(v2, "iss", "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"),
				status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
			{name: "a user without the scope", path: "/orders", header: v2h, claims: with(v2, "scp", "Orders.Write"),
				status: http.StatusForbidden, reason: "insufficient_scope"},
			{name: "app role Orders.Admin", path: "/orders/admin", header: v1h, claims: v1, status: 200,
				upstream: map[string]string{"X-User-Roles": "Orders.Admin"}},
			{name: "no app role", path: "/orders/admin", header: v2h, claims: v2, status: http.StatusForbidden, reason: "forbidden"},
		}
	}})
}

func init() {
	recipes = append(recipes, recipe{page: "auth0.md", cases: func(now time.Time) []recipeCase {
		hd := map[string]any{"typ": "JWT"}
		user := map[string]any{
			"https://acme.com/roles": []any{"admin"}, "https://acme.com/email": "alice@acme.com",
			"iss": "https://acme.us.auth0.com/", "sub": "auth0|64f1c0ffee",
			"aud": []any{"https://api.acme.com/orders", "https://acme.us.auth0.com/userinfo"},
			"iat": unix(now), "exp": unix(now.Add(24 * time.Hour)), "azp": "Qz8ZgC2tH1xUzJ5eP7",
			"scope": "openid profile orders:read", "permissions": []any{"orders:read", "orders:write"},
		}
		m2m := map[string]any{
			"iss": "https://acme.us.auth0.com/", "sub": "Qz8ZgC2tH1xUzJ5eP7@clients", "aud": "https://api.acme.com/orders",
			"iat": unix(now), "exp": unix(now.Add(24 * time.Hour)), "azp": "Qz8ZgC2tH1xUzJ5eP7", "scope": "orders:read",
			"gty": "client-credentials",
		}
		return []recipeCase{
			{name: "user token with namespaced claims", path: "/orders", header: hd, claims: user, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "auth0|64f1c0ffee", "X-Gatehouse-Scopes": "orders:read orders:write",
					"X-User-Email": "alice@acme.com", "X-User-Roles": "admin"}},
			{name: "client credentials token", path: "/orders", header: hd, claims: m2m, status: 200,
				upstream: map[string]string{"X-Gatehouse-Subject": "Qz8ZgC2tH1xUzJ5eP7@clients", "X-Gatehouse-Scopes": "orders:read",
					"X-User-Email": "", "X-User-Roles": ""}},
			{name: "non-namespaced claims are not read", path: "/orders", header: hd,
				claims: with(user, "https://acme.com/roles", nil, "https://acme.com/email", nil, "roles", []any{"admin"}), status: 200,
				upstream: map[string]string{"X-User-Roles": "", "X-User-Email": ""}},
			{name: "issuer without the trailing slash", path: "/orders", header: hd, claims: with(user, "iss", "https://acme.us.auth0.com"),
				status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
			{name: "token for /userinfo only", path: "/orders", header: hd, claims: with(user, "aud", []any{"https://acme.us.auth0.com/userinfo"}),
				status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
			{name: "opaque token", path: "/orders", token: "v2.local.Q29tcGxldGVseSBvcGFxdWU", status: http.StatusUnauthorized, reason: "credentials_malformed"},
			{name: "without the permission", path: "/orders", header: hd, claims: with(user, "permissions", []any{"orders:write"}),
				status: http.StatusForbidden, reason: "insufficient_scope"},
			{name: "admin role", path: "/orders/admin", header: hd, claims: user, status: 200,
				upstream: map[string]string{"X-User-Roles": "admin"}},
			{name: "no admin role", path: "/orders/admin", header: hd, claims: m2m, status: http.StatusForbidden, reason: "forbidden"},
		}
	}})
}

func init() {
	recipes = append(recipes,
		recipe{page: "okta.md", cases: func(now time.Time) []recipeCase {
			c := map[string]any{
				"ver": 1, "jti": "AT.u5Ff3sU9fO9bY0X1F2hYbV-4vX2yL", "iss": "https://acme.okta.com/oauth2/default",
				"aud": "api://default", "iat": unix(now), "exp": unix(now.Add(time.Hour)), "cid": "0oa1b2c3d4E5F6g7H8i9",
				"uid": "00u1a2b3c4D5E6f7G8h9", "scp": []any{"openid", "orders:read"}, "auth_time": unix(now.Add(-10 * time.Second)),
				"sub": "alice@acme.com", "groups": []any{"Everyone", "orders-admins"},
			}
			return []recipeCase{
				{name: "user token with groups", path: "/orders", claims: c, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "00u1a2b3c4D5E6f7G8h9", "X-Gatehouse-Scopes": "openid orders:read",
						"X-User-Login": "alice@acme.com", "X-User-Groups": "Everyone,orders-admins"}},
				{name: "no groups claim configured", path: "/orders", claims: with(c, "groups", nil), status: 200,
					upstream: map[string]string{"X-User-Groups": ""}},
				{name: "org authorization server token", path: "/orders",
					claims: with(c, "iss", "https://acme.okta.com", "aud", "https://acme.okta.com"),
					status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
				{name: "another custom authorization server", path: "/orders",
					claims: with(c, "iss", "https://acme.okta.com/oauth2/aus9xyz", "aud", "api://orders"),
					status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
				{name: "client credentials token has no uid", path: "/orders", claims: with(c, "uid", nil, "sub", "0oa1b2c3d4E5F6g7H8i9", "scp", []any{"orders:read"}),
					status: http.StatusUnauthorized, reason: "credentials_malformed"},
				{name: "without the scope", path: "/orders", claims: with(c, "scp", []any{"openid"}),
					status: http.StatusForbidden, reason: "insufficient_scope"},
				{name: "orders-admins member", path: "/orders/admin", claims: c, status: 200},
				{name: "not a member", path: "/orders/admin", claims: with(c, "groups", []any{"Everyone"}), status: http.StatusForbidden, reason: "forbidden"},
			}
		}},
		recipe{page: "google.md", cases: func(now time.Time) []recipeCase {
			hd := map[string]any{"typ": "JWT"}
			sa := map[string]any{
				"aud": "https://api.acme.com", "azp": "110000000000000000001", "email": "deployer@acme-prod.iam.gserviceaccount.com",
				"email_verified": true, "exp": unix(now.Add(time.Hour)), "iat": unix(now), "iss": "https://accounts.google.com",
				"sub": "110000000000000000001",
			}
			user := with(sa, "email", "alice@acme.com", "hd", "acme.com", "sub", "109876543210987654321", "name", "Alice",
				"at_hash", "HK6E_P6Dh8Y93mRNtsDB1Q", "iss", "accounts.google.com")
			return []recipeCase{
				{name: "service account ID token", path: "/orders", header: hd, claims: sa, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "110000000000000000001",
						"X-User-Email": "deployer@acme-prod.iam.gserviceaccount.com", "X-User-Domain": ""}},
				{name: "user ID token with the short issuer", path: "/orders", header: hd, claims: user, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "109876543210987654321", "X-User-Email": "alice@acme.com", "X-User-Domain": "acme.com"}},
				{name: "an access token", path: "/orders", token: "ya29.a0AfB_byC1234567890abcdefghijklmnop", status: http.StatusUnauthorized,
					reason: "credentials_malformed"},
				{name: "another audience", path: "/orders", header: hd, claims: with(sa, "aud", "32555940559.apps.googleusercontent.com"),
					status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
				{name: "any other Google account", path: "/orders", header: hd,
					claims: with(sa, "email", "someone@gmail.com", "sub", "100000000000000000009"), status: http.StatusForbidden, reason: "forbidden"},
				{name: "unverified email in the domain", path: "/orders", header: hd,
					claims: with(user, "email_verified", false), status: http.StatusForbidden, reason: "forbidden"},
			}
		}},
		recipe{page: "cognito.md", cases: func(now time.Time) []recipeCase {
			iss := "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
			access := map[string]any{
				"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": []any{"admin"}, "iss": iss, "version": 2,
				"client_id": "3n4b5urk1ft4fl3mg5e62d9ado", "origin_jti": "f1e2d3c4-0000-0000-0000-000000000000",
				"event_id": "b2c3d4e5-0000-0000-0000-000000000000", "token_use": "access", "scope": "openid orders/read",
				"auth_time": unix(now.Add(-10 * time.Second)), "exp": unix(now.Add(time.Hour)), "iat": unix(now),
				"jti": "d4e5f6a7-0000-0000-0000-000000000000", "username": "alice",
			}
			id := map[string]any{
				"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": []any{"admin"}, "email_verified": true, "iss": iss,
				"cognito:username": "alice", "origin_jti": "f1e2d3c4-0000-0000-0000-000000000000", "aud": "3n4b5urk1ft4fl3mg5e62d9ado",
				"event_id": "b2c3d4e5-0000-0000-0000-000000000000", "token_use": "id", "auth_time": unix(now.Add(-10 * time.Second)),
				"exp": unix(now.Add(time.Hour)), "iat": unix(now), "jti": "e5f6a7b8-0000-0000-0000-000000000000", "email": "alice@acme.com",
			}
			machine := map[string]any{
				"sub": "3n4b5urk1ft4fl3mg5e62d9ado", "token_use": "access", "scope": "orders/read", "auth_time": unix(now), "iss": iss,
				"exp": unix(now.Add(time.Hour)), "iat": unix(now), "version": 2, "jti": "f6a7b8c9-0000-0000-0000-000000000000",
				"client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
			}
			return []recipeCase{
				{name: "user access token", path: "/orders", claims: access, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "X-User-Name": "alice", "X-User-Groups": "admin"}},
				{name: "client credentials token", path: "/orders", claims: machine, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "3n4b5urk1ft4fl3mg5e62d9ado", "X-User-Name": "", "X-User-Groups": ""}},
				{name: "ID token", path: "/orders", claims: id, status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
				{name: "another app client", path: "/orders", claims: with(access, "client_id", "7abc0000000000000000000000"),
					status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
				{name: "another user pool", path: "/orders", claims: with(access, "iss", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other0000"),
					status: http.StatusUnauthorized, reason: "token_issuer_mismatch"},
				{name: "without the resource server scope", path: "/orders", claims: with(access, "scope", "openid"),
					status: http.StatusForbidden, reason: "insufficient_scope"},
				{name: "admin group", path: "/orders/admin", claims: access, status: 200},
				{name: "not in the admin group", path: "/orders/admin", claims: with(access, "cognito:groups", []any{"staff"}),
					status: http.StatusForbidden, reason: "forbidden"},
				{name: "no groups at all", path: "/orders/admin", claims: machine, status: http.StatusForbidden, reason: "forbidden"},
			}
		}},
		recipe{page: "github-actions.md", cases: func(now time.Time) []recipeCase {
			hd := map[string]any{"typ": "JWT", "x5t": "example-thumbprint"}
			c := map[string]any{
				"jti": "example-id", "sub": "repo:octo-org/octo-repo:environment:prod", "environment": "prod",
				"aud": "https://deploy.acme.com", "ref": "refs/heads/main", "sha": "example-sha", "repository": "octo-org/octo-repo",
				"repository_owner": "octo-org", "actor_id": "12", "repository_visibility": "private", "repository_id": "74",
				"repository_owner_id": "65", "run_id": "example-run-id", "run_number": "10", "run_attempt": "2",
				"runner_environment": "github-hosted", "actor": "octocat", "workflow": "example-workflow", "head_ref": "",
				"base_ref": "", "event_name": "workflow_dispatch", "ref_type": "branch",
				"job_workflow_ref": "octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main",
				"iss":              "https://token.actions.githubusercontent.com", "nbf": unix(now), "exp": unix(now.Add(5 * time.Minute)), "iat": unix(now),
			}
			return []recipeCase{
				{name: "deployment job", method: "POST", path: "/deploy", header: hd, claims: c, status: 200,
					upstream: map[string]string{"X-Gatehouse-Subject": "repo:octo-org/octo-repo:environment:prod",
						"X-GitHub-Repository": "octo-org/octo-repo", "X-GitHub-Ref": "refs/heads/main",
						"X-GitHub-Workflow": "octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main", "X-GitHub-Environment": "prod"}},
				{name: "default audience", method: "POST", path: "/deploy", header: hd, claims: with(c, "aud", "https://github.com/octo-org"),
					status: http.StatusUnauthorized, reason: "token_audience_mismatch"},
				{name: "expired", method: "POST", path: "/deploy", header: hd, claims: with(c, "exp", unix(now.Add(-10*time.Minute))),
					status: http.StatusUnauthorized, reason: "token_expired"},
				{name: "any other repository", method: "POST", path: "/deploy", header: hd,
					claims: with(c, "repository", "mallory/octo-repo", "sub", "repo:mallory/octo-repo:environment:prod", "repository_owner", "mallory"),
					status: http.StatusForbidden, reason: "forbidden"},
				{name: "a repository whose name extends ours", method: "POST", path: "/deploy", header: hd,
					claims: with(c, "repository", "octo-org/octo-repo-fork", "sub", "repo:octo-org/octo-repo-fork:environment:prod"),
					status: http.StatusForbidden, reason: "forbidden"},
				{name: "another branch", method: "POST", path: "/deploy", header: hd, claims: with(c, "ref", "refs/heads/feature"),
					status: http.StatusForbidden, reason: "forbidden"},
				{name: "no environment", method: "POST", path: "/deploy", header: hd, claims: with(c, "environment", nil),
					status: http.StatusForbidden, reason: "forbidden"},
			}
		}},
	)
}

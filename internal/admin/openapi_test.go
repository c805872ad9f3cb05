package admin

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type openAPI struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPIDocumentDescribesExactlyTheHandlers(t *testing.T) {
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range (&handler{}).routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}
	// Each schema lists exactly the JSON members of the type the handlers read or write.
	for name, v := range map[string]any{
		"CreateKeyRequest": CreateKeyRequest{}, "RotateKeyRequest": RotateKeyRequest{},
		"CreatedKey": CreatedKey{}, "ListedKey": ListedKey{}, "RevokedKey": RevokedKey{}, "AuditEntry": AuditEntry{},
		"Problem": problem{}, "CreateClientRequest": CreateClientRequest{}, "CreatedClient": CreatedClient{},
		"ListedClient": ListedClient{}, "RemovedClient": RemovedClient{}, "ListedSigningKey": ListedSigningKey{},
		"RotatedSigningKey": RotatedSigningKey{}, "RotateSigningKeyRequest": RotateSigningKeyRequest{},
		"AddUserRequest": AddUserRequest{}, "SetPasswordRequest": SetPasswordRequest{}, "UserResult": UserResult{},
	} {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		var want, got []string
		for _, f := range reflect.VisibleFields(reflect.TypeOf(v)) {
			if f.Anonymous {
				continue
			}
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			want = append(want, n)
		}
		for n := range s.Properties {
			got = append(got, n)
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("schema %s members (-type +document):\n%s", name, diff)
		}
	}
}

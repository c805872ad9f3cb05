package apikey

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAttributesAreTheKeysClaims(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", func(k *store.APIKey) { k.Attributes = map[string]string{"team": "billing", "tier": "gold"} })
	plain, _ := f.add(t, "live", nil)
	p, err := f.a.Authenticate(context.Background(), header(key))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"team": "billing", "tier": "gold"}, p.Claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if p, err := f.a.Authenticate(context.Background(), header(plain)); err != nil || p.Claims != nil {
		t.Errorf("a key without attributes: claims %v, %v", p.Claims, err)
	}
}

package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openDSN opens a store on dsn and closes it when the test ends.
func openDSN(t *testing.T, c postgres.Config) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(testCtx(t), c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openFresh opens a store on a new, empty database.
func openFresh(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	return openDSN(t, postgres.Config{DSN: dsn}), dsn
}

func TestConformance(t *testing.T) {
	pgtest.Admin(t) // skip the whole suite at once when there is no server
	// In parallel: each test has a database of its own, and creating one is most of
	// the suite's time.
	storetest.RunParallel(t, func(t *testing.T) store.Store {
		s, _ := openFresh(t)
		return s
	})
}

func TestOpenByDSNSelectsPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	for _, d := range []string{dsn, "postgresql" + dsn[len("postgres"):]} {
		s, err := store.Open(testCtx(t), d)
		if err != nil {
			t.Fatalf("store.Open(%s): %v", store.RedactDSN(d), err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Errorf("store.Open(%s) = %T, want *postgres.Store", store.RedactDSN(d), s)
		}
		if _, ok := s.(store.Notifier); !ok {
			t.Errorf("the postgres store is not a store.Notifier")
		}
		s.Close()
	}
}

func TestClosedStoreFailsUnavailable(t *testing.T) {
	s, _ := openFresh(t)
	s.Close()
	s.Close() // a second Close must not panic
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	if err := s.CreateKey(testCtx(t), &k); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateKey after Close = %v, want ErrUnavailable", err)
	}
	if err := s.WaitForChange(testCtx(t)); err == nil {
		t.Error("WaitForChange after Close succeeded")
	}
}

func TestKeyNameWithNULIsInvalidNotUnavailable(t *testing.T) {
	s, _ := openFresh(t)
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	k.Name = "bad\x00name"
	if err := s.CreateKey(testCtx(t), &k); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateKey with a NUL in the name = %v, want ErrInvalid", err)
	}
}

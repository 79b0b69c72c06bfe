package postgres_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
	"github.com/heraldhq/herald/internal/store/storetest"
)

// open opens and migrates a store in a fresh schema.
func open(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	return openURL(t, pgtest.Schema(t), opts...)
}

func openURL(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, append([]postgres.Option{postgres.WithMaxConns(4)}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	pgtest.URL(t)
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t) })
}

package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// TestBadKeyCreatesNothing checks that New refuses a configured encryption
// key that is not one before it opens the database, so that a failed start
// leaves no new database behind.
func TestBadKeyCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = filepath.Join(dir, "herald.db")
	cfg.EncryptionKey = "c2hvcnQ="
	_, err := server.New(context.Background(), cfg, server.Options{Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "HERALD_ENCRYPTION_KEY") {
		t.Fatalf("New with a 5-byte key: %v, want an error naming HERALD_ENCRYPTION_KEY", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("New created %v before refusing the key", entries)
	}
}

// TestShutdownInReverseOrder records the order in which Shutdown stops the
// server's parts: the reverse of the order New built them, so that each
// stops after everything that uses it (the listeners first, the store
// last), on SQLite and on PostgreSQL, where the cluster runs too.
func TestShutdownInReverseOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		driver string
		want   []string
	}{
		{"sqlite", []string{"store", "tracing", "engine", "queue sampler", "tasks", "ingest", "http", "admin listener"}},
		{"postgres", []string{"store", "tracing", "engine", "queue sampler", "tasks", "cluster", "ingest", "http", "admin listener"}},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.Listen = "127.0.0.1:0"
			cfg.AdminListen = "127.0.0.1:0"
			cfg.AdminToken = adminToken
			cfg.Database = filepath.Join(t.TempDir(), "herald.db")
			if tc.driver == "postgres" {
				cfg.Database = pgtest.Schema(t)
			}
			ctx := context.Background()
			srv, err := server.New(ctx, cfg, server.Options{Stderr: io.Discard, Log: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.Parts(); !slices.Equal(got, tc.want) {
				t.Fatalf("New built %q, want %q", got, tc.want)
			}
			if err := srv.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var stopped []string
			srv.OnStop(func(name string) { stopped = append(stopped, name) })
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.want)
			slices.Reverse(want)
			if !slices.Equal(stopped, want) {
				t.Errorf("Shutdown stopped %q, want %q", stopped, want)
			}
			if err := srv.Shutdown(sctx); err != nil {
				t.Errorf("a second Shutdown: %v", err)
			}
		})
	}
}

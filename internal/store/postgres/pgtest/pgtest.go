// Package pgtest gives tests their own PostgreSQL schema or database on the
// server named by HERALD_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), so that
// tests run in parallel without seeing each other's rows. Where no server
// answers, tests are skipped, unless HERALD_REQUIRE_POSTGRES=1 (as in CI),
// when they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tests use when HERALD_TEST_POSTGRES is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	reachOnce sync.Once
	reachErr  error
)

// URL returns the URL of the test server's main database, skipping the test
// (or failing it when PostgreSQL is required) if the server does not answer.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HERALD_TEST_POSTGRES")
	if u == "" {
		u = DefaultURL
	}
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			reachErr = err
			return
		}
		reachErr = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if reachErr != nil {
		if os.Getenv("HERALD_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (HERALD_REQUIRE_POSTGRES=1) but does not answer at HERALD_TEST_POSTGRES: %v", reachErr)
		}
		t.Skipf("no PostgreSQL answers at HERALD_TEST_POSTGRES (set it, or start one on 127.0.0.1:5432): %v", reachErr)
	}
	return u
}

// name returns prefix followed by random hex.
func name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// admin runs sql on the test server's main database.
func admin(t testing.TB, base, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Schema creates an empty schema, drops it when the test ends, and returns
// a URL whose connections use it (search_path).
func Schema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	schema := name("herald_test_")
	admin(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { admin(t, base, `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: HERALD_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Database creates an empty database, drops it when the test ends (closing
// connections left to it), and returns its URL and name. Tests that cut
// connections (pg_terminate_backend) or refuse them (ALLOW_CONNECTIONS) use
// a database of their own, so that other tests never notice.
func Database(t testing.TB) (dbURL, dbName string) {
	t.Helper()
	base := URL(t)
	dbName = name("herald_test_")
	admin(t, base, `CREATE DATABASE `+dbName)
	t.Cleanup(func() { admin(t, base, `DROP DATABASE `+dbName+` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: HERALD_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + dbName
	return u.String(), dbName
}

// Exec runs sql on the test server's main database (for tests that act as
// its administrator, say to cut a test database's connections).
func Exec(t testing.TB, sql string) {
	t.Helper()
	admin(t, URL(t), sql)
}

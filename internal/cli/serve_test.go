package cli

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	if out := ok(t, env(), "version"); !strings.HasPrefix(out, "herald ") {
		t.Errorf("version = %q", out)
	}
}

func TestMigrateAndTokens(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "herald.db")
	contains(t, ok(t, env(), "migrate", "--database", db), "up to date")
	token := strings.TrimSpace(ok(t, env(), "token", "create", "--database", db, "--name", "ci"))
	if !regexp.MustCompile(`^hsk_[A-Za-z0-9_-]{43}$`).MatchString(token) {
		t.Fatalf("token create printed %q", token)
	}
	contains(t, ok(t, env(), "token", "list", "--database", db), "ID", "NAME", "tok_", "ci")
	// HERALD_DATABASE_URL works as well as --database.
	contains(t, ok(t, env("HERALD_DATABASE_URL", db), "token", "revoke", token), "Revoked token tok_", "(ci)")
	if out := ok(t, env(), "token", "list", "--database", db); strings.Contains(out, "tok_") {
		t.Errorf("token list after revoke: %s", out)
	}
	contains(t, fails(t, env(), "token", "revoke", token, "--database", db), "no such token")
	// A name is stored as text: both drivers refuse what PostgreSQL's
	// text cannot hold.
	contains(t, fails(t, env(), "token", "create", "--database", db, "--name", "ci\xff"), "--name", "UTF-8")
}

// TestServe runs `herald serve` until its context is canceled, and uses
// the token it prints on first start.
func TestServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	db := filepath.Join(t.TempDir(), "herald.db")
	go func() {
		done <- Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--database", db},
			Streams{Stdout: &syncBuffer{}, Stderr: stderr, Getenv: env()})
	}()
	out := stderr.waitFor(t, "herald serving")
	token := regexp.MustCompile(`hsk_[A-Za-z0-9_-]+`).FindString(out)
	addr := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if token == "" || addr == nil {
		t.Fatalf("no token or address in:\n%s", out)
	}
	e := env("HERALD_URL", "http://"+addr[1], "HERALD_TOKEN", token)
	ok(t, e, "app", "create", "First", "--uid", "first")
	contains(t, ok(t, e, "app", "list"), "first")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

package cli

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// herald migrate and herald token work on PostgreSQL as on SQLite; migrating
// twice is a no-op.
func TestMigrateAndTokensPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.Schema(t)
	contains(t, ok(t, env(), "migrate", "--database", db), "up to date")
	contains(t, ok(t, env("HERALD_DATABASE_URL", db), "migrate"), "up to date")
	token := strings.TrimSpace(ok(t, env(), "token", "create", "--database", db, "--name", "ci"))
	contains(t, ok(t, env("HERALD_DATABASE_URL", db), "token", "revoke", token), "Revoked token tok_", "(ci)")
}

// A database that cannot be reached is an error that says which one
// (without its password).
func TestMigrateUnreachablePostgres(t *testing.T) {
	t.Parallel()
	for _, db := range []string{
		"postgres://herald:hunter2@127.0.0.1:1/herald?connect_timeout=2",
		"postgres://herald@127.0.0.1:1/herald?connect_timeout=2&password=hunter2",
		"postgresql://herald@127.0.0.1:1/herald?sslmode=disable&sslpassword=hunter2&connect_timeout=2",
	} {
		out := fails(t, env(), "migrate", "--database", db)
		contains(t, out, "127.0.0.1:1")
		if strings.Contains(out, "hunter2") {
			t.Errorf("error shows the password: %s", out)
		}
	}
}

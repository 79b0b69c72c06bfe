package cli

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestBackupRestore backs up the database of a running server, restores the
// copy and its key file beside a second server, and reads an endpoint's
// secret there: the data and the key that seals it both came along.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "live", "herald.db")
	srv := startServerOn(t, db)
	e := srv.env()
	ok(t, e, "app", "create", "Acme", "--uid", "acme")
	ok(t, e, "endpoint", "create", "--app", "acme", "https://hooks.example.com/in", "--uid", "main")
	secretRE := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)
	secret := secretRE.FindString(ok(t, e, "endpoint", "secret", "--app", "acme", "main"))
	if secret == "" {
		t.Fatal("no secret")
	}

	backup := filepath.Join(dir, "backup.db")
	out := ok(t, env(), "backup", "--database", db, backup)
	contains(t, out, "backed up to "+backup, "encryption key copied to "+backup+".key")
	contains(t, fails(t, env(), "backup", "--database", db, backup), "exists")

	restored := filepath.Join(dir, "restored", "herald.db")
	copyFile(t, backup, restored)
	copyFile(t, backup+".key", restored+".key")
	srv2 := startServerOn(t, restored)
	if got := secretRE.FindString(ok(t, srv2.env(), "endpoint", "secret", "--app", "acme", "main")); got != secret {
		t.Errorf("restored endpoint secret = %q, want %q", got, secret)
	}

	// With the key in the configuration, there is no key file to copy.
	out = ok(t, env("HERALD_ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "backup", "--database", db, filepath.Join(dir, "b2.db"))
	contains(t, out, "HERALD_ENCRYPTION_KEY: keep it with the backup")
	contains(t, fails(t, env(), "backup", "--database", "postgres://h@127.0.0.1/h", filepath.Join(dir, "pg.db")), "pg_dump")
	contains(t, fails(t, env(), "backup", "--database", filepath.Join(dir, "none.db"), filepath.Join(dir, "n.db")), "no database at "+filepath.Join(dir, "none.db"))
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	addr := srv.URL[len("http://"):]
	contains(t, ok(t, env("HERALD_LISTEN", addr), "healthcheck"), "healthy: http://"+addr+"/api/v1/health/ping")
	contains(t, ok(t, env(), "healthcheck", "--listen", addr, "--ready"), "/api/v1/health")
	// A port nobody listens on: the server's port after it stopped would
	// race with others; port 1 on loopback refuses.
	contains(t, fails(t, env(), "healthcheck", "--listen", "127.0.0.1:1"), "unhealthy")
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0.0.0.0:8071":   "127.0.0.1:8071",
		":8071":          "127.0.0.1:8071",
		"[::]:8071":      "[::1]:8071",
		"10.0.0.7:8071":  "10.0.0.7:8071",
		"localhost:8071": "localhost:8071",
	} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}

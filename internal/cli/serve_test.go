package cli

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
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

// TestSettingFlagsTyped checks the flags of the settings: a switch given
// alone is true, durations and numbers take their value with or without =,
// and bad values are all reported at once, each naming its variable and
// flag.
func TestSettingFlagsTyped(t *testing.T) {
	t.Parallel()
	load := func(args ...string) (config.Config, error) {
		s := Streams{Getenv: env()}
		cmd, _, err := New(s).Find([]string{"serve"})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(args); err != nil {
			return config.Config{}, err
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			return config.Config{}, err
		}
		return loadConfig(cmd, s)
	}
	cfg, err := load("--svix-headers", "--validate-payloads", "--metrics=false", "--request-timeout", "5s",
		"--max-in-flight", "64", "--retry-jitter=0.1", "--retry-schedule", "1s,2s", "--allow-cidr", "127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.SvixHeaders || !cfg.ValidatePayloads || cfg.Metrics || cfg.RequestTimeout != 5*time.Second ||
		cfg.MaxInFlight != 64 || cfg.RetryJitter != 0.1 || config.FormatSchedule(cfg.RetrySchedule) != "1s,2s" || len(cfg.AllowCIDRs) != 1 {
		t.Errorf("config = %+v", cfg)
	}
	if cfg, err := load("--svix-headers=false", "--metrics=true"); err != nil || cfg.SvixHeaders || !cfg.Metrics {
		t.Errorf("--svix-headers=false --metrics=true: %v, %+v", err, cfg)
	}

	_, err = load("--request-timeout", "soon", "--max-in-flight", "many", "--svix-headers=maybe")
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("bad values: %v, want a usage error", err)
	}
	contains(t, err.Error(), "HERALD_REQUEST_TIMEOUT (--request-timeout)", `"soon"`,
		"HERALD_MAX_IN_FLIGHT (--max-in-flight)", `"many"`, "HERALD_SVIX_HEADERS (--svix-headers)", `"maybe"`)

	// A switch's value after a space is an argument: say how to give it.
	_, err = load("--metrics", "false")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--metrics=false") {
		t.Errorf("--metrics false: %v, want a usage error showing --metrics=false", err)
	}
}

// TestMissingDatabase checks that the commands that open the database
// without being its owner (token, backup) refuse one that does not exist,
// naming the path and the flag, and create nothing: run from another
// directory, herald token create used to make an empty ./herald.db and
// print a token the running server did not know. serve and migrate create
// the database.
func TestMissingDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db")
	for _, args := range [][]string{
		{"token", "create", "--database", db},
		{"token", "list", "--database", db},
		{"token", "revoke", "hsk_x", "--database", db},
		{"token", "create"}, // HERALD_DATABASE_URL
		{"backup", "--database", db, filepath.Join(dir, "copy.db")},
	} {
		msg := fails(t, env("HERALD_DATABASE_URL", "sqlite:"+db), args...)
		contains(t, msg, "no database at "+db, "--database", "HERALD_DATABASE_URL")
		if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) > 0 {
			t.Fatalf("herald %s created %v", strings.Join(args, " "), names)
		}
	}
	contains(t, ok(t, env(), "migrate", "--database", db), "up to date")
	ok(t, env(), "token", "create", "--database", db)
}

// TestSettingsCheckedBeforeDatabase checks that serve, migrate and token
// validate every setting, the encryption key's format included, before they
// open the database: all problems are reported at once, and nothing is
// created. A bad key used to be reported alone, after the database file
// was created and migrated.
func TestSettingsCheckedBeforeDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db")
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--database", db, "--encryption-key", "c2hvcnQ=", "--log-format", "xml"},
		{"serve", "--listen", "127.0.0.1:0", "--database", db, "--log-format", "xml"}, // the key from the environment
		{"migrate", "--database", db},
		{"token", "create", "--database", db},
	} {
		r := run(t, env("HERALD_ENCRYPTION_KEY", "not base64!", "HERALD_LOG_FORMAT", "xml"), args...)
		var ue *UsageError
		if !errors.As(r.err, &ue) {
			t.Fatalf("herald %s: %v, want a usage error", strings.Join(args, " "), r.err)
		}
		contains(t, r.err.Error(), "HERALD_ENCRYPTION_KEY (--encryption-key): encryption key is", "HERALD_LOG_FORMAT (--log-format)")
		if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) > 0 {
			t.Fatalf("herald %s created %v before refusing its settings", strings.Join(args, " "), names)
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with the current output")

// golden compares got with testdata/<name>.golden, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./internal/cli -update if the change is intended)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// syncBuffer is an io.Writer safe for concurrent use whose content can be
// waited for.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until the buffer contains sub, failing the test after a
// deadline.
func (b *syncBuffer) waitFor(t *testing.T, sub string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := b.String()
		if strings.Contains(s, sub) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in output:\n%s", sub, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// env returns a Getenv over a fixed map, so tests never read the real
// environment.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// result is the outcome of one command.
type result struct {
	stdout, stderr string
	err            error
}

// run runs the command line with args and the given environment.
func run(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	return runIn(t, getenv, nil, args...)
}

// runIn is run with standard input.
func runIn(t *testing.T, getenv func(string) string, stdin io.Reader, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	err := Main(t.Context(), args, Streams{Stdin: stdin, Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// ok runs a command that must succeed and returns its standard output.
func ok(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	r := run(t, getenv, args...)
	if r.err != nil {
		t.Fatalf("herald %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail and returns its error text.
func fails(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	r := run(t, getenv, args...)
	if r.err == nil {
		t.Fatalf("herald %s succeeded, want an error\nstdout:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r.err.Error()
}

const testAdminToken = "hsk_test-admin-token-0123456789"

// testServer is a real Herald server started in-process.
type testServer struct {
	URL   string
	Token string
	srv   *server.Server
}

// startServer starts a Herald server on a free port with a fresh SQLite
// database, an admin token, and deliveries to 127.0.0.1 allowed (the test
// receivers listen there). It stops when the test ends.
func startServer(t *testing.T, opts ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerOn(t, filepath.Join(t.TempDir(), "herald.db"), opts...)
}

// startServerOn is startServer on the SQLite database at db; opts change
// the configuration.
func startServerOn(t *testing.T, db string, opts ...func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = db
	cfg.AdminToken = testAdminToken
	cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.RequestTimeout = 5 * time.Second
	cfg.RetrySchedule = []time.Duration{time.Second}
	cfg.ShutdownTimeout = 5 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, server.Options{Stderr: io.Discard})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("server.Shutdown: %v", err)
		}
	})
	return &testServer{URL: "http://" + srv.Addr(), Token: testAdminToken, srv: srv}
}

// env returns the environment pointing the CLI at the server.
func (s *testServer) env(kv ...string) func(string) string {
	return env(append([]string{"HERALD_URL", s.URL, "HERALD_TOKEN", s.Token}, kv...)...)
}

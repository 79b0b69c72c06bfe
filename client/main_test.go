package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// serverURL and adminToken reach the Herald server the examples run
// against, started by TestMain. In a program they would come from the
// configuration, such as "http://127.0.0.1:8071" and
// os.Getenv("HERALD_TOKEN").
var (
	serverURL  string
	adminToken = "hsk_example-admin-token"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := newServer(dir, adminToken)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverURL = "http://" + srv.Addr()
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	srv.Shutdown(ctx)
	cancel()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newServer starts a Herald server with a fresh SQLite database in dir,
// allowing deliveries to 127.0.0.1, where the tests' receivers listen.
func newServer(dir, token string) (*server.Server, error) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = filepath.Join(dir, "herald.db")
	cfg.AdminToken = token
	cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.RequestTimeout = 5 * time.Second
	cfg.RetrySchedule = []time.Duration{time.Second}
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, server.Options{Stderr: io.Discard})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Shutdown(ctx)
		return nil, err
	}
	return srv, nil
}

// setup starts a server of the test's own and returns a client of it.
func setup(t *testing.T) *client.Client {
	t.Helper()
	const token = "hsk_test-admin-token"
	srv, err := newServer(t.TempDir(), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	c, err := client.New("http://"+srv.Addr(), token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hookReceiver is a local endpoint that answers 200 and counts requests.
type hookReceiver struct {
	URL    string
	mu     sync.Mutex
	n      int
	bodies map[string]string // by webhook-id
}

// body returns the body received for a message id.
func (h *hookReceiver) body(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies[id]
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{bodies: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.n++
		h.bodies[r.Header.Get("webhook-id")] = string(b)
		h.mu.Unlock()
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hook"
	return h
}

// eventually polls f until it returns true, failing after a deadline.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

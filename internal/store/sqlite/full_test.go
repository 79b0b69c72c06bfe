package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// fixture creates an app with one endpoint.
func fixture(t *testing.T, s store.Store) *store.App {
	t.Helper()
	app, _ := fixtureEndpoints(t, s, 1)
	return app
}

// fixtureEndpoints creates an app with n endpoints and returns their ids.
func fixtureEndpoints(t *testing.T, s store.Store, n int) (*store.App, []string) {
	t.Helper()
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for range n {
		ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateEndpoint(t.Context(), ep); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep.ID)
	}
	return app, eps
}

// message is a message of 2 KB to appID.
func message(appID string) *store.Message {
	now := store.Truncate(time.Now())
	payload := fmt.Appendf(nil, `{"pad": %q}`, bytes.Repeat([]byte("x"), 2000))
	return &store.Message{ID: ids.New(ids.Message), AppID: appID, EventType: "e", Payload: payload, CreatedAt: now,
		PayloadExpiresAt: now.Add(time.Hour)}
}

// writeUntilFull has writers goroutines create messages until each gets an
// error, and returns the ids of the messages acknowledged and the errors.
// It fails the test if the writers do not all stop within 30s.
func writeUntilFull(t *testing.T, s store.Store, appID string, writers int) (acked []string, errs []error) {
	t.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range writers {
		wg.Go(func() {
			for range 10000 {
				m := message(appID)
				res, err := s.CreateMessages(context.Background(), []store.CreateMessageParams{{Message: m}})
				if err == nil {
					err = res[0].Err
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				acked = append(acked, m.ID)
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writes to a full database still running after 30s")
	}
	return acked, errs
}

// checkAcked fails the test unless every message of ids is stored.
func checkAcked(t *testing.T, s store.Store, appID string, ids []string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.GetMessage(t.Context(), appID, id); err != nil {
			t.Fatalf("acknowledged message %s: %v", id, err)
		}
	}
}

// A database that cannot grow (as on a full disk) fails concurrent writes,
// batched together by the writer, with store.ErrStorageFull and nothing
// else; Ping fails the same way until space comes back, and then the store
// writes again by itself, having lost nothing it acknowledged.
func TestFullDatabase(t *testing.T) {
	t.Parallel()
	s := open(t)
	app := fixture(t, s)
	if _, err := s.LimitPages(t.Context(), 20); err != nil {
		t.Fatal(err)
	}
	acked, errs := writeUntilFull(t, s, app.ID, 32)
	t.Logf("%d messages acknowledged, %d writes failed, e.g. %v", len(acked), len(errs), errs[0])
	// A failed batch leaves its pages free: one writer fills them.
	more, last := writeUntilFull(t, s, app.ID, 1)
	acked = append(acked, more...)
	for _, err := range append(errs, last...) {
		if !errors.Is(err, store.ErrStorageFull) || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("write to a full database: %v, want ErrStorageFull", err)
		}
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrStorageFull) {
		t.Fatalf("ping while full: %v, want ErrStorageFull", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrStorageFull) {
		t.Fatalf("ping again while full: %v, want ErrStorageFull", err)
	}

	if _, err := s.LimitPages(t.Context(), 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("ping once space is back: %v", err)
	}
	if _, err := s.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID)}}); err != nil {
		t.Fatalf("write once space is back: %v", err)
	}
	checkAcked(t, s, app.ID, acked)
}

// On a real full disk the write that fails is the commit (appending to the
// WAL), not a statement. A file size limit (RLIMIT_FSIZE, in a child
// process of its own) makes the commit fail the same way; the store answers
// store.ErrStorageFull, keeps its writer usable, and writes again once the
// limit is lifted.
func TestCommitFailsForLackOfSpace(t *testing.T) {
	if os.Getenv("HERALD_TEST_FSIZE_CHILD") == "" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCommitFailsForLackOfSpace$", "-test.v")
		cmd.Env = append(os.Environ(), "HERALD_TEST_FSIZE_CHILD="+t.TempDir())
		out, err := cmd.CombinedOutput()
		t.Logf("child process:\n%s", out)
		if err != nil {
			t.Fatalf("child process: %v", err)
		}
		return
	}
	dir := os.Getenv("HERALD_TEST_FSIZE_CHILD")
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	app := fixture(t, s)
	wal, err := os.Stat(filepath.Join(dir, "herald.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	unlimited := lim.Cur
	lim.Cur = uint64(wal.Size()) + 256<<10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	acked, errs := writeUntilFull(t, s, app.ID, 8)
	t.Logf("%d messages acknowledged, %d writes failed, e.g. %v", len(acked), len(errs), errs[0])
	for _, err := range errs {
		if !errors.Is(err, store.ErrStorageFull) {
			t.Fatalf("write beyond the file size limit: %v, want ErrStorageFull", err)
		}
	}
	lim.Cur = unlimited
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("ping once the limit is lifted: %v", err)
	}
	if _, err := s.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID)}}); err != nil {
		t.Fatalf("write once the limit is lifted: %v", err)
	}
	checkAcked(t, s, app.ID, acked)
}

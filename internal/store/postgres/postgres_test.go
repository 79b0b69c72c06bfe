package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
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

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), url, postgres.WithMaxConns(2))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(t.Context())
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open and migrate: %v", err)
		}
	}
	s := openURL(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if _, err := s.PutSettingIfAbsent(t.Context(), "k", "v"); err != nil {
		t.Fatalf("schema not usable: %v", err)
	}
}

func TestOpenRefusesBadURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://user:secret@127.0.0.1:5432/db?sslmode=bogus")
	if err == nil {
		t.Fatal("opened a URL with an invalid sslmode")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error reveals the password: %v", err)
	}
}

// fixture creates an app with one endpoint.
func fixture(t *testing.T, s store.Store) (*store.App, *store.Endpoint) {
	t.Helper()
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	return app, ep
}

func message(appID string) *store.Message {
	now := store.Truncate(time.Now())
	return &store.Message{ID: ids.New(ids.Message), AppID: appID, EventType: "e", Payload: []byte(`{}`), CreatedAt: now}
}

// A process listening is woken when another one makes deliveries due:
// messages created without a lease and released deliveries; not by
// messages leased to the process that created them.
func TestListenDueAcrossStores(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	a, b := openURL(t, url), openURL(t, url)
	app, _ := fixture(t, a)

	woken := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.ListenDue(ctx, func() { woken <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenDue: %v", err)
		}
	}()
	wait := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		select {
		case <-woken:
			return time.Since(start)
		case <-time.After(10 * time.Second):
			t.Fatalf("not woken: %s", what)
		}
		return 0
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-woken:
			t.Fatalf("woken by %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	wait("on connecting")

	now := store.Truncate(time.Now())
	res, err := a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID), Lease: 7, LeaseUntil: now.Add(time.Minute)}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	quiet("a message leased to its creator")

	start := time.Now()
	if _, err := a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID)}}); err != nil {
		t.Fatal(err)
	}
	wait("an unleased message")
	t.Logf("woken %v after another store's CreateMessages began", time.Since(start))

	j := res[0].Jobs[0]
	if err := a.ReleaseDeliveries(t.Context(), []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, NextAttemptAt: now}}); err != nil {
		t.Fatal(err)
	}
	wait("a release")
}

func TestHeartbeatCountsLiveReplicas(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	now := store.Truncate(time.Now())
	for i, c := range []struct {
		id   string
		at   time.Time
		want int
	}{
		{"a", now, 1},
		{"b", now, 2},
		{"c", now.Add(5 * time.Second), 3},
		{"c", now.Add(11 * time.Second), 1}, // a and b are past the TTL
	} {
		n, err := s.Heartbeat(ctx, c.id, c.at, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("heartbeat %d (%s): %d replicas, want %d", i, c.id, n, c.want)
		}
	}
	if err := s.Leave(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Heartbeat(ctx, "d", now.Add(12*time.Second), 10*time.Second); n != 1 {
		t.Errorf("after c left: %d replicas, want 1", n)
	}
}

// While the database refuses connections every operation fails with
// store.ErrUnavailable, and the store works again, by itself, once it
// accepts them.
func TestUnavailableThenBack(t *testing.T) {
	t.Parallel()
	url, db := pgtest.Database(t)
	s := openURL(t, url)
	app, _ := fixture(t, s)

	pgtest.Exec(t, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS false`)
	pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+db+`' AND pid <> pg_backend_pid()`)
	ctx := t.Context()
	for name, op := range map[string]func() error{
		"ping": func() error { return s.Ping(ctx) },
		"get":  func() error { _, err := s.GetApp(ctx, app.ID); return err },
		"create": func() error {
			_, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: message(app.ID)}})
			return err
		},
		"claim": func() error {
			_, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), Lease: 1, Limit: 10})
			return err
		},
	} {
		opStart := time.Now()
		err := op()
		t.Logf("%s: %v in %v", name, err, time.Since(opStart))
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while the database refuses connections: %v, want ErrUnavailable", name, err)
		}
	}

	pgtest.Exec(t, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS true`)
	res, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: message(app.ID)}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create once the database is back: %v %v", err, res)
	}

	// Connections cut while idle in the pool are noticed and replaced: each
	// of the pool's (at most 4) may fail one request.
	pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+db+`' AND pid <> pg_backend_pid()`)
	for i := range 4 {
		if _, err := s.GetApp(ctx, app.ID); err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("get %d after the connections were cut: %v, want success or ErrUnavailable", i, err)
		}
	}
	if _, err := s.GetApp(ctx, app.ID); err != nil {
		t.Fatalf("get after reconnecting: %v", err)
	}
}

// Installations in two schemas of one database do not wake each other.
func TestListenDueIgnoresOtherSchemas(t *testing.T) {
	t.Parallel()
	here, there := openURL(t, pgtest.Schema(t)), openURL(t, pgtest.Schema(t))
	app, _ := fixture(t, there)
	hereApp, _ := fixture(t, here)

	woken := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- here.ListenDue(ctx, func() { woken <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenDue: %v", err)
		}
	}()
	<-woken // on connecting

	if _, err := there.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID)}}); err != nil {
		t.Fatal(err)
	}
	// A message of this schema afterwards: the first wake-up must be it.
	if _, err := here.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(hereApp.ID)}}); err != nil {
		t.Fatal(err)
	}
	<-woken
	select {
	case <-woken:
		t.Fatal("woken twice: once by the other schema's message")
	case <-time.After(300 * time.Millisecond):
	}
}

// logRecorder keeps the records logged through it, and passes them to t.Log.
type logRecorder struct {
	t       testing.TB
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	h.t.Logf("%s %s", r.Level, r.Message)
	return nil
}

// count counts the records at level.
func (h *logRecorder) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Level == level {
			n++
		}
	}
	return n
}

// poll waits up to 10s for cond.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The listening connection cut by the server is logged once and counted
// once, however many attempts reconnecting takes (here the database refuses
// connections for a while), and replaced: the listener is woken on
// reconnecting (notifications may have been lost) and by a NOTIFY after.
func TestListenDueReconnects(t *testing.T) {
	t.Parallel()
	url, db := pgtest.Database(t)
	logs := &logRecorder{t: t}
	s := openURL(t, url, postgres.WithLogger(slog.New(logs)))
	app, _ := fixture(t, s)

	woken := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.ListenDue(ctx, func() { woken <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenDue: %v", err)
		}
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-woken:
		case <-time.After(10 * time.Second):
			t.Fatalf("not woken: %s", what)
		}
	}
	wait("on connecting")

	pgtest.Exec(t, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS false`)
	pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = '`+db+`' AND query = 'LISTEN herald_due'`)
	poll(t, "three failed reconnection attempts", func() bool { return logs.count(slog.LevelDebug) >= 3 })
	pgtest.Exec(t, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS true`)
	wait("on reconnecting")

	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings for one failure, want 1", n)
	}
	if n := s.ListenFailures(); n != 1 {
		t.Errorf("ListenFailures = %d after one failure, want 1", n)
	}
	if n := logs.count(slog.LevelInfo); n != 1 {
		t.Errorf("%d infos on reconnecting, want 1", n)
	}

	if _, err := s.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID)}}); err != nil {
		t.Fatal(err)
	}
	wait("a message after reconnecting")
}

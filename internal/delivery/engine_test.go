package delivery_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/webhook"
)

// fixture is a real SQLite store with one app, and what an engine needs.
type fixture struct {
	t     *testing.T
	store store.Store
	box   *secretbox.Box
	app   *store.App
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "test", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: s, box: box, app: app}
}

// endpoint creates an endpoint of the fixture's app; mod, when given,
// changes it before it is stored.
func (f *fixture) endpoint(url string, mod ...func(*store.Endpoint)) *store.Endpoint {
	f.t.Helper()
	secret, err := webhook.NewHMACSecret()
	if err != nil {
		f.t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	ep := &store.Endpoint{
		ID: ids.New(ids.Endpoint), AppID: f.app.ID, URL: url, Secret: f.box.Seal(secret),
		Metadata: map[string]string{}, Headers: map[string]string{}, CreatedAt: now, UpdatedAt: now,
	}
	for _, m := range mod {
		m(ep)
	}
	if err := f.store.CreateEndpoint(f.t.Context(), ep); err != nil {
		f.t.Fatal(err)
	}
	return ep
}

// message creates a message due at once (not leased).
func (f *fixture) message() *store.Message {
	f.t.Helper()
	return f.messageOf(f.app.ID)
}

// messageOf creates a message of the app with id, due at once.
func (f *fixture) messageOf(appID string) *store.Message {
	f.t.Helper()
	now := store.Truncate(time.Now())
	m := &store.Message{ID: ids.NewAt(ids.Message, now), AppID: appID, EventType: "test.event",
		Payload: []byte(`{"a":1}`), PayloadExpiresAt: now.Add(time.Hour), CreatedAt: now}
	res, err := f.store.CreateMessages(f.t.Context(), []store.CreateMessageParams{{Message: m}})
	if err != nil || res[0].Err != nil {
		f.t.Fatalf("create message: %v %v", err, res)
	}
	return m
}

func (f *fixture) engine(s store.Store, mod func(*delivery.Config)) *delivery.Engine {
	cfg := delivery.Config{
		Store:          s,
		Client:         egress.New(egress.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 5 * time.Second}),
		Box:            f.box,
		Log:            slog.New(slog.NewTextHandler(testWriter{f.t}, nil)),
		RequestTimeout: 5 * time.Second,
		RetrySchedule:  []time.Duration{time.Hour, time.Hour},
		PollInterval:   10 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e := delivery.New(cfg)
	// Stopped even when never started: New starts the committer of
	// attempt records.
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) attempts(msgID string) []*store.Attempt {
	f.t.Helper()
	as, err := f.store.ListAttempts(f.t.Context(), store.ListAttemptsParams{AppID: f.app.ID, MsgID: msgID, Page: store.Page{Limit: 100}, WithContent: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

// refusing is the real store, except that it refuses, as PostgreSQL refused
// bytes it cannot keep, any batch of completions holding an attempt whose
// response contains "POISON".
type refusing struct {
	store.Store
	refused atomic.Int64
}

func (r *refusing) CompleteDeliveries(ctx context.Context, cs []store.Completion) error {
	for _, c := range cs {
		if c.Attempt != nil && strings.Contains(c.Attempt.Response, "POISON") {
			r.refused.Add(1)
			return errors.New("ERROR: invalid byte sequence for encoding \"UTF8\" (SQLSTATE 22021)")
		}
	}
	return r.Store.CompleteDeliveries(ctx, cs)
}

// A completion the store refuses is recorded without its response body and
// follows the retry schedule: the delivery is not sent again at every lease
// expiry, forever.
func TestEngineRecordsACompletionTheStoreRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(500)
		_, _ = io.WriteString(w, "POISON")
	}))
	t.Cleanup(srv.Close)
	ep := f.endpoint(srv.URL)
	s := &refusing{Store: f.store}
	e := f.engine(s, nil)
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	m := f.message()
	waitFor(t, "the attempt to be recorded", func() bool { return len(f.attempts(m.ID)) == 1 })
	a := f.attempts(m.ID)[0]
	if a.StatusCode != 500 || a.Response != "(the response could not be recorded)" {
		t.Errorf("attempt: %d %q", a.StatusCode, a.Response)
	}
	d, err := f.store.GetDelivery(t.Context(), store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != store.StatusPending || d.Attempts != 1 || d.NextAttemptAt.Sub(start) < 50*time.Minute {
		t.Errorf("delivery: status %d, %d attempts, next at %v; want pending, 1, on the schedule (an hour away)", d.Status, d.Attempts, d.NextAttemptAt)
	}
	if hits.Load() != 1 || s.refused.Load() != 1 {
		t.Errorf("receiver hit %d times, store refused %d; want 1 and 1", hits.Load(), s.refused.Load())
	}
}

// Stop honours its deadline: a request still in flight is cut off, left
// unrecorded and leased, and sent again by the next engine once the lease
// ends.
func TestEngineStopHonoursItsDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var hang atomic.Bool
	hang.Store(true)
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so that the server notices the client leaving
		arrived <- struct{}{}
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	ep := f.endpoint(srv.URL)
	e := f.engine(f.store, nil)
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := f.message()
	<-arrived

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := e.Stop(ctx)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("Stop took %v with a 200ms deadline", took)
	}
	if err == nil {
		t.Error("Stop cut a request off and said nothing")
	}
	if as := f.attempts(m.ID); len(as) != 0 {
		t.Errorf("%d attempts recorded for a request cut off", len(as))
	}
	d, err := f.store.GetDelivery(t.Context(), store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != store.StatusPending || d.Attempts != 0 || d.Lease == 0 {
		t.Fatalf("delivery after a cut-off stop: %+v, want pending, leased, never attempted", d)
	}

	// The next engine (a clock past the lease) sends it again.
	hang.Store(false)
	later := func() time.Time { return time.Now().Add(time.Hour) }
	e2 := f.engine(f.store, func(c *delivery.Config) { c.Now = later })
	if err := e2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery after the lease", func() bool {
		as := f.attempts(m.ID)
		return len(as) == 1 && as[0].Status == store.StatusSuccess
	})
}

// Stop with time to spare waits for requests in flight and records them.
func TestEngineStopWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	arrived := make(chan struct{}, 1)
	proceed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-proceed
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	f.endpoint(srv.URL)
	e := f.engine(f.store, nil)
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := f.message()
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(context.Background()) }()
	close(proceed)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if as := f.attempts(m.ID); len(as) != 1 || as[0].Status != store.StatusSuccess {
		t.Errorf("attempts after a graceful stop: %v", as)
	}
}

// A completion the store refuses fails alone, not the batch it shares.
func TestEngineRefusedCompletionFailsAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ep := f.endpoint("https://example.com/")
	m1, m2 := f.message(), f.message()
	now := store.Truncate(time.Now())
	jobs, err := f.store.ClaimDeliveries(t.Context(), store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 7, Limit: 10})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	attempt := func(m *store.Message, response string) *store.Attempt {
		return &store.Attempt{ID: ids.NewAt(ids.Attempt, now), AppID: f.app.ID, MsgID: m.ID, EndpointID: ep.ID, URL: ep.URL,
			Status: store.StatusSuccess, StatusCode: 200, Response: response, CreatedAt: now}
	}
	e := f.engine(&refusing{Store: f.store}, nil)
	errs, err := e.WriteCompletions(t.Context(), []store.Completion{
		{MsgID: m1.ID, EndpointID: ep.ID, Lease: 7, Attempt: attempt(m1, "fine"), Status: store.StatusSuccess},
		{MsgID: m2.ID, EndpointID: ep.ID, Lease: 7, Attempt: attempt(m2, "POISON"), Status: store.StatusSuccess},
	})
	if err != nil || len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Fatalf("WriteCompletions = %v, %v; want the second alone to fail", errs, err)
	}
	if as := f.attempts(m1.ID); len(as) != 1 || as[0].Response != "fine" {
		t.Errorf("attempts of the first message: %v", as)
	}
	if as := f.attempts(m2.ID); len(as) != 0 {
		t.Errorf("attempts of the refused message: %v", as)
	}
}

// failingReads is the real store, except that reading an endpoint by id
// fails from the second read on (the first fills the engine's cache).
type failingReads struct {
	store.Store
	reads atomic.Int64
}

func (f *failingReads) GetEndpointByID(ctx context.Context, id string) (*store.Endpoint, error) {
	if f.reads.Add(1) > 1 {
		return nil, errors.New("connection reset by peer")
	}
	return f.Store.GetEndpointByID(ctx, id)
}

// batches counts the store batches the engine reports, by kind and error.
type batches struct {
	mu     sync.Mutex
	failed map[string]int
}

func (b *batches) Attempt(string, time.Duration, bool) {}
func (b *batches) Failure(string)                      {}
func (b *batches) Circuit(bool)                        {}
func (b *batches) Batch(kind string, _ int, _ time.Duration, err error) {
	if err != nil {
		b.mu.Lock()
		b.failed[kind]++
		b.mu.Unlock()
	}
}

func (b *batches) failures(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed[kind]
}

// The check that disables an endpoint failing for days does not swallow a
// store error: it is logged and counted, and the delivery is still
// recorded.
func TestEngineCountsAFailedDisableCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(srv.Close)
	f.endpoint(srv.URL)
	obs := &batches{failed: map[string]int{}}
	e := f.engine(&failingReads{Store: f.store}, func(c *delivery.Config) {
		c.RetrySchedule = nil // the first failure exhausts the message
		c.Observer = obs
	})
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := f.message()
	waitFor(t, "the attempt", func() bool { return len(f.attempts(m.ID)) == 1 })
	waitFor(t, "the failed check counted", func() bool { return obs.failures("disable_check") == 1 })
}

// An endpoint that fails opens its circuit: the deliveries behind it wait
// without being attempted (their retry schedule untouched) until a probe,
// at the first probe interval, finds it answering; then they all go.
func TestEngineCircuitBreaker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var up atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !up.Load() {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	ep := f.endpoint(srv.URL)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	obs := &batches{failed: map[string]int{}}
	e := f.engine(f.store, func(c *delivery.Config) {
		c.Now = clock
		c.EndpointConcurrency = 1 // one at a time, so that the count is exact
		c.BreakerFailures = 3
		c.BreakerProbe = 10 * time.Second
		c.Observer = obs
	})
	var msgs []*store.Message
	for range 10 {
		msgs = append(msgs, f.message())
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the circuit to open", func() bool { return e.OpenCircuits() == 1 })
	// The three failures recorded too (due again in an hour), before the
	// clock moves past their lease: a completion still being written then
	// would find its delivery claimed again, and it would go twice.
	waitFor(t, "the failures recorded and the others to wait unattempted", func() bool {
		waiting, failed := 0, 0
		for _, m := range msgs {
			d, err := f.store.GetDelivery(t.Context(), store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
			switch {
			case err != nil || d.Lease != 0 || d.Status != store.StatusPending:
			case d.Attempts == 0:
				waiting++
			case d.Attempts == 1:
				failed++
			}
		}
		return waiting == 7 && failed == 3
	})
	if n := hits.Load(); n != 3 {
		t.Errorf("%d requests to the failing endpoint, want 3 (the threshold)", n)
	}

	// The endpoint is back; the probe is due after 10s.
	up.Store(true)
	offset.Store(int64(11 * time.Second))
	e.Wake()
	waitFor(t, "the circuit to close", func() bool { return e.OpenCircuits() == 0 })
	waitFor(t, "the waiting deliveries", func() bool {
		for _, m := range msgs[3:] {
			if as := f.attempts(m.ID); len(as) != 1 || as[0].Status != store.StatusSuccess {
				return false
			}
		}
		return true
	})
	if n := hits.Load(); n != 10 {
		t.Errorf("%d requests in all, want 10: 3 failures, then the 7 that waited", n)
	}
}

// A delivery whose payload was expunged before it went out is given up
// unattempted, not sent with an empty signed body.
func TestEngineDoesNotSendAnExpungedPayload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	ep := f.endpoint(srv.URL)
	m := f.message()
	if err := f.store.ExpungeMessagePayload(t.Context(), f.app.ID, m.ID); err != nil {
		t.Fatal(err)
	}
	e := f.engine(f.store, nil)
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery given up", func() bool {
		d, err := f.store.GetDelivery(t.Context(), store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
		return err == nil && d.Status == store.StatusFail
	})
	if n := hits.Load(); n != 0 {
		t.Errorf("the receiver got %d requests for a message with no payload", n)
	}
}

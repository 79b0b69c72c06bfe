package delivery_test

// The engine alone, in virtual time: each test runs in a testing/synctest
// bubble, so the engine's timers, the lease and throttle clocks and the
// egress client's timeouts all read the bubble's clock, which moves only
// when every goroutine of the bubble is blocked. The store is the real
// SQLite driver (it runs inside the bubble); the network is not (a
// loopback connection blocks outside the bubble's clock), so the receiver
// is the egress client's transport: the requests still go through egress
// (deadlines, body limits, Classify) and are signed as they would be sent.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/webhook"
)

// receiver is the egress client's transport in a bubble: it records every
// request and answers it with answer, which may block (on the request's
// context, a gate, or the bubble's clock).
type receiver struct {
	answer func(r *http.Request) (int, error)

	mu       sync.Mutex
	requests []received
	inFlight map[string]int // by path
}

type received struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(answer func(r *http.Request) (int, error)) *receiver {
	return &receiver{answer: answer, inFlight: map[string]int{}}
}

func (rc *receiver) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, received{path: r.URL.Path, header: r.Header.Clone(), body: body, at: time.Now()})
	rc.inFlight[r.URL.Path]++
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight[r.URL.Path]--
		rc.mu.Unlock()
	}()
	status, err := rc.answer(r)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

// got returns the requests received so far.
func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

// busy is the number of requests to path not answered yet ("" for all).
func (rc *receiver) busy(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for p, c := range rc.inFlight {
		if path == "" || p == path {
			n += c
		}
	}
	return n
}

// answerNow answers 204 at once.
func answerNow(*http.Request) (int, error) { return 204, nil }

// hang never answers: the request ends when its context does.
func hang(r *http.Request) (int, error) {
	<-r.Context().Done()
	return 0, r.Context().Err()
}

// answerAfter answers status after d (or gives up with the request).
func answerAfter(d time.Duration, status int) func(*http.Request) (int, error) {
	return func(r *http.Request) (int, error) {
		select {
		case <-time.After(d):
			return status, nil
		case <-r.Context().Done():
			return 0, r.Context().Err()
		}
	}
}

// syncEngine returns an engine on f's store sending to rc, with a 5s
// request timeout (so an 11s lease), a 1s poll, retries after 1m then 1h
// without jitter, and mod applied. It is stopped when the test ends (by
// f.engine), requests still hanging cut off.
func (f *fixture) syncEngine(rc *receiver, mod func(*delivery.Config)) *delivery.Engine {
	f.t.Helper()
	return f.syncEngineOn(f.store, rc, mod)
}

// syncEngineOn is syncEngine on the store s.
func (f *fixture) syncEngineOn(s store.Store, rc *receiver, mod func(*delivery.Config)) *delivery.Engine {
	f.t.Helper()
	return f.engine(s, func(c *delivery.Config) {
		c.Client = egress.New(egress.Config{
			Timeout:       5 * time.Second,
			WrapTransport: func(http.RoundTripper) http.RoundTripper { return rc },
		})
		c.PollInterval = time.Second
		c.RetrySchedule = []time.Duration{time.Minute, time.Hour}
		if mod != nil {
			mod(c)
		}
	})
}

func start(t *testing.T, e *delivery.Engine) {
	t.Helper()
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// delivery returns the delivery of m to ep.
func (f *fixture) delivery(m *store.Message, ep *store.Endpoint) *store.Delivery {
	f.t.Helper()
	d, err := f.store.GetDelivery(f.t.Context(), store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// Send: a due message is claimed, sent once with the stored bytes signed by
// the endpoint's secret, and its success recorded, all at the instant it
// became due.
func TestSyncEngineSendsSignedAndRecords(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerNow)
		ep := f.endpoint("http://receiver.test/hook")
		m := f.message()
		begin := time.Now()
		start(t, f.syncEngine(rc, nil))
		synctest.Wait()

		got := rc.got()
		if len(got) != 1 {
			t.Fatalf("%d requests, want 1", len(got))
		}
		if got[0].at != begin {
			t.Errorf("sent %v after the start, want at once", got[0].at.Sub(begin))
		}
		if string(got[0].body) != string(m.Payload) {
			t.Errorf("body %q, want the stored payload %q", got[0].body, m.Payload)
		}
		plain, err := f.box.Open(ep.Secret)
		if err != nil {
			t.Fatal(err)
		}
		v := webhook.Verifier{Secrets: []webhook.Secret{webhook.MustParseSecret(plain)}, Now: time.Now}
		if err := v.Verify(got[0].header, got[0].body); err != nil {
			t.Errorf("signature: %v", err)
		}
		if id := got[0].header.Get("webhook-id"); id != m.ID {
			t.Errorf("webhook-id %q, want the message id %q", id, m.ID)
		}
		as := f.attempts(m.ID)
		if len(as) != 1 || as[0].Status != store.StatusSuccess || as[0].StatusCode != 204 || as[0].Response != "ok" {
			t.Fatalf("attempts: %+v, want one success", as)
		}
		if d := f.delivery(m, ep); d.Status != store.StatusSuccess || d.Attempts != 1 || d.Lease != 0 {
			t.Errorf("delivery %+v, want a success after one attempt, no lease", d)
		}
	})
}

// Claim: a failed attempt is retried when the schedule says (1m), not
// before: the retry is claimed from the store by the poll that follows.
func TestSyncEngineClaimsARetryWhenItIsDue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var mu sync.Mutex
		calls := 0
		rc := newReceiver(func(*http.Request) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return 500, nil
			}
			return 204, nil
		})
		ep := f.endpoint("http://receiver.test/hook")
		m := f.message()
		begin := time.Now()
		start(t, f.syncEngine(rc, nil))
		synctest.Wait()
		d := f.delivery(m, ep)
		if d.Status != store.StatusPending || d.Attempts != 1 || !d.NextAttemptAt.Equal(store.Truncate(begin.Add(time.Minute))) {
			t.Fatalf("after a 500: %+v, want pending, one attempt, due in 1m", d)
		}

		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		if n := len(rc.got()); n != 1 {
			t.Fatalf("%d requests before the retry was due, want 1", n)
		}
		time.Sleep(time.Second) // the next poll
		synctest.Wait()
		got := rc.got()
		if len(got) != 2 {
			t.Fatalf("%d requests a poll after the retry was due, want 2", len(got))
		}
		if wait := got[1].at.Sub(begin); wait < time.Minute || wait > time.Minute+time.Second {
			t.Errorf("retried after %v, want within a poll (1s) of 1m", wait)
		}
		if d := f.delivery(m, ep); d.Status != store.StatusSuccess || d.Attempts != 2 {
			t.Errorf("after the retry: %+v, want a success after two attempts", d)
		}
	})
}

// Lease expiry: deliveries leased by a process that died are taken when
// the lease ends, not before.
func TestSyncEngineTakesDeliveriesWhenADeadLeaseEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerNow)
		ep := f.endpoint("http://receiver.test/hook")
		m := f.message()
		now := store.Truncate(time.Now())
		jobs, err := f.store.ClaimDeliveries(t.Context(), store.ClaimParams{Now: now, LeaseUntil: now.Add(30 * time.Second), Lease: 42, Limit: 10})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim by the process that dies: %d jobs, %v", len(jobs), err)
		}
		start(t, f.syncEngine(rc, nil))
		time.Sleep(30*time.Second - time.Millisecond)
		synctest.Wait()
		if n := len(rc.got()); n != 0 {
			t.Fatalf("%d requests while another process held the lease, want 0", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(rc.got()); n != 1 {
			t.Fatalf("%d requests a poll after the lease ended, want 1", n)
		}
		if d := f.delivery(m, ep); d.Status != store.StatusSuccess {
			t.Errorf("delivery %+v, want a success", d)
		}
	})
}

// Lease expiry in memory: a job whose lease has less than a request's
// timeout + 1s left when its turn comes is not sent (it could still be in
// flight when another process claims it); it is claimed again when the
// lease ends.
func TestSyncEngineDoesNotSendOnALeaseAboutToEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerAfter(4*time.Second, 204))
		f.endpoint("http://receiver.test/hook")
		for range 3 {
			f.message()
		}
		// One at a time: sends at 0s and 4s; at 8s the third has 3s of
		// its 11s lease left, less than 5s + 1s.
		start(t, f.syncEngine(rc, func(c *delivery.Config) { c.EndpointConcurrency = 1 }))
		time.Sleep(11*time.Second - time.Millisecond)
		synctest.Wait()
		if n := len(rc.got()); n != 2 {
			t.Fatalf("%d requests before the lease ended, want 2 (the third's lease was too short)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got := rc.got()
		if len(got) != 3 {
			t.Fatalf("%d requests after the lease ended, want 3", len(got))
		}
		if at := got[2].at.Sub(got[0].at); at < 11*time.Second {
			t.Errorf("the third was sent %v after the first, before its lease ended", at)
		}
	})
}

// Throttle: an endpoint limited to 2 messages a second gets one at once
// (a full bucket) and then one every 500ms, however many are queued.
func TestSyncEngineThrottlesAnEndpoint(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerNow)
		f.endpoint("http://receiver.test/slow", func(ep *store.Endpoint) { ep.ThrottleRate = 2 })
		f.endpoint("http://receiver.test/free")
		for range 10 {
			f.message()
		}
		begin := time.Now()
		start(t, f.syncEngine(rc, nil))
		synctest.Wait()
		count := func(path string) (n int) {
			for _, r := range rc.got() {
				if r.path == path {
					n++
				}
			}
			return n
		}
		if n := count("/free"); n != 10 {
			t.Errorf("%d requests to the endpoint without a throttle, want all 10 at once", n)
		}
		if n := count("/slow"); n != 1 {
			t.Errorf("%d requests at once to the throttled endpoint, want 1", n)
		}
		time.Sleep(1250 * time.Millisecond)
		synctest.Wait()
		if n := count("/slow"); n != 3 {
			t.Errorf("%d requests in 1.25s at 2/s, want 3 (at 0, 0.5s, 1s)", n)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		var at []time.Duration
		for _, r := range rc.got() {
			if r.path == "/slow" {
				at = append(at, r.at.Sub(begin))
			}
		}
		if len(at) != 10 {
			t.Fatalf("%d requests to the throttled endpoint in all, want 10", len(at))
		}
		for i, d := range at {
			if want := time.Duration(i) * 500 * time.Millisecond; d != want {
				t.Errorf("request %d sent at %v, want %v", i, d, want)
			}
		}
	})
}

// Slow start: an endpoint starts with 4 requests in flight, however high
// its cap, and earns one more slot per answer in time.
func TestSyncEngineSlowStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		gate := make(chan struct{})
		rc := newReceiver(func(r *http.Request) (int, error) {
			select {
			case <-gate:
				return 204, nil
			case <-r.Context().Done():
				return 0, r.Context().Err()
			}
		})
		f.endpoint("http://receiver.test/hook")
		for range 20 {
			f.message()
		}
		start(t, f.syncEngine(rc, func(c *delivery.Config) { c.EndpointConcurrency = 32 }))
		synctest.Wait()
		if n := rc.busy(""); n != 4 {
			t.Fatalf("%d requests in flight at first, want 4 (the slow start)", n)
		}
		gate <- struct{}{} // one answer: the cap grows to 5
		synctest.Wait()
		if n, all := rc.busy(""), len(rc.got()); n != 5 || all != 6 {
			t.Fatalf("after one answer: %d in flight, %d sent; want 5 in flight, 6 sent", n, all)
		}
		gate <- struct{}{} // 6
		synctest.Wait()
		if n := rc.busy(""); n != 6 {
			t.Fatalf("after two answers: %d in flight, want 6", n)
		}
		close(gate)
		synctest.Wait()
		if n := len(rc.got()); n != 20 {
			t.Errorf("%d requests in all, want 20", n)
		}
	})
}

// Application share: one application's endpoints, all hanging, hold only
// AppConcurrency slots together; another application's endpoint still
// gets its requests out.
func TestSyncEngineCapsAnApplication(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(hang)
		f.endpoint("http://receiver.test/a1")
		f.endpoint("http://receiver.test/a2")
		now := store.Truncate(time.Now())
		other := &store.App{ID: ids.New(ids.App), Name: "other", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
		if err := f.store.CreateApp(t.Context(), other); err != nil {
			t.Fatal(err)
		}
		f.endpoint("http://receiver.test/b", func(ep *store.Endpoint) { ep.AppID = other.ID })
		for range 10 {
			f.message()
		}
		f.messageOf(other.ID)
		f.messageOf(other.ID)
		start(t, f.syncEngine(rc, func(c *delivery.Config) { c.AppConcurrency = 3 }))
		synctest.Wait()
		if a := rc.busy("/a1") + rc.busy("/a2"); a != 3 {
			t.Errorf("%d requests in flight to the first application, want its cap, 3", a)
		}
		if b := rc.busy("/b"); b != 2 {
			t.Errorf("%d requests in flight to the other application, want both of its messages", b)
		}
	})
}

// Stop waits for the requests in flight, records them, and returns when
// the last answer came, not later.
func TestSyncEngineStopWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerAfter(3*time.Second, 204))
		f.endpoint("http://receiver.test/hook")
		m := f.message()
		e := f.syncEngine(rc, nil)
		start(t, e)
		synctest.Wait()
		if n := rc.busy(""); n != 1 {
			t.Fatalf("%d requests in flight, want 1", n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		begin := time.Now()
		if err := e.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if took := time.Since(begin); took != 3*time.Second {
			t.Errorf("Stop took %v, want the 3s the request had left", took)
		}
		if as := f.attempts(m.ID); len(as) != 1 || as[0].Status != store.StatusSuccess {
			t.Errorf("attempts after the stop: %+v, want the success recorded", as)
		}
	})
}

// Stop returns at its deadline: the request still in flight is cut off,
// unrecorded, its delivery left leased; the next engine sends it when the
// lease ends.
func TestSyncEngineStopCutsOffAtItsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var up sync.Mutex // held: the receiver hangs
		up.Lock()
		rc := newReceiver(func(r *http.Request) (int, error) {
			if up.TryLock() {
				up.Unlock()
				return 204, nil
			}
			return hang(r)
		})
		ep := f.endpoint("http://receiver.test/hook")
		m := f.message()
		e := f.syncEngine(rc, nil)
		start(t, e)
		synctest.Wait()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		begin := time.Now()
		if err := e.Stop(ctx); err == nil {
			t.Error("Stop cut a request off and said nothing")
		}
		if took := time.Since(begin); took != time.Second {
			t.Errorf("Stop took %v with a 1s deadline", took)
		}
		synctest.Wait()
		if as := f.attempts(m.ID); len(as) != 0 {
			t.Errorf("%d attempts recorded for a request cut off", len(as))
		}
		if d := f.delivery(m, ep); d.Status != store.StatusPending || d.Attempts != 0 || d.Lease == 0 {
			t.Fatalf("delivery after a cut-off stop: %+v, want pending, leased, never attempted", d)
		}

		up.Unlock()
		start(t, f.syncEngine(rc, nil))
		time.Sleep(10*time.Second - time.Millisecond) // the lease (11s) ends 11s after the start
		synctest.Wait()
		if n := len(rc.got()); n != 1 {
			t.Fatalf("%d requests while the lease lasted, want 1 (the one cut off)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if as := f.attempts(m.ID); len(as) != 1 || as[0].Status != store.StatusSuccess {
			t.Errorf("attempts after the lease ended: %+v, want one success", as)
		}
	})
}

// Stop gives the jobs held in memory, never sent, back to the store: due
// at once, no longer leased, so that another process takes them now.
func TestSyncEngineStopGivesBackQueuedJobs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerAfter(2*time.Second, 204))
		ep := f.endpoint("http://receiver.test/hook")
		var ms []*store.Message
		for range 3 {
			ms = append(ms, f.message())
		}
		e := f.syncEngine(rc, func(c *delivery.Config) { c.EndpointConcurrency = 1 })
		start(t, e)
		synctest.Wait()
		if queued, inFlight := e.Load(); queued != 2 || inFlight != 1 {
			t.Fatalf("load %d queued, %d in flight; want 2 and 1", queued, inFlight)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		stopped := store.Truncate(time.Now())
		sent, given := 0, 0
		for _, m := range ms {
			switch d := f.delivery(m, ep); {
			case d.Status == store.StatusSuccess:
				sent++
			case d.Status == store.StatusPending && d.Lease == 0 && d.Attempts == 0 && d.NextAttemptAt.Equal(stopped):
				given++
			default:
				t.Errorf("delivery after Stop: %+v", d)
			}
		}
		if sent != 1 || given != 2 {
			t.Errorf("%d sent, %d given back; want 1 and 2", sent, given)
		}
		if n := len(rc.got()); n != 1 {
			t.Errorf("%d requests, want 1: Stop sends nothing new", n)
		}
	})
}

// Circuit breaker: after BreakerFailures failures in a row the endpoint
// gets no attempt but a probe, due BreakerProbe later; the probe's success
// closes the circuit and the deliveries that waited go, each exactly once.
func TestSyncEngineCircuitBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var mu sync.Mutex
		up := false
		rc := newReceiver(func(*http.Request) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if !up {
				return 503, nil
			}
			return 204, nil
		})
		ep := f.endpoint("http://receiver.test/hook")
		var ms []*store.Message
		for range 10 {
			ms = append(ms, f.message())
		}
		e := f.syncEngine(rc, func(c *delivery.Config) {
			c.EndpointConcurrency = 1 // one at a time, so that the count is exact
			c.BreakerFailures = 3
			c.BreakerProbe = 10 * time.Second
		})
		begin := time.Now()
		start(t, e)
		synctest.Wait()
		if n := e.OpenCircuits(); n != 1 {
			t.Fatalf("%d open circuits after 3 failures, want 1", n)
		}
		if n := len(rc.got()); n != 3 {
			t.Fatalf("%d requests to the failing endpoint, want 3 (the threshold)", n)
		}
		waiting := 0
		for _, m := range ms {
			if d := f.delivery(m, ep); d.Status == store.StatusPending && d.Attempts == 0 && d.Lease == 0 {
				waiting++
			}
		}
		if waiting != 7 {
			t.Errorf("%d deliveries waiting unattempted and unleased, want 7", waiting)
		}

		mu.Lock()
		up = true
		mu.Unlock()
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		if n := len(rc.got()); n != 3 {
			t.Fatalf("%d requests before the probe was due, want 3", n)
		}
		time.Sleep(2 * time.Second) // the probe is due; a poll takes it
		synctest.Wait()
		if n := e.OpenCircuits(); n != 0 {
			t.Errorf("%d open circuits after the probe's success, want 0", n)
		}
		got := rc.got()
		if len(got) != 10 {
			t.Errorf("%d requests in all, want 10: 3 failures, then the 7 that waited", len(got))
		}
		seen := map[string]int{}
		for _, r := range got[3:] {
			seen[r.header.Get("webhook-id")]++
			if r.at.Sub(begin) < 10*time.Second {
				t.Errorf("a request went %v after the circuit opened, before the probe was due", r.at.Sub(begin))
			}
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("message %s sent %d times after the circuit closed", id, n)
			}
		}
		for _, m := range ms[3:] {
			if d := f.delivery(m, ep); d.Status != store.StatusSuccess || d.Attempts != 1 {
				t.Errorf("a delivery that waited: %+v, want one attempt, a success", d)
			}
		}
	})
}

// unavailable is the real store, except that its first fail calls to
// CompleteDeliveries fail as an unreachable database does; it notes when
// each call came.
type unavailable struct {
	store.Store
	fail int

	mu    sync.Mutex
	calls []time.Time
}

func (u *unavailable) CompleteDeliveries(ctx context.Context, cs []store.Completion) error {
	u.mu.Lock()
	u.calls = append(u.calls, time.Now())
	n := len(u.calls)
	u.mu.Unlock()
	if n <= u.fail {
		return fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	}
	return u.Store.CompleteDeliveries(ctx, cs)
}

func (u *unavailable) times() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

// A store that cannot record an attempt now is tried again after 100ms,
// then a doubling wait, and the attempt is recorded once it answers.
func TestSyncEngineRecordsAfterTheStoreComesBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerNow)
		f.endpoint("http://receiver.test/hook")
		m := f.message()
		u := &unavailable{Store: f.store, fail: 3}
		e := f.syncEngineOn(u, rc, nil)
		begin := time.Now()
		start(t, e)
		time.Sleep(700*time.Millisecond - time.Millisecond)
		synctest.Wait()
		if as := f.attempts(m.ID); len(as) != 0 {
			t.Fatalf("%d attempts recorded while the store was down", len(as))
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if as := f.attempts(m.ID); len(as) != 1 || as[0].Status != store.StatusSuccess {
			t.Fatalf("attempts once the store answered: %+v, want the success", as)
		}
		var at []time.Duration
		for _, c := range u.times() {
			at = append(at, c.Sub(begin))
		}
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}
		if !slices.Equal(at, want) {
			t.Errorf("completions tried at %v, want %v", at, want)
		}
		if n := len(rc.got()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

// A store down for longer than the lease: the engine stops trying to
// record the attempt before the lease ends (the next wait would pass it),
// and the delivery is claimed and sent again once the lease ended.
func TestSyncEngineGivesUpRecordingAtTheLeaseEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerNow)
		f.endpoint("http://receiver.test/hook")
		f.message()
		u := &unavailable{Store: f.store, fail: 1 << 30}
		e := f.syncEngineOn(u, rc, nil)
		begin := time.Now()
		start(t, e)
		time.Sleep(11*time.Second - time.Millisecond) // the lease: 2 x 5s + 1s
		synctest.Wait()
		var at []time.Duration
		for _, c := range u.times() {
			at = append(at, c.Sub(begin))
		}
		// Waits of 0.1, 0.2, 0.4, 0.8, 1.6 and 3.2s; the next (5s) would
		// end after the lease.
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond,
			1500 * time.Millisecond, 3100 * time.Millisecond, 6300 * time.Millisecond}
		if !slices.Equal(at, want) {
			t.Errorf("completions tried at %v, want %v", at, want)
		}
		if n := len(rc.got()); n != 1 {
			t.Fatalf("%d requests during the lease, want 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(rc.got()); n != 2 {
			t.Errorf("%d requests after the lease ended, want 2 (sent again)", n)
		}
		// Only the second attempt's completion is tried after the lease:
		// the first one's sender gave up.
		at = at[:0]
		for _, c := range u.times()[len(want):] {
			at = append(at, c.Sub(begin))
		}
		if want := []time.Duration{11 * time.Second, 11100 * time.Millisecond, 11300 * time.Millisecond,
			11700 * time.Millisecond}; !slices.Equal(at, want) {
			t.Errorf("completions tried after the lease at %v, want %v", at, want)
		}
	})
}

// Deliveries an endpoint's queue has no room for are parked, by a claim (the
// jobs it cannot hold) and on the API's fast path (FastLease names the
// endpoint), and the endpoint gets them as it makes room: each exactly
// once, none left parked.
func TestSyncEngineParksWhatAFullEndpointCannotHold(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerAfter(time.Second, 204))
		ep := f.endpoint("http://receiver.test/hook")
		ms := make(map[string]*store.Message)
		for range 10 {
			m := f.message()
			ms[m.ID] = m
		}
		// One request at a time, two jobs in memory.
		e := f.syncEngine(rc, func(c *delivery.Config) { c.EndpointConcurrency = 1; c.EndpointQueue = 2 })
		start(t, e)
		synctest.Wait()
		parked := func() int64 {
			t.Helper()
			qs, err := f.store.QueueStats(t.Context(), store.Truncate(time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			return qs.Parked
		}
		if n := parked(); n != 7 {
			t.Errorf("%d parked after the first claim, want 7 (10 less 1 in flight and 2 queued)", n)
		}

		// The fast path parks what it cannot take for the full endpoint.
		lease, until, exclude, ok := e.FastLease()
		if !ok || !slices.Contains(exclude, ep.ID) {
			t.Fatalf("FastLease: ok %v, exclude %v; want the full endpoint excluded", ok, exclude)
		}
		now := store.Truncate(time.Now())
		m := &store.Message{ID: ids.NewAt(ids.Message, now), AppID: f.app.ID, EventType: "test.event",
			Payload: []byte(`{"a":2}`), PayloadExpiresAt: now.Add(time.Hour), CreatedAt: now}
		ms[m.ID] = m
		res, err := f.store.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: m, Lease: lease, LeaseUntil: until, NoLease: exclude}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("create: %v %v", err, res)
		}
		e.Dispatch(res[0].Jobs)
		if d := f.delivery(m, ep); d.Lease != 0 || !d.NextAttemptAt.IsZero() {
			t.Errorf("fast-path delivery to the full endpoint: %+v, want parked", d)
		}

		time.Sleep(time.Minute)
		synctest.Wait()
		for _, m := range ms {
			if d := f.delivery(m, ep); d.Status != store.StatusSuccess || d.Attempts != 1 {
				t.Errorf("delivery of %s: %+v, want one successful attempt", m.ID, d)
			}
		}
		if n := len(rc.got()); n != len(ms) {
			t.Errorf("%d requests for %d messages", n, len(ms))
		}
		if n := parked(); n != 0 {
			t.Errorf("%d left parked", n)
		}
	})
}

// releaseCounter counts the deliveries given back to (or parked in) the
// real store it wraps.
type releaseCounter struct {
	store.Store
	released atomic.Int64
}

func (c *releaseCounter) ReleaseDeliveries(ctx context.Context, rs []store.Release) error {
	c.released.Add(int64(len(rs)))
	return c.Store.ReleaseDeliveries(ctx, rs)
}

// A parked claim takes, for each endpoint, no more than its queue has room
// for, and skips endpoints whose queue is over half full: what a claim of
// due deliveries could not hold is parked once, and never claimed only to
// be parked again.
func TestSyncEngineParkedClaimsTakeOnlyTheRoom(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rc := newReceiver(answerAfter(time.Second, 204))
		ep := f.endpoint("http://receiver.test/hook")
		var ms []*store.Message
		for range 40 {
			ms = append(ms, f.message())
		}
		counter := &releaseCounter{Store: f.store}
		// One request at a time, four jobs in memory.
		e := f.syncEngineOn(counter, rc, func(c *delivery.Config) { c.EndpointConcurrency = 1; c.EndpointQueue = 4 })
		start(t, e)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		for _, m := range ms {
			if d := f.delivery(m, ep); d.Status != store.StatusSuccess || d.Attempts != 1 {
				t.Errorf("delivery of %s: %+v, want one successful attempt", m.ID, d)
			}
		}
		// The first claim takes all 40: four fit in memory, 36 are
		// parked.
		if n := counter.released.Load(); n != 36 {
			t.Errorf("%d deliveries parked or given back, want the 36 the first claim could not hold", n)
		}
	})
}

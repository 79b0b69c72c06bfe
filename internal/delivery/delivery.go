// Package delivery is Herald's delivery engine: it takes due deliveries from
// the store (or straight from the API on the fast path), signs and sends
// them, records every attempt and schedules retries.
//
// A delivery is only ever sent under a lease that outlives the request: a
// job whose lease would end before its request could time out is given back
// to the store instead of being sent, so two workers (or replicas) never send
// one delivery at the same time.
//
// Isolation: jobs wait in one queue per endpoint; sending takes endpoints in
// turn, each with its own in-flight cap and throttle, so a slow, failing or
// throttled endpoint holds only its own slots. Within an endpoint, first
// attempts go before retries.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/groupcommit"
)

// Store is the part of store.Store the engine uses: it claims, releases and
// completes deliveries, reads endpoints and applications, and stores circuit
// changes.
type Store interface {
	ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error)
	ReleaseDeliveries(ctx context.Context, rs []store.Release) error
	CompleteDeliveries(ctx context.Context, cs []store.Completion) error
	GetEndpointByID(ctx context.Context, id string) (*store.Endpoint, error)
	SetEndpointCircuit(ctx context.Context, id string, c store.Circuit) error
	GetApp(ctx context.Context, idOrUID string) (*store.App, error)
}

// Config configures an Engine.
type Config struct {
	Store  Store
	Client *egress.Client
	Box    *secretbox.Box
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds each request; it must match the egress
	// client's. Zero means 15s.
	RequestTimeout time.Duration
	// RetrySchedule is the wait before each retry.
	RetrySchedule []time.Duration
	// Jitter spreads retry delays by ±Jitter (0.2 = ±20%).
	Jitter float64
	// EndpointConcurrency caps the requests in flight to one endpoint.
	// Zero means 32.
	EndpointConcurrency int
	// MaxInFlight caps the requests in flight in this process. Zero means
	// 1024.
	MaxInFlight int
	// AppConcurrency caps the requests in flight to one application's
	// endpoints together, so that one application (however many endpoints
	// it registers, all hanging) leaves slots for the others. Zero means a
	// quarter of MaxInFlight (256 by default).
	AppConcurrency int
	// MaxQueued caps the jobs held in memory. Zero means 32768.
	MaxQueued int
	// EndpointQueue caps the jobs held in memory for one endpoint. Zero
	// means 1000.
	EndpointQueue int
	// AppQueue caps the jobs held in memory for one application. Zero
	// means a quarter of MaxQueued (8192 by default).
	AppQueue int
	// PollInterval is the longest wait between two looks for due
	// deliveries. Zero means 250ms.
	PollInterval time.Duration
	// ClaimBatch is the most deliveries claimed at once. Zero means 512.
	ClaimBatch int
	// DisableAfter disables an endpoint when a message exhausts its retries
	// and the endpoint has had no success for this long. Zero means 5 days;
	// negative never disables.
	DisableAfter time.Duration
	// SvixHeaders also sends svix-id, svix-timestamp and svix-signature.
	SvixHeaders bool
	// UserAgent is sent with every request. Empty means "Herald".
	UserAgent string
	// Observer, when set, is told about every attempt (for metrics).
	Observer Observer
	// Events builds the operational events the engine's outcomes cause
	// (message.attempt.*, endpoint.disabled); nil sends none.
	Events *operational.Events
	// BreakerFailures is how many consecutive failed attempts (no
	// connection, a timeout, a 5xx) open an endpoint's circuit. Zero
	// means 5; negative turns the breaker off.
	BreakerFailures int
	// BreakerProbe is the first wait before a probe of an open circuit;
	// it doubles while probes fail, up to BreakerMaxProbe. Zero means 10s.
	BreakerProbe time.Duration
	// BreakerMaxProbe is the longest wait between probes. Zero means 5m.
	BreakerMaxProbe time.Duration
	// FailureLogInterval is how often failed deliveries are summed up in
	// the log, one line per endpoint. Zero means 30s.
	FailureLogInterval time.Duration
}

// Observer receives events for metrics. Methods must be fast and safe for
// concurrent use.
type Observer interface {
	// Attempt is an attempt's outcome ("success", "failure", "timeout",
	// "error") and duration; operational is true for the operational
	// application's (operational webhooks).
	Attempt(outcome string, d time.Duration, operational bool)
	// Failure is a failed attempt's class: an egress.Class, or "3xx",
	// "4xx", "5xx" (and "1xx") for an answer.
	Failure(class string)
	// Circuit is an endpoint's circuit opening or closing.
	Circuit(open bool)
	Batch(kind string, size int, d time.Duration, err error)
}

// Engine delivers messages. Create it with New, then Start it.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	lease  time.Duration // how long a claim holds a delivery
	margin time.Duration // lease left after a request's timeout

	sched     *scheduler
	breaker   *breaker
	failures  *failureLog
	appUIDs   *appCache
	endpoints *endpointCache
	// complete writes attempt records in batches; each item's result is
	// its own error (a completion the store refuses fails alone).
	complete *groupcommit.Committer[store.Completion, error]
	// ctx is the context of the loops and sends; cancel cuts them off when
	// Stop's deadline ends first.
	ctx    context.Context
	cancel context.CancelFunc

	wake      chan struct{}
	toRelease chan *store.Job
	// loop runs the engine's loops; stop is its Stopping channel.
	loop  lifecycle.Loop
	stop  <-chan struct{}
	sends sync.WaitGroup
	// lastClaimSkipped: the last claim found nothing while skipping
	// endpoints with full queues (only the run loop uses it).
	lastClaimSkipped bool
	// cursors are the claim loop's, for first attempts and retries.
	cursors [2]claimCursor
	// mayPark is set when an endpoint may have room for its parked
	// deliveries again (its queue drained to half, its circuit closed):
	// the next claim looks for them. Without it the claim loop looks
	// every parkedEvery (parked deliveries of another replica, of an
	// earlier run, or of an endpoint whose circuit probe is due);
	// lastParked is when it last did and parkedLeft whether it left some
	// it could take (only the run loop uses those two).
	mayPark    atomic.Bool
	lastParked time.Time
	parkedLeft bool
	rndMu      sync.Mutex
	rnd        *mrand.Rand
}

// New returns an engine; it sends nothing until Start. Stop it even if it
// never started: it holds the goroutine that records attempts.
func New(cfg Config) *Engine {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.EndpointConcurrency <= 0 {
		cfg.EndpointConcurrency = 32
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 32768
	}
	if cfg.EndpointQueue <= 0 {
		cfg.EndpointQueue = 1000
	}
	if cfg.AppConcurrency <= 0 {
		cfg.AppConcurrency = max(cfg.MaxInFlight/4, 1)
	}
	if cfg.AppQueue <= 0 {
		cfg.AppQueue = max(cfg.MaxQueued/4, 1)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.DisableAfter == 0 {
		cfg.DisableAfter = 5 * 24 * time.Hour
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Herald"
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 512
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BreakerProbe <= 0 {
		cfg.BreakerProbe = 10 * time.Second
	}
	if cfg.BreakerMaxProbe <= 0 {
		cfg.BreakerMaxProbe = 5 * time.Minute
	}
	if cfg.FailureLogInterval <= 0 {
		cfg.FailureLogInterval = 30 * time.Second
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	e := &Engine{
		cfg: cfg,
		log: cfg.Log,
		now: cfg.Now,
		// The lease covers the wait in memory and the request: twice the
		// timeout plus a second. A job is sent only while at least the
		// timeout plus the margin is left, so a request always ends (by
		// its timeout) before the lease does.
		lease:     2*cfg.RequestTimeout + time.Second,
		margin:    time.Second,
		wake:      make(chan struct{}, 1),
		toRelease: make(chan *store.Job, 8192),
		rnd:       mrand.New(mrand.NewChaCha8(seed)),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.stop = e.loop.Stopping()
	e.sched = newScheduler(limits{
		EndpointConcurrency: cfg.EndpointConcurrency, AppConcurrency: cfg.AppConcurrency, MaxInFlight: cfg.MaxInFlight,
		EndpointQueue: cfg.EndpointQueue, AppQueue: cfg.AppQueue, MaxQueued: cfg.MaxQueued, Now: cfg.Now,
	})
	e.sched.onRoom = func() {
		e.mayPark.Store(true)
		e.Wake()
	}
	e.breaker = newBreaker(max(cfg.BreakerFailures, 0), cfg.BreakerProbe, cfg.BreakerMaxProbe)
	e.failures = newFailureLog()
	e.appUIDs = newAppCache(cfg.Store)
	e.endpoints = newEndpointCache(cfg.Store, cfg.Box, cfg.UserAgent)
	e.complete = groupcommit.New(e.writeCompletions, groupcommit.Options{MaxBatch: 1024})
	return e
}

// Load returns the jobs held in memory waiting to be sent and the requests
// in flight (for metrics).
func (e *Engine) Load() (queued, inFlight int) { return e.sched.counts() }

// LeaseDuration is how long a claim holds a delivery.
func (e *Engine) LeaseDuration() time.Duration { return e.lease }

func (e *Engine) writeCompletions(ctx context.Context, cs []store.Completion) ([]error, error) {
	err := e.completeDeliveries(ctx, cs)
	if err == nil {
		e.advanced(cs)
		return make([]error, len(cs)), nil
	}
	if len(cs) == 1 || errors.Is(err, store.ErrUnavailable) {
		return nil, err
	}
	// One completion the store refuses must not fail the batch it shares
	// with others: write each alone.
	errs := make([]error, len(cs))
	for i := range cs {
		if errs[i] = e.completeDeliveries(ctx, cs[i:i+1]); errs[i] == nil {
			e.advanced(cs[i : i+1])
		}
	}
	return errs, nil
}

// advanced wakes the claim loop when recorded completions finished the head
// of a FIFO sequence: the store made the next delivery due.
func (e *Engine) advanced(cs []store.Completion) {
	for _, c := range cs {
		if c.Ordered && store.Final(c.Status) {
			e.Wake()
			return
		}
	}
}

func (e *Engine) completeDeliveries(ctx context.Context, cs []store.Completion) error {
	start := e.now()
	err := e.cfg.Store.CompleteDeliveries(ctx, cs)
	if e.cfg.Observer != nil {
		e.cfg.Observer.Batch("complete", len(cs), e.now().Sub(start), err)
	}
	return err
}

// Start starts the engine's loops. It returns at once.
func (e *Engine) Start(ctx context.Context) error {
	e.loop.Start(func(<-chan struct{}) { e.run(e.ctx) })
	return nil
}

// Stop stops claiming, waits for requests in flight, gives queued jobs back
// to the store, and flushes attempt records, all within ctx. When ctx ends
// first, what is still running is cut off: requests are aborted and left
// unrecorded, their deliveries leased (claimed again when the lease ends),
// never half-recorded. It is safe to call before Start and more than once.
func (e *Engine) Stop(ctx context.Context) error {
	first, err := e.loop.Stop(ctx)
	if !first {
		return nil
	}
	if err == nil {
		err = lifecycle.Wait(ctx, e.sends.Wait)
	}
	if err != nil {
		e.cancel()
		e.closeCompleter(ctx)
		return errors.New("delivery: stopped before requests in flight ended; their leases will expire and they will be sent again")
	}
	// Give back what was never sent so another process can take it now.
	if jobs := e.sched.drain(); len(jobs) > 0 {
		e.release(ctx, jobs, false)
	}
	e.closeCompleter(ctx)
	e.cancel()
	if ctx.Err() != nil {
		return errors.New("delivery: stopped before attempt records were flushed; their deliveries will be sent again")
	}
	return nil
}

// closeCompleter flushes the attempt records, giving up when ctx ends.
func (e *Engine) closeCompleter(ctx context.Context) {
	if lifecycle.Wait(ctx, e.complete.Close) != nil {
		e.cancel()
	}
}

func (e *Engine) stopping() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// newLease returns a random non-zero lease token.
func (e *Engine) newLease() int64 {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	for {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], e.rnd.Uint64())
		if v := int64(binary.LittleEndian.Uint64(b[:]) >> 1); v != 0 {
			return v
		}
	}
}

func (e *Engine) random() float64 {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return e.rnd.Float64()
}

// FastLease implements the API's fast path: deliveries created now are
// leased to this engine and handed over with Dispatch, without a poll. It
// also names the endpoints whose queues are full: their deliveries are
// created due instead, for a later claim, so that nothing has to be given
// back.
func (e *Engine) FastLease() (int64, time.Time, []string, bool) {
	if e.stopping() || !e.sched.hasRoom() {
		return 0, time.Time{}, nil, false
	}
	return e.newLease(), store.Truncate(e.now().Add(e.lease)), e.excluded(e.now()), true
}

// excluded lists the endpoints this engine takes no more deliveries of now,
// sorted: those whose memory queue is full, and those whose circuit is open
// (with no probe due).
func (e *Engine) excluded(now time.Time) []string {
	full := e.sched.saturated()
	open, _ := e.breaker.openEndpoints(now)
	if len(open) == 0 {
		return full
	}
	if len(full) == 0 {
		return open
	}
	out := append(full, open...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Dispatch queues jobs created under a FastLease (jobs created unleased are
// left for a claim). Jobs that do not fit (an endpoint's queue filled up
// meanwhile) are parked in the background, in batches, so that the request
// path never waits for that write; if even the background queue is full they
// stay leased and are claimed again when their lease ends.
func (e *Engine) Dispatch(jobs []*store.Job) {
	if e.stopping() {
		return // leased: claimed again when the lease ends
	}
	leased := jobs[:0:0]
	for _, j := range jobs {
		if j.Lease != 0 {
			leased = append(leased, j)
		}
	}
	if over := e.sched.add(leased); len(over) > 0 {
		e.releaseLater(over)
	}
	e.sched.kick()
}

// releaseLater queues jobs for the background releaser, which parks them.
func (e *Engine) releaseLater(jobs []*store.Job) {
	for _, j := range jobs {
		select {
		case e.toRelease <- j:
		default:
			return // the lease will end soon enough
		}
	}
}

// releaser parks queued jobs in batches (their endpoints have no room, or
// their circuits are open), then wakes the claim loop.
func (e *Engine) releaser(ctx context.Context) {
	batch := make([]*store.Job, 0, 1024)
	for {
		select {
		case <-e.stop:
			return
		case j := <-e.toRelease:
			batch = append(batch[:0], j)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case j := <-e.toRelease:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		e.release(ctx, batch, true)
		e.Wake()
		clear(batch)
	}
}

// Wake makes the engine look for due deliveries now.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// SetReplicas tells the engine how many processes (itself included) deliver
// from the same store: each endpoint's in-flight cap and throttle rate are
// divided among them, so that together they stay within both. The default
// is 1.
func (e *Engine) SetReplicas(n int) { e.sched.setShare(n) }

// EndpointChanged drops the cached copy of an endpoint.
func (e *Engine) EndpointChanged(id string) {
	e.endpoints.drop(id)
	// A user changed it (fixed its URL, enabled it again, deleted it): its
	// circuit starts closed, and says so.
	if open, failures := e.breaker.forget(id); open {
		now := store.Truncate(e.now())
		go func() {
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			defer cancel()
			err := e.cfg.Store.SetEndpointCircuit(ctx, id, store.Circuit{Failures: failures, Since: now})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				e.log.WarnContext(ctx, "store circuit state", "endpoint_id", id, "err", err)
			}
		}()
	}
}

// OpenCircuits is the number of endpoints whose circuit is open in this
// process (for metrics).
func (e *Engine) OpenCircuits() int {
	_, n := e.breaker.openEndpoints(e.now())
	return n
}

// release gives jobs back to the store, due now or parked (for endpoints
// with no room: the claims of due deliveries then never walk past them).
func (e *Engine) release(ctx context.Context, jobs []*store.Job, park bool) {
	now := store.Truncate(e.now())
	next := now
	if park {
		next = time.Time{} // taken again when the endpoint drains to half
	}
	rs := make([]store.Release, len(jobs))
	for i, j := range jobs {
		rs[i] = store.Release{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, NextAttemptAt: next, At: now}
	}
	if err := e.cfg.Store.ReleaseDeliveries(ctx, rs); err != nil {
		// Not fatal: the leases expire and the deliveries become due.
		e.log.WarnContext(ctx, "release deliveries", "count", len(rs), "err", err)
	}
}

// run is the engine's main loop: it claims due deliveries and starts sends.
func (e *Engine) run(ctx context.Context) {
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		e.sendLoop(ctx)
	}()
	releaserDone := make(chan struct{})
	go func() {
		defer close(releaserDone)
		e.releaser(ctx)
	}()
	loggerDone := make(chan struct{})
	go func() {
		defer close(loggerDone)
		e.logFailures(ctx)
	}()
	defer func() { <-senderDone; <-releaserDone; <-loggerDone }()

	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff, idle := time.Duration(0), time.Duration(0)
	for {
		select {
		case <-e.stop:
			e.sched.kick()
			return
		case <-e.wake:
		case <-timer.C:
		}
		full, err := e.claim(ctx)
		if err != nil {
			// The store may be down: back off, up to a few seconds.
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			e.log.WarnContext(ctx, "claim deliveries", "err", err, "retry_in", backoff)
			timer.Reset(backoff)
			continue
		}
		backoff = 0
		if full {
			// More may be due: go again at once.
			idle = 0
			timer.Reset(0)
			continue
		}
		// While every due delivery belongs to an endpoint whose queue is
		// full, each claim only walks past them: poll less often (up to
		// 2s) until woken (by new work, or an endpoint with room again).
		if e.lastClaimSkipped {
			idle = min(max(2*idle, e.cfg.PollInterval), 2*time.Second)
		} else {
			idle = e.cfg.PollInterval
		}
		timer.Reset(idle)
	}
}

// claim takes due deliveries, first attempts before retries, as many as the
// scheduler has room for. It reports whether a claim came back full.
func (e *Engine) claim(ctx context.Context) (bool, error) {
	// Parked deliveries first: they were due before any other.
	full, err := e.claimParked(ctx)
	if err != nil {
		return false, err
	}
	e.lastClaimSkipped = false
	for k, retries := range []bool{false, true} {
		room := min(e.sched.room(), e.cfg.ClaimBatch)
		if retries {
			// Retries get at most half of a batch when first attempts
			// are waiting too.
			room = min(room, max(e.cfg.ClaimBatch/2, 1))
		}
		if room <= 0 {
			return full, nil
		}
		now := store.Truncate(e.now())
		start := e.now()
		exclude := e.excluded(now)
		cur := &e.cursors[k]
		since := cur.since(exclude, now)
		jobs, err := e.cfg.Store.ClaimDeliveries(ctx, store.ClaimParams{
			Now: now, LeaseUntil: now.Add(e.lease), Lease: e.newLease(), Limit: room,
			Retries: retries, ExcludeEndpoints: exclude, DueSince: since,
		})
		if e.cfg.Observer != nil {
			e.cfg.Observer.Batch("claim", len(jobs), e.now().Sub(start), err)
		}
		if err != nil {
			return false, err
		}
		cur.update(exclude, now, since, len(jobs) < room)
		if len(exclude) > 0 && len(jobs) == 0 {
			e.lastClaimSkipped = true
		}
		if len(jobs) == room {
			full = true
		}
		if len(jobs) > 0 {
			if over := e.sched.add(jobs); len(over) > 0 {
				e.release(ctx, over, true)
			}
			e.sched.kick()
		}
	}
	return full, nil
}

// parkedEvery is how often the claim loop looks for parked deliveries when
// nothing says there may be some.
const parkedEvery = time.Second

// claimParked takes parked deliveries of the endpoints with room, when there
// may be some (see Engine.mayPark). It reports whether it left some that it
// could take now.
func (e *Engine) claimParked(ctx context.Context) (bool, error) {
	now := store.Truncate(e.now())
	if !e.mayPark.Swap(false) && !e.parkedLeft && now.Sub(e.lastParked) < parkedEvery {
		return false, nil
	}
	e.lastParked, e.parkedLeft = now, false
	room := min(e.sched.room(), e.cfg.ClaimBatch)
	if room <= 0 {
		e.mayPark.Store(true) // look again once there is room
		return false, nil
	}
	// An endpoint whose queue is over half full is skipped (it wakes the
	// loop when it drains to half); the others have room for at least
	// half of a fresh endpoint's queue, which is what each may take.
	per := max(e.sched.freshQueueCap()/2, 1)
	start := e.now()
	exclude := e.excluded(now)
	if busy := e.sched.overHalf(); len(busy) > 0 {
		exclude = append(exclude, busy...)
		slices.Sort(exclude)
		exclude = slices.Compact(exclude)
	}
	jobs, err := e.cfg.Store.ClaimDeliveries(ctx, store.ClaimParams{
		Now: now, LeaseUntil: now.Add(e.lease), Lease: e.newLease(), Limit: room,
		Parked: true, PerEndpoint: per, ExcludeEndpoints: exclude,
	})
	if e.cfg.Observer != nil {
		e.cfg.Observer.Batch("claim", len(jobs), e.now().Sub(start), err)
	}
	if err != nil {
		e.mayPark.Store(true)
		return false, err
	}
	if len(jobs) == 0 {
		return false, nil
	}
	// An endpoint that gave all it was asked for may have more, and so
	// may others when the batch was full.
	left := len(jobs) == room
	n := make(map[string]int)
	for _, j := range jobs {
		n[j.EndpointID]++
		left = left || n[j.EndpointID] == per
	}
	e.parkedLeft = left
	if over := e.sched.add(jobs); len(over) > 0 {
		e.release(ctx, over, true)
	}
	e.sched.kick()
	return left, nil
}

// claimCursor spares claims the walk past a backlog they cannot take. Once a
// claim that skipped some endpoints (their queues are full) has taken all
// else that was due, the next claims with the same endpoints skipped look
// only at deliveries due since then (less a margin for writes that were in
// flight). Any change in the skipped set, and every fullScanEvery, starts
// from the beginning again.
type claimCursor struct {
	exclude  string    // the skipped endpoints the cursor is valid for
	from     time.Time // due since; zero: no cursor
	lastFull time.Time // the last claim that looked at everything
}

const (
	cursorMargin  = 5 * time.Second
	fullScanEvery = 10 * time.Second
)

func (c *claimCursor) since(exclude []string, now time.Time) time.Time {
	if len(exclude) == 0 || c.from.IsZero() || c.exclude != strings.Join(exclude, ",") || now.Sub(c.lastFull) >= fullScanEvery {
		return time.Time{}
	}
	return c.from
}

// update records a claim made at now from since that took everything it
// could (drained) or not.
func (c *claimCursor) update(exclude []string, now, since time.Time, drained bool) {
	if since.IsZero() {
		c.lastFull = now
	}
	switch {
	case len(exclude) == 0:
		*c = claimCursor{lastFull: c.lastFull}
	case drained:
		c.exclude, c.from = strings.Join(exclude, ","), now.Add(-cursorMargin)
	case since.IsZero():
		c.from = time.Time{} // a full batch from the start: more may be due anywhere
	}
}

// sendLoop starts a send for every job the scheduler lets go.
func (e *Engine) sendLoop(ctx context.Context) {
	for {
		j, ok := e.sched.next(e.stop)
		if !ok {
			return
		}
		e.sends.Add(1)
		go func() {
			defer e.sends.Done()
			e.send(ctx, j)
		}()
	}
}

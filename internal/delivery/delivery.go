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
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/groupcommit"
)

// Config configures an Engine.
type Config struct {
	Store  store.Store
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
	// MaxQueued caps the jobs held in memory. Zero means 32768.
	MaxQueued int
	// EndpointQueue caps the jobs held in memory for one endpoint. Zero
	// means 1000.
	EndpointQueue int
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
}

// Observer receives events for metrics. Methods must be fast and safe for
// concurrent use.
type Observer interface {
	Attempt(outcome string, d time.Duration)
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
	endpoints *endpointCache
	complete  *groupcommit.Committer[store.Completion, struct{}]

	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	sends  sync.WaitGroup
	mu     sync.Mutex // guards started, stopped
	start  bool
	halted bool
	rndMu  sync.Mutex
	rnd    *mrand.Rand
}

// New returns an engine; it sends nothing until Start.
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
		lease:  2*cfg.RequestTimeout + time.Second,
		margin: time.Second,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		rnd:    mrand.New(mrand.NewChaCha8(seed)),
	}
	e.sched = newScheduler(cfg.EndpointConcurrency, cfg.MaxInFlight, cfg.EndpointQueue, cfg.MaxQueued)
	e.endpoints = newEndpointCache(cfg.Store, cfg.Box, cfg.UserAgent)
	e.complete = groupcommit.New(e.writeCompletions, groupcommit.Options{MaxBatch: 1024})
	return e
}

// Load returns the jobs held in memory waiting to be sent and the requests
// in flight (for metrics).
func (e *Engine) Load() (queued, inFlight int) { return e.sched.counts() }

// LeaseDuration is how long a claim holds a delivery.
func (e *Engine) LeaseDuration() time.Duration { return e.lease }

func (e *Engine) writeCompletions(ctx context.Context, cs []store.Completion) ([]struct{}, error) {
	start := time.Now()
	err := e.cfg.Store.CompleteDeliveries(ctx, cs)
	if e.cfg.Observer != nil {
		e.cfg.Observer.Batch("complete", len(cs), time.Since(start), err)
	}
	if err != nil {
		return nil, err
	}
	return make([]struct{}, len(cs)), nil
}

// Start starts the engine's loops. It returns at once.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.start || e.halted {
		return nil
	}
	e.start = true
	go e.run(context.WithoutCancel(ctx))
	return nil
}

// Stop stops claiming, waits for requests in flight (until ctx ends), gives
// queued jobs back to the store, and flushes attempt records. It is safe to
// call before Start and more than once.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.halted {
		e.mu.Unlock()
		return nil
	}
	e.halted = true
	started := e.start
	close(e.stop)
	e.mu.Unlock()
	if started {
		<-e.done
	}
	waited := make(chan struct{})
	go func() { e.sends.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = errors.New("delivery: stopped with requests still in flight; their leases will expire")
	}
	// Give back what was never sent so another process can take it now.
	if jobs := e.sched.drain(); len(jobs) > 0 {
		e.release(ctx, jobs)
	}
	e.complete.Close()
	return err
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
// leased to this engine and handed over with Dispatch, without a poll.
func (e *Engine) FastLease() (int64, time.Time, bool) {
	if e.stopping() || !e.sched.hasRoom() {
		return 0, time.Time{}, false
	}
	return e.newLease(), store.Truncate(e.now().Add(e.lease)), true
}

// Dispatch queues jobs created under a FastLease. Jobs that do not fit (the
// endpoint's queue is full) are dropped from memory without a write: they
// stay leased until their lease ends and are claimed again then, so a
// backed-up endpoint costs the request path nothing.
func (e *Engine) Dispatch(jobs []*store.Job) {
	if e.stopping() {
		return // leased: claimed again when the lease ends
	}
	e.sched.add(jobs, false)
	e.sched.kick()
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
}

// release gives jobs back to the store, due now.
func (e *Engine) release(ctx context.Context, jobs []*store.Job) {
	now := store.Truncate(e.now())
	rs := make([]store.Release, len(jobs))
	for i, j := range jobs {
		rs[i] = store.Release{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, NextAttemptAt: now}
	}
	if err := e.cfg.Store.ReleaseDeliveries(context.WithoutCancel(ctx), rs); err != nil {
		// Not fatal: the leases expire and the deliveries become due.
		e.log.WarnContext(ctx, "release deliveries", "count", len(rs), "err", err)
	}
}

// run is the engine's main loop: it claims due deliveries and starts sends.
func (e *Engine) run(ctx context.Context) {
	defer close(e.done)
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		e.sendLoop(ctx)
	}()
	defer func() { <-senderDone }()

	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff := time.Duration(0)
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
			timer.Reset(0)
			continue
		}
		timer.Reset(e.cfg.PollInterval)
	}
}

// claim takes due deliveries, first attempts before retries, as many as the
// scheduler has room for. It reports whether a claim came back full.
func (e *Engine) claim(ctx context.Context) (bool, error) {
	full := false
	for _, retries := range []bool{false, true} {
		room := min(e.sched.room(), e.cfg.ClaimBatch)
		if retries {
			// Retries get at most half of a batch when first attempts
			// are waiting too.
			room = min(room, max(e.cfg.ClaimBatch/2, 1))
		}
		if room <= 0 {
			return false, nil
		}
		now := store.Truncate(e.now())
		start := time.Now()
		jobs, err := e.cfg.Store.ClaimDeliveries(ctx, store.ClaimParams{
			Now: now, LeaseUntil: now.Add(e.lease), Lease: e.newLease(), Limit: room,
			Retries: retries, ExcludeEndpoints: e.sched.saturated(),
		})
		if e.cfg.Observer != nil {
			e.cfg.Observer.Batch("claim", len(jobs), time.Since(start), err)
		}
		if err != nil {
			return false, err
		}
		if len(jobs) == room {
			full = true
		}
		if len(jobs) > 0 {
			if over := e.sched.add(jobs, true); len(over) > 0 {
				e.release(ctx, over)
			}
			e.sched.kick()
		}
	}
	return full, nil
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

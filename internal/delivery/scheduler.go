package delivery

import (
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// scheduler holds jobs in memory, one queue per endpoint, and decides which
// job is sent next: applications take turns, and within an application its
// endpoints take turns, each endpoint within its in-flight cap and throttle
// rate, each application within its in-flight cap and its share of memory,
// and the process within its global in-flight cap. An application can thus
// never hold every slot of the process, however many endpoints it owns.
type scheduler struct {
	perEndpoint int
	// perApp caps the requests in flight to one application's endpoints
	// together, and appQueue the jobs held for it.
	perApp   int
	appQueue int
	// share is the number of processes sharing the store (replicas on one
	// PostgreSQL database); each takes 1/share of every endpoint's
	// in-flight cap and throttle rate, so that the caps hold across them.
	share         int
	maxInFlight   int
	endpointQueue int
	maxQueued     int
	// now is the clock (the engine's); throttle times are read from it.
	now func() time.Time

	mu   sync.Mutex
	eps  map[string]*epQueue
	apps map[string]*appQueue
	full map[string]bool // endpoints whose queue is full (queueCap)
	// fullApps are applications holding appQueue jobs: claims skip all
	// their endpoints.
	fullApps map[string]*appQueue
	ready    []*appQueue // applications that may send now, in turn order
	waiting  []*epQueue  // throttled endpoints, with notBefore set
	queued   int
	inflight int
	signal   chan struct{}
	// onRoom, when set, is called (without the lock) when an endpoint's
	// queue drains to half its cap: deliveries left in the store for it
	// can be claimed again.
	onRoom func()
}

// appQueue is an application's share of the scheduler: its endpoints that
// may send now, in turn order, and what it holds.
type appQueue struct {
	id       string
	eps      map[string]*epQueue
	ready    []*epQueue
	inReady  bool
	inflight int
	queued   int
}

type epQueue struct {
	id       string
	app      *appQueue
	first    fifo // first attempts
	retry    fifo // retries and manual attempts
	inflight int
	// limit is the endpoint's in-flight cap as the slow start has grown it
	// (see scheduler.done); never above the configured cap.
	limit   int
	inReady bool
	// Throttle: a token bucket of one token refilled at rate per second.
	rate float64
	// part is the share of rate this process may use (see
	// scheduler.share); zero means all of it.
	part      float64
	tokens    float64
	last      time.Time
	notBefore time.Time
	waiting   bool
}

func (q *epQueue) len() int { return q.first.len() + q.retry.len() }

func (q *epQueue) pop() *store.Job {
	if j := q.first.pop(); j != nil {
		return j
	}
	return q.retry.pop()
}

// limits are a scheduler's caps; see the fields of Config of the same names.
type limits struct {
	EndpointConcurrency, AppConcurrency, MaxInFlight int
	EndpointQueue, AppQueue, MaxQueued               int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// newScheduler returns a scheduler with the given caps, all positive.
func newScheduler(l limits) *scheduler {
	if l.Now == nil {
		l.Now = time.Now
	}
	return &scheduler{
		perEndpoint:   l.EndpointConcurrency,
		perApp:        l.AppConcurrency,
		appQueue:      l.AppQueue,
		share:         1,
		maxInFlight:   l.MaxInFlight,
		endpointQueue: l.EndpointQueue,
		maxQueued:     l.MaxQueued,
		now:           l.Now,
		eps:           make(map[string]*epQueue),
		apps:          make(map[string]*appQueue),
		full:          make(map[string]bool),
		fullApps:      make(map[string]*appQueue),
		signal:        make(chan struct{}, 1),
	}
}

func (s *scheduler) kick() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// hasRoom reports whether more jobs can be held.
func (s *scheduler) hasRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued < s.maxQueued
}

// room is how many more jobs can be held.
func (s *scheduler) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxQueued - s.queued
}

// saturated lists endpoints whose queue is full, or whose application's
// share of memory is, for claims to skip.
func (s *scheduler) saturated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.full) == 0 && len(s.fullApps) == 0 {
		return nil // the common case, on every API request: no work
	}
	out := make([]string, 0, len(s.full))
	for id := range s.full {
		out = append(out, id)
	}
	for _, a := range s.fullApps {
		for id := range a.eps {
			if !s.full[id] {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out) // a stable key for the claim cursor
	return out
}

// add queues jobs and returns those that do not fit.
func (s *scheduler) add(jobs []*store.Job) (over []*store.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		q := s.eps[j.EndpointID]
		if q == nil {
			a := s.apps[j.AppID]
			if a == nil {
				a = &appQueue{id: j.AppID, eps: make(map[string]*epQueue)}
				s.apps[j.AppID] = a
			}
			q = &epQueue{id: j.EndpointID, app: a, tokens: 1, part: 1 / float64(s.share)}
			s.eps[j.EndpointID] = q
			a.eps[q.id] = q
		}
		a := q.app
		// The job carries the endpoint's rate as of its claim; sends
		// refresh it from the endpoint cache.
		q.rate = float64(j.EndpointThrottleRate)
		if q.len() >= s.queueCap(q) || a.queued >= s.appQueue || s.queued >= s.maxQueued {
			over = append(over, j)
			if s.fullApps[a.id] == nil {
				s.forget(q)
			}
			continue
		}
		if j.Attempts == 0 && !j.Manual {
			q.first.push(j)
		} else {
			q.retry.push(j)
		}
		s.queued++
		a.queued++
		if q.len() >= s.queueCap(q) {
			s.full[q.id] = true
		}
		if a.queued >= s.appQueue {
			s.fullApps[a.id] = a
		}
		s.makeReady(q)
	}
	return over
}

// makeReady puts q in its application's turn order if it can send, and the
// application in the process's.
func (s *scheduler) makeReady(q *epQueue) {
	if !q.inReady && !q.waiting && q.len() > 0 && q.inflight < s.capOf(q) {
		q.inReady = true
		q.app.ready = append(q.app.ready, q)
	}
	s.makeAppReady(q.app)
}

// makeAppReady puts a in the turn order if one of its endpoints can send
// and it is within its cap.
func (s *scheduler) makeAppReady(a *appQueue) {
	if a.inReady || len(a.ready) == 0 || a.inflight >= s.perApp {
		return
	}
	a.inReady = true
	s.ready = append(s.ready, a)
}

// setShare divides every endpoint's in-flight cap and throttle rate among
// n processes.
func (s *scheduler) setShare(n int) {
	s.mu.Lock()
	s.share = max(n, 1)
	for _, q := range s.eps {
		q.part = 1 / float64(s.share)
	}
	s.mu.Unlock()
	s.kick()
}

// endpointCap is this process's in-flight cap per endpoint: its share of
// the configured cap, at least 1.
func (s *scheduler) endpointCap() int {
	return max(1, s.perEndpoint/s.share)
}

// startLimit is where an endpoint's in-flight cap starts: an endpoint
// earns more slots by answering, so that one that hangs never holds more
// than this many (a slow start, as TCP's).
const startLimit = 4

// capOf is q's in-flight cap now: its slow-start limit within the
// configured cap.
func (s *scheduler) capOf(q *epQueue) int {
	return min(max(q.limit, startLimit), s.endpointCap())
}

// queuePerSlot is how many jobs an endpoint may hold in memory per slot of
// its in-flight cap: enough to keep its slots busy, no more (jobs held
// longer than their lease are wasted). An endpoint that hangs holds few.
const queuePerSlot = 32

// queueCap is how many jobs q may hold in memory now.
func (s *scheduler) queueCap(q *epQueue) int {
	return min(s.endpointQueue, s.capOf(q)*queuePerSlot)
}

// overHalf lists the endpoints whose queue holds more than half its cap,
// and those of applications whose share of memory is full: parked claims
// skip them until they drain (see onRoom).
func (s *scheduler) overHalf() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, q := range s.eps {
		if q.len() > s.queueCap(q)/2 || s.fullApps[q.app.id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// freshQueueCap is how many jobs an endpoint the scheduler holds nothing
// for may take at once: its queue cap at the start of its slow start.
func (s *scheduler) freshQueueCap() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(s.endpointQueue, min(startLimit, s.endpointCap())*queuePerSlot)
}

// setRate sets an endpoint's throttle (messages per second; 0: none).
func (s *scheduler) setRate(id string, rate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.eps[id]; q != nil && q.rate != float64(rate) {
		q.rate = float64(rate)
	}
}

// take consumes a throttle token, or reports when the next one is due.
func (q *epQueue) take(now time.Time) (time.Time, bool) {
	if q.rate <= 0 {
		return time.Time{}, true
	}
	rate := q.rate
	if q.part > 0 {
		rate *= q.part
	}
	if !q.last.IsZero() {
		q.tokens = min(1, q.tokens+now.Sub(q.last).Seconds()*rate)
	}
	q.last = now
	if q.tokens >= 1 {
		q.tokens--
		return time.Time{}, true
	}
	wait := time.Duration((1 - q.tokens) / rate * float64(time.Second))
	return now.Add(wait), false
}

// next blocks until a job may be sent and returns it, counted in flight;
// false once stop is closed.
func (s *scheduler) next(stop <-chan struct{}) (*store.Job, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		now := s.now()
		// Throttled endpoints whose time has come take their turn again.
		kept := s.waiting[:0]
		var soonest time.Time
		for _, q := range s.waiting {
			if !now.Before(q.notBefore) {
				q.waiting = false
				s.makeReady(q)
				continue
			}
			if soonest.IsZero() || q.notBefore.Before(soonest) {
				soonest = q.notBefore
			}
			kept = append(kept, q)
		}
		clear(s.waiting[len(kept):])
		s.waiting = kept
		for s.inflight < s.maxInFlight && len(s.ready) > 0 {
			a := s.ready[0]
			s.ready[0] = nil
			s.ready = s.ready[1:]
			a.inReady = false
			if a.inflight >= s.perApp || len(a.ready) == 0 {
				continue // back in turn when a send ends
			}
			q := a.ready[0]
			a.ready[0] = nil
			a.ready = a.ready[1:]
			q.inReady = false
			if q.len() == 0 || q.inflight >= s.capOf(q) {
				s.makeAppReady(a)
				continue
			}
			if at, ok := q.take(now); !ok {
				q.notBefore, q.waiting = at, true
				s.waiting = append(s.waiting, q)
				if soonest.IsZero() || at.Before(soonest) {
					soonest = at
				}
				s.makeAppReady(a)
				continue
			}
			j := q.pop()
			s.queued--
			a.queued--
			// In flight first: an endpoint with a send in flight is never
			// forgotten below.
			q.inflight++
			a.inflight++
			s.inflight++
			if q.len() < s.queueCap(q) {
				delete(s.full, q.id)
			}
			if a.queued < s.appQueue && s.fullApps[a.id] != nil {
				delete(s.fullApps, a.id)
				// Endpoints known only for claims to skip them go.
				for _, e := range a.eps {
					s.forget(e)
				}
			}
			s.makeReady(q)
			room := q.len() == s.queueCap(q)/2 || a.queued == s.appQueue/2
			s.mu.Unlock()
			if room && s.onRoom != nil {
				s.onRoom()
			}
			return j, true
		}
		s.mu.Unlock()

		var tick <-chan time.Time
		if !soonest.IsZero() {
			d := soonest.Sub(s.now())
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tick = timer.C
		}
		select {
		case <-s.signal:
		case <-tick:
		case <-stop:
			return nil, false
		}
	}
}

// sendResult is what became of a job the scheduler let go.
type sendResult int

const (
	notSent  sendResult = iota // dropped or given back before any request
	answered                   // the endpoint answered in time
	timedOut                   // the request ran out of time
)

// done marks a send to an endpoint finished. An answer in time grows the
// endpoint's in-flight cap by one, up to the configured cap; a request that
// ran out of time halves it (down to startLimit), so that an endpoint that
// hangs holds few slots, one that answers soon gets all its own. A job not
// sent changes nothing.
func (s *scheduler) done(id string, r sendResult) {
	s.mu.Lock()
	q := s.eps[id]
	a := q.app
	switch r {
	case answered:
		q.limit = min(max(q.limit, startLimit)+1, s.endpointCap())
	case timedOut:
		q.limit = max(q.limit/2, startLimit)
	}
	if q.len() < s.queueCap(q) {
		delete(s.full, q.id)
	} else {
		s.full[q.id] = true
	}
	q.inflight--
	a.inflight--
	s.inflight--
	if !s.forget(q) {
		s.makeReady(q)
	} else {
		s.makeAppReady(a)
	}
	s.mu.Unlock()
	s.kick()
}

// forget drops q (and its application when it has no endpoint left) if q
// holds nothing, and reports whether it did.
func (s *scheduler) forget(q *epQueue) bool {
	if q.len() > 0 || q.inflight > 0 || q.waiting || q.inReady {
		return false
	}
	if q.rate > 0 && s.now().Sub(q.last) < time.Duration(float64(time.Second)/q.rate) {
		return false // its throttle still counts a recent send
	}
	delete(s.eps, q.id)
	delete(q.app.eps, q.id)
	if len(q.app.eps) == 0 && q.app.inflight == 0 {
		delete(s.apps, q.app.id)
	}
	return true
}

// drain removes and returns every queued job.
func (s *scheduler) drain() []*store.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Job
	for _, q := range s.eps {
		for j := q.pop(); j != nil; j = q.pop() {
			out = append(out, j)
		}
	}
	s.queued = 0
	for _, a := range s.apps {
		a.queued, a.ready, a.inReady = 0, nil, false
	}
	for _, q := range s.eps {
		q.inReady = false
	}
	clear(s.full)
	clear(s.fullApps)
	s.ready = nil
	s.waiting = nil
	return out
}

// counts returns the jobs queued and in flight.
func (s *scheduler) counts() (queued, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued, s.inflight
}

// fifo is a queue of jobs.
type fifo struct {
	items []*store.Job
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(j *store.Job) {
	if f.head > 0 && f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	}
	f.items = append(f.items, j)
}

func (f *fifo) pop() *store.Job {
	if f.head == len(f.items) {
		return nil
	}
	j := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return j
}

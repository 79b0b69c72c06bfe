package delivery

import (
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// scheduler holds jobs in memory, one queue per endpoint, and decides which
// job is sent next: endpoints take turns, each within its in-flight cap and
// throttle rate, and the process within its global in-flight cap.
type scheduler struct {
	perEndpoint int
	// share is the number of processes sharing the store (replicas on one
	// PostgreSQL database); each takes 1/share of every endpoint's
	// in-flight cap and throttle rate, so that the caps hold across them.
	share         int
	maxInFlight   int
	endpointQueue int
	maxQueued     int

	mu       sync.Mutex
	eps      map[string]*epQueue
	full     map[string]bool // endpoints whose queue holds endpointQueue jobs
	ready    []*epQueue      // endpoints that may send now, in turn order
	waiting  []*epQueue      // throttled endpoints, with notBefore set
	queued   int
	inflight int
	signal   chan struct{}
	// onRoom, when set, is called (without the lock) when an endpoint's
	// queue drains to half its cap: deliveries left in the store for it
	// can be claimed again.
	onRoom func()
}

type epQueue struct {
	id       string
	first    fifo // first attempts
	retry    fifo // retries and manual attempts
	inflight int
	inReady  bool
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

func newScheduler(perEndpoint, maxInFlight, endpointQueue, maxQueued int) *scheduler {
	return &scheduler{
		perEndpoint:   perEndpoint,
		share:         1,
		maxInFlight:   maxInFlight,
		endpointQueue: endpointQueue,
		maxQueued:     maxQueued,
		eps:           make(map[string]*epQueue),
		full:          make(map[string]bool),
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

// saturated lists endpoints whose queue is full, for claims to skip.
func (s *scheduler) saturated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.full) == 0 {
		return nil // the common case, on every API request: no work
	}
	out := make([]string, 0, len(s.full))
	for id := range s.full {
		out = append(out, id)
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
			q = &epQueue{id: j.EndpointID, tokens: 1, part: 1 / float64(s.share)}
			s.eps[j.EndpointID] = q
		}
		// The job carries the endpoint's rate as of its claim; sends
		// refresh it from the endpoint cache.
		q.rate = float64(j.EndpointThrottleRate)
		if q.len() >= s.endpointQueue || s.queued >= s.maxQueued {
			over = append(over, j)
			continue
		}
		if j.Attempts == 0 && !j.Manual {
			q.first.push(j)
		} else {
			q.retry.push(j)
		}
		s.queued++
		if q.len() >= s.endpointQueue {
			s.full[q.id] = true
		}
		s.makeReady(q)
	}
	return over
}

// makeReady puts q in the turn order if it can send.
func (s *scheduler) makeReady(q *epQueue) {
	if q.inReady || q.waiting || q.len() == 0 || q.inflight >= s.endpointCap() {
		return
	}
	q.inReady = true
	s.ready = append(s.ready, q)
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
		now := time.Now()
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
			q := s.ready[0]
			s.ready[0] = nil
			s.ready = s.ready[1:]
			q.inReady = false
			if q.len() == 0 || q.inflight >= s.endpointCap() {
				continue
			}
			if at, ok := q.take(now); !ok {
				q.notBefore, q.waiting = at, true
				s.waiting = append(s.waiting, q)
				if soonest.IsZero() || at.Before(soonest) {
					soonest = at
				}
				continue
			}
			j := q.pop()
			s.queued--
			if q.len() < s.endpointQueue {
				delete(s.full, q.id)
			}
			q.inflight++
			s.inflight++
			s.makeReady(q)
			room := q.len() == s.endpointQueue/2
			s.mu.Unlock()
			if room && s.onRoom != nil {
				s.onRoom()
			}
			return j, true
		}
		s.mu.Unlock()

		var tick <-chan time.Time
		if !soonest.IsZero() {
			d := time.Until(soonest)
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

// done marks a send to an endpoint finished.
func (s *scheduler) done(id string) {
	s.mu.Lock()
	q := s.eps[id]
	q.inflight--
	s.inflight--
	if q.len() == 0 && q.inflight == 0 && q.rate == 0 {
		delete(s.eps, id)
	} else {
		s.makeReady(q)
	}
	s.mu.Unlock()
	s.kick()
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
	clear(s.full)
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

package delivery

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func job(ep string, n int, attempts int) *store.Job {
	return &store.Job{Delivery: store.Delivery{MsgID: fmt.Sprintf("msg_%d", n), EndpointID: ep, Attempts: attempts}}
}

// take pops every job the scheduler lets go now, without waiting.
func takeReady(s *scheduler) []*store.Job {
	var out []*store.Job
	stop := make(chan struct{})
	for {
		s.mu.Lock()
		ready := len(s.ready) > 0 && s.inflight < s.maxInFlight
		s.mu.Unlock()
		if !ready {
			return out
		}
		close(stop) // next must not block: a ready endpoint exists
		j, ok := s.next(stop)
		stop = make(chan struct{})
		if !ok {
			return out
		}
		out = append(out, j)
	}
}

func TestSchedulerEndpointsTakeTurns(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 100, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	var jobs []*store.Job
	for i := range 5 {
		jobs = append(jobs, job("ep_a", i, 0))
	}
	for i := range 2 {
		jobs = append(jobs, job("ep_b", 10+i, 0))
	}
	s.add(jobs)
	got := takeReady(s)
	var order string
	for _, j := range got {
		order += j.EndpointID[3:]
	}
	// a's fifth waits for one of its first four to answer (slow start).
	if order != "ababaa" {
		t.Errorf("send order %q, want endpoints to alternate (ababaa)", order)
	}
}

func TestSchedulerInFlightCaps(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 2, AppConcurrency: 3, MaxInFlight: 3, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	var jobs []*store.Job
	for i := range 5 {
		jobs = append(jobs, job("ep_slow", i, 0))
	}
	jobs = append(jobs, job("ep_fast", 100, 0), job("ep_fast", 101, 0))
	s.add(jobs)
	got := takeReady(s)
	per := map[string]int{}
	for _, j := range got {
		per[j.EndpointID]++
	}
	// Per-endpoint cap 2, process cap 3.
	if len(got) != 3 || per["ep_slow"] != 2 {
		t.Fatalf("took %v, want 3 in flight with at most 2 for one endpoint", per)
	}
	// A slow send finishing frees a slot for the fast endpoint, not for
	// the slow one that is already at its cap.
	s.done("ep_fast", answered)
	got = takeReady(s)
	if len(got) != 1 || got[0].EndpointID != "ep_fast" {
		t.Fatalf("after a fast send finished, took %v", got)
	}
}

func TestSchedulerFirstAttemptsBeforeRetries(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 100, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	s.add([]*store.Job{job("ep", 1, 3), job("ep", 2, 1), job("ep", 3, 0), job("ep", 4, 0)})
	got := takeReady(s)
	var ids []string
	for _, j := range got {
		ids = append(ids, j.MsgID)
	}
	want := []string{"msg_3", "msg_4", "msg_1", "msg_2"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("order %v, want first attempts first %v", ids, want)
	}
}

func TestSchedulerQueueLimits(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 10, AppConcurrency: 10, MaxInFlight: 10, EndpointQueue: 3, AppQueue: 5, MaxQueued: 5})
	over := s.add([]*store.Job{job("a", 1, 0), job("a", 2, 0), job("a", 3, 0), job("a", 4, 0)})
	if len(over) != 1 || over[0].MsgID != "msg_4" {
		t.Errorf("endpoint queue of 3 took 4 jobs: over = %v", over)
	}
	if sat := s.saturated(); len(sat) != 1 || sat[0] != "a" {
		t.Errorf("saturated = %v, want [a]", sat)
	}
	over = s.add([]*store.Job{job("b", 5, 0), job("b", 6, 0), job("b", 7, 0)})
	if len(over) != 1 {
		t.Errorf("process queue of 5 took %d of 3 more jobs", 3-len(over))
	}
	if s.room() != 0 || s.hasRoom() {
		t.Errorf("room = %d with a full queue", s.room())
	}
	if n := len(s.drain()); n != 5 {
		t.Errorf("drain returned %d jobs, want 5", n)
	}
}

func TestThrottleTokenBucket(t *testing.T) {
	t.Parallel()
	q := &epQueue{rate: 4, tokens: 1}
	now := time.Unix(1000, 0)
	if _, ok := q.take(now); !ok {
		t.Fatal("first send throttled")
	}
	at, ok := q.take(now)
	if ok || at.Sub(now) != 250*time.Millisecond {
		t.Fatalf("second send at once: ok=%v, next in %s, want 250ms", ok, at.Sub(now))
	}
	if _, ok := q.take(now.Add(250 * time.Millisecond)); !ok {
		t.Fatal("throttled after waiting 1/rate")
	}
	// No burst beyond one token after a long pause.
	later := now.Add(time.Hour)
	if _, ok := q.take(later); !ok {
		t.Fatal("throttled after a pause")
	}
	if _, ok := q.take(later); ok {
		t.Fatal("two sends at once after a pause")
	}
}

func TestSchedulerSaturatedClearsWhenQueueDrains(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 10, AppConcurrency: 10, MaxInFlight: 10, EndpointQueue: 2, AppQueue: 100, MaxQueued: 100})
	s.add([]*store.Job{job("a", 1, 0), job("a", 2, 0), job("b", 3, 0)})
	if sat := s.saturated(); len(sat) != 1 || sat[0] != "a" {
		t.Fatalf("saturated = %v, want [a]", sat)
	}
	got := takeReady(s)
	if len(got) != 3 {
		t.Fatalf("took %d jobs, want 3", len(got))
	}
	if sat := s.saturated(); sat != nil {
		t.Errorf("saturated = %v after the queues drained, want none", sat)
	}
}

func appJob(app, ep string, n int) *store.Job {
	j := job(ep, n, 0)
	j.AppID = app
	return j
}

// An application with many endpoints (all hanging, say) holds at most its
// own cap of the process's slots and its share of memory; another
// application's jobs still go out, and claims skip the full application's
// endpoints.
func TestSchedulerApplicationsTakeTurnsWithinTheirCaps(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 32, AppConcurrency: 40, MaxInFlight: 100, EndpointQueue: 1000, AppQueue: 500, MaxQueued: 2000})
	var hog []*store.Job
	for e := range 50 {
		for i := range 20 {
			hog = append(hog, appJob("app_hog", fmt.Sprintf("ep_h%02d", e), e*100+i))
		}
	}
	over := s.add(hog)
	if len(over) != 1000-500 {
		t.Errorf("an application with a share of 500 jobs took %d of 1000", 1000-len(over))
	}
	sat := s.saturated()
	if len(sat) != 50 {
		t.Errorf("saturated lists %d endpoints, want the 50 of the full application", len(sat))
	}
	sent := takeReady(s)
	if len(sent) != 40 {
		t.Fatalf("the application got %d slots, want its cap of 40", len(sent))
	}
	// The slots it holds never end (hanging); another application's jobs
	// still go out, up to the process's cap.
	var other []*store.Job
	for i := range 100 {
		other = append(other, appJob("app_ok", "ep_ok", 10000+i))
	}
	if over := s.add(other); len(over) != 0 {
		t.Fatalf("%d jobs of the other application did not fit", len(over))
	}
	sent = takeReady(s)
	if len(sent) != startLimit { // its one endpoint's slow start
		t.Errorf("the other application sent %d, want %d (its endpoint's slow start)", len(sent), startLimit)
	}
	for _, j := range sent {
		if j.AppID != "app_ok" {
			t.Fatalf("a job of %s went out while its application was at its cap", j.AppID)
		}
	}

	// When slots are scarce, applications alternate.
	s = newScheduler(limits{EndpointConcurrency: 10, AppConcurrency: 10, MaxInFlight: 10, EndpointQueue: 100, AppQueue: 100, MaxQueued: 1000})
	var jobs []*store.Job
	for i := range 6 {
		jobs = append(jobs, appJob("app_a", fmt.Sprintf("ep_a%d", i%3), i))
	}
	for i := range 3 {
		jobs = append(jobs, appJob("app_b", "ep_b", 100+i))
	}
	s.add(jobs)
	var order string
	for _, j := range takeReady(s) {
		order += j.AppID[4:]
	}
	if order != "abababaaa" {
		t.Errorf("send order %q, want applications to alternate", order)
	}
}

// An endpoint starts with a few slots and earns more by answering: one that
// hangs never holds more than startLimit, one that answers gets its whole
// cap; a timeout halves what it earned.
func TestSchedulerSlowStart(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 32, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 1000, MaxQueued: 10000})
	var jobs []*store.Job
	for i := range 100 {
		jobs = append(jobs, job("ep_fast", i, 0), job("ep_hang", 1000+i, 0))
	}
	s.add(jobs)
	inflight := map[string]int{}
	for _, j := range takeReady(s) {
		inflight[j.EndpointID]++
	}
	if inflight["ep_fast"] != startLimit || inflight["ep_hang"] != startLimit {
		t.Fatalf("first sends %v, want %d each", inflight, startLimit)
	}
	// The fast endpoint answers, again and again: its cap grows to 32; the
	// hanging one's requests never end.
	for i := range 100 {
		s.done("ep_fast", answered)
		s.add([]*store.Job{job("ep_fast", 5000+i, 0)}) // more keeps coming
		for _, j := range takeReady(s) {
			if j.EndpointID != "ep_fast" {
				t.Fatalf("the hanging endpoint got a slot: it never answered")
			}
		}
	}
	s.mu.Lock()
	fast, hang := s.eps["ep_fast"].inflight, s.eps["ep_hang"].inflight
	s.mu.Unlock()
	if fast != 32 || hang != startLimit {
		t.Errorf("in flight: fast %d, hanging %d; want 32 and %d", fast, hang, startLimit)
	}
	// Timeouts halve the cap, never below the start.
	for range 3 {
		s.done("ep_fast", timedOut)
	}
	s.mu.Lock()
	q := s.eps["ep_fast"]
	limit := s.capOf(q)
	s.mu.Unlock()
	if limit != startLimit {
		t.Errorf("cap after three timeouts: %d, want %d", limit, startLimit)
	}
}

// An endpoint holds in memory only as many jobs as its slots can use: one
// that hangs (4 slots) holds 128, not the 1000 of the configured queue, so
// that hanging endpoints do not fill their application's share of memory.
func TestSchedulerQueueFollowsTheCap(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 32, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 100000, MaxQueued: 100000})
	var jobs []*store.Job
	for i := range 1000 {
		jobs = append(jobs, job("ep_hang", i, 0))
	}
	if over := s.add(jobs); len(over) != 1000-startLimit*queuePerSlot {
		t.Errorf("a new endpoint took %d jobs, want %d", 1000-len(over), startLimit*queuePerSlot)
	}
	if sat := s.saturated(); len(sat) != 1 {
		t.Errorf("saturated = %v, want the full endpoint", sat)
	}
	takeReady(s)
	for range 40 {
		s.done("ep_hang", answered)
		takeReady(s)
	}
	if sat := s.saturated(); len(sat) != 0 {
		t.Errorf("saturated = %v after the endpoint earned a larger cap", sat)
	}
}

// When an application's share of memory empties while one of its jobs goes
// out, the endpoint of that job (in flight) is kept: its send's end finds
// it. (It was forgotten, and the end of the send crashed the process.)
func TestSchedulerKeepsAnEndpointInFlightWhenItsAppEmpties(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 4, AppConcurrency: 100, MaxInFlight: 100, EndpointQueue: 100, AppQueue: 3, MaxQueued: 100})
	s.add([]*store.Job{appJob("app_a", "ep_1", 1), appJob("app_a", "ep_2", 2), appJob("app_a", "ep_3", 3)})
	sent := takeReady(s)
	if len(sent) != 3 {
		t.Fatalf("sent %d, want 3", len(sent))
	}
	for _, j := range sent {
		s.done(j.EndpointID, answered) // panicked on a forgotten endpoint
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != 0 || len(s.eps) != 0 || len(s.apps) != 0 {
		t.Errorf("after every send ended: %d in flight, %d endpoints, %d applications kept", s.inflight, len(s.eps), len(s.apps))
	}
}

// A job given back before any request (lease too short, circuit open)
// neither grows nor shrinks its endpoint's cap.
func TestSchedulerNotSentLeavesTheCap(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 32, AppConcurrency: 100, MaxInFlight: 100, EndpointQueue: 1000, AppQueue: 1000, MaxQueued: 1000})
	var jobs []*store.Job
	for i := range 50 {
		jobs = append(jobs, job("ep", i, 0))
	}
	s.add(jobs)
	for range 10 { // 4 at a time: 40 of the 50
		for _, j := range takeReady(s) {
			s.done(j.EndpointID, notSent)
		}
	}
	s.mu.Lock()
	limit := s.capOf(s.eps["ep"])
	s.mu.Unlock()
	if limit != startLimit {
		t.Errorf("cap after jobs given back unsent: %d, want %d", limit, startLimit)
	}
}

// Parked claims skip the endpoints whose queue is over half full, and all
// endpoints of an application whose share of memory is full; what the
// others may take (half a fresh queue) always fits.
func TestSchedulerOverHalf(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 1, AppConcurrency: 100, MaxInFlight: 100, EndpointQueue: 4, AppQueue: 6, MaxQueued: 100})
	if got := s.freshQueueCap(); got != 4 {
		t.Fatalf("freshQueueCap = %d, want 4 (the queue cap)", got)
	}
	n := 0
	add := func(app, ep string, k int) {
		for range k {
			n++
			s.add([]*store.Job{appJob(app, ep, n)})
		}
	}
	add("app_1", "a", 3) // over half of 4
	add("app_1", "b", 2) // half: room for 2
	add("app_2", "c", 1)
	if got := s.overHalf(); !slices.Equal(sorted(got), []string{"a"}) {
		t.Errorf("overHalf = %v, want [a]", got)
	}
	add("app_1", "d", 1) // app_1 holds 6: its share of memory is full
	if got := s.overHalf(); !slices.Equal(sorted(got), []string{"a", "b", "d"}) {
		t.Errorf("overHalf = %v, want app_1's endpoints a, b and d", got)
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

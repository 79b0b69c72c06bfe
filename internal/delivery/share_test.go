package delivery

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Replicas sharing a store divide each endpoint's in-flight cap and
// throttle rate among themselves.
func TestSchedulerShareDividesCapAndRate(t *testing.T) {
	t.Parallel()
	s := newScheduler(limits{EndpointConcurrency: 9, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	s.setShare(3)
	var jobs []*store.Job
	for i := range 10 {
		jobs = append(jobs, job("ep_a", i, 0))
	}
	s.add(jobs)
	if got := len(takeReady(s)); got != 3 {
		t.Errorf("in flight to one endpoint with cap 9 over 3 replicas: %d, want 3", got)
	}

	// A cap smaller than the number of replicas still lets each send one.
	s = newScheduler(limits{EndpointConcurrency: 2, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	s.setShare(5)
	s.add([]*store.Job{job("ep_b", 1, 0), job("ep_b", 2, 0)})
	if got := len(takeReady(s)); got != 1 {
		t.Errorf("in flight with cap 2 over 5 replicas: %d, want 1", got)
	}

	// A rate of 30/s over 3 replicas is 10/s here: the next token is due
	// 100ms after the first send, not 33ms.
	s = newScheduler(limits{EndpointConcurrency: 100, AppConcurrency: 1000, MaxInFlight: 1000, EndpointQueue: 1000, AppQueue: 10000, MaxQueued: 10000})
	j := job("ep_c", 1, 0)
	j.EndpointThrottleRate = 30
	s.add([]*store.Job{j})
	s.setShare(3)
	q := s.eps["ep_c"]
	now := time.Unix(1000, 0)
	if _, ok := q.take(now); !ok {
		t.Fatal("first send throttled")
	}
	if at, ok := q.take(now); ok || at.Sub(now) != 100*time.Millisecond {
		t.Fatalf("second send: ok=%v, next in %s, want 100ms", ok, at.Sub(now))
	}
	s.setShare(1)
	if at, ok := q.take(now); ok || at.Sub(now) > 34*time.Millisecond {
		t.Fatalf("back to one replica: ok=%v, next in %s, want about 33ms", ok, at.Sub(now))
	}
}

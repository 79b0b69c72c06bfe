package delivery

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/store"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	schedule := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}
	mid := func() float64 { return 0.5 } // no jitter
	low := func() float64 { return 0 }   // -20 %
	high := func() float64 { return 0.999999 }
	failed := egress.Outcome{Retryable: true}
	for _, tc := range []struct {
		name    string
		o       egress.Outcome
		n       int
		manual  bool
		random  func() float64
		status  store.DeliveryStatus
		wait    time.Duration
		disable bool
	}{
		{"success", egress.Outcome{Success: true}, 1, false, mid, store.StatusSuccess, 0, false},
		{"first failure waits the first step", failed, 1, false, mid, store.StatusPending, 5 * time.Second, false},
		{"second failure waits the second step", failed, 2, false, mid, store.StatusPending, 5 * time.Minute, false},
		{"jitter low", failed, 2, false, low, store.StatusPending, 4 * time.Minute, false},
		{"jitter high", failed, 2, false, high, store.StatusPending, 6*time.Minute - 1, false},
		{"schedule exhausted", failed, 4, false, mid, store.StatusFail, 0, false},
		{"last retry still scheduled", failed, 3, false, mid, store.StatusPending, 30 * time.Minute, false},
		{"manual is not retried", failed, 1, true, mid, store.StatusFail, 0, false},
		{"410 disables", egress.Outcome{DisableEndpoint: true}, 1, false, mid, store.StatusFail, 0, true},
		{"not retryable", egress.Outcome{}, 1, false, mid, store.StatusFail, 0, false},
		{"timeout waits at least 60s", egress.Outcome{Retryable: true, MinBackoff: time.Minute}, 1, false, mid, store.StatusPending, time.Minute, false},
		{"backoff shorter than schedule", egress.Outcome{Retryable: true, MinBackoff: time.Minute}, 2, false, mid, store.StatusPending, 5 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.o, tc.n, tc.manual, now, schedule, 0.2, tc.random)
			if d.status != tc.status || d.disable != tc.disable {
				t.Fatalf("decide = %+v, want status %d disable %v", d, tc.status, tc.disable)
			}
			if tc.status == store.StatusPending {
				if got := d.next.Sub(now); got < tc.wait-time.Millisecond || got > tc.wait+time.Millisecond {
					t.Fatalf("wait = %s, want %s", got, tc.wait)
				}
			}
		})
	}
}

func TestDecideEmptySchedule(t *testing.T) {
	t.Parallel()
	d := decide(egress.Outcome{Retryable: true}, 1, false, time.Now(), nil, 0.2, func() float64 { return 0.5 })
	if d.status != store.StatusFail {
		t.Fatalf("status = %d, want fail with no retries configured", d.status)
	}
}

func TestClaimCursor(t *testing.T) {
	t.Parallel()
	var c claimCursor
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ex := []string{"ep_a"}
	if s := c.since(ex, t0); !s.IsZero() {
		t.Fatalf("first claim starts at %v, want the beginning", s)
	}
	c.update(ex, t0, time.Time{}, true)
	if s := c.since(ex, t0.Add(time.Second)); !s.Equal(t0.Add(-cursorMargin)) {
		t.Fatalf("after a drained claim: since %v, want %v", s, t0.Add(-cursorMargin))
	}
	if s := c.since([]string{"ep_a", "ep_b"}, t0.Add(time.Second)); !s.IsZero() {
		t.Fatal("a different skipped set kept the cursor")
	}
	if s := c.since(nil, t0.Add(time.Second)); !s.IsZero() {
		t.Fatal("nothing skipped, yet the cursor applies")
	}
	if s := c.since(ex, t0.Add(fullScanEvery)); !s.IsZero() {
		t.Fatal("no full scan after fullScanEvery")
	}
	// A full batch taken from the cursor keeps it; a full batch from the
	// start drops it.
	c.update(ex, t0.Add(2*time.Second), t0.Add(-cursorMargin), false)
	if s := c.since(ex, t0.Add(3*time.Second)); !s.Equal(t0.Add(-cursorMargin)) {
		t.Fatalf("cursor moved after a full batch: %v", s)
	}
	c.update(ex, t0.Add(11*time.Second), time.Time{}, false)
	if s := c.since(ex, t0.Add(12*time.Second)); !s.IsZero() {
		t.Fatal("cursor kept after a full batch from the start")
	}
}

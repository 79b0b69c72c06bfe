package delivery

import (
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/store"
)

// decision is what happens to a delivery after an attempt.
type decision struct {
	status store.DeliveryStatus
	// next is when to retry, for StatusPending.
	next    time.Time
	disable bool
}

// decide maps the outcome of attempt number n (1 for the first) to the
// delivery's next state. schedule[i] is the wait before retry i+1; random
// returns a value in [0, 1) for jitter. Manual attempts are never retried.
func decide(o egress.Outcome, n int, manual bool, now time.Time, schedule []time.Duration, jitter float64, random func() float64) decision {
	switch {
	case o.Success:
		return decision{status: store.StatusSuccess}
	case o.DisableEndpoint:
		return decision{status: store.StatusFail, disable: true}
	case manual || !o.Retryable || n-1 >= len(schedule):
		return decision{status: store.StatusFail}
	}
	wait := schedule[n-1]
	if jitter > 0 {
		wait = time.Duration(float64(wait) * (1 + jitter*(2*random()-1)))
	}
	wait = max(wait, o.MinBackoff)
	return decision{status: store.StatusPending, next: now.Add(wait)}
}

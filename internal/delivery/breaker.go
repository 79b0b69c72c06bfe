package delivery

import (
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/egress"
)

// breaker keeps a circuit breaker per endpoint. After threshold consecutive
// counted failures (no connection, a timeout, a 5xx: the receiver is down,
// not refusing this message) the endpoint's circuit opens: no attempts are
// made to it but probes, one at a time, at an interval that doubles from
// minProbe to maxProbe while probes fail. A success closes it. Each process
// keeps its own breakers, as an HTTP client keeps its own view of a host.
type breaker struct {
	threshold          int // 0: off
	minProbe, maxProbe time.Duration

	mu sync.Mutex
	m  map[string]*circuit
}

type circuit struct {
	failures int
	open     bool
	since    time.Time
	// interval is the wait before the next probe; nextProbe when it may
	// go; probing is true while a probe is in flight.
	interval  time.Duration
	nextProbe time.Time
	probing   bool
}

func newBreaker(threshold int, minProbe, maxProbe time.Duration) *breaker {
	return &breaker{threshold: threshold, minProbe: minProbe, maxProbe: max(maxProbe, minProbe), m: make(map[string]*circuit)}
}

// counts reports whether an attempt's result counts towards opening the
// circuit (no connection, a timeout, a 5xx), or shows that the receiver is
// up (any other answer: it closes the circuit and resets the count). A
// refusal by the SSRF guard or an unusable URL is neither: the
// configuration's doing, not the receiver's.
func counts(r egress.Result) (failure, alive bool) {
	switch {
	case r.StatusCode >= 500:
		return true, false
	case r.StatusCode != 0:
		return false, true
	case r.Class == egress.ClassSSRF || r.Class == egress.ClassURL:
		return false, false
	}
	return true, false
}

// allow reports whether a request to endpoint id may go now, and whether it
// is a probe (the circuit is open and a probe is due: it is marked in
// flight until record).
func (b *breaker) allow(id string, now time.Time) (ok, probe bool) {
	if b.threshold <= 0 {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[id]
	if c == nil || !c.open {
		return true, false
	}
	if c.probing || now.Before(c.nextProbe) {
		return false, false
	}
	c.probing = true
	return true, true
}

// transition is a change of an endpoint's circuit: it opened, a probe
// failed (it stays open, its next probe later), or it closed.
type transition struct {
	opened, probeFailed, closed bool
	failures                    int
	nextProbe                   time.Time
	since                       time.Time
}

// changed reports whether t is a change at all.
func (t transition) changed() bool { return t.opened || t.probeFailed || t.closed }

// record counts an attempt's result (see counts). probe says the attempt
// was the probe allow let through.
func (b *breaker) record(id string, failure, success, probe bool, now time.Time) transition {
	if b.threshold <= 0 {
		return transition{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[id]
	if c == nil {
		if !failure {
			return transition{}
		}
		c = &circuit{}
		b.m[id] = c
	}
	if probe {
		c.probing = false
	}
	switch {
	case success:
		wasOpen := c.open
		delete(b.m, id)
		if wasOpen {
			return transition{closed: true, failures: c.failures, since: now}
		}
	case failure && c.open && probe:
		c.failures++
		c.interval = min(2*c.interval, b.maxProbe)
		c.nextProbe = now.Add(c.interval)
		return transition{probeFailed: true, failures: c.failures, nextProbe: c.nextProbe, since: c.since}
	case failure && !c.open:
		c.failures++
		if c.failures >= b.threshold {
			c.open, c.since, c.interval = true, now, b.minProbe
			c.nextProbe = now.Add(c.interval)
			return transition{opened: true, failures: c.failures, nextProbe: c.nextProbe, since: now}
		}
	case failure:
		c.failures++ // an attempt already in flight when it opened
	case probe:
		// Neither failure nor answer (the SSRF guard refused the probe):
		// try again later.
		c.nextProbe = now.Add(c.interval)
		return transition{probeFailed: true, failures: c.failures, nextProbe: c.nextProbe, since: c.since}
	}
	return transition{}
}

// openEndpoints lists the endpoints whose circuit is open and whose probe
// is not due (claims skip them), sorted; and the number of open circuits.
func (b *breaker) openEndpoints(now time.Time) ([]string, int) {
	if b.threshold <= 0 {
		return nil, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	n := 0
	for id, c := range b.m {
		if !c.open {
			continue
		}
		n++
		if c.probing || now.Before(c.nextProbe) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, n
}

// forget drops an endpoint's circuit (changed, deleted or enabled again by
// a user) and reports whether it was open, after how many failures.
func (b *breaker) forget(id string) (open bool, failures int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.m[id]; c != nil {
		open, failures = c.open, c.failures
		delete(b.m, id)
	}
	return open, failures
}

package delivery

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/groupcommit"
	"github.com/heraldhq/herald/webhook"
)

// send makes one attempt of a job and records it.
func (e *Engine) send(ctx context.Context, j *store.Job) {
	released, result := false, notSent
	doneSending := func() {
		if !released {
			released = true
			e.sched.done(j.EndpointID, result)
		}
	}
	defer doneSending()

	now := e.now()
	leaseEnd := j.NextAttemptAt
	if leaseEnd.Sub(now) < e.cfg.RequestTimeout+e.margin {
		// Not enough lease left for a full request: sending could overlap
		// with another worker that claims it when the lease ends. It is
		// due again then (less than a timeout away); no write is needed.
		return
	}
	ep, err := e.endpoints.get(ctx, j.EndpointID, j.EndpointUpdatedAt, now)
	if errors.Is(err, store.ErrNotFound) {
		return // deleted with its deliveries
	}
	if err != nil {
		e.log.WarnContext(ctx, "load endpoint", "endpoint_id", j.EndpointID, "err", err)
		e.release(ctx, []*store.Job{j}, false)
		return
	}
	e.sched.setRate(ep.ep.ID, ep.ep.ThrottleRate)
	if ep.ep.Disabled {
		// Disabled since the delivery was queued: keep it for recovery.
		e.finish(ctx, store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Status: store.StatusSkipped,
			Ordered: j.Seq != 0, FinishedAt: store.Truncate(now)}, leaseEnd)
		return
	}

	if j.Payload == nil {
		// Its payload was expunged, or its retention ended, before it
		// could be sent: nothing is left to deliver (an empty body would
		// go out signed). The delivery ends failed, unattempted, and a
		// FIFO sequence moves on.
		e.log.WarnContext(ctx, "delivery given up: its payload is gone (expunged or past retention)",
			"msg_id", j.MsgID, "endpoint_id", j.EndpointID, "app_id", j.AppID)
		e.finish(ctx, store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Status: store.StatusFail,
			Ordered: j.Seq != 0, FinishedAt: store.Truncate(now)}, leaseEnd)
		return
	}

	allowed, probe := e.breaker.allow(j.EndpointID, now)
	if !allowed {
		// Its circuit is open: the delivery waits, unattempted, for the
		// circuit to close (claims skip the endpoint meanwhile).
		e.releaseLater([]*store.Job{j})
		return
	}

	h := ep.headers.Clone()
	signer := webhook.Signer{Secrets: ep.secrets, SvixHeaders: e.cfg.SvixHeaders}
	if err := signer.SetHeaders(h, j.MsgID, now, j.Payload); err != nil {
		e.log.ErrorContext(ctx, "sign delivery", "endpoint_id", j.EndpointID, "err", err)
		e.release(ctx, []*store.Job{j}, false)
		return
	}
	res := e.cfg.Client.Send(ctx, egress.Request{
		URL: ep.ep.URL, Headers: h, Body: j.Payload, Deadline: leaseEnd.Add(-e.margin),
	})
	result = answered
	if res.Timeout {
		result = timedOut
	}
	doneSending()
	if ctx.Err() != nil {
		// Cut off by Stop: the request was aborted, not answered. The
		// delivery stays leased and is sent again when the lease ends.
		if probe {
			e.breaker.record(j.EndpointID, false, false, true, e.now())
		}
		return
	}
	failure, alive := counts(res)
	if tr := e.breaker.record(j.EndpointID, failure, alive, probe, e.now()); tr.changed() {
		e.circuitChanged(ctx, j, tr)
	}

	outcome := egress.Classify(res)
	attempt := &store.Attempt{
		ID:          ids.NewAt(ids.Attempt, now),
		AppID:       j.AppID,
		MsgID:       j.MsgID,
		EndpointID:  j.EndpointID,
		URL:         ep.ep.URL,
		Status:      store.StatusFail,
		StatusCode:  res.StatusCode,
		Response:    res.Body,
		DurationMs:  res.Duration.Milliseconds(),
		TriggerType: store.TriggerScheduled,
		EventType:   j.EventType,
		CreatedAt:   store.Truncate(now),
	}
	if outcome.Success {
		attempt.Status = store.StatusSuccess
	}
	if j.Manual {
		attempt.TriggerType = store.TriggerManual
	}
	if res.StatusCode == 0 && res.Err != nil {
		attempt.Response = res.ErrorText()
	}
	decided := store.Truncate(e.now())
	d := decide(outcome, j.Attempts+1, j.Manual, decided, e.cfg.RetrySchedule, e.cfg.Jitter, e.random)
	failSince := ep.ep.FailingSince
	if d.status == store.StatusFail && !d.disable && !j.Manual {
		d.disable, failSince = e.failingTooLong(ctx, j.EndpointID, now)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.Attempt(outcomeLabel(outcome, res), res.Duration, e.cfg.Events.Is(j.AppID))
		if !outcome.Success {
			e.cfg.Observer.Failure(failureClass(res))
		}
	}
	if !outcome.Success {
		e.failures.add(j.AppID, j.EndpointID, res)
	}
	e.finish(ctx, store.Completion{
		MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attempt,
		Status: d.status, NextAttemptAt: d.next, DisableEndpoint: d.disable,
		Events:  e.events(ctx, j, ep.ep, attempt, outcome.Success, d, failSince),
		Ordered: j.Seq != 0, FinishedAt: decided,
	}, leaseEnd)
	if d.disable {
		e.endpoints.drop(j.EndpointID)
		reason := "it answered 410 Gone"
		if res.StatusCode != 410 {
			reason = "no success for " + e.cfg.DisableAfter.String() + " and a message exhausted its retries"
		}
		e.log.WarnContext(ctx, "endpoint disabled", "endpoint_id", j.EndpointID, "app_id", j.AppID, "reason", reason)
	}
}

// events returns the operational events an attempt's outcome causes: a
// success after failures recovers the message; its FailingAfter-th failure
// is failing; a final failure (retries exhausted, or 410) is exhausted; and
// an automatic disable is endpoint.disabled.
func (e *Engine) events(ctx context.Context, j *store.Job, ep *store.Endpoint, a *store.Attempt, success bool, d decision, failSince time.Time) []*store.Message {
	ev := e.cfg.Events
	if ev == nil || ev.Is(j.AppID) {
		return nil
	}
	var types []string
	switch {
	case success && j.Attempts > 0 && (j.LastStatusCode < 200 || j.LastStatusCode > 299):
		// A success after a failed attempt (a resend of a message that
		// had succeeded recovers nothing).
		types = append(types, operational.AttemptRecovered)
	case !success && j.Attempts+1 == operational.FailingAfter:
		types = append(types, operational.AttemptFailing)
	}
	if !success && d.status == store.StatusFail && !j.Manual {
		types = append(types, operational.AttemptExhausted)
	}
	if len(types) == 0 && !d.disable {
		return nil
	}
	appUID := e.appUIDs.uid(ctx, j.AppID)
	var out []*store.Message
	for _, t := range types {
		out = append(out, ev.Attempt(t, appUID, j, a)...)
	}
	if d.disable {
		out = append(out, ev.Disabled(&store.App{ID: j.AppID, UID: appUID}, ep, operational.TriggerAutomatic, failSince)...)
	}
	return out
}

// circuitChanged logs a change of an endpoint's circuit, stores it (for the
// API and the portal to show) and, when it closed, looks for the deliveries
// that waited.
func (e *Engine) circuitChanged(ctx context.Context, j *store.Job, tr transition) {
	c := store.Circuit{Open: !tr.closed, Failures: tr.failures, Since: store.Truncate(tr.since), NextProbe: store.Truncate(tr.nextProbe)}
	switch {
	case tr.opened:
		e.log.WarnContext(ctx, "circuit opened: no attempts to the endpoint but probes", "endpoint_id", j.EndpointID,
			"app_id", j.AppID, "consecutive_failures", tr.failures, "next_probe", c.NextProbe)
	case tr.probeFailed:
		e.log.InfoContext(ctx, "circuit stays open: the probe failed", "endpoint_id", j.EndpointID, "app_id", j.AppID,
			"next_probe", c.NextProbe)
	case tr.closed:
		e.log.InfoContext(ctx, "circuit closed: the endpoint answers again", "endpoint_id", j.EndpointID, "app_id", j.AppID)
		c.NextProbe = time.Time{}
		e.mayPark.Store(true) // its parked deliveries can go
		e.Wake()
	}
	if e.cfg.Observer != nil && (tr.opened || tr.closed) {
		e.cfg.Observer.Circuit(tr.opened)
	}
	if err := e.cfg.Store.SetEndpointCircuit(ctx, j.EndpointID, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		e.log.WarnContext(ctx, "store circuit state", "endpoint_id", j.EndpointID, "err", err)
	}
}

// failingTooLong reports whether an endpoint whose message just exhausted its
// retries has had no success for DisableAfter, and since when it fails. It reads the endpoint from
// the store: the failure clock is kept there (and reset by any success),
// not in the cached copy.
func (e *Engine) failingTooLong(ctx context.Context, endpointID string, now time.Time) (bool, time.Time) {
	if e.cfg.DisableAfter < 0 {
		return false, time.Time{}
	}
	ep, err := e.cfg.Store.GetEndpointByID(ctx, endpointID)
	if errors.Is(err, store.ErrNotFound) {
		return false, time.Time{}
	}
	if err != nil {
		// Not fatal: the next message to exhaust its retries checks again.
		e.log.WarnContext(ctx, "check whether to disable the endpoint", "endpoint_id", endpointID, "err", err)
		if e.cfg.Observer != nil {
			e.cfg.Observer.Batch("disable_check", 1, 0, err)
		}
		return false, time.Time{}
	}
	return !ep.Disabled && !ep.FailingSince.IsZero() && now.Sub(ep.FailingSince) >= e.cfg.DisableAfter, ep.FailingSince
}

func outcomeLabel(o egress.Outcome, r egress.Result) string {
	switch {
	case o.Success:
		return "success"
	case r.Timeout:
		return "timeout"
	case r.StatusCode == 0:
		return "error"
	}
	return "failure"
}

// finish records a completion. A store that fails is tried again with a
// growing wait, for as long as the lease lasts; past it, the delivery is
// claimed and sent again anyway. A completion the store refuses outright
// (not an outage) is recorded once more without the response body, the one
// part a receiver controls, so that the delivery still follows its retry
// schedule instead of being sent again at every lease expiry. Each failure
// is counted (as a failed "complete" batch) and logged.
func (e *Engine) finish(ctx context.Context, c store.Completion, leaseEnd time.Time) {
	wait := 100 * time.Millisecond
	stripped := false
	for {
		res, err := e.complete.Do(ctx, c)
		if err == nil {
			err = res
		}
		if err == nil {
			return
		}
		if ctx.Err() != nil || errors.Is(err, groupcommit.ErrClosed) {
			return // cut off by Stop: left leased, never half-recorded
		}
		if c.Attempt != nil && !stripped && !errors.Is(err, store.ErrUnavailable) {
			e.log.WarnContext(ctx, "record attempt: the store refused it; recording it without the response body",
				"msg_id", c.MsgID, "endpoint_id", c.EndpointID, "err", err)
			a := *c.Attempt
			a.Response = "(the response could not be recorded)" // the cause is in the log
			c.Attempt, stripped = &a, true
			continue
		}
		if !e.now().Add(wait).Before(leaseEnd) {
			e.log.ErrorContext(ctx, "record attempt: giving up; the delivery is sent again when its lease ends",
				"msg_id", c.MsgID, "endpoint_id", c.EndpointID, "err", err)
			return
		}
		e.log.WarnContext(ctx, "record attempt", "msg_id", c.MsgID, "endpoint_id", c.EndpointID, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// endpointCache keeps what sending to an endpoint needs: the endpoint, its
// parsed signing secrets and its static headers. An entry is reloaded when
// the job says the endpoint changed (UpdatedAt), and its secrets are
// recomputed when an old secret expires.
type endpointCache struct {
	store     Store
	box       *secretbox.Box
	userAgent string
	mu        sync.Mutex
	m         map[string]*cachedEndpoint
}

type cachedEndpoint struct {
	ep      *store.Endpoint
	secrets []webhook.Secret
	headers http.Header
	// validUntil is when the next old secret expires (zero: never).
	validUntil time.Time
}

func newEndpointCache(s Store, box *secretbox.Box, userAgent string) *endpointCache {
	return &endpointCache{store: s, box: box, userAgent: userAgent, m: make(map[string]*cachedEndpoint)}
}

func (c *endpointCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

func (c *endpointCache) get(ctx context.Context, id string, version, now time.Time) (*cachedEndpoint, error) {
	c.mu.Lock()
	ce := c.m[id]
	c.mu.Unlock()
	if ce != nil && (version.IsZero() || !ce.ep.UpdatedAt.Before(version)) &&
		(ce.validUntil.IsZero() || now.Before(ce.validUntil)) {
		return ce, nil
	}
	var ep *store.Endpoint
	if ce != nil && !ce.ep.UpdatedAt.Before(version) {
		ep = ce.ep // only an old secret expired
	} else {
		var err error
		if ep, err = c.store.GetEndpointByID(ctx, id); err != nil {
			return nil, err
		}
	}
	ce, err := c.build(ep, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) > 100000 {
		clear(c.m)
	}
	c.m[id] = ce
	c.mu.Unlock()
	return ce, nil
}

func (c *endpointCache) build(ep *store.Endpoint, now time.Time) (*cachedEndpoint, error) {
	ce := &cachedEndpoint{ep: ep, headers: make(http.Header, len(ep.Headers)+6)}
	add := func(sealed string) error {
		plain, err := c.box.Open(sealed)
		if err != nil {
			return err
		}
		s, err := webhook.ParseSecret(plain)
		if err != nil {
			return err
		}
		ce.secrets = append(ce.secrets, s)
		return nil
	}
	if err := add(ep.Secret); err != nil {
		return nil, err
	}
	for _, old := range ep.OldSecrets {
		if !now.Before(old.ExpiresAt) {
			continue
		}
		if err := add(old.Secret); err != nil {
			return nil, err
		}
		if ce.validUntil.IsZero() || old.ExpiresAt.Before(ce.validUntil) {
			ce.validUntil = old.ExpiresAt
		}
	}
	for k, v := range ep.Headers {
		ce.headers.Set(k, v)
	}
	// Set last: custom headers cannot replace these (the API refuses them
	// too).
	ce.headers.Set("Content-Type", "application/json")
	ce.headers.Set("User-Agent", c.userAgent)
	return ce, nil
}

package store

import (
	"slices"
	"strings"
	"time"
)

// This file holds the rules of CompleteDeliveries that go beyond moving each
// delivery, once, for every driver: drivers call Outcome on the batch and
// write what it returns.

// EndpointOutcome is what a batch of completions does to one endpoint,
// whatever their leases: it sums up the batch's attempts to the endpoint.
type EndpointOutcome struct {
	EndpointID string
	// Succeeded is true when an attempt of the batch succeeded: the
	// endpoint's failure clock restarted within the batch.
	Succeeded bool
	// Since is the CreatedAt of the first failed attempt after the
	// batch's last success; zero when the last attempt succeeded.
	Since time.Time
	// DisableAt, when not zero, disables the endpoint: it is the CreatedAt
	// of the latest attempt whose Completion asked for it
	// (DisableEndpoint), which becomes the endpoint's UpdatedAt (or
	// stored UpdatedAt + 1µs, when that is later). An endpoint already
	// disabled is left as it is.
	DisableAt time.Time
}

// FailingSince returns the endpoint's FailingSince after the batch, given
// the one stored before it: cleared when the last attempt succeeded; the
// first failure after the last success when the batch had a success; else
// the stored one, or the batch's first failure when none was stored.
// Drivers apply it without reading stored, as a write of Since guarded by
// the stored value (Changes says when the write changes something).
func (o *EndpointOutcome) FailingSince(stored time.Time) time.Time {
	if o.Since.IsZero() || o.Succeeded || stored.IsZero() {
		return o.Since
	}
	return stored
}

// Changes reports whether the batch changes a stored FailingSince, that is
// whether FailingSince(stored) differs from stored.
func (o *EndpointOutcome) Changes(stored time.Time) bool {
	return !o.FailingSince(stored).Equal(stored)
}

// BatchOutcome is what a batch of completions does besides moving each
// delivery.
type BatchOutcome struct {
	// Endpoints are the outcomes of the endpoints that the batch's attempts
	// went to, in ID order (the order drivers lock them in). Completions
	// without an Attempt change no endpoint.
	Endpoints []EndpointOutcome
	// Events are the completions' Events, in order.
	Events []*Message
}

// Outcome returns what cs does besides moving each delivery (see
// Store.CompleteDeliveries).
func Outcome(cs []Completion) BatchOutcome {
	var out BatchOutcome
	index := map[string]int{}
	for _, c := range cs {
		out.Events = append(out.Events, c.Events...)
		a := c.Attempt
		if a == nil {
			continue
		}
		i, ok := index[c.EndpointID]
		if !ok {
			i = len(out.Endpoints)
			index[c.EndpointID] = i
			out.Endpoints = append(out.Endpoints, EndpointOutcome{EndpointID: c.EndpointID})
		}
		o := &out.Endpoints[i]
		if a.Status == StatusSuccess {
			o.Succeeded, o.Since = true, time.Time{}
		} else if o.Since.IsZero() {
			o.Since = a.CreatedAt
		}
		if c.DisableEndpoint && a.CreatedAt.After(o.DisableAt) {
			o.DisableAt = a.CreatedAt
		}
	}
	slices.SortFunc(out.Endpoints, func(a, b EndpointOutcome) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	return out
}

// Next returns the NextAttemptAt a completion writes: its NextAttemptAt
// when it retries (StatusPending), zero when it finishes the delivery.
func (c *Completion) Next() time.Time {
	if c.Status == StatusPending {
		return c.NextAttemptAt
	}
	return time.Time{}
}

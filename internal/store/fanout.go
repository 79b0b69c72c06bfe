package store

import (
	"slices"
	"time"
)

// This file holds the fan-out rules of CreateMessages (and of Events, which
// are written as CreateMessages writes a message without a lease), once, for
// every driver: drivers read an app's endpoints, call PlanDeliveries, and
// write what it returns.

// PlannedDelivery is one delivery CreateMessages writes for a message.
type PlannedDelivery struct {
	Endpoint *Endpoint
	// Status is StatusPending, or StatusSkipped for a disabled endpoint;
	// Joined makes a delivery that is not the head of its sequence
	// StatusBlocked.
	Status DeliveryStatus
	// NextAttemptAt and Lease are those of a pending delivery: due at the
	// message's DueAt and not leased, leased until the caller's
	// LeaseUntil, or parked (both zero) for an endpoint in NoLease. Zero
	// for the others.
	NextAttemptAt time.Time
	Lease         int64
	// Ordered means the delivery goes to a FIFO endpoint and joins the
	// sequence of its message's OrderingKey there (see Sequence): the
	// driver calls Joined with its place before writing it.
	Ordered bool
	// Seq is its place in its sequence, once Joined; 0 when not Ordered.
	Seq int64
}

// PlanDeliveries returns the deliveries of p's message to eps, the
// endpoints of its app in ID order (see Store.CreateMessages): one per
// endpoint that accepts the message (Endpoint.Accepts), pending for an
// enabled endpoint (leased as p asks unless the message is scheduled, and
// parked instead for an endpoint in p.NoLease) and skipped for a disabled
// one. A test
// message (p.EndpointID) goes to that endpoint only, whatever its filters,
// and outside its sequences; ErrNotFound when eps does not hold it.
func PlanDeliveries(p CreateMessageParams, eps []*Endpoint) ([]PlannedDelivery, error) {
	m := p.Message
	test := p.EndpointID != ""
	if test {
		k := slices.IndexFunc(eps, func(ep *Endpoint) bool { return ep.ID == p.EndpointID })
		if k < 0 {
			return nil, ErrNotFound
		}
		eps = eps[k : k+1]
	}
	leased := p.Lease != 0 && !m.Scheduled()
	var ds []PlannedDelivery
	for _, ep := range eps {
		if !test && !ep.Accepts(m.EventType, m.Channels) {
			continue
		}
		if ep.Disabled {
			ds = append(ds, PlannedDelivery{Endpoint: ep, Status: StatusSkipped})
			continue
		}
		d := PlannedDelivery{Endpoint: ep, Status: StatusPending, NextAttemptAt: m.DueAt(), Ordered: !test && ep.Ordering == OrderingFIFO}
		if leased {
			if slices.Contains(p.NoLease, ep.ID) {
				d.NextAttemptAt = time.Time{} // parked
			} else {
				d.NextAttemptAt, d.Lease = p.LeaseUntil, p.Lease
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Joined records the place of an Ordered delivery in its sequence, as
// Sequence.Join returned it: a delivery that is not the head is blocked,
// neither due nor leased.
func (d *PlannedDelivery) Joined(seq int64, head bool) {
	d.Seq = seq
	if !head {
		d.Status, d.NextAttemptAt, d.Lease = StatusBlocked, time.Time{}, 0
	}
}

// Job returns the job of a pending delivery of m (nil for a skipped or
// blocked one), as CreateMessageResult.Jobs holds it.
func (d *PlannedDelivery) Job(m *Message) *Job {
	if d.Status != StatusPending {
		return nil
	}
	return &Job{
		Delivery: Delivery{
			AppID: m.AppID, MsgID: m.ID, EndpointID: d.Endpoint.ID, Status: StatusPending,
			NextAttemptAt: d.NextAttemptAt, Lease: d.Lease, Seq: d.Seq, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
		},
		EventType:            m.EventType,
		MsgEventID:           m.EventID,
		Payload:              m.Payload,
		MsgCreatedAt:         m.CreatedAt,
		EndpointUpdatedAt:    d.Endpoint.UpdatedAt,
		EndpointThrottleRate: d.Endpoint.ThrottleRate,
	}
}

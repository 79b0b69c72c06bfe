package store

import "time"

// This file holds the rules of scheduled messages and FIFO endpoints, once,
// for every driver: drivers read the state these functions take, under the
// locks they document, and write what they return.

// Ordering is how an endpoint's deliveries are sent.
type Ordering int8

// Orderings.
const (
	// OrderingNone sends an endpoint's deliveries in parallel, within its
	// in-flight cap.
	OrderingNone Ordering = iota
	// OrderingFIFO sends an endpoint's deliveries one after the other per
	// ordering key, in the order they were accepted (see Sequence).
	OrderingFIFO
)

// DueAt is when the deliveries of m are first due: its DeliverAt when that
// is after its CreatedAt, else its CreatedAt (a time in the past means now).
func (m *Message) DueAt() time.Time {
	if m.Scheduled() {
		return m.DeliverAt
	}
	return m.CreatedAt
}

// Scheduled reports whether m waits for its DeliverAt. Its deliveries are
// created due then, never leased at creation (the API's fast path skips
// them), so that only a claim made at or after DeliverAt sends them.
func (m *Message) Scheduled() bool {
	return m.DeliverAt.After(m.CreatedAt)
}

// Cancelable reports whether a message whose deliveries are ds may be
// cancelled at now (CancelMessage): it must be scheduled, not yet due, not
// cancelled already, and none of its deliveries may have been attempted,
// leased, resent, or made due by anything else. Skipped deliveries (to an
// endpoint that was disabled) are cancelled with the others.
func Cancelable(m *Message, ds []*Delivery, now time.Time) bool {
	if !m.Scheduled() || !now.Before(m.DeliverAt) || !m.CanceledAt.IsZero() {
		return false
	}
	for _, d := range ds {
		if d.Attempts > 0 || d.Lease != 0 || d.Manual {
			return false
		}
		switch d.Status {
		case StatusPending:
			if !now.Before(d.NextAttemptAt) {
				return false
			}
		case StatusBlocked, StatusSkipped:
		default:
			return false
		}
	}
	return true
}

// Sequence is the state of one FIFO sequence: the deliveries to one FIFO
// endpoint (Endpoint.Ordering) of the messages with one OrderingKey, in the
// order they joined it. At most one of them, the head, is pending (due,
// leased, or waiting for a retry); the others are StatusBlocked. When the
// head reaches a final state (success, fail once its retries are exhausted,
// skipped because the endpoint was disabled, canceled), the blocked delivery
// that joined first becomes the head. A delivery joins when it is created
// (CreateMessages, in the order of its params), resent (ResendDelivery) or
// recovered (RecoverDeliveries): always at the end, behind the others, so
// that a resend never overtakes what was accepted before it.
//
// Drivers keep one row per sequence that is not idle, holding Head and Last,
// and change it only while they hold it locked (a sequence that has no row
// is idle, with Last 0): every Join and Advance of one sequence is thus
// serialized, so that two writers (PostgreSQL replicas) never make two heads
// nor miss a delivery that joins while the head finishes. They delete the
// row of a sequence that becomes idle.
type Sequence struct {
	// Head is the message ID of the head's delivery; "" when the sequence
	// is idle.
	Head string
	// Last is the Seq of the delivery that joined last (they count from
	// 1, and start again once the sequence is idle).
	Last int64
}

// Join adds the delivery of message msgID at the end of s. It returns the
// delivery's Seq, and whether it is the head (pending, due as it would be
// without an order) or blocked.
func (s *Sequence) Join(msgID string) (seq int64, head bool) {
	s.Last++
	if s.Head == "" {
		s.Head = msgID
		return s.Last, true
	}
	return s.Last, false
}

// Waiting is a blocked delivery of a sequence, as a driver reads it.
type Waiting struct {
	MsgID string
	Seq   int64
	// DeliverAt is its message's (zero when none).
	DeliverAt time.Time
}

// Advance moves s on once the delivery of message finished reached a final
// state at now. next is the blocked delivery of s with the lowest Seq (nil
// when none is). When finished was the head, next becomes the head: Advance
// returns true and when it is due (now, or its message's DeliverAt when
// that is later); with no next, s becomes idle. A delivery that was not the
// head (a blocked one cancelled) leaves s as it is.
func (s *Sequence) Advance(finished string, next *Waiting, now time.Time) (promote bool, due time.Time) {
	if s.Head != finished || s.Head == "" {
		return false, time.Time{}
	}
	if next == nil {
		*s = Sequence{}
		return false, time.Time{}
	}
	s.Head = next.MsgID
	if next.DeliverAt.After(now) {
		return true, next.DeliverAt
	}
	return true, now
}

// Idle reports whether s has no head: its row is deleted.
func (s *Sequence) Idle() bool { return s.Head == "" }

// Final reports whether a delivery in state st is finished: a FIFO
// sequence moves past it.
func Final(st DeliveryStatus) bool {
	switch st {
	case StatusSuccess, StatusFail, StatusSkipped, StatusCanceled:
		return true
	}
	return false
}

package store

import (
	"errors"
	"testing"
	"time"
)

func TestPlanDeliveries(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	leaseUntil := created.Add(30 * time.Second)
	later := created.Add(time.Hour)
	all := &Endpoint{ID: "ep_all"}
	orders := &Endpoint{ID: "ep_orders", EventTypes: []string{"order.created"}}
	eu := &Endpoint{ID: "ep_eu", Channels: []string{"eu"}}
	off := &Endpoint{ID: "ep_off", Disabled: true}
	offOrders := &Endpoint{ID: "ep_off_orders", Disabled: true, EventTypes: []string{"order.created"}}
	fifo := &Endpoint{ID: "ep_fifo", Ordering: OrderingFIFO}
	eps := []*Endpoint{all, orders, eu, off, offOrders, fifo}

	msg := func(eventType string, channels []string, deliverAt time.Time) *Message {
		return &Message{ID: "msg_1", AppID: "app_1", EventType: eventType, Channels: channels, CreatedAt: created, DeliverAt: deliverAt}
	}
	pending := func(ep *Endpoint, next time.Time, lease int64) PlannedDelivery {
		return PlannedDelivery{Endpoint: ep, Status: StatusPending, NextAttemptAt: next, Lease: lease, Ordered: ep.Ordering == OrderingFIFO}
	}
	skipped := func(ep *Endpoint) PlannedDelivery { return PlannedDelivery{Endpoint: ep, Status: StatusSkipped} }

	for _, c := range []struct {
		name    string
		p       CreateMessageParams
		want    []PlannedDelivery
		wantErr error
	}{
		{
			name: "filters: event type, channels, disabled skipped",
			p:    CreateMessageParams{Message: msg("user.created", []string{"us"}, time.Time{})},
			want: []PlannedDelivery{pending(all, created, 0), skipped(off), pending(fifo, created, 0)},
		},
		{
			name: "matching event type and channel",
			p:    CreateMessageParams{Message: msg("order.created", []string{"us", "eu"}, time.Time{})},
			want: []PlannedDelivery{pending(all, created, 0), pending(orders, created, 0), pending(eu, created, 0), skipped(off),
				skipped(offOrders), pending(fifo, created, 0)},
		},
		{
			name: "leased to the caller but NoLease: parked",
			p: CreateMessageParams{Message: msg("user.created", nil, time.Time{}), Lease: 7, LeaseUntil: leaseUntil,
				NoLease: []string{"ep_fifo"}},
			want: []PlannedDelivery{pending(all, leaseUntil, 7), skipped(off), pending(fifo, time.Time{}, 0)},
		},
		{
			name: "NoLease without a lease: due",
			p:    CreateMessageParams{Message: msg("user.created", nil, time.Time{}), NoLease: []string{"ep_fifo"}},
			want: []PlannedDelivery{pending(all, created, 0), skipped(off), pending(fifo, created, 0)},
		},
		{
			name: "NoLease of a scheduled message: due at DeliverAt",
			p: CreateMessageParams{Message: msg("user.created", nil, later), Lease: 7, LeaseUntil: leaseUntil,
				NoLease: []string{"ep_fifo"}},
			want: []PlannedDelivery{pending(all, later, 0), skipped(off), pending(fifo, later, 0)},
		},
		{
			name: "scheduled: due at DeliverAt, never leased",
			p:    CreateMessageParams{Message: msg("user.created", nil, later), Lease: 7, LeaseUntil: leaseUntil},
			want: []PlannedDelivery{pending(all, later, 0), skipped(off), pending(fifo, later, 0)},
		},
		{
			name: "DeliverAt in the past is now",
			p:    CreateMessageParams{Message: msg("user.created", nil, created.Add(-time.Hour)), Lease: 7, LeaseUntil: leaseUntil},
			want: []PlannedDelivery{pending(all, leaseUntil, 7), skipped(off), pending(fifo, leaseUntil, 7)},
		},
		{
			name: "test message ignores filters",
			p:    CreateMessageParams{Message: msg("user.created", nil, time.Time{}), EndpointID: "ep_orders"},
			want: []PlannedDelivery{pending(orders, created, 0)},
		},
		{
			name: "test message to a FIFO endpoint is outside its sequences",
			p:    CreateMessageParams{Message: msg("user.created", nil, time.Time{}), EndpointID: "ep_fifo", Lease: 7, LeaseUntil: leaseUntil},
			want: []PlannedDelivery{{Endpoint: fifo, Status: StatusPending, NextAttemptAt: leaseUntil, Lease: 7}},
		},
		{
			name: "test message to a disabled endpoint is skipped",
			p:    CreateMessageParams{Message: msg("user.created", nil, time.Time{}), EndpointID: "ep_off"},
			want: []PlannedDelivery{skipped(off)},
		},
		{
			name:    "test message to an unknown endpoint",
			p:       CreateMessageParams{Message: msg("user.created", nil, time.Time{}), EndpointID: "ep_nope"},
			wantErr: ErrNotFound,
		},
	} {
		got, err := PlanDeliveries(c.p, eps)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.wantErr)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d deliveries %v, want %d %v", c.name, len(got), got, len(c.want), c.want)
			continue
		}
		for i := range got {
			if g, w := got[i], c.want[i]; g.Endpoint != w.Endpoint || g.Status != w.Status || !g.NextAttemptAt.Equal(w.NextAttemptAt) ||
				g.Lease != w.Lease || g.Ordered != w.Ordered || g.Seq != 0 {
				t.Errorf("%s: delivery %d = %+v, want %+v", c.name, i, g, w)
			}
		}
	}
}

func TestPlannedDeliveryJoined(t *testing.T) {
	t.Parallel()
	m := &Message{ID: "msg_1", AppID: "app_1", EventType: "e", EventID: "ev", Payload: []byte(`{}`), CreatedAt: time.Unix(1, 0)}
	ep := &Endpoint{ID: "ep_1", Ordering: OrderingFIFO, ThrottleRate: 3, UpdatedAt: time.Unix(2, 0)}
	lease := time.Unix(30, 0)

	head := PlannedDelivery{Endpoint: ep, Status: StatusPending, NextAttemptAt: lease, Lease: 9, Ordered: true}
	head.Joined(1, true)
	job := head.Job(m)
	if head.Status != StatusPending || head.Seq != 1 || job == nil {
		t.Fatalf("head: %+v, job %v", head, job)
	}
	if job.MsgID != "msg_1" || job.EndpointID != "ep_1" || job.Seq != 1 || job.Lease != 9 || !job.NextAttemptAt.Equal(lease) ||
		job.EndpointThrottleRate != 3 || !job.EndpointUpdatedAt.Equal(ep.UpdatedAt) || job.MsgEventID != "ev" {
		t.Errorf("head's job: %+v", job)
	}

	blocked := PlannedDelivery{Endpoint: ep, Status: StatusPending, NextAttemptAt: lease, Lease: 9, Ordered: true}
	blocked.Joined(2, false)
	if blocked.Status != StatusBlocked || blocked.Seq != 2 || !blocked.NextAttemptAt.IsZero() || blocked.Lease != 0 {
		t.Errorf("blocked: %+v", blocked)
	}
	if job := blocked.Job(m); job != nil {
		t.Errorf("blocked delivery has a job: %+v", job)
	}
	if job := (&PlannedDelivery{Endpoint: ep, Status: StatusSkipped}).Job(m); job != nil {
		t.Errorf("skipped delivery has a job: %+v", job)
	}
}

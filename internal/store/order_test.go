package store

import (
	"testing"
	"time"
)

func TestMessageDueAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name      string
		deliverAt time.Time
		due       time.Time
		scheduled bool
	}{
		{"none", time.Time{}, at, false},
		{"past means now", at.Add(-time.Hour), at, false},
		{"now", at, at, false},
		{"future", at.Add(time.Microsecond), at.Add(time.Microsecond), true},
		{"tomorrow", at.Add(24 * time.Hour), at.Add(24 * time.Hour), true},
	} {
		m := &Message{CreatedAt: at, DeliverAt: c.deliverAt}
		if got := m.DueAt(); !got.Equal(c.due) {
			t.Errorf("%s: DueAt %v, want %v", c.name, got, c.due)
		}
		if got := m.Scheduled(); got != c.scheduled {
			t.Errorf("%s: Scheduled %v, want %v", c.name, got, c.scheduled)
		}
	}
}

func TestCancelable(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	due := created.Add(time.Hour)
	now := created.Add(time.Minute)
	scheduled := &Message{CreatedAt: created, DeliverAt: due}
	pending := func(mod func(d *Delivery)) *Delivery {
		d := &Delivery{Status: StatusPending, NextAttemptAt: due}
		if mod != nil {
			mod(d)
		}
		return d
	}
	for _, c := range []struct {
		name string
		m    *Message
		ds   []*Delivery
		now  time.Time
		want bool
	}{
		{"scheduled, waiting", scheduled, []*Delivery{pending(nil), pending(nil)}, now, true},
		{"no deliveries", scheduled, nil, now, true},
		{"blocked and skipped", scheduled, []*Delivery{pending(func(d *Delivery) { d.Status, d.NextAttemptAt = StatusBlocked, time.Time{} }),
			pending(func(d *Delivery) { d.Status, d.NextAttemptAt = StatusSkipped, time.Time{} })}, now, true},
		{"not scheduled", &Message{CreatedAt: created}, []*Delivery{pending(nil)}, now, false},
		{"deliverAt was in the past", &Message{CreatedAt: created, DeliverAt: created.Add(-time.Second)}, nil, now, false},
		{"due", scheduled, []*Delivery{pending(nil)}, due, false},
		{"after due", scheduled, []*Delivery{pending(nil)}, due.Add(time.Second), false},
		{"cancelled already", &Message{CreatedAt: created, DeliverAt: due, CanceledAt: now}, nil, now, false},
		{"leased", scheduled, []*Delivery{pending(func(d *Delivery) { d.Lease = 7 })}, now, false},
		{"attempted", scheduled, []*Delivery{pending(func(d *Delivery) { d.Attempts = 1 })}, now, false},
		{"resent", scheduled, []*Delivery{pending(func(d *Delivery) { d.Manual, d.NextAttemptAt = true, now })}, now, false},
		{"made due by another", scheduled, []*Delivery{pending(func(d *Delivery) { d.NextAttemptAt = now })}, now, false},
		{"succeeded", scheduled, []*Delivery{pending(func(d *Delivery) { d.Status = StatusSuccess })}, now, false},
		{"failed", scheduled, []*Delivery{pending(func(d *Delivery) { d.Status = StatusFail })}, now, false},
	} {
		if got := Cancelable(c.m, c.ds, c.now); got != c.want {
			t.Errorf("%s: Cancelable %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSequence walks a sequence through the transitions drivers make: joins
// while idle and busy, the head finishing with and without a successor, a
// blocked delivery leaving, a resend joining at the end, a scheduled
// successor.
func TestSequence(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type step struct {
		name string
		// join, when set, joins that message.
		join     string
		wantSeq  int64
		wantHead bool
		// finish, when set, finishes that message with next waiting.
		finish      string
		next        *Waiting
		wantPromote bool
		wantDue     time.Time
		// state after the step
		head string
		last int64
	}
	steps := []step{
		{name: "first joins an idle sequence: head", join: "m1", wantSeq: 1, wantHead: true, head: "m1", last: 1},
		{name: "second waits", join: "m2", wantSeq: 2, head: "m1", last: 2},
		{name: "third waits", join: "m3", wantSeq: 3, head: "m1", last: 3},
		{name: "a blocked one leaves (cancelled): nothing moves", finish: "m2", next: &Waiting{MsgID: "m2", Seq: 2}, head: "m1", last: 3},
		{name: "the head finishes: the lowest waiting is next, due now", finish: "m1", next: &Waiting{MsgID: "m3", Seq: 3},
			wantPromote: true, wantDue: now, head: "m3", last: 3},
		{name: "an old message resent joins at the end", join: "m0", wantSeq: 4, head: "m3", last: 4},
		{name: "a scheduled successor is due at its time", finish: "m3", next: &Waiting{MsgID: "m0", Seq: 4, DeliverAt: now.Add(time.Hour)},
			wantPromote: true, wantDue: now.Add(time.Hour), head: "m0", last: 4},
		{name: "a finished delivery that is not the head changes nothing", finish: "m3", next: nil, head: "m0", last: 4},
		{name: "the last head finishes: idle", finish: "m0", next: nil, head: "", last: 0},
		{name: "a join after idle starts again at 1", join: "m9", wantSeq: 1, wantHead: true, head: "m9", last: 1},
		{name: "a successor whose deliverAt passed is due now", join: "m10", wantSeq: 2, head: "m9", last: 2},
		{name: "...", finish: "m9", next: &Waiting{MsgID: "m10", Seq: 2, DeliverAt: now.Add(-time.Hour)},
			wantPromote: true, wantDue: now, head: "m10", last: 2},
	}
	var s Sequence
	for _, st := range steps {
		switch {
		case st.join != "":
			seq, head := s.Join(st.join)
			if seq != st.wantSeq || head != st.wantHead {
				t.Fatalf("%s: Join = %d, %v; want %d, %v", st.name, seq, head, st.wantSeq, st.wantHead)
			}
		case st.finish != "":
			promote, due := s.Advance(st.finish, st.next, now)
			if promote != st.wantPromote || !due.Equal(st.wantDue) {
				t.Fatalf("%s: Advance = %v, %v; want %v, %v", st.name, promote, due, st.wantPromote, st.wantDue)
			}
		}
		if s.Head != st.head || s.Last != st.last || s.Idle() != (st.head == "") {
			t.Fatalf("%s: sequence %+v, want head %q last %d", st.name, s, st.head, st.last)
		}
	}
}

func TestFinal(t *testing.T) {
	t.Parallel()
	for st, want := range map[DeliveryStatus]bool{
		StatusSuccess: true, StatusFail: true, StatusSkipped: true, StatusCanceled: true,
		StatusPending: false, StatusBlocked: false, StatusSending: false,
	} {
		if Final(st) != want {
			t.Errorf("Final(%d) = %v, want %v", st, !want, want)
		}
	}
}

func TestReportedStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    Delivery
		want DeliveryStatus
	}{
		{Delivery{Status: StatusPending}, StatusPending},
		{Delivery{Status: StatusPending, Attempts: 2}, StatusSending},
		{Delivery{Status: StatusBlocked}, StatusPending},
		{Delivery{Status: StatusBlocked, Attempts: 1}, StatusSending},
		{Delivery{Status: StatusSkipped}, StatusFail},
		{Delivery{Status: StatusCanceled}, StatusFail},
		{Delivery{Status: StatusSuccess, Attempts: 1}, StatusSuccess},
		{Delivery{Status: StatusFail, Attempts: 8}, StatusFail},
	} {
		if got := c.d.ReportedStatus(); got != c.want {
			t.Errorf("%+v: ReportedStatus %d, want %d", c.d, got, c.want)
		}
	}
}

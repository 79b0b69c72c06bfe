package store

import (
	"testing"
	"time"
)

func TestOutcome(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(id string) *Message { return &Message{ID: id} }
	attempt := func(ep string, s int, ok bool) Completion {
		st := StatusFail
		if ok {
			st = StatusSuccess
		}
		return Completion{MsgID: "msg", EndpointID: ep, Attempt: &Attempt{Status: st, CreatedAt: at(s)}}
	}
	disable := func(c Completion) Completion { c.DisableEndpoint = true; return c }
	withEvents := func(c Completion, evs ...*Message) Completion { c.Events = evs; return c }

	for _, c := range []struct {
		name   string
		cs     []Completion
		want   []EndpointOutcome
		events []string
	}{
		{"empty", nil, nil, nil},
		{"failures: the first one", []Completion{attempt("ep_a", 2, false), attempt("ep_a", 1, false)},
			[]EndpointOutcome{{EndpointID: "ep_a", Since: at(2)}}, nil},
		{"success last clears", []Completion{attempt("ep_a", 1, false), attempt("ep_a", 2, true)},
			[]EndpointOutcome{{EndpointID: "ep_a", Succeeded: true}}, nil},
		{"first failure after the last success", []Completion{attempt("ep_a", 1, false), attempt("ep_a", 2, true),
			attempt("ep_a", 3, false), attempt("ep_a", 4, false)},
			[]EndpointOutcome{{EndpointID: "ep_a", Succeeded: true, Since: at(3)}}, nil},
		{"no attempt changes no endpoint, its events still go",
			[]Completion{withEvents(Completion{EndpointID: "ep_a", Status: StatusSkipped}, ev("e1"))}, nil, []string{"e1"}},
		{"disable at the latest attempt asking for it",
			[]Completion{disable(attempt("ep_a", 5, false)), attempt("ep_a", 9, false), disable(attempt("ep_a", 3, false))},
			[]EndpointOutcome{{EndpointID: "ep_a", Since: at(5), DisableAt: at(5)}}, nil},
		{"endpoints in ID order, events in order",
			[]Completion{withEvents(attempt("ep_c", 1, true), ev("e1"), ev("e2")), withEvents(attempt("ep_a", 2, false), ev("e3")),
				disable(attempt("ep_b", 3, false))},
			[]EndpointOutcome{{EndpointID: "ep_a", Since: at(2)}, {EndpointID: "ep_b", Since: at(3), DisableAt: at(3)},
				{EndpointID: "ep_c", Succeeded: true}}, []string{"e1", "e2", "e3"}},
	} {
		got := Outcome(c.cs)
		if len(got.Endpoints) != len(c.want) {
			t.Errorf("%s: endpoints %+v, want %+v", c.name, got.Endpoints, c.want)
		} else {
			for i, g := range got.Endpoints {
				w := c.want[i]
				if g.EndpointID != w.EndpointID || g.Succeeded != w.Succeeded || !g.Since.Equal(w.Since) || !g.DisableAt.Equal(w.DisableAt) {
					t.Errorf("%s: endpoint %d = %+v, want %+v", c.name, i, g, w)
				}
			}
		}
		var events []string
		for _, e := range got.Events {
			events = append(events, e.ID)
		}
		if len(events) != len(c.events) {
			t.Errorf("%s: events %v, want %v", c.name, events, c.events)
			continue
		}
		for i := range events {
			if events[i] != c.events[i] {
				t.Errorf("%s: events %v, want %v", c.name, events, c.events)
				break
			}
		}
	}
}

func TestEndpointOutcomeFailingSince(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier, since := t0.Add(-time.Hour), t0
	for _, c := range []struct {
		name    string
		o       EndpointOutcome
		stored  time.Time
		want    time.Time
		changes bool
	}{
		{"success clears", EndpointOutcome{Succeeded: true}, earlier, time.Time{}, true},
		{"success on a healthy endpoint", EndpointOutcome{Succeeded: true}, time.Time{}, time.Time{}, false},
		{"failures start the clock", EndpointOutcome{Since: since}, time.Time{}, since, true},
		{"failures keep a running clock", EndpointOutcome{Since: since}, earlier, earlier, false},
		{"success then failure restarts it", EndpointOutcome{Succeeded: true, Since: since}, earlier, since, true},
		{"success then failure, already restarted", EndpointOutcome{Succeeded: true, Since: since}, since, since, false},
		{"success then failure on a healthy endpoint", EndpointOutcome{Succeeded: true, Since: since}, time.Time{}, since, true},
	} {
		if got := c.o.FailingSince(c.stored); !got.Equal(c.want) {
			t.Errorf("%s: FailingSince %v, want %v", c.name, got, c.want)
		}
		if got := c.o.Changes(c.stored); got != c.changes {
			t.Errorf("%s: Changes %v, want %v", c.name, got, c.changes)
		}
	}
}

func TestCompletionNext(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, st := range []DeliveryStatus{StatusSuccess, StatusFail, StatusSkipped, StatusPending} {
		c := Completion{Status: st, NextAttemptAt: next}
		want := time.Time{}
		if st == StatusPending {
			want = next
		}
		if got := c.Next(); !got.Equal(want) {
			t.Errorf("status %d: Next %v, want %v", st, got, want)
		}
	}
}

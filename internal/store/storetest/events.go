package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// audience is an app whose endpoints receive events of one type in every
// way an endpoint can take an event: pending, skipped (disabled) or not at
// all (filters).
type audience struct {
	app     *store.App
	pending []string // endpoints that get a pending delivery
	skipped []string // disabled endpoints that accept the event
	none    []string // endpoints whose filters refuse it
}

func (a *audience) endpoints() []string {
	return append(append(append([]string(nil), a.pending...), a.skipped...), a.none...)
}

// audience creates an app with endpoints for events of eventType.
func (e *env) audience(eventType string) *audience {
	e.t.Helper()
	au := &audience{app: e.app()}
	add := func(l *[]string, mod func(*store.Endpoint)) {
		*l = append(*l, e.endpoint(au.app.ID, mod).ID)
	}
	add(&au.pending, func(*store.Endpoint) {})
	add(&au.pending, func(ep *store.Endpoint) { ep.EventTypes = []string{"x", eventType} })
	add(&au.skipped, func(ep *store.Endpoint) { ep.Disabled = true })
	add(&au.none, func(ep *store.Endpoint) { ep.EventTypes = []string{"message.attempt.other"} })
	add(&au.none, func(ep *store.Endpoint) { ep.EventTypes = []string{} })
	add(&au.none, func(ep *store.Endpoint) { ep.Channels = []string{"ops"} }) // events have no channel
	add(&au.none, func(ep *store.Endpoint) { ep.Disabled = true; ep.EventTypes = []string{"message.attempt.other"} })
	return au
}

// event returns an event of appID created at "at" (not stored).
func (e *env) event(appID, eventType string, at time.Time) *store.Message {
	return e.msg(appID, func(m *store.Message) {
		m.EventType, m.CreatedAt = eventType, at
		m.Payload = []byte(`{"type":"` + eventType + `"}`)
	})
}

// checkEvent checks that ev is stored with a pending delivery, due at its
// CreatedAt, to each endpoint of pending, a skipped one to each of
// skipped, and none to the endpoints of none.
func (e *env) checkEvent(what string, ev *store.Message, pending, skipped, none []string) {
	e.t.Helper()
	got, err := e.s.GetMessage(e.ctx, ev.AppID, ev.ID)
	ok(e.t, err, what+": get event message")
	eq(e.t, what+": event message", *got, *ev)
	for _, id := range pending {
		eq(e.t, what+": delivery to "+id, *e.delivery(ev.ID, id), store.Delivery{
			AppID: ev.AppID, MsgID: ev.ID, EndpointID: id, Status: store.StatusPending,
			NextAttemptAt: ev.CreatedAt, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt,
		})
	}
	for _, id := range skipped {
		eq(e.t, what+": delivery to disabled "+id, *e.delivery(ev.ID, id), store.Delivery{
			AppID: ev.AppID, MsgID: ev.ID, EndpointID: id, Status: store.StatusSkipped,
			CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt,
		})
	}
	for _, id := range none {
		_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: ev.ID, EndpointID: id})
		isErr(e.t, err, store.ErrNotFound, what+": delivery to "+id+", which does not accept the event")
	}
}

// checkNoEvent checks that neither ev nor any delivery of it to endpoints
// is stored.
func (e *env) checkNoEvent(what string, ev *store.Message, endpoints []string) {
	e.t.Helper()
	_, err := e.s.GetMessage(e.ctx, ev.AppID, ev.ID)
	isErr(e.t, err, store.ErrNotFound, what+": event message")
	for _, id := range endpoints {
		_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: ev.ID, EndpointID: id})
		isErr(e.t, err, store.ErrNotFound, what+": event delivery to "+id)
	}
}

// claimEvents claims the first attempts due at "at" exactly (events are
// created at a time of their own) and checks they are want, jobs complete
// with the event's type and payload.
func (e *env) claimEvents(at time.Time, want []string, evs ...*store.Message) {
	e.t.Helper()
	jobs := e.claim(store.ClaimParams{Now: at, DueSince: at})
	eq(e.t, "claimed event deliveries", jobKeys(jobs), want)
	byID := map[string]*store.Message{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	for _, j := range jobs {
		ev := byID[j.MsgID]
		if ev == nil {
			e.t.Fatalf("claimed %s, not an event", j.MsgID)
		}
		if j.EventType != ev.EventType || string(j.Payload) != string(ev.Payload) || j.MsgEventID != "" || !j.MsgCreatedAt.Equal(ev.CreatedAt) {
			e.t.Fatalf("claimed event job %#v, event %#v", j, ev)
		}
	}
}

func eventKeys(ev *store.Message, endpoints ...string) [][2]string {
	var out [][2]string
	for _, id := range endpoints {
		out = append(out, [2]string{ev.ID, id})
	}
	return out
}

// eventChange is a write that takes events, with fixtures made for it.
type eventChange struct {
	// do makes a change that succeeds.
	do func(events ...*store.Message) error
	// done reports whether do's change is stored.
	done func() bool
	// fails are changes that do not happen, with their errors.
	fails []eventFailure
}

type eventFailure struct {
	what string
	err  error
	do   func(events ...*store.Message) error
}

// eventChanges are the writes that take events; each makes its fixtures
// in a new app, apart from the events' audience.
var eventChanges = []struct {
	name string
	make func(e *env) eventChange
}{
	{"CreateEndpoint", func(e *env) eventChange {
		a := e.app()
		e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "taken" })
		ep := e.newEndpoint(a.ID)
		return eventChange{
			do: func(evs ...*store.Message) error { return e.s.CreateEndpoint(e.ctx, ep, evs...) },
			done: func() bool {
				_, err := e.s.GetEndpointByID(e.ctx, ep.ID)
				return err == nil
			},
			fails: []eventFailure{
				{"uid taken", store.ErrConflict, func(evs ...*store.Message) error {
					return e.s.CreateEndpoint(e.ctx, e.newEndpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "taken" }), evs...)
				}},
				{"app missing", store.ErrNotFound, func(evs ...*store.Message) error {
					return e.s.CreateEndpoint(e.ctx, e.newEndpoint("app_missing"), evs...)
				}},
			},
		}
	}},
	{"UpdateEndpoint", func(e *env) eventChange {
		a := e.app()
		e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "taken" })
		ep := e.endpoint(a.ID)
		update := func(id string, uid *string, evs []*store.Message) error {
			_, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: id, AppID: a.ID, UID: uid,
				Description: ptr("changed"), UpdatedAt: e.now.Add(time.Second), Events: evs})
			return err
		}
		return eventChange{
			do: func(evs ...*store.Message) error { return update(ep.ID, nil, evs) },
			done: func() bool {
				got, err := e.s.GetEndpointByID(e.ctx, ep.ID)
				ok(e.t, err, "get endpoint")
				return got.Description == "changed"
			},
			fails: []eventFailure{
				{"uid taken", store.ErrConflict, func(evs ...*store.Message) error { return update(ep.ID, ptr("taken"), evs) }},
				{"endpoint missing", store.ErrNotFound, func(evs ...*store.Message) error { return update("ep_missing", nil, evs) }},
			},
		}
	}},
	{"DeleteEndpoint", func(e *env) eventChange {
		a := e.app()
		ep := e.endpoint(a.ID)
		other := e.endpoint(e.app().ID)
		return eventChange{
			do: func(evs ...*store.Message) error { return e.s.DeleteEndpoint(e.ctx, a.ID, ep.ID, evs...) },
			done: func() bool {
				_, err := e.s.GetEndpointByID(e.ctx, ep.ID)
				return errors.Is(err, store.ErrNotFound)
			},
			fails: []eventFailure{
				{"endpoint missing", store.ErrNotFound, func(evs ...*store.Message) error {
					return e.s.DeleteEndpoint(e.ctx, a.ID, "ep_missing", evs...)
				}},
				{"another app's endpoint", store.ErrNotFound, func(evs ...*store.Message) error {
					return e.s.DeleteEndpoint(e.ctx, a.ID, other.ID, evs...)
				}},
			},
		}
	}},
	{"UpdateTask", func(e *env) eventChange {
		a := e.app()
		tk := &store.Task{ID: ids.NewAt(ids.Task, e.now), Kind: "endpoint.recover", AppID: a.ID, Params: json.RawMessage(`{}`),
			Status: store.TaskRunning, CreatedAt: e.now, UpdatedAt: e.now}
		ok(e.t, e.s.CreateTask(e.ctx, tk), "create task")
		return eventChange{
			do: func(evs ...*store.Message) error {
				done := *tk
				done.Status, done.Cursor, done.UpdatedAt = store.TaskFinished, "msg_last", e.now.Add(time.Second)
				return e.s.UpdateTask(e.ctx, &done, evs...)
			},
			done: func() bool {
				got, err := e.s.GetTask(e.ctx, tk.ID)
				ok(e.t, err, "get task")
				return got.Status == store.TaskFinished
			},
			fails: []eventFailure{
				{"task missing", store.ErrNotFound, func(evs ...*store.Message) error {
					return e.s.UpdateTask(e.ctx, &store.Task{ID: "qtask_missing", Status: store.TaskFinished, UpdatedAt: e.now}, evs...)
				}},
			},
		}
	}},
	{"UpdateApp", func(e *env) eventChange {
		a := e.app()
		e.app(func(a *store.App) { a.UID = "taken" })
		update := func(id string, uid *string, evs []*store.Message) error {
			_, err := e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: id, UID: uid, Name: ptr("changed"), UpdatedAt: e.now.Add(time.Second), Events: evs})
			return err
		}
		return eventChange{
			do: func(evs ...*store.Message) error { return update(a.ID, nil, evs) },
			done: func() bool {
				got, err := e.s.GetApp(e.ctx, a.ID)
				ok(e.t, err, "get app")
				return got.Name == "changed"
			},
			fails: []eventFailure{
				{"uid taken", store.ErrConflict, func(evs ...*store.Message) error { return update(a.ID, ptr("taken"), evs) }},
				{"app missing", store.ErrNotFound, func(evs ...*store.Message) error { return update("app_missing", nil, evs) }},
			},
		}
	}},
	{"CompleteDeliveries", func(e *env) eventChange {
		_, j := e.claimOne()
		return eventChange{
			do: func(evs ...*store.Message) error {
				return e.s.CompleteDeliveries(e.ctx, []store.Completion{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease,
					Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess, Events: evs}})
			},
			done: func() bool { return e.delivery(j.MsgID, j.EndpointID).Status == store.StatusSuccess },
		}
	}},
}

func exerciseEvents(t *testing.T, newStore func(t *testing.T) store.Store) {
	const opType = "endpoint.updated"
	for _, c := range eventChanges {
		// The events go with the change: to the endpoints of their app
		// that accept them, due at their CreatedAt, claimable; to an app
		// with no endpoints, as a message alone.
		run(t, newStore, c.name+"/Written", func(t *testing.T, e *env) {
			ch := c.make(e)
			au := e.audience(opType)
			at := e.now.Add(time.Hour)
			ev := e.event(au.app.ID, opType, at)
			ev2 := e.event(au.app.ID, opType, at)
			lonely := e.event(e.app().ID, opType, at)
			ok(t, ch.do(ev, ev2, lonely), "change with events")
			if !ch.done() {
				t.Fatal("the change is not stored")
			}
			e.checkEvent("event", ev, au.pending, au.skipped, au.none)
			e.checkEvent("second event", ev2, au.pending, au.skipped, au.none)
			e.checkEvent("event to an app without endpoints", lonely, nil, nil, au.endpoints())
			e.claimEvents(at, keys(append(eventKeys(ev, au.pending...), eventKeys(ev2, au.pending...)...)...), ev, ev2)
		})
		run(t, newStore, c.name+"/NoEvents", func(t *testing.T, e *env) {
			ch := c.make(e)
			ok(t, ch.do(), "change without events")
			if !ch.done() {
				t.Fatal("the change is not stored")
			}
		})
		// A change that does not happen writes no event.
		run(t, newStore, c.name+"/ChangeFails", func(t *testing.T, e *env) {
			ch := c.make(e)
			au := e.audience(opType)
			for _, f := range ch.fails {
				ev := e.event(au.app.ID, opType, e.now)
				isErr(t, f.do(ev), f.err, f.what)
				e.checkNoEvent(f.what, ev, au.endpoints())
			}
		})
		// An event that cannot be written is the caller's mistake: an
		// error that does not describe the change, and nothing written.
		run(t, newStore, c.name+"/BadEvent", func(t *testing.T, e *env) {
			ch := c.make(e)
			au := e.audience(opType)
			taken, _ := e.send(au.app.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-time.Minute) })
			for what, bad := range map[string]*store.Message{
				"event to a missing app": e.event("app_missing", opType, e.now),
				"event with a taken id": e.msg(au.app.ID, func(m *store.Message) {
					m.ID, m.EventType = taken.ID, opType
				}),
			} {
				good := e.event(au.app.ID, opType, e.now)
				err := ch.do(good, bad)
				if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
					t.Fatalf("%s: got error %v, want one that is neither ErrNotFound nor ErrConflict", what, err)
				}
				if ch.done() {
					t.Fatalf("%s: the change is stored", what)
				}
				e.checkNoEvent(what+": the good event", good, au.endpoints())
			}
			got, err := e.s.GetMessage(e.ctx, au.app.ID, taken.ID)
			ok(t, err, "get the message whose id was taken")
			eq(t, "the message whose id was taken", *got, *taken)
		})
	}

	// Events reach the endpoints of their app as the change left them.
	run(t, newStore, "CreatedEndpointReceivesItsEvent", func(t *testing.T, e *env) {
		au := e.audience("endpoint.created")
		ep := e.newEndpoint(au.app.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"endpoint.created"} })
		ev := e.event(au.app.ID, "endpoint.created", e.now)
		ok(t, e.s.CreateEndpoint(e.ctx, ep, ev), "create endpoint")
		e.checkEvent("event", ev, append(au.pending, ep.ID), au.skipped, au.none)
	})
	run(t, newStore, "UpdatedEndpointAsLeft", func(t *testing.T, e *env) {
		au := e.audience(opType)
		// Disabled by the update: skipped.
		disabled := au.pending[0]
		ev := e.event(au.app.ID, opType, e.now)
		_, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: disabled, AppID: au.app.ID, Disabled: ptr(true),
			UpdatedAt: e.now, Events: []*store.Message{ev}})
		ok(t, err, "disable endpoint")
		e.checkEvent("event of a disable", ev, au.pending[1:], append([]string{disabled}, au.skipped...), au.none)
		// Filtered out by the update: none.
		ev = e.event(au.app.ID, opType, e.now)
		_, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: au.pending[1], AppID: au.app.ID,
			EventTypes: ptr([]string{"other"}), UpdatedAt: e.now, Events: []*store.Message{ev}})
		ok(t, err, "filter endpoint")
		e.checkEvent("event of a filter change", ev, nil, []string{disabled, au.skipped[0]}, append([]string{au.pending[1]}, au.none...))
	})
	run(t, newStore, "DeletedEndpointReceivesNothing", func(t *testing.T, e *env) {
		au := e.audience(opType)
		gone := au.pending[0]
		ev := e.event(au.app.ID, opType, e.now)
		ok(t, e.s.DeleteEndpoint(e.ctx, au.app.ID, gone, ev), "delete endpoint")
		e.checkEvent("event", ev, au.pending[1:], au.skipped, append([]string{gone}, au.none...))
	})

	// CompleteDeliveries writes its events whatever the lease, after the
	// deliveries and endpoints it changes: an endpoint it disables gets a
	// skipped delivery.
	run(t, newStore, "CompleteBatch", func(t *testing.T, e *env) {
		const exhausted = "message.attempt.exhausted"
		au := e.audience(exhausted)
		other := e.audience(exhausted)
		a := e.app()
		gone := e.endpoint(a.ID)
		// Message to au's app too, so that a 410 disables one of its
		// endpoints in the batch.
		au410 := e.endpoint(au.app.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"invoice.paid", exhausted} })
		for range 3 {
			e.send(a.ID)
		}
		m410, _ := e.send(au.app.ID, func(m *store.Message) { m.EventType = "invoice.paid" })
		jobs := e.claim(store.ClaimParams{Now: e.now})
		var j410 *store.Job
		var js []*store.Job
		for _, j := range jobs {
			switch {
			case j.MsgID == m410.ID && j.EndpointID == au410.ID:
				j410 = j
			case j.EndpointID == gone.ID:
				js = append(js, j)
			}
		}
		if j410 == nil || len(js) != 3 {
			t.Fatalf("claimed %v", jobKeys(jobs))
		}
		at := e.now.Add(time.Hour)
		evs := []*store.Message{
			e.event(au.app.ID, exhausted, at), e.event(other.app.ID, exhausted, at),
			e.event(au.app.ID, exhausted, at), e.event(au.app.ID, exhausted, at),
		}
		stale := js[1].Lease + 1000
		e.complete(
			store.Completion{MsgID: js[0].MsgID, EndpointID: gone.ID, Lease: js[0].Lease, Attempt: attemptFor(js[0], e.now, 500),
				Status: store.StatusFail, Events: evs[0:2]},
			// A lease lost meanwhile: the delivery stays as it is, the
			// attempt and the events are recorded.
			store.Completion{MsgID: js[1].MsgID, EndpointID: gone.ID, Lease: stale, Attempt: attemptFor(js[1], e.now, 500),
				Status: store.StatusFail, Events: evs[2:3]},
			store.Completion{MsgID: js[2].MsgID, EndpointID: gone.ID, Lease: js[2].Lease, Attempt: attemptFor(js[2], e.now, 200),
				Status: store.StatusSuccess},
			store.Completion{MsgID: j410.MsgID, EndpointID: au410.ID, Lease: j410.Lease, Attempt: attemptFor(j410, e.now, 410),
				Status: store.StatusFail, DisableEndpoint: true, Events: evs[3:]},
		)
		for i, ev := range evs {
			aud := au
			if ev.AppID == other.app.ID {
				aud = other
			}
			skipped := aud.skipped
			if aud == au {
				skipped = append([]string{au410.ID}, skipped...)
			}
			e.checkEvent(fmt.Sprintf("event %d", i), ev, aud.pending, skipped, aud.none)
		}
		d := e.delivery(js[1].MsgID, gone.ID)
		if d.Status != store.StatusPending || d.Lease != js[1].Lease || d.Attempts != 0 {
			t.Fatalf("delivery of the lost lease moved: %#v", d)
		}
		atts, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, EndpointID: gone.ID})
		ok(t, err, "list attempts")
		eq(t, "attempts recorded", len(atts), 3)
		var want [][2]string
		for _, ev := range evs {
			aud := au
			if ev.AppID == other.app.ID {
				aud = other
			}
			want = append(want, eventKeys(ev, aud.pending...)...)
		}
		e.claimEvents(at, keys(want...), evs...)
	})
}

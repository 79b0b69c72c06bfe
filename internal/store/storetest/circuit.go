package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func exerciseCircuit(t *testing.T, newStore func(t *testing.T) store.Store) {
	read := func(e *env, ep *store.Endpoint) []store.Circuit {
		e.t.Helper()
		var out []store.Circuit
		got, err := e.s.GetEndpoint(e.ctx, ep.AppID, ep.ID)
		ok(e.t, err, "get endpoint")
		out = append(out, got.Circuit)
		got, err = e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(e.t, err, "get endpoint by id")
		out = append(out, got.Circuit)
		l, err := e.s.ListEndpoints(e.ctx, ep.AppID, store.Page{})
		ok(e.t, err, "list endpoints")
		for _, got := range l {
			if got.ID == ep.ID {
				out = append(out, got.Circuit)
			}
		}
		for _, got := range out {
			if !got.Since.IsZero() && got.Since.Location() != time.UTC || !got.NextProbe.IsZero() && got.NextProbe.Location() != time.UTC {
				e.t.Fatalf("circuit times not in UTC: %#v", got)
			}
		}
		return out
	}
	three := func(c store.Circuit) []store.Circuit { return []store.Circuit{c, c, c} }
	run(t, newStore, "RoundTrip", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		e.endpoint(a.ID)
		eq(t, "never set", read(e, ep), three(store.Circuit{}))
		open := store.Circuit{Open: true, Failures: 7, Since: e.now.Add(time.Second), NextProbe: e.now.Add(time.Minute)}
		ok(t, e.s.SetEndpointCircuit(e.ctx, ep.ID, open), "open circuit")
		eq(t, "open", read(e, ep), three(open))
		closed := store.Circuit{Since: e.now.Add(2 * time.Minute)}
		ok(t, e.s.SetEndpointCircuit(e.ctx, ep.ID, closed), "close circuit")
		eq(t, "closed", read(e, ep), three(closed))
		got, err := e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(t, err, "get endpoint")
		sameTime(t, "updated at", got.UpdatedAt, ep.UpdatedAt)
		got.Circuit = store.Circuit{}
		eq(t, "the rest of the endpoint", *got, *ep)
		isErr(t, e.s.SetEndpointCircuit(e.ctx, "ep_missing", open), store.ErrNotFound, "circuit of a missing endpoint")
	})
	run(t, newStore, "OtherWritesLeaveIt", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		c := store.Circuit{Open: true, Failures: 3, Since: e.now, NextProbe: e.now.Add(time.Second)}
		ok(t, e.s.SetEndpointCircuit(e.ctx, ep.ID, c), "set circuit")
		got, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Description: ptr("x"),
			Disabled: ptr(false), ResetFailingOnEnable: true, UpdatedAt: e.now.Add(time.Second)})
		ok(t, err, "update endpoint")
		eq(t, "returned by the update", got.Circuit, c)
		eq(t, "after an update", read(e, ep), three(c))
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 410),
			Status: store.StatusFail, DisableEndpoint: true})
		eq(t, "after a disabling attempt", read(e, ep), three(c))
		// An endpoint created with a circuit starts closed all the same.
		fresh := e.newEndpoint(ep.AppID, func(ep *store.Endpoint) { ep.Circuit = c })
		ok(t, e.s.CreateEndpoint(e.ctx, fresh), "create endpoint")
		eq(t, "created", read(e, fresh), three(store.Circuit{}))
	})
}

package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

func ptr[T any](v T) *T { return &v }

func event(appID string) *store.Message {
	m := message(appID)
	m.EventType = "endpoint.deleted"
	return m
}

// Events whose deliveries are due wake the other processes, as unleased
// messages do; a change without events, or with events nobody receives,
// does not.
func TestListenDueOnEvents(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	a, b := openURL(t, url), openURL(t, url)
	app, ep := fixture(t, a)
	lonely, _ := fixture(t, a)
	_, lonelyEp := fixture(t, a)
	if err := a.DeleteEndpoint(t.Context(), lonelyEp.AppID, lonelyEp.ID); err != nil {
		t.Fatal(err)
	}

	woken := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.ListenDue(ctx, func() { woken <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenDue: %v", err)
		}
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-woken:
		case <-time.After(10 * time.Second):
			t.Fatalf("not woken: %s", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-woken:
			t.Fatalf("woken by %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	wait("on connecting")

	now := store.Truncate(time.Now())
	res, err := a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: message(app.ID), Lease: 7, LeaseUntil: now.Add(time.Minute)}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	quiet("a message leased to its creator")

	if _, err := a.UpdateEndpoint(t.Context(), store.UpdateEndpointParams{ID: ep.ID, AppID: app.ID, Description: ptr("x"), UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	quiet("an update without events")
	if _, err := a.UpdateEndpoint(t.Context(), store.UpdateEndpointParams{ID: ep.ID, AppID: app.ID, Description: ptr("y"), UpdatedAt: now,
		Events: []*store.Message{event(lonelyEp.AppID)}}); err != nil {
		t.Fatal(err)
	}
	quiet("an event to an app without endpoints")
	if _, err := a.UpdateEndpoint(t.Context(), store.UpdateEndpointParams{ID: ep.ID, AppID: app.ID, Description: ptr("z"), UpdatedAt: now,
		Events: []*store.Message{event(app.ID)}}); err != nil {
		t.Fatal(err)
	}
	wait("an update with an event")

	j := res[0].Jobs[0]
	err = a.CompleteDeliveries(t.Context(), []store.Completion{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Status: store.StatusSuccess,
		Attempt: &store.Attempt{ID: ids.New(ids.Attempt), AppID: app.ID, MsgID: j.MsgID, EndpointID: j.EndpointID, URL: "u",
			Status: store.StatusSuccess, StatusCode: 200, EventType: j.EventType, CreatedAt: now},
		Events: []*store.Message{event(app.ID)}}})
	if err != nil {
		t.Fatal(err)
	}
	wait("a completion with an event")
	if err := a.DeleteEndpoint(t.Context(), lonely.ID, "ep_missing", event(app.ID)); err == nil {
		t.Fatal("deleted a missing endpoint")
	}
	quiet("a change that failed")
}

// Changes with events, made at once, neither deadlock nor lose an event:
// deleting an endpoint locks its row, and each transaction then reads the
// endpoints of its events' apps, the others' included. Events go to the
// app of their change, or across: those of changes in one app to the
// other.
func TestConcurrentChangesWithEvents(t *testing.T) {
	t.Parallel()
	for _, across := range []bool{false, true} {
		s := open(t, postgres.WithMaxConns(8))
		apps := [2]*store.App{}
		apps[0], _ = fixture(t, s)
		apps[1], _ = fixture(t, s)
		now := store.Truncate(time.Now())
		const n = 24
		eps := make([]*store.Endpoint, n)
		for i := range eps {
			eps[i] = &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: apps[i%2].ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
			if err := s.CreateEndpoint(t.Context(), eps[i]); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		evs := make([]*store.Message, n)
		for i, ep := range eps {
			to := ep.AppID
			if across {
				to = apps[(i+1)%2].ID
			}
			evs[i] = event(to)
			wg.Go(func() {
				if i%3 == 0 {
					_, err := s.UpdateEndpoint(t.Context(), store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Disabled: ptr(true),
						UpdatedAt: now, Events: evs[i : i+1]})
					errs <- err
					return
				}
				errs <- s.DeleteEndpoint(t.Context(), ep.AppID, ep.ID, evs[i])
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("across apps %v: change with an event: %v", across, err)
			}
		}
		for _, ev := range evs {
			if _, err := s.GetMessage(t.Context(), ev.AppID, ev.ID); err != nil {
				t.Fatalf("across apps %v: event %s: %v", across, ev.ID, err)
			}
		}
	}
}

package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

func exerciseApps(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "CreateGet", func(t *testing.T, e *env) {
		// A non-UTC, microsecond time reads back equal and in UTC.
		at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600))
		a := &store.App{
			ID: ids.NewAt(ids.App, at), UID: "acme", Name: "Acme", ThrottleRate: 7,
			Metadata:  map[string]string{"k": "v"},
			CreatedAt: at, UpdatedAt: at.Add(time.Second),
		}
		ok(t, e.s.CreateApp(e.ctx, a), "create app")
		want := *a
		want.CreatedAt, want.UpdatedAt = at.UTC(), at.Add(time.Second).UTC()
		for _, key := range []string{a.ID, "acme"} {
			got, err := e.s.GetApp(e.ctx, key)
			ok(t, err, "get app "+key)
			sameTime(t, "created", got.CreatedAt, want.CreatedAt)
			eq(t, "app by "+key, *got, want)
		}
		_, err := e.s.GetApp(e.ctx, "app_missing")
		isErr(t, err, store.ErrNotFound, "get missing app")
	})
	run(t, newStore, "NilMetadataReadsEmpty", func(t *testing.T, e *env) {
		a := e.app(func(a *store.App) { a.Metadata = nil })
		got, err := e.s.GetApp(e.ctx, a.ID)
		ok(t, err, "get app")
		if got.Metadata == nil || len(got.Metadata) != 0 {
			t.Fatalf("metadata = %#v, want empty non-nil", got.Metadata)
		}
		apps, err := e.s.ListApps(e.ctx, store.Page{})
		ok(t, err, "list apps")
		if apps[0].Metadata == nil {
			t.Fatal("listed app has nil metadata")
		}
	})
	run(t, newStore, "DuplicateUID", func(t *testing.T, e *env) {
		e.app(func(a *store.App) { a.UID = "dup" })
		err := e.s.CreateApp(e.ctx, &store.App{ID: ids.New(ids.App), UID: "dup", Name: "x", CreatedAt: e.now, UpdatedAt: e.now})
		isErr(t, err, store.ErrConflict, "create app with taken uid")
		// Apps without a UID never conflict.
		e.app()
		e.app()
	})
	run(t, newStore, "Update", func(t *testing.T, e *env) {
		a := e.app(func(a *store.App) { a.UID = "one" })
		e.app(func(a *store.App) { a.UID = "taken" })
		at := e.now.Add(time.Hour)
		got, err := e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, UID: ptr("two"), Name: ptr("renamed"),
			ThrottleRate: ptr(3), Metadata: ptr(map[string]string{"a": "b"}), UpdatedAt: at})
		ok(t, err, "update app")
		want := store.App{ID: a.ID, UID: "two", Name: "renamed", ThrottleRate: 3, Metadata: map[string]string{"a": "b"},
			CreatedAt: a.CreatedAt, UpdatedAt: at}
		eq(t, "returned app", *got, want)
		got, err = e.s.GetApp(e.ctx, "two")
		ok(t, err, "get by new uid")
		eq(t, "updated app", *got, want)
		_, err = e.s.GetApp(e.ctx, "one")
		isErr(t, err, store.ErrNotFound, "get by old uid")

		// Fields the update does not name stay as stored.
		at = at.Add(time.Second)
		got, err = e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, Name: ptr("name only"), UpdatedAt: at})
		ok(t, err, "update the name")
		want.Name, want.UpdatedAt = "name only", at
		eq(t, "after updating the name", *got, want)

		// An empty UID removes it; a nil map reads back empty.
		at = at.Add(time.Second)
		got, err = e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, UID: ptr(""), Metadata: ptr(map[string]string(nil)), UpdatedAt: at})
		ok(t, err, "clear uid and metadata")
		want.UID, want.Metadata, want.UpdatedAt = "", map[string]string{}, at
		eq(t, "after clearing", *got, want)

		_, err = e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, UID: ptr("taken"), UpdatedAt: at})
		isErr(t, err, store.ErrConflict, "update to taken uid")
		_, err = e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: "app_missing", Name: ptr("x"), UpdatedAt: at})
		isErr(t, err, store.ErrNotFound, "update missing app")
	})
	run(t, newStore, "Delete", func(t *testing.T, e *env) {
		a := e.app()
		ok(t, e.s.DeleteApp(e.ctx, a.ID), "delete app")
		_, err := e.s.GetApp(e.ctx, a.ID)
		isErr(t, err, store.ErrNotFound, "get deleted app")
		isErr(t, e.s.DeleteApp(e.ctx, a.ID), store.ErrNotFound, "delete again")
	})
}

func exerciseEndpoints(t *testing.T, newStore func(t *testing.T) store.Store) {
	full := func(e *env, appID string) *store.Endpoint {
		return e.newEndpoint(appID, func(ep *store.Endpoint) {
			ep.UID = "hook"
			ep.Description = "desc"
			ep.Disabled = true
			ep.EventTypes = []string{"a", "b"}
			ep.Channels = []string{"c"}
			ep.ThrottleRate = 5
			ep.Metadata = map[string]string{"m": "1"}
			ep.Headers = map[string]string{"X-A": "b"}
			ep.OldSecrets = []store.OldSecret{{Secret: "whsec_old", ExpiresAt: e.now.Add(time.Hour)}}
			ep.FailingSince = e.now.Add(-time.Hour)
			ep.UpdatedAt = e.now.Add(time.Second)
		})
	}
	run(t, newStore, "CreateGet", func(t *testing.T, e *env) {
		a := e.app()
		ep := full(e, a.ID)
		ok(t, e.s.CreateEndpoint(e.ctx, ep), "create endpoint")
		for _, key := range []string{ep.ID, "hook"} {
			got, err := e.s.GetEndpoint(e.ctx, a.ID, key)
			ok(t, err, "get endpoint "+key)
			eq(t, "endpoint by "+key, *got, *ep)
		}
		got, err := e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(t, err, "get endpoint by id")
		eq(t, "endpoint by id", *got, *ep)
		_, err = e.s.GetEndpointByID(e.ctx, "ep_missing")
		isErr(t, err, store.ErrNotFound, "get missing endpoint by id")
	})
	run(t, newStore, "NilAndEmpty", func(t *testing.T, e *env) {
		a := e.app()
		nils := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Metadata, ep.Headers = nil, nil })
		empty := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.EventTypes, ep.Channels = []string{}, []string{} })
		got, err := e.s.GetEndpoint(e.ctx, a.ID, nils.ID)
		ok(t, err, "get endpoint")
		if got.EventTypes != nil || got.Channels != nil || got.OldSecrets != nil {
			t.Fatalf("nil lists read back as %#v %#v %#v", got.EventTypes, got.Channels, got.OldSecrets)
		}
		if got.Metadata == nil || got.Headers == nil {
			t.Fatal("nil maps read back nil")
		}
		if !got.FailingSince.IsZero() {
			t.Fatalf("FailingSince = %v, want zero", got.FailingSince)
		}
		got, err = e.s.GetEndpoint(e.ctx, a.ID, empty.ID)
		ok(t, err, "get endpoint")
		if got.EventTypes == nil || len(got.EventTypes) != 0 || got.Channels == nil || len(got.Channels) != 0 {
			t.Fatalf("empty lists read back as %#v %#v", got.EventTypes, got.Channels)
		}
	})
	run(t, newStore, "OtherApp", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "hook" })
		_, err := e.s.GetEndpoint(e.ctx, b.ID, ep.ID)
		isErr(t, err, store.ErrNotFound, "get other app's endpoint by id")
		_, err = e.s.GetEndpoint(e.ctx, b.ID, "hook")
		isErr(t, err, store.ErrNotFound, "get other app's endpoint by uid")
		_, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: b.ID, Disabled: ptr(true), UpdatedAt: e.now})
		isErr(t, err, store.ErrNotFound, "update through other app")
		isErr(t, e.s.DeleteEndpoint(e.ctx, b.ID, ep.ID), store.ErrNotFound, "delete through other app")
		_, err = e.s.GetEndpoint(e.ctx, a.ID, ep.ID)
		ok(t, err, "endpoint still there")
	})
	run(t, newStore, "MissingApp", func(t *testing.T, e *env) {
		err := e.s.CreateEndpoint(e.ctx, e.newEndpoint("app_missing"))
		isErr(t, err, store.ErrNotFound, "create endpoint of missing app")
	})
	run(t, newStore, "DuplicateUID", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "dup" })
		err := e.s.CreateEndpoint(e.ctx, e.newEndpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "dup" }))
		isErr(t, err, store.ErrConflict, "duplicate uid in one app")
		e.endpoint(b.ID, func(ep *store.Endpoint) { ep.UID = "dup" }) // another app: fine
		e.endpoint(a.ID)                                              // no uid: fine
		e.endpoint(a.ID)
	})
	run(t, newStore, "Update", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "one" })
		e.endpoint(a.ID, func(ep *store.Endpoint) { ep.UID = "taken" })
		f := full(e, a.ID)
		at := e.now.Add(time.Hour)
		p := store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, UID: ptr("two"), URL: &f.URL, Description: &f.Description,
			Disabled: &f.Disabled, EventTypes: &f.EventTypes, Channels: &f.Channels, ThrottleRate: &f.ThrottleRate,
			Metadata: &f.Metadata, Headers: &f.Headers, Secret: ptr("whsec_new"), OldSecrets: &f.OldSecrets, UpdatedAt: at}
		got, err := e.s.UpdateEndpoint(e.ctx, p)
		ok(t, err, "update endpoint")
		want := *f
		want.ID, want.UID, want.Secret, want.CreatedAt, want.UpdatedAt = ep.ID, "two", "whsec_new", ep.CreatedAt, at
		want.FailingSince = time.Time{} // never set by an update
		eq(t, "returned endpoint", *got, want)
		got, err = e.s.GetEndpoint(e.ctx, a.ID, "two")
		ok(t, err, "get updated")
		eq(t, "updated endpoint", *got, want)

		// Back to nil lists.
		at = at.Add(time.Second)
		got, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, EventTypes: ptr([]string(nil)),
			Channels: ptr([]string(nil)), OldSecrets: ptr([]store.OldSecret(nil)), Metadata: ptr(map[string]string(nil)), UpdatedAt: at})
		ok(t, err, "clear lists")
		if got.EventTypes != nil || got.Channels != nil || got.OldSecrets != nil || got.Metadata == nil || len(got.Metadata) != 0 {
			t.Fatalf("cleared fields read back as %#v", got)
		}
		// Fields the update does not name stay as stored.
		want.EventTypes, want.Channels, want.OldSecrets, want.Metadata, want.UpdatedAt = nil, nil, nil, map[string]string{}, at
		eq(t, "after clearing lists", *got, want)

		_, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, UID: ptr("taken"), UpdatedAt: at})
		isErr(t, err, store.ErrConflict, "update to taken uid")
		_, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: "ep_missing", AppID: a.ID, URL: ptr("https://x"), UpdatedAt: at})
		isErr(t, err, store.ErrNotFound, "update missing endpoint")
	})
	// The API reads an endpoint, then writes what its request changes. A
	// 410 that disables the endpoint in between must survive the write.
	run(t, newStore, "UpdateKeepsDisableMadeMeanwhile", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		at := e.now.Add(time.Minute)
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 410),
			Status: store.StatusFail, DisableEndpoint: true})
		got, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Description: ptr("edited"),
			Metadata: ptr(map[string]string{"k": "v"}), UpdatedAt: at.Add(time.Second)})
		ok(t, err, "update endpoint")
		if !got.Disabled || got.Description != "edited" {
			t.Fatalf("after an update that does not name Disabled: disabled %v, description %q; want disabled, edited", got.Disabled, got.Description)
		}
		sameTime(t, "failing since", got.FailingSince, at)
		read, err := e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(t, err, "get endpoint")
		eq(t, "stored endpoint", *read, *got)
	})
	// Enabling a disabled endpoint restarts its failure clock when the
	// caller asks; enabling one that is already enabled leaves the clock.
	run(t, newStore, "EnableResetsFailing", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		at := e.now.Add(time.Minute)
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 410),
			Status: store.StatusFail, DisableEndpoint: true})
		enable := store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Disabled: ptr(false), ResetFailingOnEnable: true, UpdatedAt: at.Add(time.Second)}
		got, err := e.s.UpdateEndpoint(e.ctx, enable)
		ok(t, err, "enable")
		if got.Disabled || !got.FailingSince.IsZero() {
			t.Fatalf("after enabling: disabled %v, failing since %v; want enabled, not failing", got.Disabled, got.FailingSince)
		}

		failing, j := e.claimOne()
		e.fail(j, at, at.Add(time.Hour))
		enable.ID, enable.AppID, enable.UpdatedAt = failing.ID, failing.AppID, at.Add(2*time.Second)
		got, err = e.s.UpdateEndpoint(e.ctx, enable)
		ok(t, err, "enable an enabled endpoint")
		sameTime(t, "failing since, after enabling an enabled endpoint", got.FailingSince, at)

		// Without ResetFailingOnEnable, enabling leaves the clock too.
		ep, j = e.claimOne()
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 410),
			Status: store.StatusFail, DisableEndpoint: true})
		got, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Disabled: ptr(false), UpdatedAt: at.Add(time.Second)})
		ok(t, err, "enable without reset")
		if got.Disabled {
			t.Fatal("still disabled")
		}
		sameTime(t, "failing since, enabled without reset", got.FailingSince, at)
	})
	// Another replica's cache keeps the copy with the latest UpdatedAt: a
	// 410 recorded for an attempt made before an API write must not move
	// UpdatedAt back to the attempt's time.
	run(t, newStore, "UpdatedAtNeverGoesBack", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		attempted, edited := e.now.Add(time.Second), e.now.Add(time.Minute)
		got, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Description: ptr("edited"), UpdatedAt: edited})
		ok(t, err, "update endpoint")
		sameTime(t, "updated at, after the edit", got.UpdatedAt, edited)
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, attempted, 410),
			Status: store.StatusFail, DisableEndpoint: true})
		got, err = e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(t, err, "get endpoint")
		if !got.Disabled {
			t.Fatal("not disabled by the 410")
		}
		sameTime(t, "updated at, after a 410 attempted before the edit", got.UpdatedAt, edited.Add(time.Microsecond))

		// An update whose time is earlier than the stored one (another
		// process's clock) moves UpdatedAt forward all the same.
		got, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: ep.AppID, Description: ptr("again"), UpdatedAt: attempted})
		ok(t, err, "update endpoint with an earlier time")
		sameTime(t, "updated at, after an update with an earlier time", got.UpdatedAt, edited.Add(2*time.Microsecond))

		a := e.app()
		app, err := e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, Name: ptr("x"), UpdatedAt: a.UpdatedAt.Add(-time.Hour)})
		ok(t, err, "update app with an earlier time")
		sameTime(t, "app updated at", app.UpdatedAt, a.UpdatedAt.Add(time.Microsecond))
		app, err = e.s.UpdateApp(e.ctx, store.UpdateAppParams{ID: a.ID, Name: ptr("y"), UpdatedAt: a.UpdatedAt.Add(time.Hour)})
		ok(t, err, "update app with a later time")
		sameTime(t, "app updated at, later", app.UpdatedAt, a.UpdatedAt.Add(time.Hour))

		et := &store.EventType{Name: "e", CreatedAt: e.now, UpdatedAt: e.now}
		ok(t, e.s.CreateEventType(e.ctx, et), "create event type")
		got2, err := e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "e", Description: ptr("d"), UpdatedAt: e.now.Add(-time.Hour)})
		ok(t, err, "update event type with an earlier time")
		sameTime(t, "event type updated at", got2.UpdatedAt, e.now.Add(time.Microsecond))
	})
	run(t, newStore, "Delete", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		ok(t, e.s.DeleteEndpoint(e.ctx, a.ID, ep.ID), "delete endpoint")
		_, err := e.s.GetEndpointByID(e.ctx, ep.ID)
		isErr(t, err, store.ErrNotFound, "get deleted endpoint")
		isErr(t, e.s.DeleteEndpoint(e.ctx, a.ID, ep.ID), store.ErrNotFound, "delete again")
	})
}

func exerciseEventTypes(t *testing.T, newStore func(t *testing.T) store.Store) {
	newET := func(e *env, name string) *store.EventType {
		return &store.EventType{Name: name, Description: "d " + name, CreatedAt: e.now, UpdatedAt: e.now}
	}
	run(t, newStore, "CreateGet", func(t *testing.T, e *env) {
		et := newET(e, "invoice.paid")
		et.Deprecated = true
		et.FeatureFlag = "beta"
		et.Schemas = json.RawMessage(`{"1": {"type": "object", "properties": {"a": {"type": "string"}}}}`)
		ok(t, e.s.CreateEventType(e.ctx, et), "create event type")
		got, err := e.s.GetEventType(e.ctx, "invoice.paid")
		ok(t, err, "get event type")
		if !jsonEqual(got.Schemas, et.Schemas) {
			t.Fatalf("schemas = %s, want %s", got.Schemas, et.Schemas)
		}
		got.Schemas = et.Schemas
		eq(t, "event type", *got, *et)

		plain := newET(e, "plain")
		ok(t, e.s.CreateEventType(e.ctx, plain), "create plain event type")
		got, err = e.s.GetEventType(e.ctx, "plain")
		ok(t, err, "get plain")
		if got.Schemas != nil {
			t.Fatalf("nil schemas read back as %q", got.Schemas)
		}
		_, err = e.s.GetEventType(e.ctx, "missing")
		isErr(t, err, store.ErrNotFound, "get missing event type")
	})
	run(t, newStore, "Duplicate", func(t *testing.T, e *env) {
		et := newET(e, "a")
		et.Archived = true
		ok(t, e.s.CreateEventType(e.ctx, et), "create")
		isErr(t, e.s.CreateEventType(e.ctx, newET(e, "a")), store.ErrConflict, "create archived name again")
	})
	run(t, newStore, "UpdateDelete", func(t *testing.T, e *env) {
		et := newET(e, "a")
		ok(t, e.s.CreateEventType(e.ctx, et), "create")
		at := e.now.Add(time.Hour)
		schemas := json.RawMessage(`{"1":{}}`)
		got, err := e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "a", Description: ptr("new"), Archived: ptr(true),
			Deprecated: ptr(true), FeatureFlag: ptr("ff"), Schemas: &schemas, UpdatedAt: at})
		ok(t, err, "update")
		if !jsonEqual(got.Schemas, schemas) {
			t.Fatalf("schemas = %s", got.Schemas)
		}
		want := store.EventType{Name: "a", Description: "new", Archived: true, Deprecated: true, FeatureFlag: "ff",
			CreatedAt: et.CreatedAt, UpdatedAt: at}
		got.Schemas = nil
		eq(t, "returned", *got, want)
		got, err = e.s.GetEventType(e.ctx, "a")
		ok(t, err, "get")
		if !jsonEqual(got.Schemas, schemas) {
			t.Fatalf("schemas = %s", got.Schemas)
		}
		got.Schemas = nil
		eq(t, "updated", *got, want)

		// Fields the update does not name stay as stored; nil schemas
		// remove them.
		at = at.Add(time.Second)
		got, err = e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "a", Archived: ptr(false),
			Schemas: ptr(json.RawMessage(nil)), UpdatedAt: at})
		ok(t, err, "unarchive")
		want.Archived, want.UpdatedAt = false, at
		eq(t, "after unarchiving", *got, want)
		_, err = e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "missing", Description: ptr("x"), UpdatedAt: at})
		isErr(t, err, store.ErrNotFound, "update missing")

		ok(t, e.s.DeleteEventType(e.ctx, "a"), "delete")
		_, err = e.s.GetEventType(e.ctx, "a")
		isErr(t, err, store.ErrNotFound, "get deleted")
		isErr(t, e.s.DeleteEventType(e.ctx, "a"), store.ErrNotFound, "delete again")
		ok(t, e.s.CreateEventType(e.ctx, newET(e, "a")), "create again after delete")
	})
	run(t, newStore, "ListArchived", func(t *testing.T, e *env) {
		for _, n := range []string{"c", "a", "b"} {
			et := newET(e, n)
			et.Archived = n == "b"
			ok(t, e.s.CreateEventType(e.ctx, et), "create")
		}
		names := func(p store.ListEventTypesParams) []string {
			ets, err := e.s.ListEventTypes(e.ctx, p)
			ok(t, err, "list event types")
			var out []string
			for _, et := range ets {
				out = append(out, et.Name)
			}
			return out
		}
		eq(t, "without archived", names(store.ListEventTypesParams{}), []string{"a", "c"})
		eq(t, "with archived", names(store.ListEventTypesParams{IncludeArchived: true}), []string{"a", "b", "c"})
		eq(t, "desc", names(store.ListEventTypesParams{IncludeArchived: true, Page: store.Page{Desc: true}}), []string{"c", "b", "a"})
	})
	run(t, newStore, "GetMany", func(t *testing.T, e *env) {
		var all []*store.EventType
		for _, n := range []string{"b", "a.archived", "C", "c", "d"} {
			et := newET(e, n)
			et.Archived = n == "a.archived"
			et.FeatureFlag = map[string]string{"d": "beta"}[n]
			ok(t, e.s.CreateEventType(e.ctx, et), "create")
			all = append(all, et)
		}
		get := func(names []string) []*store.EventType {
			got, err := e.s.GetEventTypes(e.ctx, names)
			ok(t, err, "get event types")
			return got
		}
		// Existing names, archived or not, in name (byte) order; missing
		// ones and repeats left out; the rows as GetEventType reads them.
		got := get([]string{"d", "missing", "a.archived", "c", "C", "d", "b"})
		want := []*store.EventType{all[2], all[1], all[0], all[3], all[4]}
		eq(t, "count", len(got), len(want))
		for i := range got {
			one, err := e.s.GetEventType(e.ctx, want[i].Name)
			ok(t, err, "get event type")
			eq(t, "event type "+want[i].Name, *got[i], *one)
		}
		eq(t, "none asked", len(get(nil)), 0)
		eq(t, "none exists", len(get([]string{"x", "y"})), 0)
		// A thousand names, the most an endpoint filters on, in one call.
		many := make([]string, 1000)
		for i := range many {
			many[i] = fmt.Sprintf("n%04d", i)
		}
		many[500] = "b"
		if got := get(many); len(got) != 1 || got[0].Name != "b" {
			t.Fatalf("1000 names: got %d event types", len(got))
		}
	})
	run(t, newStore, "ValidatePayloads", func(t *testing.T, e *env) {
		settings := []store.PayloadValidation{store.ValidationDefault, store.ValidationOn, store.ValidationOff}
		for i, v := range settings {
			et := newET(e, fmt.Sprintf("v%d", i))
			et.ValidatePayloads = v
			ok(t, e.s.CreateEventType(e.ctx, et), "create")
			got, err := e.s.GetEventType(e.ctx, et.Name)
			ok(t, err, "get")
			eq(t, "created "+et.Name, got.ValidatePayloads, v)
		}
		ets, err := e.s.ListEventTypes(e.ctx, store.ListEventTypesParams{})
		ok(t, err, "list")
		many, err := e.s.GetEventTypes(e.ctx, []string{"v0", "v1", "v2"})
		ok(t, err, "get many")
		eq(t, "listed", len(ets), 3)
		eq(t, "got", len(many), 3)
		for i := range ets {
			eq(t, "listed "+ets[i].Name, ets[i].ValidatePayloads, settings[i])
			eq(t, "got "+many[i].Name, many[i].ValidatePayloads, settings[i])
		}

		// An update that does not name the setting leaves it; one that
		// names it sets every value, the default included.
		at := e.now
		for _, v := range []store.PayloadValidation{store.ValidationOff, store.ValidationDefault, store.ValidationOn} {
			at = at.Add(time.Second)
			got, err := e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "v1", ValidatePayloads: ptr(v), UpdatedAt: at})
			ok(t, err, "update")
			eq(t, "returned", got.ValidatePayloads, v)
			got, err = e.s.UpdateEventType(e.ctx, store.UpdateEventTypeParams{Name: "v1", Description: ptr("other"), UpdatedAt: at.Add(time.Millisecond)})
			ok(t, err, "update another field")
			eq(t, "left as stored", got.ValidatePayloads, v)
			got, err = e.s.GetEventType(e.ctx, "v1")
			ok(t, err, "get")
			eq(t, "read back", got.ValidatePayloads, v)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func exerciseTasks(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "ClaimLease", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		first := &store.Task{
			ID: ids.NewAt(ids.Task, e.now), Kind: "endpoint.recover", AppID: a.ID, EndpointID: ep.ID,
			Params: json.RawMessage(`{"since":"x"}`), Status: store.TaskRunning, CreatedAt: e.now, UpdatedAt: e.now,
		}
		second := &store.Task{ID: ids.NewAt(ids.Task, e.now.Add(time.Second)), Kind: "other", Status: store.TaskRunning, CreatedAt: e.now.Add(time.Second), UpdatedAt: e.now}
		ok(t, e.s.CreateTask(e.ctx, second), "create task")
		ok(t, e.s.CreateTask(e.ctx, first), "create task")
		got, err := e.s.GetTask(e.ctx, first.ID)
		ok(t, err, "get task")
		if !jsonEqual(got.Params, first.Params) {
			t.Fatalf("params = %s", got.Params)
		}
		got.Params = first.Params
		eq(t, "task", *got, *first)
		_, err = e.s.GetTask(e.ctx, "qtask_missing")
		isErr(t, err, store.ErrNotFound, "get missing task")

		until := e.now.Add(time.Minute)
		c1, err := e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: e.now, LeaseUntil: until})
		ok(t, err, "claim task")
		eq(t, "oldest task first", c1.ID, first.ID)
		sameTime(t, "lease", c1.LeaseUntil, until)
		c2, err := e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: e.now, LeaseUntil: until})
		ok(t, err, "claim task")
		eq(t, "second task", c2.ID, second.ID)
		_, err = e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: e.now.Add(time.Second), LeaseUntil: until})
		isErr(t, err, store.ErrNotFound, "claim while leased")

		// The lease ends at until: the task is claimable again.
		c3, err := e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: until, LeaseUntil: until.Add(time.Minute)})
		ok(t, err, "claim after lease expiry")
		eq(t, "reclaimed", c3.ID, first.ID)

		// Finished and failed tasks are never claimed.
		c3.Status, c3.Cursor, c3.UpdatedAt = store.TaskFinished, "msg_cursor", until
		ok(t, e.s.UpdateTask(e.ctx, c3), "update task")
		got, err = e.s.GetTask(e.ctx, c3.ID)
		ok(t, err, "get task")
		eq(t, "cursor", got.Cursor, "msg_cursor")
		eq(t, "status", got.Status, store.TaskFinished)
		sameTime(t, "updated", got.UpdatedAt, until)
		c2.Status = store.TaskFailed
		ok(t, e.s.UpdateTask(e.ctx, c2), "update task")
		_, err = e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: until.Add(time.Hour), LeaseUntil: until.Add(2 * time.Hour)})
		isErr(t, err, store.ErrNotFound, "claim finished tasks")
		isErr(t, e.s.UpdateTask(e.ctx, &store.Task{ID: "qtask_missing", Status: store.TaskRunning}), store.ErrNotFound, "update missing task")
	})
	run(t, newStore, "UnleasedByUpdate", func(t *testing.T, e *env) {
		tk := &store.Task{ID: ids.New(ids.Task), Kind: "k", Status: store.TaskRunning, CreatedAt: e.now, UpdatedAt: e.now}
		ok(t, e.s.CreateTask(e.ctx, tk), "create task")
		c, err := e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: e.now, LeaseUntil: e.now.Add(time.Hour)})
		ok(t, err, "claim")
		c.LeaseUntil = time.Time{}
		ok(t, e.s.UpdateTask(e.ctx, c), "release by update")
		_, err = e.s.ClaimTask(e.ctx, store.ClaimTaskParams{Now: e.now, LeaseUntil: e.now.Add(time.Hour)})
		ok(t, err, "claim released task")
	})
}

func exerciseTokens(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "CRUD", func(t *testing.T, e *env) {
		a := e.app()
		admin := &store.Token{ID: ids.New(ids.Token), Hash: []byte{1, 2, 3}, Name: "admin", CreatedAt: e.now}
		portal := &store.Token{ID: ids.New(ids.Token), Hash: []byte{4, 5, 6}, AppID: a.ID, Name: "portal", ExpiresAt: e.now.Add(time.Hour), CreatedAt: e.now}
		ok(t, e.s.CreateToken(e.ctx, admin), "create admin token")
		ok(t, e.s.CreateToken(e.ctx, portal), "create portal token")
		isErr(t, e.s.CreateToken(e.ctx, &store.Token{ID: ids.New(ids.Token), Hash: []byte{1, 2, 3}, CreatedAt: e.now}), store.ErrConflict, "duplicate hash")
		for _, tk := range []*store.Token{admin, portal} {
			got, err := e.s.GetTokenByHash(e.ctx, tk.Hash)
			ok(t, err, "get token")
			eq(t, "token", *got, *tk)
		}
		_, err := e.s.GetTokenByHash(e.ctx, []byte{9})
		isErr(t, err, store.ErrNotFound, "get missing token")
		n, err := e.s.CountAdminTokens(e.ctx)
		ok(t, err, "count admin tokens")
		eq(t, "admin tokens", n, 1)
		ok(t, e.s.DeleteToken(e.ctx, admin.ID), "delete token")
		isErr(t, e.s.DeleteToken(e.ctx, admin.ID), store.ErrNotFound, "delete again")
		n, err = e.s.CountAdminTokens(e.ctx)
		ok(t, err, "count admin tokens")
		eq(t, "admin tokens", n, 0)
		_, err = e.s.GetTokenByHash(e.ctx, admin.Hash)
		isErr(t, err, store.ErrNotFound, "get deleted token")
	})
}

func exerciseMaintenance(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Settings", func(t *testing.T, e *env) {
		_, err := e.s.GetSetting(e.ctx, "k")
		isErr(t, err, store.ErrNotFound, "get missing setting")
		v, err := e.s.PutSettingIfAbsent(e.ctx, "k", "first")
		ok(t, err, "put")
		eq(t, "first put", v, "first")
		v, err = e.s.PutSettingIfAbsent(e.ctx, "k", "second")
		ok(t, err, "put")
		eq(t, "second put returns the first value", v, "first")
		v, err = e.s.GetSetting(e.ctx, "k")
		ok(t, err, "get")
		eq(t, "stored", v, "first")
	})
	run(t, newStore, "DeleteExpired", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		old, _ := e.send(a.ID, func(m *store.Message) { m.PayloadExpiresAt = e.now.Add(time.Hour) })
		keep, _ := e.send(a.ID, func(m *store.Message) { m.PayloadExpiresAt = e.now.Add(2 * time.Hour) })
		never, _ := e.send(a.ID, func(m *store.Message) { m.PayloadExpiresAt = time.Time{} })
		begin := func(key string, expires time.Time) {
			_, started, err := e.s.BeginIdempotent(e.ctx, store.BeginIdempotentParams{Key: key, Fingerprint: "f", Now: e.now, LockUntil: e.now.Add(time.Minute), ExpiresAt: expires})
			ok(t, err, "begin")
			if !started {
				t.Fatal("not started")
			}
		}
		begin("gone", e.now.Add(time.Hour))
		begin("live", e.now.Add(2*time.Hour))
		ok(t, e.s.FinishIdempotent(e.ctx, "live", 201, []byte("{}")), "finish")

		n, err := e.s.DeleteExpired(e.ctx, e.now.Add(time.Hour))
		ok(t, err, "delete expired")
		eq(t, "rows changed", n, 2)
		for _, c := range []struct {
			m    *store.Message
			want bool
		}{{old, false}, {keep, true}, {never, true}} {
			got, err := e.s.GetMessage(e.ctx, a.ID, c.m.ID)
			ok(t, err, "message survives without its payload")
			if (got.Payload != nil) != c.want {
				t.Fatalf("message %s payload = %q, want kept %v", c.m.ID, got.Payload, c.want)
			}
		}
		_, started, err := e.s.BeginIdempotent(e.ctx, store.BeginIdempotentParams{Key: "live", Fingerprint: "f", Now: e.now.Add(time.Hour), LockUntil: e.now.Add(2 * time.Hour), ExpiresAt: e.now.Add(3 * time.Hour)})
		ok(t, err, "begin live")
		if started {
			t.Fatal("live record was deleted")
		}
		n, err = e.s.DeleteExpired(e.ctx, e.now.Add(time.Hour))
		ok(t, err, "delete expired again")
		eq(t, "nothing left to delete", n, 0)
	})
}

// exerciseHistory pins DeleteHistory: oldest first, within its limit, with
// the message's deliveries, attempts and tags, never a message that still
// has a delivery to make.
func exerciseHistory(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "DeleteHistory", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		// Each message's id holds the time it was accepted, as Herald's
		// do (PostgreSQL partitions the history by id); all but early
		// and fresh are before the start of the hour, in the PostgreSQL
		// store's partition of messages from before its partitions,
		// which it deletes row by row.
		at := func(d time.Duration) func(*store.Message) {
			return func(m *store.Message) { m.CreatedAt = e.now.Add(d); m.ID = ids.At(ids.Message, m.CreatedAt) }
		}
		tagged := func(m *store.Message) { m.Tags = []string{"gone"} }
		// A young message written before the old ones (as an import would):
		// kept, and no reason to stop looking.
		early, _ := e.send(a.ID, at(time.Second))
		old1, _ := e.send(a.ID, at(-3*time.Hour))
		old2, _ := e.send(a.ID, at(-2*time.Hour), tagged)
		busy, _ := e.send(a.ID, at(-90*time.Minute))
		old3, _ := e.send(a.ID, at(-time.Hour))
		fresh, _ := e.send(a.ID, at(0))
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Second)})
		eq(t, "claimed", len(jobs), 6)
		for _, j := range jobs {
			if j.MsgID == busy.ID {
				e.fail(j, e.now, e.now.Add(time.Hour)) // retrying: a delivery to make
				continue
			}
			e.succeed(j, e.now)
		}

		type result struct {
			Deleted int
			Done    bool
		}
		del := func(limit int, rescan bool) result {
			t.Helper()
			n, done, err := e.s.DeleteHistory(e.ctx, store.DeleteHistoryParams{Before: e.now, Limit: limit, Rescan: rescan})
			ok(t, err, "delete history")
			return result{n, done}
		}
		gone := func(m *store.Message) {
			t.Helper()
			_, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
			isErr(t, err, store.ErrNotFound, "get deleted message "+m.ID)
			_, err = e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
			isErr(t, err, store.ErrNotFound, "get deleted delivery "+m.ID)
			atts, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, MsgID: m.ID})
			ok(t, err, "list attempts")
			eq(t, "attempts of deleted message "+m.ID, len(atts), 0)
		}
		kept := func(m *store.Message, attempts int) {
			t.Helper()
			_, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
			ok(t, err, "get kept message "+m.ID)
			atts, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, MsgID: m.ID})
			ok(t, err, "list attempts")
			eq(t, "attempts of kept message "+m.ID, len(atts), attempts)
		}

		eq(t, "first call, limit 2", del(2, false), result{2, false})
		gone(old1)
		gone(old2)
		kept(old3, 1)
		tags, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Tag: "gone"})
		ok(t, err, "list by tag")
		eq(t, "messages under a deleted message's tag", len(tags), 0)

		eq(t, "second call: the one old message left without work", del(2, false), result{1, true})
		gone(old3)
		kept(busy, 1)
		kept(fresh, 1)
		kept(early, 1)
		eq(t, "nothing left to delete", del(2, false), result{0, true})

		// Once its retry succeeds, the busy message goes too.
		jobs = e.claim(store.ClaimParams{Now: e.now.Add(time.Hour), Retries: true})
		eq(t, "retry claimed", len(jobs), 1)
		e.succeed(jobs[0], e.now.Add(time.Hour))
		eq(t, "without a rescan, calls go on from where the last stopped", del(10, false), result{0, true})
		eq(t, "a rescan finds it", del(10, true), result{1, true})
		gone(busy)
		kept(fresh, 1)
		list, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: ep.ID})
		ok(t, err, "list endpoint messages")
		eq(t, "endpoint's messages left", len(list), 2)
	})
}

func exerciseHistoryWindow(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "DeleteHistoryReadsABoundedWindow", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		// More kept messages (scheduled for later: a delivery to make) than
		// one call may read, then one to delete.
		// Their ids hold their times, all before the start of the hour
		// (see DeleteHistory).
		const limit = 1
		kept := store.HistoryReadFactor*limit + 2
		for i := range kept {
			e.send(a.ID, func(m *store.Message) {
				m.CreatedAt = e.now.Add(-3*time.Hour + time.Duration(i)*time.Second)
				m.ID = ids.At(ids.Message, m.CreatedAt)
				m.DeliverAt = e.now.Add(time.Hour)
			})
		}
		last, _ := e.send(a.ID, func(m *store.Message) {
			m.CreatedAt = e.now.Add(-2 * time.Hour)
			m.ID = ids.At(ids.Message, m.CreatedAt)
		})
		jobs := e.claim(store.ClaimParams{Now: e.now})
		eq(t, "claimed", len(jobs), 1)
		e.succeed(jobs[0], e.now)
		p := store.DeleteHistoryParams{Before: e.now, Limit: limit, Rescan: true}
		n, done, err := e.s.DeleteHistory(e.ctx, p)
		ok(t, err, "delete history")
		if n != 0 || done {
			t.Fatalf("first call: deleted %d, done %v; want 0 and not done (it may read at most %d messages)", n, done, store.HistoryReadFactor*limit)
		}
		// Each call goes on from where the last stopped: the message after
		// the kept ones is reached within as many calls as there are kept
		// ones, none of them reading them all.
		p.Rescan = false
		calls := 1
		for ; calls <= kept && !done && n == 0; calls++ {
			n, done, err = e.s.DeleteHistory(e.ctx, p)
			ok(t, err, "delete history")
		}
		if n != 1 {
			t.Fatalf("after %d calls: deleted %d (done %v), want the message after the kept ones", calls, n, done)
		}
		_, err = e.s.GetMessage(e.ctx, a.ID, last.ID)
		isErr(t, err, store.ErrNotFound, "get deleted message")
		ms, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Page: store.Page{Limit: 100}})
		ok(t, err, "list messages")
		eq(t, "scheduled messages kept", len(ms), kept)
	})
}

func exerciseIdempotency(t *testing.T, newStore func(t *testing.T) store.Store) {
	params := func(e *env, now time.Time) store.BeginIdempotentParams {
		return store.BeginIdempotentParams{Key: "tok/key", Fingerprint: "POST /x 123", Now: now, LockUntil: now.Add(time.Minute), ExpiresAt: now.Add(12 * time.Hour)}
	}
	run(t, newStore, "Lifecycle", func(t *testing.T, e *env) {
		rec, started, err := e.s.BeginIdempotent(e.ctx, params(e, e.now))
		ok(t, err, "begin")
		if !started || rec == nil || rec.Done || rec.Key != "tok/key" || rec.Fingerprint != "POST /x 123" {
			t.Fatalf("first begin: started %v, record %#v", started, rec)
		}
		rec, started, err = e.s.BeginIdempotent(e.ctx, params(e, e.now.Add(time.Second)))
		ok(t, err, "begin again")
		if started || rec.Done {
			t.Fatalf("second begin: started %v, done %v; want in progress", started, rec.Done)
		}
		sameTime(t, "locked until", rec.LockedUntil, e.now.Add(time.Minute))

		ok(t, e.s.FinishIdempotent(e.ctx, "tok/key", 201, []byte(`{"id":"x"}`)), "finish")
		rec, started, err = e.s.BeginIdempotent(e.ctx, params(e, e.now.Add(2*time.Minute)))
		ok(t, err, "begin after finish")
		if started || !rec.Done || rec.StatusCode != 201 || string(rec.Body) != `{"id":"x"}` || rec.Fingerprint != "POST /x 123" {
			t.Fatalf("replay: started %v, record %#v", started, rec)
		}
		sameTime(t, "expires", rec.ExpiresAt, e.now.Add(12*time.Hour))
		sameTime(t, "created", rec.CreatedAt, e.now)

		// The record expires at ExpiresAt: a new request starts afresh.
		rec, started, err = e.s.BeginIdempotent(e.ctx, params(e, e.now.Add(12*time.Hour)))
		ok(t, err, "begin after expiry")
		if !started || rec.Done {
			t.Fatalf("after expiry: started %v, record %#v", started, rec)
		}
		isErr(t, e.s.FinishIdempotent(e.ctx, "missing", 200, nil), store.ErrNotFound, "finish missing key")
	})
	run(t, newStore, "LockExpiry", func(t *testing.T, e *env) {
		_, started, err := e.s.BeginIdempotent(e.ctx, params(e, e.now))
		ok(t, err, "begin")
		if !started {
			t.Fatal("not started")
		}
		p := params(e, e.now.Add(time.Minute)) // the lock ends now
		p.Fingerprint = "other"
		rec, started, err := e.s.BeginIdempotent(e.ctx, p)
		ok(t, err, "begin after lock expiry")
		if !started || rec.Fingerprint != "other" {
			t.Fatalf("takeover: started %v, record %#v", started, rec)
		}
		sameTime(t, "new lock", rec.LockedUntil, p.LockUntil)
	})
	run(t, newStore, "Abort", func(t *testing.T, e *env) {
		_, _, err := e.s.BeginIdempotent(e.ctx, params(e, e.now))
		ok(t, err, "begin")
		ok(t, e.s.AbortIdempotent(e.ctx, "tok/key"), "abort")
		_, started, err := e.s.BeginIdempotent(e.ctx, params(e, e.now.Add(time.Second)))
		ok(t, err, "begin after abort")
		if !started {
			t.Fatal("aborted key did not start again")
		}
		ok(t, e.s.FinishIdempotent(e.ctx, "tok/key", 200, nil), "finish")
		ok(t, e.s.AbortIdempotent(e.ctx, "tok/key"), "abort finished record")
		rec, started, err := e.s.BeginIdempotent(e.ctx, params(e, e.now.Add(2*time.Second)))
		ok(t, err, "begin")
		if started || !rec.Done {
			t.Fatal("abort removed a finished record")
		}
		ok(t, e.s.AbortIdempotent(e.ctx, "missing"), "abort missing key")
	})
	run(t, newStore, "Concurrent", func(t *testing.T, e *env) {
		const n = 8
		results := make(chan bool, n)
		errs := make(chan error, n)
		for range n {
			go func() {
				_, started, err := e.s.BeginIdempotent(e.ctx, params(e, e.now))
				errs <- err
				results <- started
			}()
		}
		count := 0
		for range n {
			ok(t, <-errs, "concurrent begin")
			if <-results {
				count++
			}
		}
		eq(t, "started", count, 1)
	})
}

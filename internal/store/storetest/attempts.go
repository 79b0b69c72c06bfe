package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

func exerciseAttempts(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "List", func(t *testing.T, e *env) {
		a := e.app()
		ep1, ep2 := e.endpoint(a.ID), e.endpoint(a.ID)
		m1, _ := e.send(a.ID, func(m *store.Message) { m.EventType = "a"; m.Channels = []string{"x"} })
		m2, _ := e.send(a.ID, func(m *store.Message) { m.EventType = "b" })
		var atts []*store.Attempt
		for i, c := range []struct {
			m    *store.Message
			ep   *store.Endpoint
			code int
		}{{m1, ep1, 200}, {m1, ep1, 500}, {m1, ep2, 0}, {m2, ep1, 302}, {m2, ep1, 404}, {m2, ep2, 200}} {
			j := &store.Job{Delivery: store.Delivery{AppID: a.ID, MsgID: c.m.ID, EndpointID: c.ep.ID}, EventType: c.m.EventType}
			at := attemptFor(j, e.now.Add(time.Duration(i)*time.Second), c.code)
			// The lease never matches: the attempt is recorded all the same.
			e.complete(store.Completion{MsgID: c.m.ID, EndpointID: c.ep.ID, Lease: -1, Attempt: at, Status: store.StatusSuccess})
			atts = append(atts, at)
		}
		// Another app's attempts are never listed.
		b := e.app()
		e.endpoint(b.ID)
		e.send(b.ID)
		for _, j := range e.claim(store.ClaimParams{Now: e.now}) {
			if j.AppID == b.ID {
				e.fail(j, e.now, e.now.Add(time.Hour))
			}
		}

		list := func(p store.ListAttemptsParams) []string {
			t.Helper()
			if p.AppID == "" {
				p.AppID = a.ID
			}
			got, err := e.s.ListAttempts(e.ctx, p)
			ok(t, err, "list attempts")
			var out []string
			for _, at := range got {
				if p.WithContent != (at.Response != "") {
					t.Fatalf("WithContent %v, response %q", p.WithContent, at.Response)
				}
				out = append(out, at.ID)
			}
			return out
		}
		idsOf := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, atts[i].ID)
			}
			return out
		}
		byEp := func(p store.ListAttemptsParams) store.ListAttemptsParams { p.EndpointID = ep1.ID; return p }
		eq(t, "by endpoint", list(byEp(store.ListAttemptsParams{WithContent: true})), idsOf(0, 1, 3, 4))
		eq(t, "by endpoint, desc", list(byEp(store.ListAttemptsParams{Page: store.Page{Desc: true}})), idsOf(4, 3, 1, 0))
		eq(t, "by message", list(store.ListAttemptsParams{MsgID: m1.ID}), idsOf(0, 1, 2))
		eq(t, "by both", list(store.ListAttemptsParams{MsgID: m1.ID, EndpointID: ep2.ID}), idsOf(2))
		eq(t, "status", list(byEp(store.ListAttemptsParams{Status: ptr(store.StatusSuccess)})), idsOf(0))
		eq(t, "status fail", list(store.ListAttemptsParams{MsgID: m1.ID, Status: ptr(store.StatusFail)}), idsOf(1, 2))
		for class, want := range map[int][]string{0: nil, 100: nil, 200: idsOf(0), 300: idsOf(3), 400: idsOf(4), 500: idsOf(1)} {
			eq(t, fmt.Sprintf("class %d", class), list(byEp(store.ListAttemptsParams{StatusCodeClass: ptr(class)})), want)
		}
		eq(t, "no response", list(store.ListAttemptsParams{MsgID: m1.ID, StatusCodeClass: ptr(0)}), idsOf(2))
		eq(t, "event types", list(byEp(store.ListAttemptsParams{EventTypes: []string{"b", "z"}})), idsOf(3, 4))
		eq(t, "channel", list(byEp(store.ListAttemptsParams{Channel: "x"})), idsOf(0, 1))
		eq(t, "unknown channel", list(byEp(store.ListAttemptsParams{Channel: "nope"})), []string(nil))
		eq(t, "before", list(byEp(store.ListAttemptsParams{Before: atts[3].CreatedAt})), idsOf(0, 1))
		eq(t, "after", list(byEp(store.ListAttemptsParams{After: atts[1].CreatedAt})), idsOf(3, 4))
		eq(t, "page", list(byEp(store.ListAttemptsParams{Page: store.Page{Limit: 2, After: atts[0].ID}})), idsOf(1, 3))
		eq(t, "page desc", list(byEp(store.ListAttemptsParams{Page: store.Page{Limit: 1, After: atts[3].ID, Desc: true}})), idsOf(1))
		eq(t, "another app", list(store.ListAttemptsParams{AppID: b.ID, MsgID: m1.ID}), []string(nil))
		eq(t, "another app by endpoint", list(store.ListAttemptsParams{AppID: b.ID, EndpointID: ep1.ID}), []string(nil))
	})
	run(t, newStore, "GetExpunge", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		j := e.claim(store.ClaimParams{Now: e.now})[0]
		at := e.fail(j, e.now, e.now.Add(time.Hour))
		got, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: at.ID})
		ok(t, err, "get attempt")
		eq(t, "attempt", *got, *at)
		_, err = e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: "msg_other", ID: at.ID})
		isErr(t, err, store.ErrNotFound, "attempt through another message")
		_, err = e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: e.app().ID, MsgID: m.ID, ID: at.ID})
		isErr(t, err, store.ErrNotFound, "attempt through another app")
		_, err = e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: "atmpt_missing"})
		isErr(t, err, store.ErrNotFound, "missing attempt")

		ok(t, e.s.ExpungeAttemptResponse(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: at.ID}), "expunge")
		got, err = e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: at.ID})
		ok(t, err, "get attempt")
		want := *at
		want.Response = ""
		eq(t, "expunged attempt", *got, want)
		isErr(t, e.s.ExpungeAttemptResponse(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: "atmpt_missing"}), store.ErrNotFound, "expunge missing")
	})
}

// checkPages walks a list in pages of several sizes, both ways, and checks
// it visits every row of want (ascending keys) once, in order.
func checkPages(t *testing.T, what string, want []string, list func(p store.Page) []string) {
	t.Helper()
	desc := slices.Clone(want)
	slices.Reverse(desc)
	for _, limit := range []int{1, 2, 3, len(want), len(want) + 5} {
		for _, d := range []bool{false, true} {
			var got []string
			after := ""
			for range len(want) + 2 {
				page := list(store.Page{Limit: limit, After: after, Desc: d})
				if len(page) > limit {
					t.Fatalf("%s: page of %d rows for limit %d", what, len(page), limit)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				after = page[len(page)-1]
			}
			exp := want
			if d {
				exp = desc
			}
			eq(t, fmt.Sprintf("%s limit %d desc %v", what, limit, d), got, exp)
		}
	}
}

// checkInsertWhileWalking walks want ascending two rows at a time, calling
// insert after each page, and checks that every original row is visited once
// in order and no row twice.
func checkInsertWhileWalking(t *testing.T, what string, want []string, list func(p store.Page) []string, insert func()) {
	t.Helper()
	var got []string
	after := ""
	for range 100 {
		page := list(store.Page{Limit: 2, After: after})
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
		insert()
	}
	seen := map[string]bool{}
	var orig []string
	for i, k := range got {
		if seen[k] {
			t.Fatalf("%s: %s visited twice", what, k)
		}
		seen[k] = true
		if i > 0 && got[i-1] >= k {
			t.Fatalf("%s: out of order: %s after %s", what, k, got[i-1])
		}
		if slices.Contains(want, k) {
			orig = append(orig, k)
		}
	}
	eq(t, what+": original rows", orig, want)
}

func exercisePaging(t *testing.T, newStore func(t *testing.T) store.Store) {
	const n = 7
	run(t, newStore, "Apps", func(t *testing.T, e *env) {
		var want []string
		for range n {
			want = append(want, e.app().ID)
		}
		list := func(p store.Page) []string {
			apps, err := e.s.ListApps(e.ctx, p)
			ok(t, err, "list apps")
			var out []string
			for _, a := range apps {
				out = append(out, a.ID)
			}
			return out
		}
		checkPages(t, "apps", want, list)
		checkInsertWhileWalking(t, "apps", want, list, func() { e.app() })
	})
	run(t, newStore, "DefaultLimit", func(t *testing.T, e *env) {
		for range 55 {
			e.app()
		}
		apps, err := e.s.ListApps(e.ctx, store.Page{})
		ok(t, err, "list apps")
		eq(t, "limit 0 means 50", len(apps), 50)
	})
	run(t, newStore, "Endpoints", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		var want []string
		for range n {
			want = append(want, e.endpoint(a.ID).ID)
			e.endpoint(b.ID)
		}
		list := func(p store.Page) []string {
			eps, err := e.s.ListEndpoints(e.ctx, a.ID, p)
			ok(t, err, "list endpoints")
			var out []string
			for _, ep := range eps {
				out = append(out, ep.ID)
			}
			return out
		}
		checkPages(t, "endpoints", want, list)
		checkInsertWhileWalking(t, "endpoints", want, list, func() { e.endpoint(a.ID) })
	})
	run(t, newStore, "EventTypes", func(t *testing.T, e *env) {
		var want []string
		for i := range n {
			name := fmt.Sprintf("type.%d", (i*3)%n)
			ok(t, e.s.CreateEventType(e.ctx, &store.EventType{Name: name, CreatedAt: e.now, UpdatedAt: e.now}), "create")
			want = append(want, name)
		}
		slices.Sort(want)
		list := func(p store.Page) []string {
			ets, err := e.s.ListEventTypes(e.ctx, store.ListEventTypesParams{Page: p})
			ok(t, err, "list event types")
			var out []string
			for _, et := range ets {
				out = append(out, et.Name)
			}
			return out
		}
		checkPages(t, "event types", want, list)
		i := 0
		checkInsertWhileWalking(t, "event types", want, list, func() {
			i++
			// Some before the cursor, some after.
			for _, name := range []string{fmt.Sprintf("type.%d.x", i), fmt.Sprintf("a.%d", i)} {
				ok(t, e.s.CreateEventType(e.ctx, &store.EventType{Name: name, CreatedAt: e.now, UpdatedAt: e.now}), "create")
			}
		})
	})
	run(t, newStore, "Messages", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		var want []string
		for range n {
			m, _ := e.send(a.ID)
			want = append(want, m.ID)
			e.send(b.ID)
		}
		list := func(p store.Page) []string {
			ms, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Page: p})
			ok(t, err, "list messages")
			var out []string
			for _, m := range ms {
				out = append(out, m.ID)
			}
			return out
		}
		checkPages(t, "messages", want, list)
		checkInsertWhileWalking(t, "messages", want, list, func() { e.send(a.ID) })
	})
	run(t, newStore, "EndpointMessages", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		e.endpoint(a.ID)
		var want []string
		for range n {
			m, _ := e.send(a.ID)
			want = append(want, m.ID)
		}
		list := func(p store.Page) []string {
			ems, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: ep.ID, Page: p})
			ok(t, err, "list endpoint messages")
			var out []string
			for _, em := range ems {
				out = append(out, em.Message.ID)
			}
			return out
		}
		checkPages(t, "endpoint messages", want, list)
		checkInsertWhileWalking(t, "endpoint messages", want, list, func() { e.send(a.ID) })
	})
	run(t, newStore, "Destinations", func(t *testing.T, e *env) {
		a := e.app()
		var want []string
		for range n {
			want = append(want, e.endpoint(a.ID).ID)
		}
		m, _ := e.send(a.ID)
		e.send(a.ID)
		list := func(p store.Page) []string {
			ds, err := e.s.ListMessageDestinations(e.ctx, a.ID, m.ID, p)
			ok(t, err, "list destinations")
			var out []string
			for _, d := range ds {
				out = append(out, d.Endpoint.ID)
			}
			return out
		}
		checkPages(t, "destinations", want, list)
		checkInsertWhileWalking(t, "destinations", want, list, func() {
			ep := e.endpoint(a.ID)
			ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: e.now}), "resend")
		})
	})
	run(t, newStore, "Attempts", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		j := &store.Job{Delivery: store.Delivery{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID}, EventType: m.EventType}
		add := func() string {
			at := attemptFor(j, e.now, 500)
			at.ID = ids.NewAt(ids.Attempt, e.now)
			e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: -1, Attempt: at, Status: store.StatusFail})
			return at.ID
		}
		var want []string
		for range n {
			want = append(want, add())
		}
		for _, by := range []string{"message", "endpoint"} {
			list := func(p store.Page) []string {
				q := store.ListAttemptsParams{AppID: a.ID, Page: p}
				if by == "endpoint" {
					q.EndpointID = ep.ID
				} else {
					q.MsgID = m.ID
				}
				atts, err := e.s.ListAttempts(e.ctx, q)
				ok(t, err, "list attempts")
				var out []string
				for _, at := range atts {
					out = append(out, at.ID)
				}
				return out
			}
			checkPages(t, "attempts by "+by, want, list)
			if by == "endpoint" {
				checkInsertWhileWalking(t, "attempts", want, list, func() { add() })
			}
		}
	})
}

package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// exercisePortal pins what the portal and the console read: the hourly
// endpoint counters CompleteDeliveries keeps, failing endpoints across apps,
// bounded message counts, app search, sessions, and the status filter of
// ListMessages.
func exercisePortal(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "EndpointHours", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		other := e.endpoint(a.ID)
		for range 3 {
			e.send(a.ID)
		}
		jobs := e.claim(store.ClaimParams{Now: e.now})
		eq(t, "claimed", len(jobs), 6)
		hour := store.HourOf(e.now)
		var mine []*store.Job
		for _, j := range jobs {
			if j.EndpointID == ep.ID {
				mine = append(mine, j)
			}
		}
		// One success in this hour, one failure in the next, and one
		// success in the next recorded in another batch.
		ok1 := attemptFor(mine[0], hour.Add(10*time.Minute), 200)
		fail := attemptFor(mine[1], hour.Add(70*time.Minute), 500)
		ok2 := attemptFor(mine[2], hour.Add(80*time.Minute), 204)
		e.complete(
			store.Completion{MsgID: ok1.MsgID, EndpointID: ep.ID, Lease: mine[0].Lease, Attempt: ok1, Status: store.StatusSuccess},
			store.Completion{MsgID: fail.MsgID, EndpointID: ep.ID, Lease: mine[1].Lease, Attempt: fail, Status: store.StatusFail},
		)
		c2 := store.Completion{MsgID: ok2.MsgID, EndpointID: ep.ID, Lease: mine[2].Lease, Attempt: ok2, Status: store.StatusSuccess}
		e.complete(c2)
		// Recorded again (a retried completion): counted once.
		e.complete(c2)
		want := []store.EndpointHour{
			{EndpointID: ep.ID, Hour: hour, Success: 1},
			{EndpointID: ep.ID, Hour: hour.Add(time.Hour), Success: 1, Fail: 1},
		}
		got, err := e.s.EndpointHours(e.ctx, []string{ep.ID, other.ID}, hour.Add(-24*time.Hour))
		ok(t, err, "endpoint hours")
		eq(t, "hours", got, want)
		got, err = e.s.EndpointHours(e.ctx, []string{ep.ID}, hour.Add(time.Hour))
		ok(t, err, "endpoint hours since")
		eq(t, "hours since the second", got, want[1:])
		got, err = e.s.EndpointHours(e.ctx, nil, hour)
		ok(t, err, "endpoint hours of none")
		eq(t, "hours of none", len(got), 0)

		// An attempt whose delivery is gone is not recorded, nor counted.
		var theirs *store.Job
		for _, j := range jobs {
			if j.EndpointID == other.ID {
				theirs = j
			}
		}
		ok(t, e.s.DeleteEndpoint(e.ctx, a.ID, other.ID), "delete endpoint")
		gone := attemptFor(theirs, hour, 200)
		e.complete(store.Completion{MsgID: gone.MsgID, EndpointID: other.ID, Lease: theirs.Lease, Attempt: gone, Status: store.StatusSuccess})
		got, err = e.s.EndpointHours(e.ctx, []string{other.ID}, time.Time{})
		ok(t, err, "endpoint hours of a deleted endpoint")
		eq(t, "hours of a deleted endpoint", len(got), 0)

		// Retention drops hours older than StatsRetention; deleting the
		// endpoint drops the rest.
		_, err = e.s.DeleteExpired(e.ctx, hour.Add(time.Hour+store.StatsRetention))
		ok(t, err, "delete expired")
		got, err = e.s.EndpointHours(e.ctx, []string{ep.ID}, time.Time{})
		ok(t, err, "endpoint hours after retention")
		eq(t, "hours after retention", got, want[1:])
		ok(t, e.s.DeleteEndpoint(e.ctx, a.ID, ep.ID), "delete endpoint")
		got, err = e.s.EndpointHours(e.ctx, []string{ep.ID}, time.Time{})
		ok(t, err, "endpoint hours after delete")
		eq(t, "hours after delete", len(got), 0)
	})

	run(t, newStore, "FailingEndpoints", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		healthy := e.endpoint(a.ID)
		disabled := e.endpoint(b.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		failing := e.endpoint(a.ID)
		e.send(a.ID)
		for _, j := range e.claim(store.ClaimParams{Now: e.now}) {
			if j.EndpointID == failing.ID {
				e.fail(j, e.now, e.now.Add(time.Hour))
			} else {
				e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
			}
		}
		got, err := e.s.ListFailingEndpoints(e.ctx, store.Page{Limit: 10})
		ok(t, err, "list failing")
		var gotIDs []string
		for _, ep := range got {
			gotIDs = append(gotIDs, ep.ID)
			if ep.ID == failing.ID {
				sameTime(t, "failing since", ep.FailingSince, e.now)
			}
		}
		eq(t, "failing endpoints", gotIDs, []string{disabled.ID, failing.ID})
		got, err = e.s.ListFailingEndpoints(e.ctx, store.Page{Limit: 10, After: disabled.ID})
		ok(t, err, "list failing after")
		eq(t, "page after", len(got), 1)
		_ = healthy
	})

	run(t, newStore, "CountMessagesSince", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-2 * time.Hour) })
		for range 4 {
			e.send(a.ID)
		}
		e.send(b.ID)
		n, err := e.s.CountMessagesSince(e.ctx, a.ID, e.now.Add(-time.Hour), 100)
		ok(t, err, "count")
		eq(t, "count since an hour", n, 4)
		n, err = e.s.CountMessagesSince(e.ctx, a.ID, e.now.Add(-3*time.Hour), 100)
		ok(t, err, "count")
		eq(t, "count since three hours", n, 5)
		n, err = e.s.CountMessagesSince(e.ctx, a.ID, e.now.Add(-3*time.Hour), 3)
		ok(t, err, "count")
		eq(t, "count up to max", n, 3)
	})

	run(t, newStore, "FindApps", func(t *testing.T, e *env) {
		acme := e.app(func(a *store.App) { a.Name = "Acme Inc"; a.UID = "acme" })
		beta := e.app(func(a *store.App) { a.Name = "Beta"; a.UID = "b-cme" })
		e.app(func(a *store.App) { a.Name = "Gamma" })
		found := func(text string) []string {
			t.Helper()
			apps, err := e.s.FindApps(e.ctx, text, store.Page{Limit: 10})
			ok(t, err, "find apps")
			var out []string
			for _, a := range apps {
				out = append(out, a.ID)
			}
			return out
		}
		eq(t, "by name, any case", found("ACME"), []string{acme.ID})
		eq(t, "by name or uid", found("cme"), []string{acme.ID, beta.ID})
		eq(t, "by uid", found("b-c"), []string{beta.ID})
		eq(t, "none", found("zzz"), []string(nil))
	})

	run(t, newStore, "Sessions", func(t *testing.T, e *env) {
		a := e.app()
		api := &store.Token{ID: ids.New(ids.Token), Hash: []byte{1}, Name: "ci", CreatedAt: e.now}
		console := &store.Token{ID: ids.New(ids.Token), Hash: []byte{2}, Name: "console", Session: true, ExpiresAt: e.now.Add(time.Hour), CreatedAt: e.now}
		portal := &store.Token{ID: ids.New(ids.Token), Hash: []byte{3}, AppID: a.ID, Name: "portal", Session: true, ExpiresAt: e.now.Add(2 * time.Hour), CreatedAt: e.now}
		link := &store.Token{ID: ids.New(ids.Token), Hash: []byte{4}, AppID: a.ID, Name: "app portal", ExpiresAt: e.now.Add(2 * time.Hour), CreatedAt: e.now}
		for _, tk := range []*store.Token{api, console, portal, link} {
			ok(t, e.s.CreateToken(e.ctx, tk), "create token")
			got, err := e.s.GetTokenByHash(e.ctx, tk.Hash)
			ok(t, err, "get token")
			eq(t, "token", *got, *tk)
		}
		list, err := e.s.ListAPITokens(e.ctx, store.Page{Limit: 10})
		ok(t, err, "list api tokens")
		eq(t, "api tokens", len(list), 1)
		eq(t, "api token", *list[0], *api)
		n, err := e.s.CountAdminTokens(e.ctx)
		ok(t, err, "count admin tokens")
		eq(t, "admin tokens (sessions aside)", n, 1)
		// Only API tokens are revoked as such.
		for _, tk := range []*store.Token{console, portal, link} {
			isErr(t, e.s.DeleteAPIToken(e.ctx, tk.ID), store.ErrNotFound, "revoke a token that is no API token")
		}
		// Retention deletes expired tokens and sessions only.
		_, err = e.s.DeleteExpired(e.ctx, e.now.Add(time.Hour))
		ok(t, err, "delete expired")
		_, err = e.s.GetTokenByHash(e.ctx, console.Hash)
		isErr(t, err, store.ErrNotFound, "expired session")
		for _, tk := range []*store.Token{api, portal, link} {
			_, err := e.s.GetTokenByHash(e.ctx, tk.Hash)
			ok(t, err, "live token kept")
		}
		ok(t, e.s.DeleteAPIToken(e.ctx, api.ID), "revoke the API token")
		_, err = e.s.GetTokenByHash(e.ctx, api.Hash)
		isErr(t, err, store.ErrNotFound, "revoked token")
		isErr(t, e.s.DeleteAPIToken(e.ctx, api.ID), store.ErrNotFound, "revoke again")
	})

	run(t, newStore, "MessagesByStatus", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		succeeded, _ := e.send(a.ID)
		failed, _ := e.send(a.ID)
		pending, _ := e.send(a.ID)
		for _, j := range e.claim(store.ClaimParams{Now: e.now, Limit: 2}) {
			switch j.MsgID {
			case succeeded.ID:
				e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
			case failed.ID:
				e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 500), Status: store.StatusFail})
			}
		}
		by := func(st store.DeliveryStatus) []string {
			t.Helper()
			msgs, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Page: store.Page{Limit: 10}, Status: &st})
			ok(t, err, "list messages by status")
			var out []string
			for _, m := range msgs {
				out = append(out, m.ID)
			}
			return out
		}
		eq(t, "success", by(store.StatusSuccess), []string{succeeded.ID})
		// The skipped deliveries to the disabled endpoint do not count
		// as failures.
		eq(t, "fail", by(store.StatusFail), []string{failed.ID})
		eq(t, "pending", by(store.StatusPending), []string{pending.ID})
		eq(t, "sending", by(store.StatusSending), []string(nil))
	})

	run(t, newStore, "Windows", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		other := e.app()
		e.endpoint(other.ID)
		var msgs []string
		for i := range 5 {
			m, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i) * time.Second) })
			msgs = append(msgs, m.ID)
			e.send(other.ID)
		}
		nthMsg := func(p store.Page, n int) string {
			t.Helper()
			id, err := e.s.NthMessageID(e.ctx, a.ID, p, n)
			ok(t, err, "nth message")
			return id
		}
		eq(t, "2nd newest", nthMsg(store.Page{Desc: true}, 2), msgs[3])
		eq(t, "2nd older than the 4th", nthMsg(store.Page{Desc: true, After: msgs[3]}, 2), msgs[1])
		eq(t, "1st oldest", nthMsg(store.Page{}, 1), msgs[0])
		eq(t, "beyond the end", nthMsg(store.Page{Desc: true}, 6), "")
		page := func(p store.Page, last string) []string {
			t.Helper()
			rows, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Page: p, Last: last})
			ok(t, err, "list messages")
			var out []string
			for _, m := range rows {
				out = append(out, m.ID)
			}
			return out
		}
		eq(t, "newest down to the 3rd", page(store.Page{Desc: true, Limit: 10}, msgs[2]), []string{msgs[4], msgs[3], msgs[2]})
		eq(t, "oldest up to the 2nd", page(store.Page{Limit: 10}, msgs[1]), []string{msgs[0], msgs[1]})

		// Attempts of an endpoint, alike.
		var atts []string
		for i, j := range e.claim(store.ClaimParams{Now: e.now.Add(time.Minute)}) {
			if j.EndpointID != ep.ID {
				continue
			}
			at := attemptFor(j, e.now.Add(time.Duration(i)*time.Millisecond), 200)
			e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: at, Status: store.StatusSuccess})
			atts = append(atts, at.ID)
		}
		slices.Sort(atts)
		eq(t, "attempts", len(atts), 5)
		id, err := e.s.NthEndpointAttemptID(e.ctx, ep.ID, store.Page{Desc: true, After: atts[4]}, 3)
		ok(t, err, "nth attempt")
		eq(t, "3rd older than the newest", id, atts[1])
		rows, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, EndpointID: ep.ID,
			Page: store.Page{Desc: true, Limit: 10, After: atts[4]}, Last: id})
		ok(t, err, "list attempts")
		var got []string
		for _, r := range rows {
			got = append(got, r.ID)
		}
		eq(t, "the window", got, []string{atts[3], atts[2], atts[1]})
	})
}

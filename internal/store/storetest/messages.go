package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

func exerciseMessages(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "FanOut", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		n := 0
		ep := func(mod func(*store.Endpoint)) *store.Endpoint {
			n++
			return e.endpoint(a.ID, func(ep *store.Endpoint) {
				ep.UpdatedAt = e.now.Add(time.Duration(n) * time.Second)
				mod(ep)
			})
		}
		all := ep(func(*store.Endpoint) {})
		typed := ep(func(ep *store.Endpoint) { ep.EventTypes = []string{"x", "invoice.paid"}; ep.ThrottleRate = 7 })
		otherType := ep(func(ep *store.Endpoint) { ep.EventTypes = []string{"order.created"} })
		noType := ep(func(ep *store.Endpoint) { ep.EventTypes = []string{} })
		chanHit := ep(func(ep *store.Endpoint) { ep.Channels = []string{"c1", "c2"} })
		chanMiss := ep(func(ep *store.Endpoint) { ep.Channels = []string{"c9"} })
		disabled := ep(func(ep *store.Endpoint) { ep.Disabled = true })
		disabledOther := ep(func(ep *store.Endpoint) { ep.Disabled = true; ep.EventTypes = []string{"order.created"} })
		e.endpoint(b.ID)

		payload := []byte("{ \"a\" :1,\n\t\"b\": [ ] }")
		m, res := e.send(a.ID, func(m *store.Message) { m.Channels = []string{"c2", "c3"}; m.Payload = payload })
		eq(t, "skipped", res.Skipped, 1)
		eq(t, "jobs", jobKeys(res.Jobs), keys([2]string{m.ID, all.ID}, [2]string{m.ID, typed.ID}, [2]string{m.ID, chanHit.ID}))
		updated := map[string]time.Time{all.ID: all.UpdatedAt, typed.ID: typed.UpdatedAt, chanHit.ID: chanHit.UpdatedAt}
		for _, j := range res.Jobs {
			want := store.Delivery{
				AppID: a.ID, MsgID: m.ID, EndpointID: j.EndpointID, Status: store.StatusPending,
				NextAttemptAt: m.CreatedAt, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
			}
			eq(t, "job delivery", j.Delivery, want)
			eq(t, "stored delivery", *e.delivery(m.ID, j.EndpointID), want)
			if !bytes.Equal(j.Payload, payload) {
				t.Fatalf("job payload %q, want %q", j.Payload, payload)
			}
			eq(t, "event type", j.EventType, "invoice.paid")
			sameTime(t, "msg created", j.MsgCreatedAt, m.CreatedAt)
			sameTime(t, "endpoint updated", j.EndpointUpdatedAt, updated[j.EndpointID])
			wantRate := 0
			if j.EndpointID == typed.ID {
				wantRate = 7
			}
			eq(t, "endpoint throttle rate", j.EndpointThrottleRate, wantRate)
		}
		eq(t, "skipped delivery", *e.delivery(m.ID, disabled.ID), store.Delivery{
			AppID: a.ID, MsgID: m.ID, EndpointID: disabled.ID, Status: store.StatusSkipped,
			CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
		})
		for _, id := range []string{otherType.ID, noType.ID, chanMiss.ID, disabledOther.ID} {
			_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: m.ID, EndpointID: id})
			isErr(t, err, store.ErrNotFound, "delivery to an endpoint that does not accept the message")
		}

		// A message on no channel reaches only endpoints without channels.
		m2, res := e.send(a.ID)
		eq(t, "jobs without channels", jobKeys(res.Jobs), keys([2]string{m2.ID, all.ID}, [2]string{m2.ID, typed.ID}))

		// A skipped delivery is never claimed.
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Hour)})
		eq(t, "claimed", len(jobs), 5)
		jobs = e.claim(store.ClaimParams{Now: e.now.Add(time.Hour), Retries: true})
		eq(t, "claimed retries", len(jobs), 0)
	})
	run(t, newStore, "RoundTrip", func(t *testing.T, e *env) {
		a := e.app()
		with := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev1"; m.Channels = []string{"a", "b"} })
		nilCh := e.msg(a.ID)
		emptyCh := e.msg(a.ID, func(m *store.Message) { m.Channels = []string{}; m.PayloadExpiresAt = time.Time{} })
		for _, r := range e.create(store.CreateMessageParams{Message: with}, store.CreateMessageParams{Message: nilCh}, store.CreateMessageParams{Message: emptyCh}) {
			ok(t, r.Err, "create")
			eq(t, "no endpoints, no jobs", len(r.Jobs), 0)
		}
		for _, c := range []struct {
			key  string
			want *store.Message
		}{{with.ID, with}, {"ev1", with}, {nilCh.ID, nilCh}, {emptyCh.ID, emptyCh}} {
			got, err := e.s.GetMessage(e.ctx, a.ID, c.key)
			ok(t, err, "get message "+c.key)
			eq(t, "message "+c.key, *got, *c.want)
		}
		_, err := e.s.GetMessage(e.ctx, a.ID, "msg_missing")
		isErr(t, err, store.ErrNotFound, "get missing message")
		b := e.app()
		_, err = e.s.GetMessage(e.ctx, b.ID, with.ID)
		isErr(t, err, store.ErrNotFound, "get message through another app")
		_, err = e.s.GetMessage(e.ctx, b.ID, "ev1")
		isErr(t, err, store.ErrNotFound, "get event id through another app")
	})
	run(t, newStore, "DuplicateEventID", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		e.endpoint(a.ID)
		m1 := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev1" })
		dup := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev1" }) // same batch
		m3 := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev2" })
		res := e.create(store.CreateMessageParams{Message: m1}, store.CreateMessageParams{Message: dup}, store.CreateMessageParams{Message: m3})
		ok(t, res[0].Err, "first")
		isErr(t, res[1].Err, store.ErrConflict, "duplicate in the same batch")
		ok(t, res[2].Err, "third")
		eq(t, "jobs of the duplicate", len(res[1].Jobs), 0)
		eq(t, "jobs of the others", len(res[0].Jobs)+len(res[2].Jobs), 2)
		_, err := e.s.GetMessage(e.ctx, a.ID, dup.ID)
		isErr(t, err, store.ErrNotFound, "the duplicate was not stored")

		again := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev1" })
		res = e.create(store.CreateMessageParams{Message: again})
		isErr(t, res[0].Err, store.ErrConflict, "duplicate in a later batch")
		got, err := e.s.GetMessage(e.ctx, a.ID, "ev1")
		ok(t, err, "get by event id")
		eq(t, "first message kept", got.ID, m1.ID)

		e.send(b.ID, func(m *store.Message) { m.EventID = "ev1" }) // another app: fine
		e.send(a.ID)                                               // no event id: never a conflict
		e.send(a.ID)
	})
	run(t, newStore, "MissingApp", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		res := e.create(store.CreateMessageParams{Message: e.msg("app_missing")}, store.CreateMessageParams{Message: e.msg(a.ID)})
		isErr(t, res[0].Err, store.ErrNotFound, "message of a missing app")
		ok(t, res[1].Err, "message of an existing app")
		eq(t, "jobs", len(res[1].Jobs), 1)
	})
	run(t, newStore, "Leased", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		until := e.now.Add(30 * time.Second)
		m := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: m, Lease: 42, LeaseUntil: until})
		ok(t, res[0].Err, "create")
		eq(t, "jobs", len(res[0].Jobs), 1)
		j := res[0].Jobs[0]
		if j.Lease != 42 || !j.NextAttemptAt.Equal(until) {
			t.Fatalf("job lease %d until %v", j.Lease, j.NextAttemptAt)
		}
		d := e.delivery(m.ID, ep.ID)
		if d.Lease != 42 || !d.NextAttemptAt.Equal(until) {
			t.Fatalf("stored lease %d until %v", d.Lease, d.NextAttemptAt)
		}
		eq(t, "claim while leased", len(e.claim(store.ClaimParams{Now: until.Add(-time.Microsecond)})), 0)
		// The creator completes it with its lease.
		e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: 42, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
		eq(t, "status", e.delivery(m.ID, ep.ID).Status, store.StatusSuccess)

		// Unleased deliveries are due at CreatedAt.
		m2, _ := e.send(a.ID)
		eq(t, "claim before due", len(e.claim(store.ClaimParams{Now: m2.CreatedAt.Add(-time.Microsecond)})), 0)
		eq(t, "claim when due", len(e.claim(store.ClaimParams{Now: m2.CreatedAt})), 1)

		// A lease that ends is claimable by another worker.
		m3 := e.msg(a.ID)
		e.create(store.CreateMessageParams{Message: m3, Lease: 7, LeaseUntil: until})
		jobs := e.claim(store.ClaimParams{Now: until})
		eq(t, "expired creation lease", jobKeys(jobs), keys([2]string{m3.ID, ep.ID}))
	})
	run(t, newStore, "NoLease", func(t *testing.T, e *env) {
		a := e.app()
		ep1 := e.endpoint(a.ID)
		ep2 := e.endpoint(a.ID)
		until := e.now.Add(30 * time.Second)
		m := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: m, Lease: 42, LeaseUntil: until, NoLease: []string{ep2.ID}})
		ok(t, res[0].Err, "create")
		eq(t, "jobs", len(res[0].Jobs), 2)
		for _, j := range res[0].Jobs {
			wantLease, wantNext := int64(42), until
			if j.EndpointID == ep2.ID {
				wantLease, wantNext = 0, time.Time{} // parked
			}
			if j.Lease != wantLease || !j.NextAttemptAt.Equal(wantNext) {
				t.Fatalf("job for %s: lease %d until %v, want %d %v", j.EndpointID, j.Lease, j.NextAttemptAt, wantLease, wantNext)
			}
			d := e.delivery(m.ID, j.EndpointID)
			if d.Lease != wantLease || !d.NextAttemptAt.Equal(wantNext) {
				t.Fatalf("stored delivery for %s: lease %d until %v", j.EndpointID, d.Lease, d.NextAttemptAt)
			}
		}
		eq(t, "claim the unleased one", jobKeys(e.claim(store.ClaimParams{Now: m.CreatedAt, Parked: true})), keys([2]string{m.ID, ep2.ID}))
		_ = ep1
	})
	run(t, newStore, "Expunge", func(t *testing.T, e *env) {
		a := e.app()
		m, _ := e.send(a.ID)
		ok(t, e.s.ExpungeMessagePayload(e.ctx, a.ID, m.ID), "expunge")
		got, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
		ok(t, err, "get")
		if got.Payload != nil {
			t.Fatalf("payload after expunge = %q", got.Payload)
		}
		isErr(t, e.s.ExpungeMessagePayload(e.ctx, a.ID, "msg_missing"), store.ErrNotFound, "expunge missing")
		isErr(t, e.s.ExpungeMessagePayload(e.ctx, e.app().ID, m.ID), store.ErrNotFound, "expunge through another app")
	})
	run(t, newStore, "List", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		var ms []*store.Message
		for i, c := range []struct {
			et string
			ch []string
		}{{"a", nil}, {"b", []string{"x"}}, {"a", []string{"x", "y"}}, {"c", []string{"y"}}, {"b", nil}} {
			m, _ := e.send(a.ID, func(m *store.Message) {
				m.EventType, m.Channels = c.et, c.ch
				m.CreatedAt = e.now.Add(time.Duration(i) * time.Second)
			})
			ms = append(ms, m)
		}
		e.send(b.ID)
		list := func(p store.ListMessagesParams) []string {
			t.Helper()
			p.AppID = a.ID
			got, err := e.s.ListMessages(e.ctx, p)
			ok(t, err, "list messages")
			var out []string
			for _, m := range got {
				if p.WithContent != (m.Payload != nil) {
					t.Fatalf("WithContent %v, payload %q", p.WithContent, m.Payload)
				}
				out = append(out, m.ID)
			}
			return out
		}
		idsOf := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, ms[i].ID)
			}
			return out
		}
		eq(t, "ascending", list(store.ListMessagesParams{}), idsOf(0, 1, 2, 3, 4))
		eq(t, "descending", list(store.ListMessagesParams{Page: store.Page{Desc: true}, WithContent: true}), idsOf(4, 3, 2, 1, 0))
		eq(t, "channel", list(store.ListMessagesParams{Channel: "x"}), idsOf(1, 2))
		eq(t, "event types", list(store.ListMessagesParams{EventTypes: []string{"a", "c"}}), idsOf(0, 2, 3))
		eq(t, "after", list(store.ListMessagesParams{After: ms[1].CreatedAt}), idsOf(2, 3, 4))
		eq(t, "before", list(store.ListMessagesParams{Before: ms[3].CreatedAt}), idsOf(0, 1, 2))
		eq(t, "between, desc", list(store.ListMessagesParams{After: ms[0].CreatedAt, Before: ms[4].CreatedAt, Page: store.Page{Desc: true}}), idsOf(3, 2, 1))
		eq(t, "all filters", list(store.ListMessagesParams{Channel: "y", EventTypes: []string{"a"}, After: ms[1].CreatedAt}), idsOf(2))
		eq(t, "page", list(store.ListMessagesParams{Page: store.Page{Limit: 2, After: ms[1].ID}}), idsOf(2, 3))
		eq(t, "page desc", list(store.ListMessagesParams{Page: store.Page{Limit: 2, After: ms[3].ID, Desc: true}, EventTypes: []string{"a", "b"}}), idsOf(2, 1))
	})
}

func exerciseClaim(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "OldestDueFirst", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.ThrottleRate = 3 })
		var ms []*store.Message
		for _, d := range []time.Duration{-2 * time.Second, -3 * time.Second, -time.Second, time.Hour} {
			m, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(d) })
			ms = append(ms, m)
		}
		k := func(i int) [2]string { return [2]string{ms[i].ID, ep.ID} }
		long := e.now.Add(1000 * time.Hour)
		eq(t, "two oldest due", jobKeys(e.claim(store.ClaimParams{Now: e.now, Limit: 2, LeaseUntil: long})), keys(k(1), k(0)))
		eq(t, "the rest that is due", jobKeys(e.claim(store.ClaimParams{Now: e.now, Limit: 10, LeaseUntil: long})), keys(k(2)))
		eq(t, "nothing due", len(e.claim(store.ClaimParams{Now: e.now})), 0)
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Hour)})
		eq(t, "the future one", jobKeys(jobs), keys(k(3)))
		j := jobs[0]
		if j.EventType != "invoice.paid" || string(j.Payload) != `{"n": 1}` || !j.MsgCreatedAt.Equal(ms[3].CreatedAt) || !j.EndpointUpdatedAt.Equal(ep.UpdatedAt) || j.EndpointThrottleRate != 3 {
			t.Fatalf("claimed job %#v", j)
		}
		want := store.Delivery{
			AppID: a.ID, MsgID: ms[3].ID, EndpointID: ep.ID, Status: store.StatusPending,
			NextAttemptAt: j.NextAttemptAt, Lease: j.Lease, CreatedAt: ms[3].CreatedAt, UpdatedAt: e.now.Add(time.Hour),
		}
		eq(t, "claimed delivery", j.Delivery, want)
		eq(t, "stored", *e.delivery(ms[3].ID, ep.ID), want)
		// Finished deliveries are never claimed.
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now.Add(time.Hour), 200), Status: store.StatusSuccess})
		eq(t, "after success", len(e.claim(store.ClaimParams{Now: e.now.Add(100 * time.Hour)})), 0)
		eq(t, "after success, retries", len(e.claim(store.ClaimParams{Now: e.now.Add(100 * time.Hour), Retries: true})), 0)
	})
	// Jobs carry their message's EventID, whether the message's
	// creation returns them or a claim does.
	run(t, newStore, "MsgEventID", func(t *testing.T, e *env) {
		a := e.app()
		e.endpoint(a.ID)
		with := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev-1" })
		without := e.msg(a.ID)
		leased := e.msg(a.ID, func(m *store.Message) { m.EventID = "ev-2" })
		res := e.create(store.CreateMessageParams{Message: with}, store.CreateMessageParams{Message: without},
			store.CreateMessageParams{Message: leased, Lease: 9, LeaseUntil: e.now})
		want := map[string]string{with.ID: "ev-1", without.ID: "", leased.ID: "ev-2"}
		for i, r := range res {
			ok(t, r.Err, "create")
			eq(t, "jobs", len(r.Jobs), 1)
			eq(t, fmt.Sprintf("created job %d: event id", i), r.Jobs[0].MsgEventID, want[r.Jobs[0].MsgID])
		}
		jobs := e.claim(store.ClaimParams{Now: e.now})
		eq(t, "claimed", len(jobs), 3)
		for _, j := range jobs {
			eq(t, "claimed job of "+j.MsgID+": event id", j.MsgEventID, want[j.MsgID])
		}
	})
	run(t, newStore, "FirstAttemptsAndRetries", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m1, _ := e.send(a.ID)
		eq(t, "retries pool has no first attempt", len(e.claim(store.ClaimParams{Now: e.now, Retries: true})), 0)
		jobs := e.claim(store.ClaimParams{Now: e.now})
		eq(t, "first attempt", jobKeys(jobs), keys([2]string{m1.ID, ep.ID}))
		e.fail(jobs[0], e.now, e.now.Add(time.Second))
		m2, _ := e.send(a.ID)
		later := e.now.Add(time.Minute)
		eq(t, "first attempts", jobKeys(e.claim(store.ClaimParams{Now: later})), keys([2]string{m2.ID, ep.ID}))
		eq(t, "retries", jobKeys(e.claim(store.ClaimParams{Now: later, Retries: true})), keys([2]string{m1.ID, ep.ID}))

		// A manual delivery never attempted goes to the retries pool.
		other := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"none"} })
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m2.ID, EndpointID: other.ID, Now: later}), "resend")
		eq(t, "manual not a first attempt", len(e.claim(store.ClaimParams{Now: later})), 0)
		eq(t, "manual in retries", jobKeys(e.claim(store.ClaimParams{Now: later, Retries: true})), keys([2]string{m2.ID, other.ID}))
	})
	run(t, newStore, "QueueStats", func(t *testing.T, e *env) {
		stats := func(now time.Time) store.QueueStats {
			t.Helper()
			qs, err := e.s.QueueStats(e.ctx, now)
			ok(t, err, "queue stats")
			return *qs
		}
		eq(t, "empty", stats(e.now), store.QueueStats{})
		a := e.app()
		ep := e.endpoint(a.ID)
		off := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true }) // skipped: never due
		m1, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-3 * time.Second) })
		m2, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-time.Second) })
		e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Hour) })
		eq(t, "first attempts due", stats(e.now), store.QueueStats{DueFirst: 2, OldestDue: m1.CreatedAt})
		eq(t, "due at its time", stats(e.now.Add(-time.Second)), store.QueueStats{DueFirst: 2, OldestDue: m1.CreatedAt})
		eq(t, "not yet due", stats(e.now.Add(-2*time.Second)), store.QueueStats{DueFirst: 1, OldestDue: m1.CreatedAt})

		// A leased delivery is not due until its lease ends.
		jobs := e.claim(store.ClaimParams{Now: e.now, Limit: 1, LeaseUntil: e.now.Add(time.Minute)})
		eq(t, "claimed the oldest", jobKeys(jobs), keys([2]string{m1.ID, ep.ID}))
		eq(t, "leased", stats(e.now), store.QueueStats{DueFirst: 1, OldestDue: m2.CreatedAt})
		// Once the lease ends it is due again, since the lease's end.
		eq(t, "lease ended", stats(e.now.Add(time.Minute)), store.QueueStats{DueFirst: 2, OldestDue: m2.CreatedAt})

		// A failed attempt moves it to the retries, due at its next attempt.
		retryAt := e.now.Add(10 * time.Second)
		e.fail(jobs[0], e.now, retryAt)
		eq(t, "retry not yet due", stats(e.now), store.QueueStats{DueFirst: 1, OldestDue: m2.CreatedAt})
		eq(t, "retry due", stats(retryAt), store.QueueStats{DueFirst: 1, DueRetry: 1, OldestDue: m2.CreatedAt})
		later := e.now.Add(time.Hour)
		eq(t, "all due", stats(later), store.QueueStats{DueFirst: 2, DueRetry: 1, OldestDue: m2.CreatedAt})

		// The oldest due can be a retry.
		eq(t, "claim first attempts", len(e.claim(store.ClaimParams{Now: later, LeaseUntil: later.Add(time.Hour)})), 2)
		eq(t, "only the retry", stats(later), store.QueueStats{DueRetry: 1, OldestDue: retryAt})

		// A manual attempt (here of a skipped delivery) counts with the
		// retries.
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m1.ID, EndpointID: off.ID, Now: later}), "resend")
		eq(t, "manual", stats(later), store.QueueStats{DueRetry: 2, OldestDue: retryAt})
		retries := e.claim(store.ClaimParams{Now: later, Retries: true})
		eq(t, "retries claimed", jobKeys(retries), keys([2]string{m1.ID, ep.ID}, [2]string{m1.ID, off.ID}))
		for _, j := range retries {
			e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, later, 200), Status: store.StatusSuccess})
		}
		eq(t, "finished or leased deliveries are not due", stats(later), store.QueueStats{})
		if got := (&store.QueueStats{DueFirst: 2, DueRetry: 3}).Due(); got != 5 {
			t.Fatalf("Due() = %d, want 5", got)
		}
	})
	run(t, newStore, "ExcludeEndpoints", func(t *testing.T, e *env) {
		a := e.app()
		ep1, ep2, ep3 := e.endpoint(a.ID), e.endpoint(a.ID), e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		jobs := e.claim(store.ClaimParams{Now: e.now, ExcludeEndpoints: []string{ep1.ID, ep3.ID}})
		eq(t, "not excluded", jobKeys(jobs), keys([2]string{m.ID, ep2.ID}))
		eq(t, "excluded", jobKeys(e.claim(store.ClaimParams{Now: e.now})), keys([2]string{m.ID, ep1.ID}, [2]string{m.ID, ep3.ID}))
	})
	run(t, newStore, "DueSince", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		old, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-time.Minute) })
		recent, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-time.Second) })
		jobs := e.claim(store.ClaimParams{Now: e.now, DueSince: e.now.Add(-10 * time.Second)})
		eq(t, "due since", jobKeys(jobs), keys([2]string{recent.ID, ep.ID}))
		eq(t, "the older one", jobKeys(e.claim(store.ClaimParams{Now: e.now})), keys([2]string{old.ID, ep.ID}))
	})
	run(t, newStore, "ExpiredLease", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		until := e.now.Add(time.Minute)
		first := e.claim(store.ClaimParams{Now: e.now, LeaseUntil: until})
		eq(t, "claimed", len(first), 1)
		eq(t, "before expiry", len(e.claim(store.ClaimParams{Now: until.Add(-time.Microsecond)})), 0)
		second := e.claim(store.ClaimParams{Now: until, LeaseUntil: until.Add(time.Minute)})
		eq(t, "reclaimed", jobKeys(second), keys([2]string{m.ID, ep.ID}))
		if second[0].Lease == first[0].Lease {
			t.Fatal("reclaimed with the old lease")
		}
		// The crashed worker's late completion records its attempt and
		// changes nothing else.
		before := e.delivery(m.ID, ep.ID)
		late := attemptFor(first[0], until, 200)
		e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: first[0].Lease, Attempt: late, Status: store.StatusSuccess})
		eq(t, "delivery after stale completion", *e.delivery(m.ID, ep.ID), *before)
		_, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: m.ID, ID: late.ID})
		ok(t, err, "stale attempt recorded")
		// The current holder completes.
		e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: second[0].Lease, Attempt: attemptFor(second[0], until, 200), Status: store.StatusSuccess})
		d := e.delivery(m.ID, ep.ID)
		if d.Status != store.StatusSuccess || d.Attempts != 1 {
			t.Fatalf("after completion: %#v", d)
		}
	})
	run(t, newStore, "Concurrent", func(t *testing.T, e *env) {
		a := e.app()
		for range 4 {
			e.endpoint(a.ID)
		}
		const messages = 500 // 2,000 deliveries
		var batch []store.CreateMessageParams
		for range messages {
			batch = append(batch, store.CreateMessageParams{Message: e.msg(a.ID)})
			if len(batch) == 100 {
				for _, r := range e.create(batch...) {
					ok(t, r.Err, "create")
				}
				batch = nil
			}
		}
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
			errs = make(chan error, 8)
		)
		for w := range 8 {
			wg.Go(func() {
				for {
					jobs, err := e.s.ClaimDeliveries(e.ctx, store.ClaimParams{Now: e.now, LeaseUntil: e.now.Add(time.Hour), Lease: int64(w + 1), Limit: 37})
					if err != nil {
						errs <- err
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						seen[j.MsgID+"/"+j.EndpointID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			ok(t, err, "concurrent claim")
		}
		eq(t, "distinct deliveries claimed", len(seen), messages*4)
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("delivery %s claimed %d times", k, n)
			}
		}
	})
}

func exerciseComplete(t *testing.T, newStore func(t *testing.T) store.Store) {

	run(t, newStore, "ResponseBytes", func(t *testing.T, e *env) {
		// A receiver's body may hold any bytes (a NUL, bytes that are
		// not UTF-8, a character cut by the size limit): every driver
		// records it, as text, each such byte replaced by U+FFFD, and
		// records the other attempts of the batch.
		a := e.app()
		for range 4 {
			e.endpoint(a.ID)
		}
		e.send(a.ID)
		jobs := e.claim(store.ClaimParams{Now: e.now})
		eq(t, "claimed", len(jobs), 4)
		bodies := map[string]string{"a\x00b": "a\uFFFDb", "a\xffb": "a\uFFFDb", "\xe2\x82": "\uFFFD", "ok é": "ok é"}
		var cs []store.Completion
		want := map[string]string{}
		i := 0
		for in, out := range bodies {
			att := attemptFor(jobs[i], e.now, 500)
			att.Response = in
			want[att.ID] = out
			cs = append(cs, store.Completion{MsgID: jobs[i].MsgID, EndpointID: jobs[i].EndpointID, Lease: jobs[i].Lease, Attempt: att, Status: store.StatusFail})
			i++
		}
		e.complete(cs...)
		ats, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, MsgID: jobs[0].MsgID, WithContent: true})
		ok(t, err, "list attempts")
		eq(t, "attempts", len(ats), 4)
		for _, at := range ats {
			eq(t, "response of "+at.ID, at.Response, want[at.ID])
		}
	})
	for _, c := range []struct {
		name   string
		status store.DeliveryStatus
		code   int
	}{{"Success", store.StatusSuccess, 200}, {"Fail", store.StatusFail, 0}} {
		run(t, newStore, c.name, func(t *testing.T, e *env) {
			_, j := e.claimOne()
			at := e.now.Add(3 * time.Second)
			att := attemptFor(j, at, c.code)
			e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: att, Status: c.status, NextAttemptAt: at.Add(time.Hour)})
			want := j.Delivery
			want.Status, want.Attempts, want.NextAttemptAt, want.Lease = c.status, 1, time.Time{}, 0
			want.LastAttemptAt, want.LastStatusCode, want.UpdatedAt = at, c.code, at
			eq(t, "delivery", *e.delivery(j.MsgID, j.EndpointID), want)
			got, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: j.AppID, MsgID: j.MsgID, ID: att.ID})
			ok(t, err, "get attempt")
			eq(t, "attempt", *got, *att)
		})
	}
	run(t, newStore, "Retry", func(t *testing.T, e *env) {
		_, j := e.claimOne()
		at, next := e.now.Add(time.Second), e.now.Add(time.Minute)
		e.fail(j, at, next)
		d := e.delivery(j.MsgID, j.EndpointID)
		if d.Status != store.StatusPending || d.Attempts != 1 || !d.NextAttemptAt.Equal(next) || d.Lease != 0 || d.LastStatusCode != 500 || !d.LastAttemptAt.Equal(at) {
			t.Fatalf("after a failed attempt: %#v", d)
		}
		eq(t, "reported", d.ReportedStatus(), store.StatusSending)
		eq(t, "before next attempt", len(e.claim(store.ClaimParams{Now: next.Add(-time.Microsecond), Retries: true})), 0)
		jobs := e.claim(store.ClaimParams{Now: next, Retries: true})
		eq(t, "retry", len(jobs), 1)
		eq(t, "attempts so far", jobs[0].Attempts, 1)
		e.fail(jobs[0], next, next.Add(time.Hour))
		eq(t, "attempts", e.delivery(j.MsgID, j.EndpointID).Attempts, 2)
	})
	run(t, newStore, "ManualCleared", func(t *testing.T, e *env) {
		_, j := e.claimOne()
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID, Now: e.now.Add(time.Second)}), "resend")
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Second), Retries: true})
		eq(t, "manual claimed", len(jobs), 1)
		if !jobs[0].Manual {
			t.Fatal("claimed job is not manual")
		}
		e.fail(jobs[0], e.now.Add(2*time.Second), e.now.Add(time.Hour))
		d := e.delivery(j.MsgID, j.EndpointID)
		if d.Manual || d.Attempts != 2 || d.Status != store.StatusPending {
			t.Fatalf("after manual attempt: %#v", d)
		}
	})
	run(t, newStore, "DisableEndpoint", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		at := e.now.Add(time.Minute)
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 410), Status: store.StatusFail, DisableEndpoint: true})
		got, err := e.s.GetEndpointByID(e.ctx, ep.ID)
		ok(t, err, "get endpoint")
		if !got.Disabled || !got.UpdatedAt.After(ep.UpdatedAt) {
			t.Fatalf("endpoint after 410: disabled %v, updated %v (was %v)", got.Disabled, got.UpdatedAt, ep.UpdatedAt)
		}
		_, res := e.send(j.AppID)
		eq(t, "next message skipped", res.Skipped, 1)
	})
	run(t, newStore, "FailingSince", func(t *testing.T, e *env) {
		ep, j := e.claimOne()
		t1 := e.now.Add(time.Second)
		e.fail(j, t1, t1)
		failing := func() time.Time {
			got, err := e.s.GetEndpointByID(e.ctx, ep.ID)
			ok(t, err, "get endpoint")
			if !got.UpdatedAt.Equal(ep.UpdatedAt) {
				t.Fatal("FailingSince bumped UpdatedAt")
			}
			return got.FailingSince
		}
		sameTime(t, "failing since first failure", failing(), t1)
		jobs := e.claim(store.ClaimParams{Now: t1, Retries: true})
		e.fail(jobs[0], t1.Add(time.Second), t1.Add(time.Minute))
		sameTime(t, "failing since unchanged", failing(), t1)
		jobs = e.claim(store.ClaimParams{Now: t1.Add(time.Minute), Retries: true})
		e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: jobs[0].Lease, Attempt: attemptFor(jobs[0], t1.Add(time.Minute), 204), Status: store.StatusSuccess})
		sameTime(t, "cleared by a success", failing(), time.Time{})
	})
	run(t, newStore, "Batch", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		for range 3 {
			e.send(a.ID)
		}
		jobs := e.claim(store.ClaimParams{Now: e.now})
		var cs []store.Completion
		for i, j := range jobs {
			lease := j.Lease
			if i == 2 {
				lease++ // stale
			}
			cs = append(cs, store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: lease, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
		}
		e.complete(cs...)
		var statuses []store.DeliveryStatus
		for _, j := range jobs {
			statuses = append(statuses, e.delivery(j.MsgID, ep.ID).Status)
		}
		eq(t, "statuses", statuses, []store.DeliveryStatus{store.StatusSuccess, store.StatusSuccess, store.StatusPending})
		atts, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, EndpointID: ep.ID})
		ok(t, err, "list attempts")
		eq(t, "attempts recorded", len(atts), 3)
	})
	run(t, newStore, "Release", func(t *testing.T, e *env) {
		_, j := e.claimOne()
		next := e.now.Add(5 * time.Second)
		ok(t, e.s.ReleaseDeliveries(e.ctx, []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease + 1, NextAttemptAt: next}}), "stale release")
		eq(t, "stale release ignored", e.delivery(j.MsgID, j.EndpointID).Lease, j.Lease)
		ok(t, e.s.ReleaseDeliveries(e.ctx, []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, NextAttemptAt: next}}), "release")
		d := e.delivery(j.MsgID, j.EndpointID)
		if d.Lease != 0 || !d.NextAttemptAt.Equal(next) || d.Attempts != 0 || d.Status != store.StatusPending {
			t.Fatalf("released: %#v", d)
		}
		eq(t, "before due", len(e.claim(store.ClaimParams{Now: next.Add(-time.Microsecond)})), 0)
		eq(t, "due again as a first attempt", len(e.claim(store.ClaimParams{Now: next})), 1)
	})
}

func exerciseResend(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "CreatesMissing", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"other"} })
		m, _ := e.send(a.ID)
		at := e.now.Add(time.Minute)
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: at}), "resend")
		eq(t, "created", *e.delivery(m.ID, ep.ID), store.Delivery{
			AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Status: store.StatusPending, NextAttemptAt: at,
			Manual: true, CreatedAt: at, UpdatedAt: at,
		})
	})
	for _, c := range []struct {
		name   string
		status store.DeliveryStatus
	}{{"Success", store.StatusSuccess}, {"Fail", store.StatusFail}, {"Skipped", store.StatusSkipped}} {
		run(t, newStore, "Finished"+c.name, func(t *testing.T, e *env) {
			a := e.app()
			ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = c.status == store.StatusSkipped })
			m, _ := e.send(a.ID)
			if c.status != store.StatusSkipped {
				j := e.claim(store.ClaimParams{Now: e.now})[0]
				e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 200), Status: c.status})
			}
			before := e.delivery(m.ID, ep.ID)
			at := e.now.Add(time.Minute)
			ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: at}), "resend")
			want := *before
			want.Status, want.Manual, want.NextAttemptAt, want.UpdatedAt = store.StatusPending, true, at, at
			eq(t, "resent", *e.delivery(m.ID, ep.ID), want)
			jobs := e.claim(store.ClaimParams{Now: at, Retries: true})
			eq(t, "claimed manual", jobKeys(jobs), keys([2]string{m.ID, ep.ID}))
		})
	}
	run(t, newStore, "Pending", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		j := e.claim(store.ClaimParams{Now: e.now})[0]
		e.fail(j, e.now, e.now.Add(time.Hour))
		at := e.now.Add(time.Minute)
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: at}), "resend")
		d := e.delivery(m.ID, ep.ID)
		if d.Status != store.StatusPending || !d.NextAttemptAt.Equal(at) || d.Attempts != 1 {
			t.Fatalf("resent pending: %#v", d)
		}
		eq(t, "due now", len(e.claim(store.ClaimParams{Now: at, Retries: true})), 1)
	})
	run(t, newStore, "Leased", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		e.claim(store.ClaimParams{Now: e.now, LeaseUntil: e.now.Add(time.Minute)})
		before := e.delivery(m.ID, ep.ID)
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: e.now.Add(time.Second)}), "resend")
		eq(t, "leased delivery left alone", *e.delivery(m.ID, ep.ID), *before)
	})
	run(t, newStore, "NotFound", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		ep := e.endpoint(a.ID)
		epB := e.endpoint(b.ID)
		m, _ := e.send(a.ID)
		isErr(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: "msg_missing", EndpointID: ep.ID, Now: e.now}), store.ErrNotFound, "missing message")
		isErr(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: "ep_missing", Now: e.now}), store.ErrNotFound, "missing endpoint")
		isErr(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: epB.ID, Now: e.now}), store.ErrNotFound, "another app's endpoint")
		isErr(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: b.ID, MsgID: m.ID, EndpointID: epB.ID, Now: e.now}), store.ErrNotFound, "another app's message")
	})
}

func exerciseRecover(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Window", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		other := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		var ms []*store.Message
		for i := range 6 {
			m, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i-6) * time.Hour) })
			ms = append(ms, m)
		}
		// Message 2 failed, message 3 succeeded (after a manual resend),
		// the rest were skipped.
		for i, st := range map[int]store.DeliveryStatus{2: store.StatusFail, 3: store.StatusSuccess} {
			ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: ms[i].ID, EndpointID: ep.ID, Now: e.now}), "resend")
			j := e.claim(store.ClaimParams{Now: e.now, Retries: true, ExcludeEndpoints: []string{other.ID}})[0]
			e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 500), Status: st})
		}
		now := e.now.Add(time.Minute)
		p := store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: ms[1].CreatedAt, Until: ms[5].CreatedAt, Limit: 2, Now: now}
		last, err := e.s.RecoverDeliveries(e.ctx, p)
		ok(t, err, "recover")
		eq(t, "first page ends at", last, ms[2].ID)
		for _, i := range []int{1, 2} {
			d := e.delivery(ms[i].ID, ep.ID)
			if d.Status != store.StatusPending || !d.Manual || !d.NextAttemptAt.Equal(now) || d.Lease != 0 {
				t.Fatalf("recovered delivery %d: %#v", i, d)
			}
		}
		p.AfterMsgID = last
		last, err = e.s.RecoverDeliveries(e.ctx, p)
		ok(t, err, "recover page 2")
		eq(t, "second page ends at", last, ms[4].ID) // 3 succeeded: not taken
		p.AfterMsgID = last
		last, err = e.s.RecoverDeliveries(e.ctx, p)
		ok(t, err, "recover page 3")
		eq(t, "nothing left", last, "")

		for i, want := range []store.DeliveryStatus{store.StatusSkipped, store.StatusPending, store.StatusPending, store.StatusSuccess, store.StatusPending, store.StatusSkipped} {
			eq(t, fmt.Sprintf("message %d status", i), e.delivery(ms[i].ID, ep.ID).Status, want)
			eq(t, fmt.Sprintf("other endpoint, message %d", i), e.delivery(ms[i].ID, other.ID).Status, store.StatusSkipped)
		}
		jobs := e.claim(store.ClaimParams{Now: now, Retries: true, ExcludeEndpoints: []string{other.ID}})
		eq(t, "recovered are claimable", len(jobs), 3)

		// No upper bound; another app sees nothing.
		last, err = e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: e.app().ID, EndpointID: ep.ID, Since: ms[0].CreatedAt, Now: now})
		ok(t, err, "recover through another app")
		eq(t, "another app", last, "")
		last, err = e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: ms[0].CreatedAt, Now: now})
		ok(t, err, "recover without upper bound")
		eq(t, "open window", last, ms[5].ID)
	})
}

// exerciseFarTimes pins that time bounds an id cannot encode (before the
// Unix epoch; after the year 10889) bound by time alone: every view filtered
// "since 1960" sees today's rows, and one "since the year 9999" none.
func exerciseFarTimes(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "BeforeTheEpoch", func(t *testing.T, e *env) {
		a := e.app()
		live := e.endpoint(a.ID)
		off := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		m1, _ := e.send(a.ID)
		m2, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Second) })
		for _, j := range e.claim(store.ClaimParams{Now: e.now.Add(time.Second)}) {
			e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease,
				Attempt: attemptFor(j, e.now.Add(time.Second), 500), Status: store.StatusFail})
		}
		for _, c := range []struct {
			at   time.Time
			want int
		}{
			{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 2},
			{time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), 2},
			{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 0},
		} {
			what := c.at.Format(time.RFC3339)
			msgs, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, After: c.at})
			ok(t, err, "list messages")
			eq(t, "messages after "+what, len(msgs), c.want)
			ems, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: live.ID, After: c.at})
			ok(t, err, "list endpoint messages")
			eq(t, "endpoint messages after "+what, len(ems), c.want)
			ats, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, EndpointID: live.ID, After: c.at})
			ok(t, err, "list attempts")
			eq(t, "attempts after "+what, len(ats), c.want)
			st, err := e.s.EndpointStats(e.ctx, store.EndpointStatsParams{EndpointID: live.ID, Since: c.at, Until: time.Time{}})
			ok(t, err, "endpoint stats")
			eq(t, "failed since "+what, st.Fail, int64(c.want))
		}
		// Recovering changes the deliveries: the empty window first.
		for _, c := range []struct {
			at   time.Time
			want string
		}{
			{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ""},
			{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), m2.ID},
		} {
			last, err := e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: off.ID, Since: c.at, Limit: 10, Now: e.now})
			ok(t, err, "recover")
			if last != c.want {
				t.Fatalf("recover since %v: last %q, want %q (first %q)", c.at, last, c.want, m1.ID)
			}
		}
	})
}

func exerciseViews(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Destinations", func(t *testing.T, e *env) {
		a := e.app()
		var eps []*store.Endpoint
		for i := range 4 {
			eps = append(eps, e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = i == 1; ep.URL = fmt.Sprintf("https://e%d.example", i) }))
		}
		m, _ := e.send(a.ID)
		ds, err := e.s.ListMessageDestinations(e.ctx, a.ID, m.ID, store.Page{})
		ok(t, err, "list destinations")
		var got []string
		for _, d := range ds {
			if d.Endpoint.ID != d.Delivery.EndpointID || d.Delivery.MsgID != m.ID {
				t.Fatalf("destination mismatch %#v", d)
			}
			got = append(got, d.Endpoint.URL)
		}
		eq(t, "destinations without the skipped one", got, []string{"https://e0.example", "https://e2.example", "https://e3.example"})
		eq(t, "endpoint", *ds[0].Endpoint, *eps[0])
		ds, err = e.s.ListMessageDestinations(e.ctx, e.app().ID, m.ID, store.Page{})
		ok(t, err, "list through another app")
		eq(t, "another app", len(ds), 0)
	})
	run(t, newStore, "EndpointMessages", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"invoice.paid", "other"} })
		var ms []*store.Message
		for i, ch := range [][]string{nil, {"x"}, {"x"}, nil} {
			m, _ := e.send(a.ID, func(m *store.Message) {
				m.Channels = ch
				m.CreatedAt = e.now.Add(time.Duration(i) * time.Second)
				if i == 3 {
					m.EventType = "other"
				}
			})
			ms = append(ms, m)
		}
		// 0 succeeds, 1 fails for good, 2 is retrying, 3 is untouched.
		for _, j := range e.claim(store.ClaimParams{Now: e.now.Add(time.Minute), Limit: 3}) {
			switch j.MsgID {
			case ms[0].ID:
				e.complete(store.Completion{MsgID: j.MsgID, EndpointID: ep.ID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 200), Status: store.StatusSuccess})
			case ms[1].ID:
				e.complete(store.Completion{MsgID: j.MsgID, EndpointID: ep.ID, Lease: j.Lease, Attempt: attemptFor(j, e.now, 500), Status: store.StatusFail})
			default:
				e.fail(j, e.now, e.now.Add(time.Hour))
			}
		}
		// Skipped deliveries are not listed.
		ep2 := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		e.send(a.ID, func(m *store.Message) { m.EventType = "skipped.only" })

		list := func(p store.ListEndpointMessagesParams) []string {
			t.Helper()
			p.AppID = a.ID
			if p.EndpointID == "" {
				p.EndpointID = ep.ID
			}
			got, err := e.s.ListEndpointMessages(e.ctx, p)
			ok(t, err, "list endpoint messages")
			var out []string
			for _, em := range got {
				if em.Delivery.MsgID != em.Message.ID || (em.Message.Payload != nil) != p.WithContent {
					t.Fatalf("endpoint message %#v", em)
				}
				out = append(out, em.Message.ID)
			}
			return out
		}
		idsOf := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, ms[i].ID)
			}
			return out
		}
		eq(t, "desc", list(store.ListEndpointMessagesParams{Page: store.Page{Desc: true}, WithContent: true}), idsOf(3, 2, 1, 0))
		eq(t, "asc", list(store.ListEndpointMessagesParams{}), idsOf(0, 1, 2, 3))
		eq(t, "channel", list(store.ListEndpointMessagesParams{Channel: "x"}), idsOf(1, 2))
		eq(t, "event types", list(store.ListEndpointMessagesParams{EventTypes: []string{"other"}}), idsOf(3))
		eq(t, "after", list(store.ListEndpointMessagesParams{After: ms[1].CreatedAt}), idsOf(2, 3))
		eq(t, "before", list(store.ListEndpointMessagesParams{Before: ms[1].CreatedAt}), idsOf(0))
		for st, want := range map[store.DeliveryStatus][]string{
			store.StatusSuccess: idsOf(0), store.StatusFail: idsOf(1), store.StatusSending: idsOf(2), store.StatusPending: idsOf(3),
		} {
			eq(t, fmt.Sprintf("status %d", st), list(store.ListEndpointMessagesParams{Status: ptr(st)}), want)
		}
		eq(t, "skipped only", len(list(store.ListEndpointMessagesParams{EndpointID: ep2.ID})), 0)
		got, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: e.app().ID, EndpointID: ep.ID})
		ok(t, err, "list through another app")
		eq(t, "another app", len(got), 0)
	})
	run(t, newStore, "Stats", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		var ms []*store.Message
		for i := range 5 {
			m, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i) * time.Second) })
			ms = append(ms, m)
		}
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Minute), Limit: 3})
		slices.SortFunc(jobs, func(x, y *store.Job) int { return cmpString(x.MsgID, y.MsgID) })
		e.complete(store.Completion{MsgID: jobs[0].MsgID, EndpointID: ep.ID, Lease: jobs[0].Lease, Attempt: attemptFor(jobs[0], e.now, 200), Status: store.StatusSuccess})
		e.complete(store.Completion{MsgID: jobs[1].MsgID, EndpointID: ep.ID, Lease: jobs[1].Lease, Attempt: attemptFor(jobs[1], e.now, 500), Status: store.StatusFail})
		e.fail(jobs[2], e.now, e.now.Add(time.Hour))
		_, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, Disabled: ptr(true), UpdatedAt: e.now})
		ok(t, err, "disable")
		e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(10 * time.Second) })

		stats := func(since, until time.Time) store.Stats {
			st, err := e.s.EndpointStats(e.ctx, store.EndpointStatsParams{EndpointID: ep.ID, Since: since, Until: until})
			ok(t, err, "stats")
			return *st
		}
		eq(t, "all", stats(time.Time{}, time.Time{}), store.Stats{Success: 1, Fail: 1, Sending: 1, Pending: 2, Canceled: 1})
		eq(t, "window", stats(ms[1].CreatedAt, ms[4].CreatedAt), store.Stats{Fail: 1, Sending: 1, Pending: 1})
		eq(t, "since", stats(ms[4].CreatedAt, time.Time{}), store.Stats{Pending: 1, Canceled: 1})
		eq(t, "until", stats(time.Time{}, ms[1].CreatedAt), store.Stats{Success: 1})
		eq(t, "unknown endpoint", func() store.Stats {
			st, err := e.s.EndpointStats(e.ctx, store.EndpointStatsParams{EndpointID: "ep_missing", Since: time.Time{}, Until: time.Time{}})
			ok(t, err, "stats")
			return *st
		}(), store.Stats{})
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func exerciseCascade(t *testing.T, newStore func(t *testing.T) store.Store) {
	// populate gives an app two endpoints, messages to both, and an attempt
	// on each delivery.
	populate := func(e *env) (*store.App, []*store.Endpoint, []*store.Message, []*store.Attempt) {
		e.t.Helper()
		a := e.app()
		eps := []*store.Endpoint{e.endpoint(a.ID), e.endpoint(a.ID)}
		var ms []*store.Message
		for range 2 {
			m, _ := e.send(a.ID)
			ms = append(ms, m)
		}
		var atts []*store.Attempt
		for _, j := range e.claim(store.ClaimParams{Now: e.now}) {
			atts = append(atts, e.fail(j, e.now, e.now.Add(time.Hour)))
		}
		return a, eps, ms, atts
	}
	run(t, newStore, "DeleteApp", func(t *testing.T, e *env) {
		a, eps, ms, atts := populate(e)
		b, _, msB, attsB := populate(e)
		ok(t, e.s.DeleteApp(e.ctx, a.ID), "delete app")
		for _, ep := range eps {
			_, err := e.s.GetEndpointByID(e.ctx, ep.ID)
			isErr(t, err, store.ErrNotFound, "endpoint of deleted app")
			for _, m := range ms {
				_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: m.ID, EndpointID: ep.ID})
				isErr(t, err, store.ErrNotFound, "delivery of deleted app")
			}
		}
		for _, m := range ms {
			_, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
			isErr(t, err, store.ErrNotFound, "message of deleted app")
		}
		for _, at := range atts {
			_, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: at.MsgID, ID: at.ID})
			isErr(t, err, store.ErrNotFound, "attempt of deleted app")
		}
		eq(t, "nothing left to claim of the deleted app", len(e.claim(store.ClaimParams{Now: e.now.Add(2 * time.Hour), Retries: true})), 4)
		for _, at := range attsB {
			_, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: b.ID, MsgID: at.MsgID, ID: at.ID})
			ok(t, err, "other app's attempt")
		}
		_, err := e.s.GetMessage(e.ctx, b.ID, msB[0].ID)
		ok(t, err, "other app's message")
	})
	run(t, newStore, "DeleteEndpoint", func(t *testing.T, e *env) {
		a, eps, ms, atts := populate(e)
		ok(t, e.s.DeleteEndpoint(e.ctx, a.ID, eps[0].ID), "delete endpoint")
		for _, m := range ms {
			_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: m.ID, EndpointID: eps[0].ID})
			isErr(t, err, store.ErrNotFound, "delivery of deleted endpoint")
			_ = e.delivery(m.ID, eps[1].ID)
			_, err = e.s.GetMessage(e.ctx, a.ID, m.ID)
			ok(t, err, "message survives")
		}
		for _, at := range atts {
			_, err := e.s.GetAttempt(e.ctx, store.AttemptKey{AppID: a.ID, MsgID: at.MsgID, ID: at.ID})
			if at.EndpointID == eps[0].ID {
				isErr(t, err, store.ErrNotFound, "attempt of deleted endpoint")
			} else {
				ok(t, err, "attempt of the other endpoint")
			}
		}
		// A worker completing a delivery of the deleted endpoint does not
		// break the batch.
		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Hour), Retries: true})
		eq(t, "claimable", len(jobs), 2)
		ghost := &store.Job{Delivery: store.Delivery{AppID: a.ID, MsgID: ms[0].ID, EndpointID: eps[0].ID, Lease: 1}}
		e.complete(
			store.Completion{MsgID: ms[0].ID, EndpointID: eps[0].ID, Lease: 1, Attempt: attemptFor(ghost, e.now, 200), Status: store.StatusSuccess},
			store.Completion{MsgID: jobs[0].MsgID, EndpointID: jobs[0].EndpointID, Lease: jobs[0].Lease, Attempt: attemptFor(jobs[0], e.now, 200), Status: store.StatusSuccess},
		)
		eq(t, "live completion applied", e.delivery(jobs[0].MsgID, jobs[0].EndpointID).Status, store.StatusSuccess)
	})
	run(t, newStore, "Tokens", func(t *testing.T, e *env) {
		a := e.app()
		tk := &store.Token{ID: ids.New(ids.Token), Hash: []byte("h"), AppID: a.ID, CreatedAt: e.now}
		ok(t, e.s.CreateToken(e.ctx, tk), "create token")
		ok(t, e.s.DeleteApp(e.ctx, a.ID), "delete app")
		_, err := e.s.GetTokenByHash(e.ctx, tk.Hash)
		isErr(t, err, store.ErrNotFound, "portal token of a deleted app")
	})
}

func exerciseTargeted(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "EndpointOnly", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		filtered := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.EventTypes = []string{"other"}; ep.Channels = []string{"z"} })
		all := e.endpoint(a.ID)
		disabled := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		foreign := e.endpoint(b.ID)

		m := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: m, EndpointID: filtered.ID})
		ok(t, res[0].Err, "create test message")
		eq(t, "only the named endpoint, whatever its filters", jobKeys(res[0].Jobs), keys([2]string{m.ID, filtered.ID}))
		_, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: m.ID, EndpointID: all.ID})
		isErr(t, err, store.ErrNotFound, "no delivery to the other endpoints")

		m2 := e.msg(a.ID)
		res = e.create(store.CreateMessageParams{Message: m2, EndpointID: disabled.ID})
		ok(t, res[0].Err, "create test message to a disabled endpoint")
		if len(res[0].Jobs) != 0 || res[0].Skipped != 1 {
			t.Fatalf("to a disabled endpoint: %d jobs, %d skipped", len(res[0].Jobs), res[0].Skipped)
		}

		m3 := e.msg(a.ID)
		res = e.create(store.CreateMessageParams{Message: m3, EndpointID: foreign.ID}, store.CreateMessageParams{Message: e.msg(a.ID)})
		isErr(t, res[0].Err, store.ErrNotFound, "another app's endpoint")
		ok(t, res[1].Err, "the rest of the batch")
		_, err = e.s.GetMessage(e.ctx, a.ID, m3.ID)
		isErr(t, err, store.ErrNotFound, "message to a missing endpoint not stored")
	})
	run(t, newStore, "CompleteWithoutAttempt", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		j := e.claim(store.ClaimParams{Now: e.now})[0]
		// A stale one changes nothing.
		e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: j.Lease + 1, Status: store.StatusSkipped})
		eq(t, "after a stale completion", *e.delivery(m.ID, ep.ID), j.Delivery)
		e.complete(store.Completion{MsgID: m.ID, EndpointID: ep.ID, Lease: j.Lease, Status: store.StatusSkipped})
		want := j.Delivery
		want.Status, want.NextAttemptAt, want.Lease = store.StatusSkipped, time.Time{}, 0
		got := e.delivery(m.ID, ep.ID)
		want.UpdatedAt = got.UpdatedAt // no time to set it to
		eq(t, "skipped without an attempt", *got, want)
		atts, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, MsgID: m.ID})
		ok(t, err, "list attempts")
		eq(t, "no attempt recorded", len(atts), 0)
		last, err := e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: m.CreatedAt, Now: e.now})
		ok(t, err, "recover")
		eq(t, "recoverable", last, m.ID)
	})
}

package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// exerciseParked checks parked deliveries (the store package doc): due,
// waiting for room at their endpoint, taken only by claims with Parked.
func exerciseParked(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Create", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		full := e.endpoint(a.ID)
		until := e.now.Add(time.Minute)
		m := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: m, Lease: 42, LeaseUntil: until, NoLease: []string{full.ID}})
		ok(t, res[0].Err, "create")
		d := e.delivery(m.ID, full.ID)
		if d.Status != store.StatusPending || d.Lease != 0 || !d.NextAttemptAt.IsZero() {
			t.Fatalf("delivery to the endpoint with no room: status %d, lease %d, next %v; want parked", d.Status, d.Lease, d.NextAttemptAt)
		}
		later := until.Add(-time.Second) // the other delivery is still leased
		eq(t, "first attempts", len(e.claim(store.ClaimParams{Now: later})), 0)
		eq(t, "retries", len(e.claim(store.ClaimParams{Now: later, Retries: true})), 0)

		// Without a lease, or for a scheduled message, nothing is parked.
		m2 := e.msg(a.ID)
		e.create(store.CreateMessageParams{Message: m2, NoLease: []string{full.ID}})
		eq(t, "not leased: due", e.delivery(m2.ID, full.ID).NextAttemptAt, m2.CreatedAt)
		at := e.now.Add(time.Hour)
		m3 := e.msg(a.ID, func(m *store.Message) { m.DeliverAt = at })
		e.create(store.CreateMessageParams{Message: m3, Lease: 43, LeaseUntil: until, NoLease: []string{full.ID}})
		eq(t, "scheduled: due at its time", e.delivery(m3.ID, full.ID).NextAttemptAt, at)

		// A parked claim takes it, leased like any claim.
		jobs := e.claim(store.ClaimParams{Now: e.now, Parked: true})
		eq(t, "parked claim", jobKeys(jobs), keys([2]string{m.ID, full.ID}))
		j := jobs[0]
		if j.Payload == nil || j.EventType != m.EventType || !j.MsgCreatedAt.Equal(m.CreatedAt) || j.AppID != a.ID {
			t.Fatalf("parked job: %+v", j)
		}
		eq(t, "parked claim again", len(e.claim(store.ClaimParams{Now: e.now, Parked: true})), 0)
		_ = ep
	})
	run(t, newStore, "Claim", func(t *testing.T, e *env) {
		a := e.app()
		eps := []*store.Endpoint{e.endpoint(a.ID), e.endpoint(a.ID), e.endpoint(a.ID)}
		noLease := []string{eps[0].ID, eps[1].ID, eps[2].ID}
		until := e.now.Add(30 * time.Second) // before the claims' leases end
		var ms []*store.Message
		for i := range 3 {
			m := e.msg(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i-3) * time.Second) })
			ms = append(ms, m)
			// The third endpoint's later deliveries are leased, not
			// parked: parked claims never take those.
			nl := noLease
			if i > 0 {
				nl = noLease[:2]
			}
			e.create(store.CreateMessageParams{Message: m, Lease: int64(100 + i), LeaseUntil: until, NoLease: nl})
		}
		// eps[0] has 3 parked, eps[1] 3, eps[2] 1 (the first message's).
		jobs := e.claim(store.ClaimParams{Now: e.now, Parked: true, PerEndpoint: 2, ExcludeEndpoints: []string{eps[1].ID}})
		eq(t, "two of each endpoint with room, oldest first", jobKeys(jobs),
			keys([2]string{ms[0].ID, eps[0].ID}, [2]string{ms[1].ID, eps[0].ID}, [2]string{ms[0].ID, eps[2].ID}))
		jobs = e.claim(store.ClaimParams{Now: e.now, Parked: true, Limit: 2})
		eq(t, "the rest, within the limit", len(jobs), 2)
		jobs = append(jobs, e.claim(store.ClaimParams{Now: e.now, Parked: true})...)
		eq(t, "the rest", jobKeys(jobs),
			keys([2]string{ms[2].ID, eps[0].ID}, [2]string{ms[0].ID, eps[1].ID}, [2]string{ms[1].ID, eps[1].ID}, [2]string{ms[2].ID, eps[1].ID}))
		eq(t, "none left", len(e.claim(store.ClaimParams{Now: e.now, Parked: true})), 0)
		// The leased ones are the due-time claims' once their lease ends.
		eq(t, "due", jobKeys(e.claim(store.ClaimParams{Now: until})), keys([2]string{ms[1].ID, eps[2].ID}, [2]string{ms[2].ID, eps[2].ID}))
	})
	run(t, newStore, "Release", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID)
		j := e.claim(store.ClaimParams{Now: e.now})[0]
		parkedAt := e.now.Add(5 * time.Second)
		ok(t, e.s.ReleaseDeliveries(e.ctx, []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, At: parkedAt}}), "park")
		d := e.delivery(m.ID, ep.ID)
		if d.Status != store.StatusPending || d.Lease != 0 || !d.NextAttemptAt.IsZero() {
			t.Fatalf("released delivery: status %d, lease %d, next %v; want parked", d.Status, d.Lease, d.NextAttemptAt)
		}
		later := e.now.Add(time.Hour)
		eq(t, "not due", len(e.claim(store.ClaimParams{Now: later})), 0)
		qs, err := e.s.QueueStats(e.ctx, later)
		ok(t, err, "queue stats")
		eq(t, "queue stats: due since it was parked", *qs, store.QueueStats{Parked: 1, OldestDue: parkedAt})
		eq(t, "its time", e.delivery(m.ID, ep.ID).UpdatedAt, parkedAt)
		eq(t, "due", qs.Due(), int64(1))

		// A retry parked keeps its attempts: it is claimed as a retry.
		j = e.claim(store.ClaimParams{Now: e.now, Parked: true})[0]
		e.fail(j, e.now, e.now.Add(time.Second))
		j = e.claim(store.ClaimParams{Now: e.now.Add(time.Second), Retries: true})[0]
		ok(t, e.s.ReleaseDeliveries(e.ctx, []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease}}), "park the retry")
		jobs := e.claim(store.ClaimParams{Now: e.now, Parked: true})
		eq(t, "parked retry", len(jobs), 1)
		eq(t, "its attempts", jobs[0].Attempts, 1)

		// An endpoint's parked deliveries go in message order, whenever
		// they were parked.
		older, _ := e.send(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(-time.Hour) })
		newer, _ := e.send(a.ID)
		byMsg := map[string]*store.Job{}
		for _, j := range e.claim(store.ClaimParams{Now: e.now}) {
			byMsg[j.MsgID] = j
		}
		// The newer one parked first, the older one after it.
		for i, msg := range []string{newer.ID, older.ID} {
			j := byMsg[msg]
			at := e.now.Add(time.Duration(i+1) * time.Second)
			ok(t, e.s.ReleaseDeliveries(e.ctx, []store.Release{{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, At: at}}), "park")
		}
		eq(t, "oldest message first", jobKeys(e.claim(store.ClaimParams{Now: e.now, Parked: true, PerEndpoint: 1})), keys([2]string{older.ID, ep.ID}))
		eq(t, "then", jobKeys(e.claim(store.ClaimParams{Now: e.now, Parked: true})), keys([2]string{newer.ID, ep.ID}))
		eq(t, "none left", len(e.claim(store.ClaimParams{Now: e.now, Parked: true})), 0)

		// An endpoint that had none left parks again.
		again := e.msg(a.ID)
		e.create(store.CreateMessageParams{Message: again, Lease: 9, LeaseUntil: e.now.Add(time.Minute), NoLease: []string{ep.ID}})
		eq(t, "parked again", jobKeys(e.claim(store.ClaimParams{Now: e.now, Parked: true})), keys([2]string{again.ID, ep.ID}))
	})
	run(t, newStore, "Views", func(t *testing.T, e *env) {
		// A parked delivery is pending wherever it is shown, and keeps
		// its message in retention until it is made.
		a := e.app()
		ep := e.endpoint(a.ID)
		m := e.msg(a.ID)
		e.create(store.CreateMessageParams{Message: m, Lease: 7, LeaseUntil: e.now.Add(time.Minute), NoLease: []string{ep.ID}})
		st, err := e.s.EndpointStats(e.ctx, store.EndpointStatsParams{EndpointID: ep.ID})
		ok(t, err, "endpoint stats")
		eq(t, "pending", st.Pending, int64(1))
		for range 3 {
			_, _, err := e.s.DeleteHistory(e.ctx, store.DeleteHistoryParams{Before: e.now.Add(3 * time.Hour), Limit: 100, Rescan: true})
			ok(t, err, "delete history")
		}
		_, err = e.s.GetMessage(e.ctx, a.ID, m.ID)
		ok(t, err, "the message of a parked delivery is kept")
	})
}

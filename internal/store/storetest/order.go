package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// This file pins scheduled messages (Message.DeliverAt, CancelMessage),
// message tags, and FIFO endpoints (store.Sequence) on every driver.

// fifo makes an endpoint FIFO.
func fifo(ep *store.Endpoint) { ep.Ordering = store.OrderingFIFO }

// keyed gives a message an ordering key.
func keyed(key string) func(*store.Message) {
	return func(m *store.Message) { m.OrderingKey = key }
}

// statuses returns the stored status of the delivery of each message to ep.
func (e *env) statuses(ep *store.Endpoint, ms ...*store.Message) []store.DeliveryStatus {
	e.t.Helper()
	var out []store.DeliveryStatus
	for _, m := range ms {
		out = append(out, e.delivery(m.ID, ep.ID).Status)
	}
	return out
}

// succeed completes j with a successful attempt at "at".
func (e *env) succeed(j *store.Job, at time.Time) {
	e.t.Helper()
	e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 200),
		Status: store.StatusSuccess, Ordered: j.Seq != 0, FinishedAt: at})
}

// giveUp completes j with a final failed attempt at "at".
func (e *env) giveUp(j *store.Job, at time.Time) {
	e.t.Helper()
	e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: attemptFor(j, at, 500),
		Status: store.StatusFail, Ordered: j.Seq != 0, FinishedAt: at})
}

// claimMsgs claims what is due at now (first attempts and retries) and
// returns the message IDs claimed, sorted.
func (e *env) claimMsgs(now time.Time) ([]string, []*store.Job) {
	e.t.Helper()
	jobs := append(e.claim(store.ClaimParams{Now: now}), e.claim(store.ClaimParams{Now: now, Retries: true})...)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.MsgID)
	}
	slices.Sort(ids)
	return ids, jobs
}

func exerciseScheduled(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "DueAtDeliverAt", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		off := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		at := e.now.Add(time.Hour)
		m := e.msg(a.ID, func(m *store.Message) { m.DeliverAt = at })
		// A lease is ignored: a scheduled message is never fast-leased.
		res := e.create(store.CreateMessageParams{Message: m, Lease: 7, LeaseUntil: e.now.Add(time.Minute)})
		ok(t, res[0].Err, "create")
		eq(t, "jobs", len(res[0].Jobs), 1)
		j := res[0].Jobs[0]
		if j.Lease != 0 || !j.NextAttemptAt.Equal(at) {
			t.Fatalf("job of a scheduled message: lease %d, due %v; want unleased, due %v", j.Lease, j.NextAttemptAt, at)
		}
		eq(t, "skipped", res[0].Skipped, 1)
		d := e.delivery(m.ID, ep.ID)
		if d.Status != store.StatusPending || !d.NextAttemptAt.Equal(at) || d.Lease != 0 {
			t.Fatalf("scheduled delivery %#v", d)
		}
		eq(t, "disabled endpoint", e.delivery(m.ID, off.ID).Status, store.StatusSkipped)
		got, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
		ok(t, err, "get")
		sameTime(t, "deliverAt", got.DeliverAt, at)
		eq(t, "not cancelled", got.CanceledAt.IsZero(), true)

		eq(t, "not due before", len(e.claim(store.ClaimParams{Now: at.Add(-time.Microsecond)})), 0)
		// A claim cursor (DueSince) started before the due time finds it.
		jobs := e.claim(store.ClaimParams{Now: at, DueSince: e.now.Add(-5 * time.Second)})
		eq(t, "due at its time", jobKeys(jobs), keys([2]string{m.ID, ep.ID}))
		eq(t, "a first attempt", jobs[0].Attempts, 0)
	})
	run(t, newStore, "PastMeansNow", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m := e.msg(a.ID, func(m *store.Message) { m.DeliverAt = e.now.Add(-time.Hour) })
		until := e.now.Add(time.Minute)
		res := e.create(store.CreateMessageParams{Message: m, Lease: 7, LeaseUntil: until})
		ok(t, res[0].Err, "create")
		eq(t, "leased as any message", e.delivery(m.ID, ep.ID).Lease, int64(7))
		sameTime(t, "lease end", e.delivery(m.ID, ep.ID).NextAttemptAt, until)
	})
	run(t, newStore, "Views", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		m, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = e.now.Add(time.Hour) })
		pending := store.StatusPending
		ems, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: ep.ID, Status: &pending})
		ok(t, err, "list endpoint messages")
		eq(t, "pending", len(ems), 1)
		sameTime(t, "deliverAt in the endpoint's messages", ems[0].Message.DeliverAt, m.DeliverAt)
		sameTime(t, "next attempt", ems[0].Delivery.NextAttemptAt, m.DeliverAt)
		ms, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID})
		ok(t, err, "list messages")
		sameTime(t, "deliverAt in the list", ms[0].DeliverAt, m.DeliverAt)
	})
}

func exerciseCancel(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "BeforeDue", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID)
		off := e.endpoint(a.ID, func(ep *store.Endpoint) { ep.Disabled = true })
		at := e.now.Add(time.Hour)
		m, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		now := e.now.Add(time.Minute)
		got, err := e.s.CancelMessage(e.ctx, store.CancelMessageParams{AppID: a.ID, MsgID: m.ID, Now: now})
		ok(t, err, "cancel")
		sameTime(t, "canceledAt", got.CanceledAt, now)
		sameTime(t, "deliverAt kept", got.DeliverAt, at)
		eq(t, "payload", string(got.Payload), string(m.Payload))
		eq(t, "deliveries", e.statuses(ep, m), []store.DeliveryStatus{store.StatusCanceled})
		eq(t, "skipped ones too", e.statuses(off, m), []store.DeliveryStatus{store.StatusCanceled})
		eq(t, "reported", e.delivery(m.ID, ep.ID).ReportedStatus(), store.StatusFail)
		eq(t, "never claimed", len(e.claim(store.ClaimParams{Now: at.Add(time.Hour)})), 0)
		stored, err := e.s.GetMessage(e.ctx, a.ID, m.ID)
		ok(t, err, "get")
		sameTime(t, "stored canceledAt", stored.CanceledAt, now)
		st, err := e.s.EndpointStats(e.ctx, store.EndpointStatsParams{EndpointID: ep.ID, Since: time.Time{}, Until: time.Time{}})
		ok(t, err, "stats")
		eq(t, "stats", *st, store.Stats{Canceled: 1})
		fail := store.StatusFail
		ems, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: ep.ID, Status: &fail})
		ok(t, err, "list endpoint messages")
		eq(t, "listed as failed", len(ems), 1)

		// Again: the message as it is.
		again, err := e.s.CancelMessage(e.ctx, store.CancelMessageParams{AppID: a.ID, MsgID: m.ID, Now: now.Add(time.Minute)})
		ok(t, err, "cancel again")
		sameTime(t, "canceledAt unchanged", again.CanceledAt, now)

		// Recovery does not take it; a resend sends it.
		last, err := e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: e.now.Add(-time.Hour), Now: now})
		ok(t, err, "recover")
		eq(t, "not recovered", last, "")
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m.ID, EndpointID: ep.ID, Now: now}), "resend")
		eq(t, "resent", jobKeys(e.claim(store.ClaimParams{Now: now, Retries: true})), keys([2]string{m.ID, ep.ID}))
	})
	run(t, newStore, "Refused", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		ep := e.endpoint(a.ID)
		at := e.now.Add(time.Hour)
		now := e.now.Add(time.Minute)
		plain, _ := e.send(a.ID)
		isErr(t, cancelErr(e, a.ID, plain.ID, now), store.ErrConflict, "not scheduled")
		sched, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		isErr(t, cancelErr(e, a.ID, sched.ID, at), store.ErrConflict, "due")
		isErr(t, cancelErr(e, b.ID, sched.ID, now), store.ErrNotFound, "another app's")
		isErr(t, cancelErr(e, a.ID, "msg_missing", now), store.ErrNotFound, "missing")
		resent, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: resent.ID, EndpointID: ep.ID, Now: now}), "resend")
		isErr(t, cancelErr(e, a.ID, resent.ID, now), store.ErrConflict, "resent")
		eq(t, "left as it was", e.statuses(ep, sched, resent), []store.DeliveryStatus{store.StatusPending, store.StatusPending})
		// A delivery claimed early (a clock ahead) is leased: refused.
		early, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at.Add(time.Hour) })
		e.claim(store.ClaimParams{Now: at.Add(time.Hour)})
		isErr(t, cancelErr(e, a.ID, early.ID, now), store.ErrConflict, "leased")
	})
}

func cancelErr(e *env, appID, msgID string, now time.Time) error {
	_, err := e.s.CancelMessage(e.ctx, store.CancelMessageParams{AppID: appID, MsgID: msgID, Now: now})
	return err
}

func exerciseTags(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Filter", func(t *testing.T, e *env) {
		a, b := e.app(), e.app()
		ep := e.endpoint(a.ID)
		e.endpoint(b.ID)
		tagged := map[string][]string{}
		var all []*store.Message
		for i := range 7 {
			tags := [][]string{{"blue"}, {"red", "blue"}, nil, {"red"}}[i%4]
			m, _ := e.send(a.ID, func(m *store.Message) { m.Tags, m.CreatedAt = tags, e.now.Add(time.Duration(i)*time.Second) })
			all = append(all, m)
			for _, tag := range tags {
				tagged[tag] = append(tagged[tag], m.ID)
			}
		}
		e.send(b.ID, func(m *store.Message) { m.Tags = []string{"blue"} })
		got, err := e.s.GetMessage(e.ctx, a.ID, all[1].ID)
		ok(t, err, "get")
		eq(t, "tags read back", got.Tags, []string{"red", "blue"})
		got, err = e.s.GetMessage(e.ctx, a.ID, all[2].ID)
		ok(t, err, "get")
		eq(t, "no tags", got.Tags, []string(nil))

		for _, tag := range []string{"blue", "red"} {
			want := tagged[tag]
			checkPages(t, "messages tagged "+tag, want, func(p store.Page) []string {
				ms, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Page: p, Tag: tag})
				ok(t, err, "list messages")
				var ids []string
				for _, m := range ms {
					ids = append(ids, m.ID)
				}
				return ids
			})
		}
		ms, err := e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Tag: "blue", After: all[3].CreatedAt, Page: store.Page{Desc: true}})
		ok(t, err, "list after")
		eq(t, "tagged and after", len(ms), 2) // 4 and 5
		ms, err = e.s.ListMessages(e.ctx, store.ListMessagesParams{AppID: a.ID, Tag: "green"})
		ok(t, err, "list")
		eq(t, "unknown tag", len(ms), 0)

		ems, err := e.s.ListEndpointMessages(e.ctx, store.ListEndpointMessagesParams{AppID: a.ID, EndpointID: ep.ID, Tag: "red"})
		ok(t, err, "endpoint messages")
		eq(t, "endpoint messages tagged red", len(ems), len(tagged["red"]))

		jobs := e.claim(store.ClaimParams{Now: e.now.Add(time.Hour)})
		for _, j := range jobs {
			if j.AppID == a.ID {
				e.fail(j, e.now.Add(time.Hour), e.now.Add(2*time.Hour))
			}
		}
		ats, err := e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, EndpointID: ep.ID, Tag: "blue"})
		ok(t, err, "attempts")
		eq(t, "attempts tagged blue", len(ats), len(tagged["blue"]))
		ats, err = e.s.ListAttempts(e.ctx, store.ListAttemptsParams{AppID: a.ID, MsgID: all[2].ID, Tag: "blue"})
		ok(t, err, "attempts of a message")
		eq(t, "untagged message's attempts", len(ats), 0)
	})
}

func exerciseFIFO(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, "Endpoint", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		got, err := e.s.GetEndpoint(e.ctx, a.ID, ep.ID)
		ok(t, err, "get")
		eq(t, "ordering", got.Ordering, store.OrderingFIFO)
		none := store.OrderingNone
		up, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, Ordering: &none, UpdatedAt: e.now})
		ok(t, err, "update")
		eq(t, "updated", up.Ordering, store.OrderingNone)
		up, err = e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, Description: ptr("x"), UpdatedAt: e.now})
		ok(t, err, "update another field")
		eq(t, "left as stored", up.Ordering, store.OrderingNone)
	})
	run(t, newStore, "OneAtATime", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		plain := e.endpoint(a.ID)
		var ms []*store.Message
		var results []store.CreateMessageResult
		for i := range 4 {
			m := e.msg(a.ID, func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i) * time.Millisecond) })
			res := e.create(store.CreateMessageParams{Message: m, Lease: 9, LeaseUntil: e.now.Add(time.Minute)})
			ok(t, res[0].Err, "create")
			ms, results = append(ms, m), append(results, res[0])
		}
		P, B, S, F := store.StatusPending, store.StatusBlocked, store.StatusSuccess, store.StatusFail
		eq(t, "only the first is pending", e.statuses(ep, ms...), []store.DeliveryStatus{P, B, B, B})
		eq(t, "the unordered endpoint", e.statuses(plain, ms...), []store.DeliveryStatus{P, P, P, P})
		for i, d := range []*store.Delivery{e.delivery(ms[0].ID, ep.ID), e.delivery(ms[1].ID, ep.ID)} {
			eq(t, fmt.Sprintf("seq %d", i), d.Seq, int64(i+1))
		}
		eq(t, "blocked: pending as reported", e.delivery(ms[1].ID, ep.ID).ReportedStatus(), store.StatusPending)
		eq(t, "unordered seq", e.delivery(ms[0].ID, plain.ID).Seq, int64(0))
		// The head was leased with its message (the fast path); blocked
		// deliveries are no jobs.
		eq(t, "jobs of the first", len(results[0].Jobs), 2)
		eq(t, "jobs of the second", len(results[1].Jobs), 1)
		eq(t, "the second's job", results[1].Jobs[0].EndpointID, plain.ID)
		var head *store.Job
		for _, j := range results[0].Jobs {
			if j.EndpointID == ep.ID {
				head = j
			}
		}
		if head == nil || head.Lease != 9 || head.Seq != 1 {
			t.Fatalf("head job %#v", head)
		}
		late := e.now.Add(2 * time.Minute) // every lease ended
		got, _ := e.claimMsgs(late)
		eq(t, "claimable: the head and the unordered", got, sorted(ms[0].ID, ms[0].ID, ms[1].ID, ms[2].ID, ms[3].ID))

		// A retry keeps the order: the head waits, the next stays blocked.
		head = e.claimOneOf(ep, late.Add(2*time.Minute))
		e.fail(head, late.Add(2*time.Minute), late.Add(time.Hour))
		eq(t, "after a retry is scheduled", e.statuses(ep, ms...), []store.DeliveryStatus{P, B, B, B})
		// A completion whose lease was lost moves nothing.
		head = e.claimOneOf(ep, late.Add(time.Hour))
		lost := *head
		lost.Lease++
		e.succeed(&lost, late.Add(time.Hour))
		eq(t, "lease lost", e.statuses(ep, ms...), []store.DeliveryStatus{P, B, B, B})
		// Success: the next becomes pending, due at the completion.
		done := late.Add(time.Hour + time.Second)
		e.succeed(head, done)
		eq(t, "after a success", e.statuses(ep, ms...), []store.DeliveryStatus{S, P, B, B})
		d := e.delivery(ms[1].ID, ep.ID)
		sameTime(t, "next due at the completion", d.NextAttemptAt, done)
		eq(t, "next unleased", d.Lease, int64(0))
		// A final failure (given up) continues the order.
		next := e.claimOneOf(ep, done)
		eq(t, "next in order", next.MsgID, ms[1].ID)
		eq(t, "its seq", next.Seq, int64(2))
		e.giveUp(next, done)
		eq(t, "after a give-up", e.statuses(ep, ms...), []store.DeliveryStatus{S, F, P, B})
		// Skipped (the endpoint was disabled when it was sent) too.
		next = e.claimOneOf(ep, done)
		eq(t, "third", next.MsgID, ms[2].ID)
		e.complete(store.Completion{MsgID: next.MsgID, EndpointID: ep.ID, Lease: next.Lease, Status: store.StatusSkipped, Ordered: true, FinishedAt: done})
		eq(t, "after a skip", e.statuses(ep, ms...), []store.DeliveryStatus{S, F, store.StatusSkipped, P})
		next = e.claimOneOf(ep, done)
		e.succeed(next, done)
		// Idle: the next message is the head at once.
		m := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: m})
		ok(t, res[0].Err, "create")
		eq(t, "idle sequence: head at once", e.statuses(ep, m), []store.DeliveryStatus{P})
		eq(t, "seq starts again", e.delivery(m.ID, ep.ID).Seq, int64(1))
	})
	run(t, newStore, "Keys", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		var ms []*store.Message
		var ps []store.CreateMessageParams
		// One batch: messages join in the order of params.
		for i, k := range []string{"a", "b", "a", "", "b", ""} {
			m := e.msg(a.ID, keyed(k), func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i) * time.Millisecond) })
			ms = append(ms, m)
			ps = append(ps, store.CreateMessageParams{Message: m})
		}
		for _, r := range e.create(ps...) {
			ok(t, r.Err, "create")
		}
		P, B := store.StatusPending, store.StatusBlocked
		eq(t, "a head per key", e.statuses(ep, ms...), []store.DeliveryStatus{P, P, B, P, B, B})
		got, jobs := e.claimMsgs(e.now.Add(time.Second))
		eq(t, "the heads are claimed together", got, sorted(ms[0].ID, ms[1].ID, ms[3].ID))
		for _, j := range jobs {
			e.succeed(j, e.now.Add(2*time.Second))
		}
		got, _ = e.claimMsgs(e.now.Add(2 * time.Second))
		eq(t, "each key's next", got, sorted(ms[2].ID, ms[4].ID, ms[5].ID))
	})
	run(t, newStore, "TestMessagesAndDisabled", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		first, _ := e.send(a.ID)
		test := e.msg(a.ID)
		res := e.create(store.CreateMessageParams{Message: test, EndpointID: ep.ID})
		ok(t, res[0].Err, "create test")
		eq(t, "a test message is outside the order", e.statuses(ep, first, test), []store.DeliveryStatus{store.StatusPending, store.StatusPending})
		eq(t, "its seq", e.delivery(test.ID, ep.ID).Seq, int64(0))
		off := e.endpoint(a.ID, fifo, func(ep *store.Endpoint) { ep.Disabled = true })
		m, _ := e.send(a.ID)
		eq(t, "disabled: skipped, in no sequence", e.delivery(m.ID, off.ID).Seq, int64(0))
		eq(t, "skipped", e.delivery(m.ID, off.ID).Status, store.StatusSkipped)
	})
	run(t, newStore, "ScheduledHead", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		at := e.now.Add(time.Hour)
		sched, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		after, _ := e.send(a.ID)
		laterSched, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at.Add(time.Hour) })
		eq(t, "the scheduled head holds the sequence", e.statuses(ep, sched, after, laterSched),
			[]store.DeliveryStatus{store.StatusPending, store.StatusBlocked, store.StatusBlocked})
		eq(t, "nothing due now", len(e.claim(store.ClaimParams{Now: e.now})), 0)
		head := e.claimOneOf(ep, at)
		e.succeed(head, at)
		next := e.claimOneOf(ep, at)
		eq(t, "next", next.MsgID, after.ID)
		e.succeed(next, at.Add(time.Second))
		d := e.delivery(laterSched.ID, ep.ID)
		eq(t, "a scheduled successor", d.Status, store.StatusPending)
		sameTime(t, "is due at its deliverAt", d.NextAttemptAt, laterSched.DeliverAt)
	})
	run(t, newStore, "CancelHeadAndBlocked", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		at := e.now.Add(time.Hour)
		sched, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		blockedSched, _ := e.send(a.ID, func(m *store.Message) { m.DeliverAt = at })
		plain, _ := e.send(a.ID)
		now := e.now.Add(time.Minute)
		// A blocked delivery leaves; the head stays.
		_, err := e.s.CancelMessage(e.ctx, store.CancelMessageParams{AppID: a.ID, MsgID: blockedSched.ID, Now: now})
		ok(t, err, "cancel the blocked one")
		eq(t, "after cancelling a blocked one", e.statuses(ep, sched, blockedSched, plain),
			[]store.DeliveryStatus{store.StatusPending, store.StatusCanceled, store.StatusBlocked})
		// The head leaves: the next not cancelled is due now.
		_, err = e.s.CancelMessage(e.ctx, store.CancelMessageParams{AppID: a.ID, MsgID: sched.ID, Now: now})
		ok(t, err, "cancel the head")
		eq(t, "after cancelling the head", e.statuses(ep, sched, blockedSched, plain),
			[]store.DeliveryStatus{store.StatusCanceled, store.StatusCanceled, store.StatusPending})
		sameTime(t, "due at the cancel", e.delivery(plain.ID, ep.ID).NextAttemptAt, now)
	})
	run(t, newStore, "ResendJoinsAtTheEnd", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		old, _ := e.send(a.ID)
		e.giveUp(e.claimOneOf(ep, e.now), e.now)
		m1, _ := e.send(a.ID)
		m2, _ := e.send(a.ID)
		at := e.now.Add(time.Minute)
		// A finished one joins behind the others, blocked and manual.
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: old.ID, EndpointID: ep.ID, Now: at}), "resend")
		d := e.delivery(old.ID, ep.ID)
		if d.Status != store.StatusBlocked || !d.Manual || d.Seq != 3 || !d.NextAttemptAt.IsZero() {
			t.Fatalf("resent behind others: %#v", d)
		}
		// A blocked one keeps its place.
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m2.ID, EndpointID: ep.ID, Now: at}), "resend a blocked one")
		eq(t, "kept its place", e.delivery(m2.ID, ep.ID).Seq, int64(2))
		eq(t, "not manual", e.delivery(m2.ID, ep.ID).Manual, false)
		// The head (pending, waiting for a retry) is due now.
		head := e.claimOneOf(ep, at)
		eq(t, "head", head.MsgID, m1.ID)
		e.fail(head, at, at.Add(time.Hour))
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m1.ID, EndpointID: ep.ID, Now: at.Add(time.Second)}), "resend the head")
		head = e.claimOneOf(ep, at.Add(time.Second))
		eq(t, "the head, due now", head.MsgID, m1.ID)
		e.succeed(head, at.Add(time.Second))
		e.succeed(e.claimOneOf(ep, at.Add(time.Second)), at.Add(2*time.Second))
		got, jobs := e.claimMsgs(at.Add(2 * time.Second))
		eq(t, "the resent one last, manual", got, []string{old.ID})
		eq(t, "manual", jobs[0].Manual, true)
		e.giveUp(jobs[0], at.Add(3*time.Second))
		// Idle: a resend is the head at once, due now.
		at = at.Add(time.Minute)
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: m2.ID, EndpointID: ep.ID, Now: at}), "resend while idle")
		d = e.delivery(m2.ID, ep.ID)
		if d.Status != store.StatusPending || !d.Manual || !d.NextAttemptAt.Equal(at) || d.Seq != 1 {
			t.Fatalf("resent while idle: %#v", d)
		}
		// A message the endpoint did not take (a new delivery) joins too.
		other, _ := e.send(a.ID, func(m *store.Message) { m.EventType = "not.taken" })
		ep2 := e.endpoint(a.ID, fifo, func(ep *store.Endpoint) { ep.EventTypes = []string{"invoice.paid"} })
		taken, _ := e.send(a.ID)
		ok(t, e.s.ResendDelivery(e.ctx, store.ResendParams{AppID: a.ID, MsgID: other.ID, EndpointID: ep2.ID, Now: at}), "resend to another endpoint")
		eq(t, "new delivery behind the head", e.statuses(ep2, taken, other), []store.DeliveryStatus{store.StatusPending, store.StatusBlocked})
	})
	run(t, newStore, "RecoverJoinsInOrder", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo, func(ep *store.Endpoint) { ep.Disabled = true })
		var ms []*store.Message
		for i := range 3 {
			m, _ := e.send(a.ID, keyed("k"), func(m *store.Message) { m.CreatedAt = e.now.Add(time.Duration(i-10) * time.Second) })
			ms = append(ms, m)
		}
		_, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, Disabled: ptr(false), UpdatedAt: e.now})
		ok(t, err, "enable")
		current, _ := e.send(a.ID, keyed("k"))
		last, err := e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: e.now.Add(-time.Hour), Limit: 2, Now: e.now})
		ok(t, err, "recover")
		eq(t, "page", last, ms[1].ID)
		last, err = e.s.RecoverDeliveries(e.ctx, store.RecoverParams{AppID: a.ID, EndpointID: ep.ID, Since: e.now.Add(-time.Hour), AfterMsgID: last, Now: e.now})
		ok(t, err, "recover page 2")
		eq(t, "page 2", last, ms[2].ID)
		want := []string{current.ID, ms[0].ID, ms[1].ID, ms[2].ID}
		var order []string
		at := e.now
		for range want {
			got, jobs := e.claimMsgs(at)
			if len(jobs) != 1 {
				t.Fatalf("claimed %v, want one at a time", got)
			}
			order = append(order, jobs[0].MsgID)
			at = at.Add(time.Second)
			e.succeed(jobs[0], at)
		}
		eq(t, "recovered behind the current head, in message order", order, want)
	})
	run(t, newStore, "OrderingOff", func(t *testing.T, e *env) {
		// Deliveries already in a sequence finish in it; new ones are
		// unordered.
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		m1, _ := e.send(a.ID)
		m2, _ := e.send(a.ID)
		none := store.OrderingNone
		_, err := e.s.UpdateEndpoint(e.ctx, store.UpdateEndpointParams{ID: ep.ID, AppID: a.ID, Ordering: &none, UpdatedAt: e.now})
		ok(t, err, "ordering off")
		m3, _ := e.send(a.ID)
		eq(t, "after", e.statuses(ep, m1, m2, m3), []store.DeliveryStatus{store.StatusPending, store.StatusBlocked, store.StatusPending})
		got, jobs := e.claimMsgs(e.now)
		eq(t, "claimed", got, sorted(m1.ID, m3.ID))
		for _, j := range jobs {
			e.succeed(j, e.now)
		}
		got, _ = e.claimMsgs(e.now)
		eq(t, "the sequence finishes", got, []string{m2.ID})
	})
	run(t, newStore, "DeleteEndpoint", func(t *testing.T, e *env) {
		a := e.app()
		ep := e.endpoint(a.ID, fifo)
		e.send(a.ID)
		e.send(a.ID)
		ok(t, e.s.DeleteEndpoint(e.ctx, a.ID, ep.ID), "delete")
		ep2 := e.endpoint(a.ID, fifo)
		m, _ := e.send(a.ID)
		eq(t, "a new endpoint's sequence", e.statuses(ep2, m), []store.DeliveryStatus{store.StatusPending})
	})
	run(t, newStore, "ConcurrentWriters", func(t *testing.T, e *env) {
		exerciseConcurrentFIFO(t, e)
	})
}

// exerciseConcurrentFIFO writes messages of several keys to one FIFO
// endpoint, one writer per key, while workers claim, fail and complete
// concurrently: at no moment may two deliveries of one key be claimed, and
// each key's messages are finished in the order they were accepted. On
// PostgreSQL the writers and workers use separate connections, as replicas
// would; a delivery lost between a head finishing and a message joining
// stalls the test.
func exerciseConcurrentFIFO(t *testing.T, e *env) {
	a := e.app()
	e.endpoint(a.ID, fifo)
	const keysN, perKey, workers = 4, 25, 3
	var (
		mu       sync.Mutex
		accepted = map[string][]string{} // key -> message IDs in acceptance order
		finished = map[string][]string{} // key -> in the order they finished
		inFlight = map[string]string{}   // key -> the message claimed
		keyOf    = map[string]string{}
		failures []string
	)
	var writers sync.WaitGroup
	for k := range keysN {
		key := fmt.Sprintf("k%d", k)
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range perKey {
				now := store.Truncate(time.Now())
				m := e.msg(a.ID, keyed(key), func(m *store.Message) { m.CreatedAt = now })
				res, err := e.s.CreateMessages(e.ctx, []store.CreateMessageParams{{Message: m}})
				if err != nil || res[0].Err != nil {
					t.Errorf("create: %v %v", err, res)
					return
				}
				mu.Lock()
				accepted[key] = append(accepted[key], m.ID)
				keyOf[m.ID] = key
				mu.Unlock()
			}
		}()
	}
	total := keysN * perKey
	done := make(chan struct{})
	var workersWG sync.WaitGroup
	var lease sync.Mutex
	next := int64(1000)
	for w := range workers {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				lease.Lock()
				next++
				l := next
				lease.Unlock()
				now := store.Truncate(time.Now()).Add(time.Hour) // retries are due at once
				jobs, err := e.s.ClaimDeliveries(e.ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: l, Limit: 10, Retries: rnd.IntN(2) == 0})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				for _, j := range jobs {
					key := keyOf[j.MsgID]
					if key == "" {
						// Claimed before its writer recorded it: the
						// key is the message's.
						m, err := e.s.GetMessage(e.ctx, a.ID, j.MsgID)
						if err == nil {
							key = m.OrderingKey
						}
					}
					if other := inFlight[key]; other != "" {
						failures = append(failures, fmt.Sprintf("key %s: %s claimed while %s was", key, j.MsgID, other))
					}
					inFlight[key] = j.MsgID
				}
				mu.Unlock()
				var cs []store.Completion
				for _, j := range jobs {
					c := store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Ordered: j.Seq != 0, FinishedAt: now}
					switch r := rnd.IntN(4); {
					case r == 0 && j.Attempts < 2: // retry
						c.Attempt, c.Status, c.NextAttemptAt = attemptFor(j, now, 500), store.StatusPending, now
					case r == 1: // give up
						c.Attempt, c.Status = attemptFor(j, now, 500), store.StatusFail
					default:
						c.Attempt, c.Status = attemptFor(j, now, 200), store.StatusSuccess
					}
					cs = append(cs, c)
				}
				// Free the keys before the completions commit: the next
				// claim of a key can only come after it.
				mu.Lock()
				for _, c := range cs {
					key := keyOf[c.MsgID]
					if key == "" {
						m, _ := e.s.GetMessage(e.ctx, a.ID, c.MsgID)
						key = m.OrderingKey
					}
					delete(inFlight, key)
					if store.Final(c.Status) {
						finished[key] = append(finished[key], c.MsgID)
					}
				}
				mu.Unlock()
				if len(cs) > 0 {
					if err := e.s.CompleteDeliveries(e.ctx, cs); err != nil {
						t.Errorf("complete: %v", err)
						return
					}
				}
			}
		}()
	}
	writers.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, l := range finished {
			n += len(l)
		}
		mu.Unlock()
		if n == total {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			close(done)
			workersWG.Wait()
			t.Fatalf("%d of %d messages finished: a sequence is stuck", n, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	workersWG.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	for key, want := range accepted {
		eq(t, "order of key "+key, finished[key], want)
	}
}

// claimOneOf claims the one due delivery to ep at now (first attempts, then
// retries), failing otherwise.
func (e *env) claimOneOf(ep *store.Endpoint, now time.Time) *store.Job {
	e.t.Helper()
	var mine []*store.Job
	for _, retries := range []bool{false, true} {
		for _, j := range e.claim(store.ClaimParams{Now: now, Retries: retries}) {
			if j.EndpointID == ep.ID {
				mine = append(mine, j)
			}
		}
	}
	if len(mine) != 1 {
		e.t.Fatalf("claimed %d deliveries to %s at %v, want 1", len(mine), ep.ID, now)
	}
	return mine[0]
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// Package storetest is the conformance suite every store driver runs: the
// behaviour documented on store.Store, pinned as tests. A driver's test calls
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) store.Store { ... })
//	}
//
// with a function that returns a fresh, migrated, empty store and closes it in
// t.Cleanup. Every subtest asks for its own store and runs in parallel.
//
// The suite never sleeps: leases and expiries are exercised by passing later
// times as "now". Times it writes are microsecond-truncated UTC, and message
// and attempt ids are made at their CreatedAt with ids.NewAt, as Herald's own
// code does.
//
// Boundaries the suite pins where store.go leaves a choice:
//   - something "expires" or is "due" at its time: a lease, lock or retention
//     time t has ended when now >= t;
//   - a non-nil empty EventTypes, Channels or Message.Channels reads back
//     non-nil and empty, nil reads back nil;
//   - time filters (Before/After/Since/Until) compare CreatedAt exactly;
//   - AbortIdempotent on a key with no in-progress record is not an error;
//   - CompleteDeliveries keeps Endpoint.FailingSince (set by a failed
//     attempt when unset, cleared by a successful one) and disables the
//     endpoint on DisableEndpoint whatever the lease;
//   - UpdateApp, UpdateEndpoint and UpdateEventType change only the fields
//     their params name: an endpoint disabled by CompleteDeliveries between
//     a caller's read and its write stays disabled;
//   - CompleteDeliveries writes the events of a batch after all of the
//     batch's changes: an endpoint disabled by any completion of the batch
//     gets skipped deliveries of all the batch's events;
//   - a FIFO sequence that became idle starts its Seq at 1 again.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// Exercise runs the conformance suite against the driver behind newStore,
// which must return a fresh, migrated, empty store for each call.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name string
		fn   func(t *testing.T, newStore func(t *testing.T) store.Store)
	}{
		{"Apps", exerciseApps},
		{"Endpoints", exerciseEndpoints},
		{"EventTypes", exerciseEventTypes},
		{"Messages", exerciseMessages},
		{"Targeted", exerciseTargeted},
		{"Claim", exerciseClaim},
		{"Parked", exerciseParked},
		{"Complete", exerciseComplete},
		{"Resend", exerciseResend},
		{"Recover", exerciseRecover},
		{"FarTimes", exerciseFarTimes},
		{"Views", exerciseViews},
		{"Attempts", exerciseAttempts},
		{"Paging", exercisePaging},
		{"Cascade", exerciseCascade},
		{"Tasks", exerciseTasks},
		{"Tokens", exerciseTokens},
		{"Idempotency", exerciseIdempotency},
		{"Maintenance", exerciseMaintenance},
		{"History", exerciseHistory},
		{"HistoryWindow", exerciseHistoryWindow},
		{"Portal", exercisePortal},
		{"Events", exerciseEvents},
		{"Circuit", exerciseCircuit},
		{"Scheduled", exerciseScheduled},
		{"Cancel", exerciseCancel},
		{"Tags", exerciseTags},
		{"FIFO", exerciseFIFO},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.fn(t, newStore)
		})
	}
}

// env is the bundle of fixtures a subtest works with.
type env struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
	// now is the subtest's reference time; fixtures are created at it.
	now time.Time
	// lease numbers the leases handed out by claim.
	lease int64
}

func setup(t *testing.T, newStore func(t *testing.T) store.Store) *env {
	t.Helper()
	return &env{t: t, ctx: t.Context(), s: newStore(t), now: store.Truncate(time.Now())}
}

// run declares a parallel subtest with its own store.
func run(t *testing.T, newStore func(t *testing.T) store.Store, name string, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, setup(t, newStore))
	})
}

func (e *env) app(mods ...func(*store.App)) *store.App {
	e.t.Helper()
	a := &store.App{
		ID:        ids.NewAt(ids.App, e.now),
		Name:      "app",
		Metadata:  map[string]string{},
		CreatedAt: e.now,
		UpdatedAt: e.now,
	}
	for _, m := range mods {
		m(a)
	}
	if err := e.s.CreateApp(e.ctx, a); err != nil {
		e.t.Fatalf("create app: %v", err)
	}
	return a
}

func (e *env) endpoint(appID string, mods ...func(*store.Endpoint)) *store.Endpoint {
	e.t.Helper()
	ep := e.newEndpoint(appID, mods...)
	if err := e.s.CreateEndpoint(e.ctx, ep); err != nil {
		e.t.Fatalf("create endpoint: %v", err)
	}
	return ep
}

func (e *env) newEndpoint(appID string, mods ...func(*store.Endpoint)) *store.Endpoint {
	ep := &store.Endpoint{
		ID:        ids.NewAt(ids.Endpoint, e.now),
		AppID:     appID,
		URL:       "https://example.com/hook",
		Metadata:  map[string]string{},
		Headers:   map[string]string{},
		Secret:    "whsec_sealed",
		CreatedAt: e.now,
		UpdatedAt: e.now,
	}
	for _, m := range mods {
		m(ep)
	}
	return ep
}

// msg returns a message of appID created at e.now (not stored).
func (e *env) msg(appID string, mods ...func(*store.Message)) *store.Message {
	m := &store.Message{
		AppID:            appID,
		EventType:        "invoice.paid",
		Payload:          []byte(`{"n": 1}`),
		PayloadExpiresAt: e.now.Add(90 * 24 * time.Hour),
		CreatedAt:        e.now,
	}
	for _, mod := range mods {
		mod(m)
	}
	if m.ID == "" {
		m.ID = ids.NewAt(ids.Message, m.CreatedAt)
	}
	return m
}

func (e *env) create(ps ...store.CreateMessageParams) []store.CreateMessageResult {
	e.t.Helper()
	res, err := e.s.CreateMessages(e.ctx, ps)
	if err != nil {
		e.t.Fatalf("create messages: %v", err)
	}
	if len(res) != len(ps) {
		e.t.Fatalf("create messages: %d results for %d messages", len(res), len(ps))
	}
	return res
}

// send stores one message without a lease and fails on any error.
func (e *env) send(appID string, mods ...func(*store.Message)) (*store.Message, store.CreateMessageResult) {
	e.t.Helper()
	m := e.msg(appID, mods...)
	res := e.create(store.CreateMessageParams{Message: m})
	if res[0].Err != nil {
		e.t.Fatalf("create message: %v", res[0].Err)
	}
	return m, res[0]
}

func (e *env) claim(p store.ClaimParams) []*store.Job {
	e.t.Helper()
	if p.Lease == 0 {
		e.lease++
		p.Lease = e.lease
	}
	if p.LeaseUntil.IsZero() {
		p.LeaseUntil = p.Now.Add(time.Minute)
	}
	if p.Limit == 0 {
		p.Limit = 1000
	}
	jobs, err := e.s.ClaimDeliveries(e.ctx, p)
	if err != nil {
		e.t.Fatalf("claim deliveries: %v", err)
	}
	for _, j := range jobs {
		if j.Lease != p.Lease || !j.NextAttemptAt.Equal(p.LeaseUntil) {
			e.t.Fatalf("claimed job lease %d until %v, want %d until %v", j.Lease, j.NextAttemptAt, p.Lease, p.LeaseUntil)
		}
	}
	return jobs
}

// claimOne sends a message to a fresh endpoint and claims it.
func (e *env) claimOne(mods ...func(*store.Endpoint)) (*store.Endpoint, *store.Job) {
	e.t.Helper()
	a := e.app()
	ep := e.endpoint(a.ID, mods...)
	e.send(a.ID)
	jobs := e.claim(store.ClaimParams{Now: e.now})
	eq(e.t, "claimed", len(jobs), 1)
	return ep, jobs[0]
}

func (e *env) delivery(msgID, endpointID string) *store.Delivery {
	e.t.Helper()
	d, err := e.s.GetDelivery(e.ctx, store.DeliveryKey{MsgID: msgID, EndpointID: endpointID})
	if err != nil {
		e.t.Fatalf("get delivery %s %s: %v", msgID, endpointID, err)
	}
	return d
}

// attempt returns an attempt for a job, made at "at".
func attemptFor(j *store.Job, at time.Time, code int) *store.Attempt {
	st := store.StatusSuccess
	if code < 200 || code > 299 {
		st = store.StatusFail
	}
	return &store.Attempt{
		ID:          ids.NewAt(ids.Attempt, at),
		AppID:       j.AppID,
		MsgID:       j.MsgID,
		EndpointID:  j.EndpointID,
		URL:         "https://example.com/hook",
		Status:      st,
		StatusCode:  code,
		Response:    fmt.Sprintf("response %d", code),
		DurationMs:  12,
		TriggerType: store.TriggerScheduled,
		EventType:   j.EventType,
		CreatedAt:   at,
	}
}

func (e *env) complete(cs ...store.Completion) {
	e.t.Helper()
	if err := e.s.CompleteDeliveries(e.ctx, cs); err != nil {
		e.t.Fatalf("complete deliveries: %v", err)
	}
}

// fail claims nothing: it completes job j with a failed attempt at "at" and
// schedules a retry at next.
func (e *env) fail(j *store.Job, at, next time.Time) *store.Attempt {
	e.t.Helper()
	a := attemptFor(j, at, 500)
	e.complete(store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: a, Status: store.StatusPending, NextAttemptAt: next})
	return a
}

func ok(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func isErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC && !got.IsZero() {
		t.Fatalf("%s: got %v, want %v (UTC)", what, got, want)
	}
}

func jobKeys(jobs []*store.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.MsgID+"/"+j.EndpointID)
	}
	slices.Sort(out)
	return out
}

func keys(pairs ...[2]string) []string {
	var out []string
	for _, p := range pairs {
		out = append(out, p[0]+"/"+p[1])
	}
	slices.Sort(out)
	return out
}

func ptr[T any](v T) *T { return &v }

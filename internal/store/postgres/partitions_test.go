package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// connect opens a plain connection to url, for looking at the catalog.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// hourly opens a store with hour-wide partitions on a fresh schema, and a
// plain connection to it.
func hourly(t *testing.T) (url string, s *postgres.Store, conn *pgx.Conn) {
	t.Helper()
	url = pgtest.Schema(t)
	return url, openURL(t, url, postgres.WithPartitionWidth(time.Hour)), connect(t, url)
}

// replicas opens two stores on one fresh schema (with hour-wide
// partitions) and a plain connection to it.
func replicas(t *testing.T) (a, b *postgres.Store, conn *pgx.Conn) {
	t.Helper()
	url, a, conn := hourly(t)
	return a, openURL(t, url, postgres.WithPartitionWidth(time.Hour)), conn
}

// partitions returns the history partitions listed, as [lo, hi) pairs
// (lo zero for _old), in time order.
func partitions(t *testing.T, conn *pgx.Conn) (suffixes []string, spans [][2]time.Time) {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT suffix, lo, hi FROM history_partitions ORDER BY hi`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var suffix string
		var lo *time.Time
		var hi time.Time
		if err := rows.Scan(&suffix, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		suffixes = append(suffixes, suffix)
		var from time.Time
		if lo != nil {
			from = *lo
		}
		spans = append(spans, [2]time.Time{from, hi})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return suffixes, spans
}

// tableExists reports whether the table name exists in the store's schema.
func tableExists(t *testing.T, conn *pgx.Conn, name string) bool {
	t.Helper()
	var found *string
	if err := conn.QueryRow(t.Context(), `SELECT to_regclass($1)::text`, name).Scan(&found); err != nil {
		t.Fatal(err)
	}
	return found != nil
}

// partitionOf returns the partition that holds the message id.
func partitionOf(t *testing.T, conn *pgx.Conn, msgID string) string {
	t.Helper()
	var table string
	if err := conn.QueryRow(t.Context(), `SELECT tableoid::regclass::text FROM messages WHERE id = $1`, msgID).Scan(&table); err != nil {
		t.Fatalf("partition of %s: %v", msgID, err)
	}
	return table
}

func sendAt(t *testing.T, s store.Store, appID string, at time.Time, eventID string) (*store.Message, error) {
	t.Helper()
	m := &store.Message{ID: ids.At(ids.Message, at), AppID: appID, EventType: "e", EventID: eventID, Payload: []byte(`{}`),
		CreatedAt: store.Truncate(at)}
	res, err := s.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: m}})
	if err != nil {
		t.Fatalf("create message: %v", err)
	}
	return m, res[0].Err
}

// deliver claims the first attempts due at now and completes them: those of
// the messages in ok as delivered, the others as failed with a retry an
// hour later.
func deliver(t *testing.T, s store.Store, now time.Time, ok ...*store.Message) {
	t.Helper()
	jobs, err := s.ClaimDeliveries(t.Context(), store.ClaimParams{Now: now.Add(time.Minute), LeaseUntil: now.Add(time.Hour), Lease: 7, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var cs []store.Completion
	for _, j := range jobs {
		c := store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: 7, Status: store.StatusPending, NextAttemptAt: now.Add(time.Hour),
			Attempt: &store.Attempt{ID: ids.At(ids.Attempt, now), AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID, URL: "https://example.com",
				Status: store.StatusFail, StatusCode: 500, EventType: j.EventType, CreatedAt: store.Truncate(now)}}
		for _, m := range ok {
			if m.ID == j.MsgID {
				c.Status, c.NextAttemptAt = store.StatusSuccess, time.Time{}
				c.Attempt.Status, c.Attempt.StatusCode = store.StatusSuccess, 200
			}
		}
		cs = append(cs, c)
	}
	if err := s.CompleteDeliveries(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
}

// A partition whose time is past the retention is dropped whole, with its
// messages, deliveries, attempts and tags, once none of its deliveries is
// still to be made; the partitions after it stay, and an event id of a
// dropped message may be used again.
func TestHistoryPartitionsDropped(t *testing.T) {
	t.Parallel()
	_, s, conn := hourly(t)
	app, _ := fixture(t, s)

	suffixes, spans := partitions(t, conn)
	if len(suffixes) < 3 || suffixes[0] != "old" {
		t.Fatalf("partitions after Migrate: %v", suffixes)
	}
	// The first partition after _old starts at the hour, the store being
	// new; Migrate makes them two widths ahead of now.
	now := time.Now()
	first := spans[1]
	if !first[0].Equal(now.Truncate(time.Hour)) || first[1].Sub(first[0]) != time.Hour {
		t.Fatalf("first partition %v, want the hour of %v", first, now)
	}
	if last := spans[len(spans)-1][1]; last.Before(now.Add(2 * time.Hour)) {
		t.Fatalf("partitions end at %v, want two hours ahead of %v", last, now)
	}
	for i := 1; i < len(spans); i++ {
		if !spans[i][0].Equal(spans[i-1][1]) {
			t.Fatalf("partitions %v and %v are not contiguous", spans[i-1], spans[i])
		}
	}

	at := first[0].Add(time.Minute)
	done, err := sendAt(t, s, app.ID, at, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := sendAt(t, s, app.ID, at, "")
	if err != nil {
		t.Fatal(err)
	}
	later, err := sendAt(t, s, app.ID, first[1].Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	part := partitionOf(t, conn, done.ID)
	if part != "messages_"+suffixes[1] || partitionOf(t, conn, later.ID) != "messages_"+suffixes[2] {
		t.Fatalf("messages in %s and %s, want %s and %s", part, partitionOf(t, conn, later.ID), suffixes[1], suffixes[2])
	}
	deliver(t, s, at, done) // busy is retrying: a delivery to make

	del := func(before time.Time) (int, bool) {
		t.Helper()
		n, finished, err := s.DeleteHistory(t.Context(), store.DeleteHistoryParams{Before: before, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return n, finished
	}
	if n, _ := del(first[1].Add(-time.Second)); n != 0 {
		t.Fatalf("deleted %d messages of a partition not yet past", n)
	}
	if n, _ := del(first[1]); n != 0 || !tableExists(t, conn, "deliveries_"+suffixes[1]) {
		t.Fatalf("deleted %d; a partition with a delivery to make must be kept", n)
	}

	// The retry succeeds: nothing is left to make, and the partition goes.
	jobs, err := s.ClaimDeliveries(t.Context(), store.ClaimParams{Now: at.Add(2 * time.Hour), LeaseUntil: at.Add(3 * time.Hour), Lease: 8, Limit: 10, Retries: true})
	if err != nil || len(jobs) != 1 || jobs[0].MsgID != busy.ID {
		t.Fatalf("claim the retry: %v, %d jobs", err, len(jobs))
	}
	if err := s.CompleteDeliveries(t.Context(), []store.Completion{{MsgID: busy.ID, EndpointID: jobs[0].EndpointID, Lease: 8, Status: store.StatusSuccess,
		Attempt: &store.Attempt{ID: ids.New(ids.Attempt), AppID: app.ID, MsgID: busy.ID, EndpointID: jobs[0].EndpointID, URL: "u",
			Status: store.StatusSuccess, StatusCode: 200, EventType: "e", CreatedAt: store.Truncate(at.Add(2 * time.Hour))}}}); err != nil {
		t.Fatal(err)
	}
	if n, finished := del(first[1]); n != 2 || finished {
		t.Fatalf("drop: deleted %d (done %v), want the partition's 2 messages and not done", n, finished)
	}
	if n, finished := del(first[1]); n != 0 || !finished {
		t.Fatalf("after the drop: deleted %d (done %v), want nothing and done", n, finished)
	}
	for _, table := range []string{"messages", "deliveries", "attempts", "message_tags"} {
		if tableExists(t, conn, table+"_"+suffixes[1]) {
			t.Errorf("%s_%s still exists", table, suffixes[1])
		}
		if !tableExists(t, conn, table+"_"+suffixes[2]) {
			t.Errorf("%s_%s is gone", table, suffixes[2])
		}
	}
	if got, _ := partitions(t, conn); len(got) != len(suffixes)-1 || got[1] != suffixes[2] {
		t.Fatalf("partitions listed after the drop: %v", got)
	}
	for _, m := range []*store.Message{done, busy} {
		if _, err := s.GetMessage(t.Context(), app.ID, m.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get dropped message: %v", err)
		}
		atts, err := s.ListAttempts(t.Context(), store.ListAttemptsParams{AppID: app.ID, MsgID: m.ID})
		if err != nil || len(atts) != 0 {
			t.Errorf("attempts of a dropped message: %d, %v", len(atts), err)
		}
	}
	if _, err := s.GetMessage(t.Context(), app.ID, later.ID); err != nil {
		t.Errorf("message of the next partition: %v", err)
	}
	// The event id of a dropped message is free again.
	if _, err := sendAt(t, s, app.ID, first[1].Add(2*time.Minute), "order-1"); err != nil {
		t.Errorf("event id of a dropped message: %v", err)
	}
}

// EnsurePartitions makes partitions up to two widths ahead (at least six
// hours), each once, however many replicas ask at the same time.
func TestEnsurePartitionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b, conn := replicas(t)
	app, _ := fixture(t, a)

	future := time.Now().Add(10 * time.Hour)
	beyond := &store.Message{ID: ids.At(ids.Message, future.Add(time.Hour)), AppID: app.ID, EventType: "e", Payload: []byte(`{}`), CreatedAt: store.Truncate(future)}
	if _, err := a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: beyond}}); err == nil {
		t.Fatal("a message beyond the partitions was stored")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { errs <- s.EnsurePartitions(t.Context(), future) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	_, spans := partitions(t, conn)
	for i := 1; i < len(spans); i++ {
		if !spans[i][0].Equal(spans[i-1][1]) {
			t.Fatalf("partitions %v and %v are not contiguous", spans[i-1], spans[i])
		}
	}
	if last := spans[len(spans)-1][1]; last.Before(future.Add(6*time.Hour)) || last.After(future.Add(7*time.Hour)) {
		t.Fatalf("partitions end at %v, want six to seven hours after %v (two widths, at least six hours)", last, future)
	}
	if _, err := sendAt(t, b, app.ID, future.Add(time.Hour), ""); err != nil {
		t.Fatalf("a message in a partition made ahead: %v", err)
	}
}

// An event id is unique within its app across partitions, and when
// batches of several replicas send it at once.
func TestEventIDUniqueAcrossPartitions(t *testing.T) {
	t.Parallel()
	a, b, conn := replicas(t)
	app, _ := fixture(t, a)
	other, _ := fixture(t, a)
	now := time.Now()

	old, err := sendAt(t, a, app.ID, now.Add(-48*time.Hour), "invoice-1")
	if err != nil {
		t.Fatal(err)
	}
	if p := partitionOf(t, conn, old.ID); p != "messages_old" {
		t.Fatalf("a message of two days ago is in %s", p)
	}
	if _, err := sendAt(t, b, app.ID, now, "invoice-1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("event id taken in an earlier partition: %v, want a conflict", err)
	}
	if _, err := sendAt(t, b, other.ID, now, "invoice-1"); err != nil {
		t.Fatalf("the same event id in another app: %v", err)
	}
	// Within one batch the first wins.
	m1 := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "e", EventID: "invoice-2", Payload: []byte(`{}`), CreatedAt: store.Truncate(now)}
	m2 := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "e", EventID: "invoice-2", Payload: []byte(`{}`), CreatedAt: store.Truncate(now)}
	res, err := a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: m1}, {Message: m2}})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, store.ErrConflict) {
		t.Fatalf("one batch: %v, %v, %v", err, res[0].Err, res[1].Err)
	}

	// A message refused for its own reason (a test message to an
	// endpoint the app does not have) takes no event id from the next.
	m3 := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "e", EventID: "invoice-3", Payload: []byte(`{}`), CreatedAt: store.Truncate(now)}
	m4 := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "e", EventID: "invoice-3", Payload: []byte(`{}`), CreatedAt: store.Truncate(now)}
	res, err = a.CreateMessages(t.Context(), []store.CreateMessageParams{{Message: m3, EndpointID: "ep_missing"}, {Message: m4}})
	if err != nil || !errors.Is(res[0].Err, store.ErrNotFound) || res[1].Err != nil {
		t.Fatalf("a refused message then one with its event id: %v, %v, %v", err, res[0].Err, res[1].Err)
	}

	// Two replicas, eight senders each, one event id: one message.
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			m := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "e", EventID: "race", Payload: []byte(`{}`), CreatedAt: store.Truncate(time.Now())}
			res, err := s.CreateMessages(context.Background(), []store.CreateMessageParams{{Message: m}})
			if err != nil {
				t.Error(err)
				return
			}
			if res[0].Err == nil {
				mu.Lock()
				stored++
				mu.Unlock()
			} else if !errors.Is(res[0].Err, store.ErrConflict) {
				t.Error(res[0].Err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM messages WHERE event_id = 'race'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || n != 1 {
		t.Fatalf("%d senders told stored, %d messages with the event id; want 1 and 1", stored, n)
	}
	got, err := a.GetMessage(t.Context(), app.ID, "invoice-1")
	if err != nil || got.ID != old.ID {
		t.Fatalf("get by event id: %v", err)
	}
}

// A drop that cannot get its locks in time (a long reader) gives up
// without an error, and is not tried again for a while, so that it does
// not stall every pass.
func TestDropGivesUpOnLocks(t *testing.T) {
	t.Parallel()
	url, s, conn := hourly(t)
	app, _ := fixture(t, s)
	suffixes, spans := partitions(t, conn)
	if _, err := sendAt(t, s, app.ID, spans[1][0].Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	// The message is a test of history only: its delivery is done.
	if _, err := conn.Exec(t.Context(), `UPDATE deliveries SET status = 0`); err != nil {
		t.Fatal(err)
	}

	reader := connect(t, url)
	tx, err := reader.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT count(*) FROM messages`); err != nil {
		t.Fatal(err)
	}
	p := store.DeleteHistoryParams{Before: spans[1][1], Limit: 100}
	if n, _, err := s.DeleteHistory(t.Context(), p); err != nil || n != 0 {
		t.Fatalf("drop behind a reader: deleted %d, %v; want nothing and no error", n, err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.DeleteHistory(t.Context(), p); err != nil || n != 0 {
		t.Fatalf("right after giving up: deleted %d, %v; want the drop put off", n, err)
	}
	if !tableExists(t, conn, "messages_"+suffixes[1]) {
		t.Fatal("the partition was dropped")
	}
	// Another replica, which has not given up, drops it.
	other := openURL(t, url, postgres.WithPartitionWidth(time.Hour))
	if n, _, err := other.DeleteHistory(t.Context(), p); err != nil || n != 1 {
		t.Fatalf("another replica: deleted %d, %v", n, err)
	}
}

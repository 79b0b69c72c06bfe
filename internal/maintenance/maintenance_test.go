package maintenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/maintenance"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// disabledEndpoint opens a migrated SQLite store with an application and a
// disabled endpoint of it: each message sent gets a skipped delivery, final
// and recoverable.
func disabledEndpoint(t *testing.T) (*sqlite.Store, *store.App, *store.Endpoint, time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com/", Disabled: true,
		Metadata: map[string]string{}, Headers: map[string]string{}, Secret: "x", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	return st, app, ep, now
}

func TestRecoverTaskPagesUntilDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, app, ep, now := disabledEndpoint(t)
	// Five messages while the endpoint is disabled: five skipped deliveries.
	var msgs []string
	for range 5 {
		m := &store.Message{ID: ids.NewAt(ids.Message, now), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`),
			PayloadExpiresAt: now.Add(time.Hour), CreatedAt: now}
		rs, err := st.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}})
		if err != nil || rs[0].Err != nil || rs[0].Skipped != 1 {
			t.Fatalf("create message: %v %+v", err, rs)
		}
		msgs = append(msgs, m.ID)
	}
	params, _ := json.Marshal(store.RecoverTaskParams{Since: now.Add(-time.Minute)})
	task := &store.Task{ID: ids.New(ids.Task), Kind: store.TaskRecover, AppID: app.ID, EndpointID: ep.ID,
		Params: params, Status: store.TaskRunning, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	wakes := 0
	svc := maintenance.New(maintenance.Config{Store: st, PageSize: 2, Wake: func() { wakes++ }})
	steps := 0
	for {
		busy, err := svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			break
		}
		steps++
		if steps > 10 {
			t.Fatal("the task never finished")
		}
	}
	// Pages of 2: three pages with work, one that finds nothing.
	if steps != 4 || wakes != 3 {
		t.Errorf("steps = %d, wakes = %d; want 4 and 3", steps, wakes)
	}
	got, err := st.GetTask(ctx, task.ID)
	if err != nil || got.Status != store.TaskFinished {
		t.Fatalf("task = %+v, %v; want finished", got, err)
	}
	for _, m := range msgs {
		d, err := st.GetDelivery(ctx, store.DeliveryKey{MsgID: m, EndpointID: ep.ID})
		if err != nil || d.Status != store.StatusPending || !d.Manual {
			t.Errorf("delivery of %s = %+v, %v; want pending and manual", m, d, err)
		}
	}
}

// TestHistoryPassDeletesWhatRetentionEnded runs one history pass on a real
// store: every message accepted before now - Retention goes, a batch per
// transaction, and nothing younger.
func TestHistoryPassDeletesWhatRetentionEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, app, _, now := disabledEndpoint(t)
	send := func(at time.Time) {
		m := &store.Message{ID: ids.NewAt(ids.Message, at), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`),
			PayloadExpiresAt: at.Add(time.Hour), CreatedAt: at}
		if rs, err := st.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}}); err != nil || rs[0].Err != nil {
			t.Fatalf("create message: %v %+v", err, rs)
		}
	}
	for i := range 5 {
		send(now.Add(time.Duration(i) * time.Minute))
	}
	send(now.Add(90 * time.Minute))

	left := func() int {
		ms, err := st.ListMessages(ctx, store.ListMessagesParams{AppID: app.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	clock := func() time.Time { return now.Add(2 * time.Hour) }
	off := maintenance.New(maintenance.Config{Store: st, Now: clock, HistoryBatch: 2})
	if n, err := off.DeleteHistory(ctx); err != nil || n != 0 || left() != 6 {
		t.Fatalf("without a retention: deleted %d, %v, %d left; want nothing deleted", n, err, left())
	}
	svc := maintenance.New(maintenance.Config{Store: st, Now: clock, Retention: time.Hour, HistoryBatch: 2})
	if n, err := svc.DeleteHistory(ctx); err != nil || n != 5 {
		t.Fatalf("history pass: deleted %d, %v; want the 5 messages older than an hour", n, err)
	}
	if got := left(); got != 1 {
		t.Fatalf("%d messages left, want the one younger than the retention", got)
	}
	if n, err := svc.DeleteHistory(ctx); err != nil || n != 0 {
		t.Fatalf("second pass: deleted %d, %v; want nothing", n, err)
	}
}

// On PostgreSQL each history pass makes the partitions the next messages go
// to, even when history is kept for ever, and drops the partitions past the
// retention.
func TestHistoryPassKeepsPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.Schema(t), postgres.WithMaxConns(2), postgres.WithPartitionWidth(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: store.Truncate(now), UpdatedAt: store.Truncate(now)}
	if err := st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	send := func(at time.Time) (*store.Message, error) {
		m := &store.Message{ID: ids.At(ids.Message, at), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`), CreatedAt: store.Truncate(at)}
		_, err := st.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}})
		return m, err
	}

	// Ten hours on, with history kept for ever: the partitions reach two
	// hours past then.
	later := now.Add(10 * time.Hour)
	if _, err := send(later.Add(time.Hour)); err == nil {
		t.Fatal("stored a message beyond the partitions before the pass")
	}
	forever := maintenance.New(maintenance.Config{Store: st, Now: func() time.Time { return later }})
	if _, err := forever.DeleteHistory(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := send(later.Add(time.Hour)); err != nil {
		t.Fatalf("a message an hour after the pass's time: %v", err)
	}

	// With a retention of two hours, the hour of now is past it ten
	// hours on: its partition goes, with the message in it.
	m, err := send(now)
	if err != nil {
		t.Fatal(err)
	}
	kept := maintenance.New(maintenance.Config{Store: st, Now: func() time.Time { return later }, Retention: 2 * time.Hour})
	n, err := kept.DeleteHistory(ctx)
	if err != nil || n != 1 {
		t.Fatalf("history pass: deleted %d, %v; want the message of the dropped partition", n, err)
	}
	if _, err := st.GetMessage(ctx, app.ID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("message of a dropped partition: %v", err)
	}
}

// On PostgreSQL the service analyzes, from its start, the tables that hold
// rows but have no planner statistics (here: a bulk load).
func TestServiceAnalyzesTablesWithoutStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Schema(t)
	st, err := postgres.Open(ctx, url, postgres.WithMaxConns(2), postgres.WithPartitionWidth(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: store.Truncate(now), UpdatedAt: store.Truncate(now)}
	if err := st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: app.CreatedAt, UpdatedAt: app.CreatedAt}
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if err := st.Prefill(ctx, store.PrefillParams{AppID: app.ID, EndpointID: ep.ID, URL: ep.URL, EventType: "a.b", Messages: 20000,
		Payload: []byte(`{"a":1}`), Until: now, Every: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	analyzed := func() bool {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(DISTINCT tablename) FROM pg_stats
			WHERE schemaname = current_schema() AND tablename LIKE 'deliveries%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if analyzed() {
		t.Fatal("the deliveries have statistics before the service ran")
	}
	svc := maintenance.New(maintenance.Config{Store: st})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(ctx)
	for deadline := time.Now().Add(30 * time.Second); !analyzed(); {
		if time.Now().After(deadline) {
			t.Fatal("no statistics for the deliveries 30 s after the service started")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// A store made before the history was partitioned (migrations 0001-0006)
// keeps its messages, deliveries and attempts through migration 0007, in
// the _old partitions: they are read, claimed, completed, cascaded and
// deleted by retention as before, their event ids stay taken, and new
// messages go to the partitions after them.
func TestMigrateUnpartitionedStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Schema(t)
	s, err := Open(ctx, url, WithMaxConns(2), WithPartitionWidth(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Migrate as a release before 0007 did.
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE herald_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Version >= 7 {
				break
			}
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO herald_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: now, UpdatedAt: now}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	send := func(at time.Time, eventID string) (*store.Message, error) {
		m := &store.Message{ID: ids.At(ids.Message, at), AppID: app.ID, EventType: "e", EventID: eventID, Payload: []byte(`{}`),
			Tags: []string{"t"}, CreatedAt: store.Truncate(at)}
		res, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}})
		if err != nil {
			t.Fatalf("create message: %v", err)
		}
		return m, res[0].Err
	}
	aged, _ := send(now.Add(-100*24*time.Hour), "")
	pending, _ := send(now.Add(-time.Minute), "before-1")
	jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 3, Limit: 10})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim before the upgrade: %v, %d jobs", err, len(jobs))
	}
	// The aged message is delivered; the other one's lease is still held
	// through the upgrade.
	at := now.Add(-99 * 24 * time.Hour)
	if err := s.CompleteDeliveries(ctx, []store.Completion{{MsgID: aged.ID, EndpointID: ep.ID, Lease: 3, Status: store.StatusSuccess,
		Attempt: &store.Attempt{ID: ids.At(ids.Attempt, at), AppID: app.ID, MsgID: aged.ID, EndpointID: ep.ID, URL: "u", Status: store.StatusSuccess,
			StatusCode: 200, EventType: "e", CreatedAt: at}}}); err != nil {
		t.Fatal(err)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate to partitions: %v", err)
	}

	inPartition := func(msgID string) string {
		t.Helper()
		var table string
		if err := s.queryRow(ctx, `SELECT tableoid::regclass::text FROM messages WHERE id = $1`, msgID).Scan(&table); err != nil {
			t.Fatal(err)
		}
		return table
	}
	if p := inPartition(pending.ID); p != "messages_old" {
		t.Fatalf("an existing message is in %s after the upgrade", p)
	}
	if got, err := s.GetMessage(ctx, app.ID, "before-1"); err != nil || got.ID != pending.ID {
		t.Fatalf("get an existing message by event id: %v", err)
	}
	if _, err := send(now, "before-1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("event id of an existing message: %v, want a conflict", err)
	}
	// The partitions start an hour after the upgrade (a margin for ids
	// made on clocks a little ahead).
	fresh, err := send(now.Add(90*time.Minute), "after-1")
	if err != nil {
		t.Fatal(err)
	}
	if p := inPartition(fresh.ID); p == "messages_old" {
		t.Fatal("a message after the margin went to the _old partition")
	}
	// The lease held through the upgrade completes.
	if err := s.CompleteDeliveries(ctx, []store.Completion{{MsgID: pending.ID, EndpointID: ep.ID, Lease: 3, Status: store.StatusSuccess,
		Attempt: &store.Attempt{ID: ids.New(ids.Attempt), AppID: app.ID, MsgID: pending.ID, EndpointID: ep.ID, URL: "u", Status: store.StatusSuccess,
			StatusCode: 200, EventType: "e", CreatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDelivery(ctx, store.DeliveryKey{MsgID: pending.ID, EndpointID: ep.ID})
	if err != nil || d.Status != store.StatusSuccess {
		t.Fatalf("delivery leased before the upgrade: %v, %+v", err, d)
	}

	// Retention deletes the aged message row by row, with its attempts and
	// tags.
	n, _, err := s.DeleteHistory(ctx, store.DeleteHistoryParams{Before: now.Add(-90 * 24 * time.Hour), Limit: 10, Rescan: true})
	if err != nil || n != 1 {
		t.Fatalf("history of the _old partition: deleted %d, %v", n, err)
	}
	if _, err := s.GetMessage(ctx, app.ID, aged.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("aged message: %v", err)
	}
	var left int
	if err := s.queryRow(ctx, `SELECT (SELECT count(*) FROM attempts WHERE msg_id = $1) + (SELECT count(*) FROM message_tags WHERE msg_id = $1)`,
		aged.ID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("attempts and tags of the aged message: %d, %v", left, err)
	}

	// Deleting the app cascades through every partition.
	if err := s.DeleteApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.queryRow(ctx, `SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM attempts)
		+ (SELECT count(*) FROM message_tags)`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("rows left after the app was deleted: %d, %v", left, err)
	}
}

// A partition another replica dropped while this one looked at it is
// skipped, not an error.
func TestDropPartitionGone(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), pgtest.Schema(t), WithMaxConns(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.dropPartition(context.Background(), "p20000101t000000"); !errors.Is(err, errGone) {
		t.Fatalf("drop of a partition that is gone: %v, want errGone", err)
	}
}

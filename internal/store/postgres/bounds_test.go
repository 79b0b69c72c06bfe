package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// Every connection gets the default statement and lock timeouts, unless
// the URL sets its own.
func TestTimeoutsSet(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	for _, c := range []struct {
		name, url, statement, lock string
		opts                       []postgres.Option
	}{
		{"defaults", url, "30s", "10s", nil},
		{"options", url, "2s", "0", []postgres.Option{postgres.WithStatementTimeout(2 * time.Second), postgres.WithLockTimeout(0)}},
		{"url", url + "&statement_timeout=5000&options=-c%20lock_timeout%3D7000", "5s", "7s", nil},
	} {
		s := openURL(t, c.url, c.opts...)
		for name, want := range map[string]string{"statement_timeout": c.statement, "lock_timeout": c.lock} {
			got, err := s.Setting(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: %s = %s, want %s", c.name, name, got, want)
			}
		}
	}
}

// lockApp holds a row lock on app from a connection of its own until the
// test ends.
func lockApp(t *testing.T, url, appID string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM apps WHERE id = $1 FOR UPDATE`, appID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tx.Rollback(context.Background())
		conn.Close(context.Background())
	})
}

// A write that waits for a lock held elsewhere comes back as
// store.ErrUnavailable when the statement timeout, the lock timeout or,
// for a caller whose context has no deadline, the call timeout ends,
// instead of waiting for as long as the lock is held.
func TestWaitsAreBounded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts []postgres.Option
		want string // in the error
	}{
		{"statement timeout", []postgres.Option{postgres.WithStatementTimeout(200 * time.Millisecond), postgres.WithLockTimeout(0)},
			"statement timeout"},
		{"lock timeout", []postgres.Option{postgres.WithLockTimeout(200 * time.Millisecond)}, "lock timeout"},
		{"call timeout", []postgres.Option{postgres.WithStatementTimeout(0), postgres.WithLockTimeout(0),
			postgres.WithCallTimeout(200 * time.Millisecond)}, "deadline exceeded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.Schema(t)
			s := openURL(t, url, c.opts...)
			app, _ := fixture(t, s)
			lockApp(t, url, app.ID)

			done := make(chan error, 1)
			start := time.Now()
			go func() {
				name := "renamed"
				_, err := s.UpdateApp(context.Background(), store.UpdateAppParams{ID: app.ID, Name: &name, UpdatedAt: start})
				done <- err
			}()
			select {
			case err := <-done:
				t.Logf("%v after %v", err, time.Since(start))
				if !errors.Is(err, store.ErrUnavailable) || !containsFold(err.Error(), c.want) {
					t.Errorf("update of a locked row: %v, want ErrUnavailable (%s)", err, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("update of a locked row still waiting after 10s")
			}
		})
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Server errors that mean "not now" come back as store.ErrUnavailable, a
// full disk as store.ErrStorageFull (which is ErrUnavailable too). A
// trigger raises each SQLSTATE as the server would.
func TestResourceErrorsMapped(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	s := openURL(t, url)
	app, _ := fixture(t, s)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, c := range []struct {
		code        string
		full, unava bool
	}{
		{"53100", true, true},   // disk_full
		{"53200", false, true},  // out_of_memory
		{"53300", false, true},  // too_many_connections
		{"22012", false, false}, // division_by_zero: a bug, not an outage
	} {
		if _, err := conn.Exec(t.Context(), `CREATE OR REPLACE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '`+c.code+`'; END $$;
			CREATE OR REPLACE TRIGGER fail BEFORE UPDATE ON apps FOR EACH ROW EXECUTE FUNCTION fail()`); err != nil {
			t.Fatal(err)
		}
		name := "x"
		_, err := s.UpdateApp(t.Context(), store.UpdateAppParams{ID: app.ID, Name: &name, UpdatedAt: time.Now()})
		if err == nil || errors.Is(err, store.ErrStorageFull) != c.full || errors.Is(err, store.ErrUnavailable) != c.unava {
			t.Errorf("SQLSTATE %s: %v; want storage full %v, unavailable %v", c.code, err, c.full, c.unava)
		}
	}
}

package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// TestBackupWhileWriting backs up a database while another connection keeps
// committing to it, restores the copy, and checks that it holds a prefix of
// the commits: every write acknowledged before the backup began, none half
// written, and nothing that was not written.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "herald.db")
	s, err := sqlite.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	create := func(n int64) error {
		now := time.Now()
		return s.CreateApp(ctx, &store.App{ID: ids.New(ids.App), UID: fmt.Sprintf("app-%06d", n), Name: "backup", CreatedAt: now, UpdatedAt: now})
	}
	// Writes go on before, during and after the backup.
	var written atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := create(written.Load() + 1); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	before := written.Load()
	dst := filepath.Join(dir, "backup.db")
	if err := sqlite.Backup(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	after := written.Load()
	for written.Load() < after+50 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writes during the backup: %v", err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if err := sqlite.Backup(ctx, src, dst); err == nil {
		t.Error("a second backup to the same file succeeded; want it refused")
	}
	if err := sqlite.Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "other.db")); err == nil {
		t.Error("a backup of a missing database succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a backup of a missing database created it")
	}

	// Restore: the copy is a database of its own, with the schema applied.
	r, err := sqlite.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Migrate(ctx); err != nil {
		t.Fatalf("migrate the restored copy: %v", err)
	}
	var apps []*store.App
	for page := (store.Page{Limit: 250}); ; {
		got, err := r.ListApps(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, got...)
		if len(got) < page.Limit {
			break
		}
		page.After = got[len(got)-1].ID
	}
	n := int64(len(apps))
	if n < before || n > after+1 {
		t.Fatalf("restored copy has %d apps; want between %d (written before the backup) and %d", n, before, after+1)
	}
	// A prefix: app-000001 .. app-n, each exactly once.
	seen := map[string]bool{}
	for _, a := range apps {
		seen[a.UID] = true
	}
	for i := int64(1); i <= n; i++ {
		if !seen[fmt.Sprintf("app-%06d", i)] {
			t.Fatalf("restored copy of %d apps lacks app-%06d", n, i)
		}
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("backed up %d apps while %d..%d were written", n, before, after)
}

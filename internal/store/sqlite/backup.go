package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the SQLite database at src to the new
// file dst while other connections, in this process or another (a running
// herald serve), keep reading and writing it.
//
// It runs VACUUM INTO on a connection of its own: one read transaction, so
// the copy is the database as of one commit, and in WAL mode it never blocks
// the writer. The copy is compacted, has no -wal file to go with it, and is
// synced to disk before Backup returns. dst is created readable by its owner
// only, like the database; Backup fails if it exists, or if src does not.
func Backup(ctx context.Context, src, dst string) (err error) {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: database: %w", err)
	}
	// VACUUM INTO accepts an empty existing file: creating it first gives
	// it the mode and refuses to overwrite an earlier backup.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup: %w", convert(err))
	}
	return syncFile(dst)
}

// syncFile puts path and its directory entry on disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: sync: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		// Not every system syncs a directory; the file is synced anyway.
		if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
			d.Close()
			return fmt.Errorf("backup: sync directory: %w", err)
		}
		d.Close()
	}
	return nil
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// BackupResult says what Backup wrote.
type BackupResult struct {
	// Database is the path of the copy of the database.
	Database string
	// KeyFile is the path of the copy of the generated encryption key file;
	// empty when the key was not copied (HERALD_ENCRYPTION_KEY is set, or
	// there was no key file).
	KeyFile string
}

// Backup writes a consistent copy of the SQLite database that cfg names to
// dst while servers keep using it, and a copy of the encryption key file
// that Herald generated beside it, if there is one, to dst + ".key": the
// endpoint secrets in the copy are sealed with that key. A PostgreSQL
// database is backed up with pg_dump instead.
func Backup(ctx context.Context, cfg *config.Config, dst string) (BackupResult, error) {
	if cfg.IsPostgres() {
		return BackupResult{}, errors.New("backup: the database is PostgreSQL: back it up with pg_dump (see the README), and keep HERALD_ENCRYPTION_KEY with it")
	}
	src := config.SQLitePath(cfg.Database)
	if err := sqlite.Backup(ctx, src, dst); err != nil {
		return BackupResult{}, err
	}
	res := BackupResult{Database: dst}
	if cfg.EncryptionKey != "" {
		return res, nil
	}
	err := copyNew(src+".key", dst+".key")
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("backup: copy the encryption key file: %w", err)
	}
	res.KeyFile = dst + ".key"
	return res, nil
}

// copyNew copies the file src to the new file dst, readable by its owner
// only, and syncs it.
func copyNew(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

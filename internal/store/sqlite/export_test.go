package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// LimitPages sets PRAGMA max_page_count on the writer connection to the
// database's current size plus extra pages, so that a write needing more
// fails as on a full disk (SQLITE_FULL). It returns the limit set.
func (s *Store) LimitPages(ctx context.Context, extra int) (int, error) {
	var limit int
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&n); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, n+extra)).Scan(&limit)
	})
	return limit, err
}

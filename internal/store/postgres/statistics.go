package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// analyzeMinBytes is the size from which a table without planner
// statistics is analyzed: below it, a plan that reads the whole table is
// still cheap.
const analyzeMinBytes = 1 << 20

// sqlUnanalyzed lists the store's tables (history partitions among them)
// that hold at least $1 bytes and have no planner statistics: ANALYZE
// never ran on them since they held rows. It also reports whether
// autovacuum, which would analyze them, is on.
const sqlUnanalyzed = `SELECT c.relname, current_setting('autovacuum')::boolean
	FROM pg_class AS c
	WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'r'
		AND pg_relation_size(c.oid) >= $1
		AND NOT EXISTS (SELECT 1 FROM pg_stats AS s WHERE s.schemaname = current_schema() AND s.tablename = c.relname)
	ORDER BY c.relname`

// AnalyzeUnanalyzed runs ANALYZE on each of the store's tables that holds
// rows (a megabyte or more) but has no planner statistics, and returns
// their names and, when there were some, whether autovacuum is on.
//
// Without statistics PostgreSQL cannot tell that a look-up by primary key
// returns one row: after a bulk load, or with autovacuum off, it recorded a
// batch of attempts by sorting the whole deliveries table (2.8 s at 10 M
// rows), and a claim and the recording of attempts each ran into the
// 30-second statement timeout, over and over (BENCHMARKS.md). Autovacuum
// analyzes a table a minute or so after it fills; this covers the time
// before, a bulk load, and a database where autovacuum is off. Each ANALYZE
// reads a sample (30,000 rows at the default statistics target) and takes
// no lock that stops reads or writes.
func (s *Store) AnalyzeUnanalyzed(ctx context.Context) (tables []string, autovacuum bool, err error) {
	rows, err := s.query(ctx, sqlUnanalyzed, analyzeMinBytes)
	if err != nil {
		return nil, false, wrap("find tables without statistics", err)
	}
	autovacuum = true
	s.analyzedMu.Lock()
	defer s.analyzedMu.Unlock()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name, &autovacuum); err != nil {
			rows.Close()
			return nil, false, wrap("find tables without statistics", err)
		}
		// A table ANALYZE leaves without statistics (its rows all
		// deleted, or not Herald's to analyze) is tried once.
		if !s.analyzed[name] {
			tables = append(tables, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, wrap("find tables without statistics", err)
	}
	for i, t := range tables {
		if _, err := s.exec(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize()); err != nil {
			return tables[:i], autovacuum, wrap("analyze "+t, err)
		}
		if s.analyzed == nil {
			s.analyzed = map[string]bool{}
		}
		s.analyzed[t] = true
	}
	return tables, autovacuum, nil
}

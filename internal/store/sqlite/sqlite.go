// Package sqlite is Herald's embedded store driver: one SQLite file, pure Go
// (modernc.org/sqlite, no cgo).
//
// SQLite has one writer at a time, so the driver keeps two pools: a write
// pool of exactly one connection, on which every write runs as a BEGIN
// IMMEDIATE transaction (writers queue in Go instead of spinning on
// SQLITE_BUSY), and a read pool of several connections that WAL mode lets
// read while the writer writes. Every connection gets the same pragmas from
// the DSN: WAL, a busy timeout, foreign keys on, and the configured
// synchronous level (FULL by default: a write acknowledged is a write that
// survives a power cut).
//
// The hot path (CreateMessages, ClaimDeliveries, CompleteDeliveries) runs one
// transaction per batch with statements prepared once.
//
// # A full disk
//
// A write that finds no space (SQLITE_FULL, or an I/O error writing,
// syncing or growing a file) fails with store.ErrStorageFull, and so does
// every other write of its batch: the batch's transaction is rolled back
// whole, since SQLite may already have rolled it back. Until a write
// succeeds again, Ping fails with that error too, after trying a small
// write of its own, so that a health check reports the store as unable to
// write and notices by itself when space comes back.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	w    *sql.DB // one connection: the single writer
	r    *sql.DB // readers
	stmt statements
	// writes feed the writer goroutine, which owns the write connection.
	writes     chan *writeReq
	writerDone chan struct{}
	wmu        sync.RWMutex // held for reading while submitting a write
	wclosed    bool
	// reads caches read statements by SQL text: preparing (parsing) a
	// statement costs more than running a point query.
	reads sync.Map // string -> *sql.Stmt
	nread atomic.Int32
	// full is the error of the last write that failed with
	// store.ErrStorageFull, until a batch that changes something commits.
	full atomic.Pointer[error]
	// historyAfter is the rowid after which the next DeleteHistory call
	// reads; only the writer touches it.
	historyAfter int64
}

// maxReadStmts bounds the read statement cache; list queries are built from a
// bounded set of filters, so the distinct texts are few.
const maxReadStmts = 512

func (s *Store) readStmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := s.reads.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if s.nread.Load() >= maxReadStmts {
		return nil
	}
	st, err := s.r.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared query reports the error
	}
	if prev, loaded := s.reads.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	s.nread.Add(1)
	return st
}

// queryRow runs a read query that returns one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, q, args...)
}

// query runs a read query.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	synchronous string
	busyTimeout time.Duration
	readConns   int
	cacheKiB    int
}

// WithSynchronous sets PRAGMA synchronous: "FULL" (the default: every commit
// is on disk before it returns) or "NORMAL" (WAL commits are durable after the
// next checkpoint; a power cut can lose the last transactions, never corrupt
// the file).
func WithSynchronous(level string) Option {
	return func(o *options) { o.synchronous = strings.ToUpper(level) }
}

// WithBusyTimeout sets how long a connection waits for a lock held by another
// process before failing with store.ErrUnavailable. The default is 5s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithReadConns sets the size of the read pool. The default is 4.
func WithReadConns(n int) Option {
	return func(o *options) { o.readConns = n }
}

// WithCacheSize sets the page cache of each connection, in KiB. The default
// is 32768 (32 MiB) for the writer and a quarter of that for each reader.
func WithCacheSize(kib int) Option {
	return func(o *options) { o.cacheKiB = kib }
}

// Open opens the SQLite database at path, a file name, creating the file
// (mode 0600) and its directory if needed. It does not migrate the schema:
// call Migrate.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{synchronous: "FULL", busyTimeout: 5 * time.Second, readConns: 4, cacheKiB: 32 << 10}
	for _, opt := range opts {
		opt(&o)
	}
	if o.synchronous != "FULL" && o.synchronous != "NORMAL" {
		return nil, fmt.Errorf("open sqlite: synchronous must be FULL or NORMAL, not %q", o.synchronous)
	}
	if o.readConns < 1 {
		return nil, fmt.Errorf("open sqlite: read connections must be at least 1, not %d", o.readConns)
	}
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite: %q is not a file path", path)
	}
	if path == ":memory:" {
		// Each connection of the pools would see its own empty database.
		return nil, errors.New("open sqlite: in-memory databases are not supported: use a file (a temporary one in tests)")
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	dsn := func(txlock string, cacheKiB int, extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous("+o.synchronous+")")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
		q.Add("_pragma", "temp_store(MEMORY)")
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", txlock)
		return path + "?" + q.Encode()
	}

	w, err := sql.Open("sqlite", dsn("immediate", o.cacheKiB))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first: it turns WAL on before readers open.
	if err := pingWhileBusy(ctx, w, o.busyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", convert(err))
	}
	r, err := sql.Open("sqlite", dsn("deferred", max(o.cacheKiB/4, 2048), "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := pingWhileBusy(ctx, r, o.busyTimeout); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite: %w", convert(err))
	}
	s := &Store{w: w, r: r, writes: make(chan *writeReq, maxWriteBatch), writerDone: make(chan struct{})}
	go s.writer()
	return s, nil
}

// pingWhileBusy connects db, trying again for up to timeout while the
// database is busy: the pragmas a new connection runs (journal_mode(WAL)
// among them) can meet another process or connection opening the same file
// and fail with SQLITE_BUSY without waiting on the busy handler.
func pingWhileBusy(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// createFile creates the database file and its directory if they do not
// exist, readable by the owner only: the database holds sealed secrets and
// token hashes. SQLite gives its -wal and -shm files the same mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes both pools.
func (s *Store) Close() error {
	s.wmu.Lock()
	if !s.wclosed {
		s.wclosed = true
		close(s.writes)
	}
	s.wmu.Unlock()
	<-s.writerDone
	s.stmt.close()
	s.reads.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers and, after a write failed for lack
// of space, that it can write again.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", convert(err))
	}
	if s.full.Load() != nil {
		if err := s.probe(ctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
	return nil
}

// probe writes a row that needs new pages (a value larger than a page) and
// deletes it in the same transaction: it commits only if the database can
// grow, and then, changing rows, clears s.full. Nothing of it remains but
// free pages that the next writes use.
func (s *Store) probe(ctx context.Context) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		const key = "herald.write_probe"
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, hex(randomblob(8192)))
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key)
		return err
	})
}

// Migrate applies the migrations not applied yet, each in its own IMMEDIATE
// transaction that also records it in herald_migrations. Two processes
// migrating the same file at once are serialised by SQLite's write lock; the
// second finds the versions already recorded and skips them.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (
				version    INTEGER NOT NULL PRIMARY KEY,
				name       TEXT    NOT NULL,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM herald_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO herald_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	if err := s.stmt.prepare(ctx, s.w); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// write runs fn in an IMMEDIATE transaction on the writer and commits it.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.wmu.RLock()
	if s.wclosed {
		s.wmu.RUnlock()
		return errors.New("sqlite: store closed")
	}
	select {
	case s.writes <- req:
		s.wmu.RUnlock()
	case <-ctx.Done():
		s.wmu.RUnlock()
		return ctx.Err()
	}
	// The writer always answers: waiting for it (rather than for ctx) means
	// the caller learns whether its write took effect.
	return <-req.done
}

// writeReq is one write transaction's work, waiting for the writer.
type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// maxWriteBatch caps the writes that share one transaction.
const maxWriteBatch = 256

// writer runs every write of the store on its one connection. Writes that
// are waiting when it becomes free share one transaction, each inside its
// own savepoint so that a write that fails is undone alone: ingest batches,
// attempt records, claims and API changes then share one commit (one fsync
// with synchronous=FULL) instead of paying one each.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*writeReq, 0, maxWriteBatch)
	for req := range s.writes {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < maxWriteBatch {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs writes in one transaction. Each write's function gets a
// context that cannot be cancelled: interrupting a statement would roll back
// the whole transaction, other callers' writes included. A caller that gave
// up before its turn is skipped. A write that fails for lack of space fails
// the whole batch: SQLite may have rolled the transaction back already, and
// the next writes would fail the same way.
func (s *Store) runBatch(batch []*writeReq) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		if errors.Is(err, store.ErrStorageFull) {
			s.full.Store(&err)
		}
		for _, r := range batch {
			r.done <- err
		}
	}
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(convert(err))
		return
	}
	// While writes fail for lack of space, a batch clears the state only
	// if it commits a change.
	var changesBefore int64
	full := s.full.Load() != nil
	if full {
		if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&changesBefore); err != nil {
			tx.Rollback()
			fail(convert(err))
			return
		}
	}
	shared := len(batch) > 1
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if shared {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				tx.Rollback()
				fail(convert(err))
				return
			}
		}
		err := convert(r.fn(context.WithoutCancel(r.ctx), tx))
		switch {
		case err != nil && (!shared || errors.Is(err, store.ErrStorageFull)):
			tx.Rollback()
			fail(err)
			return
		case err != nil:
			errs[i] = err
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				// The transaction is gone with the savepoint: the
				// write's error says why.
				tx.Rollback()
				fail(err)
				return
			}
			fallthrough
		case shared:
			if _, rerr := tx.ExecContext(ctx, "RELEASE w"); rerr != nil {
				tx.Rollback()
				fail(convert(rerr))
				return
			}
		}
	}
	changed := true
	if full {
		var after int64
		if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
			tx.Rollback()
			fail(convert(err))
			return
		}
		changed = after > changesBefore
	}
	if err := tx.Commit(); err != nil {
		// SQLite rolls back a transaction whose commit failed for lack
		// of space, but leaves one whose commit was busy: never leave the
		// writer connection inside a transaction.
		_, _ = s.w.ExecContext(ctx, "ROLLBACK")
		fail(convert(err))
		return
	}
	if full && changed {
		s.full.Store(nil)
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// convert maps driver errors to the store's: no rows is ErrNotFound, a
// uniqueness violation ErrConflict, a missing parent row (foreign key)
// ErrNotFound, a lock that could not be had ErrUnavailable, and a write that
// found no space ErrStorageFull. Errors keep their message.
func convert(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return store.ErrConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.ErrNotFound
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %v", store.ErrStorageFull, err)
		}
		switch se.Code() {
		// A full disk also shows as these: growing the shared-memory
		// file, a write the file system cut short (or a file size limit),
		// an fsync or a truncation that failed for lack of space.
		case sqlite3.SQLITE_IOERR_SHMSIZE, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC, sqlite3.SQLITE_IOERR_TRUNCATE:
			return fmt.Errorf("%w: %v", store.ErrStorageFull, err)
		}
	}
	return err
}

// wrap converts err and adds what was being done.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, convert(err))
}

// mustAffect turns an UPDATE or DELETE that changed nothing into ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ts is a time as stored: unix microseconds, or NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// tsv is a non-null time as stored.
func tsv(t time.Time) int64 { return t.UnixMicro() }

// tscan scans a time column (NULL: zero time) into *t.
type tscan struct{ t *time.Time }

func (s tscan) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// nstr stores "" as NULL.
func nstr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sscan scans a nullable TEXT column into *s ("" for NULL).
type sscan struct{ s *string }

func (x sscan) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*x.s = ""
	case string:
		*x.s = v
	case []byte:
		*x.s = string(v)
	default:
		return fmt.Errorf("text column holds %T", v)
	}
	return nil
}

// jsonMap stores a map as a JSON object ("{}" for nil).
func jsonMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// mscan scans a JSON object column into a never-nil map.
type mscan struct{ m *map[string]string }

func (x mscan) Scan(v any) error {
	m := map[string]string{}
	if b := asBytes(v); len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("map column: %w", err)
		}
	}
	*x.m = m
	return nil
}

// jsonList stores a list as a JSON array, nil as NULL.
func jsonList[T any](l []T) (any, error) {
	if l == nil {
		return nil, nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// lscan scans a JSON array column (NULL: nil).
type lscan[T any] struct{ l *[]T }

func (x lscan[T]) Scan(v any) error {
	*x.l = nil
	if v == nil {
		return nil
	}
	l := []T{}
	if err := json.Unmarshal(asBytes(v), &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*x.l = l
	return nil
}

// rawscan scans a nullable JSON column into a RawMessage (NULL: nil).
type rawscan struct{ r *json.RawMessage }

func (x rawscan) Scan(v any) error {
	if v == nil {
		*x.r = nil
		return nil
	}
	*x.r = json.RawMessage(slices.Clone(asBytes(v)))
	return nil
}

// bscan scans a nullable BLOB into a fresh slice (NULL: nil).
type bscan struct{ b *[]byte }

func (x bscan) Scan(v any) error {
	if v == nil {
		*x.b = nil
		return nil
	}
	b := asBytes(v)
	*x.b = append(make([]byte, 0, len(b)), b...)
	return nil
}

func asBytes(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// rawArg stores a RawMessage as TEXT, nil as NULL.
func rawArg(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return string(r)
}

// blobArg stores bytes as a BLOB, nil as NULL.
func blobArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// validationArg stores an event type's payload validation setting: NULL
// for the server's default, else 1 or 0.
func validationArg(v store.PayloadValidation) any {
	switch v {
	case store.ValidationOn:
		return 1
	case store.ValidationOff:
		return 0
	}
	return nil
}

// vscan scans validate_payloads (NULL, 1 or 0) into a PayloadValidation.
type vscan struct{ v *store.PayloadValidation }

func (x vscan) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*x.v = store.ValidationDefault
	case int64:
		*x.v = store.ValidationOff
		if v != 0 {
			*x.v = store.ValidationOn
		}
	default:
		return fmt.Errorf("validate_payloads column holds %T", v)
	}
	return nil
}

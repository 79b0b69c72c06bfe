// Package postgres is Herald's scale-out store driver: PostgreSQL through
// pgx v5 (pgxpool, no database/sql). Any number of Herald processes may share
// one database; everything they must agree on (the delivery queue and its
// leases, idempotency records, eventId uniqueness, tasks) lives in it.
//
// The hot path runs one transaction per batch and few round trips:
// ClaimDeliveries is one statement (a FOR UPDATE SKIP LOCKED select feeding
// an UPDATE ... RETURNING), CompleteDeliveries and ReleaseDeliveries are one
// pipelined batch (one implicit transaction, one round trip) over arrays
// passed to unnest, and CreateMessages takes two round trips (BEGIN with
// the endpoints of the batch's apps, read once; then one statement writing
// every message and delivery, with COMMIT). A write that comes with events
// (see store.Events) takes the same two round trips, its change queued
// before the read of the endpoints; without events it is one round trip,
// as before.
//
// Writes that make unleased deliveries due (CreateMessages without a lease,
// ReleaseDeliveries, ResendDelivery, RecoverDeliveries, the events that
// other writes make with their change) also NOTIFY herald_due in their
// transaction; ListenDue lets every process sharing the database wake its
// delivery engine on it (see store.Cluster).
//
// Connection failures (the server restarting, a network cut, a connection
// terminated by an administrator) come back as store.ErrUnavailable, so that
// the API answers 503 and the engine backs off; the pool reconnects by
// itself when the server answers again.
//
// # Bounds
//
// No store call waits forever, even when the network drops packets
// silently:
//   - the server cancels a statement that runs longer than
//     DefaultStatementTimeout or waits longer than DefaultLockTimeout for a
//     lock (the statement_timeout and lock_timeout of every connection,
//     unless the URL sets them; see WithStatementTimeout and
//     WithLockTimeout);
//   - a call whose context has no deadline gets DefaultCallTimeout (see
//     WithCallTimeout), longer than the statement timeout so that a server
//     that answers reports its own error first;
//   - connections use TCP keepalive (probes after 15s idle, every 5s, 3 of
//     them) and, on Linux, TCP_USER_TIMEOUT (30s), so that a server that
//     stops answering at the TCP level is noticed within about 30s even by
//     the LISTEN connection, which waits without a deadline.
//
// Each failure comes back as store.ErrUnavailable. Migrate lifts the first
// two bounds for its own session: a migration may take long, and replicas
// wait for the one that migrates.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// connConfig is the configuration of the pool's connections, for the
	// dedicated LISTEN connection.
	connConfig *pgx.ConnConfig
	// callTimeout bounds calls whose context has no deadline (0: none).
	callTimeout time.Duration
	log         *slog.Logger
	// listenFailures counts the failures of ListenDue's connection.
	listenFailures atomic.Int64
	// historyAfter is the creation time from which the next DeleteHistory
	// call reads (zero: the oldest message).
	historyMu    sync.Mutex
	historyAfter time.Time
	// partitionWidth is the time range of each history partition
	// EnsurePartitions makes; partitionsUntil is the end of the last one
	// this store knows to exist (partitions.go).
	partitionWidth  time.Duration
	partitionsMu    sync.Mutex
	partitionsUntil time.Time
	// dropRetryAt is when a partition drop that gave up waiting for its
	// locks is tried again.
	dropRetryAt time.Time
	// analyzed names the tables AnalyzeUnanalyzed has analyzed: one that
	// still has no statistics after it is not analyzed again.
	analyzedMu sync.Mutex
	analyzed   map[string]bool
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Cluster = (*Store)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns         int32
	connectTimeout   time.Duration
	statementTimeout time.Duration
	lockTimeout      time.Duration
	callTimeout      time.Duration
	log              *slog.Logger
	partitionWidth   time.Duration
}

// Default bounds (see the package documentation).
const (
	DefaultStatementTimeout = 30 * time.Second
	DefaultLockTimeout      = 10 * time.Second
	DefaultCallTimeout      = 45 * time.Second
)

// WithStatementTimeout sets the statement_timeout of the store's
// connections, unless the URL sets it: the server cancels a statement that
// runs longer. 0 means none. The default is DefaultStatementTimeout.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = d }
}

// WithLockTimeout sets the lock_timeout of the store's connections, unless
// the URL sets it: the server cancels a statement that waits longer for a
// lock. 0 means none. The default is DefaultLockTimeout.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// WithCallTimeout bounds each store call whose context has no deadline. 0
// means none. The default is DefaultCallTimeout.
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) { o.callTimeout = d }
}

// WithMaxConns sets the size of the connection pool. The default is 10:
// three replicas and their LISTEN connections fit well within PostgreSQL's
// default max_connections of 100.
func WithMaxConns(n int) Option {
	return func(o *options) { o.maxConns = int32(n) }
}

// WithConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout. The default is 5s.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithLogger sets the logger of the store's background work (the LISTEN
// connection of ListenDue). The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithPartitionWidth sets the time range of each history partition that
// Migrate and EnsurePartitions make (see PartitionWidth). The default is
// PartitionWidth(0), a week.
func WithPartitionWidth(d time.Duration) Option {
	return func(o *options) { o.partitionWidth = d }
}

// Open connects to the PostgreSQL database at url (postgres:// or
// postgresql://; libpq's parameters such as sslmode, connect_timeout or
// search_path may be given in the query) and checks that it answers. It does
// not migrate the schema: call Migrate.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{maxConns: 10, connectTimeout: 5 * time.Second, statementTimeout: DefaultStatementTimeout,
		lockTimeout: DefaultLockTimeout, callTimeout: DefaultCallTimeout, log: slog.New(slog.DiscardHandler),
		partitionWidth: PartitionWidth(0)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxConns < 1 {
		return nil, fmt.Errorf("open postgres: the pool needs at least 1 connection, not %d", o.maxConns)
	}
	if o.statementTimeout < 0 || o.lockTimeout < 0 || o.callTimeout < 0 {
		return nil, errors.New("open postgres: timeouts must not be negative")
	}
	if o.partitionWidth < time.Hour {
		return nil, fmt.Errorf("open postgres: a history partition spans at least an hour, not %v", o.partitionWidth)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// Not pgx's message: it quotes the URL, and hiding the password
		// in a URL that does not parse is guesswork.
		if cause := errors.Unwrap(err); cause != nil {
			return nil, fmt.Errorf("open postgres: the database URL is not valid: %v", cause)
		}
		return nil, errors.New("open postgres: the database URL is not valid")
	}
	cfg.MaxConns = o.maxConns
	cfg.MinConns = 0
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = o.connectTimeout
	}
	setRuntimeParam(cfg.ConnConfig, "statement_timeout", o.statementTimeout)
	setRuntimeParam(cfg.ConnConfig, "lock_timeout", o.lockTimeout)
	cfg.ConnConfig.DialFunc = dialer().DialContext
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", convert(err))
	}
	s := &Store{pool: pool, connConfig: cfg.ConnConfig.Copy(), log: o.log, partitionWidth: o.partitionWidth}
	// The first connection is bounded by the connect timeout (and ctx),
	// not by the call timeout, which is for calls on an open store: a
	// short call timeout must not fail Open on a busy database server.
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s.callTimeout = o.callTimeout
	return s, nil
}

// setRuntimeParam sets the server parameter name of every connection to d
// in milliseconds, unless the URL sets it (directly or in options).
func setRuntimeParam(cfg *pgx.ConnConfig, name string, d time.Duration) {
	if _, ok := cfg.RuntimeParams[name]; ok || strings.Contains(cfg.RuntimeParams["options"], name) {
		return
	}
	cfg.RuntimeParams[name] = strconv.FormatInt(d.Milliseconds(), 10)
}

// TCP keepalive and user timeout of the store's connections (see the
// package documentation).
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	tcpUserTimeout    = 30 * time.Second
)

// dialer dials the store's connections with TCP keepalive and a TCP user
// timeout (where the system has one), so that a server that stops
// answering at the TCP level breaks the connection instead of leaving a
// read waiting forever.
func dialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
}

// bound gives ctx the store's call timeout when it has no deadline.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.callTimeout == 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.callTimeout)
}

// exec runs a statement on the pool within the call bound.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.pool.Exec(ctx, sql, args...)
}

// queryRow runs a query on the pool within the call bound, which ends when
// the row is scanned.
func (s *Store) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := s.bound(ctx)
	return boundRow{s.pool.QueryRow(ctx, sql, args...), cancel}
}

type boundRow struct {
	pgx.Row
	cancel context.CancelFunc
}

func (r boundRow) Scan(dest ...any) error {
	defer r.cancel()
	return r.Row.Scan(dest...)
}

// query runs a query on the pool within the call bound, which ends when
// the rows are closed.
func (s *Store) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := s.bound(ctx)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return boundRows{rows, cancel}, nil
}

type boundRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r boundRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// Close closes the pool's connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", convert(err))
	}
	return nil
}

// Migrate applies the migrations not applied yet, each in its own
// transaction that also records it in herald_migrations, and then makes
// the history partitions the next messages go to (EnsurePartitions).
// Replicas starting at once are serialised by a session advisory lock keyed
// by the schema the tables go to: the first migrates, the others then find
// every version recorded and skip them.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return err
	}
	// Made as part of the migration: not bounded by the call timeout.
	if err := s.ensurePartitions(ctx, time.Now(), s.unboundedTx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", convert(err))
	}
	defer conn.Release()
	const lockKey = `hashtextextended('herald.migrate.' || current_schema(), 0)`
	// A migration may run long, and a replica waits for the one migrating.
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0; SET lock_timeout = 0`); err != nil {
		return fmt.Errorf("migrate: %w", convert(err))
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", convert(err))
	}
	defer func() {
		// The lock also ends with the session, should this fail; the
		// session's timeouts go back to the connection's.
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey+`); RESET statement_timeout; RESET lock_timeout`); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", convert(err))
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM herald_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if err := setHistoryStart(ctx, tx, time.Now()); err != nil {
				return err
			}
			// The simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO herald_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, convert(err))
		}
	}
	return nil
}

// tx runs fn in a transaction, within the call bound, and commits it; fn
// gets the bounded context.
func (s *Store) tx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.unboundedTx(ctx, fn)
}

// unboundedTx is tx without the call bound, for work that runs as long as
// it must (a migration's).
func (s *Store) unboundedTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return convert(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) }))
}

// batch sends b as one pipelined round trip, one implicit transaction (all
// of it takes effect or none), within the call bound, and checks every
// result.
func (s *Store) batch(ctx context.Context, b *pgx.Batch) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return convert(s.pool.SendBatch(ctx, b).Close())
}

// convert maps driver errors to the store's: no rows is ErrNotFound, a
// uniqueness violation ErrConflict, a missing parent row (foreign key)
// ErrNotFound, a full disk ErrStorageFull, and anything that says the
// database could not be reached, the connection was lost or the server
// lacks resources (memory, connections) ErrUnavailable. Errors keep their
// message.
func convert(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return store.ErrConflict
		case pe.Code == "23503": // foreign_key_violation
			return store.ErrNotFound
		case pe.Code == "53100": // disk_full
			return fmt.Errorf("%w: %v", store.ErrStorageFull, err)
		case unavailableCode(pe.Code):
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return err
}

// unavailableCode reports whether a server error means the database is
// going away, starting, refusing connections, or cannot take the operation
// now but would later.
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection_exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient_resources: too_many_connections, disk_full...
		return true
	}
	switch code {
	case "57P01", // admin_shutdown: also pg_terminate_backend
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up or shutting down
		"57P05", // idle_session_timeout
		"25006", // read_only_sql_transaction: a standby after a failover
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"57014", // query_canceled: statement_timeout
		"55P03", // lock_not_available: lock_timeout
		"55000": // object_not_in_prerequisite_state: a database not accepting connections
		return true
	}
	return false
}

// unreachable reports whether err is a failure to reach the server or a
// lost connection (no server error came back).
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		// Waiting for a connection or an answer took longer than the
		// caller allowed: the database is too slow to answer.
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool")
}

// wrap converts err and adds what was being done.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, convert(err))
}

// mustAffect turns an UPDATE or DELETE that changed nothing into ErrNotFound.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Package maintenance runs Herald's background work that is not delivery:
// paged tasks that survive restarts (endpoint recovery) and retention
// (expired idempotency records and message payloads, and the history of
// messages older than the retention). Every replica may run it: tasks are
// leased in the store, and cleanup is idempotent.
package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/store"
)

// Store is the part of store.Store the service uses: tasks and retention.
type Store interface {
	ClaimTask(ctx context.Context, p store.ClaimTaskParams) (*store.Task, error)
	UpdateTask(ctx context.Context, t *store.Task, events ...*store.Message) error
	RecoverDeliveries(ctx context.Context, p store.RecoverParams) (last string, err error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	DeleteHistory(ctx context.Context, p store.DeleteHistoryParams) (int, bool, error)
}

// Partitioner is a store whose history is partitioned by time
// (PostgreSQL): each history pass first makes sure the partitions the next
// messages go to exist, whatever the retention.
type Partitioner interface {
	EnsurePartitions(ctx context.Context, now time.Time) error
}

// Analyzer is a store that keeps its query planner's statistics
// (PostgreSQL): it analyzes the tables that have none. Each pass returns
// the tables analyzed and, when there were some, whether the database's
// own autovacuum is on.
type Analyzer interface {
	AnalyzeUnanalyzed(ctx context.Context) (tables []string, autovacuum bool, err error)
}

// Config configures a Service.
type Config struct {
	Store Store
	Log   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wake is called when deliveries were made due (the delivery engine's
	// Wake).
	Wake func()
	// Interval is the longest wait between two looks for tasks. Zero
	// means 1s.
	Interval time.Duration
	// CleanupInterval is the wait between two retention passes. Zero
	// means 1m.
	CleanupInterval time.Duration
	// PageSize is the deliveries a task handles per step. Zero means 1000.
	PageSize int
	// Retention is how long a message's history is kept after the
	// message; zero keeps it for ever.
	Retention time.Duration
	// HistoryInterval is the wait between two history passes. Zero means
	// 1s: short passes, so that deleting a day's worth of messages never
	// comes as one long burst of writes.
	HistoryInterval time.Duration
	// HistoryBatch is the most messages one DeleteHistory call (one
	// transaction) deletes. Zero means 100: on SQLite a transaction of
	// 500 held the single writer long enough to double ingest's p99
	// (BENCHMARKS.md, "History retention").
	HistoryBatch int
	// Events builds background_task.finished, written with the task's
	// last update; nil sends none.
	Events *operational.Events
	// AnalyzeInterval is the wait between two looks for tables without
	// planner statistics, on an Analyzer store; the first is at Start.
	// Zero means 1m.
	AnalyzeInterval time.Duration
}

// Service runs tasks and retention.
type Service struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
	loop lifecycle.Loop
	// lastRescan is when a history pass last started from the oldest
	// message; only the service's loop (or a test calling DeleteHistory)
	// uses it.
	lastRescan time.Time
}

// New returns a Service; it does nothing until Start.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = time.Minute
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.HistoryInterval <= 0 {
		cfg.HistoryInterval = time.Second
	}
	if cfg.HistoryBatch <= 0 {
		cfg.HistoryBatch = 100
	}
	if cfg.AnalyzeInterval <= 0 {
		cfg.AnalyzeInterval = time.Minute
	}
	return &Service{cfg: cfg, log: cfg.Log, kick: make(chan struct{}, 1)}
}

// Kick makes the service look for tasks now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start starts the service's loop.
func (s *Service) Start(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	s.loop.Start(func(stop <-chan struct{}) { s.run(ctx, stop) })
	return nil
}

// Stop stops the loop after the current step, waiting for it until ctx
// ends. Safe before Start and twice.
func (s *Service) Stop(ctx context.Context) error {
	_, err := s.loop.Stop(ctx)
	return err
}

func (s *Service) run(ctx context.Context, stop <-chan struct{}) {
	tasks := time.NewTimer(0)
	defer tasks.Stop()
	cleanup := time.NewTimer(s.cfg.CleanupInterval)
	defer cleanup.Stop()
	history := time.NewTimer(s.cfg.HistoryInterval)
	defer history.Stop()
	partitions, _ := s.cfg.Store.(Partitioner)
	if s.cfg.Retention <= 0 && partitions == nil {
		history.Stop()
	}
	analyze := time.NewTimer(0)
	defer analyze.Stop()
	analyzer, _ := s.cfg.Store.(Analyzer)
	if analyzer == nil {
		analyze.Stop()
	}
	for {
		select {
		case <-stop:
			return
		case <-s.kick:
		case <-tasks.C:
		case <-history.C:
			if n, err := s.deleteHistory(ctx, stop); err != nil {
				s.log.WarnContext(ctx, "history retention pass", "deleted", n, "err", err)
			} else if n > 0 {
				s.log.DebugContext(ctx, "history retention pass", "messages", n)
			}
			history.Reset(s.cfg.HistoryInterval)
			continue
		case <-analyze.C:
			s.analyze(ctx, analyzer)
			analyze.Reset(s.cfg.AnalyzeInterval)
			continue
		case <-cleanup.C:
			if n, err := s.cfg.Store.DeleteExpired(ctx, store.Truncate(s.cfg.Now())); err != nil {
				s.log.WarnContext(ctx, "retention pass", "err", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "retention pass", "rows", n)
			}
			cleanup.Reset(s.cfg.CleanupInterval)
			continue
		}
		busy, err := s.step(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "background task", "err", err)
		}
		if busy {
			tasks.Reset(0)
		} else {
			tasks.Reset(s.cfg.Interval)
		}
	}
}

// DeleteHistory runs one history pass: it makes the partitions the next
// messages go to (a Partitioner store), then deletes the messages older
// than the retention, a batch a transaction, until none is left. Exported
// for tests.
func (s *Service) DeleteHistory(ctx context.Context) (int, error) { return s.deleteHistory(ctx, nil) }

// historyRescan is how often a history pass starts again from the oldest
// message, to find the messages earlier passes kept because a delivery of
// theirs was still to be made; the passes in between read on from where
// the last one stopped, so that a backlog of such messages is not read
// again every second.
const historyRescan = 10 * time.Minute

// deleteHistory deletes messages older than the retention, with their
// deliveries and attempts, a batch at a time until the store reports that
// none is left or stop is closed; it returns how many it deleted.
func (s *Service) deleteHistory(ctx context.Context, stop <-chan struct{}) (int, error) {
	s.ensurePartitions(ctx)
	if s.cfg.Retention <= 0 {
		return 0, nil
	}
	now := store.Truncate(s.cfg.Now())
	p := store.DeleteHistoryParams{Before: now.Add(-s.cfg.Retention), Limit: s.cfg.HistoryBatch}
	if s.lastRescan.IsZero() || now.Sub(s.lastRescan) >= historyRescan {
		p.Rescan, s.lastRescan = true, now
	}
	total := 0
	for {
		n, done, err := s.cfg.Store.DeleteHistory(ctx, p)
		total += n
		if err != nil || done {
			return total, err
		}
		p.Rescan = false
		// A long pass (a backlog after an upgrade) must not outlast the
		// partitions made ahead; the store checks its own note first.
		s.ensurePartitions(ctx)
		select {
		case <-stop:
			return total, nil
		default:
		}
	}
}

// analyze has the store analyze its tables that have no planner
// statistics, and says so: a plan made without them can read a whole
// table where it meant to read a row.
func (s *Service) analyze(ctx context.Context, a Analyzer) {
	start := time.Now()
	tables, autovacuum, err := a.AnalyzeUnanalyzed(ctx)
	if len(tables) > 0 {
		s.log.InfoContext(ctx, "analyzed tables that had no planner statistics", "tables", tables,
			"duration", time.Since(start).Round(time.Millisecond), "autovacuum", autovacuum)
		if !autovacuum {
			s.log.WarnContext(ctx, "autovacuum is off on the database: Herald analyzes its tables that have no statistics, "+
				"but nothing refreshes statistics as tables change or reclaims the rows retention deletes; turn autovacuum on")
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "analyze tables without planner statistics", "err", err)
	}
}

// ensurePartitions makes the partitions the next messages go to, on a
// Partitioner store. A failure leaves those made ahead of time, and is
// logged: deleting goes on.
func (s *Service) ensurePartitions(ctx context.Context) {
	if p, ok := s.cfg.Store.(Partitioner); ok {
		if err := p.EnsurePartitions(ctx, s.cfg.Now()); err != nil {
			s.log.WarnContext(ctx, "history partitions", "err", err)
		}
	}
}

// taskLease is how long a replica holds a task for one step.
const taskLease = time.Minute

// Step runs one page of one task; it reports whether it did any work.
// Exported for tests.
func (s *Service) Step(ctx context.Context) (bool, error) { return s.step(ctx) }

func (s *Service) step(ctx context.Context) (bool, error) {
	now := store.Truncate(s.cfg.Now())
	t, err := s.cfg.Store.ClaimTask(ctx, store.ClaimTaskParams{Now: now, LeaseUntil: now.Add(taskLease)})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim task: %w", err)
	}
	switch t.Kind {
	case store.TaskRecover:
		err = s.recoverPage(ctx, t, now)
	default:
		t.Status = store.TaskFailed
		err = fmt.Errorf("task %s: unknown kind %q", t.ID, t.Kind)
	}
	t.LeaseUntil = time.Time{}
	t.UpdatedAt = store.Truncate(s.cfg.Now())
	var events []*store.Message
	if t.Status == store.TaskFinished || t.Status == store.TaskFailed {
		events = s.cfg.Events.TaskFinished(t, nil)
	}
	if uerr := s.cfg.Store.UpdateTask(ctx, t, events...); uerr != nil {
		return true, errors.Join(err, fmt.Errorf("update task %s: %w", t.ID, uerr))
	}
	return true, err
}

// recoverPage makes one page of an endpoint's failed or skipped deliveries
// due again, as manual attempts.
func (s *Service) recoverPage(ctx context.Context, t *store.Task, now time.Time) error {
	var p store.RecoverTaskParams
	if err := json.Unmarshal(t.Params, &p); err != nil {
		t.Status = store.TaskFailed
		return fmt.Errorf("task %s: bad params: %w", t.ID, err)
	}
	last, err := s.cfg.Store.RecoverDeliveries(ctx, store.RecoverParams{
		AppID: t.AppID, EndpointID: t.EndpointID, Since: p.Since, Until: p.Until,
		AfterMsgID: t.Cursor, Limit: s.cfg.PageSize, Now: now,
	})
	if errors.Is(err, store.ErrNotFound) {
		t.Status = store.TaskFinished // the endpoint is gone
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover deliveries: %w", err)
	}
	if last == "" {
		t.Status = store.TaskFinished
		return nil
	}
	t.Cursor = last
	s.cfg.Wake()
	return nil
}

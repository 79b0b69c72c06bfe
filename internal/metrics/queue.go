package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/store"
)

// QueueStatser is the part of store.Store the sampler uses.
type QueueStatser interface {
	QueueStats(ctx context.Context, now time.Time) (*store.QueueStats, error)
}

// QueueSamplerConfig configures a QueueSampler.
type QueueSamplerConfig struct {
	Store QueueStatser
	Log   *slog.Logger // nil: discard
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval is the time between samples. Zero means 5s.
	Interval time.Duration
	// Timeout bounds one sample. Zero means 3s.
	Timeout time.Duration
}

// QueueSampler keeps the queue gauges (herald_queue_*) current by asking the
// store every Interval, so that scrapes, however frequent, cost the database
// nothing. With several replicas on one database each reports the same
// queue.
type QueueSampler struct {
	m    *Metrics
	cfg  QueueSamplerConfig
	loop lifecycle.Loop
}

// NewQueueSampler returns a sampler that updates m; it samples nothing until
// Start.
func (m *Metrics) NewQueueSampler(cfg QueueSamplerConfig) *QueueSampler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	return &QueueSampler{m: m, cfg: cfg}
}

// Start takes a first sample and keeps sampling in the background until
// Stop. Starting twice, or after Stop, does nothing.
func (q *QueueSampler) Start(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	q.loop.Start(func(stop <-chan struct{}) {
		t := time.NewTicker(q.cfg.Interval)
		defer t.Stop()
		for {
			q.Sample(ctx)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return nil
}

// Stop ends sampling, waiting for a sample in progress until ctx ends. It is
// safe before Start and more than once.
func (q *QueueSampler) Stop(ctx context.Context) error {
	_, err := q.loop.Stop(ctx)
	return err
}

// Sample asks the store once and updates the gauges; on failure it counts
// the error and leaves the gauges as they were.
func (q *QueueSampler) Sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	now := q.cfg.Now()
	qs, err := q.cfg.Store.QueueStats(ctx, store.Truncate(now))
	if err != nil {
		q.m.queueErrors.Inc()
		q.cfg.Log.WarnContext(ctx, "sample delivery queue", "err", err)
		return
	}
	q.m.queueDue.WithLabelValues("first").Set(float64(qs.DueFirst))
	q.m.queueDue.WithLabelValues("retry").Set(float64(qs.DueRetry))
	q.m.queueDue.WithLabelValues("parked").Set(float64(qs.Parked))
	age := 0.0
	if !qs.OldestDue.IsZero() {
		age = max(now.Sub(qs.OldestDue).Seconds(), 0)
	}
	q.m.queueOldestAge.Set(age)
	q.m.queueSampled.Set(float64(now.UnixNano()) / 1e9)
}

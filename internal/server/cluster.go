package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/store"
)

// Replica heartbeats: every heartbeatInterval each replica records itself
// and counts the replicas seen within heartbeatTTL. A replica that dies
// stops counting after heartbeatTTL; one that starts counts for the others
// within heartbeatInterval.
const (
	heartbeatInterval = 3 * time.Second
	heartbeatTTL      = 10 * time.Second
)

// cluster is what a server runs when its store is shared by several
// replicas (the store implements store.Cluster): it wakes the delivery
// engine whenever any replica makes deliveries due, so that an idle replica
// picks up a message another one accepted without waiting for a poll, and
// it keeps the replica's heartbeat and tells the engine how many replicas
// divide each endpoint's in-flight cap and throttle rate. A nil *cluster
// (SQLite) does nothing.
type cluster struct {
	store  store.Cluster
	engine *delivery.Engine
	log    *slog.Logger
	now    func() time.Time
	id     string
	// replicas is the last count of live replicas (0 before the first
	// heartbeat).
	replicas atomic.Int32

	loop lifecycle.Loop
}

func newCluster(s store.Store, engine *delivery.Engine, log *slog.Logger, now func() time.Time) *cluster {
	c, ok := s.(store.Cluster)
	if !ok {
		return nil
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &cluster{store: c, engine: engine, log: log, now: now,
		id: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))}
}

// Start starts listening and the heartbeat. It returns at once.
func (c *cluster) Start(ctx context.Context) {
	if c == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	c.loop.Start(func(stop <-chan struct{}) {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = c.store.ListenDue(ctx, c.engine.Wake) })
		wg.Go(func() { c.heartbeat(ctx) })
		<-stop
		cancel()
		wg.Wait()
	})
}

func (c *cluster) heartbeat(ctx context.Context) {
	replicas := 1
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n, err := c.store.Heartbeat(ctx, c.id, store.Truncate(c.now()), heartbeatTTL)
		switch {
		case err != nil && ctx.Err() == nil:
			// Keep the last count until the database answers again.
			c.log.WarnContext(ctx, "replica heartbeat", "err", err)
		case err == nil:
			if n != replicas {
				c.log.InfoContext(ctx, "replicas sharing the database", "replicas", n)
				replicas = n
				c.engine.SetReplicas(n)
			}
			c.replicas.Store(int32(n))
		}
		timer.Reset(heartbeatInterval)
	}
}

// Stop stops listening and the heartbeat, and removes the replica from the
// count, within ctx. Safe before Start and twice.
func (c *cluster) Stop(ctx context.Context) error {
	if c == nil {
		return nil
	}
	first, err := c.loop.Stop(ctx)
	if !first || err != nil {
		return err
	}
	if err := c.store.Leave(ctx, c.id); err != nil {
		return fmt.Errorf("leave the replica set: %w", err)
	}
	return nil
}

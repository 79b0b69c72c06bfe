package store

import (
	"context"
	"time"
)

// Cluster is implemented by drivers whose database several Herald processes
// (replicas) can share, PostgreSQL's. It is a capability: callers find it
// with a type assertion on the Store and do without it otherwise (SQLite
// has one process per file).
type Cluster interface {
	// ListenDue calls fn each time some process (this one included) made
	// unleased deliveries due: CreateMessages without a lease,
	// ReleaseDeliveries, ResendDelivery and RecoverDeliveries notify when
	// they commit. It also calls fn after each (re)connection, since
	// notifications sent while it was not listening are lost. It keeps
	// listening through connection failures, logging each failure once and
	// reconnecting with backoff, and returns when ctx ends.
	ListenDue(ctx context.Context, fn func()) error
	// ListenFailures counts the failures of ListenDue's connection since
	// the store was opened: one per failure (lost, or not made), however
	// many attempts reconnecting takes.
	ListenFailures() int64
	// Heartbeat records that the replica called id is alive at now, forgets
	// replicas whose last heartbeat is older than now - ttl, and returns
	// how many replicas are alive, this one included.
	Heartbeat(ctx context.Context, id string, now time.Time, ttl time.Duration) (int, error)
	// Leave removes the replica called id (on a clean shutdown).
	Leave(ctx context.Context, id string) error
}

// Package groupcommit turns many concurrent single-item writes into batched
// writes: callers submit one item each and wait; a committer goroutine takes
// every item waiting, writes them in one call (one transaction, one fsync),
// and hands each caller its own result.
//
// It adds no delay to wait for a batch to fill: while one batch is being
// written, the next one queues up, so batches grow with load and a lone
// request is written at once.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Func writes a batch and returns one result per item, in order. An error
// fails every item of the batch.
type Func[P, R any] func(ctx context.Context, items []P) ([]R, error)

// Committer batches calls to a Func.
type Committer[P, R any] struct {
	fn       Func[P, R]
	maxBatch int
	reqs     chan request[P, R]
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.RWMutex // held for reading while submitting
	closed   bool
	// Observe, when set, is called after each batch with its size and
	// error (for metrics).
	observe func(size int, err error)
}

type request[P, R any] struct {
	ctx   context.Context
	item  P
	reply chan result[R]
}

type result[R any] struct {
	r   R
	err error
}

// Options configure a Committer.
type Options struct {
	// MaxBatch caps the items per batch. Zero means 512.
	MaxBatch int
	// Workers is the number of batches written concurrently. Zero means 1
	// (right for SQLite's single writer).
	Workers int
	// Observe, when set, is called after each batch with its size and
	// error.
	Observe func(size int, err error)
}

// New starts a Committer writing through fn.
func New[P, R any](fn Func[P, R], opts Options) *Committer[P, R] {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	c := &Committer[P, R]{
		fn:       fn,
		maxBatch: opts.MaxBatch,
		reqs:     make(chan request[P, R], opts.MaxBatch*opts.Workers),
		done:     make(chan struct{}),
		observe:  opts.Observe,
	}
	for range opts.Workers {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// Do submits item and waits until the batch holding it is written. When ctx
// ends first, Do returns ctx's error but the item may still be written.
func (c *Committer[P, R]) Do(ctx context.Context, item P) (R, error) {
	var zero R
	reply := make(chan result[R], 1)
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return zero, ErrClosed
	}
	select {
	case c.reqs <- request[P, R]{ctx: ctx, item: item, reply: reply}:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return zero, ctx.Err()
	}
	select {
	case res := <-reply:
		return res.r, res.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close stops the committer after the batches being written; items still
// queued are failed with ErrClosed. Safe to call more than once.
func (c *Committer[P, R]) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.wg.Wait()
	for {
		select {
		case req := <-c.reqs:
			req.reply <- result[R]{err: ErrClosed}
		default:
			return
		}
	}
}

func (c *Committer[P, R]) loop() {
	defer c.wg.Done()
	batch := make([]request[P, R], 0, c.maxBatch)
	items := make([]P, 0, c.maxBatch)
	for {
		batch, items = batch[:0], items[:0]
		select {
		case req := <-c.reqs:
			batch = append(batch, req)
		case <-c.done:
			return
		}
	fill:
		for len(batch) < c.maxBatch {
			select {
			case req := <-c.reqs:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		// Drop items whose callers already gave up before the write.
		live := batch[:0]
		for _, req := range batch {
			if req.ctx.Err() != nil {
				req.reply <- result[R]{err: req.ctx.Err()}
				continue
			}
			live = append(live, req)
			items = append(items, req.item)
		}
		if len(live) == 0 {
			continue
		}
		// The batch is written even if the first caller's context ends:
		// other callers share it.
		rs, err := c.fn(context.WithoutCancel(live[0].ctx), items)
		if err == nil && len(rs) != len(live) {
			err = errors.New("groupcommit: write returned the wrong number of results")
		}
		if c.observe != nil {
			c.observe(len(live), err)
		}
		for i, req := range live {
			if err != nil {
				req.reply <- result[R]{err: err}
				continue
			}
			req.reply <- result[R]{r: rs[i]}
		}
		clear(batch)
		clear(items)
	}
}

// Package lifecycle starts and stops Herald's long-lived services: a Loop is
// one service's background goroutine (started once, stopped once, its Stop
// bounded by a context), and a Group is the parts of a process, started in
// the order they were added and stopped in the reverse order.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Loop runs a service's background loop. Start after Stop does nothing;
// Stop before Start, and a second Stop, return at once. The zero value is
// ready to use.
type Loop struct {
	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when the loop returns
}

func (l *Loop) init() {
	if l.stop == nil {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
	}
}

// Start runs run in a goroutine; run must return soon after stop is
// closed. It reports whether it started run (false: started or stopped
// before).
func (l *Loop) Start(run func(stop <-chan struct{})) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return false
	}
	l.init()
	l.started = true
	go func() {
		defer close(l.done)
		run(l.stop)
	}()
	return true
}

// Stopping returns a channel closed once Stop is called (before Start
// too).
func (l *Loop) Stopping() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	return l.stop
}

// Stop closes the loop's stop channel and waits for the loop to return
// until ctx ends (then it returns ctx's error; the loop still ends on its
// own). first is false when Stop was called before: that call did the
// stopping, and this one returns at once.
func (l *Loop) Stop(ctx context.Context) (first bool, err error) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false, nil
	}
	l.init()
	l.stopped = true
	close(l.stop)
	started := l.started
	l.mu.Unlock()
	if !started {
		return true, nil
	}
	select {
	case <-l.done:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// Wait calls f, which waits for something, and returns when f does or,
// with ctx's error, when ctx ends first (f then goes on in the background).
func Wait(ctx context.Context, f func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Group is the parts of a process that have a life of their own: the
// store, the services, the listeners. Start starts them in the order they
// were added; Stop stops them in the reverse order, so that each stops only
// after everything added after it (built on it) has. The zero value is an
// empty group.
type Group struct {
	parts []part
	// OnStop, when set, is told the name of each part as Stop stops it.
	OnStop func(name string)
}

type part struct {
	name        string
	start, stop func(context.Context) error
}

// Add appends a part. start may be nil (the part runs from the moment it
// was built, or never runs); stop must honour its context.
func (g *Group) Add(name string, start, stop func(context.Context) error) {
	g.parts = append(g.parts, part{name: name, start: start, stop: stop})
}

// Names returns the names of the parts in the order they were added.
func (g *Group) Names() []string {
	names := make([]string, len(g.parts))
	for i, p := range g.parts {
		names[i] = p.name
	}
	return names
}

// Start starts the parts in the order they were added, and stops at the
// first that fails (the caller stops the group).
func (g *Group) Start(ctx context.Context) error {
	for _, p := range g.parts {
		if p.start == nil {
			continue
		}
		if err := p.start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
	}
	return nil
}

// Stop stops every part, started or not, in the reverse of the order they
// were added, each within ctx, and returns their errors together. A second
// call does nothing.
func (g *Group) Stop(ctx context.Context) error {
	var errs []error
	for i := len(g.parts) - 1; i >= 0; i-- {
		p := g.parts[i]
		if g.OnStop != nil {
			g.OnStop(p.name)
		}
		if err := p.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
	}
	g.parts = nil
	return errors.Join(errs...)
}

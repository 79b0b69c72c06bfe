package delivery

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/egress"
)

// failureClass names the kind of a failed attempt: its egress class when no
// usable answer came, else its status class ("4xx", "5xx"...).
func failureClass(r egress.Result) string {
	if r.StatusCode == 0 {
		if r.Class == egress.ClassNone {
			return string(egress.ClassOther)
		}
		return string(r.Class)
	}
	return strconv.Itoa(r.StatusCode/100) + "xx"
}

// failureLog sums up failed attempts per endpoint between two log lines, so
// that a storm of failures writes one line per endpoint per interval, never
// one per attempt.
type failureLog struct {
	mu sync.Mutex
	m  map[string]*endpointFailures
}

type endpointFailures struct {
	appID   string
	count   int
	classes map[string]int
	last    string // the last failure: its error, or its status
}

func newFailureLog() *failureLog { return &failureLog{m: make(map[string]*endpointFailures)} }

func (l *failureLog) add(appID, endpointID string, r egress.Result) {
	last := r.ErrorText()
	if r.StatusCode != 0 {
		last = "HTTP " + strconv.Itoa(r.StatusCode) // never the body: it may echo the payload
	}
	class := failureClass(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[endpointID]
	if f == nil {
		f = &endpointFailures{appID: appID, classes: make(map[string]int, 2)}
		l.m[endpointID] = f
	}
	f.count++
	f.classes[class]++
	f.last = last
}

// flush writes one line per endpoint that failed since the last flush.
func (l *failureLog) flush(ctx context.Context, log *slog.Logger, interval time.Duration) {
	l.mu.Lock()
	m := l.m
	l.m = make(map[string]*endpointFailures, len(m))
	l.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(m)) {
		f := m[id]
		kinds := make([]string, 0, len(f.classes))
		for _, c := range slices.Sorted(maps.Keys(f.classes)) {
			kinds = append(kinds, c+"="+strconv.Itoa(f.classes[c]))
		}
		log.WarnContext(ctx, "delivery failures", "endpoint_id", id, "app_id", f.appID, "failures", f.count,
			"kinds", strings.Join(kinds, ","), "interval", interval, "last_error", f.last)
	}
}

// logFailures writes the failure summary every FailureLogInterval, and a
// last time when the engine stops.
func (e *Engine) logFailures(ctx context.Context) {
	t := time.NewTicker(e.cfg.FailureLogInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			e.failures.flush(ctx, e.log, e.cfg.FailureLogInterval)
		case <-e.stop:
			e.failures.flush(ctx, e.log, e.cfg.FailureLogInterval)
			return
		}
	}
}

// appCache keeps the UIDs of applications, which operational events name.
type appCache struct {
	store Store
	mu    sync.Mutex
	m     map[string]string
}

func newAppCache(s Store) *appCache { return &appCache{store: s, m: make(map[string]string)} }

// uid returns the UID of app id ("" when it has none, or cannot be read
// now: the event goes out without it rather than not at all).
func (c *appCache) uid(ctx context.Context, id string) string {
	c.mu.Lock()
	uid, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return uid
	}
	app, err := c.store.GetApp(ctx, id)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	if len(c.m) > 100000 {
		clear(c.m)
	}
	c.m[id] = app.UID
	c.mu.Unlock()
	return app.UID
}

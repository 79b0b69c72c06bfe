package api_test

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
)

func TestObserve(t *testing.T) {
	t.Parallel()
	type call struct {
		route, method string
		status        int
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	b := setup(t, func(o *api.Options) {
		o.Observe = func(route, method string, status int, d time.Duration) {
			if d <= 0 {
				t.Errorf("Observe(%s %s): duration %v", method, route, d)
			}
			mu.Lock()
			calls = append(calls, call{route, method, status})
			mu.Unlock()
		}
	})
	app := b.createApp(t, map[string]any{"name": "observed", "uid": "observed"})
	b.must(t, 200, "GET", "/api/v1/app/"+app+"/", nil)
	b.doAs(t, "", "GET", "/api/v1/app/"+app, nil)
	b.doAs(t, "", "GET", "/api/v1/health", nil)
	b.do(t, "GET", "/api/v1/nope/"+app, nil)
	b.do(t, "BREW", "/api/v1/app", nil)

	mu.Lock()
	defer mu.Unlock()
	want := []call{
		{"/api/v1/app", "POST", 201},
		// The route's pattern, not the path: ids never become labels.
		{"/api/v1/app/{app_id}", "GET", 200},
		{"/api/v1/app/{app_id}", "GET", 401},
		{"/api/v1/health", "GET", 204},
		// No route: an empty pattern.
		{"", "GET", 404},
		{"", "BREW", 404},
	}
	if len(calls) != len(want) {
		t.Fatalf("observed %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d: observed %v, want %v", i, calls[i], want[i])
		}
	}
}

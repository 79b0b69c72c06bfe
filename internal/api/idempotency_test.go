package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

func (b *bundle) countApps(t testing.TB) int {
	t.Helper()
	apps, err := b.store.ListApps(context.Background(), store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(apps)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()

	t.Run("replay", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first := b.do(t, "POST", "/api/v1/app", map[string]any{"name": "once"}, "Idempotency-Key", "k1")
		second := b.do(t, "POST", "/api/v1/app", map[string]any{"name": "once"}, "Idempotency-Key", "k1")
		if first.Status != 201 || second.Status != first.Status || !bytes.Equal(first.Body, second.Body) {
			t.Fatalf("first %s, second %s", first, second)
		}
		if ct := second.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("replay Content-Type = %q", ct)
		}
		if n := b.countApps(t); n != 1 {
			t.Errorf("%d apps, want 1", n)
		}
		// Another key, or the same key of another token, runs again.
		b.must(t, 201, "POST", "/api/v1/app", map[string]any{"name": "once"}, "Idempotency-Key", "k2")
		app := first.object(t)["id"].(string)
		tok := b.portalToken(t, app, nil)
		r := b.doAs(t, tok, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "https://e.com/"}, "Idempotency-Key", "k1")
		if r.Status != 201 {
			t.Errorf("portal token, same key: %s", r)
		}
		if n := b.countApps(t); n != 2 {
			t.Errorf("%d apps, want 2", n)
		}
		// Messages: one message for one key.
		m1 := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}, "Idempotency-Key", "m")
		m2 := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}, "Idempotency-Key", "m")
		if m1["id"] != m2["id"] {
			t.Errorf("two messages for one key: %v %v", m1["id"], m2["id"])
		}
		if env := b.list(t, "/api/v1/app/"+app+"/msg"); len(env.Data) != 1 {
			t.Errorf("%d messages, want 1", len(env.Data))
		}
		// Requests other than POST ignore the header.
		b.must(t, 200, "PATCH", "/api/v1/app/"+app, map[string]any{"name": "p1"}, "Idempotency-Key", "p")
		if got := b.must(t, 200, "PATCH", "/api/v1/app/"+app, map[string]any{"name": "p2"}, "Idempotency-Key", "p"); got["name"] != "p2" {
			t.Errorf("PATCH replayed: %v", got)
		}
	})

	t.Run("a key is one request", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		app := b.createApp(t, map[string]any{"name": "reuse"})
		msgs := "/api/v1/app/" + app + "/msg"
		first := b.must(t, 202, "POST", msgs, map[string]any{"eventType": "a", "payload": map[string]any{"n": 1}}, "Idempotency-Key", "k")
		// Another body, route or query under the same key is refused, and
		// nothing is created.
		for _, req := range []struct {
			path string
			body map[string]any
		}{
			{msgs, map[string]any{"eventType": "a", "payload": map[string]any{"n": 2}}},
			{msgs + "?with_content=false", map[string]any{"eventType": "a", "payload": map[string]any{"n": 1}}},
			{"/api/v1/app/" + app + "/endpoint", map[string]any{"url": "https://e.com/"}},
			{"/api/v1/app", map[string]any{"name": "other"}},
		} {
			r := b.do(t, "POST", req.path, req.body, "Idempotency-Key", "k")
			wantError(t, r, http.StatusUnprocessableEntity, "idempotency_key_reused")
			if !strings.Contains(string(r.Body), "different request") || r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("POST %s: %s", req.path, r)
			}
		}
		if env := b.list(t, msgs); len(env.Data) != 1 {
			t.Errorf("%d messages, want 1 (the second was dropped before; now refused)", len(env.Data))
		}
		if env := b.list(t, "/api/v1/app/"+app+"/endpoint"); len(env.Data) != 0 {
			t.Errorf("an endpoint was created under a used key")
		}
		if n := b.countApps(t); n != 1 {
			t.Errorf("%d apps, want 1", n)
		}
		// The same request still replays, the refusals notwithstanding.
		r := b.do(t, "POST", msgs, map[string]any{"eventType": "a", "payload": map[string]any{"n": 1}}, "Idempotency-Key", "k")
		if r.Status != 202 || r.object(t)["id"] != first["id"] || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay after refusals: %s", r)
		}
	})

	t.Run("errors are not replayed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.do(t, "POST", "/api/v1/app", map[string]any{"name": ""}, "Idempotency-Key", "k")
		wantValidation(t, r, "body", "name")
		b.createApp(t, map[string]any{"name": "taken", "uid": "taken"})
		wantError(t, b.do(t, "POST", "/api/v1/app", map[string]any{"name": "x", "uid": "taken"}, "Idempotency-Key", "k"), 409, "conflict")
		// The same key with a good body now runs.
		got := b.must(t, 201, "POST", "/api/v1/app", map[string]any{"name": "good"}, "Idempotency-Key", "k")
		if got["name"] != "good" {
			t.Errorf("got %v", got)
		}
		again := b.must(t, 201, "POST", "/api/v1/app", map[string]any{"name": "good"}, "Idempotency-Key", "k")
		if again["id"] != got["id"] {
			t.Errorf("success not replayed")
		}
		if n := b.countApps(t); n != 2 {
			t.Errorf("%d apps, want 2", n)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const n = 10
		var wg sync.WaitGroup
		results := make([]*response, n)
		for i := range n {
			wg.Go(func() {
				results[i] = b.do(t, "POST", "/api/v1/app", map[string]any{"name": "race"}, "Idempotency-Key", "same")
			})
		}
		wg.Wait()
		for i, r := range results {
			if r.Status != http.StatusCreated || !bytes.Equal(r.Body, results[0].Body) {
				t.Errorf("request %d: %s (first: %s)", i, r, results[0])
			}
		}
		if n := b.countApps(t); n != 1 {
			t.Errorf("%d apps, want 1", n)
		}
	})
}

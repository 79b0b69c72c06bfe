package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/operational"
)

// withEvents gives the API an operational application, as the server does.
func withEvents(t *testing.T, ops *string) func(*api.Options) {
	return func(o *api.Options) {
		id, err := operational.Bootstrap(context.Background(), o.Store, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		*ops = id
		o.Events = &operational.Events{AppID: id}
	}
}

// The operational application is reached through the operational webhook
// routes only: the tenant routes answer 404 for it, even to an admin, and
// the app list does not show it, page after page.
func TestOperationalApplicationHidden(t *testing.T) {
	t.Parallel()
	var ops string
	b := setup(t, withEvents(t, &ops))
	var tenants []string
	for _, name := range []string{"a", "b", "c"} {
		tenants = append(tenants, b.createApp(t, map[string]any{"name": name}))
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/v1/app/" + ops},
		{"PATCH", "/api/v1/app/" + ops},
		{"DELETE", "/api/v1/app/" + ops},
		{"GET", "/api/v1/app/" + ops + "/endpoint"},
		{"POST", "/api/v1/app/" + ops + "/endpoint"},
		{"POST", "/api/v1/app/" + ops + "/msg"},
		{"GET", "/api/v1/app/" + ops + "/msg"},
		{"POST", "/api/v1/auth/app-portal-access/" + ops},
	} {
		body := map[string]any{"url": "https://example.com/", "eventType": "x", "payload": map[string]any{}, "name": "x"}
		if r := b.do(t, p.method, p.path, body); r.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", p.method, p.path, r.Status)
		}
	}
	// Every tenant app once, whatever the page size.
	for _, limit := range []string{"1", "2", "50"} {
		seen := map[string]int{}
		path := "/api/v1/app?limit=" + limit
		for range 10 {
			page := b.must(t, 200, "GET", path, nil)
			for _, a := range page["data"].([]any) {
				seen[a.(map[string]any)["id"].(string)]++
			}
			if page["done"].(bool) {
				break
			}
			path = "/api/v1/app?limit=" + limit + "&iterator=" + page["iterator"].(string)
		}
		if seen[ops] != 0 || len(seen) != 3 {
			t.Errorf("limit %s: listed %v, want the three tenants only", limit, seen)
		}
		for _, id := range tenants {
			if seen[id] != 1 {
				t.Errorf("limit %s: tenant %s listed %d times", limit, id, seen[id])
			}
		}
	}
	// The operational routes reach it, admins only.
	ep := b.must(t, http.StatusCreated, "POST", "/api/v1/operational-webhook/endpoint",
		map[string]any{"url": "https://ops.example.com/", "filterTypes": []string{"endpoint.created"}})
	b.must(t, http.StatusOK, "GET", "/api/v1/operational-webhook/endpoint/"+ep["id"].(string), nil)
	if r := b.do(t, "POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": "https://ops.example.com/", "channels": []string{"a"}}); r.Status != 422 {
		t.Errorf("operational endpoint with channels: %d, want 422", r.Status)
	}
}

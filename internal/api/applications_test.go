package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
)

func TestApplicationCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)

	created := b.must(t, http.StatusCreated, "POST", "/api/v1/app",
		map[string]any{"name": "Acme", "uid": "acme", "throttleRate": 10, "metadata": map[string]string{"k": "v"}})
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "app_") || len(id) != len("app_")+27 {
		t.Fatalf("id = %q", id)
	}
	for k, want := range map[string]any{"name": "Acme", "uid": "acme", "throttleRate": 10.0, "rateLimit": 10.0} {
		if created[k] != want {
			t.Errorf("%s = %v, want %v", k, created[k], want)
		}
	}
	if m, _ := created["metadata"].(map[string]any); m["k"] != "v" {
		t.Errorf("metadata = %v", created["metadata"])
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(created[k])); err != nil {
			t.Errorf("%s = %v: %v", k, created[k], err)
		}
	}

	for _, path := range []string{"/api/v1/app/" + id, "/api/v1/app/acme"} {
		got := b.must(t, 200, "GET", path, nil)
		if got["id"] != id || got["name"] != "Acme" {
			t.Errorf("GET %s = %v", path, got)
		}
	}

	// get_if_exists returns the existing app, body ignored.
	got := b.must(t, 200, "POST", "/api/v1/app?get_if_exists=true", map[string]any{"name": "Other", "uid": "acme"})
	if got["id"] != id || got["name"] != "Acme" {
		t.Errorf("get_if_exists = %v", got)
	}
	// ... and creates when missing.
	fresh := b.must(t, 201, "POST", "/api/v1/app?get_if_exists=true", map[string]any{"name": "Fresh", "uid": "fresh"})
	if fresh["uid"] != "fresh" {
		t.Errorf("get_if_exists create = %v", fresh)
	}

	wantError(t, b.do(t, "POST", "/api/v1/app", map[string]any{"name": "Dup", "uid": "acme"}), 409, "conflict")
	wantValidation(t, b.do(t, "POST", "/api/v1/app", map[string]any{"name": "Bad", "uid": "app_123"}), "body", "uid")

	// PUT replaces: omitted fields are reset.
	put := b.must(t, 200, "PUT", "/api/v1/app/acme", map[string]any{"name": "Acme 2"})
	if put["id"] != id || put["name"] != "Acme 2" || put["uid"] != nil || put["throttleRate"] != nil {
		t.Errorf("PUT = %v", put)
	}
	if m, _ := put["metadata"].(map[string]any); m == nil || len(m) != 0 {
		t.Errorf("PUT metadata = %v, want {}", put["metadata"])
	}
	// PUT of a missing app creates it; its uid comes from the body.
	putNew := b.must(t, 201, "PUT", "/api/v1/app/put-path", map[string]any{"name": "Put", "uid": "put-body"})
	if putNew["uid"] != "put-body" {
		t.Errorf("PUT create = %v", putNew)
	}
	b.must(t, 200, "GET", "/api/v1/app/put-body", nil)
	wantError(t, b.do(t, "GET", "/api/v1/app/put-path", nil), 404, "not_found")
	// PUT to a uid taken by another app is a conflict.
	wantError(t, b.do(t, "PUT", "/api/v1/app/"+id, map[string]any{"name": "x", "uid": "put-body"}), 409, "conflict")

	// PATCH: absent fields unchanged, null clears.
	b.must(t, 200, "PUT", "/api/v1/app/"+id, map[string]any{"name": "P", "uid": "patchme", "rateLimit": 5, "metadata": map[string]string{"a": "b"}})
	p := b.must(t, 200, "PATCH", "/api/v1/app/patchme", map[string]any{"name": "P2"})
	if p["name"] != "P2" || p["uid"] != "patchme" || p["throttleRate"] != 5.0 || p["metadata"].(map[string]any)["a"] != "b" {
		t.Errorf("PATCH name = %v", p)
	}
	p = b.must(t, 200, "PATCH", "/api/v1/app/patchme", map[string]any{"uid": nil, "throttleRate": nil, "metadata": nil})
	if p["name"] != "P2" || p["uid"] != nil || p["throttleRate"] != nil || len(p["metadata"].(map[string]any)) != 0 {
		t.Errorf("PATCH nulls = %v", p)
	}
	if _, ok := p["rateLimit"]; ok && p["rateLimit"] != nil {
		t.Errorf("rateLimit after clearing = %v", p["rateLimit"])
	}
	p = b.must(t, 200, "PATCH", "/api/v1/app/"+id, map[string]any{"rateLimit": 7})
	if p["throttleRate"] != 7.0 || p["name"] != "P2" {
		t.Errorf("PATCH rateLimit = %v", p)
	}
	wantValidation(t, b.do(t, "PATCH", "/api/v1/app/"+id, map[string]any{"name": nil}), "body", "name")
	wantValidation(t, b.do(t, "PATCH", "/api/v1/app/"+id, map[string]any{"uid": "app_x"}), "body", "uid")
	stored := b.must(t, 200, "GET", "/api/v1/app/"+id, nil)
	if stored["name"] != "P2" || stored["throttleRate"] != 7.0 {
		t.Errorf("after refused PATCHes: %v", stored)
	}

	b.must(t, 204, "DELETE", "/api/v1/app/"+id, nil)
	wantError(t, b.do(t, "GET", "/api/v1/app/"+id, nil), 404, "not_found")
	wantError(t, b.do(t, "DELETE", "/api/v1/app/"+id, nil), 404, "not_found")
	wantError(t, b.do(t, "PATCH", "/api/v1/app/"+id, map[string]any{"name": "x"}), 404, "not_found")
}

func TestApplicationLegacyShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createApp(t, map[string]any{"name": "legacy"})
	// The reference shape has throttleRate (null when unset) and uid null.
	got := b.must(t, 200, "GET", "/api/v1/app/"+id, nil)
	if v, ok := got["throttleRate"]; !ok || v != nil {
		t.Errorf("throttleRate = %v, %v", v, ok)
	}
	// Svix Go SDKs before 1.45 reject unknown fields: no throttleRate, and
	// uid omitted when null.
	r := b.do(t, "GET", "/api/v1/app/"+id, nil, "User-Agent", "svix-libs/1.44.0/go")
	got = r.object(t)
	for _, k := range []string{"throttleRate", "uid", "rateLimit"} {
		if _, ok := got[k]; ok {
			t.Errorf("legacy shape has %q: %s", k, r.Body)
		}
	}
}

// TestApplicationPagination walks every app forwards and backwards in both
// orders, with rows created during the walk.
func TestApplicationPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var all []string
	for i := range 7 {
		all = append(all, b.createApp(t, map[string]any{"name": fmt.Sprint("app", i)}))
	}

	// Default order is ascending (oldest first).
	env := b.list(t, "/api/v1/app")
	if got := env.ids("id"); !slices.Equal(got, all) || !env.Done {
		t.Fatalf("default list = %v done=%v, want %v", got, env.Done, all)
	}

	t.Run("ascending with inserts", func(t *testing.T) {
		var seen []string
		iter := ""
		pages := 0
		for {
			q := url.Values{"limit": {"3"}, "order": {"ascending"}}
			if iter != "" {
				q.Set("iterator", iter)
			}
			env := b.list(t, "/api/v1/app?"+q.Encode())
			pages++
			if len(env.Data) > 3 {
				t.Fatalf("page of %d rows with limit 3", len(env.Data))
			}
			seen = append(seen, env.ids("id")...)
			if pages == 1 {
				// Rows created while walking are reached later.
				all = append(all, b.createApp(t, map[string]any{"name": "late1"}), b.createApp(t, map[string]any{"name": "late2"}))
			}
			if env.Done {
				break
			}
			if env.Iterator == nil {
				t.Fatalf("page not done without an iterator")
			}
			iter = *env.Iterator
			if pages > 10 {
				t.Fatal("too many pages")
			}
		}
		if !slices.Equal(seen, all) {
			t.Fatalf("walked %v, want %v", seen, all)
		}
	})

	t.Run("descending", func(t *testing.T) {
		want := slices.Clone(all)
		slices.Reverse(want)
		var seen []string
		iter := ""
		for range 20 {
			q := url.Values{"limit": {"2"}, "order": {"descending"}}
			if iter != "" {
				q.Set("iterator", iter)
			}
			env := b.list(t, "/api/v1/app?"+q.Encode())
			seen = append(seen, env.ids("id")...)
			if env.Done {
				break
			}
			iter = *env.Iterator
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("walked %v, want %v", seen, want)
		}
	})

	t.Run("backwards", func(t *testing.T) {
		// Go to the last page, then follow prevIterator back to the start.
		env := b.list(t, "/api/v1/app?limit=4&iterator="+all[len(all)-5])
		if got := env.ids("id"); !slices.Equal(got, all[len(all)-4:]) {
			t.Fatalf("last page = %v, want %v", got, all[len(all)-4:])
		}
		var pages [][]string
		for range 10 {
			if env.PrevIterator == nil {
				t.Fatal("page without prevIterator")
			}
			env = b.list(t, "/api/v1/app?limit=4&iterator="+url.QueryEscape(*env.PrevIterator))
			pages = append(pages, env.ids("id"))
			if env.Done {
				break
			}
		}
		var seen []string
		for i := len(pages) - 1; i >= 0; i-- {
			seen = append(seen, pages[i]...)
		}
		if want := all[:len(all)-4]; !slices.Equal(seen, want) {
			t.Fatalf("backwards walk = %v, want %v", seen, want)
		}
		// Each page keeps the list's order.
		if p := pages[0]; !slices.IsSorted(p) {
			t.Errorf("backward page out of order: %v", p)
		}
	})

	t.Run("envelope", func(t *testing.T) {
		env := b.list(t, "/api/v1/app?limit=0")
		if len(env.Data) != 0 || env.Done {
			t.Errorf("limit=0: %d rows, done=%v", len(env.Data), env.Done)
		}
		env = b.list(t, "/api/v1/app?limit=250")
		if len(env.Data) != len(all) || !env.Done || *env.Iterator != all[len(all)-1] || *env.PrevIterator != "-"+all[0] {
			t.Errorf("full page: iterator %v prev %v done %v", *env.Iterator, *env.PrevIterator, env.Done)
		}
		env = b.list(t, "/api/v1/app?iterator="+all[len(all)-1])
		if len(env.Data) != 0 || !env.Done || env.PrevIterator != nil {
			t.Errorf("past the end: %+v", env)
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "v"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	cases := []struct {
		name         string
		method, path string
		body         any
		loc          []string
	}{
		{"missing name", "POST", "/api/v1/app", map[string]any{}, []string{"body", "name"}},
		{"null name", "POST", "/api/v1/app", map[string]any{"name": nil}, []string{"body", "name"}},
		{"empty name", "POST", "/api/v1/app", map[string]any{"name": ""}, []string{"body", "name"}},
		{"name is a number", "POST", "/api/v1/app", `{"name": 5}`, []string{"body", "name"}},
		{"uid is a bool", "POST", "/api/v1/app", `{"name": "x", "uid": true}`, []string{"body", "uid"}},
		{"metadata is a list", "POST", "/api/v1/app", `{"name": "x", "metadata": ["a"]}`, []string{"body", "metadata"}},
		{"metadata value", "POST", "/api/v1/app", `{"name": "x", "metadata": {"a": 1}}`, []string{"body", "metadata"}},
		{"uid pattern", "POST", "/api/v1/app", map[string]any{"name": "x", "uid": "a b"}, []string{"body", "uid"}},
		{"uid empty", "POST", "/api/v1/app", map[string]any{"name": "x", "uid": ""}, []string{"body", "uid"}},
		{"uid too long", "POST", "/api/v1/app", map[string]any{"name": "x", "uid": strings.Repeat("a", 257)}, []string{"body", "uid"}},
		{"uid prefix", "POST", "/api/v1/app", map[string]any{"name": "x", "uid": "app_1"}, []string{"body", "uid"}},
		{"rate zero", "POST", "/api/v1/app", map[string]any{"name": "x", "throttleRate": 0}, []string{"body", "throttleRate"}},
		{"rate too big", "POST", "/api/v1/app", map[string]any{"name": "x", "rateLimit": 65536}, []string{"body", "throttleRate"}},
		{"rate fraction", "POST", "/api/v1/app", `{"name": "x", "throttleRate": 1.5}`, []string{"body", "throttleRate"}},
		{"limit too big", "GET", "/api/v1/app?limit=251", nil, []string{"query", "limit"}},
		{"limit negative", "GET", "/api/v1/app?limit=-1", nil, []string{"query", "limit"}},
		{"limit not a number", "GET", "/api/v1/app?limit=ten", nil, []string{"query", "limit"}},
		{"bad order", "GET", "/api/v1/app?order=sideways", nil, []string{"query", "order"}},
		{"bad iterator", "GET", "/api/v1/app?iterator=foo", nil, []string{"query", "iterator"}},
		{"endpoint iterator on apps", "GET", "/api/v1/app?iterator=ep_1", nil, []string{"query", "iterator"}},
		{"bad get_if_exists", "POST", "/api/v1/app?get_if_exists=maybe", map[string]any{"name": "x"}, []string{"query", "get_if_exists"}},
		{"endpoint bad iterator", "GET", "/api/v1/app/" + app + "/endpoint?iterator=app_1", nil, []string{"query", "iterator"}},
		{"message bad iterator", "GET", "/api/v1/app/" + app + "/msg?iterator=msg_x", nil, []string{"query", "iterator"}},
		{"message bad before", "GET", "/api/v1/app/" + app + "/msg?before=yesterday", nil, []string{"query", "before"}},
		{"event type bad iterator", "GET", "/api/v1/event-type?iterator=a%20b", nil, []string{"query", "iterator"}},
		{"idempotency key too long", "POST", "/api/v1/app", map[string]any{"name": "x"}, []string{"header", "idempotency-key"}},
		{"control character in name", "POST", "/api/v1/app", map[string]any{"name": "a\x00b"}, []string{"body", "name"}},
		{"date-time that does not parse", "POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/recover", map[string]any{"since": "yesterday"}, []string{"body", "since"}},
		{"date-time of the wrong type", "POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/recover", map[string]any{"since": 5}, []string{"body", "since"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if c.name == "idempotency key too long" {
				hdr = []string{"Idempotency-Key", strings.Repeat("k", 300)}
			}
			wantValidation(t, b.do(t, c.method, c.path, c.body, hdr...), c.loc...)
		})
	}
	// Every problem is reported at once.
	r := b.do(t, "POST", "/api/v1/app", map[string]any{"uid": "a b", "throttleRate": 0})
	wantValidation(t, r, "body", "name")
	wantValidation(t, r, "body", "uid")
	wantValidation(t, r, "body", "throttleRate")
	if env := b.list(t, "/api/v1/app"); len(env.Data) != 1 {
		t.Errorf("invalid requests created apps: %v", env.ids("name"))
	}
}

func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.MaxBodyBytes = 2048 })
	app := b.createApp(t, map[string]any{"name": "m"})
	for _, body := range []string{`{`, `{"name": "x",}`, `{"name": "x"} trailing`, `{"name": "x"}{}`, `{"name": "x"}}`, `{"name": "x"}]`, `nul`, "\x00"} {
		r := b.do(t, "POST", "/api/v1/app", body)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("body %q: %s", body, r)
			continue
		}
		if r.Status != http.StatusUnprocessableEntity {
			wantError(t, r, r.Status, "")
		}
	}

	big := `{"name": "` + strings.Repeat("x", 3000) + `"}`
	for _, path := range []string{"/api/v1/app", "/api/v1/app/" + app + "/msg", "/api/v1/app/" + app + "/endpoint"} {
		wantError(t, b.do(t, "POST", path, big), http.StatusRequestEntityTooLarge, "payload_too_large")
		wantError(t, b.do(t, "POST", path, big, "Idempotency-Key", "big"), http.StatusRequestEntityTooLarge, "payload_too_large")
	}
	wantError(t, b.do(t, "PUT", "/api/v1/app/"+app, big), http.StatusRequestEntityTooLarge, "payload_too_large")
	// Just under the limit is fine.
	ok := `{"name": "` + strings.Repeat("x", 200) + `", "metadata": {"k": "` + strings.Repeat("y", 1700) + `"}}`
	b.must(t, 201, "POST", "/api/v1/app", ok)
}

// TestHostileInput sends bad input everywhere, on every store driver:
// nothing may answer 5xx, and every error has the documented body.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	forEachDriver(t, hostileInput)
}

func hostileInput(t *testing.T, b *bundle) {
	app := b.createApp(t, map[string]any{"name": "h", "uid": "h"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://example.com/"})["id"].(string)
	b.createEventType(t, "h.evt")
	msg := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "h.evt", "payload": map[string]any{}})["id"].(string)

	bodies := []string{
		`[]`, `[{"name": "x"}]`, `"string"`, `5`, `true`, `null`, `{}`,
		`{"name": null, "uid": null, "metadata": null, "rateLimit": null, "throttleRate": null}`,
		`{"name": [], "url": {}, "eventType": 5, "payload": [], "description": false}`,
		`{"name": "x", "rateLimit": 1e400}`, `{"name": "x", "throttleRate": 99999999999999999999999}`,
		`{"name": "x", "throttleRate": -99999999999999999999999}`, `{"name": "x", "rateLimit": "7"}`,
		`{"name": "日本語 🎉 \u202e", "uid": "ünï"}`, `{"name": "\u0000\u0001", "uid": "\u0000"}`,
		`{"url": "http://[::1", "name": "x"}`, `{"url": "https://e.com", "channels": [], "filterTypes": []}`,
		`{"url": "https://e.com", "channels": [null], "eventTypes": [null], "secret": null}`,
		`{"url": "https://e.com", "secret": "", "metadata": {"": ""}}`,
		`{"url": "javascript:alert(1)"}`, `{"url": "https://e.com", "throttleRate": 1.0e2}`,
		`{"eventType": "a", "payload": {"a": [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}, "channels": ["` + strings.Repeat("c", 200) + `"]}`,
		`{"eventType": "a", "payload": null}`, `{"eventType": "a", "payload": "{}"}`, `{"eventType": "a", "payload": {}, "eventId": ""}`,
		`{"eventType": "a", "payload": {}, "payloadRetentionPeriod": 1e30}`,
		`{"eventType": "a", "payload": {}, "application": []}`, `{"eventType": "a", "payload": {}, "application": {"name": null}}`,
		`{"name": "x", "description": "d", "schemas": []}`, `{"name": "x", "description": "d", "schemas": {"1": 5}}`,
		`{"name": "x", "description": "d", "schemas": "a"}`, `{"name": "a b", "description": null}`,
		`{"headers": null}`, `{"headers": []}`, `{"headers": {"": "x"}}`, `{"headers": {"X-A": ["x"]}}`,
		`{"key": 5, "gracePeriodSeconds": "x"}`, `{"key": "whsec_", "gracePeriodSeconds": 1e20}`,
		`{"since": "never", "until": 5}`, `{"since": null}`, `{"eventType": ["svix.ping"]}`,
		`{"featureFlags": "x", "expiry": []}`, `{"application": {"uid": 5}}`,
		"\xff\xfe{}", strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"name": "` + strings.Repeat("\\u00e9", 5000) + `"}`,
		// U+0000, which PostgreSQL cannot store, in every kind of string
		// (bodies otherwise valid for some route, so that the store is
		// reached when the NUL is not caught).
		`{"name": "x", "metadata": {"k": "a\u0000b"}}`, `{"name": "x", "metadata": {"\u0000": "v"}}`,
		`{"url": "https://e.com/", "metadata": {"k": "\u0000"}}`, `{"url": "https://e.com/", "description": "\u0000"}`,
		`{"url": "https://e.com/\u0000"}`, `{"url": "https://e.com/", "uid": "a\u0000"}`,
		`{"url": "https://e.com/", "channels": ["\u0000"]}`, `{"url": "https://e.com/", "eventTypes": ["h.evt\u0000"]}`,
		`{"url": "https://e.com/", "secret": "whsec_\u0000"}`,
		`{"headers": {"X-A": "\u0000"}}`, `{"headers": {"X-\u0000": "v"}}`,
		`{"eventType": "a", "payload": {}, "application": {"name": "x", "metadata": {"k": "\u0000"}}}`,
		`{"eventType": "a", "payload": {}, "application": {"name": "\u0000"}}`,
		`{"eventType": "a\u0000", "payload": {}}`, `{"eventType": "a", "payload": {}, "channels": ["\u0000"]}`,
		`{"eventType": "a", "payload": {}, "eventId": "\u0000"}`, `{"eventType": "a", "payload": {"\u0000": "\u0000\ud800"}}`,
		`{"name": "n", "description": "d", "schemas": {"1": {"a": "\u0000"}}}`,
		`{"name": "n", "description": "d", "schemas": {"1": {"\u0000": {}}}}`,
		`{"name": "n", "description": "d", "schemas": {"1": {"a": "\udc00"}}}`,
		`{"name": "n", "description": "d", "schemas": {"1": {"a": 1e400, "b": 1e-400}}}`,
		"{\"name\": \"n\", \"description\": \"d\", \"schemas\": {\"1\": {\"a\": \"\xff\"}}}",
		`{"name": "n", "description": "\u0000"}`, `{"name": "n", "description": "d", "featureFlag": "\u0000"}`,
		`{"application": {"name": "x", "metadata": {"\u0000": "v"}}}`, `{"featureFlags": ["\u0000"]}`,
		`{"key": "whsec_\u0000"}`, `{"since": "2020-01-01T00:00:00\u0000Z"}`, `{"eventType": "\u0000"}`,
	}
	paths := []struct{ method, path string }{
		{"POST", "/api/v1/app"},
		{"PUT", "/api/v1/app/" + app},
		{"PATCH", "/api/v1/app/" + app},
		{"PUT", "/api/v1/app/missing-app"},
		{"POST", "/api/v1/app/" + app + "/endpoint"},
		{"PUT", "/api/v1/app/" + app + "/endpoint/" + ep},
		{"PATCH", "/api/v1/app/" + app + "/endpoint/" + ep},
		{"PUT", "/api/v1/app/" + app + "/endpoint/missing-ep"},
		{"PUT", "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"},
		{"PATCH", "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/recover"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/send-example"},
		{"POST", "/api/v1/app/" + app + "/msg"},
		{"POST", "/api/v1/app/new-by-msg/msg"},
		{"POST", "/api/v1/event-type"},
		{"PUT", "/api/v1/event-type/h.evt"},
		{"PATCH", "/api/v1/event-type/h.evt"},
		{"PUT", "/api/v1/event-type/new.evt"},
		{"POST", "/api/v1/auth/app-portal-access/" + app},
		{"POST", "/api/v1/auth/app-portal-access/new-by-portal"},
	}
	for _, p := range paths {
		for _, body := range bodies {
			r := b.do(t, p.method, p.path, body)
			if r.Status >= 500 {
				continue // reported by do
			}
			if r.Status >= 400 {
				checkErrorBody(t, p.method+" "+p.path, body, r)
			}
		}
		// An Idempotency-Key is stored too.
		for _, key := range []string{"\xff\xfe", "ключ"} {
			if r := b.do(t, p.method, p.path, `{}`, "Idempotency-Key", key); r.Status >= 400 && r.Status < 500 {
				checkErrorBody(t, p.method+" "+p.path, "Idempotency-Key "+key, r)
			}
		}
	}

	queries := []string{
		"limit=abc", "limit=-1", "limit=99999999999999999999", "limit=1e3", "iterator=%00", "iterator=-", "iterator=--",
		"iterator=" + strings.Repeat("a", 5000), "order=%ff", "with_content=maybe", "include_archived=2",
		"before=2024-13-45T00:00:00Z", "after=0", "before=9999-12-31T23:59:59Z", "after=0001-01-01T00:00:00Z",
		"event_types=a%20b", "event_types=,,,", "event_types[]=%00", "channel=%00", "status=9", "status=-1",
		"status_code_class=7", "status_code_class=x", "endpoint_id=nope", "since=x", "until=x", "expunge=x",
		"since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z",
		"iterator=app_%00", "iterator=ep_%00", "iterator=ep_%ff", "iterator=msg_%ff", "channel=a%ff", "event_types=%ff%fe",
		"endpoint_id=%00", "endpoint_id=%ff", "order=%00", "%ff=1", "with_content=%00",
	}
	getPaths := []string{
		"/api/v1/app", "/api/v1/app/" + app + "/endpoint", "/api/v1/event-type", "/api/v1/app/" + app + "/msg",
		"/api/v1/app/" + app + "/msg/" + msg, "/api/v1/app/" + app + "/attempt/endpoint/" + ep,
		"/api/v1/app/" + app + "/attempt/msg/" + msg, "/api/v1/app/" + app + "/msg/" + msg + "/endpoint",
		"/api/v1/app/" + app + "/endpoint/" + ep + "/msg", "/api/v1/app/" + app + "/endpoint/" + ep + "/stats",
	}
	for _, p := range getPaths {
		for _, q := range queries {
			r := b.do(t, "GET", p+"?"+q, nil)
			if r.Status >= 400 && r.Status < 500 {
				checkErrorBody(t, "GET "+p, q, r)
			}
		}
	}
	for _, q := range []string{"expunge=x", "expunge=true&expunge=false"} {
		if r := b.do(t, "DELETE", "/api/v1/event-type/missing?"+q, nil); r.Status >= 400 && r.Status < 500 {
			checkErrorBody(t, "DELETE event type", q, r)
		}
	}

	ids := []string{"%00", "%2F", "..", "app_", "app_" + strings.Repeat("z", 27), strings.Repeat("x", 4000), "%ff%fe", "a%20b", "-"}
	for _, id := range ids {
		for _, p := range []string{"/api/v1/app/" + id, "/api/v1/app/" + app + "/endpoint/" + id, "/api/v1/app/" + app + "/msg/" + id,
			"/api/v1/event-type/" + id, "/api/v1/app/" + app + "/msg/" + msg + "/attempt/" + id} {
			r := b.do(t, "GET", p, nil)
			if r.Status >= 400 && r.Status < 500 {
				checkErrorBody(t, "GET "+p, "", r)
			}
		}
	}
}

func checkErrorBody(t *testing.T, what, input string, r *response) {
	t.Helper()
	if len(input) > 80 {
		input = input[:80] + "..."
	}
	ok := false
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err == nil {
		if r.Status == 422 {
			_, ok = m["detail"].([]any)
		} else {
			_, c := m["code"].(string)
			_, d := m["detail"].(string)
			ok = c && d && len(m) == 2
		}
	}
	if !ok {
		t.Errorf("%s %q: error body %s", what, input, r)
	}
}

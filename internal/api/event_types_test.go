package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func TestEventTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schemas := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"id": 1}}}}

	et := b.must(t, http.StatusCreated, "POST", "/api/v1/event-type",
		map[string]any{"name": "invoice.paid", "description": "Paid", "schemas": schemas, "featureFlag": "beta"})
	if et["name"] != "invoice.paid" || et["description"] != "Paid" || et["archived"] != false || et["deprecated"] != false || et["featureFlag"] != "beta" {
		t.Errorf("created = %v", et)
	}
	if s, _ := json.Marshal(et["schemas"]); string(s) != `{"1":{"examples":[{"id":1}],"type":"object"}}` {
		t.Errorf("schemas = %s", s)
	}
	wantError(t, b.do(t, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "again"}), 409, "event_type_exists")

	got := b.must(t, 200, "GET", "/api/v1/event-type/invoice.paid", nil)
	if got["description"] != "Paid" || got["schemas"] == nil {
		t.Errorf("get = %v", got)
	}
	wantError(t, b.do(t, "GET", "/api/v1/event-type/missing", nil), 404, "not_found")

	b.createEventType(t, "a.first")
	b.createEventType(t, "z.last")

	// DELETE archives: still readable, hidden from the list.
	b.must(t, 204, "DELETE", "/api/v1/event-type/z.last", nil)
	if got := b.must(t, 200, "GET", "/api/v1/event-type/z.last", nil); got["archived"] != true {
		t.Errorf("archived = %v", got)
	}
	env := b.list(t, "/api/v1/event-type")
	if got := env.ids("name"); !slices.Equal(got, []string{"a.first", "invoice.paid"}) {
		t.Errorf("list = %v", got)
	}
	// with_content defaults to false: schemas null (key present).
	for _, d := range env.Data {
		if v, ok := d["schemas"]; !ok || v != nil {
			t.Errorf("list without content: schemas = %v (present %v)", v, ok)
		}
	}
	env = b.list(t, "/api/v1/event-type?include_archived=true&with_content=true")
	if got := env.ids("name"); !slices.Equal(got, []string{"a.first", "invoice.paid", "z.last"}) {
		t.Errorf("list with archived = %v", got)
	}
	if env.Data[1]["schemas"] == nil {
		t.Errorf("with_content=true: schemas = %v", env.Data[1]["schemas"])
	}
	env = b.list(t, "/api/v1/event-type?include_archived=true&limit=1&iterator=a.first")
	if got := env.ids("name"); !slices.Equal(got, []string{"invoice.paid"}) || env.Done {
		t.Errorf("page after a.first = %v done %v", got, env.Done)
	}

	// Creating an archived name brings it back with the new fields.
	back := b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "z.last", "description": "back", "deprecated": true})
	if back["archived"] != false || back["description"] != "back" || back["deprecated"] != true {
		t.Errorf("un-archived = %v", back)
	}

	// PUT creates (201) and replaces (200).
	put := b.must(t, 201, "PUT", "/api/v1/event-type/put.new", map[string]any{"description": "new"})
	if put["name"] != "put.new" {
		t.Errorf("PUT create = %v", put)
	}
	put = b.must(t, 200, "PUT", "/api/v1/event-type/invoice.paid", map[string]any{"description": "replaced"})
	if put["description"] != "replaced" || put["schemas"] != nil || put["featureFlag"] != nil {
		t.Errorf("PUT replace = %v", put)
	}

	// PATCH changes only what it names.
	b.must(t, 200, "PUT", "/api/v1/event-type/invoice.paid", map[string]any{"description": "d", "schemas": schemas, "featureFlag": "f"})
	p := b.must(t, 200, "PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"deprecated": true})
	if p["deprecated"] != true || p["description"] != "d" || p["schemas"] == nil || p["featureFlag"] != "f" {
		t.Errorf("PATCH = %v", p)
	}
	p = b.must(t, 200, "PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"featureFlag": nil, "schemas": nil})
	if p["featureFlag"] != nil || p["schemas"] != nil || p["description"] != "d" {
		t.Errorf("PATCH nulls = %v", p)
	}
	wantError(t, b.do(t, "PATCH", "/api/v1/event-type/missing", map[string]any{"description": "x"}), 404, "not_found")

	// Validation.
	for _, c := range []struct {
		method, path string
		body         any
		loc          []string
	}{
		{"POST", "/api/v1/event-type", map[string]any{"description": "x"}, []string{"body", "name"}},
		{"POST", "/api/v1/event-type", map[string]any{"name": "a b", "description": "x"}, []string{"body", "name"}},
		{"POST", "/api/v1/event-type", map[string]any{"name": "nodesc"}, []string{"body", "description"}},
		{"POST", "/api/v1/event-type", map[string]any{"name": "s", "description": "x", "schemas": []any{}}, []string{"body", "schemas"}},
		{"POST", "/api/v1/event-type", map[string]any{"name": "s", "description": "x", "schemas": map[string]any{"1": "no"}}, []string{"body", "schemas", "1"}},
		{"PUT", "/api/v1/event-type/s", map[string]any{"description": "x", "schemas": 5}, []string{"body", "schemas"}},
		{"PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"schemas": map[string]any{"1": []any{}}}, []string{"body", "schemas", "1"}},
		{"PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"description": nil}, []string{"body", "description"}},
		{"POST", "/api/v1/event-type", map[string]any{"name": "s", "description": "x", "featureFlag": "a b"}, []string{"body", "featureFlag"}},
	} {
		wantValidation(t, b.do(t, c.method, c.path, c.body), c.loc...)
	}
	wantError(t, b.do(t, "GET", "/api/v1/event-type/s", nil), 404, "not_found")

	// DELETE ?expunge=true removes the row.
	b.must(t, 204, "DELETE", "/api/v1/event-type/a.first?expunge=true", nil)
	wantError(t, b.do(t, "GET", "/api/v1/event-type/a.first", nil), 404, "not_found")
	wantError(t, b.do(t, "DELETE", "/api/v1/event-type/a.first", nil), 404, "not_found")
	env = b.list(t, "/api/v1/event-type?include_archived=true")
	if got := env.ids("name"); slices.Contains(got, "a.first") {
		t.Errorf("expunged type listed: %v", got)
	}
	b.createEventType(t, "a.first") // the name is free again
}

// TestEventTypeFeatureFlags checks that portal tokens see only event types
// without a feature flag.
func TestEventTypeFeatureFlags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "ff"})
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		body := map[string]any{"name": name, "description": name}
		if i%2 == 1 {
			body["featureFlag"] = "hidden"
		}
		b.must(t, 201, "POST", "/api/v1/event-type", body)
	}
	tok := b.portalToken(t, app, nil)
	var seen []string
	iter := ""
	for range 10 {
		path := "/api/v1/event-type?limit=1"
		if iter != "" {
			path += "&iterator=" + iter
		}
		r := b.doAs(t, tok, "GET", path, nil)
		var env listEnvelope
		if err := json.Unmarshal(r.Body, &env); err != nil || r.Status != 200 {
			t.Fatalf("%s: %s", path, r)
		}
		seen = append(seen, env.ids("name")...)
		if env.Done {
			break
		}
		iter = *env.Iterator
	}
	if !slices.Equal(seen, []string{"a", "c", "e"}) {
		t.Errorf("portal sees %v, want [a c e]", seen)
	}
	wantError(t, b.doAs(t, tok, "GET", "/api/v1/event-type/b", nil), 404, "not_found")
	if r := b.doAs(t, tok, "GET", "/api/v1/event-type/c", nil); r.Status != 200 {
		t.Errorf("visible type: %s", r)
	}
}

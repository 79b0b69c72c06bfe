package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
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

// TestFlaggedEventTypesAsMissingForPortal checks that an event type with a
// feature flag, hidden from portal tokens when read, cannot be subscribed
// to, or probed, through a portal token either: for that token it behaves
// exactly as one that does not exist. Admin tokens see it.
func TestFlaggedEventTypesAsMissingForPortal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "flags"})
	b.createEventType(t, "open.evt")
	b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "beta.evt", "description": "d", "featureFlag": "beta",
		"schemas": map[string]any{"1": map[string]any{"examples": []any{map[string]any{"a": 1}}}}})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	tok := b.portalToken(t, app, nil)

	// The answer to a hidden type, with its name swapped for a missing
	// one's, is the answer to the missing one.
	same := func(what string, hidden, missing *response) {
		t.Helper()
		swapped := strings.ReplaceAll(string(hidden.Body), "beta.evt", "nope.evt")
		if hidden.Status != missing.Status || swapped != string(missing.Body) {
			t.Errorf("%s: hidden type answered %s, missing one %s", what, hidden, missing)
		}
	}
	epPath := "/api/v1/app/" + app + "/endpoint"
	for _, req := range []struct {
		method, path string
		body         func(name string) map[string]any
	}{
		{"POST", epPath, func(n string) map[string]any {
			return map[string]any{"url": "https://e.com/", "eventTypes": []string{"open.evt", n}}
		}},
		{"POST", epPath, func(n string) map[string]any {
			return map[string]any{"url": "https://e.com/", "filterTypes": []string{n}}
		}},
		{"PUT", epPath + "/" + ep, func(n string) map[string]any {
			return map[string]any{"url": "https://e.com/", "eventTypes": []string{n}}
		}},
		{"PATCH", epPath + "/" + ep, func(n string) map[string]any { return map[string]any{"eventTypes": []string{n}} }},
		{"POST", epPath + "/" + ep + "/send-example", func(n string) map[string]any { return map[string]any{"eventType": n} }},
	} {
		hidden := b.doAs(t, tok, req.method, req.path, req.body("beta.evt"))
		if hidden.Status < 400 {
			t.Errorf("%s %s with a hidden event type through a portal token: %s", req.method, req.path, hidden)
		}
		same(req.method+" "+req.path, hidden, b.doAs(t, tok, req.method, req.path, req.body("nope.evt")))
	}
	same("GET", b.doAs(t, tok, "GET", "/api/v1/event-type/beta.evt", nil), b.doAs(t, tok, "GET", "/api/v1/event-type/nope.evt", nil))
	if got := b.must(t, 200, "GET", epPath+"/"+ep, nil); got["eventTypes"] != nil {
		t.Errorf("endpoint changed through refused requests: %v", got["eventTypes"])
	}

	// The operator sees and uses it.
	got := b.must(t, 200, "PATCH", epPath+"/"+ep, map[string]any{"eventTypes": []string{"beta.evt"}})
	if fmt.Sprint(got["eventTypes"]) != "[beta.evt]" {
		t.Errorf("admin PATCH eventTypes = %v", got["eventTypes"])
	}
	b.must(t, 200, "POST", epPath+"/"+ep+"/send-example", map[string]any{"eventType": "beta.evt"})
	// Types without a flag are open to the portal token.
	b.doAs(t, tok, "PATCH", epPath+"/"+ep, map[string]any{"eventTypes": []string{"open.evt"}})
	if got := b.must(t, 200, "GET", epPath+"/"+ep, nil); fmt.Sprint(got["eventTypes"]) != "[open.evt]" {
		t.Errorf("portal PATCH eventTypes = %v", got["eventTypes"])
	}
}

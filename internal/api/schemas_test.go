package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/store"
)

// orderSchema is a typical event type schema (draft 2020-12, the default):
// an order with nested objects and an array of items.
var orderSchema = func() string {
	b, err := os.ReadFile("testdata/order.schema.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// validOrder validates against orderSchema.
const validOrder = `{"id": "ord_1", "customer": {"id": "cus_1", "email": "ada@example.com", "name": "Ada"},
	"currency": "EUR", "total": 42.5, "status": "paid", "note": null, "createdAt": "2026-01-02T03:04:05Z",
	"shipping": {"line1": "1 Main St", "city": "Paris", "country": "FR"},
	"items": [{"sku": "a", "quantity": 1, "price": 40}, {"sku": "b", "quantity": 2, "price": 1.25}]}`

// schemasOf is the schemas field of an event type with one version.
func schemasOf(schema string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"1": json.RawMessage(schema)}
}

// violationItem is one entry of a 422's detail.
type violationItem struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// violationsOf checks that r is a 422 and returns its detail.
func violationsOf(t *testing.T, r *response) []violationItem {
	t.Helper()
	wantValidation(t, r)
	var body struct {
		Detail []violationItem `json:"detail"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Detail
}

func (b *bundle) sendMessage(t *testing.T, app, eventType, payload string) *response {
	t.Helper()
	return b.do(t, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": eventType, "payload": json.RawMessage(payload)})
}

func TestPayloadValidation(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		et := b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "order.created", "description": "d",
			"schemas": schemasOf(orderSchema), "validatePayloads": true})
		if et["validatePayloads"] != true {
			t.Fatalf("created = %v", et)
		}
		app := b.createApp(t, map[string]any{"name": "shop"})
		msgPath := "/api/v1/app/" + app + "/msg"
		if r := b.sendMessage(t, app, "order.created", validOrder); r.Status != 202 {
			t.Fatalf("valid order: %s", r)
		}

		// Every violation, at its JSON pointer under body.payload, in
		// document order.
		bad := `{"id": "ord_2", "customer": {"id": "cus_1"}, "currency": "JPY", "total": -1,
			"createdAt": "now", "extra": true,
			"items": [{"sku": "a", "quantity": 0, "price": 1}, {"sku": 5, "quantity": 1, "price": 1}, {"sku": "c", "quantity": 1, "price": 1},
			          {"sku": "d", "quantity": 1.5, "price": 1}, {"sku": "e", "quantity": 1, "price": 1}, {"sku": "f", "quantity": 1, "price": 1},
			          {"sku": "g", "quantity": 1, "price": 1}, {"sku": "h", "quantity": 1, "price": 1}, {"sku": "i", "quantity": 1, "price": 1},
			          {"sku": "j", "quantity": 1, "price": 1}, {"quantity": 1, "price": 1}]}`
		got := violationsOf(t, b.sendMessage(t, app, "order.created", bad))
		want := []violationItem{
			{Loc: []string{"body", "payload"}, Type: "value_error.jsonschema.additionalProperties"},
			{Loc: []string{"body", "payload", "currency"}, Type: "value_error.jsonschema.enum"},
			{Loc: []string{"body", "payload", "customer"}, Type: "value_error.jsonschema.required"},
			{Loc: []string{"body", "payload", "items", "0", "quantity"}, Type: "value_error.jsonschema.minimum"},
			{Loc: []string{"body", "payload", "items", "1", "sku"}, Type: "value_error.jsonschema.type"},
			{Loc: []string{"body", "payload", "items", "3", "quantity"}, Type: "value_error.jsonschema.type"},
			{Loc: []string{"body", "payload", "items", "10"}, Type: "value_error.jsonschema.required"},
			{Loc: []string{"body", "payload", "total"}, Type: "value_error.jsonschema.minimum"},
		}
		if len(got) != len(want) {
			t.Fatalf("violations = %+v, want %d", got, len(want))
		}
		for i := range want {
			if !slices.Equal(got[i].Loc, want[i].Loc) || got[i].Type != want[i].Type || got[i].Msg == "" {
				t.Errorf("violation %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		for i, sub := range map[int]string{0: "'extra'", 2: "'email'", 6: "'sku'"} {
			if !strings.Contains(got[i].Msg, sub) {
				t.Errorf("violation %d says %q, want it to name %s", i, got[i].Msg, sub)
			}
		}
		// Refused payloads stored nothing, and made no app either.
		if n := len(b.list(t, msgPath).Data); n != 1 {
			t.Errorf("%d messages stored, want 1", n)
		}
		r := b.do(t, "POST", "/api/v1/app/newshop/msg", map[string]any{"eventType": "order.created", "payload": json.RawMessage(`{}`),
			"application": map[string]any{"name": "New shop", "uid": "newshop"}})
		wantValidation(t, r, "body", "payload")
		wantError(t, b.do(t, "GET", "/api/v1/app/newshop", nil), 404, "not_found")

		// The list is capped: a payload wrong everywhere gets the first 50
		// violations and a count of the rest.
		var items []string
		for range 60 {
			items = append(items, `{"sku": 1, "quantity": 1, "price": 1}`)
		}
		huge := strings.Replace(validOrder, `[{"sku": "a", "quantity": 1, "price": 40}, {"sku": "b", "quantity": 2, "price": 1.25}]`,
			"["+strings.Join(items, ",")+"]", 1)
		got = violationsOf(t, b.sendMessage(t, app, "order.created", huge))
		if len(got) != 51 || !slices.Equal(got[49].Loc, []string{"body", "payload", "items", "49", "sku"}) ||
			got[50].Type != "value_error.jsonschema.truncated" || !strings.Contains(got[50].Msg, "10 more") {
			t.Errorf("capped list: %d items, last %+v", len(got), got[len(got)-1])
		}

		// The setting: false and null (the server's default here, off)
		// accept what does not validate; a message of an event type that
		// does not exist is not checked.
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"validatePayloads": false})
		if r := b.sendMessage(t, app, "order.created", bad); r.Status != 202 {
			t.Errorf("validation off: %s", r)
		}
		p := b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"validatePayloads": nil})
		if v, ok := p["validatePayloads"]; !ok || v != nil {
			t.Errorf("validatePayloads null: %v", p)
		}
		if r := b.sendMessage(t, app, "order.created", bad); r.Status != 202 {
			t.Errorf("server default (off): %s", r)
		}
		if r := b.sendMessage(t, app, "no.such.type", bad); r.Status != 202 {
			t.Errorf("unknown event type: %s", r)
		}
		// A change made here is seen at once; PUT without the field (as
		// Svix clients send it) leaves it.
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"validatePayloads": true})
		wantValidation(t, b.sendMessage(t, app, "order.created", bad), "body", "payload", "total")
		put := b.must(t, 200, "PUT", "/api/v1/event-type/order.created", map[string]any{"description": "new", "schemas": schemasOf(orderSchema)})
		if put["validatePayloads"] != true {
			t.Errorf("PUT without validatePayloads: %v", put)
		}
		wantValidation(t, b.sendMessage(t, app, "order.created", bad), "body", "payload", "total")
		// A new schema applies at once.
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"schemas": schemasOf(`{"required": ["only"]}`)})
		if r := b.sendMessage(t, app, "order.created", `{"only": 1}`); r.Status != 202 {
			t.Errorf("after a schema change: %s", r)
		}
		wantValidation(t, b.sendMessage(t, app, "order.created", validOrder), "body", "payload")
		// An archived event type keeps validating.
		b.must(t, 204, "DELETE", "/api/v1/event-type/order.created", nil)
		wantValidation(t, b.sendMessage(t, app, "order.created", validOrder), "body", "payload")
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"archived": false})
		// No schema: nothing to validate against.
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"schemas": nil})
		if r := b.sendMessage(t, app, "order.created", bad); r.Status != 202 {
			t.Errorf("without a schema: %s", r)
		}

		// Concurrent messages share the compiled schema.
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"schemas": schemasOf(orderSchema)})
		var wg sync.WaitGroup
		var wrong atomic.Int32
		for i := range 8 {
			wg.Go(func() {
				payload, want := validOrder, 202
				if i%2 == 1 {
					payload, want = bad, 422
				}
				if r := b.sendMessage(t, app, "order.created", payload); r.Status != want {
					wrong.Add(1)
				}
			})
		}
		wg.Wait()
		if wrong.Load() != 0 {
			t.Errorf("%d concurrent messages got the wrong answer", wrong.Load())
		}
	})
}

// TestPayloadValidationDefault runs with --validate-payloads: event types
// whose validatePayloads is null are validated, false opts out.
func TestPayloadValidationDefault(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "order.created", "description": "d", "schemas": schemasOf(orderSchema)})
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "order.legacy", "description": "d", "schemas": schemasOf(orderSchema),
			"validatePayloads": false})
		b.createEventType(t, "no.schema")
		app := b.createApp(t, map[string]any{"name": "shop"})
		wantValidation(t, b.sendMessage(t, app, "order.created", `{"id": "ord_1"}`), "body", "payload")
		if r := b.sendMessage(t, app, "order.created", validOrder); r.Status != 202 {
			t.Errorf("valid order: %s", r)
		}
		if r := b.sendMessage(t, app, "order.legacy", `{"id": "ord_1"}`); r.Status != 202 {
			t.Errorf("validatePayloads false: %s", r)
		}
		if r := b.sendMessage(t, app, "no.schema", `{"anything": true}`); r.Status != 202 {
			t.Errorf("event type without a schema: %s", r)
		}
		// A schema stored before schemas were checked, that does not
		// compile: its messages are refused, saying why.
		now := b.clock.Now()
		err := b.store.CreateEventType(context.Background(), &store.EventType{Name: "old.schema", Schemas: json.RawMessage(`{"1": {"type": "foo"}}`),
			CreatedAt: now, UpdatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		got := violationsOf(t, b.sendMessage(t, app, "old.schema", `{}`))
		if len(got) != 1 || !slices.Equal(got[0].Loc, []string{"body", "eventType"}) || !strings.Contains(got[0].Msg, "does not compile") {
			t.Errorf("a stored schema that does not compile: %+v", got)
		}
	}, func(o *api.Options) { o.ValidatePayloads = true })
}

// TestPayloadValidationDialects checks drafts 2020-12 (the default) and 07,
// and that the newest version is the one that counts.
func TestPayloadValidationDialects(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		// Draft-07: tuple items (an array under "items"), definitions,
		// and dependencies, none of which draft 2020-12 has.
		draft07 := `{
			"$schema": "http://json-schema.org/draft-07/schema#",
			"type": "object",
			"properties": {
				"point": {"type": "array", "items": [{"type": "number"}, {"type": "number"}], "additionalItems": false},
				"card": {"$ref": "#/definitions/card"}
			},
			"dependencies": {"card": ["billing"]},
			"definitions": {"card": {"type": "string", "pattern": "^[0-9]{4}$"}}
		}`
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "d07", "description": "d",
			"schemas": schemasOf(draft07), "validatePayloads": true})
		// Draft 2020-12: prefixItems and dependentRequired.
		draft2020 := `{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"type": "object",
			"properties": {
				"point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": false},
				"card": {"$ref": "#/$defs/card"}
			},
			"dependentRequired": {"card": ["billing"]},
			"$defs": {"card": {"type": "string", "pattern": "^[0-9]{4}$"}}
		}`
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "d2020", "description": "d",
			"schemas": schemasOf(draft2020), "validatePayloads": true})
		app := b.createApp(t, map[string]any{"name": "shop"})
		// Items past the tuple: draft-07 reports the array
		// (additionalItems), 2020-12 the item (a false schema).
		for name, want := range map[string][]string{
			"d07":   {"body.payload", "body.payload.card", "body.payload.point", "body.payload.point.1"},
			"d2020": {"body.payload", "body.payload.card", "body.payload.point.1", "body.payload.point.2"},
		} {
			if r := b.sendMessage(t, app, name, `{"point": [1, 2], "card": "1234", "billing": "x"}`); r.Status != 202 {
				t.Errorf("%s valid: %s", name, r)
			}
			got := violationsOf(t, b.sendMessage(t, app, name, `{"point": [1, "2", 3], "card": "12"}`))
			var locs []string
			for _, v := range got {
				locs = append(locs, strings.Join(v.Loc, "."))
			}
			if !slices.Equal(locs, want) {
				t.Errorf("%s violations at %v, want %v: %+v", name, locs, want, got)
			}
		}

		// format is asserted under draft-07, an annotation under 2020-12.
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "f07", "description": "d", "validatePayloads": true,
			"schemas": schemasOf(`{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"email": {"format": "email"}}}`)})
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "f2020", "description": "d", "validatePayloads": true,
			"schemas": schemasOf(`{"properties": {"email": {"format": "email"}}}`)})
		wantValidation(t, b.sendMessage(t, app, "f07", `{"email": "not an address"}`), "body", "payload", "email")
		if r := b.sendMessage(t, app, "f2020", `{"email": "not an address"}`); r.Status != 202 {
			t.Errorf("format under 2020-12: %s", r)
		}

		// The newest version is the highest number: "10" after "2".
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "versioned", "description": "d", "validatePayloads": true,
			"schemas": map[string]json.RawMessage{"1": json.RawMessage(`{"required": ["a"]}`),
				"10": json.RawMessage(`{"required": ["c"]}`), "2": json.RawMessage(`{"required": ["b"]}`)}})
		if r := b.sendMessage(t, app, "versioned", `{"c": 1}`); r.Status != 202 {
			t.Errorf("newest version: %s", r)
		}
		wantValidation(t, b.sendMessage(t, app, "versioned", `{"a": 1, "b": 2}`), "body", "payload")
	})
}

// TestEventTypeSchemaRefused checks that a schema that is not valid JSON
// Schema, or that refers outside itself, is refused when it is written, and
// that nothing is fetched.
func TestEventTypeSchemaRefused(t *testing.T) {
	t.Parallel()
	var fetched atomic.Int32
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"type": "string"}`)
	}))
	t.Cleanup(remote.Close)
	forEachDriver(t, func(t *testing.T, b *bundle) {
		b.createEventType(t, "existing")
		cases := []struct {
			name, schema, reason string
		}{
			{"bad type", `{"type": "foo"}`, `at "/type"`},
			{"bad minimum", `{"properties": {"n": {"minimum": "x"}}}`, `at "/properties/n/minimum"`},
			{"bad pattern", `{"properties": {"s": {"pattern": "(?=x)"}}}`, "not valid regex"},
			{"tuple items in 2020-12", `{"items": [{"type": "string"}]}`, `at "/items"`},
			{"remote $ref", `{"$ref": "` + remote.URL + `/schema.json"}`, remote.URL + "/schema.json"},
			{"remote $ref inside", `{"properties": {"a": {"$ref": "` + remote.URL + `/a.json#/x"}}}`, remote.URL + "/a.json"},
			{"relative $ref", `{"$ref": "other.json"}`, "other.json"},
			{"file $ref", `{"$ref": "file:///etc/passwd"}`, "file:///etc/passwd"},
			{"$id elsewhere", `{"$id": "` + remote.URL + `/base.json", "$ref": "item.json"}`, remote.URL + "/item.json"},
			{"unknown $schema", `{"$schema": "https://json-schema.org/draft/2019-09/schema"}`, "is not supported"},
			{"remote $schema", `{"$schema": "` + remote.URL + `/meta.json"}`, "is not supported"},
			{"$schema not a string", `{"$schema": 7}`, "is not supported"},
		}
		for _, c := range cases {
			for _, req := range []struct{ method, path string }{
				{"POST", "/api/v1/event-type"},
				{"PUT", "/api/v1/event-type/existing"},
				{"PATCH", "/api/v1/event-type/existing"},
			} {
				body := map[string]any{"name": "refused", "description": "d",
					"schemas": map[string]json.RawMessage{"1": json.RawMessage(`{}`), "2": json.RawMessage(c.schema)}}
				got := violationsOf(t, b.do(t, req.method, req.path, body))
				if len(got) != 1 || !slices.Equal(got[0].Loc, []string{"body", "schemas", "2"}) ||
					got[0].Type != "value_error.jsonschema" || !strings.Contains(got[0].Msg, c.reason) {
					t.Errorf("%s, %s: %+v, want one item at body.schemas.2 saying %q", c.name, req.method, got, c.reason)
				}
			}
		}
		wantError(t, b.do(t, "GET", "/api/v1/event-type/refused", nil), 404, "not_found")
		if et := b.must(t, 200, "GET", "/api/v1/event-type/existing", nil); et["schemas"] != nil {
			t.Errorf("a refused schema was stored: %v", et)
		}
		// Local references, with and without an $id, and both dialects'
		// meta-schemas, compile without fetching.
		for i, s := range []string{
			`{"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}`,
			`{"$id": "https://example.com/order.json", "properties": {"a": {"$ref": "order.json#/$defs/a"}}, "$defs": {"a": {}}}`,
			`{"$schema": "https://json-schema.org/draft/2020-12/schema#"}`,
			`{"$schema": "http://json-schema.org/draft-07/schema", "definitions": {"a": {}}, "$ref": "#/definitions/a"}`,
			`{"$schema": "https://json-schema.org/draft-07/schema#"}`,
		} {
			b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": fmt.Sprintf("ok%d", i), "description": "d", "schemas": schemasOf(s)})
		}
	})
	if n := fetched.Load(); n != 0 {
		t.Errorf("the remote schema server was asked %d times", n)
	}
}

// TestPayloadValidationReplicas checks that a change made through another
// replica (another API on the same database) is picked up within the
// cache's lifetime.
func TestPayloadValidationReplicas(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		other := api.New(api.Options{Store: b.store, Box: b.box, Log: testLogger(t), Now: b.clock.Now})
		srv := httptest.NewServer(other)
		t.Cleanup(srv.Close)
		b2 := *b
		b2.api, b2.srv = other, srv

		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "order.created", "description": "d",
			"schemas": schemasOf(orderSchema), "validatePayloads": true})
		app := b.createApp(t, map[string]any{"name": "shop"})
		wantValidation(t, b2.sendMessage(t, app, "order.created", `{}`), "body", "payload")
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"schemas": schemasOf(`{"required": ["x"]}`)})
		b.clock.Advance(time.Second)
		if r := b2.sendMessage(t, app, "order.created", `{"x": 1}`); r.Status != 202 {
			t.Fatalf("the other replica still uses the old schema a second later: %s", r)
		}
		b.must(t, 200, "PATCH", "/api/v1/event-type/order.created", map[string]any{"validatePayloads": false})
		b.clock.Advance(time.Second)
		if r := b2.sendMessage(t, app, "order.created", `{}`); r.Status != 202 {
			t.Fatalf("the other replica still validates a second later: %s", r)
		}
	})
}

// TestSendExampleValidates checks that send-example sends an example that
// validates when payload validation is on for the event type.
func TestSendExampleValidates(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "ex"})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
		path := "/api/v1/app/" + app + "/endpoint/" + ep + "/send-example"
		// The first example does not validate; the second does. Version
		// 1's example (older) comes after version 2's.
		schemas := map[string]json.RawMessage{
			"1": json.RawMessage(`{"examples": [{"v": 1, "ok": true}]}`),
			"2": json.RawMessage(`{"required": ["ok"], "examples": [{"v": 2}, {"v": 3, "ok": true}], "example": {"v": 4, "ok": true}}`),
		}
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "ex.on", "description": "d", "schemas": schemas, "validatePayloads": true})
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "ex.off", "description": "d", "schemas": schemas, "validatePayloads": false})
		b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "ex.none", "description": "d", "validatePayloads": true,
			"schemas": schemasOf(`{"required": ["ok"], "examples": [{"v": 1}]}`)})
		for name, want := range map[string]float64{"ex.on": 3, "ex.off": 2} {
			msg := b.must(t, 200, "POST", path, map[string]any{"eventType": name})
			if v := msg["payload"].(map[string]any)["v"]; v != want {
				t.Errorf("%s sent example v=%v, want %v", name, v, want)
			}
		}
		r := b.do(t, "POST", path, map[string]any{"eventType": "ex.none"})
		wantError(t, r, 400, "invalid_scheme")
		if !strings.Contains(string(r.Body), "none of its examples validates") {
			t.Errorf("no valid example: %s", r)
		}
		// svix.ping has no schema and is always sent.
		b.must(t, 200, "POST", path, map[string]any{"eventType": "svix.ping"})
	}, func(o *api.Options) { o.ValidatePayloads = true })
}

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// TestNULRefused checks that U+0000, which PostgreSQL cannot store in text
// or jsonb, is refused with a 422 naming the field wherever a string is
// stored or compared, and alike on every driver; nothing is changed.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "nul", "uid": "nul", "metadata": map[string]string{"k": "v"}})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/", "metadata": map[string]string{"k": "v"}})["id"].(string)
		b.createEventType(t, "nul.evt")
		epPath := "/api/v1/app/" + app + "/endpoint/" + ep
		cases := []struct {
			method, path, body string
			loc                []string
		}{
			{"POST", "/api/v1/app", `{"name": "x", "metadata": {"k": "a\u0000b"}}`, []string{"body", "metadata"}},
			{"POST", "/api/v1/app", `{"name": "x", "metadata": {"\u0000": "v"}}`, []string{"body", "metadata"}},
			{"PUT", "/api/v1/app/" + app, `{"name": "x", "metadata": {"k": "\u0000"}}`, []string{"body", "metadata"}},
			{"PATCH", "/api/v1/app/" + app, `{"metadata": {"k": "\u0000"}}`, []string{"body", "metadata"}},
			{"POST", "/api/v1/app", `{"name": "a\u0000"}`, []string{"body", "name"}},
			{"POST", "/api/v1/app/" + app + "/endpoint", `{"url": "https://e.com/", "metadata": {"k": "\u0000"}}`, []string{"body", "metadata"}},
			{"PUT", epPath, `{"url": "https://e.com/", "metadata": {"\u0000": ""}}`, []string{"body", "metadata"}},
			{"PATCH", epPath, `{"metadata": {"k": "\u0000"}}`, []string{"body", "metadata"}},
			{"PATCH", epPath, `{"description": "\u0000"}`, []string{"body", "description"}},
			{"PATCH", epPath, `{"url": "https://e.com/\u0000"}`, []string{"body", "url"}},
			{"PUT", epPath + "/headers", `{"headers": {"X-A": "\u0000"}}`, []string{"body", "headers", "X-A"}},
			// Apps created on the fly by a message or a portal token.
			{"POST", "/api/v1/app/nul-new/msg", `{"eventType": "a", "payload": {}, "application": {"name": "x", "metadata": {"k": "\u0000"}}}`,
				[]string{"body", "application", "metadata"}},
			{"POST", "/api/v1/auth/app-portal-access/nul-new", `{"application": {"name": "x", "metadata": {"\u0000": "v"}}}`,
				[]string{"body", "application", "metadata"}},
			// Schemas are jsonb on PostgreSQL.
			{"POST", "/api/v1/event-type", `{"name": "n", "description": "d", "schemas": {"1": {"a": "\u0000"}}}`, []string{"body", "schemas"}},
			{"PUT", "/api/v1/event-type/n", `{"description": "d", "schemas": {"1": {"\u0000": {}}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"a": ["x", "\u0000"]}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"a": "\ud800"}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"a": "\udc00\ud800"}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", "{\"schemas\": {\"1\": {\"a\": \"\xff\"}}}", []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"maximum": 1e400}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"minimum": 1e-400}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"schemas": {"1": {"minimum": 0.` + strings.Repeat("0", 100) + `1}}}`, []string{"body", "schemas"}},
			{"PATCH", "/api/v1/event-type/nul.evt", `{"description": "\u0000"}`, []string{"body", "description"}},
			// Path and query values are compared with stored strings.
			{"GET", "/api/v1/app/%00", "", []string{"path", "app_id"}},
			{"GET", "/api/v1/app/" + app + "/endpoint/%ff", "", []string{"path", "endpoint_id"}},
			{"PUT", "/api/v1/event-type/a%00", `{"description": "d"}`, []string{"path", "event_type_name"}},
			{"GET", "/api/v1/app?iterator=app_%00", "", []string{"query", "iterator"}},
			{"GET", "/api/v1/app/" + app + "/endpoint?iterator=ep_%ff", "", []string{"query", "iterator"}},
		}
		for _, c := range cases {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := b.do(t, c.method, c.path, body)
			if r.Status != 422 {
				t.Errorf("%s %s %q: %s, want 422 at %v", c.method, c.path, c.body, r, c.loc)
				continue
			}
			wantValidation(t, r, c.loc...)
		}
		wantValidation(t, b.do(t, "POST", "/api/v1/app", map[string]any{"name": "x"}, "Idempotency-Key", "\xff"), "header", "idempotency-key")

		// Nothing was stored.
		if got := b.must(t, 200, "GET", "/api/v1/app/"+app, nil); got["name"] != "nul" || got["metadata"].(map[string]any)["k"] != "v" {
			t.Errorf("app after refused requests: %v", got)
		}
		if got := b.must(t, 200, "GET", epPath, nil); got["description"] != "" || got["metadata"].(map[string]any)["k"] != "v" {
			t.Errorf("endpoint after refused requests: %v", got)
		}
		if n := b.countApps(t); n != 1 {
			t.Errorf("%d apps after refused requests, want 1", n)
		}
		wantError(t, b.do(t, "GET", "/api/v1/event-type/n", nil), 404, "not_found")
		if got := b.must(t, 200, "GET", "/api/v1/event-type/nul.evt", nil); got["schemas"] != nil || got["description"] != "nul.evt" {
			t.Errorf("event type after refused requests: %v", got)
		}

		// Strings that are not U+0000 are kept as sent, by both drivers.
		schemas := `{"1":{"a":"é\ud83d\ude00\\u0000","n":1e308,"m":-2.5e-300}}`
		b.must(t, 200, "PATCH", "/api/v1/event-type/nul.evt", `{"schemas": `+schemas+`}`)
		var got struct{ Schemas map[string]map[string]any }
		if err := json.Unmarshal(b.do(t, "GET", "/api/v1/event-type/nul.evt", nil).Body, &got); err != nil ||
			got.Schemas["1"]["a"] != "é😀\\u0000" || got.Schemas["1"]["n"] != 1e308 {
			t.Errorf("schemas read back as %v, %v", got.Schemas, err)
		}
	})
}

// TestPayloadBytesRoundTrip checks that message payloads, stored as bytes,
// keep \u0000, lone surrogate escapes and bytes that are not UTF-8 on every
// driver: the message is read back and delivered byte for byte.
func TestPayloadBytesRoundTrip(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "bytes"})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
		payloads := []string{
			`{"a":"\u0000","b":"x\u0000y","\u0000":1}`,
			`{"s":"\ud800","t":"\udc00\ud83d\ude00"}`,
			"{\"raw\":\"\xff\xfe\"}",
			`{"n":1e400,"m":1e-400}`,
		}
		ids := map[string]string{}
		for _, p := range payloads {
			r := b.do(t, "POST", "/api/v1/app/"+app+"/msg", `{"eventType": "a", "payload": `+p+`}`)
			if r.Status != 202 {
				t.Fatalf("payload %q: %s", p, r)
			}
			if !bytes.Contains(r.Body, []byte(`"payload":`+p)) {
				t.Errorf("payload %q answered as %s", p, r.Body)
			}
			var created struct{ ID string }
			if err := json.Unmarshal(r.Body, &created); err != nil {
				t.Fatalf("payload %q: %v", p, err)
			}
			ids[created.ID] = p
		}
		for id, p := range ids {
			if r := b.do(t, "GET", "/api/v1/app/"+app+"/msg/"+id, nil); !bytes.Contains(r.Body, []byte(`"payload":`+p)) {
				t.Errorf("GET payload %q: %s", p, r)
			}
			m, err := b.store.GetMessage(context.Background(), app, id)
			if err != nil || string(m.Payload) != p {
				t.Errorf("stored payload %q: %q, %v", p, m.Payload, err)
			}
		}
		for _, path := range []string{"/api/v1/app/" + app + "/msg", "/api/v1/app/" + app + "/endpoint/" + ep + "/msg"} {
			r := b.do(t, "GET", path, nil)
			for _, p := range payloads {
				if !bytes.Contains(r.Body, []byte(`"payload":`+p)) {
					t.Errorf("GET %s lacks payload %q: %s", path, p, r)
				}
			}
		}
		now := store.Truncate(time.Now())
		jobs, err := b.store.ClaimDeliveries(context.Background(), store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 1, Limit: 10})
		if err != nil || len(jobs) != len(payloads) {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		for _, j := range jobs {
			if string(j.Payload) != ids[j.MsgID] {
				t.Errorf("delivered payload %q, want %q", j.Payload, ids[j.MsgID])
			}
		}
	})
}

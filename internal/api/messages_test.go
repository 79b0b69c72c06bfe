package api_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func TestMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "m", "uid": "m"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)

	// The payload is stored (and delivered) byte for byte, and returned
	// exactly as sent.
	payload := `{"z": 1, "a": {"n": 1.50, "s": "é\u00e9"}, "list": [3, 2, 1]}`
	compact := payload
	body := `{"eventType": "order.created", "eventId": "evt-1", "channels": ["ch1", "ch2"], "payload": ` + payload + ` }`
	r := b.do(t, "POST", "/api/v1/app/m/msg", body)
	if r.Status != 202 {
		t.Fatalf("create: %s", r)
	}
	if !strings.Contains(string(r.Body), `"payload":`+compact) {
		t.Errorf("payload not returned as sent: %s", r.Body)
	}
	msg := r.object(t)
	id, _ := msg["id"].(string)
	if !strings.HasPrefix(id, "msg_") || msg["eventType"] != "order.created" || msg["eventId"] != "evt-1" ||
		strings.Join(toStrings(msg["channels"]), ",") != "ch1,ch2" {
		t.Errorf("created = %v", msg)
	}
	if _, err := time.Parse(time.RFC3339Nano, msg["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	stored, err := b.store.GetMessage(context.Background(), app, id)
	if err != nil || string(stored.Payload) != payload {
		t.Errorf("stored payload = %s, %v", stored.Payload, err)
	}
	// One delivery, to the one endpoint.
	if d, err := b.store.GetDelivery(context.Background(), store.DeliveryKey{MsgID: id, EndpointID: ep}); err != nil || d.Status != store.StatusPending {
		t.Errorf("delivery = %+v, %v", d, err)
	}

	// Get by id and by eventId; with_content=false gives payload {}.
	for _, p := range []string{"/api/v1/app/m/msg/" + id, "/api/v1/app/" + app + "/msg/evt-1"} {
		r := b.do(t, "GET", p, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"payload":`+compact) {
			t.Errorf("GET %s: %s", p, r)
		}
	}
	if got := b.must(t, 200, "GET", "/api/v1/app/m/msg/"+id+"?with_content=false", nil); len(got["payload"].(map[string]any)) != 0 {
		t.Errorf("with_content=false: payload = %v", got["payload"])
	}
	if got := b.must(t, 202, "POST", "/api/v1/app/m/msg?with_content=false", map[string]any{"eventType": "x", "payload": map[string]any{"a": 1}}); len(got["payload"].(map[string]any)) != 0 {
		t.Errorf("create with_content=false: payload = %v", got["payload"])
	}
	wantError(t, b.do(t, "GET", "/api/v1/app/m/msg/msg_missing", nil), 404, "not_found")

	// A duplicate eventId in the app is a conflict; another app may use it.
	wantError(t, b.do(t, "POST", "/api/v1/app/m/msg", map[string]any{"eventType": "a", "eventId": "evt-1", "payload": map[string]any{}}), 409, "conflict")
	other := b.createApp(t, map[string]any{"name": "o"})
	b.must(t, 202, "POST", "/api/v1/app/"+other+"/msg", map[string]any{"eventType": "a", "eventId": "evt-1", "payload": map[string]any{}})
	wantError(t, b.do(t, "GET", "/api/v1/app/"+other+"/msg/"+id, nil), 404, "not_found")

	// A missing app is 404 unless the body says how to create it.
	r = b.do(t, "POST", "/api/v1/app/auto/msg", map[string]any{"eventType": "a", "payload": map[string]any{}})
	wantError(t, r, 404, "not_found")
	b.must(t, 202, "POST", "/api/v1/app/auto/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "application": map[string]any{"name": "Auto"}})
	if got := b.must(t, 200, "GET", "/api/v1/app/auto", nil); got["name"] != "Auto" || got["uid"] != "auto" {
		t.Errorf("auto-created app = %v", got)
	}
	// Once it exists, "application" is ignored.
	b.must(t, 202, "POST", "/api/v1/app/auto/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "application": map[string]any{"name": "Other", "uid": "x"}})
	wantValidation(t, b.do(t, "POST", "/api/v1/app/auto2/msg", map[string]any{"eventType": "a", "payload": map[string]any{},
		"application": map[string]any{"name": "A", "uid": "mismatch"}}), "body", "application", "uid")
	wantValidation(t, b.do(t, "POST", "/api/v1/app/auto3/msg", map[string]any{"eventType": "a", "payload": map[string]any{},
		"application": map[string]any{"name": ""}}), "body", "application", "name")
	wantError(t, b.do(t, "GET", "/api/v1/app/auto2", nil), 404, "not_found")

	// Validation.
	for _, c := range []struct {
		body any
		loc  []string
	}{
		{`{"eventType": "a", "payload": [1]}`, []string{"body", "payload"}},
		{`{"eventType": "a", "payload": "{}"}`, []string{"body", "payload"}},
		{`{"eventType": "a", "payload": 5}`, []string{"body", "payload"}},
		{`{"eventType": "a", "payload": null}`, []string{"body", "payload"}},
		{`{"eventType": "a"}`, []string{"body", "payload"}},
		{`{"payload": {}}`, []string{"body", "eventType"}},
		{`{"eventType": "a b", "payload": {}}`, []string{"body", "eventType"}},
		{`{"eventType": "a", "payload": {}, "eventId": "msg_1"}`, []string{"body", "eventId"}},
		{`{"eventType": "a", "payload": {}, "channels": []}`, []string{"body", "channels"}},
		{`{"eventType": "a", "payload": {}, "channels": ["a","b","c","d","e","f"]}`, []string{"body", "channels"}},
		{`{"eventType": "a", "payload": {}, "payloadRetentionPeriod": 4}`, []string{"body", "payloadRetentionPeriod"}},
		{`{"eventType": "a", "payload": {}, "payloadRetentionPeriod": 91}`, []string{"body", "payloadRetentionPeriod"}},
	} {
		wantValidation(t, b.do(t, "POST", "/api/v1/app/m/msg", c.body), c.loc...)
	}
	// Unknown fields sent by SDKs are ignored.
	b.must(t, 202, "POST", "/api/v1/app/m/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "tags": []string{"t"}, "payloadRetentionHours": 24})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestMessageList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "l"})
	type sent struct {
		id string
		at time.Time
	}
	var msgs []sent
	send := func(eventType string, channels ...string) {
		body := map[string]any{"eventType": eventType, "payload": map[string]any{"n": len(msgs)}}
		if channels != nil {
			body["channels"] = channels
		}
		got := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", body)
		at, _ := time.Parse(time.RFC3339Nano, got["timestamp"].(string))
		msgs = append(msgs, sent{got["id"].(string), at})
		b.clock.Advance(time.Minute)
	}
	send("user.created")           // 0
	send("user.deleted", "eu")     // 1
	send("user.created", "us")     // 2
	send("order.paid", "eu", "us") // 3
	send("user.created", "eu")     // 4
	ids := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, msgs[i].id)
		}
		return out
	}
	base := "/api/v1/app/" + app + "/msg"
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", ids(4, 3, 2, 1, 0)},
		{"event_types=user.created", ids(4, 2, 0)},
		{"event_types=user.deleted&event_types=order.paid", ids(3, 1)},
		{"event_types=user.deleted,order.paid", ids(3, 1)},
		{"event_types[]=order.paid", ids(3)},
		{"channel=eu", ids(4, 3, 1)},
		{"channel=us&event_types=user.created", ids(2)},
		{"before=" + url.QueryEscape(msgs[2].at.Format(time.RFC3339Nano)), ids(1, 0)},
		{"after=" + url.QueryEscape(msgs[2].at.Format(time.RFC3339Nano)), ids(4, 3)},
		{"after=" + url.QueryEscape(msgs[0].at.Format(time.RFC3339Nano)) + "&before=" + url.QueryEscape(msgs[4].at.Format(time.RFC3339Nano)), ids(3, 2, 1)},
		// A zone other than UTC, as the Go SDK sends.
		{"before=" + url.QueryEscape(msgs[2].at.In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano)), ids(1, 0)},
	} {
		env := b.list(t, base+"?"+c.query)
		if got := env.ids("id"); !slices.Equal(got, c.want) {
			t.Errorf("?%s = %v, want %v", c.query, got, c.want)
		}
	}

	// Pages, newest first.
	var seen []string
	iter := ""
	for range 10 {
		p := base + "?limit=2"
		if iter != "" {
			p += "&iterator=" + iter
		}
		env := b.list(t, p)
		seen = append(seen, env.ids("id")...)
		if env.Done {
			break
		}
		iter = *env.Iterator
	}
	if want := ids(4, 3, 2, 1, 0); !slices.Equal(seen, want) {
		t.Errorf("pages = %v, want %v", seen, want)
	}

	env := b.list(t, base+"?with_content=false")
	for _, d := range env.Data {
		if p, _ := d["payload"].(map[string]any); p == nil || len(p) != 0 {
			t.Errorf("with_content=false: payload = %v", d["payload"])
		}
	}
	env = b.list(t, base+"?limit=1")
	if p, _ := env.Data[0]["payload"].(map[string]any); p["n"] != 4.0 {
		t.Errorf("payload = %v", env.Data[0]["payload"])
	}
}

// Message creation caches app lookups; changes made through the API are seen
// at once.
func TestMessageAppLookupSeesChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, map[string]any{"name": "c", "uid": "before"})
	send := func(app string) int {
		return b.do(t, "POST", "/api/v1/app/"+app+"/msg", `{"eventType":"a.b","payload":{}}`).Status
	}
	if s := send("before"); s != 202 {
		t.Fatalf("send = %d", s)
	}
	if r := b.do(t, "PATCH", "/api/v1/app/before", `{"uid":"after"}`); r.Status != 200 {
		t.Fatalf("patch: %s", r)
	}
	if s := send("before"); s != 404 {
		t.Errorf("send to the old uid = %d, want 404", s)
	}
	if s := send("after"); s != 202 {
		t.Errorf("send to the new uid = %d, want 202", s)
	}
	if r := b.do(t, "DELETE", "/api/v1/app/after", nil); r.Status != 204 {
		t.Fatalf("delete: %s", r)
	}
	if s := send("after"); s != 404 {
		t.Errorf("send to a deleted app = %d, want 404", s)
	}
}

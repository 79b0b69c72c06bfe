package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/store"
)

// leaseCounter is a dispatcher that counts the fast leases it gives.
type leaseCounter struct {
	mu     sync.Mutex
	leases int
	jobs   []*store.Job
}

func (d *leaseCounter) FastLease() (int64, time.Time, []string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leases++
	return 42, store.Truncate(time.Now().Add(time.Minute)), nil, true
}

func (d *leaseCounter) Dispatch(jobs []*store.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, jobs...)
}
func (d *leaseCounter) Wake()                  {}
func (d *leaseCounter) EndpointChanged(string) {}

func (d *leaseCounter) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leases
}

// TestScheduledMessages: deliverAt stores the message at once, due at its
// time, skipping the fast path; the message shows it; it can be cancelled
// until it is due.
func TestScheduledMessages(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		app := b.createApp(t, map[string]any{"name": "s", "uid": "s"})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
		now := b.clock.Now()
		at := now.Add(time.Hour).UTC().Truncate(time.Second)

		created := b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{"n": 1},
			"deliverAt": at.Format(time.RFC3339)})
		id := created["id"].(string)
		if created["deliverAt"] != at.Format(time.RFC3339) {
			t.Errorf("created deliverAt = %v, want %s", created["deliverAt"], at.Format(time.RFC3339))
		}
		if _, ok := created["canceledAt"]; ok {
			t.Errorf("created: canceledAt %v", created["canceledAt"])
		}
		d, err := b.store.GetDelivery(ctx, store.DeliveryKey{MsgID: id, EndpointID: ep})
		if err != nil || d.Status != store.StatusPending || !d.NextAttemptAt.Equal(at) || d.Lease != 0 {
			t.Fatalf("delivery of a scheduled message: %+v, %v", d, err)
		}
		if got := b.must(t, 200, "GET", "/api/v1/app/s/msg/"+id, nil); got["deliverAt"] != at.Format(time.RFC3339) {
			t.Errorf("get: deliverAt = %v", got["deliverAt"])
		}
		list := b.list(t, "/api/v1/app/s/msg")
		if len(list.Data) != 1 || list.Data[0]["deliverAt"] != at.Format(time.RFC3339) {
			t.Errorf("list: %v", list.Data)
		}
		em := b.list(t, "/api/v1/app/s/endpoint/"+ep+"/msg")
		if len(em.Data) != 1 || em.Data[0]["deliverAt"] != at.Format(time.RFC3339) || em.Data[0]["nextAttempt"] != at.Format(time.RFC3339) {
			t.Errorf("endpoint messages: %v", em.Data)
		}

		// A time in the past means now: not scheduled.
		past := b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{},
			"deliverAt": now.Add(-time.Hour).Format(time.RFC3339)})
		if _, ok := past["deliverAt"]; ok {
			t.Errorf("a past deliverAt is shown: %v", past)
		}
		wantError(t, b.do(t, "POST", "/api/v1/app/s/msg/"+past["id"].(string)+"/cancel", nil), 409, "not_scheduled")
		// null is none.
		b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "deliverAt": nil})

		// Up to the payload's retention.
		b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{},
			"deliverAt": now.Add(89 * 24 * time.Hour).Format(time.RFC3339)})
		for _, body := range []map[string]any{
			{"deliverAt": now.Add(91 * 24 * time.Hour).Format(time.RFC3339)},
			{"deliverAt": now.Add(3 * time.Hour).Format(time.RFC3339), "payloadRetentionHours": 2},
			{"deliverAt": now.Add(6 * 24 * time.Hour).Format(time.RFC3339), "payloadRetentionPeriod": 5},
			{"deliverAt": "tomorrow"},
			{"deliverAt": 12},
		} {
			body["eventType"], body["payload"] = "a", map[string]any{}
			wantValidation(t, b.do(t, "POST", "/api/v1/app/s/msg", body), "body", "deliverAt")
		}

		// Cancel.
		canceled := b.must(t, 200, "POST", "/api/v1/app/s/msg/"+id+"/cancel", nil)
		if canceled["canceledAt"] == nil || canceled["deliverAt"] != at.Format(time.RFC3339) || canceled["id"] != id {
			t.Errorf("cancelled: %v", canceled)
		}
		if d, _ := b.store.GetDelivery(ctx, store.DeliveryKey{MsgID: id, EndpointID: ep}); d.Status != store.StatusCanceled {
			t.Errorf("cancelled delivery: %+v", d)
		}
		again := b.must(t, 200, "POST", "/api/v1/app/s/msg/"+id+"/cancel", nil)
		if again["canceledAt"] != canceled["canceledAt"] {
			t.Errorf("cancelled again: %v, then %v", canceled["canceledAt"], again["canceledAt"])
		}
		if got := b.must(t, 200, "GET", "/api/v1/app/s/msg/"+id, nil); got["canceledAt"] != canceled["canceledAt"] {
			t.Errorf("get after cancel: %v", got)
		}
		dest := b.list(t, "/api/v1/app/s/msg/"+id+"/endpoint")
		if len(dest.Data) != 1 || dest.Data[0]["status"] != float64(2) || dest.Data[0]["nextAttempt"] != nil {
			t.Errorf("destinations of a cancelled message: %v", dest.Data)
		}
		stats := b.must(t, 200, "GET", "/api/v1/app/s/endpoint/"+ep+"/stats", nil)
		if stats["canceled"] != float64(1) {
			t.Errorf("stats: %v", stats)
		}
		wantError(t, b.do(t, "POST", "/api/v1/app/s/msg/msg_missing/cancel", nil), 404, "not_found")

		// Resent, then cancelled: refused; due: refused.
		r := b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "deliverAt": at.Format(time.RFC3339)})
		b.must(t, 202, "POST", "/api/v1/app/s/msg/"+r["id"].(string)+"/endpoint/"+ep+"/resend", nil)
		wantError(t, b.do(t, "POST", "/api/v1/app/s/msg/"+r["id"].(string)+"/cancel", nil), 409, "already_attempted")
		due := b.must(t, 202, "POST", "/api/v1/app/s/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "deliverAt": at.Format(time.RFC3339)})
		b.clock.Advance(2 * time.Hour)
		wantError(t, b.do(t, "POST", "/api/v1/app/s/msg/"+due["id"].(string)+"/cancel", nil), 409, "already_due")
		// A portal token may read messages, not cancel them.
		portal := b.portalToken(t, app, nil)
		if r := b.doAs(t, portal, "POST", "/api/v1/app/s/msg/"+due["id"].(string)+"/cancel", nil); r.Status < 400 {
			t.Errorf("cancel with a portal token: %s", r)
		}
	})
}

// TestScheduledMessagesSkipTheFastPath: a scheduled message is never leased
// to the engine at creation.
func TestScheduledMessagesSkipTheFastPath(t *testing.T) {
	t.Parallel()
	d := &leaseCounter{}
	b := setup(t, func(o *api.Options) { o.Dispatcher = d })
	app := b.createApp(t, map[string]any{"name": "f", "uid": "f"})
	b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})
	b.must(t, 202, "POST", "/api/v1/app/f/msg", map[string]any{"eventType": "a", "payload": map[string]any{}})
	if d.count() != 1 {
		t.Fatalf("fast leases after a message: %d, want 1", d.count())
	}
	b.must(t, 202, "POST", "/api/v1/app/f/msg", map[string]any{"eventType": "a", "payload": map[string]any{},
		"deliverAt": b.clock.Now().Add(time.Minute).Format(time.RFC3339Nano)})
	if d.count() != 1 {
		t.Errorf("a scheduled message took a fast lease")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range d.jobs {
		if j.Lease == 0 {
			t.Errorf("dispatched an unleased job %+v", j)
		}
	}
}

// TestMessageTags: tags are stored, returned and filtered on, as the Svix
// API validates them.
func TestMessageTags(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "t", "uid": "t"})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
		red := b.must(t, 202, "POST", "/api/v1/app/t/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "tags": []string{"red", "x.y-z_1"}})
		if strings.Join(toStrings(red["tags"]), ",") != "red,x.y-z_1" {
			t.Errorf("created tags %v", red["tags"])
		}
		plain := b.must(t, 202, "POST", "/api/v1/app/t/msg", map[string]any{"eventType": "a", "payload": map[string]any{}})
		if _, ok := plain["tags"]; ok {
			t.Errorf("a message without tags shows %v", plain["tags"])
		}
		b.must(t, 202, "POST", "/api/v1/app/t/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "tags": []string{"blue"}})
		if got := b.list(t, "/api/v1/app/t/msg?tag=red").ids("id"); len(got) != 1 || got[0] != red["id"] {
			t.Errorf("messages tagged red: %v", got)
		}
		if got := b.list(t, "/api/v1/app/t/endpoint/"+ep+"/msg?tag=red").ids("id"); len(got) != 1 || got[0] != red["id"] {
			t.Errorf("endpoint messages tagged red: %v", got)
		}
		if got := b.list(t, "/api/v1/app/t/msg?tag=none"); len(got.Data) != 0 {
			t.Errorf("unknown tag: %v", got.Data)
		}
		for _, path := range []string{"/api/v1/app/t/attempt/endpoint/" + ep + "?tag=red", "/api/v1/app/t/attempt/msg/" + red["id"].(string) + "?tag=red"} {
			if r := b.do(t, "GET", path, nil); r.Status != 200 {
				t.Errorf("GET %s: %s", path, r)
			}
		}
		wantValidation(t, b.do(t, "GET", "/api/v1/app/t/msg?tag=a%20b", nil), "query", "tag")
		for _, c := range []struct {
			tags any
			loc  []string
		}{
			{[]string{}, []string{"body", "tags"}},
			{[]string{"a", "b", "c", "d", "e", "f"}, []string{"body", "tags"}},
			{[]string{"a b"}, []string{"body", "tags", "0"}},
			{[]string{"a", "a"}, []string{"body", "tags", "1"}},
			{[]string{strings.Repeat("x", 129)}, []string{"body", "tags", "0"}},
		} {
			wantValidation(t, b.do(t, "POST", "/api/v1/app/t/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "tags": c.tags}), c.loc...)
		}
	})
}

// TestOrderingOptions: the endpoint's ordering and the message's ordering
// key, Herald extensions, are validated, stored and shown.
func TestOrderingOptions(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "o", "uid": "o"})
		plain := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})
		if plain["ordering"] != "none" {
			t.Errorf("default ordering %v", plain["ordering"])
		}
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/", "uid": "ordered", "ordering": "fifo"})
		if ep["ordering"] != "fifo" {
			t.Fatalf("created: %v", ep)
		}
		path := "/api/v1/app/o/endpoint/" + ep["id"].(string)
		// A PUT without it (a Svix client) leaves it as it is.
		if got := b.must(t, 200, "PUT", path, map[string]any{"url": "https://e.com/2"}); got["ordering"] != "fifo" {
			t.Errorf("after a PUT without ordering: %v", got["ordering"])
		}
		if got := b.must(t, 200, "PATCH", path, map[string]any{"ordering": nil}); got["ordering"] != "none" {
			t.Errorf("after a PATCH to null: %v", got["ordering"])
		}
		if got := b.must(t, 200, "PATCH", path, map[string]any{"ordering": "fifo"}); got["ordering"] != "fifo" {
			t.Errorf("after a PATCH to fifo: %v", got["ordering"])
		}
		if got := b.must(t, 200, "GET", path, nil); got["ordering"] != "fifo" {
			t.Errorf("get: %v", got["ordering"])
		}
		wantValidation(t, b.do(t, "POST", "/api/v1/app/o/endpoint", map[string]any{"url": "https://e.com/", "ordering": "lifo"}), "body", "ordering")

		m := b.must(t, 202, "POST", "/api/v1/app/o/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "orderingKey": "order_42"})
		if m["orderingKey"] != "order_42" {
			t.Errorf("orderingKey %v", m["orderingKey"])
		}
		if got := b.must(t, 200, "GET", "/api/v1/app/o/msg/"+m["id"].(string), nil); got["orderingKey"] != "order_42" {
			t.Errorf("get: orderingKey %v", got["orderingKey"])
		}
		for _, key := range []any{"", "a b", strings.Repeat("k", 257), 5} {
			wantValidation(t, b.do(t, "POST", "/api/v1/app/o/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "orderingKey": key}), "body", "orderingKey")
		}
	})
}

// TestSvixGoSDKReadsHeraldExtensions: the Svix Go SDK 1.44, which decodes
// strictly, reads endpoints and messages that use Herald's extensions
// (they are left out for it).
func TestSvixGoSDKReadsHeraldExtensions(t *testing.T) {
	t.Parallel()
	base, token := startServer(t)
	ctx := context.Background()
	raw := func(method, path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base.String()+path, strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	raw("POST", "/api/v1/app", map[string]any{"name": "x", "uid": "x"})
	ep := raw("POST", "/api/v1/app/x/endpoint", map[string]any{"url": "https://example.com/", "ordering": "fifo"})["id"].(string)
	msg := raw("POST", "/api/v1/app/x/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "tags": []string{"t"},
		"orderingKey": "k", "deliverAt": time.Now().Add(time.Hour).Format(time.RFC3339)})["id"].(string)
	raw("POST", "/api/v1/app/x/msg/"+msg+"/cancel", nil)

	client := svix.New(token, &svix.SvixOptions{ServerUrl: base})
	if _, err := client.Endpoint.Get(ctx, "x", ep); err != nil {
		t.Errorf("Endpoint.Get: %v", err)
	}
	if m, err := client.Message.Get(ctx, "x", msg); err != nil || len(m.Tags) != 1 {
		t.Errorf("Message.Get: %+v, %v", m, err)
	}
	if _, err := client.Message.List(ctx, "x", nil); err != nil {
		t.Errorf("Message.List: %v", err)
	}
	if _, err := client.MessageAttempt.ListAttemptedMessages(ctx, "x", ep, nil); err != nil {
		t.Errorf("MessageAttempt.ListAttemptedMessages: %v", err)
	}
	if _, err := client.MessageAttempt.ListAttemptedDestinations(ctx, "x", msg, nil); err != nil {
		t.Errorf("MessageAttempt.ListAttemptedDestinations: %v", err)
	}
}

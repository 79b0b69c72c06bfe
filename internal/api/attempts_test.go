package api_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// attempt plays the delivery engine: it claims every due delivery and
// records one attempt for each with the given HTTP status (0: no response),
// failing for good unless the status is 2xx.
func (b *bundle) attempt(t testing.TB, status int, response string) []*store.Attempt {
	t.Helper()
	ctx := context.Background()
	now := store.Truncate(b.clock.Now())
	lease := rand.Int64N(1<<62) + 1
	var jobs []*store.Job
	for _, retries := range []bool{false, true} {
		js, err := b.store.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: lease, Limit: 100, Retries: retries})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, js...)
	}
	var (
		cs  []store.Completion
		out []*store.Attempt
	)
	for _, j := range jobs {
		st := store.StatusFail
		if status >= 200 && status < 300 {
			st = store.StatusSuccess
		}
		trigger := store.TriggerScheduled
		if j.Manual {
			trigger = store.TriggerManual
		}
		a := &store.Attempt{ID: ids.NewAt(ids.Attempt, now), AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID,
			URL: "https://e.com/", Status: st, StatusCode: status, Response: response, DurationMs: 12,
			TriggerType: trigger, EventType: j.EventType, CreatedAt: now}
		out = append(out, a)
		cs = append(cs, store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: lease, Attempt: a, Status: st})
	}
	if err := b.store.CompleteDeliveries(ctx, cs); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	var kicks atomic.Int32
	b := setup(t, func(o *api.Options) { o.KickTasks = func() { kicks.Add(1) } })
	app := b.createApp(t, map[string]any{"name": "a"})
	ep1 := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/1", "uid": "one"})["id"].(string)
	ep2 := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/2", "channels": []string{"eu"}})["id"].(string)
	m1 := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "x", "eventId": "e1", "payload": map[string]any{"a": 1}})["id"].(string)
	m2 := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "y", "channels": []string{"eu"}, "payload": map[string]any{}})["id"].(string)

	// Before any attempt: nothing listed, the deliveries pending.
	if env := b.list(t, "/api/v1/app/"+app+"/attempt/msg/"+m1); len(env.Data) != 0 {
		t.Errorf("attempts before delivery: %v", env.Data)
	}
	env := b.list(t, "/api/v1/app/"+app+"/endpoint/"+ep1+"/msg")
	if len(env.Data) != 2 || env.Data[0]["id"] != m2 || env.Data[0]["status"] != 1.0 || env.Data[0]["statusText"] != "pending" {
		t.Errorf("endpoint messages before delivery: %v", env.Data)
	}

	b.attempt(t, 500, "oops")
	b.clock.Advance(time.Second)
	// m1 went to ep1 only, m2 to both.
	env = b.list(t, "/api/v1/app/"+app+"/attempt/msg/e1")
	if len(env.Data) != 1 {
		t.Fatalf("attempts of m1: %v", env.Data)
	}
	at := env.Data[0]
	for k, want := range map[string]any{"msgId": m1, "endpointId": ep1, "responseStatusCode": 500.0, "response": "oops",
		"status": 2.0, "statusText": "fail", "triggerType": 0.0, "responseDurationMs": 12.0, "url": "https://e.com/"} {
		if at[k] != want {
			t.Errorf("attempt %s = %v, want %v", k, at[k], want)
		}
	}
	attemptID := at["id"].(string)
	if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+m1+"/attempt/"+attemptID, nil); got["id"] != attemptID || got["response"] != "oops" {
		t.Errorf("get attempt = %v", got)
	}
	wantError(t, b.do(t, "GET", "/api/v1/app/"+app+"/msg/"+m2+"/attempt/"+attemptID, nil), 404, "not_found")
	if env := b.list(t, "/api/v1/app/"+app+"/attempt/msg/"+m2+"?endpoint_id=one"); len(env.Data) != 1 || env.Data[0]["endpointId"] != ep1 {
		t.Errorf("attempts of m2 to ep1: %v", env.Data)
	}
	wantError(t, b.do(t, "GET", "/api/v1/app/"+app+"/attempt/msg/"+m2+"?endpoint_id=nope", nil), 404, "not_found")
	if env := b.list(t, "/api/v1/app/"+app+"/attempt/endpoint/"+ep2); len(env.Data) != 1 || env.Data[0]["msgId"] != m2 {
		t.Errorf("attempts to ep2: %v", env.Data)
	}

	// Resend m1 to ep1: one manual attempt that succeeds.
	if r := b.do(t, "POST", "/api/v1/app/"+app+"/msg/"+m1+"/endpoint/"+ep1+"/resend", nil); r.Status != 202 || string(r.Body) != "{}\n" {
		t.Errorf("resend: %s", r)
	}
	if d, err := b.store.GetDelivery(context.Background(), store.DeliveryKey{MsgID: m1, EndpointID: ep1}); err != nil || d.Status != store.StatusPending || !d.Manual {
		t.Errorf("delivery after resend = %+v, %v", d, err)
	}
	b.attempt(t, 204, "")
	b.clock.Advance(time.Second)

	env = b.list(t, "/api/v1/app/"+app+"/attempt/endpoint/"+ep1)
	if len(env.Data) != 3 || env.Data[0]["status"] != 0.0 || env.Data[0]["triggerType"] != 1.0 {
		t.Errorf("attempts to ep1 (newest first): %v", env.Data)
	}
	for q, want := range map[string]int{
		"status=0": 1, "status=2": 2, "status_code_class=500": 2, "status_code_class=200": 1, "status_code_class=400": 0,
		"event_types=x": 2, "event_types=y": 1, "channel=eu": 1, "limit=1": 1,
	} {
		if env := b.list(t, "/api/v1/app/"+app+"/attempt/endpoint/"+ep1+"?"+q); len(env.Data) != want {
			t.Errorf("attempts to ep1 ?%s: %d, want %d", q, len(env.Data), want)
		}
	}
	env = b.list(t, "/api/v1/app/"+app+"/attempt/endpoint/"+ep1+"?with_content=false")
	for _, a := range env.Data {
		if a["response"] != "{}" {
			t.Errorf("with_content=false: response %v", a["response"])
		}
	}

	// Destinations and endpoint messages show the delivery state.
	env = b.list(t, "/api/v1/app/"+app+"/msg/"+m2+"/endpoint")
	if got := env.ids("id"); !slices.Equal(got, []string{ep1, ep2}) {
		t.Errorf("destinations of m2 = %v", got)
	}
	for _, d := range env.Data {
		if d["status"] != 2.0 || d["statusText"] != "fail" {
			t.Errorf("destination %v", d)
		}
	}
	env = b.list(t, "/api/v1/app/"+app+"/endpoint/"+ep1+"/msg")
	if got := env.ids("id"); !slices.Equal(got, []string{m2, m1}) || env.Data[1]["status"] != 0.0 {
		t.Errorf("endpoint messages = %v", env.Data)
	}
	if env := b.list(t, "/api/v1/app/"+app+"/endpoint/"+ep1+"/msg?status=0"); !slices.Equal(env.ids("id"), []string{m1}) {
		t.Errorf("endpoint messages ?status=0 = %v", env.ids("id"))
	}
	stats := b.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep1+"/stats", nil)
	if stats["success"] != 1.0 || stats["fail"] != 1.0 || stats["pending"] != 0.0 {
		t.Errorf("stats = %v", stats)
	}

	// Expunging an attempt's response.
	b.must(t, 204, "DELETE", "/api/v1/app/"+app+"/msg/"+m1+"/attempt/"+attemptID+"/content", nil)
	if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+m1+"/attempt/"+attemptID, nil); got["response"] == "oops" {
		t.Errorf("response after expunge = %v", got["response"])
	}

	// Recover: a background task.
	rec := b.must(t, 202, "POST", "/api/v1/app/"+app+"/endpoint/"+ep2+"/recover", map[string]any{"since": b.clock.Now().Add(-time.Hour)})
	if rec["status"] != "running" || rec["task"] != "endpoint.recover" || kicks.Load() != 1 {
		t.Errorf("recover = %v (kicks %d)", rec, kicks.Load())
	}
	wantValidation(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint/"+ep2+"/recover", map[string]any{}), "body", "since")
	wantValidation(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint/"+ep2+"/recover",
		map[string]any{"since": b.clock.Now(), "until": b.clock.Now().Add(-time.Hour)}), "body", "until")

	// Expunging a message's payload: resend is refused afterwards.
	b.must(t, 204, "DELETE", "/api/v1/app/"+app+"/msg/"+m1+"/content", nil)
	if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+m1, nil); got["payload"].(map[string]any)["expired"] != true {
		t.Errorf("payload after expunge = %v", got["payload"])
	}
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/msg/"+m1+"/endpoint/"+ep1+"/resend", nil), 400, "missing_payload")
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/msg/"+m2+"/endpoint/nope/resend", nil), 404, "not_found")

	// A portal token reaches attempts of its app but cannot expunge.
	tok := b.portalToken(t, app, nil)
	if r := b.doAs(t, tok, "GET", "/api/v1/app/"+app+"/attempt/endpoint/"+ep1, nil); r.Status != 200 {
		t.Errorf("portal attempts: %s", r)
	}
	wantError(t, b.doAs(t, tok, "DELETE", "/api/v1/app/"+app+"/msg/"+m2+"/content", nil), 404, "not_found")
}

func TestSendExample(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "ex"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	other := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/other"})["id"].(string)
	b.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "with.example", "description": "d",
		"schemas": map[string]any{"1": map[string]any{"examples": []any{map[string]any{"v": 1}}}, "2": map[string]any{"examples": []any{map[string]any{"v": 2}}}}})
	b.createEventType(t, "no.example")

	ping := b.must(t, http.StatusOK, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/send-example", map[string]any{"eventType": "svix.ping"})
	if ping["eventType"] != "svix.ping" || ping["payload"].(map[string]any)["success"] != true {
		t.Errorf("ping = %v", ping)
	}
	// Only the endpoint asked for gets it.
	if _, err := b.store.GetDelivery(context.Background(), store.DeliveryKey{MsgID: ping["id"].(string), EndpointID: other}); err == nil {
		t.Error("the example went to another endpoint")
	}
	ex := b.must(t, http.StatusOK, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/send-example", map[string]any{"eventType": "with.example"})
	if ex["payload"].(map[string]any)["v"] != 2.0 {
		t.Errorf("example payload = %v", ex["payload"])
	}
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/send-example", map[string]any{"eventType": "no.example"}), 400, "invalid_scheme")
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/send-example", map[string]any{"eventType": "missing"}), 404, "not_found")
}

// TestAttemptErrorDetailForOperatorOnly checks that the detail of a
// transport error (addresses, names, the resolver) recorded for an attempt
// without a status code is served to admin tokens only: portal tokens, the
// endpoint's owner, get the plain reason, in every view of an attempt.
func TestAttemptErrorDetailForOperatorOnly(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, b *bundle) {
		app := b.createApp(t, map[string]any{"name": "detail"})
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
		tok := b.portalToken(t, app, nil)
		cases := []struct {
			code           int
			recorded, want string
		}{
			{0, "could not connect to the endpoint: dial tcp: destination localhost (127.0.0.1) is a loopback address",
				"could not connect to the endpoint"},
			{0, "the endpoint's host name could not be resolved: lookup hook.internal on 10.0.0.53:53: no such host",
				"the endpoint's host name could not be resolved"},
			{0, "the endpoint's address is not allowed: destination 169.254.169.254 is link-local", "the endpoint's address is not allowed"},
			// Recorded before reasons were: nothing of it is shown.
			{0, "dial tcp 10.1.2.3:443: connect: connection refused", "the request failed"},
			// The receiver's own answer is the owner's to see.
			{502, "bad gateway from 10.0.0.7", "bad gateway from 10.0.0.7"},
		}
		byID := map[string]int{}
		var msgs []string
		for i, c := range cases {
			msg := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}})["id"].(string)
			msgs = append(msgs, msg)
			for _, at := range b.attempt(t, c.code, c.recorded) {
				byID[at.ID] = i
			}
		}
		check := func(who, token, view string, data []map[string]any) {
			t.Helper()
			if len(data) == 0 {
				t.Errorf("%s, %s: no attempts", who, view)
			}
			for _, a := range data {
				i, ok := byID[a["id"].(string)]
				if !ok {
					t.Fatalf("%s, %s: unknown attempt %v", who, view, a)
				}
				want := cases[i].want
				if token == b.token {
					want = cases[i].recorded
				}
				if a["response"] != want {
					t.Errorf("%s, %s: response %q, want %q", who, view, a["response"], want)
				}
			}
		}
		for who, token := range map[string]string{"admin": b.token, "portal": tok} {
			get := func(path string) map[string]any {
				r := b.doAs(t, token, "GET", path, nil)
				if r.Status != 200 {
					t.Fatalf("%s GET %s: %s", who, path, r)
				}
				return r.object(t)
			}
			list := func(path string) []map[string]any {
				var out []map[string]any
				for _, a := range get(path)["data"].([]any) {
					out = append(out, a.(map[string]any))
				}
				return out
			}
			check(who, token, "by endpoint", list("/api/v1/app/"+app+"/attempt/endpoint/"+ep))
			for _, m := range msgs {
				byMsg := list("/api/v1/app/" + app + "/attempt/msg/" + m)
				check(who, token, "by message", byMsg)
				check(who, token, "one", []map[string]any{get("/api/v1/app/" + app + "/msg/" + m + "/attempt/" + byMsg[0]["id"].(string))})
			}
			// The other views of a message carry no attempt text.
			for _, path := range []string{"/api/v1/app/" + app + "/msg/" + msgs[0] + "/endpoint", "/api/v1/app/" + app + "/endpoint/" + ep + "/msg"} {
				if r := b.doAs(t, token, "GET", path, nil); strings.Contains(string(r.Body), "127.0.0.1") || strings.Contains(string(r.Body), "10.0.0.53") {
					t.Errorf("%s GET %s shows an address: %s", who, path, r.Body)
				}
			}
		}
	})
}

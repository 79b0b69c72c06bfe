package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// opEvent is an operational webhook as received.
type opEvent struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// opReceiver collects operational webhooks (verified by the receiver's
// secret check) by type.
type opReceiver struct {
	*receiver
	mu     sync.Mutex
	events []opEvent
}

func newOpReceiver(t *testing.T) *opReceiver {
	o := &opReceiver{receiver: newReceiver(t)}
	o.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		o.receiver.mu.Lock()
		body := o.got[n-1].Body // this request's: others may have come since
		o.receiver.mu.Unlock()
		var ev opEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("operational webhook is not JSON: %s", body)
		}
		o.mu.Lock()
		o.events = append(o.events, ev)
		o.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
	return o
}

// wait returns the data of the first event of type typ whose data holds
// all of has, waiting for it.
func (o *opReceiver) wait(t *testing.T, typ string, has ...string) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, "operational event "+typ+" "+strings.Join(has, " "), func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, ev := range o.events {
			if ev.Type != typ || ev.Timestamp.IsZero() {
				continue
			}
			ok := true
			for _, h := range has {
				ok = ok && bytes.Contains(ev.Data, []byte(h))
			}
			if ok {
				_ = json.Unmarshal(ev.Data, &found)
				return true
			}
		}
		return false
	})
	return found
}

// TestOperationalWebhooks: every operational event arrives, signed with the
// operational endpoint's secret, on both drivers.
func TestOperationalWebhooks(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			var database string
			if driver == "postgres" {
				database = pgtest.Schema(t)
			}
			h := start(t, func(c *config.Config) {
				if database != "" {
					c.Database = database
				}
				c.RetrySchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
			})
			testOperationalWebhooks(t, h)
		})
	}
}

func testOperationalWebhooks(t *testing.T, h *harness) {
	ops := newOpReceiver(t)
	var opEP idOut
	h.do("POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": ops.srv.URL}, 201, &opEP)
	var sec struct {
		Key string `json:"key"`
	}
	h.do("GET", "/api/v1/operational-webhook/endpoint/"+opEP.ID+"/secret", nil, 200, &sec)
	ops.receiver.mu.Lock()
	ops.secret = sec.Key // every event is verified with it
	ops.receiver.mu.Unlock()

	var app struct {
		ID string `json:"id"`
	}
	h.do("POST", "/api/v1/app", map[string]any{"name": "tenant", "uid": "tenant-1"}, 201, &app)

	// endpoint.created, .updated, .disabled (manual), .enabled, .deleted
	rc := newReceiver(t)
	ep, _ := h.endpoint(app.ID, map[string]any{"url": rc.srv.URL, "uid": "ep-1"})
	d := ops.wait(t, "endpoint.created", ep)
	if d["appId"] != app.ID || d["appUid"] != "tenant-1" || d["endpointUid"] != "ep-1" {
		t.Errorf("endpoint.created data %v", d)
	}
	h.do("PATCH", "/api/v1/app/"+app.ID+"/endpoint/"+ep, map[string]any{"description": "x"}, 200, nil)
	ops.wait(t, "endpoint.updated", ep)
	h.do("PATCH", "/api/v1/app/"+app.ID+"/endpoint/"+ep, map[string]any{"disabled": true}, 200, nil)
	d = ops.wait(t, "endpoint.disabled", ep, `"trigger":"manual"`)
	if d["failSince"] == nil {
		t.Errorf("endpoint.disabled without failSince: %v", d)
	}
	h.do("PATCH", "/api/v1/app/"+app.ID+"/endpoint/"+ep, map[string]any{"disabled": false}, 200, nil)
	ops.wait(t, "endpoint.enabled", ep)

	// message.attempt.failing (the fourth failure) and .exhausted (the
	// last), with the message's eventId.
	failing := newReceiver(t)
	failing.respond = func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }
	failEP, _ := h.endpoint(app.ID, map[string]any{"url": failing.srv.URL, "channels": []string{"fail"}})
	msg := h.send(app.ID, "a.b", `{}`, map[string]any{"channels": []string{"fail"}, "eventId": "evt-77"})
	d = ops.wait(t, "message.attempt.failing", msg)
	if d["endpointId"] != failEP || d["msgEventId"] != "evt-77" || d["lastAttempt"] == nil {
		t.Errorf("message.attempt.failing data %v", d)
	}
	d = ops.wait(t, "message.attempt.exhausted", msg)
	if last, _ := d["lastAttempt"].(map[string]any); last == nil || last["responseStatusCode"] != float64(500) {
		t.Errorf("message.attempt.exhausted data %v", d)
	}

	// message.attempt.recovered: a success after failures.
	flaky := newReceiver(t)
	flaky.respond = func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}
	h.endpoint(app.ID, map[string]any{"url": flaky.srv.URL, "channels": []string{"flaky"}})
	msg = h.send(app.ID, "a.b", `{}`, map[string]any{"channels": []string{"flaky"}})
	ops.wait(t, "message.attempt.recovered", msg)

	// endpoint.disabled (automatic): it answered 410 Gone.
	gone := newReceiver(t)
	gone.respond = func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }
	goneEP, _ := h.endpoint(app.ID, map[string]any{"url": gone.srv.URL, "channels": []string{"gone"}})
	h.send(app.ID, "a.b", `{}`, map[string]any{"channels": []string{"gone"}})
	ops.wait(t, "endpoint.disabled", goneEP, `"trigger":"automatic"`)

	// background_task.finished: an endpoint recovery.
	var task struct {
		ID string `json:"id"`
	}
	h.do("POST", "/api/v1/app/"+app.ID+"/endpoint/"+failEP+"/recover",
		map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)}, 202, &task)
	d = ops.wait(t, "background_task.finished", task.ID)
	if d["status"] != "finished" || d["task"] != "endpoint.recover" {
		t.Errorf("background_task.finished data %v", d)
	}

	h.do("DELETE", "/api/v1/app/"+app.ID+"/endpoint/"+ep, nil, 204, nil)
	ops.wait(t, "endpoint.deleted", ep)

	// Filters: an operational endpoint that takes one type gets that one.
	only := newOpReceiver(t)
	h.do("POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": only.srv.URL, "filterTypes": []string{"endpoint.deleted"}}, 201, nil)
	ep2, _ := h.endpoint(app.ID, map[string]any{"url": rc.srv.URL})
	h.do("DELETE", "/api/v1/app/"+app.ID+"/endpoint/"+ep2, nil, 204, nil)
	only.wait(t, "endpoint.deleted", ep2)
	only.mu.Lock()
	for _, ev := range only.events {
		if ev.Type != "endpoint.deleted" {
			t.Errorf("an endpoint filtering on endpoint.deleted got %s", ev.Type)
		}
	}
	only.mu.Unlock()
	if n := ops.bad.Load() + only.bad.Load(); n != 0 {
		t.Errorf("%d operational webhooks failed signature verification", n)
	}
}

// At the default log level, failing deliveries show up, summed up per
// endpoint (the engine writes its last summary when it stops).
func TestFailuresInTheDefaultLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h := startLogging(t, slog.New(slog.NewTextHandler(&logs, nil)), func(c *config.Config) { c.RetrySchedule = nil; c.BreakerFailures = 0 })
	app := h.app()
	failing := newReceiver(t)
	failing.respond = func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }
	ep, _ := h.endpoint(app, map[string]any{"url": failing.srv.URL})
	for range 20 {
		h.send(app, "a.b", `{}`, nil)
	}
	eventually(t, "20 failed attempts", func() bool { return len(h.attempts(app, ep)) == 20 })
	h.stop()
	out := logs.String()
	if n := strings.Count(out, `msg="delivery failures"`); n != 1 {
		t.Errorf("%d summary lines for 20 failures of one endpoint, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "endpoint_id="+ep) || !strings.Contains(out, "failures=20") || !strings.Contains(out, `kinds="5xx=20"`) {
		t.Errorf("the summary does not say what failed:\n%s", out)
	}
}

// A storm in a tenant's application (endpoints that all hang and hold its
// whole share of the delivery slots) does not starve the operational
// webhooks: they have their own share.
func TestOperationalWebhooksIsolatedFromTenants(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) {
		c.EndpointConcurrency = 2
		c.MaxInFlight = 8
		c.AppConcurrency = 4
		c.RequestTimeout = 30 * time.Second
		c.RetrySchedule = nil
		c.BreakerFailures = 0
	})
	ops := newOpReceiver(t)
	h.do("POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": ops.srv.URL}, 201, nil)

	tenant := h.app()
	release := make(chan struct{})
	var hanging []*receiver
	for range 6 {
		rc := newReceiver(t)
		rc.respond = func(int, http.ResponseWriter, *http.Request) { <-release }
		hanging = append(hanging, rc)
		h.endpoint(tenant, map[string]any{"url": rc.srv.URL, "channels": []string{"hang"}})
	}
	t.Cleanup(func() { close(release) }) // before the receivers close
	for range 30 {
		h.send(tenant, "a.b", `{}`, map[string]any{"channels": []string{"hang"}})
	}
	held := func() (n int) {
		for _, rc := range hanging {
			n += rc.count()
		}
		return n
	}
	eventually(t, "the tenant holding its whole share", func() bool { return held() == 4 })

	// While the tenant's share is full, its changes are still reported at
	// once: the operational application has a share of its own.
	rc := newReceiver(t)
	ep, _ := h.endpoint(tenant, map[string]any{"url": rc.srv.URL})
	ops.wait(t, "endpoint.created", ep)
	h.do("PATCH", "/api/v1/app/"+tenant+"/endpoint/"+ep, map[string]any{"disabled": true}, 200, nil)
	ops.wait(t, "endpoint.disabled", ep)
	if n := held(); n != 4 {
		t.Errorf("the tenant holds %d slots, want its share of 4", n)
	}
}

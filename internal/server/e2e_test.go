package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/webhook"
)

const adminToken = "test-admin-token"

// clock is a controllable clock: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type harness struct {
	t        *testing.T
	base     string
	clock    *clock
	srv      *server.Server
	stopOnce sync.Once
}

// start runs a real Herald server on loopback with a temporary SQLite file.
func start(t *testing.T, mod func(*config.Config)) *harness {
	t.Helper()
	return startLogging(t, testLogger(t), mod)
}

// startLogging is start with the server's logs going to log.
func startLogging(t *testing.T, log *slog.Logger, mod func(*config.Config)) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = filepath.Join(t.TempDir(), "herald.db")
	cfg.AdminToken = adminToken
	cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.RetrySchedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	cfg.RetryJitter = 0
	cfg.RequestTimeout = 2 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	c := &clock{}
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, server.Options{Stderr: io.Discard, Now: c.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, base: "http://" + srv.Addr(), clock: c, srv: srv}
	t.Cleanup(h.stop)
	return h
}

// stop shuts the server down (once).
func (h *harness) stop() {
	h.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			h.t.Errorf("shutdown: %v", err)
		}
	})
}

// do sends a request and decodes a JSON answer into out (when not nil),
// failing the test unless the status is want.
func (h *harness) do(method, path string, body any, want int, out any) {
	h.t.Helper()
	var r io.Reader
	if raw, ok := body.(rawJSON); ok {
		r = strings.NewReader(string(raw))
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type idOut struct {
	ID string `json:"id"`
}

func (h *harness) app() string {
	var app idOut
	h.do("POST", "/api/v1/app", map[string]any{"name": "test"}, 201, &app)
	return app.ID
}

func (h *harness) eventType(name string) {
	h.do("POST", "/api/v1/event-type", map[string]any{"name": name, "description": name}, 201, nil)
}

// endpoint registers url and returns its id and secret.
func (h *harness) endpoint(app string, body map[string]any) (string, string) {
	var ep idOut
	h.do("POST", "/api/v1/app/"+app+"/endpoint", body, 201, &ep)
	var sec struct {
		Key string `json:"key"`
	}
	h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep.ID+"/secret", nil, 200, &sec)
	return ep.ID, sec.Key
}

// send creates a message; the payload goes into the request as written
// (json.Marshal would compact it).
func (h *harness) send(app, eventType string, payload string, extra map[string]any) string {
	fields := map[string]any{"eventType": eventType}
	for k, v := range extra {
		fields[k] = v
	}
	b, err := json.Marshal(fields)
	if err != nil {
		h.t.Fatal(err)
	}
	body := rawJSON(string(b[:len(b)-1]) + `,"payload":` + payload + "}")
	var msg idOut
	h.do("POST", "/api/v1/app/"+app+"/msg", body, 202, &msg)
	return msg.ID
}

// rawJSON is a request body sent as is.
type rawJSON string

type attempt struct {
	ID                 string    `json:"id"`
	MsgID              string    `json:"msgId"`
	EndpointID         string    `json:"endpointId"`
	Status             int       `json:"status"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	ResponseDurationMs int64     `json:"responseDurationMs"`
	Response           string    `json:"response"`
	TriggerType        int       `json:"triggerType"`
	Timestamp          time.Time `json:"timestamp"`
}

func (h *harness) attempts(app, ep string) []attempt {
	var list struct {
		Data []attempt `json:"data"`
	}
	h.do("GET", "/api/v1/app/"+app+"/attempt/endpoint/"+ep+"?limit=250", nil, 200, &list)
	return list.Data
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivery is one request a receiver got.
type delivery struct {
	ID, Timestamp, Signature string
	Header                   http.Header
	Body                     []byte
}

// receiver is a webhook receiver on loopback that verifies every request
// with the project's webhook package and the Svix SDK, then answers with
// respond (200 when nil).
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivery
	secret  string
	respond func(n int, w http.ResponseWriter, r *http.Request)
	bad     atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	secret := rc.secret
	rc.got = append(rc.got, delivery{
		ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Header: r.Header.Clone(), Body: body,
	})
	n := len(rc.got)
	respond := rc.respond
	rc.mu.Unlock()
	if secret != "" {
		s, err := webhook.ParseSecret(secret)
		if err == nil {
			err = webhook.NewVerifier(s).Verify(r.Header, body)
		}
		if err != nil {
			rc.bad.Add(1)
			rc.t.Errorf("webhook package rejected delivery %s: %v", r.Header.Get("webhook-id"), err)
		}
		if strings.HasPrefix(secret, "whsec_") {
			wh, err := svix.NewWebhook(secret)
			if err == nil {
				err = wh.Verify(body, r.Header)
			}
			if err != nil {
				rc.bad.Add(1)
				rc.t.Errorf("Svix SDK rejected delivery %s: %v", r.Header.Get("webhook-id"), err)
			}
		}
	}
	if respond != nil {
		respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func testLogger(t *testing.T) *slogLogger { return newTestLogger(t) }

func TestDeliverySignedAndRouted(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	h.eventType("invoice.paid")
	h.eventType("user.created")

	all := newReceiver(t)
	invoices := newReceiver(t)
	channel := newReceiver(t)
	allID, allSecret := h.endpoint(app, map[string]any{"url": all.srv.URL + "/all"})
	_, invSecret := h.endpoint(app, map[string]any{"url": invoices.srv.URL, "eventTypes": []string{"invoice.paid"}})
	_, chSecret := h.endpoint(app, map[string]any{"url": channel.srv.URL, "channels": []string{"eu"}})
	all.secret, invoices.secret, channel.secret = allSecret, invSecret, chSecret
	h.do("PUT", "/api/v1/app/"+app+"/endpoint/"+allID+"/headers",
		map[string]any{"headers": map[string]string{"X-Custom": "yes"}}, 204, nil)

	payload := `{"amount": 42,  "currency":"EUR", "nested": {"a": [1, 2]}}`
	m1 := h.send(app, "invoice.paid", payload, nil)
	m2 := h.send(app, "user.created", `{"user":"u1"}`, map[string]any{"channels": []string{"eu"}})
	m3 := h.send(app, "user.created", `{"user":"u2"}`, map[string]any{"channels": []string{"us"}})

	eventually(t, "all deliveries", func() bool {
		return all.count() == 3 && invoices.count() == 1 && channel.count() == 1
	})
	ids := map[string]bool{}
	for _, d := range all.deliveries() {
		ids[d.ID] = true
		if d.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content-type = %q", d.Header.Get("Content-Type"))
		}
		if ua := d.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Herald/") {
			t.Errorf("user-agent = %q", ua)
		}
		if d.Header.Get("X-Custom") != "yes" {
			t.Errorf("custom header missing: %v", d.Header)
		}
		if d.Header.Get("svix-id") != "" {
			t.Errorf("svix-id sent without --svix-headers")
		}
		if d.ID == m1 && string(d.Body) != payload {
			t.Errorf("body = %q, want the payload byte for byte %q", d.Body, payload)
		}
	}
	for _, m := range []string{m1, m2, m3} {
		if !ids[m] {
			t.Errorf("message %s not delivered to the catch-all endpoint (got %v)", m, ids)
		}
	}
	if got := invoices.deliveries()[0].ID; got != m1 {
		t.Errorf("invoice endpoint got %s, want %s", got, m1)
	}
	if got := channel.deliveries()[0].ID; got != m2 {
		t.Errorf("channel endpoint got %s, want %s", got, m2)
	}
	// Every attempt is recorded as a success.
	eventually(t, "attempts recorded", func() bool { return len(h.attempts(app, allID)) == 3 })
	for _, a := range h.attempts(app, allID) {
		if a.Status != 0 || a.ResponseStatusCode != 200 || a.TriggerType != 0 {
			t.Errorf("attempt %+v, want a scheduled success", a)
		}
	}
}

func TestSvixHeadersAndEd25519(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.SvixHeaders = true })
	app := h.app()
	rc := newReceiver(t)
	priv, pub, err := webhook.NewEd25519Secret()
	if err != nil {
		t.Fatal(err)
	}
	_, shown := h.endpoint(app, map[string]any{"url": rc.srv.URL, "secret": priv})
	if shown != pub {
		t.Fatalf("secret shown = %q, want the public key %q", shown, pub)
	}
	rc.secret = pub
	m := h.send(app, "a.b", `{"x":1}`, nil)
	eventually(t, "delivery", func() bool { return rc.count() == 1 })
	d := rc.deliveries()[0]
	if d.ID != m || d.Header.Get("svix-id") != m || d.Header.Get("svix-signature") != d.Signature {
		t.Errorf("svix-* headers do not mirror webhook-*: %v", d.Header)
	}
	if !strings.HasPrefix(d.Signature, "v1a,") {
		t.Errorf("signature = %q, want v1a", d.Signature)
	}
}

func TestRetriesThenSuccessWithSameID(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "down")
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	ep, secret := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	rc.secret = secret
	m := h.send(app, "a.b", `{"x":1}`, nil)
	eventually(t, "three attempts", func() bool { return len(h.attempts(app, ep)) == 3 })
	for _, d := range rc.deliveries() {
		if d.ID != m {
			t.Errorf("webhook-id = %s on a retry, want %s", d.ID, m)
		}
	}
	as := h.attempts(app, ep) // newest first
	if as[0].Status != 0 || as[1].Status != 2 || as[2].Status != 2 {
		t.Errorf("attempt statuses %d %d %d, want success after two failures", as[0].Status, as[1].Status, as[2].Status)
	}
	if as[1].Response != "down" || as[1].ResponseStatusCode != 500 {
		t.Errorf("failed attempt = %+v", as[1])
	}
	// The schedule (50ms, 50ms) is respected.
	if gap := as[1].Timestamp.Sub(as[2].Timestamp); gap < 50*time.Millisecond {
		t.Errorf("retry after %s, want at least 50ms", gap)
	}
}

func TestExhaustedRetriesFail(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	m := h.send(app, "a.b", `{}`, nil)
	var dest struct {
		Data []struct {
			Status int `json:"status"`
		} `json:"data"`
	}
	eventually(t, "final failure", func() bool {
		h.do("GET", "/api/v1/app/"+app+"/msg/"+m+"/endpoint", nil, 200, &dest)
		return len(dest.Data) == 1 && dest.Data[0].Status == 2
	})
	// 1 attempt + 2 retries, then no more.
	if n := len(h.attempts(app, ep)); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	var stats map[string]int
	h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/stats", nil, 200, &stats)
	if stats["fail"] != 1 {
		t.Errorf("stats = %v, want one failed message", stats)
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	h.send(app, "a.b", `{}`, nil)
	var out struct {
		Disabled bool `json:"disabled"`
	}
	eventually(t, "endpoint disabled", func() bool {
		h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil, 200, &out)
		return out.Disabled
	})
	if n := len(h.attempts(app, ep)); n != 1 {
		t.Errorf("%d attempts after 410, want 1 (no retries)", n)
	}
	// Messages sent while disabled are recorded but not attempted ...
	m := h.send(app, "a.b", `{"later":true}`, nil)
	// ... and recovered once the endpoint is enabled again.
	rc.mu.Lock()
	rc.respond = nil
	rc.mu.Unlock()
	h.do("PATCH", "/api/v1/app/"+app+"/endpoint/"+ep, map[string]any{"disabled": false}, 200, nil)
	if rc.count() != 1 {
		t.Fatalf("a disabled endpoint received %d requests", rc.count())
	}
	h.do("POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/recover",
		map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)}, 202, nil)
	eventually(t, "recovered delivery", func() bool {
		for _, d := range rc.deliveries() {
			if d.ID == m {
				return true
			}
		}
		return false
	})
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "second attempt", func() bool { return len(h.attempts(app, ep)) == 2 })
	as := h.attempts(app, ep)
	if gap := as[0].Timestamp.Sub(as[1].Timestamp); gap < 2*time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 2, want at least 2s", gap)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	target := newReceiver(t)
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL, http.StatusFound)
	}
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "attempt", func() bool { return len(h.attempts(app, ep)) >= 1 })
	a := h.attempts(app, ep)[0]
	if a.ResponseStatusCode != 302 || a.Status != 2 {
		t.Errorf("attempt = %+v, want a failed 302", a)
	}
	if target.count() != 0 {
		t.Errorf("the redirect target was hit %d times", target.count())
	}
}

func TestTimeoutRecordedAndBacksOff(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.RequestTimeout = time.Second })
	app := h.app()
	release := make(chan struct{})
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) { <-release }
	t.Cleanup(func() { close(release) }) // before the receiver closes
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	m := h.send(app, "a.b", `{}`, nil)
	eventually(t, "timed-out attempt", func() bool { return len(h.attempts(app, ep)) == 1 })
	a := h.attempts(app, ep)[0]
	if a.ResponseStatusCode != 0 || a.Status != 2 || !strings.Contains(a.Response, "no response") {
		t.Errorf("attempt = %+v, want a timeout with no status code", a)
	}
	var dest struct {
		Data []struct {
			NextAttempt *time.Time `json:"nextAttempt"`
		} `json:"data"`
	}
	h.do("GET", "/api/v1/app/"+app+"/msg/"+m+"/endpoint", nil, 200, &dest)
	if len(dest.Data) != 1 || dest.Data[0].NextAttempt == nil {
		t.Fatalf("no next attempt scheduled: %+v", dest)
	}
	if wait := dest.Data[0].NextAttempt.Sub(a.Timestamp); wait < 59*time.Second {
		t.Errorf("next attempt %s after a timeout, want at least 60s", wait)
	}
}

func TestResponseTruncated(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte("x"), 100_000))
	}
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "attempt", func() bool { return len(h.attempts(app, ep)) == 1 })
	if n := len(h.attempts(app, ep)[0].Response); n != 20000 {
		t.Errorf("response kept %d bytes, want 20000", n)
	}
}

func TestRotationSignsWithBothKeysDuringGrace(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	ep, oldSecret := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	h.do("POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret/rotate", map[string]any{"gracePeriodSeconds": 3600}, 204, nil)
	var sec struct {
		Key string `json:"key"`
	}
	h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret", nil, 200, &sec)
	newSecret := sec.Key
	if newSecret == oldSecret {
		t.Fatal("rotation kept the secret")
	}
	verify := func(secret string, d delivery) error {
		s := webhook.MustParseSecret(secret)
		v := webhook.NewVerifier(s)
		v.Now = h.clock.Now
		return v.Verify(d.Header, d.Body)
	}
	h.send(app, "a.b", `{"n":1}`, nil)
	eventually(t, "delivery", func() bool { return rc.count() == 1 })
	d := rc.deliveries()[0]
	if n := len(strings.Fields(d.Signature)); n != 2 {
		t.Errorf("%d signatures during the grace period, want 2: %q", n, d.Signature)
	}
	for _, s := range []string{oldSecret, newSecret} {
		if err := verify(s, d); err != nil {
			t.Errorf("during the grace period, %s… does not verify: %v", s[:10], err)
		}
	}
	// After the grace period only the new key signs.
	h.clock.Advance(2 * time.Hour)
	h.send(app, "a.b", `{"n":2}`, nil)
	eventually(t, "second delivery", func() bool { return rc.count() == 2 })
	d = rc.deliveries()[1]
	if n := len(strings.Fields(d.Signature)); n != 1 {
		t.Errorf("%d signatures after the grace period, want 1", n)
	}
	if err := verify(newSecret, d); err != nil {
		t.Errorf("new key: %v", err)
	}
	if err := verify(oldSecret, d); err == nil {
		t.Error("the expired key still verifies")
	}
}

func TestResendIsManual(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	ep, secret := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	rc.secret = secret
	m := h.send(app, "a.b", `{}`, nil)
	// Resend after the first attempt is recorded: a resend while that
	// attempt is still in flight is merged with it.
	eventually(t, "first attempt recorded", func() bool { return len(h.attempts(app, ep)) == 1 })
	h.do("POST", "/api/v1/app/"+app+"/msg/"+m+"/endpoint/"+ep+"/resend", nil, 202, nil)
	eventually(t, "resend", func() bool { return rc.count() == 2 })
	eventually(t, "attempt recorded", func() bool { return len(h.attempts(app, ep)) == 2 })
	as := h.attempts(app, ep)
	if as[0].TriggerType != 1 || as[1].TriggerType != 0 {
		t.Errorf("trigger types %d, %d; want manual then scheduled", as[0].TriggerType, as[1].TriggerType)
	}
	if rc.deliveries()[1].ID != m {
		t.Error("resend changed the webhook-id")
	}
}

func TestRecoverAfterOutage(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.RetrySchedule = nil })
	app := h.app()
	rc := newReceiver(t)
	var up atomic.Bool
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	since := time.Now().Add(-time.Minute)
	var msgs []string
	for i := range 5 {
		msgs = append(msgs, h.send(app, "a.b", fmt.Sprintf(`{"i":%d}`, i), nil))
	}
	eventually(t, "failed attempts", func() bool { return len(h.attempts(app, ep)) == 5 })
	up.Store(true)
	h.do("POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/recover", map[string]any{"since": since}, 202, nil)
	eventually(t, "recovered", func() bool { return len(h.attempts(app, ep)) == 10 })
	ok := map[string]bool{}
	for _, a := range h.attempts(app, ep) {
		if a.Status == 0 && a.TriggerType == 1 {
			ok[a.MsgID] = true
		}
	}
	for _, m := range msgs {
		if !ok[m] {
			t.Errorf("message %s not recovered", m)
		}
	}
}

func TestSSRFGuardRefusesLoopbackName(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.AllowCIDRs = nil })
	app := h.app()
	rc := newReceiver(t)
	// "localhost" resolves to a loopback address: refused at dial time.
	url := strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1)
	ep, _ := h.endpoint(app, map[string]any{"url": url})
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "refused attempt", func() bool { return len(h.attempts(app, ep)) >= 1 })
	a := h.attempts(app, ep)[0]
	if a.ResponseStatusCode != 0 || !strings.Contains(a.Response, "HERALD_ALLOW_CIDRS") {
		t.Errorf("attempt = %+v, want a refusal naming the allow-list", a)
	}
	if rc.count() != 0 {
		t.Errorf("the receiver was reached")
	}

	// The endpoint's owner, through a portal token, sees why in plain
	// words, not the name-to-address mapping behind it.
	var portal struct {
		Token string `json:"token"`
	}
	h.do("POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{}, 200, &portal)
	req, _ := http.NewRequest("GET", h.base+"/api/v1/app/"+app+"/attempt/endpoint/"+ep, nil)
	req.Header.Set("Authorization", "Bearer "+portal.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []attempt `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 || len(list.Data) == 0 {
		t.Fatalf("attempts through a portal token: %d, %v", resp.StatusCode, err)
	}
	if got := list.Data[0].Response; got != "the endpoint's address is not allowed" {
		t.Errorf("a portal token reads %q, want the plain reason alone", got)
	}
}

func TestHangingEndpointDoesNotBlockHealthyOne(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) {
		c.EndpointConcurrency = 2
		c.MaxInFlight = 4
		c.AppConcurrency = 4 // both endpoints are the one application's
		c.RequestTimeout = 30 * time.Second
	})
	app := h.app()
	release := make(chan struct{})
	hanging := newReceiver(t)
	hanging.respond = func(n int, w http.ResponseWriter, r *http.Request) { <-release }
	t.Cleanup(func() { close(release) })
	healthy := newReceiver(t)
	h.endpoint(app, map[string]any{"url": hanging.srv.URL, "channels": []string{"slow"}})
	h.endpoint(app, map[string]any{"url": healthy.srv.URL, "channels": []string{"fast"}})
	for range 20 {
		h.send(app, "a.b", `{}`, map[string]any{"channels": []string{"slow"}})
	}
	eventually(t, "hanging endpoint saturated", func() bool { return hanging.count() == 2 })
	for range 50 {
		h.send(app, "a.b", `{}`, map[string]any{"channels": []string{"fast"}})
	}
	// Every healthy delivery arrives while the hanging endpoint still holds
	// its requests: it only ever takes its own two slots.
	eventually(t, "healthy deliveries", func() bool { return healthy.count() == 50 })
	if n := hanging.count(); n != 2 {
		t.Errorf("hanging endpoint got %d requests, want its cap of 2", n)
	}
}

// An application whose endpoints all hang holds at most its share of the
// process's slots (--app-concurrency): another application's deliveries go
// out meanwhile. Without the share, its ten endpoints (two slots each)
// would hold all eight slots until the 30 s timeout.
func TestHangingApplicationDoesNotBlockAnother(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) {
		c.EndpointConcurrency = 2
		c.MaxInFlight = 8
		c.AppConcurrency = 4
		c.RequestTimeout = 30 * time.Second
	})
	noisy := h.app()
	release := make(chan struct{})
	var hanging []*receiver
	for range 10 {
		rc := newReceiver(t)
		rc.respond = func(n int, w http.ResponseWriter, r *http.Request) { <-release }
		hanging = append(hanging, rc)
		h.endpoint(noisy, map[string]any{"url": rc.srv.URL})
	}
	t.Cleanup(func() { close(release) }) // before the receivers close
	held := func() (n int) {
		for _, rc := range hanging {
			n += rc.count()
		}
		return n
	}
	for range 20 {
		h.send(noisy, "a.b", `{}`, nil)
	}
	eventually(t, "the noisy application holding its share", func() bool { return held() == 4 })

	quiet := h.app()
	healthy := newReceiver(t)
	h.endpoint(quiet, map[string]any{"url": healthy.srv.URL})
	for range 50 {
		h.send(quiet, "a.b", `{}`, nil)
	}
	eventually(t, "the other application's deliveries", func() bool { return healthy.count() == 50 })
	if n := held(); n != 4 {
		t.Errorf("the noisy application got %d requests, want its share of 4", n)
	}
}

func TestThrottleRateEnforced(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	rc := newReceiver(t)
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL, "throttleRate": 5})
	for range 11 {
		h.send(app, "a.b", `{}`, nil)
	}
	eventually(t, "deliveries", func() bool { return len(h.attempts(app, ep)) == 11 })
	as := h.attempts(app, ep)
	// 11 messages at 5 per second take at least 2 seconds from first to last
	// (the first may go at once).
	span := as[0].Timestamp.Sub(as[len(as)-1].Timestamp)
	if span < 1900*time.Millisecond {
		t.Errorf("11 deliveries at throttleRate 5 took %s, want at least 2s", span)
	}
}

func TestEndpointFailingForDaysIsDisabled(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.RetrySchedule = nil })
	app := h.app()
	rc := newReceiver(t)
	rc.respond = func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
	ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	var out struct {
		Disabled bool `json:"disabled"`
	}
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "first failure", func() bool { return len(h.attempts(app, ep)) == 1 })
	h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil, 200, &out)
	if out.Disabled {
		t.Fatal("disabled after one failure")
	}
	// Six days later, still failing: the next exhausted message disables it.
	h.clock.Advance(6 * 24 * time.Hour)
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "endpoint disabled", func() bool {
		h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil, 200, &out)
		return out.Disabled
	})
	// Enabling it again starts the failure clock afresh.
	h.do("PATCH", "/api/v1/app/"+app+"/endpoint/"+ep, map[string]any{"disabled": false}, 200, nil)
	h.send(app, "a.b", `{}`, nil)
	eventually(t, "third failure", func() bool { return len(h.attempts(app, ep)) == 3 })
	h.do("GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil, 200, &out)
	if out.Disabled {
		t.Error("disabled again right after being enabled")
	}
}

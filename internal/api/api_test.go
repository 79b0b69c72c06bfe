package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// bundle is what setup returns: a real store (SQLite unless the test asked
// for PostgreSQL), the API served over HTTP, and an admin token.
type bundle struct {
	store store.Store
	box   *secretbox.Box
	api   *api.API
	srv   *httptest.Server
	clock *clock
	// token is an admin token stored with api.CreateAdminToken.
	token string
}

// clock is time.Now moved by Advance; tests move it instead of sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// testLogger sends logs to t.Log until the test's cleanups have run.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// Store drivers a bundle can be built on.
const (
	driverSQLite   = "sqlite"
	driverPostgres = "postgres"
)

// drivers lists every store driver, for tests that must behave alike on
// each (forEachDriver).
var drivers = []string{driverSQLite, driverPostgres}

// setup builds a bundle on SQLite; opts adjust the API's options before New.
func setup(t *testing.T, opts ...func(*api.Options)) *bundle {
	t.Helper()
	return setupOn(t, driverSQLite, opts...)
}

// forEachDriver runs fn in a parallel subtest per store driver, each with a
// bundle of its own. The PostgreSQL subtest is skipped when no server
// answers (pgtest), unless HERALD_REQUIRE_POSTGRES=1.
func forEachDriver(t *testing.T, fn func(t *testing.T, b *bundle), opts ...func(*api.Options)) {
	t.Helper()
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, setupOn(t, d, opts...))
		})
	}
}

// openStore opens and migrates an empty store of the driver: a SQLite file
// in a temporary directory, or a PostgreSQL schema of the test's own.
func openStore(t *testing.T, driver string) store.Store {
	t.Helper()
	ctx := context.Background()
	var (
		st  store.Store
		err error
	)
	switch driver {
	case driverSQLite:
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"))
	case driverPostgres:
		st, err = postgres.Open(ctx, pgtest.Schema(t), postgres.WithMaxConns(4))
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// setupOn builds a bundle on the driver's store.
func setupOn(t *testing.T, driver string, opts ...func(*api.Options)) *bundle {
	t.Helper()
	ctx := context.Background()
	log := testLogger(t)
	st := openStore(t, driver)
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	o := api.Options{Store: st, Box: box, Log: log, Now: clk.Now, PublicURL: "http://herald.test"}
	for _, f := range opts {
		f(&o)
	}
	a := api.New(o)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	token, err := api.CreateAdminToken(ctx, st, "test", clk.Now())
	if err != nil {
		t.Fatalf("create admin token: %v", err)
	}
	return &bundle{store: st, box: box, api: a, srv: srv, clock: clk, token: token}
}

// response is an HTTP response read in full.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s", r.Status, r.Body)
}

// object decodes the body as a JSON object.
func (r *response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request with the admin token. body is sent as is when it is a
// string or []byte and JSON encoded otherwise; nil sends none. hdr holds
// header name/value pairs.
func (b *bundle) do(t testing.TB, method, path string, body any, hdr ...string) *response {
	t.Helper()
	return b.doAs(t, b.token, method, path, body, hdr...)
}

// doAs sends a request with token ("" sends no Authorization header).
func (b *bundle) doAs(t testing.TB, token, method, path string, body any, hdr ...string) *response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		buf, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{Status: res.StatusCode, Header: res.Header, Body: got}
	if r.Status >= 500 {
		t.Errorf("%s %s: server error %s", method, path, r)
	}
	if len(got) > 0 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s %s: body with Content-Type %q", method, path, res.Header.Get("Content-Type"))
	}
	return r
}

// must sends a request with the admin token and fails unless the status is
// want; it returns the body decoded as an object (nil when empty).
func (b *bundle) must(t testing.TB, want int, method, path string, body any, hdr ...string) map[string]any {
	t.Helper()
	r := b.do(t, method, path, body, hdr...)
	if r.Status != want {
		t.Fatalf("%s %s: got %s, want %d", method, path, r, want)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.object(t)
}

// list fetches a list and returns the envelope.
func (b *bundle) list(t testing.TB, path string) listEnvelope {
	t.Helper()
	r := b.do(t, "GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", path, r)
	}
	var env listEnvelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.Body, &raw)
	for _, k := range []string{"data", "iterator", "done"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("GET %s: list envelope without %q: %s", path, k, r.Body)
		}
	}
	return env
}

type listEnvelope struct {
	Data         []map[string]any `json:"data"`
	Iterator     *string          `json:"iterator"`
	PrevIterator *string          `json:"prevIterator"`
	Done         bool             `json:"done"`
}

func (e listEnvelope) ids(key string) []string {
	var out []string
	for _, d := range e.Data {
		s, _ := d[key].(string)
		out = append(out, s)
	}
	return out
}

// wantError checks an error response: the status and the body
// {"code": string, "detail": string} with nothing else; code "" skips the
// code check.
func wantError(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d", r, status)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, r.Body)
	}
	c, ok1 := body["code"].(string)
	d, ok2 := body["detail"].(string)
	if !ok1 || !ok2 || len(body) != 2 {
		t.Fatalf("error body is not {code, detail}: %s", r.Body)
	}
	if d == "" {
		t.Errorf("error body has an empty detail: %s", r.Body)
	}
	if code != "" && c != code {
		t.Errorf("code = %q, want %q (%s)", c, code, r.Body)
	}
}

// wantValidation checks a 422 with the Svix validation body and that one
// item has the location loc.
func wantValidation(t testing.TB, r *response, loc ...string) {
	t.Helper()
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("got %s, want 422 at %v", r, loc)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("422 body is not {detail}: %s", r.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(body["detail"]))
	dec.DisallowUnknownFields()
	var items []struct {
		Loc  []string `json:"loc"`
		Msg  *string  `json:"msg"`
		Type *string  `json:"type"`
	}
	if err := dec.Decode(&items); err != nil || len(items) == 0 {
		t.Fatalf("422 detail is not a list of {loc, msg, type}: %v: %s", err, r.Body)
	}
	var locs [][]string
	for _, it := range items {
		if it.Msg == nil || it.Type == nil || *it.Msg == "" || *it.Type == "" || len(it.Loc) == 0 {
			t.Fatalf("422 item without loc, msg or type: %s", r.Body)
		}
		locs = append(locs, it.Loc)
	}
	if loc != nil && !slices.ContainsFunc(locs, func(l []string) bool { return slices.Equal(l, loc) }) {
		t.Fatalf("422 without an item at %q: %s", loc, r.Body)
	}
}

// createApp creates an app and returns its id.
func (b *bundle) createApp(t testing.TB, body map[string]any) string {
	t.Helper()
	out := b.must(t, http.StatusCreated, "POST", "/api/v1/app", body)
	return out["id"].(string)
}

// createEndpoint creates an endpoint of app and returns it.
func (b *bundle) createEndpoint(t testing.TB, app string, body map[string]any) map[string]any {
	t.Helper()
	return b.must(t, http.StatusCreated, "POST", "/api/v1/app/"+app+"/endpoint", body)
}

func (b *bundle) createEventType(t testing.TB, name string) {
	t.Helper()
	b.must(t, http.StatusCreated, "POST", "/api/v1/event-type", map[string]any{"name": name, "description": name})
}

// portalToken returns an app portal token for app.
func (b *bundle) portalToken(t testing.TB, app string, body any) string {
	t.Helper()
	out := b.must(t, http.StatusOK, "POST", "/api/v1/auth/app-portal-access/"+app, body)
	tok, _ := out["token"].(string)
	if !strings.HasPrefix(tok, api.PortalTokenPrefix) {
		t.Fatalf("portal token %q", tok)
	}
	if u, _ := out["url"].(string); !strings.HasPrefix(u, "http://herald.test/") || !strings.Contains(u, tok) {
		t.Errorf("portal url %q", u)
	}
	return tok
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.AdminToken = "configured-admin-token" })

	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		for _, h := range []string{"", "Bearer", "Bearer ", "Basic " + b.token, b.token, "Bearer wrong", "Bearer " + b.token + "x", "Bearer hsk_"} {
			t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
				var hdr []string
				if h != "" {
					hdr = []string{"Authorization", h}
				}
				wantError(t, b.doAs(t, "", "GET", "/api/v1/app", nil, hdr...), http.StatusUnauthorized, "authentication_failed")
			})
		}
	})

	t.Run("admin tokens", func(t *testing.T) {
		t.Parallel()
		for _, tok := range []string{b.token, "configured-admin-token"} {
			if r := b.doAs(t, tok, "GET", "/api/v1/app", nil); r.Status != http.StatusOK {
				t.Errorf("token %q: %s", tok[:4], r)
			}
		}
		// The scheme is case-insensitive.
		if r := b.doAs(t, "", "GET", "/api/v1/app", nil, "Authorization", "bearer "+b.token); r.Status != http.StatusOK {
			t.Errorf("lowercase bearer: %s", r)
		}
	})

	t.Run("portal token", func(t *testing.T) {
		t.Parallel()
		app := b.createApp(t, map[string]any{"name": "mine", "uid": "portal-mine"})
		other := b.createApp(t, map[string]any{"name": "other"})
		b.createEventType(t, "portal.visible")
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://example.com/hook"})
		otherEP := b.createEndpoint(t, other, map[string]any{"url": "https://example.com/other"})
		tok := b.portalToken(t, "portal-mine", nil)

		cases := []struct {
			method, path string
			body         any
			want         int
		}{
			{"GET", "/api/v1/app/" + app, nil, 200},
			{"GET", "/api/v1/app/portal-mine", nil, 200},
			{"GET", "/api/v1/app/" + app + "/endpoint", nil, 200},
			{"GET", "/api/v1/app/" + app + "/endpoint/" + ep["id"].(string), nil, 200},
			{"GET", "/api/v1/app/" + app + "/endpoint/" + ep["id"].(string) + "/secret", nil, 200},
			{"POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": "https://example.com/portal"}, 201},
			{"GET", "/api/v1/app/" + app + "/msg", nil, 200},
			{"GET", "/api/v1/event-type", nil, 200},
			{"GET", "/api/v1/event-type/portal.visible", nil, 200},
			// Everything outside the app is invisible.
			{"GET", "/api/v1/app/" + other, nil, 404},
			{"GET", "/api/v1/app/" + other + "/endpoint", nil, 404},
			{"GET", "/api/v1/app/" + other + "/endpoint/" + otherEP["id"].(string), nil, 404},
			{"POST", "/api/v1/app/" + other + "/endpoint", map[string]any{"url": "https://example.com/x"}, 404},
			{"GET", "/api/v1/app/" + app + "/endpoint/" + otherEP["id"].(string), nil, 404},
			{"GET", "/api/v1/app", nil, 404},
			{"POST", "/api/v1/app", map[string]any{"name": "x"}, 404},
			{"PUT", "/api/v1/app/" + app, map[string]any{"name": "x"}, 404},
			{"DELETE", "/api/v1/app/" + app, nil, 404},
			{"POST", "/api/v1/app/" + app + "/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}, 404},
			{"POST", "/api/v1/event-type", map[string]any{"name": "portal.new", "description": "x"}, 404},
			{"DELETE", "/api/v1/event-type/portal.visible", nil, 404},
			{"POST", "/api/v1/auth/app-portal-access/" + app, nil, 404},
		}
		for _, c := range cases {
			r := b.doAs(t, tok, c.method, c.path, c.body)
			if r.Status != c.want {
				t.Errorf("%s %s: got %s, want %d", c.method, c.path, r, c.want)
			}
			if c.want == 404 {
				wantError(t, r, 404, "not_found")
			}
		}
		// Nothing was changed through the refused calls.
		b.must(t, 200, "GET", "/api/v1/app/"+app, nil)
		b.must(t, 200, "GET", "/api/v1/event-type/portal.visible", nil)
	})

	t.Run("portal token for a missing app", func(t *testing.T) {
		t.Parallel()
		wantError(t, b.do(t, "POST", "/api/v1/auth/app-portal-access/nope", nil), 404, "not_found")
		// With "application" the app is created, its uid the path value.
		tok := b.portalToken(t, "portal-auto", map[string]any{"application": map[string]any{"name": "Auto"}})
		got := b.must(t, 200, "GET", "/api/v1/app/portal-auto", nil)
		if got["name"] != "Auto" || got["uid"] != "portal-auto" {
			t.Errorf("auto-created app = %v", got)
		}
		if r := b.doAs(t, tok, "GET", "/api/v1/app/portal-auto", nil); r.Status != 200 {
			t.Errorf("portal token of the new app: %s", r)
		}
		wantValidation(t, b.do(t, "POST", "/api/v1/auth/app-portal-access/portal-auto2",
			map[string]any{"application": map[string]any{"name": "A", "uid": "different"}}), "body", "application", "uid")
	})

	t.Run("logout", func(t *testing.T) {
		t.Parallel()
		app := b.createApp(t, map[string]any{"name": "logout"})
		tok := b.portalToken(t, app, nil)
		keep := b.portalToken(t, app, nil)
		if r := b.doAs(t, tok, "GET", "/api/v1/app/"+app, nil); r.Status != 200 {
			t.Fatalf("before logout: %s", r)
		}
		if r := b.doAs(t, tok, "POST", "/api/v1/auth/logout", nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout: %s", r)
		}
		wantError(t, b.doAs(t, tok, "GET", "/api/v1/app/"+app, nil), 401, "authentication_failed")
		if r := b.doAs(t, keep, "GET", "/api/v1/app/"+app, nil); r.Status != 200 {
			t.Errorf("another portal token after logout: %s", r)
		}
		// Admin tokens cannot log out, and stay valid.
		wantError(t, b.do(t, "POST", "/api/v1/auth/logout", nil), 403, "")
		wantError(t, b.doAs(t, "configured-admin-token", "POST", "/api/v1/auth/logout", nil), 403, "")
		b.must(t, 200, "GET", "/api/v1/app", nil)
	})
}

func TestPortalTokenExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.PortalTokenTTL = time.Hour })
	app := b.createApp(t, map[string]any{"name": "expiry"})

	short := b.portalToken(t, app, map[string]any{"expiry": 120})
	def := b.portalToken(t, app, nil)
	for _, tok := range []string{short, def} {
		if r := b.doAs(t, tok, "GET", "/api/v1/app/"+app, nil); r.Status != 200 {
			t.Fatalf("fresh token: %s", r)
		}
	}
	b.clock.Advance(121 * time.Second)
	wantError(t, b.doAs(t, short, "GET", "/api/v1/app/"+app, nil), 401, "authentication_failed")
	if r := b.doAs(t, def, "GET", "/api/v1/app/"+app, nil); r.Status != 200 {
		t.Fatalf("token with the default lifetime after 2 minutes: %s", r)
	}
	b.clock.Advance(time.Hour)
	wantError(t, b.doAs(t, def, "GET", "/api/v1/app/"+app, nil), 401, "authentication_failed")

	for _, bad := range []any{0, 59, 366 * 24 * 3600, "soon", -1} {
		wantValidation(t, b.do(t, "POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{"expiry": bad}), "body", "expiry")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/api/v1/health", "/api/v1/health/ping", "/api/v1/health/"} {
		for _, m := range []string{"GET", "HEAD"} {
			if r := b.doAs(t, "", m, p, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
				t.Errorf("%s %s: %s", m, p, r)
			}
		}
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/nope"},
		{"GET", "/"},
		{"GET", "/api/v2/app"},
		{"DELETE", "/api/v1/app"},
		{"POST", "/api/v1/app/x/y/z"},
	} {
		wantError(t, b.do(t, c.method, c.path, nil), 404, "not_found")
	}
	// Unknown routes answer 404 even without a token.
	wantError(t, b.doAs(t, "", "GET", "/api/v1/nope", nil), 404, "not_found")

	// A trailing slash reaches the same route.
	app := b.createApp(t, map[string]any{"name": "slash", "uid": "slash"})
	if env := b.list(t, "/api/v1/app/"); len(env.Data) != 1 {
		t.Errorf("GET /api/v1/app/: %v", env.Data)
	}
	b.must(t, 200, "GET", "/api/v1/app/"+app+"/", nil)
	b.must(t, 201, "POST", "/api/v1/app/", map[string]any{"name": "slash2"})
	// Only one real slash is trimmed: these name no route or no app, and
	// must not reach the lists.
	for _, p := range []string{"/api/v1/app//", "/api/v1/app/%2F", "/api/v1/app/%2F/", "/api/v1/app/" + app + "/endpoint/%2F", "/api/v1/app/" + app + "/endpoint//"} {
		wantError(t, b.do(t, "GET", p, nil), 404, "not_found")
	}

	// The OpenAPI document is public and is the embedded one.
	r := b.doAs(t, "", "GET", "/api/v1/openapi.json", nil)
	if r.Status != 200 {
		t.Fatalf("openapi.json: %s", r)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.OpenAPI == "" || len(doc.Paths) == 0 {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
}

package portal_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/portal"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// bundle is a portal on a real SQLite store, served over HTTP.
type bundle struct {
	t     *testing.T
	store store.Store
	svc   *service.Service
	srv   *httptest.Server
	now   atomic.Int64 // clock offset
	app   *store.App
	other *store.App
}

func setup(t *testing.T, mod func(*portal.Options)) *bundle {
	t.Helper()
	return setupOn(t, "sqlite", mod)
}

// setupOn builds the bundle on the store driver named ("sqlite" or
// "postgres", which needs the server of pgtest).
func setupOn(t *testing.T, driver string, mod func(*portal.Options)) *bundle {
	t.Helper()
	var st store.Store
	var err error
	if driver == "postgres" {
		st, err = postgres.Open(t.Context(), pgtest.Schema(t))
	} else {
		st, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	box, _ := secretbox.New(key)
	b := &bundle{t: t, store: st}
	clock := func() time.Time { return time.Now().Add(time.Duration(b.now.Load())) }
	b.svc = service.New(service.Config{Store: st, Box: box, Now: clock})
	opts := portal.Options{Service: b.svc, AdminToken: "admin-secret", PublicURL: "http://herald.test"}
	if mod != nil {
		mod(&opts)
	}
	p, err := portal.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(p)
	t.Cleanup(b.srv.Close)
	b.app = b.createApp("Acme")
	b.other = b.createApp("Other")
	return b
}

func (b *bundle) createApp(name string) *store.App {
	now := store.Truncate(time.Now())
	a := &store.App{ID: ids.New(ids.App), Name: name, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := b.store.CreateApp(context.Background(), a); err != nil {
		b.t.Fatal(err)
	}
	return a
}

// browser is an HTTP client with cookies that says its requests are
// same-origin, as a browser on the portal's own pages does.
type browser struct {
	b *bundle
	c *http.Client
}

func (b *bundle) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{b: b, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type result struct {
	status int
	header http.Header
	body   string
}

func (w *browser) do(method, path string, form url.Values, hdr ...string) result {
	w.b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, w.b.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.b.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(got)}
}

// portalToken makes a portal link's token for app, valid for ttl.
func (b *bundle) portalToken(app *store.App, ttl time.Duration) string {
	tok, err := b.svc.CreatePortalToken(context.Background(), app.ID, ttl)
	if err != nil {
		b.t.Fatal(err)
	}
	return tok
}

// signIn swaps a portal token for a session, as the sign-in page's script
// does, and returns the session's CSRF token read from a page.
func (w *browser) signIn(token string) string {
	w.b.t.Helper()
	r := w.do("POST", "/portal/session", url.Values{"token": {token}}, "X-Requested-With", "herald")
	if r.status != 200 || !strings.Contains(r.body, `"next":"/portal/app/`) {
		w.b.t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	return w.csrf("/portal/app/" + w.b.app.ID + "/")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (w *browser) csrf(path string) string {
	w.b.t.Helper()
	r := w.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(r.body)
	if r.status != 200 || m == nil {
		w.b.t.Fatalf("GET %s: %d, no CSRF field: %s", path, r.status, r.body)
	}
	return m[1]
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	r := b.browser().do("GET", "/portal/", nil)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	// No inline script or style: every script is a file of the portal.
	for _, bad := range []string{"<script>", "style=", " on" + "click="} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the sign-in page has %q", bad)
		}
	}
	// Embedding names its ancestors, and drops X-Frame-Options.
	e := setup(t, func(o *portal.Options) { o.FrameAncestors = []string{"https://app.example.com"} })
	r = e.browser().do("GET", "/portal/", nil)
	if csp := r.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors https://app.example.com") {
		t.Errorf("CSP with ancestors: %q", csp)
	}
	if r.header.Get("X-Frame-Options") != "" {
		t.Error("X-Frame-Options set while embedding is allowed")
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, embed := range []bool{false, true} {
		b := setup(t, func(o *portal.Options) {
			if embed {
				o.FrameAncestors = []string{"https://app.example.com"}
			}
		})
		r := b.browser().do("POST", "/portal/session", url.Values{"token": {b.portalToken(b.app, time.Hour)}}, "X-Requested-With", "herald")
		c := r.header.Get("Set-Cookie")
		for _, attr := range []string{"herald_portal=hss_", "Path=/portal/", "HttpOnly"} {
			if !strings.Contains(c, attr) {
				t.Errorf("embed=%v: cookie %q lacks %s", embed, c, attr)
			}
		}
		if embed {
			for _, attr := range []string{"SameSite=None", "Secure", "Partitioned"} {
				if !strings.Contains(c, attr) {
					t.Errorf("embeddable cookie %q lacks %s", c, attr)
				}
			}
		} else if !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Secure") {
			t.Errorf("cookie over plain HTTP: %q", c)
		}
	}
	// Behind a proxy that ends TLS, an https:// public URL makes it Secure.
	b := setup(t, func(o *portal.Options) { o.PublicURL = "https://hooks.example.com" })
	r := b.browser().do("POST", "/portal/session", url.Values{"token": {b.portalToken(b.app, time.Hour)}}, "X-Requested-With", "herald")
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("cookie with an https public URL: %q", c)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	w := b.browser()
	// Not signed in: a page that says so.
	if r := w.do("GET", "/portal/app/"+b.app.ID+"/", nil); r.status != 401 || !strings.Contains(r.body, "Not signed in") {
		t.Errorf("before sign-in: %d", r.status)
	}
	// A token that is not a portal link's, or a session's value, is refused.
	for _, tok := range []string{"hpt_nope", "admin-secret", ""} {
		r := w.do("POST", "/portal/session", url.Values{"token": {tok}}, "X-Requested-With", "herald")
		if r.status != 401 || !strings.Contains(r.body, "/portal/invalid") {
			t.Errorf("token %q: %d %s", tok, r.status, r.body)
		}
	}
	// An expired link goes to the page that says so; without script, too.
	expired := b.portalToken(b.app, time.Minute)
	b.now.Add(int64(2 * time.Minute))
	if r := w.do("POST", "/portal/session", url.Values{"token": {expired}}, "X-Requested-With", "herald"); r.status != 401 || !strings.Contains(r.body, "/portal/expired") {
		t.Errorf("expired link: %d %s", r.status, r.body)
	}
	if r := w.do("POST", "/portal/session", url.Values{"token": {expired}}); r.status != 303 || r.header.Get("Location") != "/portal/expired" {
		t.Errorf("expired link without script: %d %s", r.status, r.header.Get("Location"))
	}
	if r := w.do("GET", "/portal/expired", nil); r.status != 401 || !strings.Contains(r.body, "expired") {
		t.Errorf("expired page: %d", r.status)
	}
	// A sign-in posted from another site is refused.
	if r := w.do("POST", "/portal/session", url.Values{"token": {b.portalToken(b.app, time.Hour)}}, "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Errorf("cross-site sign-in: %d", r.status)
	}
	// The session's cookie is a session token: the link's token is not
	// what the browser keeps.
	link := b.portalToken(b.app, time.Hour)
	w.signIn(link)
	u, _ := url.Parse(b.srv.URL + "/portal/")
	for _, c := range w.c.Jar.Cookies(u) {
		if c.Value == link || !strings.HasPrefix(c.Value, service.SessionTokenPrefix) {
			t.Errorf("cookie %s=%s", c.Name, c.Value)
		}
	}
}

func TestScopeAndCSRF(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testScopeAndCSRF(t, setupOn(t, driver, nil))
		})
	}
}

func testScopeAndCSRF(t *testing.T, b *bundle) {
	w := b.browser()
	csrf := w.signIn(b.portalToken(b.app, time.Hour))
	// Another app's pages are not found, by id, alike for every page.
	for _, path := range []string{"/portal/app/" + b.other.ID + "/", "/portal/app/" + b.other.ID + "/activity", "/portal/app/" + b.other.ID + "/event-types"} {
		if r := w.do("GET", path, nil); r.status != 404 {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	if r := w.do("POST", "/portal/app/"+b.other.ID+"/endpoints", url.Values{"csrf": {csrf}, "url": {"https://example.com/"}}); r.status != 404 {
		t.Errorf("creating an endpoint in another app: %d", r.status)
	}
	// A POST without the session's CSRF token, or from another site,
	// changes nothing.
	create := url.Values{"url": {"https://example.com/hook"}}
	if r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", create); r.status != 403 {
		t.Errorf("without CSRF token: %d", r.status)
	}
	create.Set("csrf", "forged")
	if r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", create); r.status != 403 {
		t.Errorf("with a forged CSRF token: %d", r.status)
	}
	create.Set("csrf", csrf)
	if r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", create, "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Errorf("cross-site: %d", r.status)
	}
	eps, _ := b.store.ListEndpoints(context.Background(), b.app.ID, store.Page{})
	if len(eps) != 0 {
		t.Fatalf("refused posts created %d endpoints", len(eps))
	}
	// Bad input is shown beside its field, with 422, never a 500.
	bad := url.Values{"csrf": {csrf}, "url": {"ftp://example.com/x"}, "rateLimit": {"fast"}, "headers": {"Host: x\nno colon"},
		"metadata": {"novalue"}, "channels": {"bad channel!"}}
	r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", bad)
	if r.status != 422 {
		t.Fatalf("bad form: %d %s", r.status, r.body)
	}
	for _, id := range []string{"url-error", "rateLimit-error", "headers-error", "metadata-error", "channels-error"} {
		if !strings.Contains(r.body, `id="`+id+`"`) {
			t.Errorf("no %s beside its field", id)
		}
	}
	// Event types are checked against the catalogue, as the API does.
	r = w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", url.Values{"csrf": {csrf}, "url": {"https://example.com/"}, "eventTypes": {"no.such.type"}})
	if r.status != 422 || !strings.Contains(r.body, `id="eventTypes-error"`) || !strings.Contains(r.body, "no.such.type") {
		t.Errorf("unknown event type: %d", r.status)
	}
	// The same form, good, creates the endpoint with the API's rules.
	good := url.Values{"csrf": {csrf}, "url": {"https://example.com"}, "headers": {"x-tenant: acme"}, "metadata": {"team=billing"}, "ordering": {"fifo"}}
	r = w.do("POST", "/portal/app/"+b.app.ID+"/endpoints", good)
	if r.status != 303 {
		t.Fatalf("good form: %d %s", r.status, r.body)
	}
	eps, _ = b.store.ListEndpoints(context.Background(), b.app.ID, store.Page{})
	if len(eps) != 1 || eps[0].URL != "https://example.com/" || eps[0].Headers["X-Tenant"] != "acme" || eps[0].Metadata["team"] != "billing" ||
		eps[0].Ordering != store.OrderingFIFO {
		t.Fatalf("created: %+v", eps)
	}
	if page := w.do("GET", "/portal/app/"+b.app.ID+"/endpoint/"+eps[0].ID, nil); !strings.Contains(page.body, "in order (FIFO per ordering key)") {
		t.Errorf("the endpoint's page does not show its order")
	}
	// A sensitive header's value is never shown in the edit form, and
	// saving the form unchanged keeps it.
	secret := map[string]string{"Authorization": "Bearer s3cret", "X-Tenant": "acme"}
	if _, err := b.svc.SaveEndpoint(context.Background(), eps[0], store.UpdateEndpointParams{Headers: &secret}); err != nil {
		t.Fatal(err)
	}
	edit := w.do("GET", "/portal/app/"+b.app.ID+"/endpoint/"+eps[0].ID+"/edit", nil)
	if edit.status != 200 || strings.Contains(edit.body, "s3cret") || !strings.Contains(edit.body, "X-Tenant: acme") ||
		!regexp.MustCompile(`id="ordering"[^>]*checked`).MatchString(edit.body) {
		t.Fatalf("edit form: %d, shows the secret header: %v", edit.status, strings.Contains(edit.body, "s3cret"))
	}
	headers := regexp.MustCompile(`(?s)<textarea id="headers"[^>]*>(.*?)</textarea>`).FindStringSubmatch(edit.body)[1]
	save := url.Values{"csrf": {csrf}, "url": {"https://example.com/"}, "headers": {html.UnescapeString(headers)}}
	if r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoint/"+eps[0].ID, save); r.status != 303 {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	got, _ := b.store.GetEndpoint(context.Background(), b.app.ID, eps[0].ID)
	if got.Headers["Authorization"] != "Bearer s3cret" || got.Headers["X-Tenant"] != "acme" {
		t.Errorf("headers after saving the form unchanged: %v", got.Headers)
	}
	if got.Ordering != store.OrderingNone {
		t.Errorf("saved with the ordering box unticked: %v", got.Ordering)
	}

	// Logout deletes the session: its cookie no longer signs in.
	saved := w.c.Jar.Cookies(mustURL(b.srv.URL + "/portal/"))
	if r := w.do("POST", "/portal/logout", url.Values{"csrf": {csrf}}); r.status != 303 || r.header.Get("Location") != "/portal/signed-out" {
		t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
	}
	replay := b.browser()
	replay.c.Jar.SetCookies(mustURL(b.srv.URL+"/portal/"), saved)
	if r := replay.do("GET", "/portal/app/"+b.app.ID+"/", nil); r.status != 401 {
		t.Errorf("the old cookie after logout: %d", r.status)
	}
}

func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	w := b.browser()
	if r := w.do("POST", "/console/session", url.Values{"token": {"wrong"}}); r.status != 401 {
		t.Errorf("wrong token: %d", r.status)
	}
	// A portal link's token is no admin token.
	if r := w.do("POST", "/console/session", url.Values{"token": {b.portalToken(b.app, time.Hour)}}); r.status != 401 {
		t.Errorf("portal token: %d", r.status)
	}
	if r := w.do("POST", "/console/session", url.Values{"token": {"admin-secret"}}); r.status != 303 {
		t.Fatalf("admin token: %d", r.status)
	}
	// A console session reaches every app, and is no portal session.
	for _, app := range []*store.App{b.app, b.other} {
		if r := w.do("GET", "/console/app/"+app.ID+"/", nil); r.status != 200 {
			t.Errorf("console app page: %d", r.status)
		}
	}
	if r := w.do("GET", "/portal/app/"+b.app.ID+"/", nil); r.status != 401 {
		t.Errorf("portal page with a console session: %d", r.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// An endpoint whose circuit is open says so, in the list and on its page.
func TestCircuitShown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	now := store.Truncate(time.Now())
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: b.app.ID, URL: "https://example.com/hook", Secret: "x",
		Metadata: map[string]string{}, Headers: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := b.store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	w := b.browser()
	w.signIn(b.portalToken(b.app, time.Hour))
	for _, path := range []string{"/portal/app/" + b.app.ID + "/", "/portal/app/" + b.app.ID + "/endpoint/" + ep.ID} {
		if r := w.do("GET", path, nil); r.status != 200 || strings.Contains(r.body, "paused: probing") {
			t.Errorf("GET %s: %d; a closed circuit shown as paused", path, r.status)
		}
	}
	if err := b.store.SetEndpointCircuit(ctx, ep.ID, store.Circuit{Open: true, Failures: 5, Since: now, NextProbe: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/portal/app/" + b.app.ID + "/", "/portal/app/" + b.app.ID + "/endpoint/" + ep.ID} {
		if r := w.do("GET", path, nil); r.status != 200 || !strings.Contains(r.body, "paused: probing") {
			t.Errorf("GET %s: %d; an open circuit not shown", path, r.status)
		}
	}
}

// TestMessagePageShowsScheduleAndOrder: a message's page says when it is
// scheduled for and whether it was cancelled, its tags and ordering key, and
// that a delivery to a FIFO endpoint waits its turn.
func TestMessagePageShowsScheduleAndOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	now := store.Truncate(time.Now())
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: b.app.ID, URL: "https://example.com/", Ordering: store.OrderingFIFO,
		Metadata: map[string]string{}, Headers: map[string]string{}, Secret: "x", CreatedAt: now, UpdatedAt: now}
	if err := b.store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	send := func(mod func(m *store.Message)) *store.Message {
		m := &store.Message{ID: ids.New(ids.Message), AppID: b.app.ID, EventType: "order.updated", Payload: []byte(`{}`),
			PayloadExpiresAt: now.Add(time.Hour), CreatedAt: now}
		mod(m)
		if res, err := b.store.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}}); err != nil || res[0].Err != nil {
			t.Fatalf("create message: %v %v", err, res)
		}
		return m
	}
	first := send(func(m *store.Message) {
		m.DeliverAt = now.Add(time.Hour)
		m.Tags = []string{"eu"}
		m.OrderingKey = "o_42"
	})
	second := send(func(m *store.Message) { m.OrderingKey = "o_42" })
	third := send(func(m *store.Message) { m.DeliverAt = now.Add(2 * time.Hour) })
	if _, err := b.store.CancelMessage(ctx, store.CancelMessageParams{AppID: b.app.ID, MsgID: third.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	w := b.browser()
	w.signIn(b.portalToken(b.app, time.Hour))
	page := func(m *store.Message) string {
		r := w.do("GET", "/portal/app/"+b.app.ID+"/msg/"+m.ID, nil)
		if r.status != 200 {
			t.Fatalf("message page: %d", r.status)
		}
		return r.body
	}
	if body := page(first); !strings.Contains(body, "Scheduled for") || !strings.Contains(body, "o_42") || !strings.Contains(body, "<dd>eu</dd>") {
		t.Errorf("the scheduled message's page lacks its schedule, key or tags")
	}
	if body := page(second); !strings.Contains(body, "waiting its turn") {
		t.Errorf("the blocked delivery is not shown waiting its turn")
	}
	if body := page(third); !strings.Contains(body, ">canceled<") || !strings.Contains(body, "canceled 20") {
		t.Errorf("the cancelled message's page does not say so")
	}
}

// Saving an endpoint's form keeps the event types of its filter that the
// form does not show (hidden from the portal by a feature flag, or
// archived): a filter the caller cannot see is never widened.
func TestEditKeepsUnshownEventTypes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	now := store.Truncate(time.Now())
	for _, et := range []*store.EventType{
		{Name: "beta.secret", Description: "flagged", FeatureFlag: "beta", CreatedAt: now, UpdatedAt: now},
		{Name: "old.thing", Description: "archived", Archived: true, CreatedAt: now, UpdatedAt: now},
		{Name: "order.paid", Description: "shown", CreatedAt: now, UpdatedAt: now},
	} {
		if err := b.store.CreateEventType(ctx, et); err != nil {
			t.Fatal(err)
		}
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: b.app.ID, URL: "https://example.com/hook", Secret: "x",
		EventTypes: []string{"beta.secret", "old.thing"}, Metadata: map[string]string{}, Headers: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := b.store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	w := b.browser()
	csrf := w.signIn(b.portalToken(b.app, time.Hour))
	// The form as the page sends it: none of the filter's types is shown,
	// so none is ticked; the description changes.
	r := w.do("POST", "/portal/app/"+b.app.ID+"/endpoint/"+ep.ID, url.Values{"csrf": {csrf}, "url": {ep.URL}, "description": {"new words"}})
	if r.status != 303 {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	got, err := b.store.GetEndpoint(ctx, b.app.ID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "new words" || !slices.Equal(got.EventTypes, []string{"beta.secret", "old.thing"}) {
		t.Errorf("after saving: description %q, event types %v; want the filter kept", got.Description, got.EventTypes)
	}
	// Ticking a shown type adds it beside the unshown ones.
	r = w.do("POST", "/portal/app/"+b.app.ID+"/endpoint/"+ep.ID, url.Values{"csrf": {csrf}, "url": {ep.URL}, "eventTypes": {"order.paid"}})
	if r.status != 303 {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	got, _ = b.store.GetEndpoint(ctx, b.app.ID, ep.ID)
	if !slices.Equal(got.EventTypes, []string{"order.paid", "beta.secret", "old.thing"}) {
		t.Errorf("event types %v", got.EventTypes)
	}
}

// A session lives no longer than the token it signed in with: revoking the
// portal link (the API's logout) ends the sessions it opened.
func TestSessionEndsWithItsLink(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	w := b.browser()
	link := b.portalToken(b.app, time.Hour)
	w.signIn(link)
	page := "/portal/app/" + b.app.ID + "/"
	if r := w.do("GET", page, nil); r.status != 200 {
		t.Fatalf("signed in: %d", r.status)
	}
	tok, err := b.store.GetTokenByHash(context.Background(), service.HashToken(link))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.DeleteToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	if r := w.do("GET", page, nil); r.status == 200 {
		t.Errorf("the session still opens pages after its link was revoked")
	}
}

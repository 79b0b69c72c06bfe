package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// portalFixture is a server with an application, its event types and a
// receiver, as a portal user finds them.
type portalFixture struct {
	h        *harness
	app      string
	receiver *receiver
}

func newPortalFixture(t *testing.T) *portalFixture {
	t.Helper()
	return newPortalFixtureOn(t, nil)
}

// newPortalFixtureOn is newPortalFixture with the configuration changed by
// mod (another database).
func newPortalFixtureOn(t *testing.T, mod func(*config.Config)) *portalFixture {
	t.Helper()
	h := start(t, mod)
	var app idOut
	h.do("POST", "/api/v1/app", map[string]any{"name": "Acme Inc", "uid": "acme"}, 201, &app)
	h.do("POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "An invoice was paid",
		"schemas": map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"invoice": "in_1", "amount": 4200}}}}}, 201, nil)
	h.do("POST", "/api/v1/event-type", map[string]any{"name": "user.created", "description": "A user signed up"}, 201, nil)
	h.do("POST", "/api/v1/event-type", map[string]any{"name": "beta.thing", "description": "Behind a flag", "featureFlag": "beta"}, 201, nil)
	return &portalFixture{h: h, app: app.ID, receiver: newReceiver(t)}
}

// signIn opens a fresh browser on the app's portal link.
func (f *portalFixture) signIn(t *testing.T) *page {
	t.Helper()
	p := newPage(t, f.h.base)
	p.open(f.h.portalLink(f.app, map[string]any{}))
	p.waitText("h1", "Endpoints")
	return p
}

func TestBrowserPortalSignInFromLink(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	p := f.signIn(t)
	// The token left the address bar and the history.
	if loc := p.location(); strings.Contains(loc, "token") || !strings.HasSuffix(loc, "/portal/app/"+f.app+"/") {
		t.Errorf("after sign-in the location is %s", loc)
	}
	if n := eval[float64](p, "history.length"); n > 2 {
		t.Errorf("history has %v entries", n)
	}
	if got := p.text(".appname"); got != "Acme Inc" {
		t.Errorf("app name shown %q", got)
	}
}

func TestBrowserPortalEndpointLifecycle(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	p := f.signIn(t)

	// A URL the API refuses is refused beside its field.
	p.click("a.button[href$='/endpoints/new']")
	p.waitText("h1", "New endpoint")
	p.fill("#url", "ftp://example.com/hook")
	p.submit("form.card button[type=submit]")
	p.waitText("#url-error", "scheme")
	// A feature-flagged event type is not offered to a portal session.
	if strings.Contains(p.text("form.card"), "beta.thing") {
		t.Error("the form offers an event type behind a feature flag")
	}

	// Created through the form, with an event type from the catalogue.
	p.fill("#url", f.receiver.srv.URL+"/hooks")
	p.fill("#description", "Billing")
	p.click("#et-invoice\\.paid")
	p.fill("#headers", "X-Tenant: acme")
	p.submit("form.card button[type=submit]")
	p.waitText(".flash", "Endpoint created.")
	epURL := p.location()
	epID := epURL[strings.LastIndex(epURL, "/")+1:]
	epID = strings.TrimSuffix(epID, "?done=created")
	var ep struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"eventTypes"`
	}
	f.h.do("GET", "/api/v1/app/"+f.app+"/endpoint/"+epID, nil, 200, &ep)
	if ep.URL != f.receiver.srv.URL+"/hooks" || len(ep.EventTypes) != 1 || ep.EventTypes[0] != "invoice.paid" {
		t.Fatalf("endpoint as the API sees it: %+v", ep)
	}

	// The secret is revealed on demand, and rotated.
	var sec struct {
		Key string `json:"key"`
	}
	f.h.do("GET", "/api/v1/app/"+f.app+"/endpoint/"+epID+"/secret", nil, 200, &sec)
	if strings.Contains(p.text("main"), sec.Key) {
		t.Fatal("the secret is shown before it is asked for")
	}
	p.click("a[href$='?reveal=1']")
	p.waitText("#secret-value", sec.Key)
	f.receiver.mu.Lock()
	f.receiver.secret = sec.Key
	f.receiver.mu.Unlock()
	p.submit("form[action$='/rotate'] button")
	p.waitText(".flash", "Secret rotated")
	rotated := p.text("#secret-value")
	var now struct {
		Key string `json:"key"`
	}
	f.h.do("GET", "/api/v1/app/"+f.app+"/endpoint/"+epID+"/secret", nil, 200, &now)
	if rotated == sec.Key || rotated != now.Key {
		t.Fatalf("after rotation the page shows %q, the API %q (before %q)", rotated, now.Key, sec.Key)
	}
	f.receiver.mu.Lock()
	f.receiver.secret = now.Key
	f.receiver.mu.Unlock()

	// A test event of a chosen type arrives, and its attempt shows its code.
	p.do(setSelect("#test-type", "invoice.paid"))
	p.submit("form[action$='/test'] button")
	p.waitText(".flash", "Test event sent.")
	p.reloadUntil("table.attempts", "200")
	if got := p.text("table.attempts"); !strings.Contains(got, "invoice.paid") || !strings.Contains(got, "succeeded") {
		t.Errorf("attempt row: %q", got)
	}
	if d := f.receiver.deliveries(); len(d) != 1 || !strings.Contains(string(d[0].Body), "in_1") || d[0].Header.Get("X-Tenant") != "acme" {
		t.Errorf("the receiver got %d deliveries: %+v", len(d), d)
	}

	// Disable, enable, delete with confirmation.
	p.submit("form[action$='/enabled'] button")
	p.waitText(".flash", "Endpoint disabled")
	p.submit("form[action$='/enabled'] button")
	p.waitText(".flash", "Endpoint enabled")
	p.click("a.danger[href$='/delete']")
	p.waitText("h1", "Delete this endpoint?")
	p.submit("form[action$='/delete'] button")
	p.waitText(".flash", "Endpoint deleted.")
	f.h.do("GET", "/api/v1/app/"+f.app+"/endpoint/"+epID, nil, 404, nil)
}

// setSelect chooses value in a select.
func setSelect(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), value)
}

func TestBrowserPortalResendFailedAttempt(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	failing := true
	f.receiver.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		f.receiver.mu.Lock()
		fail := failing
		f.receiver.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	epID, _ := f.h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL})
	f.h.send(f.app, "user.created", `{"user":"u_1"}`, nil)
	f.h.send(f.app, "user.created", `{"user":"u_2"}`, nil)
	// Every scheduled attempt fails (two retries 50 ms apart).
	eventually(t, "six failed attempts", func() bool { return len(f.h.attempts(f.app, epID)) == 6 })
	succeeded := func() int {
		n := 0
		for _, a := range f.h.attempts(f.app, epID) {
			if a.Status == 0 {
				n++
			}
		}
		return n
	}

	p := f.signIn(t)
	p.open("/portal/app/" + f.app + "/endpoint/" + epID + "?status=fail")
	p.waitText("table.attempts", "503")
	f.receiver.mu.Lock()
	failing = false
	f.receiver.mu.Unlock()
	// The newest failed attempt's message is resent...
	p.submit("table.attempts button")
	p.waitText(".flash", "Message sent again.")
	eventually(t, "the resent message delivered", func() bool { return succeeded() == 1 })
	// ...and the other one is recovered: what failed since yesterday.
	p.submit("form[action$='/recover'] button")
	p.waitText(".flash", "Recovery started")
	eventually(t, "the recovered message delivered", func() bool { return succeeded() == 2 })
	p.open("/portal/app/" + f.app + "/endpoint/" + epID + "?status=success")
	p.reloadUntil("table.attempts", "200")
	// The attempt's page shows the receiver's answer and the payload sent.
	p.click("table.attempts td a")
	p.waitText("h1", "Attempt")
	if got := p.text("main"); !strings.Contains(got, `"user": "u_`) || !strings.Contains(got, "manual") {
		t.Errorf("attempt page: %s", got)
	}
}

func TestBrowserPortalActivityFilters(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	f.h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL})
	for i := range 3 {
		f.h.send(f.app, "invoice.paid", `{"n":1}`, map[string]any{"eventId": "inv-" + string(rune('a'+i))})
	}
	f.h.send(f.app, "user.created", `{"n":2}`, map[string]any{"channels": []string{"eu"}})
	p := f.signIn(t)
	p.open("/portal/app/" + f.app + "/activity")
	if n := eval[float64](p, `document.querySelectorAll("main tbody tr").length`); n != 4 {
		t.Fatalf("activity lists %v messages, want 4", n)
	}
	p.do(setSelect("#event_type", "user.created"))
	p.submit("form.filters:not([role]) button")
	if n := eval[float64](p, `document.querySelectorAll("main tbody tr").length`); n != 1 || !strings.Contains(p.text("main tbody"), "user.created") {
		t.Fatalf("filtered by event type: %v rows: %s", n, p.text("main"))
	}
	p.open("/portal/app/" + f.app + "/activity?channel=eu")
	if n := eval[float64](p, `document.querySelectorAll("main tbody tr").length`); n != 1 {
		t.Fatalf("filtered by channel: %v rows", n)
	}
	// Search by eventId opens the message.
	p.open("/portal/app/" + f.app + "/activity")
	p.fill("#q", "inv-b")
	p.submit("form[role=search] button")
	p.waitText("h1", "Message")
	if !strings.Contains(p.text("main"), "inv-b") {
		t.Errorf("message page: %s", p.text("main"))
	}
}

func TestBrowserPortalScopedToItsApp(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	var other idOut
	f.h.do("POST", "/api/v1/app", map[string]any{"name": "Other"}, 201, &other)
	otherEP, _ := f.h.endpoint(other.ID, map[string]any{"url": "https://example.com/"})
	p := f.signIn(t)
	for _, path := range []string{"/portal/app/" + other.ID + "/", "/portal/app/" + other.ID + "/endpoint/" + otherEP,
		"/portal/app/" + other.ID + "/activity", "/portal/app/" + other.ID + "/msg/x"} {
		p.open(path)
		p.waitText("h1", "Not Found")
		if strings.Contains(p.text("body"), "example.com") {
			t.Errorf("%s shows another app's endpoint", path)
		}
	}
	// A portal session is no console session.
	for _, path := range []string{"/console/app/" + other.ID + "/", "/console/failing"} {
		p.open(path)
		p.waitText("h1", "Sign in to the console")
	}
	// Nor is another app's endpoint reachable under its own app.
	p.open("/portal/app/" + f.app + "/endpoint/" + otherEP)
	p.waitText("h1", "Not Found")
}

func TestBrowserPortalLogoutAndExpiry(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	p := f.signIn(t)
	p.submit("form.signout button")
	p.waitText("h1", "Signed out")
	p.open("/portal/app/" + f.app + "/")
	p.waitText("h1", "Not signed in")

	// A session ends with its link.
	p.open(f.h.portalLink(f.app, map[string]any{"expiry": 60}))
	p.waitText("h1", "Endpoints")
	f.h.clock.Advance(2 * time.Minute)
	p.open("/portal/app/" + f.app + "/")
	p.waitText("h1", "Link expired")
	// And an expired link does not sign in.
	p.open(f.h.portalLink(f.app, map[string]any{"expiry": 60}))
	p.waitText("h1", "Endpoints")
	expired := f.h.portalLink(f.app, map[string]any{"expiry": 60})
	f.h.clock.Advance(2 * time.Minute)
	q := newPage(t, f.h.base)
	q.open(expired)
	q.waitText("h1", "Link expired")
	if !strings.Contains(q.text("main"), "expired") {
		t.Errorf("expired page: %s", q.text("main"))
	}
}

// TestBrowserPortalAccessible checks, on every page of the portal: no
// horizontal scrolling at 360 px wide, a label for every form control, a
// visible focus ring from the keyboard's first Tab (the skip link), and a
// dark theme when the system asks for one.
func TestBrowserPortalAccessible(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	epID, _ := f.h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL + "/webhooks/a-rather-long-path/that-goes-on", "eventTypes": []string{"invoice.paid"}})
	msgID := f.h.send(f.app, "invoice.paid", `{"invoice":"in_1"}`, nil)
	eventually(t, "an attempt", func() bool { return len(f.h.attempts(f.app, epID)) == 1 })
	at := f.h.attempts(f.app, epID)[0]
	p := f.signIn(t)
	p.do(chromedp.EmulateViewport(360, 740))
	base := "/portal/app/" + f.app
	for _, path := range []string{"/", "/endpoints/new", "/endpoint/" + epID, "/endpoint/" + epID + "/edit", "/endpoint/" + epID + "/delete",
		"/activity", "/msg/" + msgID, "/msg/" + msgID + "/attempt/" + at.ID, "/event-types"} {
		p.open(base + path)
		if w := eval[float64](p, "document.documentElement.scrollWidth"); w > 360 {
			t.Errorf("%s is %v px wide at 360 px", path, w)
		}
		if unlabelled := eval[string](p, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
			.filter(e => !e.labels.length && !e.getAttribute("aria-label")).map(e => e.name).join(",")`); unlabelled != "" {
			t.Errorf("%s: controls without a label: %s", path, unlabelled)
		}
	}
	p.do(chromedp.KeyEvent("\t"))
	if got := eval[string](p, `document.activeElement.className + " " + getComputedStyle(document.activeElement).outlineStyle`); got != "skip solid" {
		t.Errorf("first Tab focuses %q, want the skip link with a solid outline", got)
	}
	light := eval[string](p, `getComputedStyle(document.body).backgroundColor`)
	p.colorScheme("dark")
	if dark := eval[string](p, `getComputedStyle(document.body).backgroundColor`); dark == light {
		t.Errorf("the dark scheme keeps the background %s", dark)
	}
}

// TestBrowserPortalOnPostgreSQL runs the portal's main path on a replica of
// a PostgreSQL database: sign in, an endpoint through the form, a test
// event and its attempt, the activity.
func TestBrowserPortalOnPostgreSQL(t *testing.T) {
	t.Parallel()
	f := newPortalFixtureOn(t, func(c *config.Config) { c.Database = pgtest.Schema(t) })
	p := f.signIn(t)
	p.click("a.button[href$='/endpoints/new']")
	p.waitText("h1", "New endpoint")
	p.fill("#url", f.receiver.srv.URL+"/pg")
	p.click("#et-invoice\\.paid")
	p.submit("form.card button[type=submit]")
	p.waitText(".flash", "Endpoint created.")
	p.do(setSelect("#test-type", "invoice.paid"))
	p.submit("form[action$='/test'] button")
	p.waitText(".flash", "Test event sent.")
	p.reloadUntil("table.attempts", "200")
	p.open("/portal/app/" + f.app + "/activity?event_type=invoice.paid")
	p.waitText("main tbody", "invoice.paid")
	p.open("/portal/app/" + f.app + "/")
	p.waitText("main table", "100.0 %")
}

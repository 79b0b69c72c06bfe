package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// signInConsole opens the console and signs in with the admin token.
func signInConsole(t *testing.T, h *harness) *page {
	t.Helper()
	p := newPage(t, h.base)
	p.open("/console/")
	p.waitText("h1", "Sign in to the console")
	p.fill("#token", "wrong")
	p.submit("form button")
	p.waitText("#token-error", "not an admin API token")
	p.fill("#token", adminToken)
	p.submit("form button")
	p.waitText("h1", "Overview")
	return p
}

func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	h := f.h
	f.receiver.respond = func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
	epID, _ := h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL + "/down"})
	h.send(f.app, "invoice.paid", `{"n":1}`, nil)
	eventually(t, "failed attempts", func() bool { return len(h.attempts(f.app, epID)) == 3 })

	p := signInConsole(t, h)
	// The overview shows the same numbers as /metrics: three failed
	// attempts so far.
	p.waitText("[data-live=Attempts]", "3")
	// The page polls them: after a second sample the rates cover a window.
	p.waitText("[data-live=Window]", "over the last")

	// The failing endpoint is in the failing view, one click from its
	// failed attempts.
	p.click("nav a[href='/console/failing']")
	p.waitText("h1", "Failing endpoints")
	p.waitText("main table", "/down")
	if !strings.Contains(p.text("main table"), "500") || !strings.Contains(p.text("main table"), "Acme Inc") {
		t.Errorf("failing view: %s", p.text("main"))
	}
	p.click("main table td.url a")
	p.waitText("table.attempts", "500")

	// Applications, searched by name.
	p.open("/console/apps?q=acm")
	p.waitText("main table", "Acme Inc")
	p.click("main table td a")
	p.waitText("h1", "Endpoints")

	// A portal link made in the console signs in to that app's portal.
	p.submit("form[action$='/portal-link'] button")
	p.waitText("h1", "Portal link")
	link := p.text("#portal-link")
	_, fragment, _ := strings.Cut(link, "/portal/#")
	q := newPage(t, h.base)
	q.open(h.base + "/portal/#" + fragment)
	q.waitText("h1", "Endpoints")
	q.waitText("main table", "/down")
	if loc := q.location(); !strings.Contains(loc, "/portal/app/"+f.app+"/") {
		t.Errorf("the console's link led to %s", loc)
	}

	// Event types: a schema that is not JSON is refused beside the field;
	// a good one is saved, and archived.
	p.open("/console/event-types/new")
	p.fill("#name", "order.created")
	p.fill("#description", "An order was placed")
	p.fill("#schemas", `{"1": {"type": "object"`)
	p.submit("form.card button[type=submit]")
	p.waitText("#schemas-error", "not valid JSON")
	p.fill("#schemas", `{"1": []}`)
	p.submit("form.card button[type=submit]")
	p.waitText("#schemas-error", "JSON schema object")
	p.fill("#schemas", `{"1": {"type": "object", "examples": [{"order": "o_1"}]}}`)
	p.submit("form.card button[type=submit]")
	p.waitText("main table", "order.created")
	p.submit("form[action='/console/event-types/order.created/archive'] button")
	p.waitText(".flash", "archived")
	var et struct {
		Archived bool `json:"archived"`
	}
	h.do("GET", "/api/v1/event-type/order.created", nil, 200, &et)
	if !et.Archived {
		t.Error("the event type is not archived")
	}

	// API tokens: created, shown once, usable, revoked.
	p.open("/console/tokens")
	p.fill("#name", "deploy")
	p.submit("form[action='/console/tokens'] button")
	token := p.text("#new-token")
	req, _ := http.NewRequest("GET", h.base+"/api/v1/app", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the new token: %v %v", resp, err)
	}
	resp.Body.Close()
	p.waitText("main table", "deploy")
	p.submit("main table form button")
	p.waitText(".flash", "Token revoked.")

	// Sign out ends the console session.
	p.submit("form.signout button")
	p.waitText("h1", "Sign in to the console")
	p.open("/console/failing")
	p.waitText("h1", "Sign in to the console")
}

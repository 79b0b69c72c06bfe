package server_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestBrowserScreenshots saves the screenshots of the README into the
// directory HERALD_SCREENSHOTS names:
//
//	HERALD_SCREENSHOTS=$PWD/docs go test ./internal/server -run Screenshots
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("HERALD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set HERALD_SCREENSHOTS to a directory to save the README's screenshots")
	}
	f := newPortalFixture(t)
	h := f.h
	down := newReceiver(t)
	down.respond = func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"maintenance"}`)
	}
	billing, _ := h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL + "/webhooks/billing", "description": "Billing service",
		"eventTypes": []string{"invoice.paid"}})
	h.endpoint(f.app, map[string]any{"url": f.receiver.srv.URL + "/webhooks/users", "description": "CRM sync",
		"eventTypes": []string{"user.created"}, "channels": []string{"eu"}})
	failing, _ := h.endpoint(f.app, map[string]any{"url": down.srv.URL + "/hooks", "description": "Data warehouse"})
	// A week of traffic: the clock moves on by hours between sends, so
	// that the charts have a history.
	n := 0
	for step := 0; step < 30; step++ {
		for i := range 1 + step%4 {
			h.send(f.app, "invoice.paid", fmt.Sprintf(`{"invoice":"in_%d","amount":%d}`, n, 1000+n*250), map[string]any{"eventId": fmt.Sprintf("inv-%04d", n)})
			n++
			if i%2 == 0 {
				h.send(f.app, "user.created", fmt.Sprintf(`{"user":"u_%d"}`, n), map[string]any{"channels": []string{"eu"}})
			}
		}
		want := n
		eventually(t, "deliveries", func() bool { return len(h.attempts(f.app, billing)) == min(want, 250) })
		if step < 29 {
			h.clock.Advance(5 * time.Hour)
		}
	}
	p := newPage(t, h.base)
	p.do(chromedpViewport(1280, 1000))
	p.open(h.portalLink(f.app, map[string]any{}))
	p.waitText("h1", "Endpoints")
	shoot := func(path, name string) {
		t.Helper()
		p.open(path)
		p.screenshot(dir, name)
	}
	base := "/portal/app/" + f.app
	shoot(base+"/", "portal-endpoints.png")
	shoot(base+"/endpoint/"+billing, "portal-endpoint.png")
	shoot(base+"/activity", "portal-activity.png")
	p.open(base + "/endpoints/new")
	p.fill("#url", "http://example.com:8080/hooks")
	p.click("#et-invoice\\.paid")
	p.fill("#headers", "Authorization: Bearer s3cret\nX-Tenant acme")
	p.submit("form.card button[type=submit]")
	p.waitText("#headers-error", "Name: value")
	p.screenshot(dir, "portal-endpoint-form.png")
	p.colorScheme("dark")
	shoot(base+"/endpoint/"+failing+"?status=fail", "portal-endpoint-dark.png")
	p.colorScheme("light")
	p.do(chromedpViewport(360, 800))
	shoot(base+"/endpoint/"+billing, "portal-endpoint-360.png")

	c := signInConsole(t, h)
	c.do(chromedpViewport(1280, 800))
	// Some traffic while the page polls (every 2 s), so that the rates
	// have something to show.
	for i := range 200 {
		h.send(f.app, "invoice.paid", fmt.Sprintf(`{"invoice":"in_live_%d"}`, i), nil)
	}
	c.waitFor(`parseFloat(document.querySelector("[data-live=PerSecond]").innerText) > 0`, "a rate")
	c.screenshot(dir, "console-overview.png")
	c.open("/console/failing")
	c.screenshot(dir, "console-failing.png")
}

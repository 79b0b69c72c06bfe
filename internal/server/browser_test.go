package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Herald's portal and console in a real headless
// Chromium (the Debian package). Without it they skip, unless
// HERALD_REQUIRE_BROWSER=1 (as in CI), which makes its absence a failure.

const chromiumPath = "/usr/bin/chromium"

// browser is the one Chromium of this test binary, started on first use;
// each test gets a browser context of its own (its own cookies) in it.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// page is a tab of the browser on a Herald server.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newPage opens a tab in a fresh browser context.
func newPage(t *testing.T, base string) *page {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("HERALD_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HERALD_REQUIRE_BROWSER=1 but there is no Chromium at %s: apt-get install chromium", chromiumPath)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium to run the browser tests)", chromiumPath)
	}
	browser.once.Do(func() {
		dir, err := os.MkdirTemp("", "herald-chromium-")
		if err != nil {
			browser.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(dir), chromedp.WindowSize(1280, 900))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		browser.err = chromedp.Do(ctx)
		browser.ctx = ctx
		browser.cancel = func() { cancel(); cancelAlloc(); os.RemoveAll(dir) }
	})
	if browser.err != nil {
		t.Fatalf("start Chromium: %v", browser.err)
	}
	tab, cancelTab := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelTab() })
	p := &page{t: t, ctx: ctx, base: base}
	p.do(chromedp.EmulateViewport(1280, 900))
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// open goes to path (or an absolute URL) and waits for the page's body.
func (p *page) open(path string) {
	p.t.Helper()
	if strings.HasPrefix(path, "/") {
		path = p.base + path
	}
	p.do(chromedp.Navigate(path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitText waits for the element sel to show want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.innerText.includes(%q); })()`, sel, want),
		fmt.Sprintf("%q in %s", want, sel))
}

// waitFor polls the JavaScript condition cond until it holds, through
// navigations (an evaluation cut by one is tried again), within a deadline.
func (p *page) waitFor(cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			p.t.Fatalf("timed out waiting for %s (last error %v); page: %s", what, err, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eval runs a JavaScript expression.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *page) location() string { return eval[string](p, "location.href") }

// reloadUntil reloads the page until sel shows want, for what the server
// does in the background (a delivery), within a deadline.
func (p *page) reloadUntil(sel, want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.do(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body")))
		if strings.Contains(eval[string](p, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)), want) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %q in %s; page: %s", want, sel, p.text("main"))
		}
	}
}

// click clicks the element sel and waits for the next page when the click
// navigates.
func (p *page) click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// submit clicks a form's button and waits for the page it leads to.
func (p *page) submit(sel string) {
	p.t.Helper()
	before := eval[float64](p, "performance.timeOrigin")
	p.click(sel)
	p.waitFor(fmt.Sprintf(`performance.timeOrigin !== %v && document.readyState === "complete"`, before), "the page after clicking "+sel)
}

func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS(sel), value))
}

// colorScheme emulates prefers-color-scheme.
func (p *page) colorScheme(scheme string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// screenshot saves what the viewport shows as a PNG into dir.
func (p *page) screenshot(dir, name string) {
	p.t.Helper()
	b, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// portalLink asks the API for a portal link to app, on the address the
// server listens on (the test server's public URL names port 0).
func (h *harness) portalLink(app string, body map[string]any) string {
	var out struct {
		URL string `json:"url"`
	}
	h.do("POST", "/api/v1/auth/app-portal-access/"+app, body, 200, &out)
	_, fragment, ok := strings.Cut(out.URL, "/portal/#")
	if !ok {
		h.t.Fatalf("portal link %q", out.URL)
	}
	return h.base + "/portal/#" + fragment
}

// chromedpViewport sizes the page as a device width wide.
func chromedpViewport(width, height int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(width, height)
}

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// okReceiver starts a local endpoint that answers 200 to everything.
func okReceiver(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks"
}

// decode parses a command's --json output.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	return v
}

// eventually runs f until it returns true, failing after a deadline.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

// TestCommandsAgainstServer runs the API commands one after the other
// against a real server, as a user would.
func TestCommandsAgainstServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	e := srv.env()
	hook := okReceiver(t)

	// Event types.
	out := ok(t, e, "event-type", "create", "invoice.paid", "--description", "An invoice was paid",
		"--schema", `{"type":"object","examples":[{"type":"invoice.paid","id":"in_example"}]}`)
	contains(t, out, "Name:          invoice.paid", "An invoice was paid", `"in_example"`)
	ok(t, e, "event-type", "create", "invoice.voided")
	out = ok(t, e, "event-type", "list")
	contains(t, out, "NAME", "invoice.paid", "invoice.voided")
	et := decode[map[string]any](t, ok(t, e, "event-type", "get", "invoice.paid", "--json"))
	if et["name"] != "invoice.paid" || et["schemas"] == nil {
		t.Errorf("event-type get --json = %v", et)
	}
	contains(t, ok(t, e, "event-type", "update", "invoice.voided", "--deprecated"), "Deprecated:    yes")

	// Applications.
	out = ok(t, e, "app", "create", "Acme Inc", "--uid", "acme", "--metadata", "plan=pro")
	contains(t, out, "UID:       acme", "Name:      Acme Inc", "plan=pro")
	app := decode[map[string]any](t, ok(t, e, "app", "create", "Acme Inc", "--uid", "acme", "--get-if-exists", "--json"))
	appID, _ := app["id"].(string)
	if !strings.HasPrefix(appID, "app_") || app["uid"] != "acme" {
		t.Fatalf("app create --json = %v", app)
	}
	ok(t, e, "app", "create", "Globex")
	out = ok(t, e, "app", "list")
	contains(t, out, "ID", "UID", "NAME", appID, "acme", "Acme Inc", "Globex")
	contains(t, ok(t, e, "app", "get", appID), "acme")
	contains(t, ok(t, e, "app", "update", "acme", "--name", "Acme Corporation"), "Acme Corporation", "plan=pro")
	contains(t, ok(t, e, "app", "portal", "acme"), "/portal/#token=hpt_")

	// Endpoints; HERALD_APP names the application from here on.
	e = srv.env("HERALD_APP", "acme")
	out = ok(t, e, "endpoint", "create", hook, "--uid", "main", "--event-type", "invoice.paid", "--description", "main receiver")
	contains(t, out, "UID:          main", "URL:          "+hook, "Event types:  invoice.paid", "Secret:       whsec_")
	ep := decode[map[string]any](t, ok(t, e, "endpoint", "create", hook, "--json"))
	otherEP, _ := ep["id"].(string)
	if !strings.HasPrefix(otherEP, "ep_") {
		t.Fatalf("endpoint create --json = %v", ep)
	}
	contains(t, ok(t, e, "endpoint", "list"), "main", otherEP, "invoice.paid")
	got := decode[map[string]any](t, ok(t, e, "endpoint", "get", "main", "--json"))
	mainEP, _ := got["id"].(string)
	if got["uid"] != "main" || got["description"] != "main receiver" {
		t.Errorf("endpoint get --json = %v", got)
	}
	contains(t, ok(t, e, "endpoint", "update", "main", "--description", "primary"), "Description:  primary", "Event types:  invoice.paid")

	// Headers.
	out = ok(t, e, "endpoint", "headers", "main", "--set", "X-Tenant=acme", "--set", "Authorization=Bearer s3cret")
	contains(t, out, "X-Tenant", "acme", "Authorization  (sensitive, not shown)")
	if strings.Contains(out, "s3cret") {
		t.Errorf("a sensitive header value was shown:\n%s", out)
	}
	out = ok(t, e, "endpoint", "headers", "main", "--unset", "X-Tenant")
	if strings.Contains(out, "X-Tenant") {
		t.Errorf("X-Tenant still set after --unset:\n%s", out)
	}
	contains(t, ok(t, e, "endpoint", "headers", "main", "--replace"), "No custom headers.")
	h := decode[map[string]any](t, ok(t, e, "endpoint", "headers", "main", "--json"))
	if _, ok := h["headers"]; !ok {
		t.Errorf("headers --json = %v", h)
	}

	// Secrets.
	secret := strings.TrimSpace(ok(t, e, "endpoint", "secret", "main"))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("endpoint secret = %q", secret)
	}
	rotated := strings.TrimSpace(ok(t, e, "endpoint", "rotate-secret", "main", "--grace-period", "1h"))
	if !strings.HasPrefix(rotated, "whsec_") || rotated == secret {
		t.Errorf("rotate-secret printed %q, want a new whsec_ secret (old %q)", rotated, secret)
	}
	given := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if got := strings.TrimSpace(ok(t, e, "endpoint", "rotate-secret", "main", "--key", given, "--grace-period", "0s")); got != given {
		t.Errorf("rotate-secret --key printed %q, want %q", got, given)
	}
	sj := decode[map[string]string](t, ok(t, e, "endpoint", "secret", "main", "--json"))
	if sj["key"] != given {
		t.Errorf("secret --json = %v", sj)
	}

	// Messages.
	out = ok(t, e, "send", "--type", "invoice.paid", "--data", `{"type":"invoice.paid","id":"in_1"}`, "--event-id", "in_1")
	contains(t, out, "Event type:    invoice.paid", "Event ID:      in_1", `"id": "in_1"`)
	msgID := regexp.MustCompile(`msg_\w+`).FindString(out)
	file := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(file, []byte(`{"type":"invoice.voided","id":"in_2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := decode[map[string]any](t, ok(t, e, "msg", "create", "--type", "invoice.voided", "--data", "@"+file, "--json"))
	if m2["eventType"] != "invoice.voided" {
		t.Errorf("msg create --json = %v", m2)
	}
	r := runIn(t, e, strings.NewReader(`{"from":"stdin"}`), "send", "--type", "test.stdin", "--data", "@-")
	if r.err != nil || !strings.Contains(r.stdout, `"from": "stdin"`) {
		t.Errorf("send --data @-: %v\n%s", r.err, r.stdout)
	}
	out = ok(t, e, "msg", "list")
	contains(t, out, msgID, "invoice.paid", "invoice.voided", "test.stdin", "in_1")
	out = ok(t, e, "msg", "list", "--event-type", "invoice.paid")
	if strings.Contains(out, "invoice.voided") {
		t.Errorf("msg list --event-type invoice.paid shows other types:\n%s", out)
	}
	contains(t, ok(t, e, "msg", "get", "in_1"), msgID, `"type": "invoice.paid"`)

	// Scheduled, tagged and ordered messages; a FIFO endpoint.
	out = ok(t, e, "send", "--type", "trial.ending", "--data", `{}`, "--deliver-at", "2h", "--tag", "eu", "--tag", "vip", "--ordering-key", "o_1")
	contains(t, out, "Tags:          eu,vip", "Ordering key:  o_1", "Deliver at:    20")
	scheduled := regexp.MustCompile(`msg_\w+`).FindString(out)
	out = ok(t, e, "msg", "list", "--tag", "vip")
	if !strings.Contains(out, scheduled) || strings.Contains(out, msgID) {
		t.Errorf("msg list --tag vip:\n%s", out)
	}
	contains(t, ok(t, e, "msg", "cancel", scheduled), "(canceled)")
	contains(t, fails(t, e, "msg", "cancel", msgID), "409", "not_scheduled")
	contains(t, ok(t, e, "endpoint", "create", hook, "--uid", "ordered", "--ordering", "fifo"), "Ordering:     fifo")
	contains(t, ok(t, e, "endpoint", "update", "ordered", "--ordering", "none"), "Ordering:     none")

	// Attempts: the endpoint receives the message.
	var attempts map[string]any
	eventually(t, "an attempt of "+msgID, func() bool {
		attempts = decode[map[string]any](t, ok(t, e, "attempt", "list", "--msg", msgID, "--endpoint", "main", "--json"))
		data, _ := attempts["data"].([]any)
		return len(data) > 0
	})
	first := attempts["data"].([]any)[0].(map[string]any)
	attemptID, _ := first["id"].(string)
	if first["status"] != float64(0) || first["endpointId"] != mainEP || first["responseStatusCode"] != float64(200) {
		t.Errorf("attempt = %v", first)
	}
	contains(t, ok(t, e, "attempt", "list", "--endpoint", "main"), attemptID, "success", "200", "scheduled")
	contains(t, ok(t, e, "attempt", "list", "--endpoint", "main", "--status", "success"), attemptID)
	contains(t, ok(t, e, "attempt", "get", "--msg", msgID, attemptID), "Status:         success", `"ok": true`)
	contains(t, ok(t, e, "attempt", "resend", "--msg", msgID, "--endpoint", "main"), "Queued "+msgID)
	eventually(t, "the manual attempt", func() bool {
		return strings.Contains(ok(t, e, "attempt", "list", "--msg", msgID), "manual")
	})

	// Test message, stats, recovery.
	out = ok(t, e, "endpoint", "test", "main")
	contains(t, out, "Event type:    svix.ping")
	out = ok(t, e, "endpoint", "test", "main", "--event-type", "invoice.paid", "--json")
	if decode[map[string]any](t, out)["eventType"] != "invoice.paid" {
		t.Errorf("endpoint test --json = %s", out)
	}
	contains(t, ok(t, e, "endpoint", "stats", "main", "--since", "1h"), "Success:", "Fail:")
	st := decode[map[string]any](t, ok(t, e, "endpoint", "stats", "main", "--json"))
	if n, _ := st["success"].(float64); n < 1 {
		t.Errorf("stats --json = %v, want a success", st)
	}
	contains(t, ok(t, e, "endpoint", "recover", "main", "--since", "2h"), "task qtask_")

	// Deleting.
	contains(t, ok(t, e, "endpoint", "delete", otherEP), "Deleted endpoint "+otherEP)
	if out := ok(t, e, "endpoint", "list"); strings.Contains(out, otherEP) {
		t.Errorf("deleted endpoint still listed:\n%s", out)
	}
	contains(t, ok(t, e, "event-type", "delete", "invoice.voided"), "Archived event type invoice.voided")
	if out := ok(t, e, "event-type", "list"); strings.Contains(out, "invoice.voided") {
		t.Errorf("archived event type still listed:\n%s", out)
	}
	contains(t, ok(t, e, "event-type", "list", "--include-archived"), "invoice.voided")
	contains(t, ok(t, e, "event-type", "delete", "invoice.voided", "--expunge"), "Deleted event type")
	contains(t, ok(t, e, "app", "delete", "acme"), "Deleted application acme")
	msg := fails(t, e, "app", "get", "acme")
	contains(t, msg, "server error 404 not_found")
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	e := srv.env()

	t.Run("401", func(t *testing.T) {
		msg := fails(t, srv.env("HERALD_TOKEN", "hsk_wrong"), "app", "list")
		contains(t, msg, "refused the API token", "authentication_failed", "herald serve", "herald token create", "HERALD_TOKEN")
		// --token wins over HERALD_TOKEN.
		ok(t, srv.env("HERALD_TOKEN", "hsk_wrong"), "app", "list", "--token", srv.Token)
	})
	t.Run("no_token", func(t *testing.T) {
		msg := fails(t, env("HERALD_URL", srv.URL), "app", "list")
		contains(t, msg, "no API token", "herald token create")
	})
	t.Run("404", func(t *testing.T) {
		contains(t, fails(t, e, "app", "get", "nope"), "server error 404 not_found: Entity not found")
		contains(t, fails(t, e, "endpoint", "get", "--app", "nope", "ep_x"), "404")
	})
	t.Run("422", func(t *testing.T) {
		ok(t, e, "app", "create", "A", "--uid", "a422")
		msg := fails(t, e, "endpoint", "create", "--app", "a422", "ftp://example.com/", "--event-type", "no.such.type")
		contains(t, msg, "the server rejected the request (422 validation_error):", "\n  url: URL scheme \"ftp\" is not supported; use https or http")
	})
	t.Run("409", func(t *testing.T) {
		ok(t, e, "app", "create", "B", "--uid", "b409")
		contains(t, fails(t, e, "app", "create", "B", "--uid", "b409"), "409 conflict")
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		msg := fails(t, env("HERALD_TOKEN", "x"), "app", "list", "--url", "http://"+addr)
		contains(t, msg, "no Herald server answered at http://"+addr, "connection refused", "herald serve")
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"endpoint", "list"},   // no --app
			{"send", "--app", "x"}, // no --type
			{"send", "--app", "x", "--type", "t", "--data", "{bad"},
			{"app", "get"},                    // no APP
			{"app", "update", "acme"},         // nothing to change
			{"attempt", "list", "--app", "x"}, // neither --endpoint nor --msg
			{"app", "list", "--limit", "1000"},
			{"endpoint", "stats", "--app", "x", "main", "--since", "yesterday"},
			{"send", "--app", "x", "--type", "t", "--data", "{}", "--deliver-at", "tomorrow"},
			{"app", "frobnicate"},
		} {
			r := run(t, e, args...)
			var ue *UsageError
			if r.err == nil || !errors.As(r.err, &ue) {
				t.Errorf("herald %s: err = %v, want a usage error", strings.Join(args, " "), r.err)
			}
		}
	})
}

// TestListAllAndJSON checks paging: a page with a hint for more, --all, and
// --json output of both.
func TestListAllAndJSON(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	e := srv.env()
	for _, name := range []string{"one", "two", "three", "four", "five"} {
		ok(t, e, "app", "create", name, "--uid", name)
	}
	r := run(t, e, "app", "list", "--limit", "2")
	if r.err != nil || strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stderr, "--iterator app_") {
		t.Errorf("app list --limit 2: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	page := decode[map[string]any](t, ok(t, e, "app", "list", "--limit", "2", "--json"))
	if len(page["data"].([]any)) != 2 || page["done"] != false || page["iterator"] == nil {
		t.Errorf("page = %v", page)
	}
	next := ok(t, e, "app", "list", "--limit", "2", "--iterator", page["iterator"].(string))
	contains(t, next, "three", "four")
	all := decode[map[string]any](t, ok(t, e, "app", "list", "--limit", "2", "--all", "--json"))
	var uids []string
	for _, a := range all["data"].([]any) {
		uids = append(uids, a.(map[string]any)["uid"].(string))
	}
	if strings.Join(uids, ",") != "one,two,three,four,five" || all["done"] != true {
		t.Errorf("--all --json = %v", all)
	}
	out := ok(t, e, "app", "list", "--limit", "2", "--all")
	contains(t, out, "one", "five")
	r = run(t, e, "endpoint", "list", "--app", "one")
	if r.err != nil || r.stdout != "" || !strings.Contains(r.stderr, "No endpoints.") {
		t.Errorf("empty list: %v %q %q", r.err, r.stdout, r.stderr)
	}
}

// TestCompletion checks the shell completion script and dynamic
// completion of application ids from the server.
func TestCompletion(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	e := srv.env()
	ok(t, e, "app", "create", "Acme Inc", "--uid", "acme")
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if out := ok(t, e, "completion", shell); !strings.Contains(out, "herald") {
			t.Errorf("completion %s: no script", shell)
		}
	}
	out := ok(t, e, "__complete", "endpoint", "")
	contains(t, out, "create", "rotate-secret", "headers", "test")
	out = ok(t, e, "__complete", "app", "get", "")
	contains(t, out, "acme\tAcme Inc")
	out = ok(t, e, "__complete", "endpoint", "list", "--app", "")
	contains(t, out, "acme")
	ok(t, e, "endpoint", "create", "--app", "acme", "https://acme.example.com/hook", "--disabled")
	out = ok(t, e, "__complete", "endpoint", "get", "--app", "acme", "")
	contains(t, out, "ep_", "\thttps://acme.example.com/hook")
	ok(t, e, "event-type", "create", "invoice.paid")
	contains(t, ok(t, e, "__complete", "send", "--type", "inv"), "invoice.paid")
}

// TestServerDeliversToListen is the receiver's two-minute path end to end:
// a real server delivers to `herald listen --secret`, which verifies it.
func TestServerDeliversToListen(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	e := srv.env("HERALD_APP", "shop")
	ok(t, e, "app", "create", "Shop", "--uid", "shop")
	// The endpoint is created first, to learn its secret; listen starts
	// after, on the port the endpoint was given.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ok(t, e, "endpoint", "create", "http://"+addr+"/", "--uid", "local")
	secret := strings.TrimSpace(ok(t, e, "endpoint", "secret", "local"))

	l := startListenAt(t, addr, "--secret", secret, "--json")
	out := ok(t, e, "send", "--type", "order.created", "--data", `{"type":"order.created","order":{"id":42}}`, "--json")
	msgID := decode[map[string]any](t, out)["id"].(string)
	l.stdout.waitFor(t, msgID)
	line := l.onlyLine(t)
	if line["verified"] != true || line["id"] != msgID || line["event_type"] != "order.created" || line["status"] != float64(200) {
		t.Errorf("line = %v", line)
	}
	eventually(t, "the successful attempt", func() bool {
		return strings.Contains(ok(t, e, "attempt", "list", "--endpoint", "local"), "success")
	})
}

// startListenAt is startListen on a given address.
func startListenAt(t *testing.T, addr string, args ...string) *listener {
	t.Helper()
	return startListen(t, append(args, "--listen", addr)...)
}

// TestMisspelledSubcommand checks that a misspelled command fails as a
// usage error (exit 2) with the commands it may have meant, in every group
// as at the root.
func TestMisspelledSubcommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"aps"}, "\tapp"},
		{[]string{"app", "lst"}, "\tlist"},
		{[]string{"token", "lst"}, "\tlist"},
		{[]string{"endpoint", "creat"}, "\tcreate"},
		{[]string{"event-type", "udpate"}, "\tupdate"},
		{[]string{"msg", "gte"}, "\tget"},
		{[]string{"attempt", "resnd"}, "\tresend"},
		{[]string{"completion", "bsh"}, "\tbash"},
	} {
		r := run(t, env(), tc.args...)
		var ue *UsageError
		if !errors.As(r.err, &ue) {
			t.Errorf("herald %s: err = %v, stdout %q; want a usage error", strings.Join(tc.args, " "), r.err, r.stdout)
			continue
		}
		contains(t, r.err.Error(), fmt.Sprintf("unknown command %q", tc.args[len(tc.args)-1]), "Did you mean this?\n", tc.want+"\n")
		if tc.args[0] == "app" && strings.Contains(r.err.Error(), "\tget") {
			t.Errorf("herald app lst suggests get as well as list: %v", r.err)
		}
	}
	// Nothing close: no suggestion, still an error.
	r := run(t, env(), "app", "frobnicate")
	if r.err == nil || strings.Contains(r.err.Error(), "Did you mean") {
		t.Errorf("herald app frobnicate: %v", r.err)
	}
}

// TestWrongURL points the API commands at things that are not Herald's API:
// each error says what answered at --url and where the API was expected; a
// --url ending in /api/v1, as the API's own URLs are written, works.
func TestWrongURL(t *testing.T) {
	t.Parallel()
	html := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<!DOCTYPE html>\n<html><body>Welcome to nginx!</body></html>"))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	// A server that takes connections and closes them unanswered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closing := "http://" + ln.Addr().String()

	for _, tc := range []struct {
		name, url, what string
	}{
		{"html_404", html(http.StatusNotFound), `404 Not Found: "<!DOCTYPE html>"`},
		{"html_200", html(http.StatusOK), "an answer that is not the JSON of Herald's API"},
		{"html_401", html(http.StatusUnauthorized), "401 Unauthorized"},
		{"eof", closing, "the connection closed without an HTTP answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := fails(t, env("HERALD_TOKEN", "hsk_x"), "app", "list", "--url", tc.url)
			contains(t, msg, tc.url+" answered, but not as a Herald server: "+tc.what,
				"Herald's API was expected at "+tc.url+"/api/v1/", "--url")
			if strings.Contains(msg, "refused the API token") {
				t.Errorf("a page that is not Herald's is taken for Herald refusing the token:\n%s", msg)
			}
		})
	}

	srv := startServer(t)
	ok(t, srv.env(), "app", "create", "Acme", "--uid", "acme")
	for _, u := range []string{srv.URL + "/api/v1", srv.URL + "/api/v1/"} {
		contains(t, ok(t, srv.env("HERALD_URL", u), "app", "list"), "acme")
		contains(t, ok(t, srv.env(), "app", "get", "acme", "--url", u), "acme")
	}
}

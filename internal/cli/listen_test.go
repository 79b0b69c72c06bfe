package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/heraldhq/herald/webhook"
)

// testSecret is vector A's secret of the Standard Webhooks test vectors.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// listener is a running `herald listen`.
type listener struct {
	url    string // http://127.0.0.1:port
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

var listenAddr = regexp.MustCompile(`listening on (http://[^/\s]+)/`)

// startListen runs `herald listen --listen 127.0.0.1:0 args...` until the
// test ends, and waits for the address it prints.
func startListen(t *testing.T, args ...string) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	argv := append([]string{"listen", "--listen", "127.0.0.1:0"}, args...)
	go func() {
		l.done <- Main(ctx, argv, Streams{Stdin: strings.NewReader(""), Stdout: l.stdout, Stderr: l.stderr, Getenv: env()})
	}()
	t.Cleanup(func() { l.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listenAddr.FindStringSubmatch(l.stderr.String()); m != nil {
			l.url = m[1]
			return l
		}
		select {
		case err := <-l.done:
			t.Fatalf("herald listen exited: %v\nstderr:\n%s", err, l.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald listen printed no address:\n%s", l.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels the listener's context and checks that it returns cleanly.
func (l *listener) stop(t *testing.T) {
	t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("herald listen returned %v after the context was canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("herald listen did not stop after the context was canceled")
	}
}

// post sends a request to the listener and returns the status and body.
func (l *listener) post(t *testing.T, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// jsonLines decodes the JSON lines printed so far.
func (l *listener) jsonLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// lastLine returns the one JSON line printed so far, failing unless there
// is exactly one.
func (l *listener) onlyLine(t *testing.T) map[string]any {
	t.Helper()
	lines := l.jsonLines(t)
	if len(lines) != 1 {
		t.Fatalf("got %d JSON lines, want 1:\n%s", len(lines), l.stdout.String())
	}
	return lines[0]
}

// signHerald signs with the project's webhook package (webhook-* headers).
func signHerald(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	h := http.Header{}
	signer := &webhook.Signer{Secrets: []webhook.Secret{webhook.MustParseSecret(secret)}}
	if err := signer.SetHeaders(h, id, ts, body); err != nil {
		t.Fatal(err)
	}
	return h
}

// signSvix signs with the Svix Go SDK, an independent implementation, and
// sets the svix-* headers as the Svix server does.
func signSvix(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("svix-id", id)
	h.Set("svix-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("svix-signature", sig)
	return h
}

// signSvixStandard signs with the Svix SDK and sets the webhook-* headers.
func signSvixStandard(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	s := signSvix(t, secret, id, ts, body)
	h := http.Header{}
	h.Set("webhook-id", s.Get("svix-id"))
	h.Set("webhook-timestamp", s.Get("svix-timestamp"))
	h.Set("webhook-signature", s.Get("svix-signature"))
	return h
}

type signFunc func(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header

var signers = []struct {
	name string
	sign signFunc
}{
	{"herald", signHerald},
	{"svix_sdk", signSvix},
	{"svix_sdk_webhook_headers", signSvixStandard},
}

func TestListenVerifies(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1","amount":4200}}`)
	for _, s := range signers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			l := startListen(t, "--secret", testSecret, "--json")
			status, resp := l.post(t, s.sign(t, testSecret, "msg_verified", time.Now(), body), body)
			if status != http.StatusOK {
				t.Fatalf("status %d %q, want 200", status, resp)
			}
			line := l.onlyLine(t)
			if line["verified"] != true || line["result"] != "verified" || line["id"] != "msg_verified" ||
				line["event_type"] != "invoice.paid" || line["status"] != float64(200) {
				t.Errorf("line = %v", line)
			}
		})
	}
}

func TestListenRejects(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid"}`)
	otherSecret, err := webhook.NewHMACSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		tests := []struct {
			name   string
			header http.Header
			send   []byte
			reason string
		}{
			{"bad_signature", s.sign(t, otherSecret, "msg_1", time.Now(), body), body, "no matching signature"},
			{"changed_body", s.sign(t, testSecret, "msg_1", time.Now(), body), []byte(`{"type":"invoice.paid" }`), "no matching signature"},
			{"stale_timestamp", s.sign(t, testSecret, "msg_1", time.Now().Add(-10*time.Minute), body), body, "timestamp too old"},
			{"future_timestamp", s.sign(t, testSecret, "msg_1", time.Now().Add(10*time.Minute), body), body, "timestamp too new"},
			{"missing_headers", http.Header{}, body, "missing webhook-id"},
		}
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				l := startListen(t, "--secret", testSecret, "--json")
				status, resp := l.post(t, tt.header, tt.send)
				if status != http.StatusUnauthorized || !strings.Contains(resp, tt.reason) {
					t.Errorf("answer %d %q, want 401 with %q", status, resp, tt.reason)
				}
				line := l.onlyLine(t)
				if line["verified"] != false || line["result"] != "rejected" || line["status"] != float64(401) ||
					!strings.Contains(line["reason"].(string), tt.reason) {
					t.Errorf("line = %v", line)
				}
				if line["payload"] == nil {
					t.Errorf("rejected request's payload not shown: %v", line)
				}
			})
		}
	}
}

func TestListenWithoutSecretShowsUnverified(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--json")
	if !strings.Contains(l.stderr.String(), "NOT verifying") {
		t.Errorf("stderr does not say requests are not verified:\n%s", l.stderr.String())
	}
	body := []byte(`{"type":"order.created"}`)
	status, _ := l.post(t, signSvix(t, testSecret, "msg_unverified", time.Now(), body), body)
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	line := l.onlyLine(t)
	if line["verified"] != false || line["result"] != "unverified" || line["id"] != "msg_unverified" {
		t.Errorf("line = %v", line)
	}
}

func TestListenStatus(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--secret", testSecret, "--status", "500", "--json")
	body := []byte(`{"type":"invoice.paid"}`)
	status, resp := l.post(t, signHerald(t, testSecret, "msg_fail", time.Now(), body), body)
	if status != http.StatusInternalServerError || !strings.Contains(resp, "--status") {
		t.Errorf("answer %d %q, want 500 saying it is --status", status, resp)
	}
	if line := l.onlyLine(t); line["status"] != float64(500) || line["verified"] != true {
		t.Errorf("line = %v", line)
	}
}

// TestListenJSONLine pins the shape of a --json line.
func TestListenJSONLine(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--secret", testSecret, "--json")
	body := []byte(`{"type":"invoice.paid","data":{"amount":4200,"currency":"EUR"}}`)
	ts := time.Now().Truncate(time.Second)
	h := signHerald(t, testSecret, "msg_shape", ts, body)
	h.Set("X-Custom", "yes")
	l.post(t, h, body)

	var line struct {
		ID          string              `json:"id"`
		Timestamp   time.Time           `json:"timestamp"`
		ReceivedAt  time.Time           `json:"received_at"`
		Verified    bool                `json:"verified"`
		Result      string              `json:"result"`
		EventType   string              `json:"event_type"`
		Method      string              `json:"method"`
		Path        string              `json:"path"`
		Status      int                 `json:"status"`
		Headers     map[string][]string `json:"headers"`
		Payload     json.RawMessage     `json:"payload"`
		InvalidJSON bool                `json:"invalid_json"`
	}
	out := l.stdout.String()
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one line, got:\n%s", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&line); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if line.ID != "msg_shape" || !line.Timestamp.Equal(ts) || line.ReceivedAt.IsZero() || !line.Verified ||
		line.Result != "verified" || line.EventType != "invoice.paid" || line.Method != "POST" || line.Path != "/" ||
		line.Status != 200 || line.InvalidJSON || line.Headers["X-Custom"][0] != "yes" {
		t.Errorf("line = %+v", line)
	}
	if string(line.Payload) != string(body) {
		t.Errorf("payload = %s, want %s", line.Payload, body)
	}
	for _, key := range []string{`"id":`, `"timestamp":`, `"verified":`, `"event_type":`, `"payload":`} {
		if !strings.Contains(out, key) {
			t.Errorf("line has no %s key: %s", key, out)
		}
	}
}

func TestListenBadJSONShownRaw(t *testing.T) {
	t.Parallel()
	body := []byte("not json at all {")
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		l := startListen(t, "--secret", testSecret, "--json")
		status, _ := l.post(t, signHerald(t, testSecret, "msg_raw", time.Now(), body), body)
		if status != http.StatusOK {
			t.Errorf("status %d, want 200: a signed body is accepted whatever it holds", status)
		}
		line := l.onlyLine(t)
		if line["payload"] != string(body) || line["invalid_json"] != true || line["verified"] != true {
			t.Errorf("line = %v", line)
		}
		if _, ok := line["event_type"]; ok {
			t.Errorf("event_type set for a body that is not JSON: %v", line)
		}
	})
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		l := startListen(t, "--secret", testSecret)
		l.post(t, signHerald(t, testSecret, "msg_raw", time.Now(), body), body)
		out := l.stdout.waitFor(t, "msg_raw")
		if !strings.Contains(out, "(not JSON)\nnot json at all {\n") {
			t.Errorf("raw body not shown:\n%s", out)
		}
	})
}

// TestListenHumanOutput checks the text output: time, id, verification
// result and the pretty-printed payload.
func TestListenHumanOutput(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--secret", testSecret)
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	l.post(t, signSvix(t, testSecret, "msg_human", time.Now(), body), body)
	l.post(t, http.Header{}, body)
	out := l.stdout.String()
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  msg_human  verified  invoice.paid  POST /  -> 200$`)
	if !line.MatchString(out) {
		t.Errorf("no summary line for the verified request:\n%s", out)
	}
	pretty := "{\n  \"type\": \"invoice.paid\",\n  \"data\": {\n    \"id\": \"in_1\"\n  }\n}\n"
	if !strings.Contains(out, pretty) {
		t.Errorf("payload not pretty-printed:\n%s", out)
	}
	if !strings.Contains(out, "  -  REJECTED (missing webhook-id, webhook-timestamp or webhook-signature header)") ||
		!strings.Contains(out, "-> 401") {
		t.Errorf("rejected request not shown as rejected:\n%s", out)
	}
}

// TestListenForward checks that --forward-to relays the method, headers and
// body byte for byte, and answers with the application's status, headers
// and body.
func TestListenForward(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri string
		header      http.Header
		body        []byte
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Header.Clone(), b})
		mu.Unlock()
		w.Header().Set("X-App", "local")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created by the app")
	}))
	t.Cleanup(app.Close)

	l := startListen(t, "--secret", testSecret, "--forward-to", app.URL, "--json")
	// Not JSON, with odd bytes and spacing, to show nothing re-encodes it.
	body := []byte("{\"type\": \"invoice.paid\",   \"x\":\"\u00e9\"}\n\x00\xff tail")
	h := signSvix(t, testSecret, "msg_fwd", time.Now(), body)
	h.Add("X-Multi", "one")
	h.Add("X-Multi", "two")
	h.Set("User-Agent", "Herald/test")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, l.url+"/hooks/billing?src=herald", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	// A client that adds no Accept-Encoding of its own, to check that
	// herald listen adds none either.
	sender := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer sender.CloseIdleConnections()
	resp, err := sender.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(respBody) != "created by the app" || resp.Header.Get("X-App") != "local" {
		t.Errorf("answer %d %v %q, want the app's 201", resp.StatusCode, resp.Header, respBody)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("app got %d requests, want 1", len(got))
	}
	g := got[0]
	if g.method != http.MethodPut || g.uri != "/hooks/billing?src=herald" {
		t.Errorf("app got %s %s, want PUT /hooks/billing?src=herald", g.method, g.uri)
	}
	if !bytes.Equal(g.body, body) {
		t.Errorf("app got body %q, want %q", g.body, body)
	}
	for _, k := range []string{"Svix-Id", "Svix-Timestamp", "Svix-Signature", "User-Agent"} {
		if g.header.Get(k) != h.Get(k) {
			t.Errorf("app got %s %q, want %q", k, g.header.Get(k), h.Get(k))
		}
	}
	if m := g.header.Values("X-Multi"); len(m) != 2 || m[0] != "one" || m[1] != "two" {
		t.Errorf("app got X-Multi %q, want [one two]", m)
	}
	if ae := g.header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("app got Accept-Encoding %q the sender did not send", ae)
	}
	// The app can verify the relayed request itself.
	if err := webhook.NewVerifier(webhook.MustParseSecret(testSecret)).Verify(g.header, g.body); err != nil {
		t.Errorf("relayed request does not verify: %v", err)
	}
	line := l.onlyLine(t)
	if line["status"] != float64(201) || line["forwarded_to"] != app.URL+"/hooks/billing?src=herald" ||
		line["verified"] != true || line["invalid_json"] != true {
		t.Errorf("line = %v", line)
	}
}

// TestListenForwardRejectsFirst checks that a request failing verification
// is not relayed.
func TestListenForwardRejectsFirst(t *testing.T) {
	t.Parallel()
	var hits int
	var mu sync.Mutex
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	t.Cleanup(app.Close)
	l := startListen(t, "--secret", testSecret, "--forward-to", app.URL+"/webhook")
	status, _ := l.post(t, http.Header{}, []byte(`{}`))
	if status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("a rejected request reached the app")
	}
}

func TestListenForwardUnreachable(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.NotFoundHandler())
	app.Close() // nothing listens there now
	l := startListen(t, "--forward-to", app.URL, "--json")
	status, resp := l.post(t, http.Header{}, []byte(`{}`))
	if status != http.StatusBadGateway || !strings.Contains(resp, "forward failed") {
		t.Errorf("answer %d %q, want 502 forward failed", status, resp)
	}
	if line := l.onlyLine(t); line["status"] != float64(502) {
		t.Errorf("line = %v", line)
	}
}

func TestListenUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--secret", "whsec_short"}, "--secret"},
		{[]string{"--status", "99"}, "--status 99"},
		{[]string{"--status", "500", "--forward-to", "http://127.0.0.1:1/"}, "cannot be used together"},
		{[]string{"--forward-to", "localhost:3000"}, "--forward-to"},
		{[]string{"--listen", "256.0.0.1:x"}, "listen on"},
	}
	for _, tt := range tests {
		r := run(t, env(), append([]string{"listen"}, tt.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("listen %v: err = %v, want %q", tt.args, r.err, tt.want)
		}
	}
}

// TestListenRotation checks that several --secret flags are all accepted,
// as during a key rotation.
func TestListenRotation(t *testing.T) {
	t.Parallel()
	newSecret, err := webhook.NewHMACSecret()
	if err != nil {
		t.Fatal(err)
	}
	l := startListen(t, "--secret", testSecret, "--secret", newSecret, "--json")
	body := []byte(`{}`)
	for _, sec := range []string{testSecret, newSecret} {
		if status, resp := l.post(t, signSvix(t, sec, "msg_rot", time.Now(), body), body); status != 200 {
			t.Errorf("signed with one of the secrets: %d %q", status, resp)
		}
	}
}

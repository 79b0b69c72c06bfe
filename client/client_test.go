package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
)

// apiError returns err as an *client.Error, failing the test otherwise.
func apiError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *client.Error", err, err)
	}
	return e
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"http://127.0.0.1:8071", "http://127.0.0.1:8071"},
		{"http://127.0.0.1:8071/", "http://127.0.0.1:8071"},
		{"127.0.0.1:8071", "http://127.0.0.1:8071"},
		{"https://herald.example.com/base/", "https://herald.example.com/base"},
		{" localhost:8071 ", "http://localhost:8071"},
		{"", ""},
		{"ftp://herald.example.com", ""},
		{"http://", ""},
		{"http://herald.example.com/?x=1", ""},
	}
	for _, tt := range tests {
		c, err := client.New(tt.in, "t")
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("New(%q) = %s, want an error", tt.in, c.BaseURL())
		case tt.want != "" && err != nil:
			t.Errorf("New(%q): %v", tt.in, err)
		case tt.want != "" && c.BaseURL() != tt.want:
			t.Errorf("New(%q).BaseURL() = %q, want %q", tt.in, c.BaseURL(), tt.want)
		}
	}
}

// TestRequests checks what the client sends: path, escaping, headers, the
// body only when there is one, and the query encodings.
func TestRequests(t *testing.T) {
	t.Parallel()
	type req struct {
		method, uri string
		header      http.Header
		body        string
	}
	var (
		mu   sync.Mutex
		reqs []req
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, req{r.Method, r.RequestURI, r.Header.Clone(), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[],"iterator":null,"done":true}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/prefix", "hsk_secret", client.WithUserAgent("test-agent"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	before := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", 3600))
	fail := client.StatusFail
	class := 500
	calls := []func() error{
		func() error { _, err := c.GetApp(ctx, "my app/1"); return err },
		func() error {
			_, err := c.ListMessages(ctx, "acme", &client.ListMessagesOptions{
				ListOptions: client.ListOptions{Limit: 10, Iterator: "msg_x"},
				EventTypes:  []string{"a.b", "c"}, Channel: "eu", Before: before, WithoutContent: true,
			})
			return err
		},
		func() error {
			_, err := c.ListAttemptsByMessage(ctx, "acme", "msg_1", &client.ListAttemptsOptions{
				Status: &fail, StatusCodeClass: &class, EndpointID: "main"})
			return err
		},
		func() error { return c.ResendMessage(ctx, "acme", "msg_1", "main") },
		func() error { _, err := c.ListApps(ctx, &client.ListOptions{Order: client.Descending}); return err },
		func() error { return c.DeleteEventType(ctx, "a.b", true) },
		func() error { _, err := c.CreateApp(ctx, client.AppIn{Name: "A"}); return err },
		func() error {
			_, err := c.CreateMessage(ctx, "acme", client.MessageIn{EventType: "t", Payload: json.RawMessage(" {\"b\":  1,\"a\":2}\n")})
			return err
		},
		func() error {
			_, err := c.CreateMessage(ctx, "acme", client.MessageIn{EventType: "t"})
			return err
		},
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []struct{ method, uri, body string }{
		{"GET", "/prefix/api/v1/app/my%20app%2F1", ""},
		{"GET", "/prefix/api/v1/app/acme/msg?before=2024-05-06T07%3A08%3A09.123456789%2B01%3A00&channel=eu&event_types=a.b&event_types=c&iterator=msg_x&limit=10&with_content=false", ""},
		{"GET", "/prefix/api/v1/app/acme/attempt/msg/msg_1?endpoint_id=main&status=2&status_code_class=500", ""},
		{"POST", "/prefix/api/v1/app/acme/msg/msg_1/endpoint/main/resend", ""},
		{"GET", "/prefix/api/v1/app?order=descending", ""},
		{"DELETE", "/prefix/api/v1/event-type/a.b?expunge=true", ""},
		{"POST", "/prefix/api/v1/app", `{"name":"A"}`},
		{"POST", "/prefix/api/v1/app/acme/msg", `{"payload":{"b":  1,"a":2},"eventType":"t"}`},
		{"POST", "/prefix/api/v1/app/acme/msg", `{"eventType":"t"}`},
	}
	mu.Lock()
	defer mu.Unlock()
	for i, w := range want {
		g := reqs[i]
		if g.method != w.method || g.uri != w.uri || g.body != w.body {
			t.Errorf("request %d = %s %s %q, want %s %s %q", i, g.method, g.uri, g.body, w.method, w.uri, w.body)
		}
		if g.header.Get("Authorization") != "Bearer hsk_secret" || g.header.Get("User-Agent") != "test-agent" ||
			g.header.Get("Accept") != "application/json" {
			t.Errorf("request %d headers = %v", i, g.header)
		}
		if ct := g.header.Get("Content-Type"); (w.body != "") != (ct == "application/json") {
			t.Errorf("request %d Content-Type = %q with body %q", i, ct, w.body)
		}
	}
}

func TestEmptyIDIsRefused(t *testing.T) {
	t.Parallel()
	c, err := client.New("http://127.0.0.1:1", "t")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEndpoint(t.Context(), "acme", "")
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("err = %v, want an error about an empty id", err)
	}
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   client.Error
		text   string
	}{
		{404, `{"code":"not_found","detail":"Entity not found"}`,
			client.Error{Status: 404, Code: "not_found", Detail: "Entity not found"}, "404 not_found: Entity not found"},
		{422, `{"detail":[{"loc":["body","url"],"msg":"bad url","type":"value_error"},{"loc":["query","limit"],"msg":"too big","type":"value_error"}]}`,
			client.Error{Status: 422, Code: "validation_error", Detail: "url: bad url; limit: too big",
				Validation: []client.ValidationError{
					{Loc: []string{"body", "url"}, Msg: "bad url", Type: "value_error"},
					{Loc: []string{"query", "limit"}, Msg: "too big", Type: "value_error"}}},
			"422 validation_error: url: bad url; limit: too big"},
		{502, "<html>bad gateway</html>", client.Error{Status: 502, Detail: "<html>bad gateway</html>"}, "502 bad_gateway: <html>bad gateway</html>"},
		{500, "", client.Error{Status: 500, Detail: "Internal Server Error"}, "500 internal_server_error: Internal Server Error"},
		{301, "", client.Error{Status: 301, Detail: "Moved Permanently"}, "301 moved_permanently: Moved Permanently"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		}))
		c, _ := client.New(srv.URL, "t")
		_, err := c.GetApp(t.Context(), "x")
		srv.Close()
		e := apiError(t, err)
		if e.Status != tt.want.Status || e.Code != tt.want.Code || e.Detail != tt.want.Detail ||
			fmt.Sprint(e.Validation) != fmt.Sprint(tt.want.Validation) {
			t.Errorf("%d %s: got %+v, want %+v", tt.status, tt.body, *e, tt.want)
		}
		if e.Error() != tt.text {
			t.Errorf("Error() = %q, want %q", e.Error(), tt.text)
		}
	}
}

func TestApps(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	app, err := c.CreateApp(ctx, client.AppIn{Name: "Acme", UID: "acme", ThrottleRate: 20, Metadata: map[string]string{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(app.ID, "app_") || app.UID != "acme" || app.ThrottleRate != 20 || app.Metadata["plan"] != "pro" ||
		app.CreatedAt.IsZero() {
		t.Errorf("created %+v", app)
	}
	for _, id := range []string{app.ID, "acme"} {
		got, err := c.GetApp(ctx, id)
		if err != nil || got.ID != app.ID {
			t.Errorf("GetApp(%s) = %+v, %v", id, got, err)
		}
	}
	again, err := c.GetOrCreateApp(ctx, client.AppIn{Name: "Other name", UID: "acme"})
	if err != nil || again.ID != app.ID || again.Name != "Acme" {
		t.Errorf("GetOrCreateApp = %+v, %v; want the existing app", again, err)
	}
	_, err = c.CreateApp(ctx, client.AppIn{Name: "Acme", UID: "acme"})
	if e := apiError(t, err); e.Status != 409 || e.Code != "conflict" {
		t.Errorf("duplicate uid: %v", e)
	}

	name := "Acme Corp"
	patched, err := c.PatchApp(ctx, "acme", client.AppPatch{Name: &name})
	if err != nil || patched.Name != name || patched.ThrottleRate != 20 || patched.Metadata["plan"] != "pro" {
		t.Errorf("PatchApp = %+v, %v", patched, err)
	}
	put, err := c.UpdateApp(ctx, "acme", client.AppIn{Name: "Acme PUT", UID: "acme"})
	if err != nil || put.Name != "Acme PUT" || put.ThrottleRate != 0 || len(put.Metadata) != 0 {
		t.Errorf("UpdateApp = %+v, %v; want other fields cleared", put, err)
	}
	access, err := c.AppPortalAccess(ctx, "acme")
	if err != nil || !strings.HasPrefix(access.Token, "hpt_") || !strings.Contains(access.URL, access.Token) {
		t.Errorf("AppPortalAccess = %+v, %v", access, err)
	}

	list, err := c.ListApps(ctx, nil)
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != app.ID || !list.Done {
		t.Errorf("ListApps = %+v, %v", list, err)
	}
	if err := c.DeleteApp(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetApp(ctx, "acme")
	if e := apiError(t, err); e.Status != 404 || e.Code != "not_found" || e.Detail != "Entity not found" {
		t.Errorf("after delete: %+v", e)
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	c, err := client.New(serverURL, "hsk_wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListApps(t.Context(), nil)
	if e := apiError(t, err); e.Status != 401 || e.Code != "authentication_failed" || e.Detail == "" {
		t.Errorf("wrong token: %+v", e)
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	if _, err := c.CreateApp(ctx, client.AppIn{Name: "Acme", UID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEventType(ctx, client.EventTypeIn{Name: "invoice.paid"}); err != nil {
		t.Fatal(err)
	}
	hook := newHookReceiver(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ep, err := c.CreateEndpoint(ctx, "acme", client.EndpointIn{
		URL: hook.URL, UID: "main", Description: "main", EventTypes: []string{"invoice.paid"},
		Channels: []string{"eu"}, ThrottleRate: 5, Secret: secret, Metadata: map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.ID, "ep_") || ep.URL != hook.URL || !slices.Equal(ep.EventTypes, []string{"invoice.paid"}) ||
		!slices.Equal(ep.Channels, []string{"eu"}) || ep.ThrottleRate != 5 || ep.Metadata["k"] != "v" {
		t.Errorf("created %+v", ep)
	}
	got, err := c.GetEndpoint(ctx, "acme", "main")
	if err != nil || got.ID != ep.ID {
		t.Errorf("GetEndpoint = %+v, %v", got, err)
	}
	list, err := c.ListEndpoints(ctx, "acme", nil)
	if err != nil || len(list.Data) != 1 {
		t.Errorf("ListEndpoints = %+v, %v", list, err)
	}

	// PATCH: a pointer to a nil slice removes the filter.
	desc := "patched"
	p, err := c.PatchEndpoint(ctx, "acme", "main", client.EndpointPatch{Description: &desc, EventTypes: new([]string)})
	if err != nil || p.Description != "patched" || len(p.EventTypes) != 0 || !slices.Equal(p.Channels, []string{"eu"}) {
		t.Errorf("PatchEndpoint = %+v, %v", p, err)
	}
	put, err := c.UpdateEndpoint(ctx, "acme", "main", client.EndpointIn{URL: hook.URL, UID: "main"})
	if err != nil || put.Description != "" || len(put.Channels) != 0 || put.ThrottleRate != 0 {
		t.Errorf("UpdateEndpoint = %+v, %v; want other fields cleared", put, err)
	}

	// Headers.
	if err := c.UpdateEndpointHeaders(ctx, "acme", "main", map[string]string{"X-A": "1", "Authorization": "Bearer x"}); err != nil {
		t.Fatal(err)
	}
	b := "2"
	if err := c.PatchEndpointHeaders(ctx, "acme", "main", map[string]*string{"X-B": &b, "X-A": nil}); err != nil {
		t.Fatal(err)
	}
	h, err := c.GetEndpointHeaders(ctx, "acme", "main")
	if err != nil || len(h.Headers) != 1 || h.Headers["X-B"] != "2" || !slices.Equal(h.Sensitive, []string{"Authorization"}) {
		t.Errorf("GetEndpointHeaders = %+v, %v", h, err)
	}
	err = c.UpdateEndpointHeaders(ctx, "acme", "main", map[string]string{"webhook-id": "x"})
	if e := apiError(t, err); e.Status != 422 || len(e.Validation) != 1 {
		t.Errorf("forbidden header: %+v", e)
	}

	// Secrets.
	s, err := c.GetEndpointSecret(ctx, "acme", "main")
	if err != nil || s.Key != secret {
		t.Errorf("GetEndpointSecret = %+v, %v", s, err)
	}
	if err := c.RotateEndpointSecret(ctx, "acme", "main", client.RotateSecretIn{}); err != nil {
		t.Fatal(err)
	}
	s2, err := c.GetEndpointSecret(ctx, "acme", "main")
	if err != nil || s2.Key == secret || !strings.HasPrefix(s2.Key, "whsec_") {
		t.Errorf("after rotation = %+v, %v", s2, err)
	}
	zero := int64(0)
	if err := c.RotateEndpointSecret(ctx, "acme", "main", client.RotateSecretIn{Key: secret, GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if s3, err := c.GetEndpointSecret(ctx, "acme", "main"); err != nil || s3.Key != secret {
		t.Errorf("after rotation to a given key = %+v, %v", s3, err)
	}

	// Test message, stats, recovery.
	msg, err := c.SendExample(ctx, "acme", "main", "")
	if err != nil || msg.EventType != "svix.ping" || !strings.HasPrefix(msg.ID, "msg_") {
		t.Errorf("SendExample = %+v, %v", msg, err)
	}
	eventually(t, "the test message to arrive", func() bool {
		st, err := c.GetEndpointStats(ctx, "acme", "main", nil)
		return err == nil && st.Success == 1
	})
	st, err := c.GetEndpointStats(ctx, "acme", "main", &client.StatsOptions{Since: time.Now().Add(-time.Hour), Until: time.Now()})
	if err != nil || st.Success != 1 || st.Fail != 0 {
		t.Errorf("GetEndpointStats = %+v, %v", st, err)
	}
	task, err := c.RecoverEndpoint(ctx, "acme", "main", client.RecoverIn{Since: time.Now().Add(-time.Hour)})
	if err != nil || !strings.HasPrefix(task.ID, "qtask_") || task.Task != "endpoint.recover" || task.Status == "" {
		t.Errorf("RecoverEndpoint = %+v, %v", task, err)
	}

	if err := c.DeleteEndpoint(ctx, "acme", "main"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEndpoint(ctx, "acme", "main")
	if e := apiError(t, err); e.Status != 404 {
		t.Errorf("after delete: %+v", e)
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	schema := json.RawMessage(`{"1":{"type":"object","examples":[{"type":"invoice.paid","id":"in_1"}]}}`)
	et, err := c.CreateEventType(ctx, client.EventTypeIn{Name: "invoice.paid", Description: "paid", Schemas: schema})
	if err != nil || et.Name != "invoice.paid" || et.Description != "paid" || len(et.Schemas) == 0 {
		t.Fatalf("CreateEventType = %+v, %v", et, err)
	}
	_, err = c.CreateEventType(ctx, client.EventTypeIn{Name: "invoice.paid"})
	if e := apiError(t, err); e.Status != 409 {
		t.Errorf("duplicate: %+v", e)
	}
	if _, err := c.UpdateEventType(ctx, "invoice.voided", client.EventTypeUpdate{Description: "voided", FeatureFlag: "beta"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetEventType(ctx, "invoice.voided")
	if err != nil || got.FeatureFlag != "beta" || got.Description != "voided" {
		t.Errorf("GetEventType = %+v, %v", got, err)
	}
	deprecated := true
	p, err := c.PatchEventType(ctx, "invoice.voided", client.EventTypePatch{Deprecated: &deprecated})
	if err != nil || !p.Deprecated || p.Description != "voided" {
		t.Errorf("PatchEventType = %+v, %v", p, err)
	}

	// Payload validation, a Herald extension: unset, on, off, back to the
	// server's default.
	if got.ValidatePayloads != nil {
		t.Errorf("ValidatePayloads = %v, want nil (the server's default)", *got.ValidatePayloads)
	}
	for _, c2 := range []struct {
		set  client.Validation
		want *bool
	}{{client.ValidationOn, new(true)}, {client.ValidationUnset, new(true)}, {client.ValidationOff, new(false)}, {client.ValidationDefault, nil}} {
		p, err := c.PatchEventType(ctx, "invoice.voided", client.EventTypePatch{ValidatePayloads: c2.set})
		if err != nil || (p.ValidatePayloads == nil) != (c2.want == nil) || p.ValidatePayloads != nil && *p.ValidatePayloads != *c2.want {
			t.Errorf("PatchEventType(ValidatePayloads: %d) = %v, %v; want %v", c2.set, p.ValidatePayloads, err, c2.want)
		}
	}
	u, err := c.UpdateEventType(ctx, "invoice.voided", client.EventTypeUpdate{Description: "voided", ValidatePayloads: client.ValidationOn})
	if err != nil || u.ValidatePayloads == nil || !*u.ValidatePayloads {
		t.Errorf("UpdateEventType(ValidationOn) = %+v, %v", u, err)
	}

	list, err := c.ListEventTypes(ctx, nil)
	if err != nil || len(list.Data) != 2 || string(list.Data[0].Schemas) != "null" {
		t.Errorf("ListEventTypes = %+v, %v", list, err)
	}
	list, err = c.ListEventTypes(ctx, &client.ListEventTypesOptions{WithContent: true})
	if err != nil || list.Data[0].Name != "invoice.paid" || string(list.Data[0].Schemas) == "null" {
		t.Errorf("ListEventTypes with content = %+v, %v", list, err)
	}

	if err := c.DeleteEventType(ctx, "invoice.voided", false); err != nil {
		t.Fatal(err)
	}
	list, _ = c.ListEventTypes(ctx, nil)
	withArchived, _ := c.ListEventTypes(ctx, &client.ListEventTypesOptions{IncludeArchived: true})
	if len(list.Data) != 1 || len(withArchived.Data) != 2 || !withArchived.Data[1].Archived {
		t.Errorf("after archiving: %+v / %+v", list.Data, withArchived.Data)
	}
	if err := c.DeleteEventType(ctx, "invoice.voided", true); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEventType(ctx, "invoice.voided")
	if e := apiError(t, err); e.Status != 404 {
		t.Errorf("after expunge: %+v", e)
	}
}

func TestMessagesAndAttempts(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	hook := newHookReceiver(t)
	if _, err := c.CreateApp(ctx, client.AppIn{Name: "Acme", UID: "acme"}); err != nil {
		t.Fatal(err)
	}
	ep, err := c.CreateEndpoint(ctx, "acme", client.EndpointIn{URL: hook.URL, UID: "main"})
	if err != nil {
		t.Fatal(err)
	}
	payload := json.RawMessage(`{"type":"invoice.paid",  "id":"in_1"}`)
	msg, err := c.CreateMessage(ctx, "acme", client.MessageIn{EventType: "invoice.paid", Payload: payload, EventID: "in_1", Channels: []string{"eu"}})
	if err != nil {
		t.Fatal(err)
	}
	// The API answers with the payload as it was sent, and the endpoint
	// gets it byte for byte (checked below).
	compact := string(payload)
	if !strings.HasPrefix(msg.ID, "msg_") || msg.EventID != "in_1" || string(msg.Payload) != compact ||
		!slices.Equal(msg.Channels, []string{"eu"}) {
		t.Errorf("CreateMessage = %+v", msg)
	}
	_, err = c.CreateMessage(ctx, "acme", client.MessageIn{EventType: "invoice.paid", Payload: payload, EventID: "in_1"})
	if e := apiError(t, err); e.Status != 409 {
		t.Errorf("duplicate eventId: %+v", e)
	}
	if _, err := c.CreateMessage(ctx, "acme", client.MessageIn{EventType: "order.created", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// Application auto-creation.
	auto, err := c.CreateMessage(ctx, "newco", client.MessageIn{EventType: "x", Payload: json.RawMessage(`{}`),
		Application: &client.AppIn{Name: "NewCo"}})
	if err != nil || auto.EventType != "x" {
		t.Errorf("CreateMessage with Application = %+v, %v", auto, err)
	}

	for _, id := range []string{msg.ID, "in_1"} {
		got, err := c.GetMessage(ctx, "acme", id)
		if err != nil || got.ID != msg.ID || string(got.Payload) != compact {
			t.Errorf("GetMessage(%s) = %+v, %v", id, got, err)
		}
	}
	list, err := c.ListMessages(ctx, "acme", &client.ListMessagesOptions{EventTypes: []string{"invoice.paid"}})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != msg.ID {
		t.Errorf("ListMessages filtered = %+v, %v", list, err)
	}
	list, err = c.ListMessages(ctx, "acme", &client.ListMessagesOptions{WithoutContent: true})
	if err != nil || len(list.Data) != 2 || string(list.Data[0].Payload) != "{}" {
		t.Errorf("ListMessages without content = %+v, %v", list, err)
	}
	list, err = c.ListMessages(ctx, "acme", &client.ListMessagesOptions{Before: msg.Timestamp.Add(-time.Hour)})
	if err != nil || len(list.Data) != 0 {
		t.Errorf("ListMessages before = %+v, %v", list, err)
	}

	var attempts *client.ListResponse[client.Attempt]
	eventually(t, "the first attempt", func() bool {
		attempts, err = c.ListAttemptsByMessage(ctx, "acme", msg.ID, nil)
		return err == nil && len(attempts.Data) == 1
	})
	at := attempts.Data[0]
	if at.MsgID != msg.ID || at.EndpointID != ep.ID || at.Status != client.StatusSuccess || at.StatusText != "success" ||
		at.ResponseStatusCode != 200 || at.Response != `{"received":true}` || at.TriggerType != client.TriggerScheduled {
		t.Errorf("attempt = %+v", at)
	}
	if body := hook.body(msg.ID); body != string(payload) {
		t.Errorf("endpoint got %q, want the payload byte for byte: %q", body, payload)
	}
	got, err := c.GetAttempt(ctx, "acme", msg.ID, at.ID)
	if err != nil || got.ID != at.ID {
		t.Errorf("GetAttempt = %+v, %v", got, err)
	}

	if err := c.ResendMessage(ctx, "acme", "in_1", "main"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the manual attempt", func() bool {
		attempts, err = c.ListAttemptsByEndpoint(ctx, "acme", "main", &client.ListAttemptsOptions{EventTypes: []string{"invoice.paid"}})
		return err == nil && len(attempts.Data) == 2
	})
	if attempts.Data[0].TriggerType != client.TriggerManual {
		t.Errorf("newest attempt = %+v, want the manual one", attempts.Data[0])
	}
	success := client.StatusSuccess
	class := 200
	ok, err := c.ListAttemptsByEndpoint(ctx, "acme", "main", &client.ListAttemptsOptions{Status: &success, StatusCodeClass: &class})
	if err != nil || len(ok.Data) != 3 { // two of in_1, one of order.created
		t.Errorf("attempts filtered by status = %d, %v", len(ok.Data), err)
	}
	class = 500
	none, err := c.ListAttemptsByEndpoint(ctx, "acme", "main", &client.ListAttemptsOptions{StatusCodeClass: &class})
	if err != nil || len(none.Data) != 0 {
		t.Errorf("attempts with 5xx = %+v, %v", none, err)
	}

	em, err := c.ListEndpointMessages(ctx, "acme", "main", nil)
	if err != nil || len(em.Data) != 2 || em.Data[1].ID != msg.ID || em.Data[1].Status != client.StatusSuccess {
		t.Errorf("ListEndpointMessages = %+v, %v", em, err)
	}
	dest, err := c.ListMessageDestinations(ctx, "acme", msg.ID, nil)
	if err != nil || len(dest.Data) != 1 || dest.Data[0].ID != ep.ID || dest.Data[0].Status != client.StatusSuccess {
		t.Errorf("ListMessageDestinations = %+v, %v", dest, err)
	}

	if err := c.ExpungeMessageContent(ctx, "acme", msg.ID); err != nil {
		t.Fatal(err)
	}
	expunged, err := c.GetMessage(ctx, "acme", msg.ID)
	if err != nil || string(expunged.Payload) != `{"expired":true}` {
		t.Errorf("after expunge = %+v, %v", expunged, err)
	}
	err = c.ResendMessage(ctx, "acme", msg.ID, "main")
	if e := apiError(t, err); e.Status != 400 || e.Code != "missing_payload" {
		t.Errorf("resend without payload: %+v", e)
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	var want []string
	for i := range 7 {
		app, err := c.CreateApp(ctx, client.AppIn{Name: fmt.Sprintf("app %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, app.ID)
	}
	fetches := 0
	pages := func(ctx context.Context, it string) (*client.ListResponse[client.App], error) {
		fetches++
		return c.ListApps(ctx, &client.ListOptions{Iterator: it, Limit: 3})
	}
	var got []string
	for app, err := range client.All(ctx, pages) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, app.ID)
	}
	if !slices.Equal(got, want) || fetches != 3 {
		t.Errorf("All = %v in %d fetches, want %v in 3", got, fetches, want)
	}

	// Breaking out fetches no more pages.
	fetches = 0
	for range client.All(ctx, pages) {
		break
	}
	if fetches != 1 {
		t.Errorf("break after the first item: %d fetches, want 1", fetches)
	}

	// Errors are yielded and end the walk.
	boom := errors.New("boom")
	n := 0
	for _, err := range client.All(ctx, func(context.Context, string) (*client.ListResponse[client.App], error) { return nil, boom }) {
		n++
		if !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
	}
	if n != 1 {
		t.Errorf("error yielded %d times", n)
	}

	// A page that claims more but gives no iterator ends with an error
	// rather than looping.
	stuck := func(context.Context, string) (*client.ListResponse[client.App], error) {
		return &client.ListResponse[client.App]{Data: []client.App{{ID: "app_1"}}}, nil
	}
	var lastErr error
	for _, err := range client.All(ctx, stuck) {
		lastErr = err
	}
	if lastErr == nil {
		t.Error("no error for a list that does not progress")
	}
}

func TestWithRawResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"app_1", "name":"A",   "uid":null, "extra":{"new":"field"}}`)
	}))
	t.Cleanup(srv.Close)
	c, _ := client.New(srv.URL, "t")
	var raw []byte
	app, err := c.GetApp(client.WithRawResponse(t.Context(), &raw), "app_1")
	if err != nil || app.ID != "app_1" || app.UID != "" {
		t.Fatalf("GetApp = %+v, %v", app, err)
	}
	if string(raw) != `{"id":"app_1", "name":"A",   "uid":null, "extra":{"new":"field"}}` {
		t.Errorf("raw = %s", raw)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, _ := client.New(addr, "t")
	_, err := c.ListApps(t.Context(), nil)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err = %v (%T), want a *url.Error", err, err)
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		t.Errorf("a transport error is a *client.Error: %v", err)
	}
}

func TestParseMessageStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want client.MessageStatus
	}{
		{"success", client.StatusSuccess}, {"pending", client.StatusPending}, {"fail", client.StatusFail},
		{"failed", client.StatusFail}, {"sending", client.StatusSending}, {"2", client.StatusFail},
	} {
		got, err := client.ParseMessageStatus(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMessageStatus(%q) = %v, %v", tt.in, got, err)
		}
		if tt.in == tt.want.String() {
			continue
		}
	}
	if _, err := client.ParseMessageStatus("done"); err == nil {
		t.Error("ParseMessageStatus(done) succeeded")
	}
	if s := client.MessageStatus(9).String(); s != "status(9)" {
		t.Errorf("String = %q", s)
	}
}

// TestHeraldExtensions: an endpoint's ordering, a message's tags,
// deliverAt and orderingKey, and cancelling a scheduled message.
func TestHeraldExtensions(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := t.Context()
	if _, err := c.CreateApp(ctx, client.AppIn{Name: "Ext", UID: "ext"}); err != nil {
		t.Fatal(err)
	}
	ep, err := c.CreateEndpoint(ctx, "ext", client.EndpointIn{URL: "https://example.com/hooks", Ordering: client.OrderingFIFO})
	if err != nil || ep.Ordering != client.OrderingFIFO {
		t.Fatalf("CreateEndpoint(fifo) = %+v, %v", ep, err)
	}
	if ep, err = c.UpdateEndpoint(ctx, "ext", ep.ID, client.EndpointIn{URL: "https://example.com/v2"}); err != nil || ep.Ordering != client.OrderingFIFO {
		t.Errorf("UpdateEndpoint without ordering = %+v, %v", ep, err)
	}
	none := client.OrderingNone
	if ep, err = c.PatchEndpoint(ctx, "ext", ep.ID, client.EndpointPatch{Ordering: &none}); err != nil || ep.Ordering != client.OrderingNone {
		t.Errorf("PatchEndpoint(ordering none) = %+v, %v", ep, err)
	}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	msg, err := c.CreateMessage(ctx, "ext", client.MessageIn{EventType: "order.updated", Payload: json.RawMessage(`{}`),
		Tags: []string{"eu", "vip"}, DeliverAt: at, OrderingKey: "order_42"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msg.Tags, []string{"eu", "vip"}) || msg.DeliverAt == nil || !msg.DeliverAt.Equal(at) ||
		msg.OrderingKey != "order_42" || msg.CanceledAt != nil {
		t.Errorf("CreateMessage = %+v", msg)
	}
	if _, err := c.CreateMessage(ctx, "ext", client.MessageIn{EventType: "order.updated", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	page, err := c.ListMessages(ctx, "ext", &client.ListMessagesOptions{Tag: "vip"})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != msg.ID {
		t.Errorf("ListMessages(tag) = %+v, %v", page, err)
	}
	canceled, err := c.CancelMessage(ctx, "ext", msg.ID)
	if err != nil || canceled.CanceledAt == nil {
		t.Errorf("CancelMessage = %+v, %v", canceled, err)
	}
	_, err = c.CancelMessage(ctx, "ext", page.Data[0].ID+"x")
	if e := apiError(t, err); e.Status != 404 {
		t.Errorf("CancelMessage(missing) = %+v", e)
	}
}

package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// startServer runs a real Herald (internal/server) on a free port and
// returns its base URL and admin token.
func startServer(t *testing.T) (*url.URL, string) {
	t.Helper()
	const token = "test-admin-token-for-the-svix-sdk"
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = filepath.Join(t.TempDir(), "herald.db")
	cfg.AdminToken = token
	cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.RetrySchedule = []time.Duration{time.Second}
	srv, err := server.New(context.Background(), cfg, server.Options{Log: testLogger(t), Stderr: io.Discard})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	u, err := url.Parse("http://" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return u, token
}

// sdkError returns err as a *svix.Error, failing the test otherwise.
func sdkError(t *testing.T, err error, status int) *svix.Error {
	t.Helper()
	var se *svix.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *svix.Error", err, err)
	}
	if se.Status() != status {
		t.Fatalf("status %d, want %d: %v: %s", se.Status(), status, se, se.Body())
	}
	// The SDK decodes error bodies strictly: when that fails, Error() is
	// the decoding error instead of "<status> (<detail>)".
	if !strings.HasPrefix(se.Error(), strconv.Itoa(status)+" "+http.StatusText(status)) {
		t.Fatalf("error body not decoded by the SDK: %q (body %s)", se.Error(), se.Body())
	}
	return se
}

// TestSvixGoSDK drives a real Herald with the official Svix Go SDK v1.44.0,
// which rejects any response field it does not know.
func TestSvixGoSDK(t *testing.T) {
	t.Parallel()
	base, token := startServer(t)
	ctx := context.Background()
	client := svix.New(token, &svix.SvixOptions{ServerUrl: base})

	// A receiver for deliveries.
	type delivery struct {
		body   []byte
		header http.Header
	}
	var (
		mu        sync.Mutex
		delivered []delivery
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		delivered = append(delivered, delivery{b, r.Header.Clone()})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	// Event types.
	for _, name := range []string{"user.created", "user.deleted", "invoice.paid"} {
		in := svix.EventTypeIn{Name: name, Description: "about " + name}
		if name == "invoice.paid" {
			in.Schemas = map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"amount": 1}}}}
		}
		et, err := client.EventType.Create(ctx, &in)
		if err != nil {
			t.Fatalf("EventType.Create(%s): %v", name, err)
		}
		if et.Name != name || et.Description != "about "+name {
			t.Errorf("created event type %+v", et)
		}
	}
	et, err := client.EventType.Get(ctx, "invoice.paid")
	if err != nil || et.Schemas["1"] == nil {
		t.Fatalf("EventType.Get: %+v, %v", et, err)
	}
	et, err = client.EventType.Update(ctx, "user.deleted", &svix.EventTypeUpdate{Description: "updated", Deprecated: ptr(true)})
	if err != nil || et.Description != "updated" || !et.Deprecated {
		t.Fatalf("EventType.Update: %+v, %v", et, err)
	}
	et, err = client.EventType.Patch(ctx, "user.deleted", &svix.EventTypePatch{Description: ptr("patched")})
	if err != nil || et.Description != "patched" || !et.Deprecated {
		t.Fatalf("EventType.Patch: %+v, %v", et, err)
	}
	if _, err := client.EventType.Create(ctx, &svix.EventTypeIn{Name: "to.archive", Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := client.EventType.Delete(ctx, "to.archive"); err != nil {
		t.Fatalf("EventType.Delete: %v", err)
	}
	var names []string
	etOpts := &svix.EventTypeListOptions{Limit: ptr(int32(2)), WithContent: ptr(true), Order: ptr(svix.Ordering("ascending"))}
	for range 10 {
		page, err := client.EventType.List(ctx, etOpts)
		if err != nil {
			t.Fatalf("EventType.List: %v", err)
		}
		for _, et := range page.Data {
			names = append(names, et.Name)
		}
		if page.Done {
			break
		}
		etOpts.Iterator = page.Iterator.Get()
	}
	if want := []string{"invoice.paid", "user.created", "user.deleted"}; !slices.Equal(names, want) {
		t.Errorf("event types %v, want %v", names, want)
	}
	page, err := client.EventType.List(ctx, &svix.EventTypeListOptions{IncludeArchived: ptr(true)})
	if err != nil || len(page.Data) != 4 {
		t.Fatalf("EventType.List(include archived): %v, %v", page, err)
	}
	if err := client.EventType.DeleteWithOptions(ctx, "to.archive", &svix.EventTypeDeleteOptions{Expunge: ptr(true)}); err != nil {
		t.Fatalf("EventType.Delete(expunge): %v", err)
	}
	_, err = client.EventType.Get(ctx, "to.archive")
	sdkError(t, err, 404)

	// Applications.
	var appIDs []string
	for i := range 5 {
		app, err := client.Application.Create(ctx, &svix.ApplicationIn{Name: "App " + strconv.Itoa(i), Uid: ptr("sdk-app-" + strconv.Itoa(i)),
			RateLimit: ptr(int32(10 + i)), Metadata: &map[string]string{"i": strconv.Itoa(i)}})
		if err != nil {
			t.Fatalf("Application.Create: %v", err)
		}
		if app.Uid == nil || *app.Uid != "sdk-app-"+strconv.Itoa(i) || app.RateLimit == nil || *app.RateLimit != int32(10+i) || app.Metadata["i"] != strconv.Itoa(i) {
			t.Errorf("created app %+v", app)
		}
		appIDs = append(appIDs, app.Id)
	}
	var listed []string
	appOpts := &svix.ApplicationListOptions{Limit: ptr(int32(2))}
	for range 10 {
		page, err := client.Application.List(ctx, appOpts)
		if err != nil {
			t.Fatalf("Application.List: %v", err)
		}
		for _, a := range page.Data {
			listed = append(listed, a.Id)
		}
		if page.Done {
			break
		}
		appOpts.Iterator = page.Iterator.Get()
	}
	if !slices.Equal(listed, appIDs) {
		t.Errorf("listed apps %v, want %v", listed, appIDs)
	}
	desc, err := client.Application.List(ctx, &svix.ApplicationListOptions{Order: ptr(svix.Ordering("descending")), Limit: ptr(int32(1))})
	if err != nil || len(desc.Data) != 1 || desc.Data[0].Id != appIDs[4] || desc.Done || desc.PrevIterator == nil {
		t.Errorf("Application.List(descending): %+v, %v", desc, err)
	}
	app, err := client.Application.Get(ctx, "sdk-app-0")
	if err != nil || app.Id != appIDs[0] {
		t.Fatalf("Application.Get(uid): %+v, %v", app, err)
	}
	app, err = client.Application.Get(ctx, appIDs[1])
	if err != nil || app.Name != "App 1" {
		t.Fatalf("Application.Get(id): %+v, %v", app, err)
	}
	got, err := client.Application.GetOrCreate(ctx, &svix.ApplicationIn{Name: "ignored", Uid: ptr("sdk-app-0")})
	if err != nil || got.Id != appIDs[0] {
		t.Fatalf("Application.GetOrCreate(existing): %+v, %v", got, err)
	}
	app, err = client.Application.Update(ctx, appIDs[0], &svix.ApplicationIn{Name: "Renamed", Uid: ptr("sdk-app-0")})
	if err != nil || app.Name != "Renamed" || app.RateLimit != nil || len(app.Metadata) != 0 {
		t.Fatalf("Application.Update: %+v, %v", app, err)
	}
	app, err = client.Application.Patch(ctx, appIDs[0], &svix.ApplicationPatch{Name: ptr("Patched"), RateLimit: *svix.NullableInt32(ptr(int32(3)))})
	if err != nil || app.Name != "Patched" || app.RateLimit == nil || *app.RateLimit != 3 || app.Uid == nil {
		t.Fatalf("Application.Patch: %+v, %v", app, err)
	}
	app, err = client.Application.Patch(ctx, appIDs[0], &svix.ApplicationPatch{Uid: *svix.NullableString(nil)})
	if err != nil || app.Uid != nil || app.Name != "Patched" {
		t.Fatalf("Application.Patch(uid null): %+v, %v", app, err)
	}
	if err := client.Application.Delete(ctx, appIDs[4]); err != nil {
		t.Fatalf("Application.Delete: %v", err)
	}
	_, err = client.Application.Get(ctx, appIDs[4])
	sdkError(t, err, 404)
	appID := appIDs[1]

	// Endpoints.
	ep, err := client.Endpoint.Create(ctx, appID, &svix.EndpointIn{
		Url: receiver.URL + "/hook", Uid: ptr("sdk-ep"), Description: ptr("first"),
		FilterTypes: []string{"user.created", "invoice.paid"}, RateLimit: ptr(int32(50)), Metadata: &map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatalf("Endpoint.Create: %v", err)
	}
	if ep.Url != receiver.URL+"/hook" || ep.Version != 1 || len(ep.FilterTypes) != 2 || ep.RateLimit == nil || *ep.RateLimit != 50 {
		t.Errorf("created endpoint %+v", ep)
	}
	var epIDs []string
	for i := range 3 {
		e, err := client.Endpoint.Create(ctx, appID, &svix.EndpointIn{Url: "https://example.com/" + strconv.Itoa(i), Channels: []string{"c" + strconv.Itoa(i)}})
		if err != nil {
			t.Fatalf("Endpoint.Create(%d): %v", i, err)
		}
		epIDs = append(epIDs, e.Id)
	}
	var eps []string
	epOpts := &svix.EndpointListOptions{Limit: ptr(int32(3))}
	for range 10 {
		page, err := client.Endpoint.List(ctx, appID, epOpts)
		if err != nil {
			t.Fatalf("Endpoint.List: %v", err)
		}
		for _, e := range page.Data {
			eps = append(eps, e.Id)
		}
		if page.Done {
			break
		}
		epOpts.Iterator = page.Iterator.Get()
	}
	if want := []string{epIDs[2], epIDs[1], epIDs[0], ep.Id}; !slices.Equal(eps, want) {
		t.Errorf("listed endpoints %v, want %v (newest first)", eps, want)
	}
	e, err := client.Endpoint.Get(ctx, "sdk-app-1", "sdk-ep")
	if err != nil || e.Id != ep.Id {
		t.Fatalf("Endpoint.Get(uids): %+v, %v", e, err)
	}
	e, err = client.Endpoint.Update(ctx, appID, epIDs[0], &svix.EndpointUpdate{Url: "https://example.com/updated", FilterTypes: []string{"user.deleted"}})
	if err != nil || e.Url != "https://example.com/updated" || len(e.Channels) != 0 || len(e.FilterTypes) != 1 {
		t.Fatalf("Endpoint.Update: %+v, %v", e, err)
	}
	e, err = client.Endpoint.Patch(ctx, appID, epIDs[0], &svix.EndpointPatch{Disabled: ptr(true), RateLimit: *svix.NullableInt32(ptr(int32(2)))})
	if err != nil || e.Disabled == nil || !*e.Disabled || e.Url != "https://example.com/updated" || *e.RateLimit != 2 {
		t.Fatalf("Endpoint.Patch: %+v, %v", e, err)
	}
	if err := client.Endpoint.Delete(ctx, appID, epIDs[2]); err != nil {
		t.Fatalf("Endpoint.Delete: %v", err)
	}
	_, err = client.Endpoint.Get(ctx, appID, epIDs[2])
	sdkError(t, err, 404)

	// Headers.
	if err := client.Endpoint.UpdateHeaders(ctx, appID, ep.Id, &svix.EndpointHeadersIn{Headers: map[string]string{"X-Custom": "1", "Authorization": "Bearer x"}}); err != nil {
		t.Fatalf("Endpoint.UpdateHeaders: %v", err)
	}
	if err := client.Endpoint.PatchHeaders(ctx, appID, ep.Id, &svix.EndpointHeadersPatchIn{Headers: map[string]string{"X-Other": "2"}}); err != nil {
		t.Fatalf("Endpoint.PatchHeaders: %v", err)
	}
	hdrs, err := client.Endpoint.GetHeaders(ctx, appID, ep.Id)
	if err != nil || hdrs.Headers["X-Custom"] != "1" || hdrs.Headers["X-Other"] != "2" || !slices.Equal(hdrs.Sensitive, []string{"Authorization"}) {
		t.Fatalf("Endpoint.GetHeaders: %+v, %v", hdrs, err)
	}

	// Secrets.
	sec, err := client.Endpoint.GetSecret(ctx, appID, ep.Id)
	if err != nil || !strings.HasPrefix(sec.Key, "whsec_") {
		t.Fatalf("Endpoint.GetSecret: %+v, %v", sec, err)
	}
	if err := client.Endpoint.RotateSecret(ctx, appID, ep.Id, &svix.EndpointSecretRotateIn{}); err != nil {
		t.Fatalf("Endpoint.RotateSecret: %v", err)
	}
	rotated, err := client.Endpoint.GetSecret(ctx, appID, ep.Id)
	if err != nil || rotated.Key == sec.Key {
		t.Fatalf("secret after rotation: %+v, %v", rotated, err)
	}
	given := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if err := client.Endpoint.RotateSecret(ctx, appID, ep.Id, &svix.EndpointSecretRotateIn{Key: &given}); err != nil {
		t.Fatalf("Endpoint.RotateSecret(key): %v", err)
	}
	if s, err := client.Endpoint.GetSecret(ctx, appID, ep.Id); err != nil || s.Key != given {
		t.Fatalf("secret after rotation to a given key: %+v, %v", s, err)
	}

	// Messages: one is delivered to the receiver, signed so that the SDK's
	// own verifier accepts it.
	msg, err := client.Message.Create(ctx, appID, &svix.MessageIn{
		EventType: "user.created", EventId: ptr("sdk-evt-1"), Payload: map[string]any{"user": "ada", "n": 1},
		Tags: []string{"signup"}, PayloadRetentionPeriod: ptr(int64(30)),
	})
	if err != nil {
		t.Fatalf("Message.Create: %v", err)
	}
	if msg.EventType != "user.created" || msg.EventId == nil || *msg.EventId != "sdk-evt-1" || msg.Payload["user"] != "ada" ||
		!slices.Equal(msg.Tags, []string{"signup"}) {
		t.Errorf("created message %+v", msg)
	}
	var msgIDs = []string{msg.Id}
	for i := range 3 {
		m, err := client.Message.Create(ctx, appID, &svix.MessageIn{EventType: "user.deleted", Payload: map[string]any{"i": i}, Channels: []string{"c1"}})
		if err != nil {
			t.Fatalf("Message.Create(%d): %v", i, err)
		}
		msgIDs = append(msgIDs, m.Id)
	}
	if _, err := client.Message.CreateWithOptions(ctx, appID, &svix.MessageIn{EventType: "user.deleted", Payload: map[string]any{}},
		&svix.PostOptions{IdempotencyKey: ptr("idem")}); err != nil {
		t.Fatalf("Message.CreateWithOptions: %v", err)
	}
	m, err := client.Message.Get(ctx, appID, "sdk-evt-1")
	if err != nil || m.Id != msg.Id {
		t.Fatalf("Message.Get(eventId): %+v, %v", m, err)
	}
	var msgs []string
	msgOpts := &svix.MessageListOptions{Limit: ptr(int32(2)), EventTypes: &[]string{"user.deleted", "user.created"}, WithContent: ptr(false)}
	for range 10 {
		page, err := client.Message.List(ctx, appID, msgOpts)
		if err != nil {
			t.Fatalf("Message.List: %v", err)
		}
		for _, m := range page.Data {
			msgs = append(msgs, m.Id)
			if len(m.Payload) != 0 {
				t.Errorf("with_content=false: payload %v", m.Payload)
			}
		}
		if page.Done {
			break
		}
		msgOpts.Iterator = page.Iterator.Get()
	}
	if len(msgs) != 5 || msgs[4] != msg.Id {
		t.Errorf("listed messages %v (want 5, oldest last %s)", msgs, msg.Id)
	}
	if tagged, err := client.Message.List(ctx, appID, &svix.MessageListOptions{Tag: ptr("signup")}); err != nil ||
		len(tagged.Data) != 1 || tagged.Data[0].Id != msg.Id {
		t.Fatalf("Message.List(tag): %+v, %v", tagged, err)
	}
	before := time.Now().Add(time.Hour).In(time.FixedZone("CET", 3600))
	page2, err := client.Message.List(ctx, appID, &svix.MessageListOptions{Channel: ptr("c1"), Before: &before})
	if err != nil || len(page2.Data) != 3 {
		t.Fatalf("Message.List(channel, before): %+v, %v", page2, err)
	}

	// Wait for the delivery of the first message, then read its attempt.
	var attempts *svix.ListResponseMessageAttemptOut
	deadline := time.Now().Add(15 * time.Second)
	for {
		attempts, err = client.MessageAttempt.ListByMsg(ctx, appID, msg.Id, nil)
		if err != nil {
			t.Fatalf("MessageAttempt.ListByMsg: %v", err)
		}
		if len(attempts.Data) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	at := attempts.Data[0]
	if at.MsgId != msg.Id || at.EndpointId != ep.Id || at.ResponseStatusCode != 204 || at.Status != svix.MessageStatus(0) {
		t.Errorf("attempt %+v", at)
	}
	if _, err := client.MessageAttempt.Get(ctx, appID, msg.Id, at.Id); err != nil {
		t.Errorf("MessageAttempt.Get: %v", err)
	}
	if _, err := client.MessageAttempt.ListByEndpoint(ctx, appID, ep.Id, &svix.MessageAttemptListOptions{Status: ptr(svix.MessageStatus(0))}); err != nil {
		t.Errorf("MessageAttempt.ListByEndpoint: %v", err)
	}
	withMsg, err := client.MessageAttempt.ListByEndpoint(ctx, appID, ep.Id, &svix.MessageAttemptListOptions{WithMsg: ptr(true)})
	if err != nil || len(withMsg.Data) == 0 || withMsg.Data[0].Msg == nil || withMsg.Data[0].Msg.Id != msg.Id {
		t.Errorf("MessageAttempt.ListByEndpoint with_msg: %+v, %v", withMsg, err)
	}
	if l, err := client.MessageAttempt.ListByEndpoint(ctx, appID, ep.Id, nil); err != nil || len(l.Data) == 0 || l.Data[0].Msg != nil {
		t.Errorf("MessageAttempt.ListByEndpoint without with_msg carries the message: %+v, %v", l, err)
	}
	if d, err := client.Authentication.DashboardAccess(ctx, appID); err != nil || d.Token == "" || !strings.Contains(d.Url, "/portal/") {
		t.Errorf("Authentication.DashboardAccess: %+v, %v", d, err)
	}
	if l, err := client.MessageAttempt.ListAttemptedMessages(ctx, appID, ep.Id, nil); err != nil || len(l.Data) == 0 {
		t.Errorf("MessageAttempt.ListAttemptedMessages: %+v, %v", l, err)
	}
	if l, err := client.MessageAttempt.ListAttemptedDestinations(ctx, appID, msg.Id, nil); err != nil || len(l.Data) != 1 || l.Data[0].Id != ep.Id {
		t.Errorf("MessageAttempt.ListAttemptedDestinations: %+v, %v", l, err)
	}
	if _, err := client.Endpoint.GetStats(ctx, appID, ep.Id); err != nil {
		t.Errorf("Endpoint.GetStats: %v", err)
	}
	if _, err := client.Endpoint.Recover(ctx, appID, ep.Id, &svix.RecoverIn{Since: time.Now().Add(-time.Hour)}); err != nil {
		t.Errorf("Endpoint.Recover: %v", err)
	}
	if err := client.MessageAttempt.Resend(ctx, appID, msg.Id, ep.Id); err != nil {
		t.Errorf("MessageAttempt.Resend: %v", err)
	}
	if access, err := client.Authentication.AppPortalAccess(ctx, appID, &svix.AppPortalAccessIn{}); err != nil || access.Token == "" {
		t.Errorf("Authentication.AppPortalAccess: %+v, %v", access, err)
	}
	mu.Lock()
	first := delivered[0]
	mu.Unlock()
	wh, err := svix.NewWebhook(given)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(first.body, first.header); err != nil {
		t.Errorf("the SDK's verifier rejects Herald's signature: %v (headers %v)", err, first.header)
	}
	if first.header.Get("X-Custom") != "1" {
		t.Errorf("custom header not sent: %v", first.header)
	}

	// Errors surface as *svix.Error with the right status and a decoded body.
	_, err = svix.New("wrong-token", &svix.SvixOptions{ServerUrl: base}).Application.List(ctx, nil)
	sdkError(t, err, 401)
	_, err = client.Application.Get(ctx, "no-such-app")
	if se := sdkError(t, err, 404); !strings.Contains(se.Error(), "Entity not found") {
		t.Errorf("404 Error() = %q", se.Error())
	}
	_, err = client.Message.Create(ctx, "no-such-app", &svix.MessageIn{EventType: "a", Payload: map[string]any{}})
	sdkError(t, err, 404)
	_, err = client.Application.Create(ctx, &svix.ApplicationIn{Name: "dup", Uid: ptr("sdk-app-2")})
	if se := sdkError(t, err, 409); !strings.Contains(se.Error(), "already exists") {
		t.Errorf("409 Error() = %q", se.Error())
	}
	_, err = client.EventType.Create(ctx, &svix.EventTypeIn{Name: "user.created", Description: "dup"})
	sdkError(t, err, 409)
	_, err = client.Message.Create(ctx, appID, &svix.MessageIn{EventType: "a", EventId: ptr("sdk-evt-1"), Payload: map[string]any{}})
	sdkError(t, err, 409)
	_, err = client.Application.Create(ctx, &svix.ApplicationIn{Name: ""})
	if se := sdkError(t, err, 422); !strings.Contains(se.Error(), "name") {
		t.Errorf("422 Error() = %q", se.Error())
	}
	_, err = client.Endpoint.Create(ctx, appID, &svix.EndpointIn{Url: "ftp://example.com/"})
	sdkError(t, err, 422)
	_, err = client.Endpoint.Create(ctx, appID, &svix.EndpointIn{Url: "https://example.com/", FilterTypes: []string{"no.such.type"}})
	if se := sdkError(t, err, 422); !strings.Contains(se.Error(), "no.such.type") {
		t.Errorf("422 Error() = %q", se.Error())
	}
	_, err = client.Application.List(ctx, &svix.ApplicationListOptions{Limit: ptr(int32(1000))})
	sdkError(t, err, 422)
	for range 10 {
		if err := client.Endpoint.RotateSecret(ctx, appID, epIDs[1], &svix.EndpointSecretRotateIn{}); err != nil {
			t.Fatalf("rotation: %v", err)
		}
	}
	err = client.Endpoint.RotateSecret(ctx, appID, epIDs[1], &svix.EndpointSecretRotateIn{})
	sdkError(t, err, 400)
	err = client.Authentication.Logout(ctx)
	sdkError(t, err, 403)
}

func ptr[T any](v T) *T { return &v }

// The operational webhook endpoint API, driven by the official SDK:
// create, get, list, update, secret, rotation, delete; filters name
// operational event types only; a portal token cannot reach it.
func TestSvixGoSDKOperationalWebhookEndpoints(t *testing.T) {
	t.Parallel()
	base, token := startServer(t)
	ctx := context.Background()
	client := svix.New(token, &svix.SvixOptions{ServerUrl: base})
	ops := client.OperationalWebhookEndpoint

	ep, err := ops.Create(ctx, &svix.OperationalWebhookEndpointIn{
		Url: "https://ops.example.com/herald", Uid: ptr("ops-1"), Description: ptr("on call"),
		FilterTypes: []string{"endpoint.disabled", "message.attempt.exhausted"},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ep.Url != "https://ops.example.com/herald" || len(ep.FilterTypes) != 2 || ep.Uid == nil || *ep.Uid != "ops-1" {
		t.Errorf("created %+v", ep)
	}
	if got, err := ops.Get(ctx, "ops-1"); err != nil || got.Id != ep.Id {
		t.Errorf("Get by uid: %+v, %v", got, err)
	}
	list, err := ops.List(ctx, nil)
	if err != nil || len(list.Data) != 1 || list.Data[0].Id != ep.Id {
		t.Errorf("List: %+v, %v", list, err)
	}
	up, err := ops.Update(ctx, ep.Id, &svix.OperationalWebhookEndpointUpdate{Url: "https://ops.example.com/v2", Disabled: ptr(true)})
	if err != nil || up.Url != "https://ops.example.com/v2" || up.Disabled == nil || !*up.Disabled {
		t.Errorf("Update: %+v, %v", up, err)
	}
	sec, err := ops.GetSecret(ctx, ep.Id)
	if err != nil || !strings.HasPrefix(sec.Key, "whsec_") {
		t.Fatalf("GetSecret: %+v, %v", sec, err)
	}
	if err := ops.RotateSecret(ctx, ep.Id, &svix.OperationalWebhookEndpointSecretIn{}); err != nil {
		t.Errorf("RotateSecret: %v", err)
	}
	if again, err := ops.GetSecret(ctx, ep.Id); err != nil || again.Key == sec.Key {
		t.Errorf("secret after rotation: %+v, %v", again, err)
	}
	_, err = ops.Create(ctx, &svix.OperationalWebhookEndpointIn{Url: "https://ops.example.com/", FilterTypes: []string{"invoice.paid"}})
	sdkError(t, err, http.StatusUnprocessableEntity)

	// The operational application is not a tenant's: no tenant route
	// reaches it, and the app list does not show it.
	apps, err := client.Application.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps.Data {
		if a.Name == "Herald operational webhooks" {
			t.Errorf("the app list shows the operational application %s", a.Id)
		}
	}
	app, err := client.Application.Create(ctx, &svix.ApplicationIn{Name: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	portal, err := client.Authentication.AppPortalAccess(ctx, app.Id, &svix.AppPortalAccessIn{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svix.New(portal.Token, &svix.SvixOptions{ServerUrl: base}).OperationalWebhookEndpoint.List(ctx, nil)
	sdkError(t, err, http.StatusNotFound) // as every admin route answers a portal token

	if err := ops.Delete(ctx, ep.Id); err != nil {
		t.Errorf("Delete: %v", err)
	}
	_, err = ops.Get(ctx, ep.Id)
	sdkError(t, err, http.StatusNotFound)
}

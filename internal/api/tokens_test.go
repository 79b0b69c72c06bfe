package api_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// TestAPITokens covers the Herald extension that lists, creates and revokes
// admin API tokens.
func TestAPITokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := b.must(t, 201, "POST", "/api/v1/token", map[string]any{"name": "deploy"})
	secret, _ := created["token"].(string)
	id, _ := created["id"].(string)
	if !ids.Valid(ids.Token, id) || created["name"] != "deploy" || len(secret) < 40 || secret[:4] != service.AdminTokenPrefix {
		t.Fatalf("created token: %v", created)
	}
	// The new token works, and is listed without its secret.
	if r := b.doAs(t, secret, "GET", "/api/v1/app", nil); r.Status != 200 {
		t.Fatalf("the new token: %s", r)
	}
	list := b.must(t, 200, "GET", "/api/v1/token?limit=250", nil)
	found := false
	for _, it := range list["data"].([]any) {
		m := it.(map[string]any)
		if _, ok := m["token"]; ok {
			t.Errorf("a listed token shows its secret: %v", m)
		}
		found = found || m["id"] == id
	}
	if !found || list["done"] != true {
		t.Errorf("list: %v", list)
	}
	wantValidation(t, b.do(t, "POST", "/api/v1/token", map[string]any{}), "body", "name")
	wantValidation(t, b.do(t, "POST", "/api/v1/token", map[string]any{"name": ""}), "body", "name")

	// Portal tokens reach none of it.
	app := b.createApp(t, map[string]any{"name": "tokens"})
	portal := b.portalToken(t, app, nil)
	wantError(t, b.doAs(t, portal, "GET", "/api/v1/token", nil), 404, "not_found")
	wantError(t, b.doAs(t, portal, "POST", "/api/v1/token", map[string]any{"name": "x"}), 404, "not_found")

	// Revoked, the token stops working at once on this server.
	if r := b.do(t, "DELETE", "/api/v1/token/"+id, nil); r.Status != 204 {
		t.Fatalf("revoke: %s", r)
	}
	wantError(t, b.doAs(t, secret, "GET", "/api/v1/app", nil), 401, "authentication_failed")
	wantError(t, b.do(t, "DELETE", "/api/v1/token/"+id, nil), 404, "not_found")
}

// TestSessionTokenIsNoBearer checks that a browser session of the portal or
// the console (a token row marked Session) is refused as an API token.
func TestSessionTokenIsNoBearer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "sessions"})
	appID := b.must(t, 200, "GET", "/api/v1/app/"+app, nil)["id"].(string)
	now := store.Truncate(b.clock.Now())
	for _, scope := range []string{"", appID} {
		token, hash := service.NewToken(service.SessionTokenPrefix)
		if err := b.store.CreateToken(t.Context(), &store.Token{ID: ids.New(ids.Token), Hash: hash, AppID: scope,
			Name: "session", Session: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		wantError(t, b.doAs(t, token, "GET", "/api/v1/app/"+app, nil), 401, "authentication_failed")
	}
}

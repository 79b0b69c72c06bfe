package service_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// TestScope pins the one authorisation rule the API and the portal share:
// admins reach every app and event type; a portal token or session reaches
// its own app, and event types without a feature flag.
func TestScope(t *testing.T) {
	t.Parallel()
	admin := service.Caller{TokenID: "tok_admin"}
	portal := service.Caller{TokenID: "tok_portal", AppID: "app_a"}
	for _, c := range []struct {
		caller service.Caller
		app    string
		want   bool
	}{
		{admin, "app_a", true}, {admin, "app_b", true},
		{portal, "app_a", true}, {portal, "app_b", false}, {portal, "", false},
	} {
		if got := c.caller.Reaches(c.app); got != c.want {
			t.Errorf("%+v reaches %q: %v, want %v", c.caller, c.app, got, c.want)
		}
	}
	flagged := &store.EventType{Name: "beta.thing", FeatureFlag: "beta"}
	plain := &store.EventType{Name: "invoice.paid"}
	if !service.Visible(admin, flagged) || !service.Visible(portal, plain) || service.Visible(portal, flagged) {
		t.Error("visibility of event types")
	}
	if admin.Portal() || !portal.Portal() {
		t.Error("Portal()")
	}
}

// TestAttemptResponse checks that a portal caller reads the plain reason of
// an attempt that got no response, and an admin all of it.
func TestAttemptResponse(t *testing.T) {
	t.Parallel()
	at := &store.Attempt{Response: "could not connect to the endpoint: dial tcp 10.0.0.7:443: connect: connection refused"}
	if got := service.AttemptResponse(service.Caller{}, at); got != at.Response {
		t.Errorf("admin reads %q", got)
	}
	if got := service.AttemptResponse(service.Caller{AppID: "app_a"}, at); got != "could not connect to the endpoint" {
		t.Errorf("portal reads %q", got)
	}
	answered := &store.Attempt{StatusCode: 500, Response: `{"error": "10.0.0.7 down"}`}
	if got := service.AttemptResponse(service.Caller{AppID: "app_a"}, answered); got != answered.Response {
		t.Errorf("a receiver's body is shown as sent: %q", got)
	}
}

package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// App is an application: one customer of the sender, with its endpoints and
// messages.
type App struct {
	// ID is Herald's id of the application, app_...
	ID string `json:"id"`
	// UID is the caller's own id of the application; empty if none.
	UID string `json:"uid"`
	// Name is the application's display name.
	Name string `json:"name"`
	// ThrottleRate is the default most messages per second delivered to
	// each of its endpoints; zero means unlimited.
	ThrottleRate int `json:"throttleRate"`
	// Metadata holds the caller's key-value pairs; empty if none.
	Metadata map[string]string `json:"metadata"`
	// CreatedAt is when the application was created.
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when the application last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// AppIn is the body of CreateApp and UpdateApp.
type AppIn struct {
	// Name is the display name. Required.
	Name string `json:"name"`
	// UID is the caller's own id, by which the application can be named
	// instead of its ID: 1-256 characters of [a-zA-Z0-9-_.], not starting
	// with "app_". Empty means none.
	UID string `json:"uid,omitempty"`
	// ThrottleRate is the most messages per second delivered to each
	// endpoint, 1-65535. Zero means unlimited.
	ThrottleRate int `json:"throttleRate,omitempty"`
	// Metadata holds key-value pairs for the caller. Nil means none.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// AppPatch is the body of PatchApp: nil fields are left unchanged.
type AppPatch struct {
	// Name, when not nil, replaces the display name.
	Name *string `json:"name,omitempty"`
	// UID, when not nil, replaces the uid.
	UID *string `json:"uid,omitempty"`
	// ThrottleRate, when not nil, replaces the throttle rate.
	ThrottleRate *int `json:"throttleRate,omitempty"`
	// Metadata, when not nil, replaces the metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// PortalAccess is a login to the consumer portal for one application.
type PortalAccess struct {
	// URL opens the portal logged in; hand it to the application's owner.
	URL string `json:"url"`
	// Token is an API token that reaches only this application.
	Token string `json:"token"`
}

// ListApps returns a page of applications, oldest first unless
// opts.Order says otherwise. It needs an admin token.
func (c *Client) ListApps(ctx context.Context, opts *ListOptions) (*ListResponse[App], error) {
	var out ListResponse[App]
	err := c.do(ctx, http.MethodGet, []string{"app"}, opts.query(), nil, &out)
	return ret(&out, err)
}

// CreateApp creates an application. A uid that is already taken is a 409
// Conflict; see GetOrCreateApp.
func (c *Client) CreateApp(ctx context.Context, in AppIn) (*App, error) {
	var out App
	err := c.do(ctx, http.MethodPost, []string{"app"}, nil, in, &out)
	return ret(&out, err)
}

// GetOrCreateApp returns the application whose uid is in.UID, creating it
// from in if there is none.
func (c *Client) GetOrCreateApp(ctx context.Context, in AppIn) (*App, error) {
	var out App
	err := c.do(ctx, http.MethodPost, []string{"app"}, url.Values{"get_if_exists": {"true"}}, in, &out)
	return ret(&out, err)
}

// GetApp returns the application with the id or uid appID.
func (c *Client) GetApp(ctx context.Context, appID string) (*App, error) {
	var out App
	err := c.do(ctx, http.MethodGet, []string{"app", appID}, nil, nil, &out)
	return ret(&out, err)
}

// UpdateApp replaces every field of an application with those of in
// (fields left zero are cleared). If there is no application appID, it is
// created with the uid in.UID.
func (c *Client) UpdateApp(ctx context.Context, appID string, in AppIn) (*App, error) {
	var out App
	err := c.do(ctx, http.MethodPut, []string{"app", appID}, nil, in, &out)
	return ret(&out, err)
}

// PatchApp changes the fields of an application that in sets.
func (c *Client) PatchApp(ctx context.Context, appID string, in AppPatch) (*App, error) {
	var out App
	err := c.do(ctx, http.MethodPatch, []string{"app", appID}, nil, in, &out)
	return ret(&out, err)
}

// DeleteApp deletes an application with its endpoints, messages and
// attempts.
func (c *Client) DeleteApp(ctx context.Context, appID string) error {
	return c.do(ctx, http.MethodDelete, []string{"app", appID}, nil, nil, nil)
}

// AppPortalAccess returns a consumer portal login for an application: a URL
// to hand to its owner and the app-scoped token inside it.
func (c *Client) AppPortalAccess(ctx context.Context, appID string) (*PortalAccess, error) {
	var out PortalAccess
	err := c.do(ctx, http.MethodPost, []string{"auth", "app-portal-access", appID}, nil, struct{}{}, &out)
	return ret(&out, err)
}

// ret returns out, or nil and err.
func ret[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

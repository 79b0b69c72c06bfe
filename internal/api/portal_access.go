package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

type appPortalAccessIn struct {
	Application  Opt[appIn]    `json:"application"`
	FeatureFlags Opt[[]string] `json:"featureFlags"`
	// Expiry in seconds is a Herald extension; default the server's
	// portal token lifetime.
	Expiry Opt[int64] `json:"expiry"`
}

// appPortalAccess returns a token that reaches only one app, and the URL of
// the consumer portal logged in with it.
func (a *API) appPortalAccess(w http.ResponseWriter, r *http.Request) error {
	var in appPortalAccessIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	if flags, ok := in.FeatureFlags.Value(); ok {
		v.IdentList("featureFlags", flags, 256, 0, 0)
	}
	ttl := a.PortalTokenTTL
	if n, ok := in.Expiry.Value(); ok {
		ttl = v.Duration("expiry", n, 60, 365*24*3600, time.Second, "seconds (one year)")
	}
	if err := v.Err(); err != nil {
		return err
	}
	app, err := a.loadApp(r)
	if errors.Is(err, store.ErrNotFound) {
		ain, ok := in.Application.Value()
		if !ok {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Detail: "Application not found"}
		}
		if app, err = a.autoCreateApp(r, &ain); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	token, err := a.svc.CreatePortalToken(r.Context(), app.ID, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"url":   service.PortalURL(a.PublicURL, token),
		"token": token,
	})
	return nil
}

// autoCreateApp creates the app named in the path from an "application"
// body field; its uid must be the path value (or absent, then it becomes
// the uid).
func (a *API) autoCreateApp(r *http.Request, in *appIn) (*store.App, error) {
	pathID := r.PathValue("app_id")
	var v validator
	v.Ident([]string{"path", "app_id"}, pathID, 256)
	if strings.HasPrefix(pathID, ids.App) {
		return nil, errNotFound()
	}
	if uid, ok := in.UID.Value(); ok && uid != pathID {
		v.Add([]string{"body", "application", "uid"}, "the application's uid must equal the app_id in the path", "application_uid_mismatch")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	in.UID = Opt[string]{Set: true, V: pathID}
	rate, err := validateApp(in, true)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Items {
				ve.Items[i].Loc = append([]string{"body", "application"}, ve.Items[i].Loc[1:]...)
			}
		}
		return nil, err
	}
	app, _, err := a.createAppFrom(r, in, rate, true)
	return app, err
}

// logout revokes the app portal token of the request. Admin tokens cannot
// log out (revoke them with the CLI instead).
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.AppID == "" {
		return &Error{Status: http.StatusForbidden, Code: "insufficient access",
			Detail: "Only app portal tokens can log out; admin tokens are revoked with `herald token revoke`"}
	}
	if err := a.store.DeleteToken(r.Context(), p.TokenID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a.tokens.DropIf(func(c *principal) bool { return c.TokenID == p.TokenID })
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dashboardAccess is the deprecated form of appPortalAccess that older Svix
// SDKs still call (POST /api/v1/auth/dashboard-access/{app_id}): the same
// answer, {url, token}.
func (a *API) dashboardAccess(w http.ResponseWriter, r *http.Request) error {
	return a.appPortalAccess(w, r)
}

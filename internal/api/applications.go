package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// appIn is ApplicationIn and ApplicationPatch.
type appIn struct {
	Name         Opt[string]            `json:"name"`
	UID          Opt[string]            `json:"uid"`
	ThrottleRate Opt[int]               `json:"throttleRate"`
	RateLimit    Opt[int]               `json:"rateLimit"` // older name
	Metadata     Opt[map[string]string] `json:"metadata"`
}

type appOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid"`
	Name         string            `json:"name"`
	ThrottleRate *int              `json:"throttleRate"`
	RateLimit    *int              `json:"rateLimit,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

type appOutLegacy struct {
	ID        string            `json:"id"`
	UID       *string           `json:"uid,omitempty"`
	Name      string            `json:"name"`
	RateLimit *int              `json:"rateLimit,omitempty"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

func appJSON(r *http.Request, app *store.App) any {
	uid := optString(app.UID)
	rate := optInt(app.ThrottleRate)
	if legacyClient(r) {
		return appOutLegacy{ID: app.ID, UID: uid, Name: app.Name, RateLimit: rate,
			Metadata: app.Metadata, CreatedAt: app.CreatedAt, UpdatedAt: app.UpdatedAt}
	}
	return appOut{ID: app.ID, UID: uid, Name: app.Name, ThrottleRate: rate, RateLimit: rate,
		Metadata: app.Metadata, CreatedAt: app.CreatedAt, UpdatedAt: app.UpdatedAt}
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// set sets *dst to *v when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func optInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// validateApp checks an application body; full is true for create and PUT.
func validateApp(in *appIn, full bool) (Opt[int], error) {
	var v validator
	if full && !in.Name.Set || in.Name.Null {
		v.Body("name", "field required", "value_error.missing")
	} else if name, ok := in.Name.Value(); ok {
		v.Text("name", name, 1, 256)
	}
	if uid, ok := in.UID.Value(); ok {
		v.Ident([]string{"body", "uid"}, uid, 256)
		if strings.HasPrefix(uid, ids.App) {
			v.Body("uid", "Uids are not allowed to have the same prefix as the ID. Prefix with _?", "value_error")
		}
	}
	rate := service.Throttle(&v, in.ThrottleRate, in.RateLimit)
	if m, ok := in.Metadata.Value(); ok {
		v.Metadata("metadata", m)
	}
	return rate, v.Err()
}

// appUpdate is the change an application body asks for. With full (create
// and PUT: ApplicationIn) it names every field the body carries, absent
// optional fields taking their defaults; otherwise (PATCH) only the fields
// present.
func appUpdate(in *appIn, rate Opt[int], full bool) store.UpdateAppParams {
	var p store.UpdateAppParams
	if full || in.Name.Set {
		p.Name = &in.Name.V
	}
	if full || in.UID.Set {
		p.UID = &in.UID.V
	}
	if full || rate.Set {
		n, _ := rate.Value()
		p.ThrottleRate = &n
	}
	if full || in.Metadata.Set {
		m := in.Metadata.V
		if m == nil {
			m = map[string]string{}
		}
		p.Metadata = &m
	}
	return p
}

// loadApp returns the app named by the path's app_id (id or uid), as seen
// by the caller: a portal token sees only its own app.
func (a *API) loadApp(r *http.Request) (*store.App, error) {
	app, err := a.store.GetApp(r.Context(), r.PathValue("app_id"))
	if err != nil {
		return nil, err
	}
	if p := principalFrom(r.Context()); p.AppID != "" && p.AppID != app.ID || a.Events.Is(app.ID) != operationalRoute(r) {
		// The operational application is reached through its own routes
		// (/api/v1/operational-webhook) only.
		return nil, errNotFound()
	}
	return app, nil
}

func (a *API) listApps(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r.URL.Query(), false, true, func(s string) bool { return strings.HasPrefix(s, ids.App) })
	if err != nil {
		return err
	}
	// The operational application is not listed: read one row more, in
	// case it is among them.
	page := lq.page()
	page.Limit++
	apps, err := a.store.ListApps(r.Context(), page)
	if err != nil {
		return err
	}
	apps = slices.DeleteFunc(apps, func(x *store.App) bool { return a.Events.Is(x.ID) })
	if len(apps) > lq.limit+1 {
		apps = apps[:lq.limit+1]
	}
	resp := finish(lq, apps, func(x *store.App) string { return x.ID }, func(x *store.App) any { return appJSON(r, x) })
	return writeList(w, resp)
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request) error {
	getIfExists, err := queryBool(r.URL.Query(), "get_if_exists", false)
	if err != nil {
		return err
	}
	var in appIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, err := validateApp(&in, true)
	if err != nil {
		return err
	}
	app, created, err := a.createAppFrom(r, &in, rate, getIfExists)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, appJSON(r, app))
	return nil
}

// createAppFrom creates an app from a validated body. With getIfExists, an
// app with the same uid is returned instead (created = false).
func (a *API) createAppFrom(r *http.Request, in *appIn, rate Opt[int], getIfExists bool) (*store.App, bool, error) {
	now := a.now()
	app := &store.App{ID: ids.NewAt(ids.App, now), CreatedAt: now, UpdatedAt: now}
	p := appUpdate(in, rate, true)
	set(&app.Name, p.Name)
	set(&app.UID, p.UID)
	set(&app.ThrottleRate, p.ThrottleRate)
	set(&app.Metadata, p.Metadata)
	if getIfExists && app.UID != "" {
		if existing, err := a.store.GetApp(r.Context(), app.UID); err == nil {
			return existing, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	err := a.store.CreateApp(r.Context(), app)
	if errors.Is(err, store.ErrConflict) {
		if getIfExists {
			// Created concurrently by another request.
			if existing, err := a.store.GetApp(r.Context(), app.UID); err == nil {
				return existing, false, nil
			}
		}
		return nil, false, errConflict("An application with that id or uid already exists")
	}
	if err != nil {
		return nil, false, err
	}
	return app, true, nil
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appJSON(r, app))
	return nil
}

func (a *API) updateApp(w http.ResponseWriter, r *http.Request) error {
	var in appIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, err := validateApp(&in, true)
	if err != nil {
		return err
	}
	app, err := a.loadApp(r)
	if errors.Is(err, store.ErrNotFound) {
		// PUT creates a missing app; its uid comes from the body.
		app, _, err := a.createAppFrom(r, &in, rate, false)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, appJSON(r, app))
		return nil
	}
	if err != nil {
		return err
	}
	return a.saveApp(w, r, app.ID, appUpdate(&in, rate, true))
}

func (a *API) patchApp(w http.ResponseWriter, r *http.Request) error {
	var in appIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, err := validateApp(&in, false)
	if err != nil {
		return err
	}
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	return a.saveApp(w, r, app.ID, appUpdate(&in, rate, false))
}

// saveApp writes the change p to the app with id and answers with the app
// as written.
func (a *API) saveApp(w http.ResponseWriter, r *http.Request, id string, p store.UpdateAppParams) error {
	p.ID, p.UpdatedAt = id, a.now()
	a.dropApp(id)
	app, err := a.store.UpdateApp(r.Context(), p)
	a.dropApp(id) // and any lookup that raced with the update
	if errors.Is(err, store.ErrConflict) {
		return errConflict("An application with that id or uid already exists")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appJSON(r, app))
	return nil
}

func (a *API) deleteApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	a.dropApp(app.ID)
	if err := a.store.DeleteApp(r.Context(), app.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

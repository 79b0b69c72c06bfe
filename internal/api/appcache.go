package api

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// appCacheTTL bounds how long message creation may use an app looked up
// earlier. Changes made through this process are seen at once; changes made
// through another replica (a uid moved to another app) within this time.
// Creating a message still fails cleanly if the app was deleted: the store
// checks that it exists in the same transaction.
const appCacheTTL = time.Second

// loadAppCached is loadApp for the ingest path, through the app cache.
func (a *API) loadAppCached(r *http.Request) (*store.App, error) {
	key := r.PathValue("app_id")
	now := a.Now()
	app, ok := a.apps.Get(key, now)
	if !ok {
		var err error
		if app, err = a.store.GetApp(r.Context(), key); err != nil {
			return nil, err
		}
		a.apps.Put(key, app, now.Add(appCacheTTL))
	}
	if p := principalFrom(r.Context()); p.AppID != "" && p.AppID != app.ID || a.Events.Is(app.ID) {
		return nil, errNotFound() // the operational application takes no messages from outside
	}
	return app, nil
}

// dropApp forgets every cached lookup of the app with id.
func (a *API) dropApp(id string) {
	a.apps.DropIf(func(app *store.App) bool { return app.ID == id })
}

package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// appCacheTTL bounds how long message creation may use an app looked up
// earlier. Changes made through this process are seen at once; changes made
// through another replica (a uid moved to another app) within this time.
// Creating a message still fails cleanly if the app was deleted: the store
// checks that it exists in the same transaction.
const appCacheTTL = time.Second

// appCache keeps recent app lookups for the message ingest path, where a
// database read per request (in SQLite, several file-lock system calls) is a
// large part of the cost.
type appCache struct {
	mu sync.Mutex
	m  map[string]cachedApp // by the id or uid used in the path
}

type cachedApp struct {
	app     *store.App
	expires time.Time
}

func newAppCache() *appCache { return &appCache{m: make(map[string]cachedApp)} }

func (c *appCache) get(key string, now time.Time) (*store.App, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.app, true
}

func (c *appCache) put(key string, app *store.App, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10000 {
		clear(c.m)
	}
	c.m[key] = cachedApp{app: app, expires: now.Add(appCacheTTL)}
}

// drop forgets every key of the app with id.
func (c *appCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.app.ID == id {
			delete(c.m, k)
		}
	}
}

// loadAppCached is loadApp for the ingest path, through the app cache.
func (a *API) loadAppCached(r *http.Request) (*store.App, error) {
	key := r.PathValue("app_id")
	now := time.Now()
	app, ok := a.apps.get(key, now)
	if !ok {
		var err error
		if app, err = a.store.GetApp(r.Context(), key); err != nil {
			return nil, err
		}
		a.apps.put(key, app, now)
	}
	if p := principalFrom(r.Context()); p.AppID != "" && p.AppID != app.ID {
		return nil, errNotFound()
	}
	return app, nil
}

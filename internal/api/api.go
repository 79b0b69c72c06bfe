// Package api serves Herald's HTTP API: the Svix-compatible contract under
// /api/v1. Routes live in one table (routes.go); handlers return errors and
// one writer maps them to the wire format (errors.go).
package api

import (
	"crypto/sha256"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// Dispatcher is the delivery engine as the API sees it.
type Dispatcher = service.Dispatcher

// MessageWriter writes one message with its deliveries; the server passes a
// group committer so that concurrent requests share a transaction.
type MessageWriter = service.MessageWriter

// Options configure the API.
type Options struct {
	Store store.Store
	// WriteMessage creates messages; nil writes each one in its own call
	// to Store.CreateMessages.
	WriteMessage MessageWriter
	// Dispatcher receives new deliveries; nil leaves them to be claimed.
	Dispatcher Dispatcher
	// KickTasks, when set, is called after a background task is created.
	KickTasks func()
	// Box seals endpoint secrets at rest. Required.
	Box *secretbox.Box
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AdminToken is a configured admin token accepted besides stored
	// tokens; empty: none.
	AdminToken string
	// PublicURL is the base URL of this server, for portal links.
	PublicURL string
	// MaxBodyBytes caps request bodies (413 beyond). Zero means 1 MiB.
	MaxBodyBytes int64
	// PortalTokenTTL is the default lifetime of app portal tokens; zero
	// means 7 days.
	PortalTokenTTL time.Duration
	// Version is reported in the OpenAPI document.
	Version string
	// Observe, when set, is called after each request with the route's
	// pattern (without the method; empty for a request that matched no
	// route), the method, the status written and the time the handler
	// took (for metrics). It must be fast and safe for concurrent use.
	Observe func(route, method string, status int, d time.Duration)
	// Events builds the operational events of endpoint changes, and names
	// the operational application (hidden from the tenant routes, reached
	// through /api/v1/operational-webhook); nil: none.
	Events *operational.Events
	// ValidatePayloads validates the payload of each message against the
	// newest schema of its event type, for event types whose own setting
	// (validatePayloads, a Herald extension) is null. Default false.
	ValidatePayloads bool
}

// API is the HTTP API.
type API struct {
	Options
	store store.Store
	// svc holds the rules the API shares with the portal.
	svc *service.Service
	log *slog.Logger
	// tokens and apps cache lookups for the ingest path: token hash to
	// caller, and the app_id of a path (id or uid) to the app.
	tokens *service.Cache[[sha256.Size]byte, *principal]
	apps   *service.Cache[string, *store.App]
	mux    *http.ServeMux
}

// New returns the API.
func New(opts Options) *API {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.PortalTokenTTL == 0 {
		opts.PortalTokenTTL = 7 * 24 * time.Hour
	}
	svc := service.New(service.Config{Store: opts.Store, Box: opts.Box, WriteMessage: opts.WriteMessage,
		Dispatcher: opts.Dispatcher, KickTasks: opts.KickTasks, Now: opts.Now, Events: opts.Events,
		ValidatePayloads: opts.ValidatePayloads})
	a := &API{Options: opts, store: opts.Store, svc: svc, log: opts.Log, tokens: service.NewCache[[sha256.Size]byte, *principal](), apps: service.NewCache[string, *store.App]()}
	a.mux = http.NewServeMux()
	for _, rt := range routes {
		a.mux.Handle(rt.Method+" "+rt.Pattern, a.wrap(rt))
	}
	a.mux.Handle("/", a.observe("", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, errNotFound())
	}))
	return a
}

// Service is the domain code the API runs on, for the portal to share.
func (a *API) Service() *service.Service { return a.svc }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The Svix SDKs and users write paths with and without a trailing
	// slash; both reach the same route. Only one slash goes, and only a
	// real one: "/app/%2F" names the app "/" and "/app//" is no route,
	// neither is the list of apps. The mux matches the escaped path, so
	// Path and RawPath are trimmed alike.
	if p := r.URL.EscapedPath(); len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
		r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, a.MaxBodyBytes)
	}
	a.mux.ServeHTTP(w, r)
}

func (a *API) now() time.Time { return store.Truncate(a.Now()) }

// wrap turns a route into an http.Handler: authentication, scope checks,
// idempotency for POSTs, and error writing.
func (a *API) wrap(rt route) http.Handler {
	params := pathParams(rt.Pattern)
	return a.observe(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
		if rt.Auth != authNone {
			p, err := a.authenticate(r)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			if rt.Auth == authAdmin && p.AppID != "" {
				// Portal tokens see nothing outside their app.
				a.writeError(w, r, errNotFound())
				return
			}
			r = r.WithContext(withPrincipal(r.Context(), p))
		}
		if err := checkRequestText(r, params); err != nil {
			a.writeError(w, r, err)
			return
		}
		h := func(w http.ResponseWriter, r *http.Request) error { return rt.Handle(a, w, r) }
		if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") != "" && rt.Auth != authNone {
			if err := a.idempotent(w, r, h); err != nil {
				a.writeError(w, r, err)
			}
			return
		}
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// pathParams returns the names of the wildcards of a route pattern.
func pathParams(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			names = append(names, strings.TrimSuffix(name, "}"))
		}
	}
	return names
}

// checkRequestText refuses path and query values that are not valid UTF-8
// or hold U+0000: no driver can store them, and PostgreSQL cannot even
// compare them with a stored string (it would answer an error, not "no
// such row"), so both drivers refuse them alike, with a 422 naming each.
func checkRequestText(r *http.Request, params []string) error {
	const msg = "must be valid UTF-8 without the NUL character (U+0000)"
	var v validator
	for _, name := range params {
		if !storableText(r.PathValue(name)) {
			v.Add([]string{"path", name}, msg, "value_error")
		}
	}
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !storableText(name) || slices.ContainsFunc(q[name], func(s string) bool { return !storableText(s) }) {
			v.Add([]string{"query", name}, msg, "value_error")
		}
	}
	return v.Err()
}

// observe calls Options.Observe after h, with the status h wrote.
func (a *API) observe(pattern string, h http.HandlerFunc) http.Handler {
	if a.Observe == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		a.Observe(pattern, r.Method, sw.Status(), time.Since(start))
	})
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the status written, 200 when the handler wrote none.
func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

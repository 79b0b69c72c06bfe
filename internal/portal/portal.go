// Package portal serves Herald in a browser: the consumer portal (/portal),
// which an app portal link opens signed in to one application, and the
// operator console (/console), signed in with an admin token. Pages are
// html/template rendered on the server from embedded assets, with a little
// plain JavaScript (no inline script: the Content-Security-Policy forbids
// it) that is never needed to read.
//
// The portal calls the same domain code as the API (package service) and
// shares its authorisation rule: a portal session is an app-scoped token,
// and an app it does not reach behaves as one that does not exist (404).
//
// # Sessions
//
// The link's token travels in the URL fragment, which browsers never send
// to servers (so it is never logged and never in a Referer). The sign-in
// page's script POSTs it to /portal/session, which checks it, stores a new
// session (a token row marked Session, hashed, app-scoped, expiring with the
// link) and sets it as an HttpOnly cookie; the script then replaces the
// location, so the fragment leaves the history. The console signs in the
// same way with an admin token typed into a form. Sessions live in the
// database, so they work across replicas; signing out deletes the row.
// Every state-changing form carries a token derived from the session
// (HMAC of a fixed label keyed by the session's secret) that each POST
// must present, and POSTs from another origin are refused.
package portal

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

//go:embed assets
var assets embed.FS

// Options configure the portal and the console.
type Options struct {
	// Service is the domain code shared with the API. Required.
	Service *service.Service
	Log     *slog.Logger
	// AdminToken is a configured admin token accepted besides stored ones
	// (HERALD_ADMIN_TOKEN); empty: none.
	AdminToken string
	// PublicURL is the base URL of this server, for portal links.
	PublicURL string
	// PortalTokenTTL is the lifetime of the portal links the console
	// makes; zero means 7 days.
	PortalTokenTTL time.Duration
	// FrameAncestors are the origins allowed to embed the portal in a
	// frame (the Content-Security-Policy's frame-ancestors). Empty: none,
	// and the session cookie is SameSite=Lax; otherwise it is
	// SameSite=None; Secure; Partitioned, which needs HTTPS.
	FrameAncestors []string
	// Live returns the numbers of the console's live overview; nil shows
	// none.
	Live func() Live
}

// Live is what the console's overview shows: the numbers /metrics serves,
// from the same sources.
type Live struct {
	// Attempts counts delivery attempts by outcome (success, failure,
	// timeout, error) since the process started.
	Attempts map[string]float64
	// DueFirst, DueRetry and DueParked are the due deliveries of the
	// claim queues (parked: waiting for room at their endpoints),
	// OldestDueAge the wait of the one due longest, as last sampled.
	DueFirst, DueRetry, DueParked float64
	OldestDueAge                  time.Duration
	// InFlight and Queued are this process's requests in flight and jobs
	// held in memory.
	InFlight, Queued float64
}

// Portal is the http.Handler of /portal/ and /console/.
type Portal struct {
	opts  Options
	svc   *service.Service
	store store.Store
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	csp   string
	// rates keeps recent samples of the attempt counters, for the
	// overview's deliveries per second.
	rates rateSamples
}

// New returns the portal and the console.
func New(opts Options) (*Portal, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.PortalTokenTTL == 0 {
		opts.PortalTokenTTL = 7 * 24 * time.Hour
	}
	p := &Portal{opts: opts, svc: opts.Service, store: opts.Service.Store(), log: opts.Log, mux: http.NewServeMux()}
	var err error
	if p.pages, err = parsePages(); err != nil {
		return nil, err
	}
	ancestors := "'none'"
	if len(opts.FrameAncestors) > 0 {
		ancestors = strings.Join(opts.FrameAncestors, " ")
	}
	p.csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors " + ancestors
	p.routes()
	return p, nil
}

// ServeHTTP implements http.Handler.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if len(p.opts.FrameAncestors) == 0 {
		h.Set("X-Frame-Options", "DENY")
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	}
	p.mux.ServeHTTP(w, r)
}

// Handles reports whether path is the portal's or the console's.
func Handles(path string) bool {
	return path == "/portal" || path == "/console" || strings.HasPrefix(path, "/portal/") || strings.HasPrefix(path, "/console/")
}

// handler is a page: it renders, redirects, or returns an error that
// becomes an error page.
type handler func(w http.ResponseWriter, r *http.Request, v *view) error

func (p *Portal) routes() {
	static, _ := fs.Sub(assets, "assets/static")
	files := http.FileServerFS(static)
	p.mux.Handle("GET /portal/static/", http.StripPrefix("/portal/static/", cacheStatic(files)))
	p.mux.Handle("GET /portal", http.RedirectHandler("/portal/", http.StatusMovedPermanently))
	p.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))

	// Signing in and out.
	p.mux.HandleFunc("GET /portal/{$}", p.portalSignIn)
	p.mux.HandleFunc("POST /portal/session", p.portalSession)
	p.mux.HandleFunc("GET /portal/signed-out", p.notice(http.StatusOK, "Signed out", "You are signed out of the portal. Open your portal link again to sign back in."))
	p.mux.HandleFunc("GET /portal/invalid", p.notice(http.StatusUnauthorized, "Link not valid", "This portal link is not valid: it may have been revoked or mistyped. Ask for a new one."))
	p.mux.HandleFunc("GET /portal/expired", p.notice(http.StatusUnauthorized, "Link expired", "This portal link or session has expired. Ask for a new link: links are valid for a limited time."))
	p.mux.HandleFunc("POST /portal/logout", p.page(portalArea, p.logout))
	p.mux.HandleFunc("POST /console/session", p.consoleSession)
	p.mux.HandleFunc("POST /console/logout", p.page(consoleArea, p.logout))

	// The application views, in the portal and in the console.
	for _, area := range []area{portalArea, consoleArea} {
		base := area.prefix + "/app/{app}"
		app := func(method, path string, h handler) {
			p.mux.HandleFunc(method+" "+base+path, p.page(area, p.withApp(h)))
		}
		app("GET", "/{$}", p.endpoints)
		app("GET", "/endpoints/new", p.newEndpoint)
		app("POST", "/endpoints", p.createEndpoint)
		app("GET", "/endpoint/{ep}", p.endpoint)
		app("GET", "/endpoint/{ep}/edit", p.editEndpoint)
		app("POST", "/endpoint/{ep}", p.updateEndpoint)
		app("POST", "/endpoint/{ep}/enabled", p.setEnabled)
		app("GET", "/endpoint/{ep}/delete", p.confirmDelete)
		app("POST", "/endpoint/{ep}/delete", p.deleteEndpoint)
		app("POST", "/endpoint/{ep}/rotate", p.rotateSecret)
		app("POST", "/endpoint/{ep}/test", p.sendTest)
		app("POST", "/endpoint/{ep}/recover", p.recoverEndpoint)
		app("GET", "/msg/{msg}", p.message)
		app("GET", "/msg/{msg}/attempt/{attempt}", p.attempt)
		app("POST", "/msg/{msg}/endpoint/{ep}/resend", p.resend)
		app("GET", "/activity", p.activity)
		app("GET", "/event-types", p.eventCatalogue)
	}
	p.mux.HandleFunc("POST /console/app/{app}/portal-link", p.page(consoleArea, p.withApp(p.portalLink)))

	// The console's own pages.
	console := func(method, path string, h handler) {
		p.mux.HandleFunc(method+" /console"+path, p.page(consoleArea, h))
	}
	p.mux.HandleFunc("GET /console/{$}", p.consoleHome)
	console("GET", "/live.json", p.liveJSON)
	console("GET", "/apps", p.apps)
	console("GET", "/failing", p.failing)
	console("GET", "/event-types", p.eventTypes)
	console("GET", "/event-types/new", p.newEventType)
	console("POST", "/event-types", p.createEventType)
	console("GET", "/event-types/{name}", p.editEventType)
	console("POST", "/event-types/{name}", p.updateEventType)
	console("POST", "/event-types/{name}/archive", p.archiveEventType)
	console("GET", "/tokens", p.tokens)
	console("POST", "/tokens", p.createToken)
	console("POST", "/tokens/{id}/revoke", p.revokeToken)

	p.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, nil, errNotFound)
	})
}

// cacheStatic lets browsers keep the assets for an hour.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// errNotFound is a page that does not exist, or that the caller may not see.
var errNotFound = &service.Error{Status: http.StatusNotFound, Code: "not_found", Detail: "There is nothing here, or it is not yours to see."}

// notFound turns the store's ErrNotFound into errNotFound.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	return err
}

// rateSamples keeps the attempt counters as sampled at recent requests.
type rateSamples struct {
	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	at             time.Time
	total, success float64
}

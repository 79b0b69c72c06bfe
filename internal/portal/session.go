package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// area is the portal or the console: where its pages live and its cookie.
type area struct {
	prefix string
	cookie string
	// console areas are for admins only.
	console bool
}

var (
	portalArea  = area{prefix: "/portal", cookie: "herald_portal"}
	consoleArea = area{prefix: "/console", cookie: "herald_console", console: true}
)

// consoleSessionTTL is how long a console session lasts.
const consoleSessionTTL = 12 * time.Hour

// view is what a page knows of its request: who asks, in which area, for
// which app.
type view struct {
	area    area
	caller  service.Caller
	session *store.Token
	csrf    string
	// app is the app of /app/{app} pages.
	app *store.App
}

// base is the path of the app's pages.
func (v *view) base() string {
	return v.area.prefix + "/app/" + v.app.ID
}

// errSignedOut asks the browser to sign in again.
var errSignedOut = errors.New("no session")

// errExpired is a session or link that expired.
var errExpired = errors.New("expired")

// session returns the session of r in area a.
func (p *Portal) session(r *http.Request, a area) (*view, error) {
	c, err := r.Cookie(a.cookie)
	if err != nil || !strings.HasPrefix(c.Value, service.SessionTokenPrefix) {
		return nil, errSignedOut
	}
	t, err := p.store.GetTokenByHash(r.Context(), service.HashToken(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errSignedOut
	}
	if err != nil {
		return nil, err
	}
	if !t.Session || (t.AppID == "") != a.console {
		return nil, errSignedOut
	}
	if !p.svc.Now().Before(t.ExpiresAt) {
		return nil, errExpired
	}
	// A session lives no longer than the token it was signed in with: a
	// portal link revoked (logout) or an admin token revoked ends it.
	if parent, ok := strings.CutPrefix(t.Name, sessionOf); ok {
		hash, err := hex.DecodeString(parent)
		if err != nil {
			return nil, errSignedOut
		}
		pt, err := p.store.GetTokenByHash(r.Context(), hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errSignedOut
		}
		if err != nil {
			return nil, err
		}
		if !pt.ExpiresAt.IsZero() && !p.svc.Now().Before(pt.ExpiresAt) {
			return nil, errExpired
		}
	}
	return &view{area: a, caller: service.Caller{TokenID: t.ID, AppID: t.AppID}, session: t, csrf: csrfToken(c.Value)}, nil
}

// sessionOf starts the name of a session signed in with a stored token;
// the hex of that token's hash follows. (The configured admin token is not
// stored: its sessions end with their own expiry.)
const sessionOf = "session of "

// csrfToken is the token every form of a session carries: derived from the
// session's secret, which only the cookie holds.
func csrfToken(session string) string {
	m := hmac.New(sha256.New, []byte(session))
	m.Write([]byte("herald portal csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses a request that says it comes from another site.
// Browsers send Sec-Fetch-Site with every request; older ones send Origin
// with a POST (as "null" under Referrer-Policy: no-referrer, which the
// pages set, so "null" proves nothing either way). A form on another site
// that posts here is refused before its CSRF token is even looked at.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// page wraps a handler: the session of the area (a page that needs one
// sends the browser to sign in), CSRF checks on POST, no caching, and
// errors turned into pages.
func (p *Portal) page(a area, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		v, err := p.session(r, a)
		if err != nil {
			p.signedOut(w, r, a, err)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				p.renderError(w, r, v, &service.Error{Status: http.StatusForbidden, Code: "forbidden", Detail: "This form was sent from another site."})
				return
			}
			if err := r.ParseForm(); err != nil {
				p.renderError(w, r, v, &service.Error{Status: http.StatusBadRequest, Code: "bad_request", Detail: "The form could not be read."})
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(v.csrf)) != 1 {
				p.renderError(w, r, v, &service.Error{Status: http.StatusForbidden, Code: "forbidden", Detail: "This form has expired. Go back, reload the page and try again."})
				return
			}
		}
		if err := h(w, r, v); err != nil {
			p.renderError(w, r, v, err)
		}
	}
}

// signedOut answers a request without a (live) session.
func (p *Portal) signedOut(w http.ResponseWriter, r *http.Request, a area, err error) {
	switch {
	case errors.Is(err, errExpired) && !a.console:
		http.Redirect(w, r, "/portal/expired", http.StatusSeeOther)
	case errors.Is(err, errExpired), errors.Is(err, errSignedOut):
		if a.console {
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
			return
		}
		p.render(w, r, http.StatusUnauthorized, "notice", nil, page{Title: "Not signed in",
			Data: notice{Text: "You are not signed in. Open the portal link you were given to sign in."}})
	default:
		p.renderError(w, r, nil, err)
	}
}

// withApp loads the app of the path for v: an app the caller does not reach
// is not found.
func (p *Portal) withApp(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, v *view) error {
		app, err := p.store.GetApp(r.Context(), r.PathValue("app"))
		if err != nil {
			return notFound(err)
		}
		if !v.caller.Reaches(app.ID) || p.svc.Events().Is(app.ID) {
			return errNotFound
		}
		v.app = app
		return h(w, r, v)
	}
}

// setCookie sets the session cookie of area a. Embedding the portal in
// another site's frame needs the cookie in a third-party context: then it
// is SameSite=None, Secure and Partitioned (CHIPS), which browsers accept
// over HTTPS only; otherwise SameSite=Lax. It is Secure whenever the
// request came over TLS, or the public URL is https:// (TLS ends at a proxy
// in front: Herald trusts no forwarded header to tell it so).
func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, a area, value string, expires time.Time) {
	c := &http.Cookie{Name: a.cookie, Value: value, Path: a.prefix + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(p.opts.PublicURL, "https://")}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	if !a.console && len(p.opts.FrameAncestors) > 0 {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	http.SetCookie(w, c)
}

// newSession stores a session for caller that ends at expires, and sets
// its cookie. parent is the stored token signed in with (nil for the
// configured admin token): the session ends when it is revoked.
func (p *Portal) newSession(w http.ResponseWriter, r *http.Request, a area, appID string, expires time.Time, parent *store.Token) error {
	now := p.svc.Now()
	token, hash := service.NewToken(service.SessionTokenPrefix)
	name := "console session"
	if appID != "" {
		name = "portal session"
	}
	if parent != nil {
		name = sessionOf + hex.EncodeToString(parent.Hash)
	}
	err := p.store.CreateToken(r.Context(), &store.Token{ID: ids.NewAt(ids.Token, now), Hash: hash, AppID: appID,
		Name: name, ExpiresAt: expires, CreatedAt: now, Session: true})
	if err != nil {
		return err
	}
	p.setCookie(w, r, a, token, expires)
	return nil
}

// portalSignIn is the page a portal link opens: its script sends the
// fragment's token to portalSession; without script, a form takes it.
func (p *Portal) portalSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if v, err := p.session(r, portalArea); err == nil {
		// Signed in already (a reload): the app's pages. The script
		// still swaps a link's token when the page has one.
		p.render(w, r, http.StatusOK, "signin", nil, page{Title: "Signing in", Data: signIn{Next: "/portal/app/" + v.caller.AppID + "/"}})
		return
	}
	p.render(w, r, http.StatusOK, "signin", nil, page{Title: "Signing in"})
}

// portalSession swaps a portal link's token for a session. A script sends
// it with fetch and reads JSON; a plain form gets a redirect.
func (p *Portal) portalSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	script := r.Header.Get("X-Requested-With") == "herald"
	fail := func(status int, where, text string) {
		if script {
			writeJSON(w, status, map[string]string{"next": where})
			return
		}
		if where == "/portal/expired" {
			http.Redirect(w, r, where, http.StatusSeeOther)
			return
		}
		p.render(w, r, status, "notice", nil, page{Title: "Cannot sign in", Data: notice{Text: text}})
	}
	if !sameOrigin(r) || r.ParseForm() != nil {
		fail(http.StatusForbidden, "/portal/", "This sign-in was sent from another site.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	t, err := p.store.GetTokenByHash(r.Context(), service.HashToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && (t.AppID == "" || t.Session):
		fail(http.StatusUnauthorized, "/portal/invalid", "This portal link is not valid: it may have been revoked. Ask for a new one.")
		return
	case err != nil:
		p.renderError(w, r, nil, err)
		return
	case !p.svc.Now().Before(t.ExpiresAt):
		fail(http.StatusUnauthorized, "/portal/expired", "")
		return
	}
	if err := p.newSession(w, r, portalArea, t.AppID, t.ExpiresAt, t); err != nil {
		p.renderError(w, r, nil, err)
		return
	}
	next := "/portal/app/" + t.AppID + "/"
	if script {
		writeJSON(w, http.StatusOK, map[string]string{"next": next})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// consoleSession signs in to the console with an admin API token.
func (p *Portal) consoleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) || r.ParseForm() != nil {
		p.renderError(w, r, nil, &service.Error{Status: http.StatusForbidden, Code: "forbidden", Detail: "This sign-in was sent from another site."})
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	refuse := func(msg string) {
		p.render(w, r, http.StatusUnauthorized, "console_signin", nil, page{Title: "Sign in", Console: true, Data: signIn{Error: msg}})
	}
	admin := p.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(p.opts.AdminToken)) == 1
	var parent *store.Token
	if !admin {
		t, err := p.store.GetTokenByHash(r.Context(), service.HashToken(token))
		parent = t
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && (t.AppID != "" || t.Session):
			refuse("This is not an admin API token. herald serve prints one on first start; herald token create makes more.")
			return
		case err != nil:
			p.renderError(w, r, nil, err)
			return
		case !t.ExpiresAt.IsZero() && !p.svc.Now().Before(t.ExpiresAt):
			refuse("This token has expired.")
			return
		}
	}
	if err := p.newSession(w, r, consoleArea, "", p.svc.Now().Add(consoleSessionTTL), parent); err != nil {
		p.renderError(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// logout ends the session: its row is deleted, so no replica accepts it
// again.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request, v *view) error {
	if err := p.store.DeleteToken(r.Context(), v.session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.setCookie(w, r, v.area, "", time.Time{})
	if v.area.console {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	} else {
		http.Redirect(w, r, "/portal/signed-out", http.StatusSeeOther)
	}
	return nil
}

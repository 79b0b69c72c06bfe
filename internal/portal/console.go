package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// consoleHome is the overview, or the sign-in form without a session.
func (p *Portal) consoleHome(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	v, err := p.session(r, consoleArea)
	if err != nil {
		if !errors.Is(err, errSignedOut) && !errors.Is(err, errExpired) {
			p.renderError(w, r, nil, err)
			return
		}
		p.render(w, r, http.StatusOK, "console_signin", nil, page{Title: "Sign in", Console: true})
		return
	}
	p.render(w, r, http.StatusOK, "overview", v, page{Title: "Overview", Nav: "overview", Data: p.liveNumbers()})
}

// liveView is the overview's numbers, as shown.
type liveView struct {
	Available   bool
	PerSecond   string
	SuccessRate string
	// Window says what the rates cover: the last seconds, or (before a
	// second sample) the time since the process started.
	Window         string
	Attempts       string
	Outcomes       string
	Due, DueFirst  string
	DueRetry       string
	DueParked      string
	OldestDue      string
	InFlight       string
	Queued         string
	WindowSeconds  int
	SampledAtEpoch int64
}

// liveNumbers reads the live numbers and the rate of attempts since the
// oldest sample of the last minute.
func (p *Portal) liveNumbers() liveView {
	if p.opts.Live == nil {
		return liveView{}
	}
	l := p.opts.Live()
	var total float64
	for _, n := range l.Attempts {
		total += n
	}
	now := time.Now()
	cur := rateSample{at: now, total: total, success: l.Attempts["success"]}
	v := liveView{Available: true, PerSecond: "—", SuccessRate: "—", Window: "since the process started", Attempts: fmtFloat(total, 0),
		Outcomes: fmt.Sprintf("%s succeeded · %s failed · %s timed out · %s errors", fmtFloat(l.Attempts["success"], 0),
			fmtFloat(l.Attempts["failure"], 0), fmtFloat(l.Attempts["timeout"], 0), fmtFloat(l.Attempts["error"], 0)),
		Due: fmtFloat(l.DueFirst+l.DueRetry+l.DueParked, 0), DueFirst: fmtFloat(l.DueFirst, 0), DueRetry: fmtFloat(l.DueRetry, 0),
		DueParked: fmtFloat(l.DueParked, 0),
		OldestDue: l.OldestDueAge.Round(time.Second).String(), InFlight: fmtFloat(l.InFlight, 0), Queued: fmtFloat(l.Queued, 0),
		SampledAtEpoch: now.Unix()}
	s := &p.rates
	s.mu.Lock()
	// Keep a sample a second at most, for a minute.
	if n := len(s.samples); n == 0 || now.Sub(s.samples[n-1].at) >= time.Second {
		s.samples = append(s.samples, cur)
	}
	for len(s.samples) > 1 && now.Sub(s.samples[0].at) > time.Minute {
		s.samples = s.samples[1:]
	}
	first := s.samples[0]
	s.mu.Unlock()
	if d := now.Sub(first.at); d >= time.Second {
		v.PerSecond = fmtFloat((total-first.total)/d.Seconds(), 1)
		v.WindowSeconds = int(d.Seconds())
		v.Window = fmt.Sprintf("over the last %d s", v.WindowSeconds)
		if n := total - first.total; n > 0 {
			v.SuccessRate = fmtFloat((cur.success-first.success)*100/n, 1) + " %"
		}
	}
	if v.SuccessRate == "—" && total > 0 {
		v.SuccessRate = fmtFloat(l.Attempts["success"]*100/total, 1) + " %"
		if v.WindowSeconds > 0 {
			v.Window += " (success rate since the process started: no attempt in that time)"
		}
	}
	return v
}

func fmtFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

func (p *Portal) liveJSON(w http.ResponseWriter, r *http.Request, v *view) error {
	writeJSON(w, http.StatusOK, p.liveNumbers())
	return nil
}

// Applications.

type appRow struct {
	App                *store.App
	Endpoints, Failing int
	MoreEndpoints      bool
	Messages           int
	MoreMessages       bool
}

type appsData struct {
	Query string
	Rows  []appRow
	Next  string
}

// appEndpointsShown bounds the endpoints read per app on the list.
const appEndpointsShown = 250

// messagesShown bounds the count of an app's messages of the last 24 h:
// beyond it the list says "1000+", and no page counts more rows.
const messagesShown = 1000

func (p *Portal) apps(w http.ResponseWriter, r *http.Request, v *view) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	pg := store.Page{Limit: pageSize + 1, After: after(r, ids.App)}
	var apps []*store.App
	var err error
	if q != "" {
		apps, err = p.store.FindApps(r.Context(), q, pg)
	} else {
		apps, err = p.store.ListApps(r.Context(), pg)
	}
	if err != nil {
		return err
	}
	apps, nextID := next(apps, pageSize, func(a *store.App) string { return a.ID })
	d := appsData{Query: q}
	since := p.svc.Now().Add(-24 * time.Hour)
	for _, a := range apps {
		if p.svc.Events().Is(a.ID) {
			continue // the operational application is not a tenant's
		}
		row := appRow{App: a}
		eps, err := p.store.ListEndpoints(r.Context(), a.ID, store.Page{Limit: appEndpointsShown + 1})
		if err != nil {
			return err
		}
		row.MoreEndpoints = len(eps) > appEndpointsShown
		eps = eps[:min(len(eps), appEndpointsShown)]
		row.Endpoints = len(eps)
		for _, e := range eps {
			if e.Disabled || !e.FailingSince.IsZero() {
				row.Failing++
			}
		}
		n, err := p.store.CountMessagesSince(r.Context(), a.ID, since, messagesShown+1)
		if err != nil {
			return err
		}
		row.Messages, row.MoreMessages = min(n, messagesShown), n > messagesShown
		d.Rows = append(d.Rows, row)
	}
	if nextID != "" {
		d.Next = withQuery("/console/apps", url.Values{"q": {q}, "after": {nextID}})
	}
	p.render(w, r, http.StatusOK, "apps", v, page{Title: "Applications", Nav: "apps", Data: d})
	return nil
}

func (p *Portal) portalLink(w http.ResponseWriter, r *http.Request, v *view) error {
	token, err := p.svc.CreatePortalToken(r.Context(), v.app.ID, p.opts.PortalTokenTTL)
	if err != nil {
		return err
	}
	link := service.PortalURL(p.opts.PublicURL, token)
	p.render(w, r, http.StatusOK, "portal_link", v, page{Title: "Portal link", Nav: "endpoints",
		Data: struct {
			Link    string
			Expires time.Time
		}{link, p.svc.Now().Add(p.opts.PortalTokenTTL)}})
	return nil
}

// Failing endpoints.

type failingRow struct {
	EP   *store.Endpoint
	App  *store.App
	Last *store.Attempt
}

func (p *Portal) failing(w http.ResponseWriter, r *http.Request, v *view) error {
	eps, err := p.store.ListFailingEndpoints(r.Context(), store.Page{Limit: pageSize + 1, After: after(r, ids.Endpoint)})
	if err != nil {
		return err
	}
	eps, nextID := next(eps, pageSize, func(e *store.Endpoint) string { return e.ID })
	apps := map[string]*store.App{}
	var rows []failingRow
	for _, e := range eps {
		if p.svc.Events().Is(e.AppID) {
			continue
		}
		app := apps[e.AppID]
		if app == nil {
			if app, err = p.store.GetApp(r.Context(), e.AppID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted meanwhile
				}
				return err
			}
			apps[e.AppID] = app
		}
		row := failingRow{EP: e, App: app}
		last, err := p.store.ListAttempts(r.Context(), store.ListAttemptsParams{AppID: e.AppID, EndpointID: e.ID, Page: store.Page{Limit: 1, Desc: true}, WithContent: true})
		if err != nil {
			return err
		}
		if len(last) > 0 {
			row.Last = last[0]
		}
		rows = append(rows, row)
	}
	d := struct {
		Rows []failingRow
		Next string
	}{Rows: rows}
	if nextID != "" {
		d.Next = withQuery("/console/failing", url.Values{"after": {nextID}})
	}
	p.render(w, r, http.StatusOK, "failing", v, page{Title: "Failing endpoints", Nav: "failing", Data: d})
	return nil
}

// Event types.

func (p *Portal) eventTypes(w http.ResponseWriter, r *http.Request, v *view) error {
	rows, err := p.store.ListEventTypes(r.Context(), store.ListEventTypesParams{Page: store.Page{Limit: pageSize + 1, After: r.URL.Query().Get("after")}})
	if err != nil {
		return err
	}
	rows, nextName := next(rows, pageSize, func(e *store.EventType) string { return e.Name })
	d := struct {
		Rows []*store.EventType
		Next string
		Done string
	}{Rows: rows, Done: done[r.URL.Query().Get("done")]}
	if nextName != "" {
		d.Next = withQuery("/console/event-types", url.Values{"after": {nextName}})
	}
	p.render(w, r, http.StatusOK, "event_types", v, page{Title: "Event types", Nav: "event-types", Flash: d.Done, Data: d})
	return nil
}

// eventTypeForm is the form of a new or edited event type.
type eventTypeForm struct {
	New         bool
	Name        string
	Description string
	FeatureFlag string
	Deprecated  bool
	Schemas     string
	Errors      fieldErrors
}

func (p *Portal) newEventType(w http.ResponseWriter, r *http.Request, v *view) error {
	p.render(w, r, http.StatusOK, "event_type_form", v, page{Title: "New event type", Nav: "event-types",
		Data: &eventTypeForm{New: true, Schemas: "{\n  \"1\": {\n    \"type\": \"object\",\n    \"examples\": [{}]\n  }\n}"}})
	return nil
}

func (p *Portal) editEventType(w http.ResponseWriter, r *http.Request, v *view) error {
	et, err := p.store.GetEventType(r.Context(), r.PathValue("name"))
	if err != nil {
		return notFound(err)
	}
	f := &eventTypeForm{Name: et.Name, Description: et.Description, FeatureFlag: et.FeatureFlag, Deprecated: et.Deprecated}
	if len(et.Schemas) > 0 {
		f.Schemas = prettyJSON(et.Schemas)
	}
	p.render(w, r, http.StatusOK, "event_type_form", v, page{Title: "Edit event type", Nav: "event-types", Data: f})
	return nil
}

// readEventTypeForm turns the form into the API's event type body, every
// field named; the schema editor's text must be JSON.
func readEventTypeForm(r *http.Request, f *eventTypeForm) (*service.EventTypeIn, fieldErrors) {
	f.Description, f.FeatureFlag = r.PostForm.Get("description"), strings.TrimSpace(r.PostForm.Get("featureFlag"))
	f.Deprecated, f.Schemas = r.PostForm.Get("deprecated") == "true", r.PostForm.Get("schemas")
	errs := fieldErrors{}
	in := &service.EventTypeIn{
		Description: service.Opt[string]{Set: true, V: f.Description},
		Deprecated:  service.Opt[bool]{Set: true, V: f.Deprecated},
		FeatureFlag: service.Opt[string]{Set: true, Null: f.FeatureFlag == "", V: f.FeatureFlag},
		Schemas:     service.Opt[json.RawMessage]{Set: true, Null: true},
	}
	if s := strings.TrimSpace(f.Schemas); s != "" {
		if !json.Valid([]byte(s)) {
			errs.add("schemas", "is not valid JSON")
		} else {
			in.Schemas = service.Opt[json.RawMessage]{Set: true, V: json.RawMessage(s)}
		}
	}
	return in, errs
}

// checkEventType validates an event type form with the API's rules.
func checkEventType(in *service.EventTypeIn, errs fieldErrors, full bool) fieldErrors {
	if fe, ok := fromValidation(service.ValidateEventType(in, full)); ok {
		for k, m := range fe {
			errs.add(k, m)
		}
	}
	return errs
}

func (p *Portal) createEventType(w http.ResponseWriter, r *http.Request, v *view) error {
	f := &eventTypeForm{New: true, Name: strings.TrimSpace(r.PostForm.Get("name"))}
	in, errs := readEventTypeForm(r, f)
	var val service.Validator
	val.Ident([]string{"body", "name"}, f.Name, 256)
	if fe, ok := fromValidation(val.Err()); ok {
		for k, m := range fe {
			errs.add(k, m)
		}
	}
	if errs = checkEventType(in, errs, true); len(errs) > 0 {
		f.Errors = errs
		p.render(w, r, http.StatusUnprocessableEntity, "event_type_form", v, page{Title: "New event type", Nav: "event-types", Data: f})
		return nil
	}
	if _, err := p.svc.CreateEventType(r.Context(), f.Name, in); err != nil {
		var se *service.Error
		if errors.As(err, &se) && se.Status == http.StatusConflict {
			f.Errors = fieldErrors{"name": se.Detail}
			p.render(w, r, http.StatusConflict, "event_type_form", v, page{Title: "New event type", Nav: "event-types", Data: f})
			return nil
		}
		return err
	}
	http.Redirect(w, r, "/console/event-types", http.StatusSeeOther)
	return nil
}

func (p *Portal) updateEventType(w http.ResponseWriter, r *http.Request, v *view) error {
	et, err := p.store.GetEventType(r.Context(), r.PathValue("name"))
	if err != nil {
		return notFound(err)
	}
	f := &eventTypeForm{Name: et.Name}
	in, errs := readEventTypeForm(r, f)
	if errs = checkEventType(in, errs, false); len(errs) > 0 {
		f.Errors = errs
		p.render(w, r, http.StatusUnprocessableEntity, "event_type_form", v, page{Title: "Edit event type", Nav: "event-types", Data: f})
		return nil
	}
	up := service.EventTypeUpdate(in, false)
	up.Name, up.UpdatedAt = et.Name, p.svc.Now()
	_, err = p.store.UpdateEventType(r.Context(), up)
	p.svc.DropRule(et.Name)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/console/event-types", http.StatusSeeOther)
	return nil
}

func (p *Portal) archiveEventType(w http.ResponseWriter, r *http.Request, v *view) error {
	et, err := p.store.GetEventType(r.Context(), r.PathValue("name"))
	if err != nil {
		return notFound(err)
	}
	archived := r.PostForm.Get("archived") != "false"
	_, err = p.store.UpdateEventType(r.Context(), store.UpdateEventTypeParams{Name: et.Name, Archived: &archived, UpdatedAt: p.svc.Now()})
	p.svc.DropRule(et.Name)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/console/event-types?done=archived", http.StatusSeeOther)
	return nil
}

// API tokens.

type tokensData struct {
	Rows []*store.Token
	Next string
	// Created is a token just made, shown once.
	Created string
	Name    string
	Errors  fieldErrors
}

func (p *Portal) tokens(w http.ResponseWriter, r *http.Request, v *view) error {
	return p.showTokens(w, r, v, http.StatusOK, &tokensData{})
}

func (p *Portal) showTokens(w http.ResponseWriter, r *http.Request, v *view, status int, d *tokensData) error {
	rows, err := p.store.ListAPITokens(r.Context(), store.Page{Limit: pageSize + 1, After: after(r, ids.Token)})
	if err != nil {
		return err
	}
	var nextID string
	d.Rows, nextID = next(rows, pageSize, func(t *store.Token) string { return t.ID })
	if nextID != "" {
		d.Next = withQuery("/console/tokens", url.Values{"after": {nextID}})
	}
	p.render(w, r, status, "tokens", v, page{Title: "API tokens", Nav: "tokens", Flash: done[r.URL.Query().Get("done")], Data: d})
	return nil
}

func (p *Portal) createToken(w http.ResponseWriter, r *http.Request, v *view) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	var val service.Validator
	val.Text("name", name, 1, 256)
	if fe, ok := fromValidation(val.Err()); ok {
		return p.showTokens(w, r, v, http.StatusUnprocessableEntity, &tokensData{Name: name, Errors: fe})
	}
	token, _, err := service.CreateAdminToken(r.Context(), p.store, name, p.svc.Now())
	if err != nil {
		return err
	}
	return p.showTokens(w, r, v, http.StatusOK, &tokensData{Created: token})
}

func (p *Portal) revokeToken(w http.ResponseWriter, r *http.Request, v *view) error {
	if err := p.svc.RevokeAPIToken(r.Context(), r.PathValue("id")); err != nil {
		return notFound(err)
	}
	http.Redirect(w, r, "/console/tokens?done=revoked", http.StatusSeeOther)
	return nil
}

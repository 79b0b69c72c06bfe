package portal

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// pageSize is the rows of a list page.
const pageSize = 50

// attemptsShown is the attempts of a page of an endpoint, below its
// secret, chart and tools.
const attemptsShown = 25

// scanWindow is the most rows a filtered list examines for one page: a
// filter that matches little (an event type never sent, a channel) would
// otherwise walk every message of a big application. A page that found
// less than a page in its window links to the next window.
const scanWindow = 5000

// after reads the keyset iterator of a list page: a row id, or "".
func after(r *http.Request, prefix string) string {
	it := r.URL.Query().Get("after")
	if !strings.HasPrefix(it, prefix) || len(it) > 64 {
		return ""
	}
	return it
}

// next returns the rows of a page fetched with one row more than size, and
// the iterator of the next page ("" when it is the last).
func next[T any](rows []T, size int, key func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, key(rows[len(rows)-1])
}

// withQuery returns path with the query q, less its empty values.
func withQuery(path string, q url.Values) string {
	for k, vs := range q {
		if len(vs) == 0 || vs[0] == "" {
			delete(q, k)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// Endpoints.

type endpointRow struct {
	EP            *store.Endpoint
	Success, Fail int64
}

type endpointsData struct {
	Rows []endpointRow
	Next string
	// PortalLink is a link the console just made.
	PortalLink string
}

func (p *Portal) endpoints(w http.ResponseWriter, r *http.Request, v *view) error {
	eps, err := p.store.ListEndpoints(r.Context(), v.app.ID, store.Page{Limit: pageSize + 1, After: after(r, ids.Endpoint)})
	if err != nil {
		return err
	}
	eps, nextID := next(eps, pageSize, func(e *store.Endpoint) string { return e.ID })
	var idList []string
	for _, e := range eps {
		idList = append(idList, e.ID)
	}
	hours, err := p.store.EndpointHours(r.Context(), idList, store.HourOf(p.svc.Now().Add(-23*time.Hour)))
	if err != nil {
		return err
	}
	data := endpointsData{}
	for _, e := range eps {
		row := endpointRow{EP: e}
		for _, h := range hours {
			if h.EndpointID == e.ID {
				row.Success += h.Success
				row.Fail += h.Fail
			}
		}
		data.Rows = append(data.Rows, row)
	}
	if nextID != "" {
		data.Next = withQuery(v.base()+"/", url.Values{"after": {nextID}})
	}
	p.render(w, r, http.StatusOK, "endpoints", v, page{Title: "Endpoints", Nav: "endpoints", Flash: done[r.URL.Query().Get("done")], Data: data})
	return nil
}

// endpointForm is the form of a new or edited endpoint, as typed.
type endpointForm struct {
	EP          *store.Endpoint
	URL         string
	Description string
	EventTypes  []string
	Channels    string
	RateLimit   string
	// FIFO is the ordering checkbox: messages one at a time per ordering
	// key, in the order accepted.
	FIFO      bool
	Headers   string
	Metadata  string
	Catalogue []*store.EventType
	Errors    fieldErrors
}

// catalogue returns the event types the caller may see and use, at most a
// thousand (the most an endpoint may filter on).
func (p *Portal) catalogue(ctx context.Context, c service.Caller) ([]*store.EventType, error) {
	var out []*store.EventType
	page := store.Page{Limit: 250}
	for len(out) < service.MaxEventTypes {
		batch, err := p.store.ListEventTypes(ctx, store.ListEventTypesParams{Page: page})
		if err != nil {
			return nil, err
		}
		for _, et := range batch {
			if service.Visible(c, et) {
				out = append(out, et)
			}
		}
		if len(batch) < page.Limit {
			break
		}
		page.After = batch[len(batch)-1].Name
	}
	return out, nil
}

func (p *Portal) showEndpointForm(w http.ResponseWriter, r *http.Request, v *view, status int, f *endpointForm) error {
	cat, err := p.catalogue(r.Context(), v.caller)
	if err != nil {
		return err
	}
	f.Catalogue = cat
	title := "New endpoint"
	if f.EP != nil {
		title = "Edit endpoint"
	}
	p.render(w, r, status, "endpoint_form", v, page{Title: title, Nav: "endpoints", Data: f})
	return nil
}

func (p *Portal) newEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	return p.showEndpointForm(w, r, v, http.StatusOK, &endpointForm{})
}

func (p *Portal) editEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	f := &endpointForm{EP: ep, URL: ep.URL, Description: ep.Description, EventTypes: ep.EventTypes,
		Channels: strings.Join(ep.Channels, ", "), Headers: formatPairs(shownHeaders(ep.Headers), ": "), Metadata: formatPairs(ep.Metadata, "=")}
	if ep.ThrottleRate > 0 {
		f.RateLimit = strconv.Itoa(ep.ThrottleRate)
	}
	f.FIFO = ep.Ordering == store.OrderingFIFO
	return p.showEndpointForm(w, r, v, http.StatusOK, f)
}

// hiddenValue stands for the value of a sensitive header (Authorization,
// X-Api-Key...) in the edit form, which never shows it, as the API never
// does; saved unchanged, the stored value is kept.
const hiddenValue = "(hidden: unchanged)"

// shownHeaders is an endpoint's headers as the edit form shows them.
func shownHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if slices.Contains(service.SensitiveHeaders, strings.ToLower(k)) {
			v = hiddenValue
		}
		out[k] = v
	}
	return out
}

// formatPairs writes a map as sorted "key<sep>value" lines.
func formatPairs(m map[string]string, sep string) string {
	var lines []string
	for k, val := range m {
		lines = append(lines, k+sep+val)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// readEndpointForm turns the posted form into the API's endpoint body and
// headers, every field named (so that an edit writes what the form shows).
// Problems of the form's own syntax go to errs.
func readEndpointForm(r *http.Request) (*endpointForm, *service.EndpointIn, service.HeaderFields[string], fieldErrors) {
	f := &endpointForm{
		URL: strings.TrimSpace(r.PostForm.Get("url")), Description: r.PostForm.Get("description"),
		EventTypes: r.PostForm["eventTypes"], Channels: r.PostForm.Get("channels"),
		RateLimit: strings.TrimSpace(r.PostForm.Get("rateLimit")), Headers: r.PostForm.Get("headers"), Metadata: r.PostForm.Get("metadata"),
		FIFO: r.PostForm.Get("ordering") == service.OrderingFIFO,
	}
	errs := fieldErrors{}
	in := &service.EndpointIn{}
	in.URL = service.Opt[string]{Set: true, V: f.URL}
	in.Description = service.Opt[string]{Set: true, V: f.Description}
	in.Ordering = service.Opt[string]{Set: true, V: service.OrderingNone}
	if f.FIFO {
		in.Ordering.V = service.OrderingFIFO
	}
	if len(f.EventTypes) > 0 {
		in.EventTypes = service.Opt[[]string]{Set: true, V: f.EventTypes}
	} else {
		in.EventTypes = service.Opt[[]string]{Set: true, Null: true}
	}
	if ch := strings.FieldsFunc(f.Channels, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }); len(ch) > 0 {
		in.Channels = service.Opt[[]string]{Set: true, V: ch}
	} else {
		in.Channels = service.Opt[[]string]{Set: true, Null: true}
	}
	in.ThrottleRate = service.Opt[int]{Set: true, Null: true}
	if f.RateLimit != "" {
		n, err := strconv.Atoi(f.RateLimit)
		if err != nil {
			errs.add("throttleRate", "must be a whole number of messages per second")
		} else {
			in.ThrottleRate = service.Opt[int]{Set: true, V: n}
		}
	}
	meta := map[string]string{}
	for _, line := range lines(f.Metadata) {
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs.add("metadata", "each line must be key=value: "+strconv.Quote(line))
			continue
		}
		meta[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	in.Metadata = service.Opt[map[string]string]{Set: true, V: meta}
	var headers service.HeaderFields[string]
	for _, line := range lines(f.Headers) {
		k, val, ok := strings.Cut(line, ":")
		if !ok {
			errs.add("headers", "each line must be Name: value: "+strconv.Quote(line))
			continue
		}
		headers = append(headers, service.HeaderField[string]{Name: strings.TrimSpace(k), Value: strings.TrimSpace(val)})
	}
	return f, in, headers, errs
}

// lines returns the lines of s that are not blank.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkEndpointForm validates a posted endpoint form with the API's rules:
// it returns the problems by field (a *formError), or the merged rate and
// event types and the headers to store.
func (p *Portal) checkEndpointForm(r *http.Request, v *view, in *service.EndpointIn, headers service.HeaderFields[string], errs fieldErrors) (service.Opt[int], service.Opt[[]string], map[string]string, error) {
	var hv service.Validator
	headers = service.CanonicalHeaders(&hv, headers, func(s string) (string, bool) { return s, true })
	rate, types, err := p.svc.ValidateEndpoint(r.Context(), v.caller, in, false)
	for _, e := range []error{err, hv.Err()} {
		if fe, ok := fromValidation(e); ok {
			for field, msg := range fe {
				errs.add(field, msg)
			}
		} else if e != nil {
			return rate, types, nil, e
		}
	}
	if len(errs) > 0 {
		return rate, types, nil, &formError{errs}
	}
	hm := make(map[string]string, len(headers))
	for _, h := range headers {
		hm[h.Name] = h.Value
	}
	return rate, types, hm, nil
}

// formError is a form with problems, shown beside its fields.
type formError struct{ fields fieldErrors }

func (e *formError) Error() string { return "form has problems" }

func (p *Portal) createEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	f, in, headers, errs := readEndpointForm(r)
	rate, types, hm, err := p.checkEndpointForm(r, v, in, headers, errs)
	var fe *formError
	if errors.As(err, &fe) {
		f.Errors = fe.fields
		return p.showEndpointForm(w, r, v, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	ep, err := p.svc.CreateEndpoint(r.Context(), v.app, in, rate, types)
	if err != nil {
		return err
	}
	if len(hm) > 0 {
		if _, err := p.svc.SaveEndpoint(r.Context(), ep, store.UpdateEndpointParams{Headers: &hm}); err != nil {
			return err
		}
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done=created", http.StatusSeeOther)
	return nil
}

func (p *Portal) updateEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	f, in, headers, errs := readEndpointForm(r)
	f.EP = ep
	for i, h := range headers {
		if h.Value == hiddenValue {
			for name, stored := range ep.Headers {
				if strings.EqualFold(name, h.Name) {
					headers[i].Value = stored
				}
			}
		}
	}
	rate, types, hm, err := p.checkEndpointForm(r, v, in, headers, errs)
	var fe *formError
	if errors.As(err, &fe) {
		f.Errors = fe.fields
		return p.showEndpointForm(w, r, v, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	if types, err = p.keepUnshownTypes(r, v, ep, types); err != nil {
		return err
	}
	change := service.EndpointUpdate(in, rate, types, false)
	change.Headers = &hm
	if _, err := p.svc.SaveEndpoint(r.Context(), ep, change); err != nil {
		return err
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done=saved", http.StatusSeeOther)
	return nil
}

// keepUnshownTypes adds to the event types a form chose those of the
// endpoint's filter that the form could not show (archived, or hidden from
// the caller by a feature flag), so that saving a form never widens the
// filter the caller cannot see.
func (p *Portal) keepUnshownTypes(r *http.Request, v *view, ep *store.Endpoint, types service.Opt[[]string]) (service.Opt[[]string], error) {
	if len(ep.EventTypes) == 0 {
		return types, nil
	}
	found, err := p.store.GetEventTypes(r.Context(), ep.EventTypes)
	if err != nil {
		return types, err
	}
	shown := make(map[string]bool, len(found))
	for _, et := range found {
		shown[et.Name] = !et.Archived && service.Visible(v.caller, et)
	}
	chosen, _ := types.Value()
	merged := slices.Clone(chosen)
	for _, name := range ep.EventTypes {
		if !shown[name] && !slices.Contains(merged, name) {
			merged = append(merged, name)
		}
	}
	if len(merged) == len(chosen) {
		return types, nil
	}
	return service.Opt[[]string]{Set: true, V: merged}, nil
}

func (p *Portal) loadEndpoint(r *http.Request, v *view) (*store.Endpoint, error) {
	ep, err := p.store.GetEndpoint(r.Context(), v.app.ID, r.PathValue("ep"))
	return ep, notFound(err)
}

func (p *Portal) setEnabled(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	disabled := r.PostForm.Get("enabled") != "true"
	if _, err := p.svc.SaveEndpoint(r.Context(), ep, store.UpdateEndpointParams{Disabled: &disabled, ResetFailingOnEnable: true}); err != nil {
		return err
	}
	done := "enabled"
	if disabled {
		done = "disabled"
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done="+done, http.StatusSeeOther)
	return nil
}

func (p *Portal) confirmDelete(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "delete", v, page{Title: "Delete endpoint", Nav: "endpoints", Data: ep})
	return nil
}

func (p *Portal) deleteEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	if err := p.svc.DeleteEndpoint(r.Context(), v.app.ID, ep.ID); err != nil {
		return notFound(err)
	}
	http.Redirect(w, r, v.base()+"/?done=deleted", http.StatusSeeOther)
	return nil
}

// done is the message a page shows after a change, by the key the change
// redirects with; nothing the request carries is echoed.
var done = map[string]string{
	"created":   "Endpoint created.",
	"saved":     "Endpoint saved.",
	"enabled":   "Endpoint enabled: new messages go to it again.",
	"disabled":  "Endpoint disabled: new messages are skipped (recover them later).",
	"deleted":   "Endpoint deleted.",
	"rotated":   "Secret rotated. The previous secret keeps signing for 24 hours beside the new one.",
	"test":      "Test event sent.",
	"recovered": "Recovery started: failed messages of that period are being sent again.",
	"resent":    "Message sent again.",
	"archived":  "Event type archived.",
	"revoked":   "Token revoked.",
}

// Endpoint.

type endpointData struct {
	EP        *store.Endpoint
	Secret    string
	Headers   [][2]string
	Day, Week chart
	Attempts  []*store.Attempt
	Next      string
	// Filters of the attempt list.
	Status, EventType string
	Catalogue         []*store.EventType
	TestMsg           string
	RecoverSince      string
	// Searched is the window a filtered page examined when it found less
	// than a page in it (0 otherwise).
	Searched int
	Errors   fieldErrors
}

func (p *Portal) endpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	return p.showEndpoint(w, r, v, http.StatusOK, nil)
}

func (p *Portal) showEndpoint(w http.ResponseWriter, r *http.Request, v *view, status int, errs fieldErrors) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := &endpointData{EP: ep, Status: q.Get("status"), EventType: q.Get("event_type"), Errors: errs}
	if q.Get("reveal") == "1" {
		if d.Secret, err = p.svc.EndpointSecret(ep); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ep.Headers)) {
		val := ep.Headers[k]
		if slices.Contains(service.SensitiveHeaders, strings.ToLower(k)) {
			val = "(hidden)"
		}
		d.Headers = append(d.Headers, [2]string{k, val})
	}
	now := p.svc.Now()
	hours, err := p.store.EndpointHours(r.Context(), []string{ep.ID}, store.HourOf(now).Add(-7*24*time.Hour))
	if err != nil {
		return err
	}
	d.Day, d.Week = dayChart(hours, now), weekChart(hours, now)
	lp := store.ListAttemptsParams{AppID: v.app.ID, EndpointID: ep.ID, Page: store.Page{Limit: attemptsShown + 1, After: after(r, ids.Attempt), Desc: true}}
	switch d.Status {
	case "success":
		lp.Status = ptr(store.StatusSuccess)
	case "fail":
		lp.Status = ptr(store.StatusFail)
	default:
		d.Status = ""
	}
	if d.EventType != "" {
		lp.EventTypes = []string{d.EventType}
	}
	if lp.Status != nil || lp.EventTypes != nil {
		// A filtered page examines a window of attempts, not all of them.
		if lp.Last, err = p.store.NthEndpointAttemptID(r.Context(), ep.ID, lp.Page, scanWindow); err != nil {
			return err
		}
	}
	rows, err := p.store.ListAttempts(r.Context(), lp)
	if err != nil {
		return err
	}
	var nextID string
	d.Attempts, nextID = next(rows, attemptsShown, func(a *store.Attempt) string { return a.ID })
	if nextID == "" && lp.Last != "" {
		nextID, d.Searched = lp.Last, scanWindow
	}
	if nextID != "" {
		d.Next = withQuery(v.base()+"/endpoint/"+ep.ID, url.Values{"status": {d.Status}, "event_type": {d.EventType}, "after": {nextID}})
	}
	if d.Catalogue, err = p.catalogue(r.Context(), v.caller); err != nil {
		return err
	}
	if m := q.Get("msg"); ids.Valid(ids.Message, m) {
		d.TestMsg = m
	}
	d.RecoverSince = now.Add(-24 * time.Hour).Format("2006-01-02T15:04")
	p.render(w, r, status, "endpoint", v, page{Title: "Endpoint", Nav: "endpoints", Flash: done[q.Get("done")], Data: d})
	return nil
}

func ptr[T any](x T) *T { return &x }

func (p *Portal) rotateSecret(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	newKey, grace, err := service.ValidateRotate(&service.RotateIn{})
	if err != nil {
		return err
	}
	if err := p.svc.RotateSecret(r.Context(), ep, newKey, grace); err != nil {
		return err
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done=rotated&reveal=1", http.StatusSeeOther)
	return nil
}

func (p *Portal) sendTest(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	eventType := r.PostForm.Get("eventType")
	if eventType == "" {
		eventType = service.PingEventType
	}
	var val service.Validator
	val.Ident([]string{"body", "eventType"}, eventType, 256)
	if err := val.Err(); err != nil {
		return err
	}
	msg, err := p.svc.SendExample(r.Context(), v.caller, ep, eventType)
	if err != nil {
		return err
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done=test&msg="+msg.ID, http.StatusSeeOther)
	return nil
}

// formTime is the format of datetime-local inputs, read as UTC.
const formTime = "2006-01-02T15:04"

func (p *Portal) recoverEndpoint(w http.ResponseWriter, r *http.Request, v *view) error {
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	in := &service.RecoverIn{}
	since, err := time.Parse(formTime, r.PostForm.Get("since"))
	if err != nil {
		return p.showEndpoint(w, r, v, http.StatusUnprocessableEntity, fieldErrors{"since": "Give a date and time, as 2026-01-31T14:00 (UTC)."})
	}
	in.Since = service.Opt[time.Time]{Set: true, V: since}
	if err := p.svc.ValidateRecover(in); err != nil {
		if fe, ok := fromValidation(err); ok {
			return p.showEndpoint(w, r, v, http.StatusUnprocessableEntity, fe)
		}
		return err
	}
	if _, err := p.svc.Recover(r.Context(), ep, in); err != nil {
		return err
	}
	http.Redirect(w, r, v.base()+"/endpoint/"+ep.ID+"?done=recovered", http.StatusSeeOther)
	return nil
}

// Messages and attempts.

type attemptData struct {
	Attempt  *store.Attempt
	Response string
	Msg      *store.Message
	EP       *store.Endpoint
}

func (p *Portal) attempt(w http.ResponseWriter, r *http.Request, v *view) error {
	at, err := p.store.GetAttempt(r.Context(), store.AttemptKey{AppID: v.app.ID, MsgID: r.PathValue("msg"), ID: r.PathValue("attempt")})
	if err != nil {
		return notFound(err)
	}
	msg, err := p.store.GetMessage(r.Context(), v.app.ID, at.MsgID)
	if err != nil {
		return notFound(err)
	}
	ep, err := p.store.GetEndpoint(r.Context(), v.app.ID, at.EndpointID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	d := attemptData{Attempt: at, Response: service.AttemptResponse(v.caller, at), Msg: msg, EP: ep}
	p.render(w, r, http.StatusOK, "attempt", v, page{Title: "Attempt", Nav: "activity", Data: d})
	return nil
}

func (p *Portal) resend(w http.ResponseWriter, r *http.Request, v *view) error {
	msg, err := p.store.GetMessage(r.Context(), v.app.ID, r.PathValue("msg"))
	if err != nil {
		return notFound(err)
	}
	ep, err := p.loadEndpoint(r, v)
	if err != nil {
		return err
	}
	if err := p.svc.Resend(r.Context(), msg, ep); err != nil {
		return err
	}
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, v.base()+"/") || strings.ContainsAny(back, "?#\\") {
		back = v.base() + "/msg/" + msg.ID
	}
	http.Redirect(w, r, back+"?done=resent", http.StatusSeeOther)
	return nil
}

type messageData struct {
	Msg          *store.Message
	Destinations []*store.Destination
	Attempts     []*store.Attempt
}

func (p *Portal) message(w http.ResponseWriter, r *http.Request, v *view) error {
	msg, err := p.store.GetMessage(r.Context(), v.app.ID, r.PathValue("msg"))
	if err != nil {
		return notFound(err)
	}
	dests, err := p.store.ListMessageDestinations(r.Context(), v.app.ID, msg.ID, store.Page{Limit: 100})
	if err != nil {
		return err
	}
	atts, err := p.store.ListAttempts(r.Context(), store.ListAttemptsParams{AppID: v.app.ID, MsgID: msg.ID, Page: store.Page{Limit: 100, Desc: true}})
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "message", v, page{Title: "Message", Nav: "activity", Flash: done[r.URL.Query().Get("done")],
		Data: messageData{Msg: msg, Destinations: dests, Attempts: atts}})
	return nil
}

type activityData struct {
	Messages                                  []*store.Message
	Next                                      string
	EventType, Channel, Status, Since, Before string
	Search                                    string
	NotFound                                  bool
	Catalogue                                 []*store.EventType
	Errors                                    fieldErrors
	// Searched is the window a filtered page examined when it found less
	// than a page in it (0 otherwise).
	Searched int
}

var statuses = map[string]store.DeliveryStatus{
	"success": store.StatusSuccess, "pending": store.StatusPending, "sending": store.StatusSending, "fail": store.StatusFail,
}

func (p *Portal) activity(w http.ResponseWriter, r *http.Request, v *view) error {
	q := r.URL.Query()
	d := &activityData{EventType: q.Get("event_type"), Channel: strings.TrimSpace(q.Get("channel")), Status: q.Get("status"),
		Since: q.Get("since"), Before: q.Get("before"), Search: strings.TrimSpace(q.Get("q")), Errors: fieldErrors{}}
	var err error
	if d.Catalogue, err = p.catalogue(r.Context(), v.caller); err != nil {
		return err
	}
	if d.Search != "" {
		msg, err := p.store.GetMessage(r.Context(), v.app.ID, d.Search)
		switch {
		case err == nil:
			http.Redirect(w, r, v.base()+"/msg/"+msg.ID, http.StatusSeeOther)
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		d.NotFound = true
	}
	lp := store.ListMessagesParams{AppID: v.app.ID, Page: store.Page{Limit: pageSize + 1, After: after(r, ids.Message), Desc: true}}
	var val service.Validator
	if d.EventType != "" {
		val.Ident([]string{"query", "event_type"}, d.EventType, 256)
		lp.EventTypes = []string{d.EventType}
	}
	if d.Channel != "" {
		val.Ident([]string{"query", "channel"}, d.Channel, 128)
		lp.Channel = d.Channel
	}
	if st, ok := statuses[d.Status]; ok {
		lp.Status = &st
	} else {
		d.Status = ""
	}
	for _, t := range []struct {
		name string
		in   string
		dst  *time.Time
	}{{"since", d.Since, &lp.After}, {"before", d.Before, &lp.Before}} {
		if t.in == "" {
			continue
		}
		x, err := time.Parse(formTime, t.in)
		if err != nil {
			d.Errors.add(t.name, "Give a date and time, as 2026-01-31T14:00 (UTC).")
			continue
		}
		*t.dst = x
	}
	if fe, ok := fromValidation(val.Err()); ok {
		for k, m := range fe {
			d.Errors.add(k, m)
		}
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		if !lp.Before.IsZero() && lp.Page.After == "" {
			// Start at the bound's id rather than walk the newer
			// messages (ids are made at their message's time; a minute
			// of slack, as the store allows).
			lp.Page.After = ids.Lower(ids.Message, lp.Before.Add(time.Minute))
		}
		if lp.Status != nil || lp.EventTypes != nil || lp.Channel != "" || !lp.Before.IsZero() {
			// A filtered page examines a window of messages, not all.
			if lp.Last, err = p.store.NthMessageID(r.Context(), v.app.ID, lp.Page, scanWindow); err != nil {
				return err
			}
		}
		rows, err := p.store.ListMessages(r.Context(), lp)
		if err != nil {
			return err
		}
		var nextID string
		d.Messages, nextID = next(rows, pageSize, func(m *store.Message) string { return m.ID })
		if nextID == "" && lp.Last != "" {
			nextID, d.Searched = lp.Last, scanWindow
		}
		if nextID != "" {
			d.Next = withQuery(v.base()+"/activity", url.Values{"event_type": {d.EventType}, "channel": {d.Channel},
				"status": {d.Status}, "since": {d.Since}, "before": {d.Before}, "after": {nextID}})
		}
	}
	p.render(w, r, status, "activity", v, page{Title: "Activity", Nav: "activity", Data: d})
	return nil
}

type catalogueEntry struct {
	ET      *store.EventType
	Schema  string
	Example string
}

func (p *Portal) eventCatalogue(w http.ResponseWriter, r *http.Request, v *view) error {
	cat, err := p.catalogue(r.Context(), v.caller)
	if err != nil {
		return err
	}
	var entries []catalogueEntry
	for _, et := range cat {
		e := catalogueEntry{ET: et}
		if len(et.Schemas) > 0 && string(et.Schemas) != "null" {
			e.Schema = prettyJSON(et.Schemas)
		}
		if ex, ok := service.SchemaExample(et.Schemas); ok {
			e.Example = prettyJSON(ex)
		}
		entries = append(entries, e)
	}
	p.render(w, r, http.StatusOK, "catalogue", v, page{Title: "Event types", Nav: "catalogue", Data: entries})
	return nil
}

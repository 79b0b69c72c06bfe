package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/store"
)

// endpointIn is EndpointIn, EndpointUpdate and EndpointPatch.
type endpointIn struct {
	URL          Opt[string]            `json:"url"`
	Description  Opt[string]            `json:"description"`
	Disabled     Opt[bool]              `json:"disabled"`
	EventTypes   Opt[[]string]          `json:"eventTypes"`
	FilterTypes  Opt[[]string]          `json:"filterTypes"` // older name
	Channels     Opt[[]string]          `json:"channels"`
	ThrottleRate Opt[int]               `json:"throttleRate"`
	RateLimit    Opt[int]               `json:"rateLimit"` // older name
	UID          Opt[string]            `json:"uid"`
	Metadata     Opt[map[string]string] `json:"metadata"`
	Secret       Opt[string]            `json:"secret"`
	Version      Opt[int]               `json:"version"` // deprecated; accepted and ignored
}

type endpointOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid"`
	URL          string            `json:"url"`
	Description  string            `json:"description"`
	Disabled     bool              `json:"disabled"`
	EventTypes   []string          `json:"eventTypes"`
	Channels     []string          `json:"channels"`
	ThrottleRate *int              `json:"throttleRate"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	// Circuit is the state of the endpoint's circuit breaker, a Herald
	// extension; absent when it never opened.
	Circuit *circuitOut `json:"circuit,omitempty"`
	// Older names, sent as the Svix server does.
	Version     int      `json:"version"`
	RateLimit   *int     `json:"rateLimit"`
	FilterTypes []string `json:"filterTypes"`
}

type endpointOutLegacy struct {
	ID          string            `json:"id"`
	UID         *string           `json:"uid,omitempty"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Disabled    bool              `json:"disabled"`
	FilterTypes []string          `json:"filterTypes,omitempty"`
	Channels    []string          `json:"channels,omitempty"`
	RateLimit   *int              `json:"rateLimit,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	Version     int               `json:"version"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

func endpointJSON(r *http.Request, ep *store.Endpoint) any {
	uid := optString(ep.UID)
	rate := optInt(ep.ThrottleRate)
	if legacyClient(r) {
		return endpointOutLegacy{ID: ep.ID, UID: uid, URL: ep.URL, Description: ep.Description, Disabled: ep.Disabled,
			FilterTypes: ep.EventTypes, Channels: ep.Channels, RateLimit: rate, Metadata: ep.Metadata, Version: 1,
			CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt}
	}
	return endpointOut{ID: ep.ID, UID: uid, URL: ep.URL, Description: ep.Description, Disabled: ep.Disabled,
		EventTypes: ep.EventTypes, Channels: ep.Channels, ThrottleRate: rate, Metadata: ep.Metadata,
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt, Circuit: circuitJSON(ep.Circuit),
		Version: 1, RateLimit: rate, FilterTypes: ep.EventTypes}
}

// circuitOut is the state of an endpoint's circuit breaker.
type circuitOut struct {
	State     string     `json:"state"`
	Failures  int        `json:"failures"`
	Since     time.Time  `json:"since"`
	NextProbe *time.Time `json:"nextProbe,omitempty"`
}

func circuitJSON(c store.Circuit) *circuitOut {
	if c.Since.IsZero() {
		return nil
	}
	out := &circuitOut{State: "closed", Failures: c.Failures, Since: c.Since}
	if c.Open {
		out.State = "open"
		if !c.NextProbe.IsZero() {
			next := c.NextProbe
			out.NextProbe = &next
		}
	}
	return out
}

// validateEndpoint checks an endpoint body; full is true for create and PUT.
// It returns the merged throttle rate and event types.
func (a *API) validateEndpoint(r *http.Request, in *endpointIn, full bool) (rate Opt[int], types Opt[[]string], err error) {
	var v validator
	if full && !in.URL.Set || in.URL.Null {
		v.body("url", "field required", "value_error.missing")
	} else if u, ok := in.URL.Value(); ok {
		if err := validateURL(u); err != nil {
			v.body("url", err.Error(), "value_error.url")
		}
	}
	if in.Description.Null {
		v.body("description", "must be a string", "type_error")
	} else if d, ok := in.Description.Value(); ok {
		v.text("description", d, 0, 4096)
	}
	if in.Disabled.Null {
		v.body("disabled", "must be a boolean", "type_error")
	}
	if uid, ok := in.UID.Value(); ok {
		v.ident([]string{"body", "uid"}, uid, 256)
		if strings.HasPrefix(uid, ids.Endpoint) {
			v.body("uid", "Uids are not allowed to have the same prefix as the ID. Prefix with _?", "value_error")
		}
	}
	rate = throttle(&v, in.ThrottleRate, in.RateLimit)
	types = in.EventTypes
	if !types.Set {
		types = in.FilterTypes
	}
	if list, ok := types.Value(); ok {
		v.identList("eventTypes", list, 256, 1, maxEventTypes)
	}
	if list, ok := in.Channels.Value(); ok {
		v.identList("channels", list, 128, 1, 10)
	}
	if m, ok := in.Metadata.Value(); ok {
		v.metadata("metadata", m)
	}
	if s, ok := in.Secret.Value(); ok {
		if _, err := parseEndpointSecret(s); err != nil {
			v.body("secret", err.Error(), "value_error")
		}
	}
	if err := v.err(); err != nil {
		return rate, types, err
	}
	// Filters must name event types that exist and are not archived (for
	// operational webhook endpoints: operational event types).
	if list, ok := types.Value(); ok {
		check := a.checkEventTypes
		if operationalRoute(r) {
			check = checkOperationalTypes
		}
		if err := check(r, list); err != nil {
			return rate, types, err
		}
	}
	return rate, types, nil
}

// maxEventTypes is the most event types an endpoint may filter on, and the
// most a list query may filter on. The Svix reference gives no maximum; a
// thousand is far more than any real filter, and bounds the work of one
// request.
const maxEventTypes = 1000

// checkEventTypes refuses a filter that names event types that do not
// exist, are archived, or that the caller may not see (visible), naming
// them alike; it reads them all in one query.
func (a *API) checkEventTypes(r *http.Request, names []string) error {
	found, err := a.store.GetEventTypes(r.Context(), names)
	if err != nil {
		return err
	}
	usable := make(map[string]bool, len(found))
	for _, et := range found {
		usable[et.Name] = !et.Archived && visible(r, et)
	}
	var missing []string
	for _, name := range names {
		if !usable[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return invalid([]string{"body", "eventTypes"},
			"The following event types don't exist: "+strings.Join(missing, ", "), "value_error")
	}
	return nil
}

// validateURL checks an endpoint URL with the rule the sender applies to
// every attempt (egress.ValidateURL), as it will be stored (normalizeURL),
// so that no URL is accepted that would fail on every attempt.
func validateURL(raw string) error {
	if err := egress.ValidateURL(raw); err != nil {
		return err
	}
	if err := egress.ValidateURL(normalizeURL(raw)); err != nil {
		return fmt.Errorf("%w (with the path / it is stored with)", err)
	}
	return nil
}

// normalizeURL gives a URL with an empty path the path "/", as the Svix
// server stores it: https://e.com becomes https://e.com/ and
// https://e.com?x=1 becomes https://e.com/?x=1.
func normalizeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path != "" || u.Opaque != "" {
		return raw
	}
	// With an empty path, the query or fragment starts at the first ? or #
	// after "scheme://" (neither may appear unescaped in the authority).
	rest := len(u.Scheme) + len("://")
	if rest > len(raw) {
		return raw
	}
	i := strings.IndexAny(raw[rest:], "?#")
	if i < 0 {
		return raw + "/"
	}
	return raw[:rest+i] + "/" + raw[rest+i:]
}

// loadEndpoint returns the endpoint named by the path (id or uid) in the
// path's app.
func (a *API) loadEndpoint(r *http.Request) (*store.App, *store.Endpoint, error) {
	app, err := a.loadApp(r)
	if err != nil {
		return nil, nil, err
	}
	ep, err := a.store.GetEndpoint(r.Context(), app.ID, r.PathValue("endpoint_id"))
	if err != nil {
		return app, nil, err
	}
	return app, ep, nil
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	lq, err := parseList(r.URL.Query(), true, true, func(s string) bool { return strings.HasPrefix(s, ids.Endpoint) })
	if err != nil {
		return err
	}
	eps, err := a.store.ListEndpoints(r.Context(), app.ID, lq.page())
	if err != nil {
		return err
	}
	return writeList(w, finish(lq, eps, func(x *store.Endpoint) string { return x.ID }, func(x *store.Endpoint) any { return endpointJSON(r, x) }))
}

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	var in endpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.validateEndpoint(r, &in, true)
	if err != nil {
		return err
	}
	ep, err := a.createEndpointFrom(r, app, &in, rate, types)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, endpointJSON(r, ep))
	return nil
}

func (a *API) createEndpointFrom(r *http.Request, app *store.App, in *endpointIn, rate Opt[int], types Opt[[]string]) (*store.Endpoint, error) {
	now := a.now()
	secret := in.Secret.V
	if secret == "" {
		secret = newEndpointSecret(false)
	}
	parsed, err := parseEndpointSecret(secret)
	if err != nil {
		return nil, err
	}
	ep := &store.Endpoint{
		ID:        ids.NewAt(ids.Endpoint, now),
		AppID:     app.ID,
		Headers:   map[string]string{},
		Secret:    a.Box.Seal(parsed),
		CreatedAt: now,
		UpdatedAt: now,
	}
	p := endpointUpdate(in, rate, types, true)
	applyEndpoint(ep, &p)
	err = a.store.CreateEndpoint(r.Context(), ep, a.Events.Endpoint(operational.EndpointCreated, app, ep)...)
	if errors.Is(err, store.ErrConflict) {
		return nil, errConflict("An endpoint with that uid already exists in this application")
	}
	if err != nil {
		return nil, err
	}
	return ep, nil
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(r, ep))
	return nil
}

func (a *API) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in endpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.validateEndpoint(r, &in, true)
	if err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if errors.Is(err, store.ErrNotFound) && app != nil {
		// PUT creates a missing endpoint; its uid comes from the body.
		ep, err := a.createEndpointFrom(r, app, &in, rate, types)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, endpointJSON(r, ep))
		return nil
	}
	if err != nil {
		return err
	}
	ep, err = a.saveEndpoint(r, app, ep, endpointUpdate(&in, rate, types, true))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(r, ep))
	return nil
}

func (a *API) patchEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in endpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.validateEndpoint(r, &in, false)
	if err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	ep, err = a.saveEndpoint(r, app, ep, endpointUpdate(&in, rate, types, false))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(r, ep))
	return nil
}

// endpointUpdate is the change an endpoint body asks for. With full (create
// and PUT: EndpointIn, EndpointUpdate) it names every field the body
// carries, absent optional fields taking their defaults; otherwise (PATCH)
// only the fields present. Naming Disabled also asks to restart the failure
// clock of an endpoint that is enabled again, so that it is not disabled
// again at its next failure.
func endpointUpdate(in *endpointIn, rate Opt[int], types Opt[[]string], full bool) store.UpdateEndpointParams {
	var p store.UpdateEndpointParams
	if full || in.URL.Set {
		u := normalizeURL(in.URL.V)
		p.URL = &u
	}
	if full || in.Description.Set {
		p.Description = &in.Description.V
	}
	if full || in.Disabled.Set {
		p.Disabled = &in.Disabled.V
		p.ResetFailingOnEnable = true
	}
	if full || in.UID.Set {
		p.UID = &in.UID.V
	}
	if full || types.Set {
		list, _ := types.Value()
		p.EventTypes = &list
	}
	if full || in.Channels.Set {
		list, _ := in.Channels.Value()
		p.Channels = &list
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

// applyEndpoint sets the fields p names on a new endpoint.
func applyEndpoint(ep *store.Endpoint, p *store.UpdateEndpointParams) {
	set(&ep.UID, p.UID)
	set(&ep.URL, p.URL)
	set(&ep.Description, p.Description)
	set(&ep.Disabled, p.Disabled)
	set(&ep.EventTypes, p.EventTypes)
	set(&ep.Channels, p.Channels)
	set(&ep.ThrottleRate, p.ThrottleRate)
	set(&ep.Metadata, p.Metadata)
	set(&ep.Headers, p.Headers)
	set(&ep.Secret, p.Secret)
	set(&ep.OldSecrets, p.OldSecrets)
}

// set sets *dst to *v when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// saveEndpoint writes the change p to the endpoint ep (as loaded) of app,
// with its operational events (endpoint.updated, and endpoint.disabled or
// endpoint.enabled when p changes that), tells the engine, and returns the
// endpoint as written. The store makes the new UpdatedAt strictly later than
// the stored one, so the delivery engine's cache notices.
func (a *API) saveEndpoint(r *http.Request, app *store.App, ep *store.Endpoint, p store.UpdateEndpointParams) (*store.Endpoint, error) {
	p.ID, p.AppID, p.UpdatedAt = ep.ID, ep.AppID, a.now()
	p.Events = a.Events.Endpoint(operational.EndpointUpdated, app, ep)
	switch {
	case p.Disabled != nil && *p.Disabled && !ep.Disabled:
		p.Events = append(p.Events, a.Events.Disabled(app, ep, operational.TriggerManual, ep.FailingSince)...)
	case p.Disabled != nil && !*p.Disabled && ep.Disabled:
		p.Events = append(p.Events, a.Events.Endpoint(operational.EndpointEnabled, app, ep)...)
	}
	saved, err := a.store.UpdateEndpoint(r.Context(), p)
	if errors.Is(err, store.ErrConflict) {
		return nil, errConflict("An endpoint with that uid already exists in this application")
	}
	if err != nil {
		return nil, err
	}
	a.endpointChanged(ep.ID)
	return saved, nil
}

func (a *API) endpointChanged(id string) {
	if a.Dispatcher != nil {
		a.Dispatcher.EndpointChanged(id)
	}
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteEndpoint(r.Context(), app.ID, ep.ID, a.Events.Endpoint(operational.EndpointDeleted, app, ep)...); err != nil {
		return err
	}
	a.endpointChanged(ep.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Headers.

// forbiddenHeaders may not be set on an endpoint: Herald sets them, or they
// are hop-by-hop or describe the body.
var forbiddenHeaders = []string{
	"user-agent", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
	"transfer-encoding", "upgrade", "age", "cache-control", "clear-site-data", "expires", "pragma",
	"warning", "content-length", "content-type", "content-encoding", "content-language",
	"content-location", "host", "connection",
}

var forbiddenHeaderPrefixes = []string{
	"x-amz-", "x-amzn-", "x-google", "x-goog-", "x-gfe", "x-azure-", "x-fd-",
	"x-svix-", "svix-", "webhook-", "x-herald-",
}

// sensitiveHeaders are shown by name only.
var sensitiveHeaders = []string{
	"x-auth-token", "x-api-key", "www-authenticate", "authorization", "proxy-authenticate", "proxy-authorization",
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// Limits of an endpoint's custom headers.
const (
	maxHeaders     = 100
	maxHeaderName  = 256  // bytes
	maxHeaderValue = 4096 // bytes
)

// checkHeader checks one header name and, when checkValue, its value, and
// reports whether they are valid. Names are compared ignoring case, as HTTP
// does.
func checkHeader(v *validator, name, value string, checkValue bool) bool {
	loc := []string{"body", "headers", name}
	lower := strings.ToLower(name)
	switch {
	case !validHeaderName(name):
		v.add(loc, "Invalid Header Name.", "value_error")
	case len(name) > maxHeaderName:
		v.add(loc, fmt.Sprintf("Maximum header name length is %d bytes", maxHeaderName), "value_error")
	case slices.Contains(forbiddenHeaders, lower):
		v.add(loc, "Header uses a forbidden key.", "value_error")
	case slices.ContainsFunc(forbiddenHeaderPrefixes, func(p string) bool { return strings.HasPrefix(lower, p) }):
		v.add(loc, "Header starts with a forbidden prefix.", "value_error")
	case checkValue && !validHeaderValue(value):
		v.add(loc, "Invalid Header Value.", "value_error")
	case checkValue && len(value) > maxHeaderValue:
		v.add(loc, fmt.Sprintf("Maximum header length is %d bytes", maxHeaderValue), "value_error")
	default:
		return true
	}
	return false
}

// headerField is one header of a request body.
type headerField[V any] struct {
	Name  string
	Value V
}

// headerFields is a JSON object of header names to values that keeps every
// name as written, in order, a repeated name included (a map would keep
// only the last one).
type headerFields[V any] []headerField[V]

// UnmarshalJSON implements json.Unmarshaler.
func (h *headerFields[V]) UnmarshalJSON(b []byte) error {
	notObject := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[map[string]V]()}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return notObject
	}
	*h = nil
	for dec.More() {
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return notObject
		}
		var f headerField[V]
		f.Name = name
		if err := dec.Decode(&f.Value); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return typeErr
			}
			return notObject
		}
		*h = append(*h, f)
	}
	return nil
}

// canonicalHeaders checks the headers of a request and returns the valid
// ones under their canonical names (http.CanonicalHeaderKey), the form
// stored. Two names equal ignoring case are refused: they name one header.
// value gives a field's value and whether it is to be checked (PATCH's null
// deletes).
func canonicalHeaders[V any](v *validator, fields headerFields[V], value func(V) (string, bool)) headerFields[V] {
	if len(fields) > maxHeaders {
		v.body("headers", fmt.Sprintf("at most %d headers", maxHeaders), "value_error")
		return nil
	}
	seen := make(map[string]string, len(fields))
	out := make(headerFields[V], 0, len(fields))
	for _, f := range fields {
		val, checkValue := value(f.Value)
		if !checkHeader(v, f.Name, val, checkValue) {
			continue
		}
		canon := http.CanonicalHeaderKey(f.Name)
		if first, dup := seen[canon]; dup {
			v.add([]string{"body", "headers", f.Name}, fmt.Sprintf(
				"Header names are case-insensitive: %q and %q name the same header.", first, f.Name), "value_error")
			continue
		}
		seen[canon] = f.Name
		out = append(out, headerField[V]{Name: canon, Value: f.Value})
	}
	return out
}

type headersOut struct {
	Headers   map[string]string `json:"headers"`
	Sensitive []string          `json:"sensitive"`
}

func (a *API) getEndpointHeaders(w http.ResponseWriter, r *http.Request) error {
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	out := headersOut{Headers: map[string]string{}, Sensitive: []string{}}
	for k, v := range ep.Headers {
		if slices.Contains(sensitiveHeaders, strings.ToLower(k)) {
			out.Sensitive = append(out.Sensitive, k)
			continue
		}
		out.Headers[k] = v
	}
	slices.Sort(out.Sensitive)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) updateEndpointHeaders(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Headers Opt[headerFields[string]] `json:"headers"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	fields, ok := in.Headers.Value()
	if !ok {
		v.body("headers", "field required", "value_error.missing")
	}
	fields = canonicalHeaders(&v, fields, func(s string) (string, bool) { return s, true })
	if err := v.err(); err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	headers := make(map[string]string, len(fields))
	for _, f := range fields {
		headers[f.Name] = f.Value
	}
	if _, err := a.saveEndpoint(r, app, ep, store.UpdateEndpointParams{Headers: &headers}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) patchEndpointHeaders(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Headers Opt[headerFields[*string]] `json:"headers"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	fields, ok := in.Headers.Value()
	if !ok {
		v.body("headers", "field required", "value_error.missing")
	}
	fields = canonicalHeaders(&v, fields, func(s *string) (string, bool) {
		if s == nil {
			return "", false
		}
		return *s, true
	})
	if err := v.err(); err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	for _, f := range fields {
		// Replace the header whatever the case it was stored in.
		for old := range ep.Headers {
			if strings.EqualFold(old, f.Name) {
				delete(ep.Headers, old)
			}
		}
		if f.Value != nil {
			ep.Headers[f.Name] = *f.Value
		}
	}
	if len(ep.Headers) > maxHeaders {
		return invalid([]string{"body", "headers"}, fmt.Sprintf("at most %d headers", maxHeaders), "value_error")
	}
	if _, err := a.saveEndpoint(r, app, ep, store.UpdateEndpointParams{Headers: &ep.Headers}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Secrets.

const (
	maxOldSecrets      = 10
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 7 * 24 * time.Hour
)

func (a *API) openSecret(sealed string) (string, error) {
	s, err := a.Box.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("open endpoint secret: %w", err)
	}
	return s, nil
}

func (a *API) getEndpointSecret(w http.ResponseWriter, r *http.Request) error {
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	secret, err := a.openSecret(ep.Secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": publicSecret(secret)})
	return nil
}

func (a *API) rotateEndpointSecret(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Key         Opt[string] `json:"key"`
		GracePeriod Opt[int64]  `json:"gracePeriodSeconds"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	grace := defaultGracePeriod
	if n, ok := in.GracePeriod.Value(); ok {
		grace = v.duration("gracePeriodSeconds", n, 0, int64(maxGracePeriod/time.Second), time.Second, "seconds")
	}
	var newKey string
	if k, ok := in.Key.Value(); ok {
		parsed, err := parseEndpointSecret(k)
		if err != nil {
			v.body("key", err.Error(), "value_error")
		}
		newKey = parsed
	}
	if err := v.err(); err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	now := a.now()
	old := ep.OldSecrets[:0:0]
	for _, o := range ep.OldSecrets {
		if o.ExpiresAt.After(now) {
			old = append(old, o)
		}
	}
	if grace > 0 {
		if len(old) >= maxOldSecrets {
			next := old[0].ExpiresAt
			for _, o := range old {
				if o.ExpiresAt.Before(next) {
					next = o.ExpiresAt
				}
			}
			return &Error{Status: http.StatusBadRequest, Code: "limit_reached", Detail: fmt.Sprintf(
				"You can only rotate a key %d times; please wait for old keys to expire. Your next key expires at %s.",
				maxOldSecrets, next.Format(time.RFC3339))}
		}
		old = append([]store.OldSecret{{Secret: ep.Secret, ExpiresAt: now.Add(grace)}}, old...)
	}
	if newKey == "" {
		current, err := a.openSecret(ep.Secret)
		if err != nil {
			return err
		}
		newKey = newEndpointSecret(isEd25519Secret(current))
	}
	sealed := a.Box.Seal(newKey)
	if _, err := a.saveEndpoint(r, app, ep, store.UpdateEndpointParams{Secret: &sealed, OldSecrets: &old}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

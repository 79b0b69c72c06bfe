package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/store"
)

// EndpointIn is the body of the Svix API's EndpointIn, EndpointUpdate and
// EndpointPatch.
type EndpointIn struct {
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
	// Ordering is a Herald extension: "fifo" or "none" (null: "none").
	// Absent, a create takes "none" and an update (PUT too: Svix clients
	// never send it) leaves it as it is.
	Ordering Opt[string] `json:"ordering"`
}

// Endpoint orderings as the API names them.
const (
	OrderingNone = "none"
	OrderingFIFO = "fifo"
)

// OrderingName is the API's name of o.
func OrderingName(o store.Ordering) string {
	if o == store.OrderingFIFO {
		return OrderingFIFO
	}
	return OrderingNone
}

// parseOrdering reads an ordering by its API name ("" and null: none).
func parseOrdering(s string) (store.Ordering, bool) {
	switch s {
	case "", OrderingNone:
		return store.OrderingNone, true
	case OrderingFIFO:
		return store.OrderingFIFO, true
	}
	return 0, false
}

// ValidateEndpoint checks an endpoint body as caller sends it; full is true
// for create and PUT. It returns the merged throttle rate and event types.
func (s *Service) ValidateEndpoint(ctx context.Context, caller Caller, in *EndpointIn, full bool) (rate Opt[int], types Opt[[]string], err error) {
	var v Validator
	if full && !in.URL.Set || in.URL.Null {
		v.Body("url", "field required", "value_error.missing")
	} else if u, ok := in.URL.Value(); ok {
		if err := ValidateURL(u); err != nil {
			v.Body("url", err.Error(), "value_error.url")
		}
	}
	if in.Description.Null {
		v.Body("description", "must be a string", "type_error")
	} else if d, ok := in.Description.Value(); ok {
		v.Text("description", d, 0, 4096)
	}
	if in.Disabled.Null {
		v.Body("disabled", "must be a boolean", "type_error")
	}
	if uid, ok := in.UID.Value(); ok {
		v.Ident([]string{"body", "uid"}, uid, 256)
		if strings.HasPrefix(uid, ids.Endpoint) {
			v.Body("uid", "Uids are not allowed to have the same prefix as the ID. Prefix with _?", "value_error")
		}
	}
	rate = Throttle(&v, in.ThrottleRate, in.RateLimit)
	types = in.EventTypes
	if !types.Set {
		types = in.FilterTypes
	}
	if list, ok := types.Value(); ok {
		v.IdentList("eventTypes", list, 256, 1, MaxEventTypes)
	}
	if list, ok := in.Channels.Value(); ok {
		v.IdentList("channels", list, 128, 1, 10)
	}
	if m, ok := in.Metadata.Value(); ok {
		v.Metadata("metadata", m)
	}
	if s, ok := in.Secret.Value(); ok {
		if _, err := ParseSecret(s); err != nil {
			v.Body("secret", err.Error(), "value_error")
		}
	}
	if _, ok := parseOrdering(in.Ordering.V); !ok {
		v.Body("ordering", `must be "fifo" or "none"`, "type_error.enum")
	}
	if err := v.Err(); err != nil {
		return rate, types, err
	}
	// Filters must name event types that exist and are not archived.
	if list, ok := types.Value(); ok {
		if err := s.CheckEventTypes(ctx, caller, list); err != nil {
			return rate, types, err
		}
	}
	return rate, types, nil
}

// MaxEventTypes is the most event types an endpoint may filter on, and the
// most a list query may filter on. The Svix reference gives no maximum; a
// thousand is far more than any real filter, and bounds the work of one
// request.
const MaxEventTypes = 1000

// CheckEventTypes refuses a filter that names event types that do not
// exist, are archived, or that the caller may not see (visible), naming
// them alike; it reads them all in one query.
func (s *Service) CheckEventTypes(ctx context.Context, caller Caller, names []string) error {
	if caller.Operational {
		return checkOperationalTypes(names)
	}
	found, err := s.store.GetEventTypes(ctx, names)
	if err != nil {
		return err
	}
	usable := make(map[string]bool, len(found))
	for _, et := range found {
		usable[et.Name] = !et.Archived && Visible(caller, et)
	}
	var missing []string
	for _, name := range names {
		if !usable[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Invalid([]string{"body", "eventTypes"},
			"The following event types don't exist: "+strings.Join(missing, ", "), "value_error")
	}
	return nil
}

// ValidateURL checks an endpoint URL with the rule the sender applies to
// every attempt (egress.ValidateURL), as it will be stored (normalizeURL),
// so that no URL is accepted that would fail on every attempt.
func ValidateURL(raw string) error {
	if err := egress.ValidateURL(raw); err != nil {
		return err
	}
	if err := egress.ValidateURL(NormalizeURL(raw)); err != nil {
		return fmt.Errorf("%w (with the path / it is stored with)", err)
	}
	return nil
}

// NormalizeURL gives a URL with an empty path the path "/", as the Svix
// server stores it: https://e.com becomes https://e.com/ and
// https://e.com?x=1 becomes https://e.com/?x=1.
func NormalizeURL(raw string) string {
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

// errEndpointUIDTaken is a uid already used by another endpoint of the app.
var errEndpointUIDTaken = &Error{Status: http.StatusConflict, Code: "conflict", Detail: "An endpoint with that uid already exists in this application"}

// CreateEndpoint creates the endpoint a validated body (ValidateEndpoint)
// describes in app, with a new secret unless the body gives one.
func (s *Service) CreateEndpoint(ctx context.Context, app *store.App, in *EndpointIn, rate Opt[int], types Opt[[]string]) (*store.Endpoint, error) {
	now := s.Now()
	secret := in.Secret.V
	if secret == "" {
		secret = NewSecret(false)
	}
	parsed, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	ep := &store.Endpoint{
		ID:        ids.NewAt(ids.Endpoint, now),
		AppID:     app.ID,
		Headers:   map[string]string{},
		Secret:    s.box.Seal(parsed),
		CreatedAt: now,
		UpdatedAt: now,
	}
	p := EndpointUpdate(in, rate, types, true)
	applyEndpoint(ep, &p)
	err = s.store.CreateEndpoint(ctx, ep, s.events.Endpoint(operational.EndpointCreated, app, ep)...)
	if errors.Is(err, store.ErrConflict) {
		return nil, errEndpointUIDTaken
	}
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// EndpointUpdate is the change an endpoint body asks for. With full (create
// and PUT: EndpointIn, EndpointUpdate) it names every field the body
// carries, absent optional fields taking their defaults; otherwise (PATCH)
// only the fields present. Naming Disabled also asks to restart the failure
// clock of an endpoint that is enabled again, so that it is not disabled
// again at its next failure.
func EndpointUpdate(in *EndpointIn, rate Opt[int], types Opt[[]string], full bool) store.UpdateEndpointParams {
	var p store.UpdateEndpointParams
	if full || in.URL.Set {
		u := NormalizeURL(in.URL.V)
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
	if in.Ordering.Set {
		o, _ := parseOrdering(in.Ordering.V)
		p.Ordering = &o
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
	set(&ep.Ordering, p.Ordering)
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

// SaveEndpoint writes the change p to the endpoint ep (as loaded), with its
// operational events (endpoint.updated, and endpoint.disabled or
// endpoint.enabled when p changes that), tells the engine, and returns the
// endpoint as written. The store makes the new UpdatedAt strictly later
// than the stored one, so the delivery engine's cache notices.
func (s *Service) SaveEndpoint(ctx context.Context, ep *store.Endpoint, p store.UpdateEndpointParams) (*store.Endpoint, error) {
	p.ID, p.AppID, p.UpdatedAt = ep.ID, ep.AppID, s.Now()
	if s.events != nil && !s.events.Is(ep.AppID) {
		app := s.appOf(ctx, ep.AppID)
		p.Events = s.events.Endpoint(operational.EndpointUpdated, app, ep)
		switch {
		case p.Disabled != nil && *p.Disabled && !ep.Disabled:
			p.Events = append(p.Events, s.events.Disabled(app, ep, operational.TriggerManual, ep.FailingSince)...)
		case p.Disabled != nil && !*p.Disabled && ep.Disabled:
			p.Events = append(p.Events, s.events.Endpoint(operational.EndpointEnabled, app, ep)...)
		}
	}
	saved, err := s.store.UpdateEndpoint(ctx, p)
	if errors.Is(err, store.ErrConflict) {
		return nil, errEndpointUIDTaken
	}
	if err != nil {
		return nil, err
	}
	s.endpointChanged(ep.ID)
	return saved, nil
}

func (s *Service) endpointChanged(id string) {
	if s.dispatcher != nil {
		s.dispatcher.EndpointChanged(id)
	}
}

// DeleteEndpoint deletes an endpoint of app, with its endpoint.deleted
// event, and tells the engine.
func (s *Service) DeleteEndpoint(ctx context.Context, appID, id string) error {
	var events []*store.Message
	if s.events != nil && !s.events.Is(appID) {
		ep, err := s.store.GetEndpoint(ctx, appID, id)
		if err != nil {
			return err
		}
		events = s.events.Endpoint(operational.EndpointDeleted, s.appOf(ctx, appID), ep)
	}
	if err := s.store.DeleteEndpoint(ctx, appID, id, events...); err != nil {
		return err
	}
	s.endpointChanged(id)
	return nil
}

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

// SensitiveHeaders are shown by name only.
var SensitiveHeaders = []string{
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
	MaxHeaders     = 100
	maxHeaderName  = 256  // bytes
	maxHeaderValue = 4096 // bytes
)

// checkHeader checks one header name and, when checkValue, its value, and
// reports whether they are valid. Names are compared ignoring case, as HTTP
// does.
func checkHeader(v *Validator, name, value string, checkValue bool) bool {
	loc := []string{"body", "headers", name}
	lower := strings.ToLower(name)
	switch {
	case !validHeaderName(name):
		v.Add(loc, "Invalid Header Name.", "value_error")
	case len(name) > maxHeaderName:
		v.Add(loc, fmt.Sprintf("Maximum header name length is %d bytes", maxHeaderName), "value_error")
	case slices.Contains(forbiddenHeaders, lower):
		v.Add(loc, "Header uses a forbidden key.", "value_error")
	case slices.ContainsFunc(forbiddenHeaderPrefixes, func(p string) bool { return strings.HasPrefix(lower, p) }):
		v.Add(loc, "Header starts with a forbidden prefix.", "value_error")
	case checkValue && !validHeaderValue(value):
		v.Add(loc, "Invalid Header Value.", "value_error")
	case checkValue && len(value) > maxHeaderValue:
		v.Add(loc, fmt.Sprintf("Maximum header length is %d bytes", maxHeaderValue), "value_error")
	default:
		return true
	}
	return false
}

// HeaderField is one header of a request body.
type HeaderField[V any] struct {
	Name  string
	Value V
}

// HeaderFields is a JSON object of header names to values that keeps every
// name as written, in order, a repeated name included (a map would keep
// only the last one).
type HeaderFields[V any] []HeaderField[V]

// UnmarshalJSON implements json.Unmarshaler.
func (h *HeaderFields[V]) UnmarshalJSON(b []byte) error {
	notObject := &json.UnmarshalTypeError{Value: JSONKind(b), Type: reflect.TypeFor[map[string]V]()}
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
		var f HeaderField[V]
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

// CanonicalHeaders checks the headers of a request and returns the valid
// ones under their canonical names (http.CanonicalHeaderKey), the form
// stored. Two names equal ignoring case are refused: they name one header.
// value gives a field's value and whether it is to be checked (PATCH's null
// deletes).
func CanonicalHeaders[V any](v *Validator, fields HeaderFields[V], value func(V) (string, bool)) HeaderFields[V] {
	if len(fields) > MaxHeaders {
		v.Body("headers", fmt.Sprintf("at most %d headers", MaxHeaders), "value_error")
		return nil
	}
	seen := make(map[string]string, len(fields))
	out := make(HeaderFields[V], 0, len(fields))
	for _, f := range fields {
		val, checkValue := value(f.Value)
		if !checkHeader(v, f.Name, val, checkValue) {
			continue
		}
		canon := http.CanonicalHeaderKey(f.Name)
		if first, dup := seen[canon]; dup {
			v.Add([]string{"body", "headers", f.Name}, fmt.Sprintf(
				"Header names are case-insensitive: %q and %q name the same header.", first, f.Name), "value_error")
			continue
		}
		seen[canon] = f.Name
		out = append(out, HeaderField[V]{Name: canon, Value: f.Value})
	}
	return out
}

// checkOperationalTypes refuses filters naming no operational event type.
func checkOperationalTypes(names []string) error {
	var missing []string
	for _, n := range names {
		if !slices.Contains(operational.Types, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return Invalid([]string{"body", "filterTypes"}, "The following event types don't exist: "+strings.Join(missing, ", ")+
			" (operational webhooks: "+strings.Join(operational.Types, ", ")+")", "value_error")
	}
	return nil
}

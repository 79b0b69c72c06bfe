package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// eventTypeIn is EventTypeIn, EventTypeUpdate and EventTypePatch.
type eventTypeIn struct {
	Name        Opt[string]          `json:"name"`
	Description Opt[string]          `json:"description"`
	Archived    Opt[bool]            `json:"archived"`
	Deprecated  Opt[bool]            `json:"deprecated"`
	FeatureFlag Opt[string]          `json:"featureFlag"`
	Schemas     Opt[json.RawMessage] `json:"schemas"`
	// ValidatePayloads is a Herald extension: true or false, or null for
	// the server's default. Absent, an update leaves it as it is (Svix
	// clients do not know it) and a create takes null.
	ValidatePayloads Opt[bool] `json:"validatePayloads"`
}

type eventTypeOut struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Archived    bool            `json:"archived"`
	Deprecated  bool            `json:"deprecated"`
	FeatureFlag *string         `json:"featureFlag"`
	Schemas     json.RawMessage `json:"schemas"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// eventTypeOutExt is eventTypeOut with Herald's extension, sent to every
// client but the older Svix SDKs, which refuse fields they do not know.
type eventTypeOutExt struct {
	eventTypeOut
	// ValidatePayloads is the event type's setting; null: the server's
	// default.
	ValidatePayloads *bool `json:"validatePayloads"`
}

func eventTypeJSON(r *http.Request, et *store.EventType, withSchemas bool) any {
	out := eventTypeOut{Name: et.Name, Description: et.Description, Archived: et.Archived, Deprecated: et.Deprecated,
		FeatureFlag: optString(et.FeatureFlag), Schemas: json.RawMessage("null"), CreatedAt: et.CreatedAt, UpdatedAt: et.UpdatedAt}
	if withSchemas && len(et.Schemas) > 0 {
		out.Schemas = et.Schemas
	}
	if legacyClient(r) {
		return out
	}
	ext := eventTypeOutExt{eventTypeOut: out}
	if et.ValidatePayloads != store.ValidationDefault {
		on := et.ValidatePayloads == store.ValidationOn
		ext.ValidatePayloads = &on
	}
	return ext
}

// validateEventType checks a body; full is true for create and PUT. The name
// is checked by the caller when it comes from the body.
func validateEventType(in *eventTypeIn, full bool) error {
	var v validator
	if full && !in.Description.Set || in.Description.Null {
		v.body("description", "field required", "value_error.missing")
	} else if d, ok := in.Description.Value(); ok {
		v.text("description", d, 0, 8192)
	}
	if in.Archived.Null {
		v.body("archived", "must be a boolean", "type_error")
	}
	if in.Deprecated.Null {
		v.body("deprecated", "must be a boolean", "type_error")
	}
	if f, ok := in.FeatureFlag.Value(); ok {
		v.ident([]string{"body", "featureFlag"}, f, 256)
	}
	if s, ok := in.Schemas.Value(); ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			v.body("schemas", "must be an object mapping a version to a JSON schema", "type_error.dict")
		} else if len(s) <= 256<<10 {
			for _, version := range schemaVersions(m) {
				schema := m[version]
				if t := bytes.TrimSpace(schema); len(t) == 0 || t[0] != '{' {
					v.add([]string{"body", "schemas", version}, "must be a JSON schema object", "type_error.dict")
				} else if _, err := compileSchema(schema); err != nil {
					v.add([]string{"body", "schemas", version}, err.Error(), "value_error.jsonschema")
				}
			}
		}
		if len(s) > 256<<10 {
			v.body("schemas", "must be at most 256 KiB", "value_error")
		} else if problem := jsonProblem(s); problem != "" {
			v.body("schemas", "cannot be stored: "+problem, "value_error")
		}
	}
	return v.err()
}

// eventTypeUpdate is the change an event type body asks for. With full
// (create and PUT) it names every field the body carries, absent optional
// fields taking their defaults; otherwise (PATCH) only the fields present.
func eventTypeUpdate(in *eventTypeIn, full bool) store.UpdateEventTypeParams {
	var p store.UpdateEventTypeParams
	if full || in.Description.Set {
		p.Description = &in.Description.V
	}
	if full || in.Archived.Set {
		p.Archived = &in.Archived.V
	}
	if full || in.Deprecated.Set {
		p.Deprecated = &in.Deprecated.V
	}
	if full || in.FeatureFlag.Set {
		p.FeatureFlag = &in.FeatureFlag.V
	}
	if full || in.Schemas.Set {
		s, _ := in.Schemas.Value()
		p.Schemas = &s
	}
	if in.ValidatePayloads.Set {
		v := store.ValidationDefault
		if on, ok := in.ValidatePayloads.Value(); ok && on {
			v = store.ValidationOn
		} else if ok {
			v = store.ValidationOff
		}
		p.ValidatePayloads = &v
	}
	return p
}

// newEventType is the event type called name that a create or PUT body
// describes.
func newEventType(name string, in *eventTypeIn, now time.Time) *store.EventType {
	et := &store.EventType{Name: name, CreatedAt: now, UpdatedAt: now}
	p := eventTypeUpdate(in, true)
	set(&et.Description, p.Description)
	set(&et.Archived, p.Archived)
	set(&et.Deprecated, p.Deprecated)
	set(&et.FeatureFlag, p.FeatureFlag)
	set(&et.Schemas, p.Schemas)
	set(&et.ValidatePayloads, p.ValidatePayloads)
	return et
}

// visible reports whether the caller may see et: portal tokens see only
// event types without a feature flag. It is the one rule for every route:
// an event type the caller may not see behaves, for that caller, as one
// that does not exist, whether it is read (eventTypeFor, the list) or named
// (an endpoint's filter, send-example).
func visible(r *http.Request, et *store.EventType) bool {
	return principalFrom(r.Context()).AppID == "" || et.FeatureFlag == ""
}

func (a *API) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lq, err := parseList(q, false, false, func(s string) bool { return len(s) <= 256 && idPattern.MatchString(s) })
	if err != nil {
		return err
	}
	withContent, err := queryBool(q, "with_content", false)
	if err != nil {
		return err
	}
	archived, err := queryBool(q, "include_archived", false)
	if err != nil {
		return err
	}
	var rows []*store.EventType
	// Hidden rows (feature flags) are filtered after the query; keep
	// reading until the page is full.
	page := lq.page()
	for {
		batch, err := a.store.ListEventTypes(r.Context(), store.ListEventTypesParams{Page: page, IncludeArchived: archived})
		if err != nil {
			return err
		}
		for _, et := range batch {
			if visible(r, et) {
				rows = append(rows, et)
			}
		}
		if len(batch) < page.Limit || len(rows) >= page.Limit {
			break
		}
		page.After = batch[len(batch)-1].Name
	}
	return writeList(w, finish(lq, rows, func(x *store.EventType) string { return x.Name },
		func(x *store.EventType) any { return eventTypeJSON(r, x, withContent) }))
}

func (a *API) createEventType(w http.ResponseWriter, r *http.Request) error {
	var in eventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	if name, ok := in.Name.Value(); ok {
		v.ident([]string{"body", "name"}, name, 256)
	} else {
		v.body("name", "field required", "value_error.missing")
	}
	v.items = append(v.items, validationItems(validateEventType(&in, true))...)
	if err := v.err(); err != nil {
		return err
	}
	now := a.now()
	existing, err := a.store.GetEventType(r.Context(), in.Name.V)
	switch {
	case err == nil && !existing.Archived:
		return &Error{Status: http.StatusConflict, Code: "event_type_exists", Detail: "An event_type with this name already exists"}
	case err == nil:
		// Creating an archived event type brings it back.
		p := eventTypeUpdate(&in, true)
		unarchived := false
		p.Name, p.Archived, p.UpdatedAt = existing.Name, &unarchived, now
		et, err := a.store.UpdateEventType(r.Context(), p)
		if err != nil {
			return err
		}
		a.dropRule(et.Name)
		writeJSON(w, http.StatusCreated, eventTypeJSON(r, et, true))
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	et := newEventType(in.Name.V, &in, now)
	err = a.store.CreateEventType(r.Context(), et)
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: http.StatusConflict, Code: "event_type_exists", Detail: "An event_type with this name already exists"}
	}
	if err != nil {
		return err
	}
	a.dropRule(et.Name)
	writeJSON(w, http.StatusCreated, eventTypeJSON(r, et, true))
	return nil
}

func validationItems(err error) []ValidationItem {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Items
	}
	return nil
}

func (a *API) loadEventType(r *http.Request) (*store.EventType, error) {
	return a.eventTypeFor(r, r.PathValue("event_type_name"))
}

// eventTypeFor returns the event type called name as the caller sees it:
// not found when it does not exist or is not visible.
func (a *API) eventTypeFor(r *http.Request, name string) (*store.EventType, error) {
	et, err := a.store.GetEventType(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if !visible(r, et) {
		return nil, errNotFound()
	}
	return et, nil
}

func (a *API) getEventType(w http.ResponseWriter, r *http.Request) error {
	et, err := a.loadEventType(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventTypeJSON(r, et, true))
	return nil
}

func (a *API) updateEventType(w http.ResponseWriter, r *http.Request) error {
	var in eventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	name := r.PathValue("event_type_name")
	var v validator
	v.ident([]string{"path", "event_type_name"}, name, 256)
	v.items = append(v.items, validationItems(validateEventType(&in, true))...)
	if err := v.err(); err != nil {
		return err
	}
	now := a.now()
	et, err := a.store.GetEventType(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		et = newEventType(name, &in, now)
		err := a.store.CreateEventType(r.Context(), et)
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: "event_type_exists", Detail: "An event_type with this name already exists"}
		}
		if err != nil {
			return err
		}
		a.dropRule(et.Name)
		writeJSON(w, http.StatusCreated, eventTypeJSON(r, et, true))
		return nil
	}
	if err != nil {
		return err
	}
	p := eventTypeUpdate(&in, true)
	p.Name, p.UpdatedAt = et.Name, now
	et, err = a.store.UpdateEventType(r.Context(), p)
	if err != nil {
		return err
	}
	a.dropRule(et.Name)
	writeJSON(w, http.StatusOK, eventTypeJSON(r, et, true))
	return nil
}

func (a *API) patchEventType(w http.ResponseWriter, r *http.Request) error {
	var in eventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := validateEventType(&in, false); err != nil {
		return err
	}
	et, err := a.loadEventType(r)
	if err != nil {
		return err
	}
	p := eventTypeUpdate(&in, false)
	p.Name, p.UpdatedAt = et.Name, a.now()
	et, err = a.store.UpdateEventType(r.Context(), p)
	if err != nil {
		return err
	}
	a.dropRule(et.Name)
	writeJSON(w, http.StatusOK, eventTypeJSON(r, et, true))
	return nil
}

func (a *API) deleteEventType(w http.ResponseWriter, r *http.Request) error {
	expunge, err := queryBool(r.URL.Query(), "expunge", false)
	if err != nil {
		return err
	}
	et, err := a.loadEventType(r)
	if err != nil {
		return err
	}
	if expunge {
		err = a.store.DeleteEventType(r.Context(), et.Name)
	} else {
		archived := true
		_, err = a.store.UpdateEventType(r.Context(), store.UpdateEventTypeParams{Name: et.Name, Archived: &archived, UpdatedAt: a.now()})
	}
	if err != nil {
		return err
	}
	a.dropRule(et.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

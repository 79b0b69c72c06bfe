package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/service"
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

func eventTypeJSON(et *store.EventType, withSchemas bool) eventTypeOut {
	out := eventTypeOut{Name: et.Name, Description: et.Description, Archived: et.Archived, Deprecated: et.Deprecated,
		FeatureFlag: optString(et.FeatureFlag), Schemas: json.RawMessage("null"), CreatedAt: et.CreatedAt, UpdatedAt: et.UpdatedAt}
	if withSchemas && len(et.Schemas) > 0 {
		out.Schemas = et.Schemas
	}
	return out
}

// validateEventType checks a body; full is true for create and PUT. The name
// is checked by the caller when it comes from the body.
func validateEventType(in *eventTypeIn, full bool) error {
	var v validator
	if full && !in.Description.Set || in.Description.Null {
		v.Body("description", "field required", "value_error.missing")
	} else if d, ok := in.Description.Value(); ok {
		v.Text("description", d, 0, 8192)
	}
	if in.Archived.Null {
		v.Body("archived", "must be a boolean", "type_error")
	}
	if in.Deprecated.Null {
		v.Body("deprecated", "must be a boolean", "type_error")
	}
	if f, ok := in.FeatureFlag.Value(); ok {
		v.Ident([]string{"body", "featureFlag"}, f, 256)
	}
	if s, ok := in.Schemas.Value(); ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			v.Body("schemas", "must be an object mapping a version to a JSON schema", "type_error.dict")
		} else {
			for version, schema := range m {
				if t := bytes.TrimSpace(schema); len(t) == 0 || t[0] != '{' {
					v.Add([]string{"body", "schemas", version}, "must be a JSON schema object", "type_error.dict")
				}
			}
		}
		if len(s) > 256<<10 {
			v.Body("schemas", "must be at most 256 KiB", "value_error")
		} else if problem := jsonProblem(s); problem != "" {
			v.Body("schemas", "cannot be stored: "+problem, "value_error")
		}
	}
	return v.Err()
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
	return et
}

func (a *API) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lq, err := parseList(q, false, false, func(s string) bool { return len(s) <= 256 && service.IDPattern.MatchString(s) })
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
			if service.Visible(*principalFrom(r.Context()), et) {
				rows = append(rows, et)
			}
		}
		if len(batch) < page.Limit || len(rows) >= page.Limit {
			break
		}
		page.After = batch[len(batch)-1].Name
	}
	return writeList(w, finish(lq, rows, func(x *store.EventType) string { return x.Name },
		func(x *store.EventType) eventTypeOut { return eventTypeJSON(x, withContent) }))
}

func (a *API) createEventType(w http.ResponseWriter, r *http.Request) error {
	var in eventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	if name, ok := in.Name.Value(); ok {
		v.Ident([]string{"body", "name"}, name, 256)
	} else {
		v.Body("name", "field required", "value_error.missing")
	}
	v.Items = append(v.Items, validationItems(validateEventType(&in, true))...)
	if err := v.Err(); err != nil {
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
		writeJSON(w, http.StatusCreated, eventTypeJSON(et, true))
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
	writeJSON(w, http.StatusCreated, eventTypeJSON(et, true))
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
	return a.svc.EventTypeFor(r.Context(), *principalFrom(r.Context()), r.PathValue("event_type_name"))
}

func (a *API) getEventType(w http.ResponseWriter, r *http.Request) error {
	et, err := a.loadEventType(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventTypeJSON(et, true))
	return nil
}

func (a *API) updateEventType(w http.ResponseWriter, r *http.Request) error {
	var in eventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	name := r.PathValue("event_type_name")
	var v validator
	v.Ident([]string{"path", "event_type_name"}, name, 256)
	v.Items = append(v.Items, validationItems(validateEventType(&in, true))...)
	if err := v.Err(); err != nil {
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
		writeJSON(w, http.StatusCreated, eventTypeJSON(et, true))
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
	writeJSON(w, http.StatusOK, eventTypeJSON(et, true))
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
	writeJSON(w, http.StatusOK, eventTypeJSON(et, true))
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
	w.WriteHeader(http.StatusNoContent)
	return nil
}

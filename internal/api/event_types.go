package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

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
		func(x *store.EventType) any { return eventTypeJSON(r, x, withContent) }))
}

func (a *API) createEventType(w http.ResponseWriter, r *http.Request) error {
	var in service.EventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	if name, ok := in.Name.Value(); ok {
		v.Ident([]string{"body", "name"}, name, 256)
	} else {
		v.Body("name", "field required", "value_error.missing")
	}
	v.Items = append(v.Items, validationItems(service.ValidateEventType(&in, true))...)
	if err := v.Err(); err != nil {
		return err
	}
	et, err := a.svc.CreateEventType(r.Context(), in.Name.V, &in)
	if err != nil {
		return err
	}
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
	return a.svc.EventTypeFor(r.Context(), *principalFrom(r.Context()), r.PathValue("event_type_name"))
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
	var in service.EventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	name := r.PathValue("event_type_name")
	var v validator
	v.Ident([]string{"path", "event_type_name"}, name, 256)
	v.Items = append(v.Items, validationItems(service.ValidateEventType(&in, true))...)
	if err := v.Err(); err != nil {
		return err
	}
	now := a.now()
	et, err := a.store.GetEventType(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		et = service.NewEventType(name, &in, now)
		err := a.store.CreateEventType(r.Context(), et)
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: "event_type_exists", Detail: "An event_type with this name already exists"}
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, eventTypeJSON(r, et, true))
		return nil
	}
	if err != nil {
		return err
	}
	p := service.EventTypeUpdate(&in, true)
	p.Name, p.UpdatedAt = et.Name, now
	et, err = a.store.UpdateEventType(r.Context(), p)
	a.svc.DropRule(r.PathValue("event_type_name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventTypeJSON(r, et, true))
	return nil
}

func (a *API) patchEventType(w http.ResponseWriter, r *http.Request) error {
	var in service.EventTypeIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := service.ValidateEventType(&in, false); err != nil {
		return err
	}
	et, err := a.loadEventType(r)
	if err != nil {
		return err
	}
	p := service.EventTypeUpdate(&in, false)
	p.Name, p.UpdatedAt = et.Name, a.now()
	et, err = a.store.UpdateEventType(r.Context(), p)
	a.svc.DropRule(r.PathValue("event_type_name"))
	if err != nil {
		return err
	}
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
	a.svc.DropRule(et.Name)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

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
	// Ordering is a Herald extension: "fifo" or "none".
	Ordering string `json:"ordering"`
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
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt, Circuit: circuitJSON(ep.Circuit), Ordering: service.OrderingName(ep.Ordering),
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

// endpointPage reads the page of the path's app's endpoints that the
// query asks for (the tenant and the operational lists alike).
func (a *API) endpointPage(r *http.Request) (listQuery, []*store.Endpoint, error) {
	app, err := a.loadApp(r)
	if err != nil {
		return listQuery{}, nil, err
	}
	lq, err := parseList(r.URL.Query(), true, true, func(s string) bool { return strings.HasPrefix(s, ids.Endpoint) })
	if err != nil {
		return listQuery{}, nil, err
	}
	eps, err := a.store.ListEndpoints(r.Context(), app.ID, lq.page())
	return lq, eps, err
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	lq, eps, err := a.endpointPage(r)
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
	var in service.EndpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.svc.ValidateEndpoint(r.Context(), *principalFrom(r.Context()), &in, true)
	if err != nil {
		return err
	}
	ep, err := a.svc.CreateEndpoint(r.Context(), app, &in, rate, types)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, endpointJSON(r, ep))
	return nil
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
	var in service.EndpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.svc.ValidateEndpoint(r.Context(), *principalFrom(r.Context()), &in, true)
	if err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if errors.Is(err, store.ErrNotFound) && app != nil {
		// PUT creates a missing endpoint; its uid comes from the body.
		ep, err := a.svc.CreateEndpoint(r.Context(), app, &in, rate, types)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, endpointJSON(r, ep))
		return nil
	}
	if err != nil {
		return err
	}
	ep, err = a.svc.SaveEndpoint(r.Context(), ep, service.EndpointUpdate(&in, rate, types, true))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(r, ep))
	return nil
}

func (a *API) patchEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in service.EndpointIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	rate, types, err := a.svc.ValidateEndpoint(r.Context(), *principalFrom(r.Context()), &in, false)
	if err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	ep, err = a.svc.SaveEndpoint(r.Context(), ep, service.EndpointUpdate(&in, rate, types, false))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(r, ep))
	return nil
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	if err := a.svc.DeleteEndpoint(r.Context(), app.ID, ep.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
		if slices.Contains(service.SensitiveHeaders, strings.ToLower(k)) {
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
		Headers Opt[service.HeaderFields[string]] `json:"headers"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	fields, ok := in.Headers.Value()
	if !ok {
		v.Body("headers", "field required", "value_error.missing")
	}
	fields = service.CanonicalHeaders(&v, fields, func(s string) (string, bool) { return s, true })
	if err := v.Err(); err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	headers := make(map[string]string, len(fields))
	for _, f := range fields {
		headers[f.Name] = f.Value
	}
	if _, err := a.svc.SaveEndpoint(r.Context(), ep, store.UpdateEndpointParams{Headers: &headers}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) patchEndpointHeaders(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Headers Opt[service.HeaderFields[*string]] `json:"headers"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	fields, ok := in.Headers.Value()
	if !ok {
		v.Body("headers", "field required", "value_error.missing")
	}
	fields = service.CanonicalHeaders(&v, fields, func(s *string) (string, bool) {
		if s == nil {
			return "", false
		}
		return *s, true
	})
	if err := v.Err(); err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
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
	if len(ep.Headers) > service.MaxHeaders {
		return invalid([]string{"body", "headers"}, fmt.Sprintf("at most %d headers", service.MaxHeaders), "value_error")
	}
	if _, err := a.svc.SaveEndpoint(r.Context(), ep, store.UpdateEndpointParams{Headers: &ep.Headers}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) getEndpointSecret(w http.ResponseWriter, r *http.Request) error {
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	secret, err := a.svc.EndpointSecret(ep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": secret})
	return nil
}

func (a *API) rotateEndpointSecret(w http.ResponseWriter, r *http.Request) error {
	var in service.RotateIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	newKey, grace, err := service.ValidateRotate(&in)
	if err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	if err := a.svc.RotateSecret(r.Context(), ep, newKey, grace); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

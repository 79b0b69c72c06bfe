package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// Operational webhook endpoints (/api/v1/operational-webhook/endpoint) are
// the endpoints of the operational application, with Svix's
// OperationalWebhookEndpoint representation. Their handlers are the
// endpoint handlers, run on a request whose app is the operational
// application: loadApp lets such a request, and only such a request, reach
// it.

// operationalRoute reports whether r came through an operational webhook
// route.
func operationalRoute(r *http.Request) bool { return principalFrom(r.Context()).Operational }

// onOperational runs h on the operational application, for a caller marked
// Operational (whose filters name operational event types).
func onOperational(h func(a *API, w http.ResponseWriter, r *http.Request) error) func(a *API, w http.ResponseWriter, r *http.Request) error {
	return func(a *API, w http.ResponseWriter, r *http.Request) error {
		if a.Events == nil {
			return errNotFound()
		}
		caller := *principalFrom(r.Context())
		caller.Operational = true
		r = r.WithContext(withPrincipal(r.Context(), &caller))
		r.SetPathValue("app_id", a.Events.AppID)
		return h(a, w, r)
	}
}

// operationalEndpointOut is OperationalWebhookEndpointOut.
type operationalEndpointOut struct {
	ID          string            `json:"id"`
	UID         *string           `json:"uid,omitempty"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Disabled    bool              `json:"disabled"`
	FilterTypes []string          `json:"filterTypes,omitempty"`
	RateLimit   *int              `json:"rateLimit,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

func operationalEndpointJSON(ep *store.Endpoint) operationalEndpointOut {
	return operationalEndpointOut{ID: ep.ID, UID: optString(ep.UID), URL: ep.URL, Description: ep.Description,
		Disabled: ep.Disabled, FilterTypes: ep.EventTypes, RateLimit: optInt(ep.ThrottleRate), Metadata: ep.Metadata,
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt}
}

func (a *API) listOperationalEndpoints(w http.ResponseWriter, r *http.Request) error {
	lq, eps, err := a.endpointPage(r)
	if err != nil {
		return err
	}
	return writeList(w, finish(lq, eps, func(x *store.Endpoint) string { return x.ID },
		func(x *store.Endpoint) operationalEndpointOut { return operationalEndpointJSON(x) }))
}

func (a *API) createOperationalEndpoint(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	in, rate, types, err := a.operationalEndpointIn(r)
	if err != nil {
		return err
	}
	ep, err := a.svc.CreateEndpoint(r.Context(), app, in, rate, types)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, operationalEndpointJSON(ep))
	return nil
}

func (a *API) getOperationalEndpoint(w http.ResponseWriter, r *http.Request) error {
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, operationalEndpointJSON(ep))
	return nil
}

// updateOperationalEndpoint replaces an operational webhook endpoint, or
// creates it when missing (its uid then comes from the body).
func (a *API) updateOperationalEndpoint(w http.ResponseWriter, r *http.Request) error {
	in, rate, types, err := a.operationalEndpointIn(r)
	if err != nil {
		return err
	}
	app, ep, err := a.loadEndpoint(r)
	if errors.Is(err, store.ErrNotFound) && app != nil {
		ep, err := a.svc.CreateEndpoint(r.Context(), app, in, rate, types)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, operationalEndpointJSON(ep))
		return nil
	}
	if err != nil {
		return err
	}
	ep, err = a.svc.SaveEndpoint(r.Context(), ep, service.EndpointUpdate(in, rate, types, true))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, operationalEndpointJSON(ep))
	return nil
}

// operationalEndpointIn reads and checks the body of an operational
// endpoint's create or replace.
func (a *API) operationalEndpointIn(r *http.Request) (in *service.EndpointIn, rate service.Opt[int], types service.Opt[[]string], err error) {
	in = &service.EndpointIn{}
	if err = decodeBody(r, in); err != nil {
		return nil, rate, types, err
	}
	if err = noChannels(in); err != nil {
		return nil, rate, types, err
	}
	rate, types, err = a.svc.ValidateEndpoint(r.Context(), *principalFrom(r.Context()), in, true)
	return in, rate, types, err
}

// noChannels refuses channels, which operational events do not have.
func noChannels(in *service.EndpointIn) error {
	if in.Channels.Set && !in.Channels.Null {
		return invalid([]string{"body", "channels"}, "operational webhook endpoints have no channels", "value_error")
	}
	return nil
}

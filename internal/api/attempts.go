package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

var statusText = map[store.DeliveryStatus]string{
	store.StatusSuccess: "success",
	store.StatusPending: "pending",
	store.StatusFail:    "fail",
	store.StatusSending: "sending",
}

type attemptOut struct {
	ID                 string    `json:"id"`
	MsgID              string    `json:"msgId"`
	EndpointID         string    `json:"endpointId"`
	URL                string    `json:"url"`
	Response           string    `json:"response"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	ResponseDurationMs int64     `json:"responseDurationMs"`
	Status             int       `json:"status"`
	StatusText         string    `json:"statusText,omitempty"`
	TriggerType        int       `json:"triggerType"`
	Timestamp          time.Time `json:"timestamp"`
	// Msg is the attempt's message, with with_msg=true.
	Msg *messageOut `json:"msg,omitempty"`
}

func attemptJSON(r *http.Request, at *store.Attempt, withContent bool) attemptOut {
	out := attemptOut{ID: at.ID, MsgID: at.MsgID, EndpointID: at.EndpointID, URL: at.URL, Response: service.AttemptResponse(*principalFrom(r.Context()), at),
		ResponseStatusCode: at.StatusCode, ResponseDurationMs: at.DurationMs, Status: int(at.Status),
		TriggerType: int(at.TriggerType), Timestamp: at.CreatedAt}
	if !legacyClient(r) {
		out.StatusText = statusText[at.Status]
	}
	if !withContent {
		out.Response = "{}"
	}
	return out
}

// filters are the query filters shared by the attempt and endpoint message
// lists.
type filters struct {
	withContent   bool
	before, after time.Time
	channel, tag  string
	eventTypes    []string
	status        *store.DeliveryStatus
}

func parseFilters(r *http.Request) (filters, error) {
	q := r.URL.Query()
	var f filters
	var err error
	if f.withContent, err = queryBool(q, "with_content", true); err != nil {
		return f, err
	}
	if f.before, f.after, err = timeFilters(r); err != nil {
		return f, err
	}
	if f.channel, f.tag, f.eventTypes, err = channelTagAndTypes(r); err != nil {
		return f, err
	}
	status, err := queryInt(q, "status")
	if err != nil {
		return f, err
	}
	if status != nil {
		if *status < 0 || *status > 3 {
			return f, invalid([]string{"query", "status"}, "must be 0, 1, 2 or 3", "type_error.enum")
		}
		s := store.DeliveryStatus(*status)
		f.status = &s
	}
	return f, nil
}

// attemptFilters reads the filters of the attempt lists.
func attemptFilters(r *http.Request, p *store.ListAttemptsParams) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	p.WithContent, p.Before, p.After, p.Channel, p.Tag, p.EventTypes, p.Status = f.withContent, f.before, f.after, f.channel, f.tag, f.eventTypes, f.status
	class, err := queryInt(r.URL.Query(), "status_code_class")
	if err != nil {
		return err
	}
	if class != nil {
		switch *class {
		case 0, 100, 200, 300, 400, 500:
			p.StatusCodeClass = class
		default:
			return invalid([]string{"query", "status_code_class"}, "must be 0, 100, 200, 300, 400 or 500", "type_error.enum")
		}
	}
	return nil
}

func (a *API) listAttempts(w http.ResponseWriter, r *http.Request, p store.ListAttemptsParams) error {
	lq, err := parseList(r.URL.Query(), true, false, func(s string) bool { return ids.Valid(ids.Attempt, s) })
	if err != nil {
		return err
	}
	if err := attemptFilters(r, &p); err != nil {
		return err
	}
	withMsg, err := queryBool(r.URL.Query(), "with_msg", false)
	if err != nil {
		return err
	}
	p.Page = lq.page()
	rows, err := a.store.ListAttempts(r.Context(), p)
	if err != nil {
		return err
	}
	resp := finish(lq, rows, func(x *store.Attempt) string { return x.ID },
		func(x *store.Attempt) attemptOut { return attemptJSON(r, x, p.WithContent) })
	if withMsg {
		// Each message of the page once; a message whose payload has
		// expired still names itself.
		msgs := map[string]*messageOut{}
		for i := range resp.Data {
			id := resp.Data[i].MsgID
			m, ok := msgs[id]
			if !ok {
				stored, err := a.store.GetMessage(r.Context(), p.AppID, id)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if stored != nil {
					out := messageJSON(r, stored, p.WithContent)
					m = &out
				}
				msgs[id] = m
			}
			resp.Data[i].Msg = m
		}
	}
	return writeList(w, resp)
}

func (a *API) listAttemptsByEndpoint(w http.ResponseWriter, r *http.Request) error {
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	return a.listAttempts(w, r, store.ListAttemptsParams{AppID: app.ID, EndpointID: ep.ID})
}

func (a *API) listAttemptsByMsg(w http.ResponseWriter, r *http.Request) error {
	app, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	p := store.ListAttemptsParams{AppID: app.ID, MsgID: msg.ID}
	if epID := r.URL.Query().Get("endpoint_id"); epID != "" {
		ep, err := a.store.GetEndpoint(r.Context(), app.ID, epID)
		if err != nil {
			return err
		}
		p.EndpointID = ep.ID
	}
	return a.listAttempts(w, r, p)
}

func (a *API) loadAttempt(r *http.Request) (*store.App, *store.Attempt, error) {
	app, msg, err := a.loadMessage(r)
	if err != nil {
		return nil, nil, err
	}
	at, err := a.store.GetAttempt(r.Context(), store.AttemptKey{AppID: app.ID, MsgID: msg.ID, ID: r.PathValue("attempt_id")})
	if err != nil {
		return nil, nil, err
	}
	return app, at, nil
}

func (a *API) getAttempt(w http.ResponseWriter, r *http.Request) error {
	_, at, err := a.loadAttempt(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, attemptJSON(r, at, true))
	return nil
}

func (a *API) expungeAttempt(w http.ResponseWriter, r *http.Request) error {
	app, at, err := a.loadAttempt(r)
	if err != nil {
		return err
	}
	if err := a.store.ExpungeAttemptResponse(r.Context(), store.AttemptKey{AppID: app.ID, MsgID: at.MsgID, ID: at.ID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Destinations and endpoint messages.

type destinationOut struct {
	ID           string     `json:"id"`
	UID          *string    `json:"uid"`
	URL          string     `json:"url"`
	Description  string     `json:"description"`
	Disabled     bool       `json:"disabled"`
	EventTypes   []string   `json:"eventTypes,omitempty"`
	FilterTypes  []string   `json:"filterTypes,omitempty"`
	Channels     []string   `json:"channels"`
	ThrottleRate *int       `json:"throttleRate,omitempty"`
	RateLimit    *int       `json:"rateLimit"`
	Version      int        `json:"version"`
	Status       int        `json:"status"`
	StatusText   string     `json:"statusText,omitempty"`
	NextAttempt  *time.Time `json:"nextAttempt"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

func nextAttempt(d *store.Delivery) *time.Time {
	if d.Status != store.StatusPending || d.NextAttemptAt.IsZero() {
		return nil
	}
	t := d.NextAttemptAt
	return &t
}

func destinationJSON(r *http.Request, d *store.Destination) destinationOut {
	ep := d.Endpoint
	status := d.Delivery.ReportedStatus()
	out := destinationOut{ID: ep.ID, UID: optString(ep.UID), URL: ep.URL, Description: ep.Description,
		Disabled: ep.Disabled, FilterTypes: ep.EventTypes, Channels: ep.Channels, RateLimit: optInt(ep.ThrottleRate),
		Version: 1, Status: int(status), NextAttempt: nextAttempt(d.Delivery),
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt}
	if !legacyClient(r) {
		out.EventTypes = ep.EventTypes
		out.ThrottleRate = optInt(ep.ThrottleRate)
		out.StatusText = statusText[status]
	}
	return out
}

func (a *API) listDestinations(w http.ResponseWriter, r *http.Request) error {
	app, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	lq, err := parseList(r.URL.Query(), false, false, func(s string) bool { return strings.HasPrefix(s, ids.Endpoint) })
	if err != nil {
		return err
	}
	rows, err := a.store.ListMessageDestinations(r.Context(), app.ID, msg.ID, lq.page())
	if err != nil {
		return err
	}
	return writeList(w, finish(lq, rows, func(x *store.Destination) string { return x.Endpoint.ID },
		func(x *store.Destination) destinationOut { return destinationJSON(r, x) }))
}

type endpointMessageOut struct {
	messageOut
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText,omitempty"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
}

func (a *API) listEndpointMessages(w http.ResponseWriter, r *http.Request) error {
	app, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	lq, err := parseList(q, true, false, func(s string) bool { return ids.Valid(ids.Message, s) })
	if err != nil {
		return err
	}
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	p := store.ListEndpointMessagesParams{AppID: app.ID, EndpointID: ep.ID, Page: lq.page(),
		WithContent: f.withContent, Before: f.before, After: f.after, Channel: f.channel, Tag: f.tag,
		EventTypes: f.eventTypes, Status: f.status}
	rows, err := a.store.ListEndpointMessages(r.Context(), p)
	if err != nil {
		return err
	}
	legacy := legacyClient(r)
	return writeList(w, finish(lq, rows, func(x *store.EndpointMessage) string { return x.Message.ID },
		func(x *store.EndpointMessage) endpointMessageOut {
			status := x.Delivery.ReportedStatus()
			out := endpointMessageOut{messageOut: messageJSON(r, x.Message, p.WithContent), Status: int(status),
				NextAttempt: nextAttempt(x.Delivery)}
			if !legacy {
				out.StatusText = statusText[status]
			}
			return out
		}))
}

// Replay.

func (a *API) resend(w http.ResponseWriter, r *http.Request) error {
	app, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	ep, err := a.store.GetEndpoint(r.Context(), app.ID, r.PathValue("endpoint_id"))
	if err != nil {
		return err
	}
	if err := a.svc.Resend(r.Context(), msg, ep); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
	return nil
}

func (a *API) recoverEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in service.RecoverIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := a.svc.ValidateRecover(&in); err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	task, err := a.svc.Recover(r.Context(), ep, &in)
	if err != nil {
		return err
	}
	out := map[string]any{"id": task.ID, "status": string(task.Status), "task": task.Kind}
	if !legacyClient(r) {
		out["updatedAt"] = task.UpdatedAt
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// sendExample sends a test message to one endpoint: svix.ping (payload
// {"success": true}), or the first example of the event type's schema.
func (a *API) sendExample(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		EventType Opt[string] `json:"eventType"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	eventType, ok := in.EventType.Value()
	if !ok {
		eventType = service.PingEventType
	}
	var v validator
	v.Ident([]string{"body", "eventType"}, eventType, 256)
	if err := v.Err(); err != nil {
		return err
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	msg, err := a.svc.SendExample(r.Context(), *principalFrom(r.Context()), ep, eventType)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON(r, msg, true))
	return nil
}

// Stats.

func (a *API) endpointStats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := queryTime(q, "since")
	if err != nil {
		return err
	}
	until, err := queryTime(q, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return invalid([]string{"query", "until"}, "must be after since", "value_error")
	}
	_, ep, err := a.loadEndpoint(r)
	if err != nil {
		return err
	}
	st, err := a.store.EndpointStats(r.Context(), store.EndpointStatsParams{EndpointID: ep.ID, Since: since, Until: until})
	if err != nil {
		return err
	}
	out := map[string]int64{"success": st.Success, "pending": st.Pending, "sending": st.Sending, "fail": st.Fail}
	if !legacyClient(r) {
		out["canceled"] = st.Canceled
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

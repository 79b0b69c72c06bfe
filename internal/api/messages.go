package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

type messageIn struct {
	EventType              Opt[string]          `json:"eventType"`
	Payload                Opt[json.RawMessage] `json:"payload"`
	EventID                Opt[string]          `json:"eventId"`
	Channels               Opt[[]string]        `json:"channels"`
	PayloadRetentionPeriod Opt[int64]           `json:"payloadRetentionPeriod"`
	PayloadRetentionHours  Opt[int64]           `json:"payloadRetentionHours"`
	Application            Opt[appIn]           `json:"application"`
	Tags                   Opt[[]string]        `json:"tags"`
	// Herald extensions.
	DeliverAt   Opt[time.Time] `json:"deliverAt"`
	OrderingKey Opt[string]    `json:"orderingKey"`
}

// messageHead is a MessageOut without its payload.
type messageHead struct {
	ID        string    `json:"id"`
	EventType string    `json:"eventType"`
	EventID   *string   `json:"eventId"`
	Channels  []string  `json:"channels"`
	Tags      []string  `json:"tags,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	// Herald extensions, absent when unset and for legacy clients (see
	// legacyClient), which refuse fields they do not know.
	DeliverAt   *time.Time `json:"deliverAt,omitempty"`
	CanceledAt  *time.Time `json:"canceledAt,omitempty"`
	OrderingKey *string    `json:"orderingKey,omitempty"`
}

type messageOut struct {
	messageHead
	Payload json.RawMessage `json:"payload"`
}

var (
	emptyObject   = json.RawMessage("{}")
	expiredObject = json.RawMessage(`{"expired":true}`)
)

// messageJSON is m as r's client reads it.
func messageJSON(r *http.Request, m *store.Message, withContent bool) messageOut {
	out := messageOut{messageHead: messageHeadJSON(r, m), Payload: emptyObject}
	if withContent {
		out.Payload = m.Payload
		if m.Payload == nil {
			out.Payload = expiredObject
		}
	}
	return out
}

func messageHeadJSON(r *http.Request, m *store.Message) messageHead {
	out := messageHead{ID: m.ID, EventType: m.EventType, EventID: optString(m.EventID), Channels: m.Channels,
		Tags: m.Tags, Timestamp: m.CreatedAt}
	if !legacyClient(r) {
		out.DeliverAt = optTime(m.DeliverAt)
		out.CanceledAt = optTime(m.CanceledAt)
		out.OrderingKey = optString(m.OrderingKey)
	}
	return out
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const (
	defaultRetention = service.DefaultRetention
	minRetention     = 5 * 24 * time.Hour
)

// Bounds of the Herald extensions of MessageIn.
const (
	maxOrderingKey = 256
	maxTags        = 5
)

// validateMessage checks a message body received at now and returns its
// payload retention and its deliverAt (zero when it is sent at once: absent,
// null, or not after now).
func validateMessage(in *messageIn, now time.Time) (time.Duration, time.Time, error) {
	var v validator
	if et, ok := in.EventType.Value(); ok {
		v.Ident([]string{"body", "eventType"}, et, 256)
	} else {
		v.Body("eventType", "field required", "value_error.missing")
	}
	if p, ok := in.Payload.Value(); !ok {
		v.Body("payload", "field required", "value_error.missing")
	} else if t := bytes.TrimSpace(p); len(t) == 0 || t[0] != '{' {
		v.Body("payload", "Payload must be an object.", "value_error")
	}
	if id, ok := in.EventID.Value(); ok {
		v.Ident([]string{"body", "eventId"}, id, 256)
		if strings.HasPrefix(id, ids.Message) {
			v.Body("eventId", "Uids are not allowed to have the same prefix as the ID. Prefix with _?", "value_error")
		}
	}
	if list, ok := in.Channels.Value(); ok {
		v.IdentList("channels", list, 128, 1, 5)
	}
	if list, ok := in.Tags.Value(); ok {
		v.IdentList("tags", list, 128, 1, maxTags)
	}
	if key, ok := in.OrderingKey.Value(); ok {
		v.Ident([]string{"body", "orderingKey"}, key, maxOrderingKey)
	}
	retention := defaultRetention
	if days, ok := in.PayloadRetentionPeriod.Value(); ok {
		retention = v.Duration("payloadRetentionPeriod", days, 5, 90, 24*time.Hour, "days")
	} else if hours, ok := in.PayloadRetentionHours.Value(); ok {
		retention = v.Duration("payloadRetentionHours", hours, 1, 90*24, time.Hour, "hours")
	}
	var deliverAt time.Time
	if at, ok := in.DeliverAt.Value(); ok && at.After(now) {
		// The payload must outlive the wait: any time up to the end of
		// its retention. A time in the past means now.
		if at.After(now.Add(retention)) {
			v.Body("deliverAt", fmt.Sprintf("must be at most the payload's retention (%s) ahead", retentionText(retention)), "value_error")
		}
		deliverAt = store.Truncate(at)
	}
	return retention, deliverAt, v.Err()
}

// retentionText is a retention as its sender wrote it: in days, or hours.
func retentionText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmt.Sprintf("%d hours", d/time.Hour)
}

func (a *API) createMessage(w http.ResponseWriter, r *http.Request) error {
	withContent, err := queryBool(r.URL.Query(), "with_content", true)
	if err != nil {
		return err
	}
	var in messageIn
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	now := a.now()
	retention, deliverAt, err := validateMessage(&in, now)
	if err != nil {
		return err
	}
	// Before the app is looked up (or created with the message): a payload
	// its event type's schema refuses creates nothing.
	if err := a.svc.CheckPayload(r.Context(), in.EventType.V, in.Payload.V); err != nil {
		return err
	}
	app, err := a.loadAppCached(r)
	if errors.Is(err, store.ErrNotFound) {
		ain, ok := in.Application.Value()
		if !ok {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Detail: "Application not found"}
		}
		if app, err = a.autoCreateApp(r, &ain); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	msg := &store.Message{
		ID:               ids.NewAt(ids.Message, now),
		AppID:            app.ID,
		EventType:        in.EventType.V,
		EventID:          in.EventID.V,
		Channels:         in.Channels.V,
		Tags:             in.Tags.V,
		Payload:          compactPayload(in.Payload.V),
		PayloadExpiresAt: now.Add(retention),
		DeliverAt:        deliverAt,
		OrderingKey:      in.OrderingKey.V,
		CreatedAt:        now,
	}
	if err := a.svc.WriteMessage(r.Context(), store.CreateMessageParams{Message: msg}); err != nil {
		return err
	}
	writeMessageJSON(w, r, http.StatusAccepted, msg, withContent)
	return nil
}

// writeMessageJSON writes a MessageOut without running the payload through
// the JSON encoder again (it re-validates and compacts every byte, a
// measurable cost on the ingest path): the payload was validated when the
// request was decoded and is appended as is.
func writeMessageJSON(w http.ResponseWriter, r *http.Request, status int, m *store.Message, withContent bool) {
	payload := []byte(emptyObject)
	if withContent {
		payload = m.Payload
	}
	head, err := json.Marshal(messageHeadJSON(r, m))
	if err != nil {
		writeJSON(w, status, messageJSON(r, m, withContent))
		return
	}
	b := make([]byte, 0, len(head)+len(payload)+16)
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, '}', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// compactPayload returns the payload bytes to store and deliver: exactly as
// received, less surrounding whitespace.
func compactPayload(p json.RawMessage) []byte {
	return bytes.TrimSpace(p)
}

// loadMessage returns the message named by the path (id or eventId) in the
// path's app.
func (a *API) loadMessage(r *http.Request) (*store.App, *store.Message, error) {
	app, err := a.loadApp(r)
	if err != nil {
		return nil, nil, err
	}
	msg, err := a.store.GetMessage(r.Context(), app.ID, r.PathValue("msg_id"))
	if err != nil {
		return app, nil, err
	}
	return app, msg, nil
}

// timeFilters reads the before and after query parameters.
func timeFilters(r *http.Request) (before, after time.Time, err error) {
	q := r.URL.Query()
	if before, err = queryTime(q, "before"); err != nil {
		return
	}
	after, err = queryTime(q, "after")
	return
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request) error {
	app, err := a.loadApp(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	lq, err := parseList(q, true, false, func(s string) bool { return ids.Valid(ids.Message, s) })
	if err != nil {
		return err
	}
	withContent, err := queryBool(q, "with_content", true)
	if err != nil {
		return err
	}
	before, after, err := timeFilters(r)
	if err != nil {
		return err
	}
	channel, tag, types, err := channelTagAndTypes(r)
	if err != nil {
		return err
	}
	msgs, err := a.store.ListMessages(r.Context(), store.ListMessagesParams{
		AppID: app.ID, Page: lq.page(), Channel: channel, Tag: tag, EventTypes: types,
		Before: before, After: after, WithContent: withContent,
	})
	if err != nil {
		return err
	}
	return writeList(w, finish(lq, msgs, func(m *store.Message) string { return m.ID },
		func(m *store.Message) messageOut { return messageJSON(r, m, withContent) }))
}

// channelTagAndTypes reads the channel, tag and event_types filters.
func channelTagAndTypes(r *http.Request) (channel, tag string, types []string, err error) {
	q := r.URL.Query()
	var v validator
	channel = q.Get("channel")
	if channel != "" {
		v.Ident([]string{"query", "channel"}, channel, 128)
	}
	tag = q.Get("tag")
	if tag != "" {
		v.Ident([]string{"query", "tag"}, tag, 128)
	}
	types = queryList(q, "event_types")
	if len(types) > service.MaxEventTypes {
		v.Add([]string{"query", "event_types"}, fmt.Sprintf("must have at most %d items", service.MaxEventTypes), "value_error.list.max_items")
		types = nil
	}
	for _, t := range types {
		v.Ident([]string{"query", "event_types"}, t, 256)
	}
	return channel, tag, types, v.Err()
}

func (a *API) getMessage(w http.ResponseWriter, r *http.Request) error {
	withContent, err := queryBool(r.URL.Query(), "with_content", true)
	if err != nil {
		return err
	}
	_, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	if msg.Payload == nil {
		writeJSON(w, http.StatusOK, messageJSON(r, msg, withContent))
		return nil
	}
	writeMessageJSON(w, r, http.StatusOK, msg, withContent)
	return nil
}

// cancelMessage cancels a scheduled message before it is due (a Herald
// extension): its deliveries are never sent.
func (a *API) cancelMessage(w http.ResponseWriter, r *http.Request) error {
	_, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	if msg, err = a.svc.CancelMessage(r.Context(), msg); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON(r, msg, true))
	return nil
}

func (a *API) expungeMessage(w http.ResponseWriter, r *http.Request) error {
	app, msg, err := a.loadMessage(r)
	if err != nil {
		return err
	}
	if err := a.store.ExpungeMessagePayload(r.Context(), app.ID, msg.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

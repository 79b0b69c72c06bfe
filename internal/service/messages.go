package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// Throttle merges throttleRate and its older name rateLimit; throttleRate
// wins.
func Throttle(v *Validator, rate, legacy Opt[int]) Opt[int] {
	o := rate
	if !o.Set {
		o = legacy
	}
	if n, ok := o.Value(); ok && (n < 1 || n > 65535) {
		v.Body("throttleRate", "must be between 1 and 65535", "value_error.number")
	}
	return o
}

// DefaultRetention is how long a message's payload is kept unless its
// sender says otherwise.
const DefaultRetention = 90 * 24 * time.Hour

// Visible reports whether the caller may see et: portal callers see only
// event types without a feature flag. It is the one rule for every route
// and page: an event type the caller may not see behaves, for that caller,
// as one that does not exist, whether it is read (EventTypeFor, a list) or
// named (an endpoint's filter, send-example).
func Visible(c Caller, et *store.EventType) bool {
	return !c.Portal() || et.FeatureFlag == ""
}

// EventTypeFor returns the event type called name as the caller sees it:
// not found when it does not exist or is not visible.
func (s *Service) EventTypeFor(ctx context.Context, c Caller, name string) (*store.EventType, error) {
	et, err := s.store.GetEventType(ctx, name)
	if err != nil {
		return nil, err
	}
	if !Visible(c, et) {
		return nil, ErrNotFound()
	}
	return et, nil
}

// AttemptResponse is an attempt's response as the caller may see it. An
// attempt that got no status code records the transport error as "<plain
// reason>: <detail>"; the detail names addresses, host names and the
// resolver, which are the operator's to see. Portal callers (an endpoint's
// owner) get the plain reason; admins the text as recorded.
func AttemptResponse(c Caller, at *store.Attempt) string {
	if at.StatusCode != 0 || at.Response == "" || !c.Portal() {
		return at.Response
	}
	return egress.PublicReason(at.Response)
}

// WriteMessage stores a message with its deliveries (sharing a transaction
// with concurrent requests) and hands the deliveries to the engine. A
// scheduled message (Message.Scheduled) skips the fast path: its deliveries
// wait in the store for a claim at their time.
func (s *Service) WriteMessage(ctx context.Context, p store.CreateMessageParams) error {
	if s.dispatcher != nil && !p.Message.Scheduled() {
		if lease, until, noLease, ok := s.dispatcher.FastLease(); ok {
			p.Lease, p.LeaseUntil, p.NoLease = lease, until, noLease
		}
	}
	res, err := s.writeMessage(ctx, p)
	if err != nil {
		return err
	}
	switch {
	case errors.Is(res.Err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Detail: "A message with this eventId already exists in this application"}
	case errors.Is(res.Err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Detail: "Application not found"}
	case res.Err != nil:
		return res.Err
	}
	if s.dispatcher != nil && len(res.Jobs) > 0 {
		if p.Lease != 0 {
			s.dispatcher.Dispatch(res.Jobs)
		} else {
			s.dispatcher.Wake()
		}
	}
	return nil
}

// Resend asks for one more attempt of msg to ep, made at once.
func (s *Service) Resend(ctx context.Context, msg *store.Message, ep *store.Endpoint) error {
	if msg.Payload == nil {
		return &Error{Status: http.StatusBadRequest, Code: "missing_payload",
			Detail: "Unable to resend message. Payload is missing (probably expired)."}
	}
	if ep.Disabled {
		return &Error{Status: http.StatusConflict, Code: "endpoint_disabled",
			Detail: "The endpoint is disabled; enable it before resending"}
	}
	if err := s.store.ResendDelivery(ctx, store.ResendParams{AppID: msg.AppID, MsgID: msg.ID, EndpointID: ep.ID, Now: s.Now()}); err != nil {
		return err
	}
	s.wake()
	return nil
}

// CancelMessage cancels a scheduled message before it is due (a Herald
// extension): its deliveries are never sent. A message already cancelled is
// returned as it is; one that is not scheduled, is due, or of which a
// delivery was attempted, claimed or resent, is a conflict.
func (s *Service) CancelMessage(ctx context.Context, msg *store.Message) (*store.Message, error) {
	now := s.Now()
	if msg.CanceledAt.IsZero() {
		switch {
		case !msg.Scheduled():
			return nil, &Error{Status: http.StatusConflict, Code: "not_scheduled",
				Detail: "The message is not scheduled (it was created without a deliverAt in the future)"}
		case !now.Before(msg.DeliverAt):
			return nil, &Error{Status: http.StatusConflict, Code: "already_due",
				Detail: "The message's deliverAt has passed: it is being delivered"}
		}
	}
	out, err := s.store.CancelMessage(ctx, store.CancelMessageParams{AppID: msg.AppID, MsgID: msg.ID, Now: now})
	if errors.Is(err, store.ErrConflict) {
		return nil, &Error{Status: http.StatusConflict, Code: "already_attempted",
			Detail: "A delivery of the message was already attempted, claimed or resent"}
	}
	if err != nil {
		return nil, err
	}
	// The next message of a FIFO sequence this one held may be due now.
	s.wake()
	return out, nil
}

func (s *Service) wake() {
	if s.dispatcher != nil {
		s.dispatcher.Wake()
	}
}

// RecoverIn is the body of a recovery: what failed (or was skipped) in
// [since, until) is sent again.
type RecoverIn struct {
	Since Opt[time.Time] `json:"since"`
	Until Opt[time.Time] `json:"until"`
}

// ValidateRecover checks a recovery.
func (s *Service) ValidateRecover(in *RecoverIn) error {
	var v Validator
	since, ok := in.Since.Value()
	if !ok {
		v.Body("since", "field required", "value_error.missing")
	}
	until, hasUntil := in.Until.Value()
	if hasUntil && !until.After(since) {
		v.Body("until", "must be after since", "value_error")
	}
	if since.After(s.Now()) {
		v.Body("since", "must not be in the future", "value_error")
	}
	return v.Err()
}

// Recover starts the background task that sends again what failed, or was
// skipped while ep was disabled, in a validated window (ValidateRecover).
func (s *Service) Recover(ctx context.Context, ep *store.Endpoint, in *RecoverIn) (*store.Task, error) {
	now := s.Now()
	params, _ := json.Marshal(store.RecoverTaskParams{Since: store.Truncate(in.Since.V), Until: store.Truncate(in.Until.V)})
	task := &store.Task{
		ID: ids.NewAt(ids.Task, now), Kind: store.TaskRecover, AppID: ep.AppID, EndpointID: ep.ID,
		Params: params, Status: store.TaskRunning, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateTask(ctx, task); err != nil {
		return nil, err
	}
	if s.kickTasks != nil {
		s.kickTasks()
	}
	return task, nil
}

// PingEventType is the event type of a test message that names none.
const PingEventType = "svix.ping"

// SendExample sends a test message to ep only: svix.ping (payload
// {"success": true}), or an example of the event type's schemas
// (exampleFor: one that validates when payload validation is on for it),
// which the caller must be able to see.
func (s *Service) SendExample(ctx context.Context, c Caller, ep *store.Endpoint, eventType string) (*store.Message, error) {
	payload := json.RawMessage(`{"success":true}`)
	if eventType != PingEventType {
		et, err := s.EventTypeFor(ctx, c, eventType)
		if err != nil {
			return nil, err
		}
		if payload, err = s.exampleFor(et); err != nil {
			return nil, err
		}
	}
	now := s.Now()
	msg := &store.Message{
		ID: ids.NewAt(ids.Message, now), AppID: ep.AppID, EventType: eventType,
		Payload: payload, PayloadExpiresAt: now.Add(DefaultRetention), CreatedAt: now,
	}
	if err := s.WriteMessage(ctx, store.CreateMessageParams{Message: msg, EndpointID: ep.ID}); err != nil {
		return nil, err
	}
	return msg, nil
}

// SchemaExample returns the first example object of an event type's
// schemas, the newest version's first (see schemaExamples).
func SchemaExample(schemas json.RawMessage) (json.RawMessage, bool) {
	examples := schemaExamples(schemas)
	if len(examples) == 0 {
		return nil, false
	}
	return examples[0], true
}

// Package operational builds Herald's operational webhooks: the events that
// tell the people running Herald what happened to their customers'
// endpoints (created, updated, deleted, disabled, enabled), to deliveries
// (failing, exhausted, recovered) and to background tasks (finished).
//
// They are ordinary messages of one reserved application, the operational
// application, whose endpoints are the operational webhook endpoints of the
// API (/api/v1/operational-webhook/endpoint). The code that changes a state
// builds the event here and hands it to the store method that makes the
// change, which writes both in one transaction (see store.Events); the
// delivery engine then delivers, signs, retries and records them like any
// other message. The event types, their names and their data fields are
// Svix's.
package operational

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// Event types, with Svix's names.
const (
	EndpointCreated  = "endpoint.created"
	EndpointUpdated  = "endpoint.updated"
	EndpointDeleted  = "endpoint.deleted"
	EndpointDisabled = "endpoint.disabled"
	EndpointEnabled  = "endpoint.enabled"
	AttemptExhausted = "message.attempt.exhausted"
	AttemptFailing   = "message.attempt.failing"
	AttemptRecovered = "message.attempt.recovered"
	TaskFinished     = "background_task.finished"
)

// Types lists every event type, for filters and documentation.
var Types = []string{
	EndpointCreated, EndpointUpdated, EndpointDeleted, EndpointDisabled, EndpointEnabled,
	AttemptExhausted, AttemptFailing, AttemptRecovered, TaskFinished,
}

// FailingAfter is the failed attempt of a message after which
// message.attempt.failing is sent (Svix: after the fourth).
const FailingAfter = 4

// Triggers of endpoint.disabled.
const (
	TriggerAutomatic = "automatic"
	TriggerManual    = "manual"
)

// retention is how long an event's payload is kept.
const retention = 30 * 24 * time.Hour

// settingKey is where the operational application's id is kept.
const settingKey = "operational_app_id"

// Events builds operational events. A nil *Events builds none, so that code
// with no operational application (some tests) needs no special case.
type Events struct {
	// AppID is the operational application.
	AppID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Bootstrap returns the id of the installation's operational application,
// creating it on first use. Replicas starting together agree on one: the
// id is kept in the settings table, and a loser's spare application is
// deleted.
func Bootstrap(ctx context.Context, s store.Store, now time.Time) (string, error) {
	id, err := s.GetSetting(ctx, settingKey)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("operational application: %w", err)
	}
	now = store.Truncate(now)
	app := &store.App{ID: ids.NewAt(ids.App, now), Name: "Herald operational webhooks", Metadata: map[string]string{},
		CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		return "", fmt.Errorf("create the operational application: %w", err)
	}
	id, err = s.PutSettingIfAbsent(ctx, settingKey, app.ID)
	if err != nil {
		return "", fmt.Errorf("operational application: %w", err)
	}
	if id != app.ID {
		_ = s.DeleteApp(ctx, app.ID) // another replica's came first
	}
	return id, nil
}

// Is reports whether appID is the operational application.
func (e *Events) Is(appID string) bool { return e != nil && appID == e.AppID }

func (e *Events) now() time.Time {
	if e.Now == nil {
		return store.Truncate(time.Now())
	}
	return store.Truncate(e.Now())
}

// body is an event's payload, as Svix sends it.
type body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

func (e *Events) message(eventType string, data any) *store.Message {
	now := e.now()
	payload, err := json.Marshal(body{Type: eventType, Timestamp: now, Data: data})
	if err != nil {
		panic("operational: marshal event: " + err.Error()) // plain structs of strings and times
	}
	return &store.Message{
		ID: ids.NewAt(ids.Message, now), AppID: e.AppID, EventType: eventType, Payload: payload,
		PayloadExpiresAt: now.Add(retention), CreatedAt: now,
	}
}

// endpointData is the data of endpoint events.
type endpointData struct {
	AppID       string     `json:"appId"`
	AppUID      *string    `json:"appUid"`
	EndpointID  string     `json:"endpointId"`
	EndpointUID *string    `json:"endpointUid"`
	FailSince   *time.Time `json:"failSince,omitempty"`
	Trigger     string     `json:"trigger,omitempty"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Endpoint returns the event of eventType (EndpointCreated, -Updated,
// -Deleted or -Enabled) about ep of app, or nil when e is nil or ep belongs
// to the operational application itself.
func (e *Events) Endpoint(eventType string, app *store.App, ep *store.Endpoint) []*store.Message {
	if e == nil || ep.AppID == e.AppID {
		return nil
	}
	return []*store.Message{e.message(eventType, endpointData{
		AppID: ep.AppID, AppUID: optional(app.UID), EndpointID: ep.ID, EndpointUID: optional(ep.UID),
	})}
}

// Disabled returns endpoint.disabled about ep of app: trigger is
// TriggerAutomatic or TriggerManual, failSince when the endpoint started
// failing (the event's time when it was not).
func (e *Events) Disabled(app *store.App, ep *store.Endpoint, trigger string, failSince time.Time) []*store.Message {
	if e == nil || ep.AppID == e.AppID {
		return nil
	}
	if failSince.IsZero() {
		failSince = e.now()
	}
	failSince = failSince.UTC()
	return []*store.Message{e.message(EndpointDisabled, endpointData{
		AppID: ep.AppID, AppUID: optional(app.UID), EndpointID: ep.ID, EndpointUID: optional(ep.UID),
		FailSince: &failSince, Trigger: trigger,
	})}
}

// lastAttempt is the attempt named by message attempt events.
type lastAttempt struct {
	ID                 string    `json:"id"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	Timestamp          time.Time `json:"timestamp"`
}

type attemptData struct {
	AppID       string      `json:"appId"`
	AppUID      *string     `json:"appUid"`
	MsgID       string      `json:"msgId"`
	MsgEventID  *string     `json:"msgEventId"`
	EndpointID  string      `json:"endpointId"`
	LastAttempt lastAttempt `json:"lastAttempt"`
}

// Attempt returns the event of eventType (AttemptExhausted, -Failing or
// -Recovered) about the delivery of job's message to its endpoint, whose
// last attempt is a; nil when e is nil or the message is an operational
// event itself.
func (e *Events) Attempt(eventType, appUID string, job *store.Job, a *store.Attempt) []*store.Message {
	if e == nil || job.AppID == e.AppID {
		return nil
	}
	return []*store.Message{e.message(eventType, attemptData{
		AppID: job.AppID, AppUID: optional(appUID), MsgID: job.MsgID, MsgEventID: optional(job.MsgEventID),
		EndpointID:  job.EndpointID,
		LastAttempt: lastAttempt{ID: a.ID, ResponseStatusCode: a.StatusCode, Timestamp: a.CreatedAt.UTC()},
	})}
}

type taskData struct {
	TaskID string          `json:"taskId"`
	Status string          `json:"status"`
	Task   string          `json:"task"`
	Data   json.RawMessage `json:"data"`
}

// TaskFinished returns background_task.finished about t (finished or
// failed), with data the task's result ({} when none).
func (e *Events) TaskFinished(t *store.Task, data json.RawMessage) []*store.Message {
	if e == nil || t.AppID == e.AppID {
		return nil
	}
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	return []*store.Message{e.message(TaskFinished, taskData{TaskID: t.ID, Status: string(t.Status), Task: t.Kind, Data: data})}
}

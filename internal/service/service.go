package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

// Dispatcher is the delivery engine as the API and the portal see it.
type Dispatcher interface {
	// FastLease returns a lease for deliveries the caller is about to
	// create and hand over with Dispatch, and the endpoints whose
	// deliveries must not be leased (the engine holds as many as it can
	// for them); ok = false when the engine cannot take more now (the
	// deliveries are then left for its poller).
	FastLease() (lease int64, until time.Time, noLease []string, ok bool)
	// Dispatch hands over jobs created under a FastLease; jobs created
	// unleased (Lease 0) are ignored.
	Dispatch(jobs []*store.Job)
	// Wake tells the engine that deliveries became due.
	Wake()
	// EndpointChanged drops what the engine cached about an endpoint.
	EndpointChanged(id string)
}

// MessageWriter writes one message with its deliveries; the server passes a
// group committer so that concurrent requests share a transaction.
type MessageWriter func(ctx context.Context, p store.CreateMessageParams) (store.CreateMessageResult, error)

// Config is what a Service works with.
type Config struct {
	Store store.Store
	// Box seals endpoint secrets at rest. Required.
	Box *secretbox.Box
	// WriteMessage creates messages; nil writes each one in its own call
	// to Store.CreateMessages.
	WriteMessage MessageWriter
	// Dispatcher receives new deliveries; nil leaves them to be claimed.
	Dispatcher Dispatcher
	// KickTasks, when set, is called after a background task is created.
	KickTasks func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Events builds the operational events of endpoint changes; nil
	// sends none.
	Events *operational.Events
	// ValidatePayloads validates the payload of each message against the
	// newest schema of its event type, for event types whose own setting
	// (validatePayloads, a Herald extension) is null. Default false.
	ValidatePayloads bool
}

// Service is the domain code shared by the API and the portal. It is safe
// for concurrent use.
type Service struct {
	store        store.Store
	box          *secretbox.Box
	writeMessage MessageWriter
	dispatcher   Dispatcher
	kickTasks    func()
	now          func() time.Time
	events       *operational.Events
	// Payload validation: the server's default, each event type's rule
	// (by name, briefly) and compiled schemas (by content).
	validatePayloads bool
	rules            *Cache[string, *payloadRule]
	compiled         *Cache[[sha256.Size]byte, *compiledSchema]
}

// New returns a Service.
func New(c Config) *Service {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WriteMessage == nil {
		st := c.Store
		c.WriteMessage = func(ctx context.Context, p store.CreateMessageParams) (store.CreateMessageResult, error) {
			rs, err := st.CreateMessages(ctx, []store.CreateMessageParams{p})
			if err != nil {
				return store.CreateMessageResult{}, err
			}
			return rs[0], nil
		}
	}
	return &Service{store: c.Store, box: c.Box, writeMessage: c.WriteMessage, dispatcher: c.Dispatcher, kickTasks: c.KickTasks,
		now: c.Now, events: c.Events, validatePayloads: c.ValidatePayloads,
		rules: NewCache[string, *payloadRule](), compiled: NewCache[[sha256.Size]byte, *compiledSchema]()}
}

// Events is the builder of operational events (nil when there are none).
func (s *Service) Events() *operational.Events { return s.events }

// appOf returns the app with id, for the events that name its uid; when it
// cannot be read, the event goes without the uid rather than not at all.
func (s *Service) appOf(ctx context.Context, id string) *store.App {
	if s.events == nil {
		return &store.App{ID: id}
	}
	app, err := s.store.GetApp(ctx, id)
	if err != nil {
		return &store.App{ID: id}
	}
	return app
}

// Now is the service's clock, truncated as the store keeps times.
func (s *Service) Now() time.Time { return store.Truncate(s.now()) }

// Store is the store the service works on.
func (s *Service) Store() store.Store { return s.store }

// Caller is who makes a request: an admin (API token or console session),
// or an app portal token or session, which reaches one app only.
type Caller struct {
	// TokenID identifies the token ("config" for the configured admin
	// token); idempotency keys are scoped by it.
	TokenID string
	// AppID is set for portal tokens and sessions: the only app they
	// reach.
	AppID string
	// Operational is set for requests through the operational webhook
	// routes, which reach the operational application (an admin's only).
	Operational bool
}

// Portal reports whether the caller is an app portal token or session.
func (c Caller) Portal() bool { return c.AppID != "" }

// Reaches reports whether the caller may see the app with id appID: admins
// see every app, portal callers their own. Anything else behaves, for the
// caller, as if it did not exist (404).
func (c Caller) Reaches(appID string) bool { return c.AppID == "" || c.AppID == appID }

// Error is an error with an HTTP status and the Svix error body
// {"code", "detail"}; the portal shows Detail.
type Error struct {
	Status int
	Code   string
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// ErrNotFound returns the error of something that does not exist for the
// caller.
func ErrNotFound() error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Detail: "Entity not found"}
}

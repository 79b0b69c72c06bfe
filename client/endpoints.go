package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Endpoint is a URL that receives an application's messages.
type Endpoint struct {
	// ID is Herald's id of the endpoint, ep_...
	ID string `json:"id"`
	// UID is the caller's own id of the endpoint; empty if none.
	UID string `json:"uid"`
	// URL is where messages are POSTed.
	URL string `json:"url"`
	// Description is free text; empty if none.
	Description string `json:"description"`
	// Disabled endpoints receive nothing.
	Disabled bool `json:"disabled"`
	// EventTypes are the event types the endpoint receives; empty means
	// every type.
	EventTypes []string `json:"eventTypes"`
	// Channels restrict the endpoint to messages sent on one of them;
	// empty means every message.
	Channels []string `json:"channels"`
	// ThrottleRate is the most messages per second delivered; zero means
	// unlimited.
	ThrottleRate int `json:"throttleRate"`
	// Metadata holds the caller's key-value pairs; empty if none.
	Metadata map[string]string `json:"metadata"`
	// CreatedAt is when the endpoint was created.
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when the endpoint last changed.
	UpdatedAt time.Time `json:"updatedAt"`
	// Circuit is the state of the endpoint's circuit breaker (a Herald
	// extension); nil when it never opened.
	Circuit *Circuit `json:"circuit,omitempty"`
	// Ordering is OrderingFIFO or OrderingNone (a Herald extension).
	Ordering string `json:"ordering"`
}

// Endpoint orderings (a Herald extension).
const (
	// OrderingNone sends an endpoint's messages in parallel.
	OrderingNone = "none"
	// OrderingFIFO sends an endpoint's messages one at a time per
	// ordering key (MessageIn.OrderingKey), in the order they were
	// accepted: the next only once the one before it succeeded or was
	// given up.
	OrderingFIFO = "fifo"
)

// EndpointIn is the body of CreateEndpoint and UpdateEndpoint.
type EndpointIn struct {
	// URL is where messages are POSTed: an absolute http or https URL.
	// Required.
	URL string `json:"url"`
	// Description is free text. Empty means none.
	Description string `json:"description,omitempty"`
	// Disabled creates the endpoint disabled. False means enabled.
	Disabled bool `json:"disabled,omitempty"`
	// EventTypes limits the endpoint to these event types, which must
	// exist. Nil means every type.
	EventTypes []string `json:"eventTypes,omitempty"`
	// Channels limits the endpoint to messages on these channels (at most
	// 10). Nil means every message.
	Channels []string `json:"channels,omitempty"`
	// ThrottleRate is the most messages per second, 1-65535. Zero means
	// unlimited.
	ThrottleRate int `json:"throttleRate,omitempty"`
	// UID is the caller's own id, not starting with "ep_". Empty means
	// none.
	UID string `json:"uid,omitempty"`
	// Metadata holds key-value pairs for the caller. Nil means none.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Secret is the signing secret: "whsec_" and base64 of 24-64 bytes,
	// or a "whsk_" ed25519 key. Empty means Herald generates a whsec_ one.
	// Only CreateEndpoint uses it.
	Secret string `json:"secret,omitempty"`
	// Ordering is OrderingFIFO or OrderingNone (a Herald extension).
	// Empty means none for CreateEndpoint, and leaves it as it is for
	// UpdateEndpoint.
	Ordering string `json:"ordering,omitempty"`
}

// EndpointPatch is the body of PatchEndpoint: nil fields are left
// unchanged.
type EndpointPatch struct {
	// URL, when not nil, replaces the URL.
	URL *string `json:"url,omitempty"`
	// Description, when not nil, replaces the description.
	Description *string `json:"description,omitempty"`
	// Disabled, when not nil, disables (true) or enables (false) the
	// endpoint.
	Disabled *bool `json:"disabled,omitempty"`
	// EventTypes, when not nil, replaces the event type filter; a pointer
	// to a nil slice removes it, so that the endpoint gets every type.
	EventTypes *[]string `json:"eventTypes,omitempty"`
	// Channels, when not nil, replaces the channels; a pointer to a nil
	// slice removes them.
	Channels *[]string `json:"channels,omitempty"`
	// ThrottleRate, when not nil, replaces the throttle rate.
	ThrottleRate *int `json:"throttleRate,omitempty"`
	// UID, when not nil, replaces the uid.
	UID *string `json:"uid,omitempty"`
	// Metadata, when not nil, replaces the metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Ordering, when not nil, replaces the ordering: OrderingFIFO or
	// OrderingNone (a Herald extension).
	Ordering *string `json:"ordering,omitempty"`
}

// EndpointHeaders are the custom headers sent with every message to an
// endpoint.
type EndpointHeaders struct {
	// Headers maps header names to values, except sensitive ones.
	Headers map[string]string `json:"headers"`
	// Sensitive names the headers that are set but whose values are not
	// shown (Authorization, X-Api-Key and the like).
	Sensitive []string `json:"sensitive"`
}

// EndpointSecret is an endpoint's signing secret.
type EndpointSecret struct {
	// Key is the secret that receivers verify with: "whsec_..." for HMAC
	// (v1) signatures, or the "whpk_..." public key for ed25519 (v1a).
	Key string `json:"key"`
}

// RotateSecretIn is the body of RotateEndpointSecret.
type RotateSecretIn struct {
	// Key is the new secret. Empty means Herald generates one of the same
	// kind as the current one.
	Key string `json:"key,omitempty"`
	// GracePeriodSeconds is how long messages are also signed with the
	// old secret, at most 604800 (7 days). Nil means 24 hours; zero drops
	// the old secret at once.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// EndpointStats counts an endpoint's delivery attempts by outcome.
type EndpointStats struct {
	// Success counts the successful attempts.
	Success int64 `json:"success"`
	// Pending counts the messages not attempted yet.
	Pending int64 `json:"pending"`
	// Sending counts the messages waiting for a retry.
	Sending int64 `json:"sending"`
	// Fail counts the failed attempts.
	Fail int64 `json:"fail"`
	// Canceled counts the messages that will not be sent.
	Canceled int64 `json:"canceled"`
}

// StatsOptions bounds EndpointStats. The zero value means the last 28 days.
type StatsOptions struct {
	// Since is the start of the period. Zero means Until less 28 days.
	Since time.Time
	// Until is the end of the period. Zero means now.
	Until time.Time
}

// RecoverIn is the body of RecoverEndpoint.
type RecoverIn struct {
	// Since is the start of the period whose failed messages are sent
	// again. Required.
	Since time.Time `json:"since"`
	// Until is the end of the period. Zero means now.
	Until time.Time `json:"until,omitzero"`
}

// Task is a background task started by the API.
type Task struct {
	// ID is the task's id, qtask_...
	ID string `json:"id"`
	// Status is "running", "finished" or "failed".
	Status string `json:"status"`
	// Task names the kind of task, such as "endpoint.recover".
	Task string `json:"task"`
	// UpdatedAt is when the task last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// ListEndpoints returns a page of an application's endpoints, newest first
// unless opts.Order says otherwise.
func (c *Client) ListEndpoints(ctx context.Context, appID string, opts *ListOptions) (*ListResponse[Endpoint], error) {
	var out ListResponse[Endpoint]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint"}, opts.query(), nil, &out)
	return ret(&out, err)
}

// CreateEndpoint adds an endpoint to an application.
func (c *Client) CreateEndpoint(ctx context.Context, appID string, in EndpointIn) (*Endpoint, error) {
	var out Endpoint
	err := c.do(ctx, http.MethodPost, []string{"app", appID, "endpoint"}, nil, in, &out)
	return ret(&out, err)
}

// GetEndpoint returns the endpoint with the id or uid endpointID.
func (c *Client) GetEndpoint(ctx context.Context, appID, endpointID string) (*Endpoint, error) {
	var out Endpoint
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint", endpointID}, nil, nil, &out)
	return ret(&out, err)
}

// UpdateEndpoint replaces every field of an endpoint with those of in
// (fields left zero are cleared; the secret is kept). If there is no
// endpoint endpointID, it is created with the uid in.UID.
func (c *Client) UpdateEndpoint(ctx context.Context, appID, endpointID string, in EndpointIn) (*Endpoint, error) {
	var out Endpoint
	err := c.do(ctx, http.MethodPut, []string{"app", appID, "endpoint", endpointID}, nil, in, &out)
	return ret(&out, err)
}

// PatchEndpoint changes the fields of an endpoint that in sets.
func (c *Client) PatchEndpoint(ctx context.Context, appID, endpointID string, in EndpointPatch) (*Endpoint, error) {
	var out Endpoint
	err := c.do(ctx, http.MethodPatch, []string{"app", appID, "endpoint", endpointID}, nil, in, &out)
	return ret(&out, err)
}

// DeleteEndpoint deletes an endpoint. Its messages stay.
func (c *Client) DeleteEndpoint(ctx context.Context, appID, endpointID string) error {
	return c.do(ctx, http.MethodDelete, []string{"app", appID, "endpoint", endpointID}, nil, nil, nil)
}

// GetEndpointHeaders returns the custom headers of an endpoint.
func (c *Client) GetEndpointHeaders(ctx context.Context, appID, endpointID string) (*EndpointHeaders, error) {
	var out EndpointHeaders
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint", endpointID, "headers"}, nil, nil, &out)
	return ret(&out, err)
}

// UpdateEndpointHeaders replaces all the custom headers of an endpoint.
// Headers that Herald sets itself (webhook-*, Content-Type, User-Agent and
// the like) are refused with a 422.
func (c *Client) UpdateEndpointHeaders(ctx context.Context, appID, endpointID string, headers map[string]string) error {
	if headers == nil {
		headers = map[string]string{}
	}
	body := struct {
		Headers map[string]string `json:"headers"`
	}{headers}
	return c.do(ctx, http.MethodPut, []string{"app", appID, "endpoint", endpointID, "headers"}, nil, body, nil)
}

// PatchEndpointHeaders sets the headers of headers whose value is not nil
// and removes those whose value is nil, leaving the others unchanged.
func (c *Client) PatchEndpointHeaders(ctx context.Context, appID, endpointID string, headers map[string]*string) error {
	if headers == nil {
		headers = map[string]*string{}
	}
	body := struct {
		Headers map[string]*string `json:"headers"`
	}{headers}
	return c.do(ctx, http.MethodPatch, []string{"app", appID, "endpoint", endpointID, "headers"}, nil, body, nil)
}

// GetEndpointSecret returns the key an endpoint's receiver verifies
// signatures with.
func (c *Client) GetEndpointSecret(ctx context.Context, appID, endpointID string) (*EndpointSecret, error) {
	var out EndpointSecret
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint", endpointID, "secret"}, nil, nil, &out)
	return ret(&out, err)
}

// RotateEndpointSecret gives an endpoint a new signing secret. During the
// grace period messages carry signatures by both the old and the new
// secret, so that the receiver can switch at any time.
func (c *Client) RotateEndpointSecret(ctx context.Context, appID, endpointID string, in RotateSecretIn) error {
	return c.do(ctx, http.MethodPost, []string{"app", appID, "endpoint", endpointID, "secret", "rotate"}, nil, in, nil)
}

// GetEndpointStats counts an endpoint's delivery attempts by outcome over a
// period. opts may be nil.
func (c *Client) GetEndpointStats(ctx context.Context, appID, endpointID string, opts *StatsOptions) (*EndpointStats, error) {
	q := url.Values{}
	if opts != nil {
		setTime(q, "since", opts.Since)
		setTime(q, "until", opts.Until)
	}
	var out EndpointStats
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint", endpointID, "stats"}, q, nil, &out)
	return ret(&out, err)
}

// SendExample sends a test message to one endpoint, and only to it: for
// eventType "svix.ping" (or "") the payload {"success":true}, for another
// event type the first example of its schema. It returns the message.
func (c *Client) SendExample(ctx context.Context, appID, endpointID, eventType string) (*Message, error) {
	if eventType == "" {
		eventType = "svix.ping"
	}
	body := struct {
		EventType string `json:"eventType"`
	}{eventType}
	var out Message
	err := c.do(ctx, http.MethodPost, []string{"app", appID, "endpoint", endpointID, "send-example"}, nil, body, &out)
	return ret(&out, err)
}

// RecoverEndpoint sends again, in the background, every message of the
// period that failed to reach the endpoint and never succeeded. It returns
// the task doing it.
func (c *Client) RecoverEndpoint(ctx context.Context, appID, endpointID string, in RecoverIn) (*Task, error) {
	var out Task
	err := c.do(ctx, http.MethodPost, []string{"app", appID, "endpoint", endpointID, "recover"}, nil, in, &out)
	return ret(&out, err)
}

// Circuit is the state of an endpoint's circuit breaker, as the delivery
// engine last stored it.
type Circuit struct {
	// State is "open" (no attempts but probes: the endpoint failed
	// Failures times in a row) or "closed".
	State string `json:"state"`
	// Failures counts the consecutive failed attempts.
	Failures int `json:"failures"`
	// Since is when it last opened or closed.
	Since time.Time `json:"since"`
	// NextProbe is when the next probe may go while open; nil when closed.
	NextProbe *time.Time `json:"nextProbe,omitempty"`
}

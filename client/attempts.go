package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MessageStatus is the outcome of an attempt, or the state of a message's
// delivery to one endpoint.
type MessageStatus int

// The statuses. Attempts are only ever StatusSuccess or StatusFail.
const (
	StatusSuccess MessageStatus = 0 // delivered: the endpoint answered 2xx
	StatusPending MessageStatus = 1 // not attempted yet
	StatusFail    MessageStatus = 2 // failed, with no retry left
	StatusSending MessageStatus = 3 // failed, a retry is scheduled
)

var statusNames = []string{"success", "pending", "fail", "sending"}

// String returns the API's name of the status: "success", "pending",
// "fail" or "sending".
func (s MessageStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// ParseMessageStatus parses a status name as String returns it ("failed"
// is accepted for "fail") or its number.
func ParseMessageStatus(s string) (MessageStatus, error) {
	for i, n := range statusNames {
		if s == n {
			return MessageStatus(i), nil
		}
	}
	switch s {
	case "failed":
		return StatusFail, nil
	case "0", "1", "2", "3":
		return MessageStatus(s[0] - '0'), nil
	}
	return 0, fmt.Errorf("unknown status %q: want success, pending, fail or sending", s)
}

// TriggerType tells why an attempt was made.
type TriggerType int

// The trigger types.
const (
	TriggerScheduled TriggerType = 0 // a first attempt or an automatic retry
	TriggerManual    TriggerType = 1 // a resend or a recovery
)

// String returns "scheduled" or "manual".
func (t TriggerType) String() string {
	switch t {
	case TriggerScheduled:
		return "scheduled"
	case TriggerManual:
		return "manual"
	}
	return "trigger(" + strconv.Itoa(int(t)) + ")"
}

// Attempt is one delivery attempt of a message to an endpoint.
type Attempt struct {
	// ID is the attempt's id, atmpt_...
	ID string `json:"id"`
	// MsgID is the message's id.
	MsgID string `json:"msgId"`
	// EndpointID is the endpoint's id.
	EndpointID string `json:"endpointId"`
	// URL is the URL the attempt was sent to.
	URL string `json:"url"`
	// Response is the start of the response body, or the error when no
	// response came (then ResponseStatusCode is 0).
	Response string `json:"response"`
	// ResponseStatusCode is the HTTP status answered; 0 if none.
	ResponseStatusCode int `json:"responseStatusCode"`
	// ResponseDurationMs is how long the attempt took, in milliseconds.
	ResponseDurationMs int64 `json:"responseDurationMs"`
	// Status is StatusSuccess or StatusFail.
	Status MessageStatus `json:"status"`
	// StatusText is Status's name.
	StatusText string `json:"statusText"`
	// TriggerType tells whether the attempt was scheduled or manual.
	TriggerType TriggerType `json:"triggerType"`
	// Timestamp is when the attempt was made.
	Timestamp time.Time `json:"timestamp"`
}

// EndpointMessage is a message as delivered to one endpoint: the latest
// state of its delivery.
type EndpointMessage struct {
	Message
	// Status is the delivery's state.
	Status MessageStatus `json:"status"`
	// StatusText is Status's name.
	StatusText string `json:"statusText"`
	// NextAttempt is when the next retry is due; nil if none.
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
}

// MessageDestination is an endpoint a message was sent to, with the latest
// state of that delivery.
type MessageDestination struct {
	Endpoint
	// Status is the delivery's state.
	Status MessageStatus `json:"status"`
	// StatusText is Status's name.
	StatusText string `json:"statusText"`
	// NextAttempt is when the next retry is due; nil if none.
	NextAttempt *time.Time `json:"nextAttempt"`
}

// ListAttemptsOptions selects a page of attempts. A nil pointer means the
// first page of every attempt, newest first, with responses.
type ListAttemptsOptions struct {
	ListOptions
	// Status, when not nil, keeps the attempts with that status.
	Status *MessageStatus
	// StatusCodeClass, when not nil, keeps the attempts whose response
	// status is in that hundred: 0 (no response), 100, 200, 300, 400 or
	// 500.
	StatusCodeClass *int
	// EventTypes keeps the attempts of messages of these types. Nil means
	// all.
	EventTypes []string
	// Channel keeps the attempts of messages on this channel. Empty means
	// all.
	Channel string
	// Tag keeps the attempts of messages with this tag. Empty means all.
	Tag string
	// Before keeps the attempts made before it. Zero means no bound.
	Before time.Time
	// After keeps the attempts made after it. Zero means no bound.
	After time.Time
	// WithoutContent leaves the responses out (as "{}").
	WithoutContent bool
	// EndpointID keeps the attempts to this endpoint (id or uid). Only
	// ListAttemptsByMessage uses it.
	EndpointID string
}

func (o *ListAttemptsOptions) query() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.query()
	q.Del("order")
	if o.Status != nil {
		q.Set("status", strconv.Itoa(int(*o.Status)))
	}
	if o.StatusCodeClass != nil {
		q.Set("status_code_class", strconv.Itoa(*o.StatusCodeClass))
	}
	for _, t := range o.EventTypes {
		q.Add("event_types", t)
	}
	if o.Channel != "" {
		q.Set("channel", o.Channel)
	}
	if o.Tag != "" {
		q.Set("tag", o.Tag)
	}
	setTime(q, "before", o.Before)
	setTime(q, "after", o.After)
	if o.WithoutContent {
		q.Set("with_content", "false")
	}
	return q
}

// ListAttemptsByEndpoint returns a page of the attempts made to an
// endpoint, newest first.
func (c *Client) ListAttemptsByEndpoint(ctx context.Context, appID, endpointID string, opts *ListAttemptsOptions) (*ListResponse[Attempt], error) {
	q := opts.query()
	var out ListResponse[Attempt]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "attempt", "endpoint", endpointID}, q, nil, &out)
	return ret(&out, err)
}

// ListAttemptsByMessage returns a page of the attempts made to deliver a
// message (id or eventId), newest first.
func (c *Client) ListAttemptsByMessage(ctx context.Context, appID, msgID string, opts *ListAttemptsOptions) (*ListResponse[Attempt], error) {
	q := opts.query()
	if opts != nil && opts.EndpointID != "" {
		q.Set("endpoint_id", opts.EndpointID)
	}
	var out ListResponse[Attempt]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "attempt", "msg", msgID}, q, nil, &out)
	return ret(&out, err)
}

// GetAttempt returns one attempt of a message.
func (c *Client) GetAttempt(ctx context.Context, appID, msgID, attemptID string) (*Attempt, error) {
	var out Attempt
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "msg", msgID, "attempt", attemptID}, nil, nil, &out)
	return ret(&out, err)
}

// ResendMessage sends a message to an endpoint again, once, with no retry.
// It returns when the resend is queued.
func (c *Client) ResendMessage(ctx context.Context, appID, msgID, endpointID string) error {
	return c.do(ctx, http.MethodPost, []string{"app", appID, "msg", msgID, "endpoint", endpointID, "resend"}, nil, nil, nil)
}

// ListEndpointMessages returns a page of the messages sent to an endpoint,
// newest first, each with the latest state of its delivery. opts.Status
// filters on that state; the other attempt-only filters are ignored.
func (c *Client) ListEndpointMessages(ctx context.Context, appID, endpointID string, opts *ListAttemptsOptions) (*ListResponse[EndpointMessage], error) {
	q := opts.query()
	q.Del("status_code_class")
	var out ListResponse[EndpointMessage]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "endpoint", endpointID, "msg"}, q, nil, &out)
	return ret(&out, err)
}

// ListMessageDestinations returns a page of the endpoints a message was
// sent to, each with the latest state of that delivery.
func (c *Client) ListMessageDestinations(ctx context.Context, appID, msgID string, opts *ListOptions) (*ListResponse[MessageDestination], error) {
	q := opts.query()
	q.Del("order")
	var out ListResponse[MessageDestination]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "msg", msgID, "endpoint"}, q, nil, &out)
	return ret(&out, err)
}

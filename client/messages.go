package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Message is an event sent to an application's endpoints.
type Message struct {
	// ID is Herald's id of the message, msg_..., also sent to receivers as
	// webhook-id.
	ID string `json:"id"`
	// EventType is the message's event type.
	EventType string `json:"eventType"`
	// EventID is the caller's own id of the message; empty if none.
	EventID string `json:"eventId"`
	// Channels are the message's channels; empty if none.
	Channels []string `json:"channels"`
	// Tags are the message's tags; empty if none.
	Tags []string `json:"tags"`
	// Payload is the JSON body delivered to endpoints: {} when asked
	// without content, {"expired":true} once the retention period ended.
	Payload json.RawMessage `json:"payload"`
	// Timestamp is when the message was accepted.
	Timestamp time.Time `json:"timestamp"`
	// DeliverAt is when a scheduled message is first sent (a Herald
	// extension); nil for one sent at once.
	DeliverAt *time.Time `json:"deliverAt"`
	// CanceledAt is when the scheduled message was cancelled (a Herald
	// extension); nil unless it was.
	CanceledAt *time.Time `json:"canceledAt"`
	// OrderingKey is the message's ordering key (a Herald extension);
	// empty if none.
	OrderingKey string `json:"orderingKey"`
}

// MessageIn is the body of CreateMessage.
type MessageIn struct {
	// EventType is the message's event type. Required; it need not be a
	// created event type, but endpoints filtering on event types only get
	// those they list.
	EventType string `json:"eventType"`
	// Payload is the JSON object delivered. Required. It is sent and
	// delivered byte for byte as given (less surrounding whitespace).
	Payload json.RawMessage `json:"payload,omitempty"`
	// EventID is the caller's own id, unique per application: a second
	// message with the same one is a 409 Conflict. Empty means none.
	EventID string `json:"eventId,omitempty"`
	// Channels sends the message only to endpoints on one of them (at
	// most 5). Nil means no channel.
	Channels []string `json:"channels,omitempty"`
	// Tags label the message, for ListMessagesOptions.Tag (at most 5).
	// Nil means none.
	Tags []string `json:"tags,omitempty"`
	// DeliverAt schedules the message (a Herald extension): it is stored
	// at once and first sent at that time, at most the payload retention
	// ahead. Zero, or a time in the past, means at once.
	DeliverAt time.Time `json:"deliverAt,omitzero"`
	// OrderingKey orders the message at FIFO endpoints (a Herald
	// extension): messages with one key are sent one at a time, in the
	// order they were accepted. Empty means the endpoint's sequence of
	// messages without a key.
	OrderingKey string `json:"orderingKey,omitempty"`
	// PayloadRetentionPeriod is how many days the payload is kept, 5-90.
	// Zero means 90.
	PayloadRetentionPeriod int `json:"payloadRetentionPeriod,omitempty"`
	// Application, when not nil, creates the application named in the
	// call if it does not exist; its UID must be that name or empty.
	Application *AppIn `json:"application,omitempty"`
}

// ListMessagesOptions selects a page of messages. A nil pointer means the
// first page, with payloads.
type ListMessagesOptions struct {
	ListOptions
	// EventTypes keeps the messages of these event types. Nil means all.
	EventTypes []string
	// Channel keeps the messages on this channel. Empty means all.
	Channel string
	// Tag keeps the messages with this tag. Empty means all.
	Tag string
	// Before keeps the messages created before it. Zero means no bound.
	Before time.Time
	// After keeps the messages created after it. Zero means no bound.
	After time.Time
	// WithoutContent leaves the payloads out (as {}).
	WithoutContent bool
}

// CreateMessage sends a message to every endpoint of the application that
// matches its event type and channels. When it returns, the message and its
// deliveries are stored: they will be delivered even if Herald restarts.
func (c *Client) CreateMessage(ctx context.Context, appID string, in MessageIn) (*Message, error) {
	body, err := in.encode()
	if err != nil {
		return nil, err
	}
	var out Message
	err = c.do(ctx, http.MethodPost, []string{"app", appID, "msg"}, nil, body, &out)
	return ret(&out, err)
}

// encode returns the JSON of in with the payload exactly as given:
// encoding/json would compact it, and receivers verify signatures over
// the bytes the sender chose.
func (in MessageIn) encode() (rawBody, error) {
	payload := bytes.TrimSpace(in.Payload)
	if len(payload) > 0 && !json.Valid(payload) {
		return nil, errors.New("client: MessageIn.Payload is not valid JSON")
	}
	rest := in
	rest.Payload = nil
	b, err := json.Marshal(rest)
	if err != nil {
		return nil, fmt.Errorf("client: encode message: %w", err)
	}
	if len(payload) == 0 {
		return b, nil // the server names the missing payload
	}
	out := make([]byte, 0, len(b)+len(payload)+12)
	out = append(out, `{"payload":`...)
	out = append(out, payload...)
	if len(b) > 2 { // more than {}
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}

// ListMessages returns a page of an application's messages, newest first.
func (c *Client) ListMessages(ctx context.Context, appID string, opts *ListMessagesOptions) (*ListResponse[Message], error) {
	q := url.Values{}
	if opts != nil {
		q = opts.ListOptions.query()
		q.Del("order")
		for _, t := range opts.EventTypes {
			q.Add("event_types", t)
		}
		if opts.Channel != "" {
			q.Set("channel", opts.Channel)
		}
		if opts.Tag != "" {
			q.Set("tag", opts.Tag)
		}
		setTime(q, "before", opts.Before)
		setTime(q, "after", opts.After)
		if opts.WithoutContent {
			q.Set("with_content", "false")
		}
	}
	var out ListResponse[Message]
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "msg"}, q, nil, &out)
	return ret(&out, err)
}

// GetMessage returns the message with the id or eventId msgID.
func (c *Client) GetMessage(ctx context.Context, appID, msgID string) (*Message, error) {
	var out Message
	err := c.do(ctx, http.MethodGet, []string{"app", appID, "msg", msgID}, nil, nil, &out)
	return ret(&out, err)
}

// CancelMessage cancels a scheduled message before its DeliverAt (a Herald
// extension): it is never sent. A message that is not scheduled, is due,
// or was resent is a 409 Conflict; one already cancelled is returned as it
// is.
func (c *Client) CancelMessage(ctx context.Context, appID, msgID string) (*Message, error) {
	var out Message
	err := c.do(ctx, http.MethodPost, []string{"app", appID, "msg", msgID, "cancel"}, nil, nil, &out)
	return ret(&out, err)
}

// ExpungeMessageContent deletes a message's payload ahead of its retention
// period. The message and its attempts stay.
func (c *Client) ExpungeMessageContent(ctx context.Context, appID, msgID string) error {
	return c.do(ctx, http.MethodDelete, []string{"app", appID, "msg", msgID, "content"}, nil, nil, nil)
}

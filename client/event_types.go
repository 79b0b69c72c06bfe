package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// EventType names a kind of message, such as "invoice.paid". Event types
// are shared by every application.
type EventType struct {
	// Name is the event type's name and id.
	Name string `json:"name"`
	// Description is free text shown to consumers.
	Description string `json:"description"`
	// Archived event types are hidden and cannot be subscribed to.
	Archived bool `json:"archived"`
	// Deprecated event types are marked so in the portal.
	Deprecated bool `json:"deprecated"`
	// FeatureFlag, when not empty, hides the event type from portal
	// tokens without that flag.
	FeatureFlag string `json:"featureFlag"`
	// Schemas maps a version ("1") to the JSON schema of the payload; it
	// is JSON null when there is none or the list was asked without
	// content.
	Schemas json.RawMessage `json:"schemas"`
	// ValidatePayloads (a Herald extension) says whether the payloads of
	// the event type's messages are validated against its newest schema;
	// nil follows the server's --validate-payloads.
	ValidatePayloads *bool `json:"validatePayloads"`
	// CreatedAt is when the event type was created.
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when the event type last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// EventTypeIn is the body of CreateEventType.
type EventTypeIn struct {
	// Name is the event type's name: 1-256 characters of
	// [a-zA-Z0-9-_.]. Required.
	Name string `json:"name"`
	// Description is free text shown to consumers; it may be empty.
	Description string `json:"description"`
	// Archived creates the event type archived.
	Archived bool `json:"archived,omitempty"`
	// Deprecated marks the event type deprecated.
	Deprecated bool `json:"deprecated,omitempty"`
	// FeatureFlag hides the event type from portal tokens without it.
	// Empty means visible to all.
	FeatureFlag string `json:"featureFlag,omitempty"`
	// Schemas maps a version ("1") to a JSON schema; an "examples" entry
	// in it is what SendExample sends. Nil means none.
	Schemas json.RawMessage `json:"schemas,omitempty"`
	// ValidatePayloads (a Herald extension) turns payload validation on or
	// off for the event type. ValidationUnset, the zero value, and
	// ValidationDefault follow the server's default.
	ValidatePayloads Validation `json:"validatePayloads,omitempty"`
}

// EventTypeUpdate is the body of UpdateEventType: every field replaces the
// current one.
type EventTypeUpdate struct {
	// Description is free text shown to consumers; it may be empty.
	Description string `json:"description"`
	// Archived archives (true) or restores (false) the event type.
	Archived bool `json:"archived"`
	// Deprecated marks the event type deprecated.
	Deprecated bool `json:"deprecated"`
	// FeatureFlag hides the event type from portal tokens without it.
	// Empty means visible to all.
	FeatureFlag string `json:"featureFlag,omitempty"`
	// Schemas maps a version to a JSON schema. Nil means none.
	Schemas json.RawMessage `json:"schemas,omitempty"`
	// ValidatePayloads (a Herald extension), unless ValidationUnset (the
	// zero value), replaces the event type's payload validation setting;
	// ValidationUnset leaves it as it is.
	ValidatePayloads Validation `json:"validatePayloads,omitempty"`
}

// EventTypePatch is the body of PatchEventType: nil fields are left
// unchanged.
type EventTypePatch struct {
	// Description, when not nil, replaces the description.
	Description *string `json:"description,omitempty"`
	// Archived, when not nil, archives or restores the event type.
	Archived *bool `json:"archived,omitempty"`
	// Deprecated, when not nil, sets or clears the deprecation.
	Deprecated *bool `json:"deprecated,omitempty"`
	// FeatureFlag, when not nil, replaces the feature flag.
	FeatureFlag *string `json:"featureFlag,omitempty"`
	// Schemas, when not nil, replaces the schemas.
	Schemas json.RawMessage `json:"schemas,omitempty"`
	// ValidatePayloads (a Herald extension), unless ValidationUnset (the
	// zero value), replaces the payload validation setting.
	ValidatePayloads Validation `json:"validatePayloads,omitempty"`
}

// Validation is an event type's payload validation setting in a request (a
// Herald extension): when it is on, a message whose payload does not
// validate against the event type's newest schema is refused with a 422
// listing each violation.
type Validation int

const (
	// ValidationUnset sends nothing: a create follows the server's
	// default, an update leaves the setting as it is.
	ValidationUnset Validation = iota
	// ValidationDefault follows the server's --validate-payloads (JSON
	// null).
	ValidationDefault
	// ValidationOn validates payloads (true).
	ValidationOn
	// ValidationOff does not validate payloads (false).
	ValidationOff
)

// MarshalJSON implements json.Marshaler: null, true or false.
func (v Validation) MarshalJSON() ([]byte, error) {
	switch v {
	case ValidationOn:
		return []byte("true"), nil
	case ValidationOff:
		return []byte("false"), nil
	}
	return []byte("null"), nil
}

// ListEventTypesOptions selects a page of event types. A nil pointer means
// the first page of unarchived event types without schemas.
type ListEventTypesOptions struct {
	ListOptions
	// WithContent includes the schemas. False leaves Schemas null.
	WithContent bool
	// IncludeArchived includes archived event types. False hides them.
	IncludeArchived bool
}

// ListEventTypes returns a page of event types in name order.
func (c *Client) ListEventTypes(ctx context.Context, opts *ListEventTypesOptions) (*ListResponse[EventType], error) {
	q := url.Values{}
	if opts != nil {
		q = opts.ListOptions.query()
		q.Del("order")
		if opts.WithContent {
			q.Set("with_content", "true")
		}
		if opts.IncludeArchived {
			q.Set("include_archived", "true")
		}
	}
	var out ListResponse[EventType]
	err := c.do(ctx, http.MethodGet, []string{"event-type"}, q, nil, &out)
	return ret(&out, err)
}

// CreateEventType creates an event type. Creating one that exists is a
// 409 Conflict, unless it is archived: then it is restored with in.
func (c *Client) CreateEventType(ctx context.Context, in EventTypeIn) (*EventType, error) {
	var out EventType
	err := c.do(ctx, http.MethodPost, []string{"event-type"}, nil, in, &out)
	return ret(&out, err)
}

// GetEventType returns the event type called name.
func (c *Client) GetEventType(ctx context.Context, name string) (*EventType, error) {
	var out EventType
	err := c.do(ctx, http.MethodGet, []string{"event-type", name}, nil, nil, &out)
	return ret(&out, err)
}

// UpdateEventType replaces the fields of the event type called name, or
// creates it.
func (c *Client) UpdateEventType(ctx context.Context, name string, in EventTypeUpdate) (*EventType, error) {
	var out EventType
	err := c.do(ctx, http.MethodPut, []string{"event-type", name}, nil, in, &out)
	return ret(&out, err)
}

// PatchEventType changes the fields of an event type that in sets.
func (c *Client) PatchEventType(ctx context.Context, name string, in EventTypePatch) (*EventType, error) {
	var out EventType
	err := c.do(ctx, http.MethodPatch, []string{"event-type", name}, nil, in, &out)
	return ret(&out, err)
}

// DeleteEventType archives an event type, or with expunge deletes it for
// good. Messages of that type are still accepted either way.
func (c *Client) DeleteEventType(ctx context.Context, name string, expunge bool) error {
	var q url.Values
	if expunge {
		q = url.Values{"expunge": {"true"}}
	}
	return c.do(ctx, http.MethodDelete, []string{"event-type", name}, q, nil, nil)
}

package storesql

import (
	"encoding/json"

	"github.com/heraldhq/herald/internal/store"
)

// Values are a driver's encodings of the column values that the update
// statements bind and that Dialect does not know how to encode.
type Values struct {
	// NullText binds "" as NULL (a UID, a feature flag of none).
	NullText func(s string) any
	// List binds a list column (event types, channels); nil is NULL.
	List func(l []string) (any, error)
	// Map binds a map column (metadata, headers); nil is empty.
	Map func(m map[string]string) (any, error)
	// OldSecrets binds an endpoint's old secrets.
	OldSecrets func(l []store.OldSecret) (any, error)
	// Raw binds JSON (an event type's schemas); nil is NULL.
	Raw func(r json.RawMessage) any
	// Validation binds an event type's payload validation.
	Validation func(v store.PayloadValidation) any
}

// EndpointCols selects an endpoint (AS e).
const EndpointCols = `e.id, e.app_id, e.uid, e.url, e.description, e.disabled, e.event_types, e.channels,
	e.throttle_rate, e.ordering, e.metadata, e.headers, e.secret, e.old_secrets, e.failing_since,
	e.circuit_open, e.circuit_failures, e.circuit_since, e.circuit_next_probe, e.created_at, e.updated_at`

// endpointReturning is EndpointCols for a RETURNING clause, which SQLite
// wants unqualified.
const endpointReturning = `id, app_id, uid, url, description, disabled, event_types, channels,
	throttle_rate, ordering, metadata, headers, secret, old_secrets, failing_since,
	circuit_open, circuit_failures, circuit_since, circuit_next_probe, created_at, updated_at`

// AppCols selects an app.
const AppCols = `id, uid, name, throttle_rate, metadata, created_at, updated_at`

// setUpdatedAt starts "UPDATE table SET updated_at = ..." with the later of
// t and the stored updated_at + 1µs (see store's package doc).
func (q *Query) setUpdatedAt(table string, t any) {
	if q.d == SQLite {
		q.Add(`UPDATE `+table+` SET updated_at = max(?, updated_at + 1)`, t)
		return
	}
	q.Add(`UPDATE `+table+` SET updated_at = GREATEST(?::timestamptz, updated_at + interval '1 microsecond')`, t)
}

// UpdateApp is the statement of store.Store.UpdateApp, returning AppCols.
func UpdateApp(d Dialect, v *Values, p store.UpdateAppParams) (*Query, error) {
	q := New(d)
	q.setUpdatedAt("apps", d.Time(p.UpdatedAt))
	if p.UID != nil {
		q.Add(`, uid = ?`, v.NullText(*p.UID))
	}
	if p.Name != nil {
		q.Add(`, name = ?`, *p.Name)
	}
	if p.ThrottleRate != nil {
		q.Add(`, throttle_rate = ?`, *p.ThrottleRate)
	}
	if p.Metadata != nil {
		meta, err := v.Map(*p.Metadata)
		if err != nil {
			return nil, err
		}
		q.Add(`, metadata = ?`, meta)
	}
	q.Add(` WHERE id = ? RETURNING `+AppCols, p.ID)
	return q, nil
}

// UpdateEndpoint is the statement of store.Store.UpdateEndpoint, returning
// the columns of EndpointCols.
func UpdateEndpoint(d Dialect, v *Values, p store.UpdateEndpointParams) (*Query, error) {
	q := New(d)
	q.setUpdatedAt("endpoints", d.Time(p.UpdatedAt))
	if p.UID != nil {
		q.Add(`, uid = ?`, v.NullText(*p.UID))
	}
	if p.URL != nil {
		q.Add(`, url = ?`, *p.URL)
	}
	if p.Description != nil {
		q.Add(`, description = ?`, *p.Description)
	}
	if p.Disabled != nil {
		q.Add(`, disabled = ?`, *p.Disabled)
		if p.ResetFailingOnEnable && !*p.Disabled {
			q.Add(`, failing_since = CASE WHEN disabled THEN NULL ELSE failing_since END`)
		}
	}
	for _, l := range []struct {
		col string
		v   *[]string
	}{{"event_types", p.EventTypes}, {"channels", p.Channels}} {
		if l.v == nil {
			continue
		}
		arg, err := v.List(*l.v)
		if err != nil {
			return nil, err
		}
		q.Add(`, `+l.col+` = ?`, arg)
	}
	if p.ThrottleRate != nil {
		q.Add(`, throttle_rate = ?`, *p.ThrottleRate)
	}
	if p.Ordering != nil {
		q.Add(`, ordering = ?`, int16(*p.Ordering))
	}
	for _, m := range []struct {
		col string
		v   *map[string]string
	}{{"metadata", p.Metadata}, {"headers", p.Headers}} {
		if m.v == nil {
			continue
		}
		arg, err := v.Map(*m.v)
		if err != nil {
			return nil, err
		}
		q.Add(`, `+m.col+` = ?`, arg)
	}
	if p.Secret != nil {
		q.Add(`, secret = ?`, *p.Secret)
	}
	if p.OldSecrets != nil {
		arg, err := v.OldSecrets(*p.OldSecrets)
		if err != nil {
			return nil, err
		}
		q.Add(`, old_secrets = ?`, arg)
	}
	q.Add(` WHERE id = ? AND app_id = ? RETURNING `+endpointReturning, p.ID, p.AppID)
	return q, nil
}

// UpdateEventType is the statement of store.Store.UpdateEventType,
// returning EventTypeCols.
func UpdateEventType(d Dialect, v *Values, p store.UpdateEventTypeParams) *Query {
	q := New(d)
	q.setUpdatedAt("event_types", d.Time(p.UpdatedAt))
	if p.Description != nil {
		q.Add(`, description = ?`, *p.Description)
	}
	if p.Archived != nil {
		q.Add(`, archived = ?`, *p.Archived)
	}
	if p.Deprecated != nil {
		q.Add(`, deprecated = ?`, *p.Deprecated)
	}
	if p.FeatureFlag != nil {
		q.Add(`, feature_flag = ?`, *p.FeatureFlag)
	}
	if p.Schemas != nil {
		q.Add(`, schemas = ?`, v.Raw(*p.Schemas))
	}
	if p.ValidatePayloads != nil {
		q.Add(`, validate_payloads = ?`, v.Validation(*p.ValidatePayloads))
	}
	q.Add(` WHERE name = ? RETURNING `+EventTypeCols, p.Name)
	return q
}

package storesql

import (
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// The columns of the records both drivers select, scanned in this order.
const (
	msgColsHead = `m.id, m.app_id, m.event_type, m.event_id, m.channels, `
	msgColsTail = `, m.payload_expires_at, m.created_at, m.tags, m.deliver_at, m.ordering_key, m.canceled_at`

	// DeliveryCols selects a delivery (AS d).
	DeliveryCols = `d.app_id, d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.lease, d.manual, d.seq,
	d.last_attempt_at, d.last_status_code, d.created_at, d.updated_at`

	attemptColsHead = `a.id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status, a.status_code, `
	attemptColsTail = `, a.duration_ms, a.trigger_type, a.event_type, a.created_at`

	// EventTypeCols selects an event type.
	EventTypeCols = `name, description, archived, deprecated, feature_flag, schemas, validate_payloads, created_at, updated_at`
)

// MsgCols selects a message (AS m); without content, the payload is NULL.
func (d Dialect) MsgCols(withContent bool) string {
	switch {
	case withContent:
		return msgColsHead + `m.payload` + msgColsTail
	case d == SQLite:
		return msgColsHead + `NULL` + msgColsTail
	}
	return msgColsHead + `NULL::bytea` + msgColsTail
}

// AttemptCols selects an attempt (AS a); without content, the response is
// empty.
func AttemptCols(withContent bool) string {
	if withContent {
		return attemptColsHead + `a.response` + attemptColsTail
	}
	return attemptColsHead + `''` + attemptColsTail
}

// ListMessages is the query of store.Store.ListMessages.
func ListMessages(d Dialect, p store.ListMessagesParams) *Query {
	q := New(d)
	id := "m.id"
	if p.Tag != "" {
		// The app's messages with the tag, in id order, from the tags'
		// index: a rare tag costs no walk past the other messages.
		id = "t.msg_id"
		q.Add(`SELECT `+d.MsgCols(p.WithContent)+` FROM message_tags AS t `+d.JoinMessage("t")+`
			WHERE t.app_id = ? AND t.tag = ?`, p.AppID, p.Tag)
	} else {
		q.Add(`SELECT `+d.MsgCols(p.WithContent)+` FROM messages AS m WHERE m.app_id = ?`, p.AppID)
	}
	q.messageFilters(id, p.Channel, "", p.EventTypes, p.Before, p.After)
	if p.Status != nil {
		q.Add(` AND EXISTS (SELECT 1 FROM deliveries AS d WHERE d.msg_id = m.id AND d.status <> 4`)
		q.deliveryStatus(*p.Status)
		q.Add(`)`)
	}
	q.Last(id, p.Page, p.Last)
	q.Page(id, p.Page)
	return q
}

// messageFilters appends the filters of a list of messages (AS m) whose id
// is idCol.
func (q *Query) messageFilters(idCol, channel, tag string, eventTypes []string, before, after time.Time) {
	if channel != "" {
		q.Add(` AND `+q.d.Holds("m.channels"), channel)
	}
	if tag != "" {
		q.Add(` AND EXISTS (SELECT 1 FROM message_tags AS t WHERE t.app_id = m.app_id AND t.tag = ? AND t.msg_id = m.id)`, tag)
	}
	if len(eventTypes) > 0 {
		q.Add(` AND `+q.d.In("m.event_type"), q.d.List(eventTypes))
	}
	q.Since("m.created_at", idCol, ids.Message, after, true)
	q.Before("m.created_at", before)
}

// deliveryStatus appends the condition that a delivery (AS d) is in status
// as reported (see store.Delivery.ReportedStatus).
func (q *Query) deliveryStatus(status store.DeliveryStatus) {
	switch status {
	case store.StatusSuccess:
		q.Add(` AND d.status = 0`)
	case store.StatusPending:
		q.Add(` AND d.status IN (1, 5) AND d.attempts = 0`)
	case store.StatusSending:
		q.Add(` AND d.status IN (1, 5) AND d.attempts > 0`)
	case store.StatusFail:
		q.Add(` AND d.status IN (2, 6)`)
	default:
		q.Add(` AND false`)
	}
}

// EndpointMessages is the query of store.Store.ListEndpointMessages: the
// message's columns, then the delivery's.
func EndpointMessages(d Dialect, p store.ListEndpointMessagesParams) *Query {
	q := New(d)
	q.Add(`SELECT `+d.MsgCols(p.WithContent)+`, `+DeliveryCols+`
		FROM deliveries AS d `+d.JoinMessage("d")+`
		WHERE d.endpoint_id = ? AND d.app_id = ? AND d.status <> 4`, p.EndpointID, p.AppID)
	if p.Status != nil {
		q.deliveryStatus(*p.Status)
	}
	q.messageFilters("m.id", p.Channel, p.Tag, p.EventTypes, p.Before, time.Time{})
	q.Since("m.created_at", "d.msg_id", ids.Message, p.After, true)
	q.Page("d.msg_id", p.Page)
	return q
}

// EndpointStats is the query of store.Store.EndpointStats: the counts of
// store.Stats in the order of its fields.
func EndpointStats(d Dialect, p store.EndpointStatsParams) *Query {
	q := New(d)
	q.Add(`SELECT count(*) FILTER (WHERE d.status = 0), count(*) FILTER (WHERE d.status IN (1, 5) AND d.attempts = 0),
		count(*) FILTER (WHERE d.status IN (1, 5) AND d.attempts > 0), count(*) FILTER (WHERE d.status = 2),
		count(*) FILTER (WHERE d.status IN (4, 6))
		FROM deliveries AS d`)
	if p.Since.IsZero() && p.Until.IsZero() {
		q.Add(` WHERE d.endpoint_id = ?`, p.EndpointID)
	} else {
		q.Add(` JOIN messages AS m ON m.app_id = d.app_id AND m.id = d.msg_id WHERE d.endpoint_id = ?`, p.EndpointID)
		q.Since("m.created_at", "d.msg_id", ids.Message, p.Since, false)
		q.Before("m.created_at", p.Until)
	}
	return q
}

// ListAttempts is the query of store.Store.ListAttempts.
func ListAttempts(d Dialect, p store.ListAttemptsParams) *Query {
	q := New(d)
	q.Add(`SELECT `+AttemptCols(p.WithContent)+` FROM attempts AS a WHERE a.app_id = ?`, p.AppID)
	if p.EndpointID != "" {
		q.Add(` AND a.endpoint_id = ?`, p.EndpointID)
	}
	if p.MsgID != "" {
		q.Add(` AND a.msg_id = ?`, p.MsgID)
	}
	if p.Status != nil {
		if *p.Status == store.StatusFail {
			// Written out, so that the planner may use the partial
			// index of failed attempts (a bound value would not).
			q.Add(` AND a.status = 2`)
		} else {
			q.Add(` AND a.status = ?`, int16(*p.Status))
		}
	}
	if c := p.StatusCodeClass; c != nil {
		if *c == 0 {
			q.Add(` AND a.status_code = 0`)
		} else {
			q.Add(` AND a.status_code >= ? AND a.status_code < ?`, int32(*c), int32(*c+100))
		}
	}
	if len(p.EventTypes) > 0 {
		q.Add(` AND `+d.In("a.event_type"), d.List(p.EventTypes))
	}
	if p.Channel != "" {
		q.Add(` AND EXISTS (SELECT 1 FROM messages AS m WHERE m.app_id = a.app_id AND m.id = a.msg_id AND `+d.Holds("m.channels")+`)`, p.Channel)
	}
	if p.Tag != "" {
		q.Add(` AND EXISTS (SELECT 1 FROM message_tags AS t WHERE t.app_id = a.app_id AND t.tag = ? AND t.msg_id = a.msg_id)`, p.Tag)
	}
	q.Since("a.created_at", "a.id", ids.Attempt, p.After, true)
	q.Before("a.created_at", p.Before)
	q.Last("a.id", p.Page, p.Last)
	q.Page("a.id", p.Page)
	return q
}

// RecoverPage appends the query of the page of deliveries
// store.Store.RecoverDeliveries takes (AS d, with their messages AS m),
// selecting cols, in message ID order; lock is appended last ("FOR UPDATE
// OF d", or "").
func (q *Query) RecoverPage(p store.RecoverParams, cols, lock string) {
	q.Add(`SELECT `+cols+` FROM deliveries AS d `+q.d.JoinMessage("d")+`
			WHERE d.endpoint_id = ? AND d.app_id = ? AND d.status IN (2, 4)`, p.EndpointID, p.AppID)
	if p.AfterMsgID != "" {
		q.Add(` AND d.msg_id > ?`, p.AfterMsgID)
	}
	q.Since("m.created_at", "d.msg_id", ids.Message, p.Since, false)
	q.Before("m.created_at", p.Until)
	q.Add(` ORDER BY d.msg_id LIMIT ?`, Limit(p.Limit))
	if lock != "" {
		q.Add(" " + lock)
	}
}

// GetEventTypes is the query of store.Store.GetEventTypes.
func GetEventTypes(d Dialect, names []string) *Query {
	q := New(d)
	q.Add(`SELECT `+EventTypeCols+` FROM event_types WHERE `+d.In("name")+` ORDER BY name`, d.List(names))
	return q
}

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/client"
)

// Human output: tables for lists, "Field: value" blocks for single
// resources. Times are shown in UTC, RFC 3339, so that output is the same on
// every machine.

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func row(tw io.Writer, cols ...string) {
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtList(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ",")
}

func fmtRate(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n) + "/s"
}

func fmtMap(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// truncate shortens s to n runes on one line.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// prettyJSON indents a JSON document; text that is not JSON is returned as
// it is.
func prettyJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// fields prints "Name: value" lines, aligned.
func fields(w io.Writer, kv ...string) {
	tw := newTable(w)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	tw.Flush()
}

func writeApps(w io.Writer, apps []client.App) {
	tw := newTable(w)
	row(tw, "ID", "UID", "NAME", "THROTTLE", "CREATED")
	for _, a := range apps {
		row(tw, a.ID, orDash(a.UID), a.Name, fmtRate(a.ThrottleRate), fmtTime(a.CreatedAt))
	}
	tw.Flush()
}

func writeApp(w io.Writer, a *client.App) {
	fields(w,
		"ID", a.ID,
		"UID", orDash(a.UID),
		"Name", a.Name,
		"Throttle", fmtRate(a.ThrottleRate),
		"Metadata", fmtMap(a.Metadata),
		"Created", fmtTime(a.CreatedAt),
		"Updated", fmtTime(a.UpdatedAt),
	)
}

func writeEndpoints(w io.Writer, eps []client.Endpoint) {
	tw := newTable(w)
	row(tw, "ID", "UID", "URL", "EVENT TYPES", "CHANNELS", "DISABLED", "CIRCUIT", "CREATED")
	for _, e := range eps {
		row(tw, e.ID, orDash(e.UID), e.URL, fmtList(e.EventTypes), fmtList(e.Channels), yesNo(e.Disabled), fmtCircuit(e.Circuit), fmtTime(e.CreatedAt))
	}
	tw.Flush()
}

// writeEndpoint prints an endpoint, with its secret when known.
func writeEndpoint(w io.Writer, e *client.Endpoint, secret string) {
	kv := []string{
		"ID", e.ID,
		"UID", orDash(e.UID),
		"URL", e.URL,
		"Description", orDash(e.Description),
		"Disabled", yesNo(e.Disabled),
		"Circuit", fmtCircuit(e.Circuit),
		"Event types", orAll(e.EventTypes),
		"Channels", orAll(e.Channels),
		"Throttle", fmtRate(e.ThrottleRate),
		"Ordering", orDash(e.Ordering),
		"Metadata", fmtMap(e.Metadata),
		"Created", fmtTime(e.CreatedAt),
		"Updated", fmtTime(e.UpdatedAt),
	}
	if secret != "" {
		kv = append(kv, "Secret", secret)
	}
	fields(w, kv...)
}

func orAll(list []string) string {
	if len(list) == 0 {
		return "(all)"
	}
	return strings.Join(list, ",")
}

func writeHeaders(w io.Writer, h *client.EndpointHeaders) {
	if len(h.Headers) == 0 && len(h.Sensitive) == 0 {
		fmt.Fprintln(w, "No custom headers.")
		return
	}
	tw := newTable(w)
	row(tw, "HEADER", "VALUE")
	for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
		row(tw, k, h.Headers[k])
	}
	for _, k := range h.Sensitive {
		row(tw, k, "(sensitive, not shown)")
	}
	tw.Flush()
}

func writeStats(w io.Writer, st *client.EndpointStats) {
	fields(w,
		"Success", strconv.FormatInt(st.Success, 10),
		"Fail", strconv.FormatInt(st.Fail, 10),
		"Sending", strconv.FormatInt(st.Sending, 10),
		"Pending", strconv.FormatInt(st.Pending, 10),
		"Canceled", strconv.FormatInt(st.Canceled, 10),
	)
}

func writeEventTypes(w io.Writer, ets []client.EventType) {
	tw := newTable(w)
	row(tw, "NAME", "DESCRIPTION", "DEPRECATED", "ARCHIVED", "FEATURE FLAG")
	for _, e := range ets {
		row(tw, e.Name, orDash(truncate(e.Description, 50)), yesNo(e.Deprecated), yesNo(e.Archived), orDash(e.FeatureFlag))
	}
	tw.Flush()
}

func writeEventType(w io.Writer, e *client.EventType) {
	fields(w,
		"Name", e.Name,
		"Description", orDash(e.Description),
		"Deprecated", yesNo(e.Deprecated),
		"Archived", yesNo(e.Archived),
		"Feature flag", orDash(e.FeatureFlag),
		"Validation", validation(e.ValidatePayloads),
		"Created", fmtTime(e.CreatedAt),
		"Updated", fmtTime(e.UpdatedAt),
	)
	if s := bytes.TrimSpace(e.Schemas); len(s) > 0 && string(s) != "null" {
		fmt.Fprintln(w, "Schemas:")
		fmt.Fprintln(w, indent(prettyJSON(s), "  "))
	}
}

// validation shows an event type's payload validation setting.
func validation(v *bool) string {
	switch {
	case v == nil:
		return "server default"
	case *v:
		return "on"
	}
	return "off"
}

func writeMessages(w io.Writer, msgs []client.Message) {
	tw := newTable(w)
	row(tw, "ID", "EVENT TYPE", "EVENT ID", "CHANNELS", "TIMESTAMP", "DELIVER AT")
	for _, m := range msgs {
		row(tw, m.ID, m.EventType, orDash(m.EventID), fmtList(m.Channels), fmtTime(m.Timestamp), fmtSchedule(&m))
	}
	tw.Flush()
}

func writeMessage(w io.Writer, m *client.Message) {
	fields(w,
		"ID", m.ID,
		"Event type", m.EventType,
		"Event ID", orDash(m.EventID),
		"Channels", fmtList(m.Channels),
		"Tags", fmtList(m.Tags),
		"Ordering key", orDash(m.OrderingKey),
		"Timestamp", fmtTime(m.Timestamp),
		"Deliver at", fmtSchedule(m),
	)
	fmt.Fprintln(w, "Payload:")
	fmt.Fprintln(w, indent(prettyJSON(m.Payload), "  "))
}

// fmtSchedule shows when a message is first sent: "-" at once, its time
// when scheduled, "(canceled)" after it when it was cancelled.
func fmtSchedule(m *client.Message) string {
	if m.DeliverAt == nil {
		return "-"
	}
	s := fmtTime(*m.DeliverAt)
	if m.CanceledAt != nil {
		s += " (canceled)"
	}
	return s
}

func writeAttempts(w io.Writer, ats []client.Attempt) {
	tw := newTable(w)
	row(tw, "ID", "MESSAGE", "ENDPOINT", "STATUS", "CODE", "DURATION", "TRIGGER", "TIMESTAMP")
	for _, a := range ats {
		row(tw, a.ID, a.MsgID, a.EndpointID, a.Status.String(), fmtCode(a.ResponseStatusCode),
			strconv.FormatInt(a.ResponseDurationMs, 10)+"ms", a.TriggerType.String(), fmtTime(a.Timestamp))
	}
	tw.Flush()
}

func fmtCode(code int) string {
	if code == 0 {
		return "-"
	}
	return strconv.Itoa(code)
}

func writeAttempt(w io.Writer, a *client.Attempt) {
	fields(w,
		"ID", a.ID,
		"Message", a.MsgID,
		"Endpoint", a.EndpointID,
		"URL", a.URL,
		"Status", a.Status.String(),
		"Response code", fmtCode(a.ResponseStatusCode),
		"Duration", strconv.FormatInt(a.ResponseDurationMs, 10)+"ms",
		"Trigger", a.TriggerType.String(),
		"Timestamp", fmtTime(a.Timestamp),
	)
	fmt.Fprintln(w, "Response:")
	fmt.Fprintln(w, indent(prettyJSON([]byte(a.Response)), "  "))
}

// fmtCircuit shows an endpoint's circuit: "closed", or "open" with the next
// probe.
func fmtCircuit(c *client.Circuit) string {
	switch {
	case c == nil || c.State != "open":
		return "closed"
	case c.NextProbe != nil:
		return "open (probe " + fmtTime(*c.NextProbe) + ")"
	}
	return "open"
}

package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/client"
)

// commandPaths lists every visible command of the tree, as argument lists.
func commandPaths(cmd *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmd.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		p := append(append([]string(nil), prefix...), c.Name())
		out = append(out, p)
		out = append(out, commandPaths(c, p)...)
	}
	return out
}

// TestHelpGolden pins the --help output of every command: flags, defaults
// and examples are part of the command line's contract.
func TestHelpGolden(t *testing.T) {
	paths := append([][]string{{}}, commandPaths(New(Streams{Getenv: env()}), nil)...)
	if len(paths) < 40 {
		t.Fatalf("found %d commands, want every command of the tree", len(paths))
	}
	for _, p := range paths {
		name := "herald"
		if len(p) > 0 {
			name += "_" + strings.Join(p, "_")
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := ok(t, env(), append(p, "--help")...)
			golden(t, "help/"+name, []byte(out))
		})
	}
}

// TestEveryCommandHasExample checks that each command's help shows how it
// is used.
func TestEveryCommandHasExample(t *testing.T) {
	for _, p := range commandPaths(New(Streams{Getenv: env()}), nil) {
		root := New(Streams{Getenv: env()})
		c, _, err := root.Find(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Example == "" && c.Parent().Name() != "completion" {
			t.Errorf("herald %s has no Example", strings.Join(p, " "))
		}
	}
}

var (
	t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	t1 = t0.Add(90 * time.Minute)
)

// TestTablesGolden pins the human output of each resource.
func TestTablesGolden(t *testing.T) {
	app := client.App{ID: "app_2bXhM1uQ9Yc4KpZ7dWnE3sTf0Lg", UID: "acme", Name: "Acme Inc", ThrottleRate: 50,
		Metadata: map[string]string{"plan": "pro", "region": "eu"}, CreatedAt: t0, UpdatedAt: t1}
	app2 := client.App{ID: "app_2bXhM4kLr8Tn1VbC6yQa9PzJ5Wd", Name: "Globex", CreatedAt: t1, UpdatedAt: t1}
	ep := client.Endpoint{ID: "ep_2bXhM8tz0cq3VjZhQfC6yL1nKpD", UID: "main", URL: "https://acme.example.com/webhooks",
		Description: "Production receiver", EventTypes: []string{"invoice.paid", "invoice.voided"},
		Channels: []string{"billing"}, ThrottleRate: 10, Metadata: map[string]string{}, CreatedAt: t0, UpdatedAt: t1,
		Ordering: client.OrderingFIFO}
	ep2 := client.Endpoint{ID: "ep_2bXhMAq5Wv7Hs2NdJ8fK0rXy3Lc", URL: "http://127.0.0.1:9000/", Disabled: true,
		CreatedAt: t1, UpdatedAt: t1}
	et := client.EventType{Name: "invoice.paid", Description: "An invoice was paid in full by the customer, by card or by transfer",
		Schemas:   json.RawMessage(`{"1":{"type":"object","examples":[{"type":"invoice.paid","id":"in_1"}]}}`),
		CreatedAt: t0, UpdatedAt: t1}
	et2 := client.EventType{Name: "invoice.voided", Deprecated: true, Archived: true, FeatureFlag: "beta",
		Schemas: json.RawMessage("null"), CreatedAt: t0, UpdatedAt: t0}
	msg := client.Message{ID: "msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw", EventType: "invoice.paid", EventID: "in_1",
		Channels: []string{"billing"}, Payload: json.RawMessage(`{"type":"invoice.paid","id":"in_1","amount":4200}`), Timestamp: t0,
		Tags: []string{"eu", "vip"}, OrderingKey: "in_1", DeliverAt: &t1}
	msg2 := client.Message{ID: "msg_2bXhQpB6mD1sR4uW8zNc2VhK9Ye", EventType: "svix.ping", Payload: json.RawMessage(`{}`), Timestamp: t1}
	t2 := t1.Add(time.Hour)
	msg3 := client.Message{ID: "msg_2bXhQr2cN8kT5wY1mFs7Dg4Jp6Q", EventType: "trial.ending", Payload: json.RawMessage(`{}`), Timestamp: t1,
		DeliverAt: &t2, CanceledAt: &t1}
	at := client.Attempt{ID: "atmpt_2bXhQpY3wLr8d1NcKj5sTq0VeGz", MsgID: msg.ID, EndpointID: ep.ID, URL: ep.URL,
		Response: `{"ok":true}`, ResponseStatusCode: 200, ResponseDurationMs: 42, Status: client.StatusSuccess,
		TriggerType: client.TriggerScheduled, Timestamp: t0}
	at2 := client.Attempt{ID: "atmpt_2bXhQr7Kd2Zf5Mx9Bv1Ng4Ts6Hy", MsgID: msg.ID, EndpointID: ep2.ID, URL: ep2.URL,
		Response: "dial tcp 127.0.0.1:9000: connect: connection refused", Status: client.StatusFail,
		TriggerType: client.TriggerManual, Timestamp: t1}

	tests := []struct {
		name  string
		write func(w io.Writer)
	}{
		{"apps", func(w io.Writer) { writeApps(w, []client.App{app, app2}) }},
		{"app", func(w io.Writer) { writeApp(w, &app) }},
		{"endpoints", func(w io.Writer) { writeEndpoints(w, []client.Endpoint{ep, ep2}) }},
		{"endpoint", func(w io.Writer) { writeEndpoint(w, &ep, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") }},
		{"endpoint_all_types", func(w io.Writer) { writeEndpoint(w, &ep2, "") }},
		{"headers", func(w io.Writer) {
			writeHeaders(w, &client.EndpointHeaders{Headers: map[string]string{"X-Tenant": "acme", "X-Env": "prod"},
				Sensitive: []string{"Authorization"}})
		}},
		{"headers_none", func(w io.Writer) { writeHeaders(w, &client.EndpointHeaders{}) }},
		{"stats", func(w io.Writer) { writeStats(w, &client.EndpointStats{Success: 120, Fail: 3, Sending: 1}) }},
		{"event_types", func(w io.Writer) { writeEventTypes(w, []client.EventType{et, et2}) }},
		{"event_type", func(w io.Writer) { writeEventType(w, &et) }},
		{"messages", func(w io.Writer) { writeMessages(w, []client.Message{msg, msg2, msg3}) }},
		{"message", func(w io.Writer) { writeMessage(w, &msg) }},
		{"attempts", func(w io.Writer) { writeAttempts(w, []client.Attempt{at, at2}) }},
		{"attempt", func(w io.Writer) { writeAttempt(w, &at2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.write(&buf)
			golden(t, "table/"+tt.name, buf.Bytes())
		})
	}
}

// TestFlagUsageNamesNoType checks that no flag's help text holds a
// backquote: pflag shows backquoted text as the type of the flag's value
// ("--schema herald endpoint test" instead of "--schema string").
func TestFlagUsageNamesNoType(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: a backquote in %q names the flag's type in help", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(New(Streams{Getenv: env()}))
}

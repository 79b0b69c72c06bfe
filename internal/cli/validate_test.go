package cli

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

// TestPayloadValidationCommands runs payload validation end to end: a
// server started with --validate-payloads, event types created and changed
// with the CLI, and `herald send` showing each violation of a refused
// payload.
func TestPayloadValidationCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *config.Config) { c.ValidatePayloads = true })
	e := srv.env("HERALD_APP", "shop")
	schema := `{"type": "object", "required": ["id", "total"],
		"properties": {"id": {"type": "string"}, "total": {"type": "number", "minimum": 0},
			"items": {"type": "array", "items": {"type": "object", "required": ["sku"]}}},
		"examples": [{"id": "ord_1", "total": 1}]}`
	out := ok(t, e, "event-type", "create", "order.created", "--schema", schema)
	contains(t, out, "Validation:    server default")
	ok(t, e, "app", "create", "Shop", "--uid", "shop")

	// Validated by the server's default.
	msg := fails(t, e, "send", "--type", "order.created", "--data", `{"total": -1, "items": [{"sku": "a"}, {}]}`)
	contains(t, msg, "the server rejected the request (422 validation_error):",
		"\n  payload: missing property 'id'",
		"\n  payload.items.1: missing property 'sku'",
		"\n  payload.total: minimum: got -1, want 0")
	ok(t, e, "send", "--type", "order.created", "--data", `{"id": "ord_1", "total": 3}`)

	// The event type's own setting wins.
	contains(t, ok(t, e, "event-type", "update", "order.created", "--validate-payloads", "off"), "Validation:    off")
	ok(t, e, "send", "--type", "order.created", "--data", `{"total": -1}`)
	contains(t, ok(t, e, "event-type", "update", "order.created", "--validate-payloads", "default"), "Validation:    server default")
	fails(t, e, "send", "--type", "order.created", "--data", `{"total": -1}`)
	contains(t, ok(t, e, "event-type", "update", "order.created", "--validate-payloads", "on"), "Validation:    on")

	// A schema that is not JSON Schema is refused with the reason.
	msg = fails(t, e, "event-type", "create", "bad.schema", "--schema", `{"type": "whatever"}`)
	contains(t, msg, "422", "schemas.1: not a valid JSON Schema: at \"/type\"")
	r := run(t, e, "event-type", "update", "order.created", "--validate-payloads", "sometimes")
	var usage *UsageError
	if !errors.As(r.err, &usage) {
		t.Errorf("--validate-payloads sometimes: %v, want a usage error", r.err)
	}
}

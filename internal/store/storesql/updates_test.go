package storesql

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// testValues tags each encoded value with its encoder, so that a test sees
// which one bound it.
var testValues = &Values{
	NullText:   func(s string) any { return "text:" + s },
	List:       func(l []string) (any, error) { return append([]string{"list"}, l...), nil },
	Map:        func(m map[string]string) (any, error) { return "map", nil },
	OldSecrets: func(l []store.OldSecret) (any, error) { return "olds", nil },
	Raw:        func(r json.RawMessage) any { return "raw:" + string(r) },
	Validation: func(v store.PayloadValidation) any { return int(v) },
}

func TestUpdates(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	uid, name, off, url := "", "n", false, "https://example.com/"
	channels := []string{"eu"}
	fifo := store.OrderingFIFO
	on := store.ValidationOn
	schemas := json.RawMessage(`{}`)

	app, err := UpdateApp(PostgreSQL, testValues, store.UpdateAppParams{ID: "app_1", UID: &uid, Name: &name, UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	wantSQL := `UPDATE apps SET updated_at = GREATEST($1::timestamptz, updated_at + interval '1 microsecond'), uid = $2, name = $3` +
		` WHERE id = $4 RETURNING ` + AppCols
	if app.String() != wantSQL || !reflect.DeepEqual(app.Args(), []any{at, "text:", "n", "app_1"}) {
		t.Errorf("UpdateApp: %s %#v", app.String(), app.Args())
	}

	ep, err := UpdateEndpoint(SQLite, testValues, store.UpdateEndpointParams{ID: "ep_1", AppID: "app_1", URL: &url, Disabled: &off,
		ResetFailingOnEnable: true, Channels: &channels, Ordering: &fifo, UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	wantSQL = `UPDATE endpoints SET updated_at = max(?, updated_at + 1), url = ?, disabled = ?` +
		`, failing_since = CASE WHEN disabled THEN NULL ELSE failing_since END, channels = ?, ordering = ?` +
		` WHERE id = ? AND app_id = ? RETURNING ` + endpointReturning
	wantArgs := []any{at.UnixMicro(), url, false, []string{"list", "eu"}, int16(1), "ep_1", "app_1"}
	if ep.String() != wantSQL || !reflect.DeepEqual(ep.Args(), wantArgs) {
		t.Errorf("UpdateEndpoint:\n got %s %#v\nwant %s %#v", ep.String(), ep.Args(), wantSQL, wantArgs)
	}

	// Enabling without ResetFailingOnEnable leaves FailingSince alone.
	ep, _ = UpdateEndpoint(SQLite, testValues, store.UpdateEndpointParams{ID: "ep_1", AppID: "app_1", Disabled: &off, UpdatedAt: at})
	if want := `UPDATE endpoints SET updated_at = max(?, updated_at + 1), disabled = ? WHERE id = ? AND app_id = ? RETURNING ` +
		endpointReturning; ep.String() != want {
		t.Errorf("UpdateEndpoint without reset: %s", ep.String())
	}

	et := UpdateEventType(PostgreSQL, testValues, store.UpdateEventTypeParams{Name: "user.created", Schemas: &schemas,
		ValidatePayloads: &on, UpdatedAt: at})
	wantSQL = `UPDATE event_types SET updated_at = GREATEST($1::timestamptz, updated_at + interval '1 microsecond')` +
		`, schemas = $2, validate_payloads = $3 WHERE name = $4 RETURNING ` + EventTypeCols
	if et.String() != wantSQL || !reflect.DeepEqual(et.Args(), []any{at, "raw:{}", int(store.ValidationOn), "user.created"}) {
		t.Errorf("UpdateEventType: %s %#v", et.String(), et.Args())
	}
}

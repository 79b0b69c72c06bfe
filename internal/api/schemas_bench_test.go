package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// benchOrder is a typical order payload (testdata/order.json, 700 bytes):
// 9 top-level fields, a nested customer and shipping address, and 5 items.
var benchOrder = func() string {
	b, err := os.ReadFile("testdata/order.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// BenchmarkCreateMessage measures the API's cost of accepting one message
// (decode, checks, cached token, app and event type lookups, the answer),
// without the commit (WriteMessage does nothing), with and without payload
// validation against orderSchema.
//
//	go test -run '^$' -bench CreateMessage -benchmem ./internal/api
func BenchmarkCreateMessage(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "herald.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	box, _ := secretbox.New(key)
	now := time.Now()
	token, err := api.CreateAdminToken(ctx, st, "bench", now)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateApp(ctx, &store.App{ID: "app_bench", Name: "bench", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	schemas := json.RawMessage(`{"1": ` + orderSchema + `}`)
	for name, v := range map[string]store.PayloadValidation{"order.off": store.ValidationOff, "order.on": store.ValidationOn} {
		et := &store.EventType{Name: name, Schemas: schemas, ValidatePayloads: v, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateEventType(ctx, et); err != nil {
			b.Fatal(err)
		}
	}
	a := api.New(api.Options{Store: st, Box: box,
		WriteMessage: func(context.Context, store.CreateMessageParams) (store.CreateMessageResult, error) {
			return store.CreateMessageResult{}, nil
		}})
	invalid := strings.Replace(strings.Replace(benchOrder, `"quantity": 1,`, `"quantity": 0,`, 1), `"currency": "EUR"`, `"currency": "JPY"`, 1)
	for _, c := range []struct {
		name, eventType, payload string
		status                   int
	}{
		{"no-event-type", "order.unknown", benchOrder, 202},
		{"validation-off", "order.off", benchOrder, 202},
		{"validation-on", "order.on", benchOrder, 202},
		{"validation-on-refused", "order.on", invalid, 422},
	} {
		body, _ := json.Marshal(map[string]any{"eventType": c.eventType, "payload": json.RawMessage(c.payload)})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/app/app_bench/msg", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				a.ServeHTTP(w, req)
				if w.Code != c.status {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

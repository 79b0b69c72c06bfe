package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// BenchmarkPayloadCheck measures the parts of payload validation on the
// ingest path: the cached lookup of the event type's rule, which every
// message pays, and the check of a typical payload (../api/testdata/order.json)
// against a typical schema (../api/testdata/order.schema.json), which messages of
// validated event types pay.
//
//	go test -run '^$' -bench PayloadCheck -benchmem ./internal/service
func BenchmarkPayloadCheck(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "herald.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	schema, err := os.ReadFile("../api/testdata/order.schema.json")
	if err != nil {
		b.Fatal(err)
	}
	payload, err := os.ReadFile("../api/testdata/order.json")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	schemas := json.RawMessage(`{"1": ` + string(schema) + `}`)
	if err := st.CreateEventType(ctx, &store.EventType{Name: "order", Schemas: schemas, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	a := New(Config{Store: st, Box: box})

	b.Run("rule-cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.payloadRule(ctx, "order"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := compileSchema(schema); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := a.compiledNewest(schemas)
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if err := c.check("order", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
)

// benchPayload is a typical small webhook body.
var benchPayload = []byte(`{"type":"invoice.paid","data":{"id":"in_1234567890","amount":4200,"currency":"eur","customer":"cus_0987654321"}}`)

// benchApp creates an app with endpoints endpoints.
func benchApp(b *testing.B, s *postgres.Store, endpoints int) string {
	b.Helper()
	ctx := context.Background()
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "bench", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	for range endpoints {
		ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateEndpoint(ctx, ep); err != nil {
			b.Fatal(err)
		}
	}
	return app.ID
}

func benchBatch(appID string, n int) []store.CreateMessageParams {
	now := store.Truncate(time.Now())
	ps := make([]store.CreateMessageParams, n)
	for i := range ps {
		ps[i].Message = &store.Message{
			ID: ids.New(ids.Message), AppID: appID, EventType: "invoice.paid", Payload: benchPayload,
			PayloadExpiresAt: now.Add(24 * time.Hour), CreatedAt: now,
		}
	}
	return ps
}

// BenchmarkCreateMessages measures CreateMessages with one endpoint (one
// delivery per message), one transaction per batch.
func BenchmarkCreateMessages(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b)
			appID := benchApp(b, s, 1)
			for b.Loop() {
				b.StopTimer()
				ps := benchBatch(appID, batch)
				b.StartTimer()
				if _, err := s.CreateMessages(context.Background(), ps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
		})
	}
}

// BenchmarkPipeline measures the store's whole share of a delivery: create a
// batch of messages to one endpoint, claim them, complete them, one
// transaction each, on one connection at a time. deliveries/s is what one
// process gets from the database when nothing else limits it.
func BenchmarkPipeline(b *testing.B) {
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b)
			appID := benchApp(b, s, 1)
			ctx := context.Background()
			var lease int64
			for b.Loop() {
				res, err := s.CreateMessages(ctx, benchBatch(appID, batch))
				if err != nil || res[0].Err != nil {
					b.Fatal(err)
				}
				lease++
				now := store.Truncate(time.Now())
				jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: lease, Limit: batch})
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != batch {
					b.Fatalf("claimed %d of %d", len(jobs), batch)
				}
				if err := s.CompleteDeliveries(ctx, completions(jobs, now)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func completions(jobs []*store.Job, now time.Time) []store.Completion {
	cs := make([]store.Completion, len(jobs))
	for i, j := range jobs {
		cs[i] = store.Completion{
			MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Status: store.StatusSuccess,
			Attempt: &store.Attempt{
				ID: ids.New(ids.Attempt), AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID, URL: "https://example.com",
				Status: store.StatusSuccess, StatusCode: 200, Response: `{"ok":true}`, DurationMs: 3, EventType: j.EventType, CreatedAt: now,
			},
		}
	}
	return cs
}

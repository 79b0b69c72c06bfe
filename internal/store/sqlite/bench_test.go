package sqlite_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// benchPayload is a typical small webhook body.
var benchPayload = []byte(`{"type":"invoice.paid","data":{"id":"in_1234567890","amount":4200,"currency":"eur","customer":"cus_0987654321"}}`)

// benchApp creates an app with endpoints endpoints.
func benchApp(b *testing.B, s *sqlite.Store, endpoints int) string {
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

func createBatch(b *testing.B, s *sqlite.Store, appID string, n int) {
	b.Helper()
	res, err := s.CreateMessages(context.Background(), benchBatch(appID, n))
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

var syncLevels = []string{"FULL", "NORMAL"}

// BenchmarkCreateMessages measures CreateMessages with one endpoint per app
// (one delivery per message), one transaction per batch.
func BenchmarkCreateMessages(b *testing.B) {
	for _, sync := range syncLevels {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				s := open(b, sqlite.WithSynchronous(sync))
				appID := benchApp(b, s, 1)
				b.ResetTimer()
				var cpu time.Duration
				for range b.N {
					b.StopTimer()
					ps := benchBatch(appID, batch)
					b.StartTimer()
					cpu0 := cpuTime()
					if _, err := s.CreateMessages(context.Background(), ps); err != nil {
						b.Fatal(err)
					}
					cpu += cpuTime() - cpu0
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/msg")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
			})
		}
	}
}

// BenchmarkClaimComplete measures one worker cycle on the store: claim 100
// due deliveries, then complete the 100 with a successful attempt each.
func BenchmarkClaimComplete(b *testing.B) {
	const batch = 100
	for _, sync := range syncLevels {
		b.Run("sync="+sync, func(b *testing.B) {
			s := open(b, sqlite.WithSynchronous(sync))
			appID := benchApp(b, s, 1)
			ctx := context.Background()
			var lease int64
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				createBatch(b, s, appID, batch)
				b.StartTimer()
				cpu0 := cpuTime()
				lease++
				now := store.Truncate(time.Now())
				jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: lease, Limit: batch})
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != batch {
					b.Fatalf("claimed %d", len(jobs))
				}
				if err := s.CompleteDeliveries(ctx, completions(jobs, now)); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - cpu0
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/delivery")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/delivery")
		})
	}
}

// BenchmarkPipeline measures the store's whole share of a delivery: create
// a batch of messages to one endpoint, claim them, complete them; deliveries/s
// is the ceiling the store puts on one Herald process (one writer), for a
// batch size the dispatcher and group commit reach.
func BenchmarkPipeline(b *testing.B) {
	for _, sync := range syncLevels {
		for _, batch := range []int{100, 500} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				s := open(b, sqlite.WithSynchronous(sync))
				appID := benchApp(b, s, 1)
				ctx := context.Background()
				var lease int64
				b.ResetTimer()
				cpu0 := cpuTime()
				for range b.N {
					createBatch(b, s, appID, batch)
					lease++
					now := store.Truncate(time.Now())
					jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: lease, Limit: batch})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.CompleteDeliveries(ctx, completions(jobs, now)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns/delivery")
			})
		}
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

// cpuTime is the CPU time (user and system) the process has used so far: a
// measure less disturbed than wall time by other work on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

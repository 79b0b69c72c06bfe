package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
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

// BenchmarkDropPartition measures retention on partitions: the drop of an
// hour's partition holding HERALD_BENCH_PARTITION_MESSAGES delivered
// messages (default 100,000), each with its delivery and attempt, while
// another connection inserts a message every 2 ms into the next hour's
// partition. drop-ms is the DeleteHistory call that drops it; insert-max-ms
// the slowest insert from the drop's start to its end, insert-p50-ms the
// median insert outside it. Run with -benchtime 1x: each iteration writes
// its partition first (not timed).
func BenchmarkDropPartition(b *testing.B) {
	n := 100000
	if v := os.Getenv("HERALD_BENCH_PARTITION_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var dropMs, worstMs float64
	var quiet []time.Duration
	for b.Loop() {
		b.StopTimer()
		url := pgtest.Schema(b)
		s := openURL(b, url, postgres.WithPartitionWidth(time.Hour))
		conn := connect(b, url)
		var lo, hi time.Time
		if err := conn.QueryRow(ctx, `SELECT lo, hi FROM history_partitions WHERE lo IS NOT NULL ORDER BY hi LIMIT 1`).Scan(&lo, &hi); err != nil {
			b.Fatal(err)
		}
		appID := benchApp(b, s, 1)
		var epID string
		if err := conn.QueryRow(ctx, `SELECT id FROM endpoints WHERE app_id = $1`, appID).Scan(&epID); err != nil {
			b.Fatal(err)
		}
		if err := s.Prefill(ctx, store.PrefillParams{AppID: appID, EndpointID: epID, URL: "https://example.com", EventType: "invoice.paid",
			Messages: n, Payload: benchPayload, Until: hi.Add(-time.Minute), Every: 50 * time.Minute / time.Duration(n)}); err != nil {
			b.Fatal(err)
		}
		var inLo int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM messages WHERE id >= $1 AND id < $2`, ids.Lower(ids.Message, lo), ids.Lower(ids.Message, hi)).Scan(&inLo); err != nil {
			b.Fatal(err)
		}
		if inLo != n {
			b.Fatalf("%d of %d prefilled messages are in the partition", inLo, n)
		}
		if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}

		type sample struct {
			start time.Time
			took  time.Duration
		}
		var samples []sample
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					done <- nil
					return
				case <-tick.C:
				}
				m := &store.Message{ID: ids.At(ids.Message, hi.Add(time.Minute)), AppID: appID, EventType: "invoice.paid", Payload: benchPayload,
					CreatedAt: store.Truncate(time.Now())}
				start := time.Now()
				if _, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}}); err != nil {
					done <- err
					return
				}
				samples = append(samples, sample{start, time.Since(start)})
			}
		}()
		time.Sleep(time.Second) // inserts before the drop, for the median
		b.StartTimer()
		start := time.Now()
		deleted, _, err := s.DeleteHistory(ctx, store.DeleteHistoryParams{Before: hi, Limit: 100})
		end := time.Now()
		b.StopTimer()
		if err != nil || deleted != n {
			b.Fatalf("drop: deleted %d of %d, %v", deleted, n, err)
		}
		time.Sleep(time.Second)
		close(stop)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		dropMs = float64(end.Sub(start).Microseconds()) / 1000
		worstMs = 0
		for _, x := range samples {
			if x.start.Add(x.took).After(start) && x.start.Before(end) {
				worstMs = max(worstMs, float64(x.took.Microseconds())/1000)
			} else {
				quiet = append(quiet, x.took)
			}
		}
		b.StartTimer()
	}
	slices.Sort(quiet)
	b.ReportMetric(dropMs, "drop-ms")
	b.ReportMetric(worstMs, "insert-max-ms")
	if len(quiet) > 0 {
		b.ReportMetric(float64(quiet[len(quiet)/2].Microseconds())/1000, "insert-p50-ms")
	}
}

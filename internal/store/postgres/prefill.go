package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// prefillBatch is the messages one Prefill transaction writes.
const prefillBatch = 50000

// Prefill writes p.Messages delivered messages, each with its delivery and
// its one successful attempt, with COPY, in transactions of prefillBatch
// messages. It is for herald bench --prefill: a large store in minutes.
func (s *Store) Prefill(ctx context.Context, p store.PrefillParams) error {
	err := p.Batches(prefillBatch, func(from, to int) error {
		msgs := make([][]any, 0, to-from)
		dels := make([][]any, 0, to-from)
		atts := make([][]any, 0, to-from)
		for i := from; i < to; i++ {
			r := p.Row(i)
			var expires any
			if !r.PayloadExpiresAt.IsZero() {
				expires = r.PayloadExpiresAt
			}
			msgs = append(msgs, []any{r.MsgID, p.AppID, p.EventType, p.Payload, expires, r.At})
			dels = append(dels, []any{r.MsgID, p.EndpointID, p.AppID, int16(store.StatusSuccess), int32(1), r.AttemptAt, int32(200), r.At, r.AttemptAt})
			atts = append(atts, []any{r.AttemptID, p.AppID, r.MsgID, p.EndpointID, p.URL, int16(store.StatusSuccess), int32(200), int64(3),
				int16(store.TriggerScheduled), p.EventType, r.AttemptAt})
		}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			for _, c := range []struct {
				table string
				cols  []string
				rows  [][]any
			}{
				{"messages", []string{"id", "app_id", "event_type", "payload", "payload_expires_at", "created_at"}, msgs},
				{"deliveries", []string{"msg_id", "endpoint_id", "app_id", "status", "attempts", "last_attempt_at", "last_status_code",
					"created_at", "updated_at"}, dels},
				{"attempts", []string{"id", "app_id", "msg_id", "endpoint_id", "url", "status", "status_code", "duration_ms",
					"trigger_type", "event_type", "created_at"}, atts},
			} {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
					return fmt.Errorf("copy %s: %w", c.table, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	return nil
}

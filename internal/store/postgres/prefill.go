package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// prefillBatch is the messages one Prefill transaction writes.
const prefillBatch = 50000

// Prefill writes p.Messages delivered messages, each with its delivery and
// its one successful attempt, with COPY, in transactions of prefillBatch
// messages. It is for herald bench --prefill: a large store in minutes.
func (s *Store) Prefill(ctx context.Context, p store.PrefillParams) error {
	for done := 0; done < p.Messages; {
		n := min(prefillBatch, p.Messages-done)
		msgs := make([][]any, 0, n)
		dels := make([][]any, 0, n)
		atts := make([][]any, 0, n)
		for i := done; i < done+n; i++ {
			at := p.At(i)
			sent := at.Add(store.PrefillAttemptDelay)
			msgID, attID := ids.NewAt(ids.Message, at), ids.NewAt(ids.Attempt, at)
			var expires any
			if t, ok := p.PayloadExpiresAt(at); ok {
				expires = t
			}
			msgs = append(msgs, []any{msgID, p.AppID, p.EventType, p.Payload, expires, at})
			dels = append(dels, []any{msgID, p.EndpointID, p.AppID, int16(store.StatusSuccess), int32(1), sent, int32(200), at, sent})
			atts = append(atts, []any{attID, p.AppID, msgID, p.EndpointID, p.URL, int16(store.StatusSuccess), int32(200), int64(3),
				int16(store.TriggerScheduled), p.EventType, sent})
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
		done += n
		if p.Progress != nil {
			p.Progress(done)
		}
	}
	return nil
}

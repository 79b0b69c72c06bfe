package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
)

// prefillBatch is the messages one Prefill transaction writes.
const prefillBatch = 20000

// Prefill writes p.Messages delivered messages, each with its delivery and
// its one successful attempt, in transactions of prefillBatch messages
// through the store's writer (so that a running server's writes wait their
// turn). It is for herald bench --prefill: a large store in minutes.
func (s *Store) Prefill(ctx context.Context, p store.PrefillParams) error {
	err := p.Batches(prefillBatch, func(from, to int) error {
		return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			msg, err := tx.PrepareContext(ctx, `INSERT INTO messages (id, app_id, event_type, payload, payload_expires_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer msg.Close()
			// Status 0 is success; trigger type 0 scheduled.
			del, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts,
					last_attempt_at, last_status_code, created_at, updated_at)
				VALUES (?1, ?2, ?3, 0, 1, ?4, 200, ?5, ?4)`)
			if err != nil {
				return err
			}
			defer del.Close()
			att, err := tx.PrepareContext(ctx, `INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code,
					duration_ms, trigger_type, event_type, created_at)
				VALUES (?, ?, ?, ?, ?, 0, 200, 3, 0, ?, ?)`)
			if err != nil {
				return err
			}
			defer att.Close()
			for i := from; i < to; i++ {
				r := p.Row(i)
				if _, err := msg.ExecContext(ctx, r.MsgID, p.AppID, p.EventType, p.Payload, ts(r.PayloadExpiresAt), tsv(r.At)); err != nil {
					return err
				}
				if _, err := del.ExecContext(ctx, r.MsgID, p.EndpointID, p.AppID, tsv(r.AttemptAt), tsv(r.At)); err != nil {
					return err
				}
				if _, err := att.ExecContext(ctx, r.AttemptID, p.AppID, r.MsgID, p.EndpointID, p.URL, p.EventType, tsv(r.AttemptAt)); err != nil {
					return err
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

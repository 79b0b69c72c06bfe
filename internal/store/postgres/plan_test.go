package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// TestQueryPlans checks that every hot-path and list query can be answered
// from an index. Sequential scans are disabled for the session, so a plan
// that still scans one of Herald's tables is one no index can serve (on
// small tables the planner would otherwise prefer scans anyway).
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t), WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	page := store.Page{Limit: 50, After: "msg_x", Desc: true}
	status := store.StatusSending
	class := 500
	lists := map[string]*storesql.Query{
		"list messages": storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "app_x", Page: page, Channel: "c",
			EventTypes: []string{"a"}, After: now, Before: now}),
		"list endpoint messages": storesql.EndpointMessages(dialect, store.ListEndpointMessagesParams{AppID: "app_x", EndpointID: "ep_x",
			Page: page, Status: &status, EventTypes: []string{"a"}, After: now}),
		"list attempts by endpoint": storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "app_x", EndpointID: "ep_x", Page: page,
			StatusCodeClass: &class, Channel: "c", After: now}),
		"list attempts by message": storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "app_x", MsgID: "msg_x", Page: page}),
		"destinations":             destinationsQuery("app_x", "msg_x", page),
		"recover":                  recoverQuery(store.RecoverParams{AppID: "app_x", EndpointID: "ep_x", Since: now, AfterMsgID: "msg_x", Limit: 100, Now: now}),
		"stats":                    storesql.EndpointStats(dialect, store.EndpointStatsParams{EndpointID: "ep_x", Since: now, Until: now}),
		"stats, all time":          storesql.EndpointStats(dialect, store.EndpointStatsParams{EndpointID: "ep_x", Since: time.Time{}, Until: time.Time{}}),
		"get event types":          storesql.GetEventTypes(dialect, []string{"a", "b"}),
		"list messages by tag": storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "app_x", Page: page, Tag: "t", Channel: "c",
			After: now, Last: "msg_a"}),
		"list endpoint messages by tag": storesql.EndpointMessages(dialect, store.ListEndpointMessagesParams{AppID: "app_x", EndpointID: "ep_x",
			Page: page, Tag: "t"}),
		"list attempts by tag": storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "app_x", EndpointID: "ep_x", Page: page, Tag: "t"}),
	}
	ids, lease := []string{"msg_x"}, []int64{1}
	stmts := map[string]struct {
		sql  string
		args []any
	}{
		"claim first attempts": {sqlClaimFirst, []any{now, []string{"ep_y"}, 100, now, int64(1), now.Add(-time.Minute)}},
		"claim retries":        {sqlClaimRetry, []any{now, []string{}, 100, now, int64(1), time.Time{}}},
		"claim parked":         {sqlClaimParked, []any{now, []string{"ep_y"}, 100, now, int64(1), 128}},
		"batch endpoints":      {sqlBatchEndpoints, []any{[]string{"app_x"}}},
		"get message":          {sqlGetMessage, []any{"app_x", "msg_x"}},
		"get app":              {sqlGetApp, []any{"app_x"}},
		"get endpoint":         {sqlGetEndpoint, []any{"app_x", "ep_x"}},
		"complete":             {sqlCompleteDeliveries, []any{ids, []string{"ep_x"}, lease, []int16{0}, []time.Time{now}, []bool{true}, []time.Time{now}, []int32{200}}},
		"insert attempts": {sqlInsertAttempts, []any{[]string{"atmpt_x"}, []string{"app_x"}, ids, []string{"ep_x"}, []string{"u"},
			[]int16{0}, []int32{200}, []string{""}, []int64{1}, []int16{0}, []string{"e"}, []time.Time{now}}},
		"failing since":      {sqlFailing, []any{[]string{"ep_x"}, []time.Time{now}, []bool{false}}},
		"claim task":         {sqlClaimTask, []any{now, now}},
		"expire idempotency": {sqlExpireIdempotency, []any{now, 1000}},
		"expire payloads":    {sqlExpirePayloads, []any{now, 1000}},
		"delete history":     {sqlDeleteHistory, []any{now, now.Add(-time.Hour), 100, 1000}},
		"lock sequences":     {sqlLockSequences, []any{[]string{"ep_x"}, []string{"k"}}},
		"lock completed":     {sqlLockCompletedSequences, []any{ids, []string{"ep_x"}}},
		"next blocked":       {sqlNextBlocked, []any{[]string{"ep_x"}, []string{"k"}}},
		"next completed":     {sqlNextBlockedCompleted, []any{ids, []string{"ep_x"}}},
		"promote":            {sqlPromote, []any{ids, []string{"ep_x"}, []time.Time{now}}},
		"put sequences":      {sqlPutSequences, []any{[]string{"ep_x"}, []string{"k"}, []string{"msg_x"}, []int64{1}}},
		"delete sequences":   {sqlDeleteSequences, []any{[]string{"ep_x"}, []string{"k"}}},
	}
	// The drop's check of a partition, and the insert's look-up of an
	// event id in every partition.
	var suffix string
	if err := conn.QueryRow(ctx, `SELECT suffix FROM history_partitions WHERE lo IS NOT NULL ORDER BY hi LIMIT 1`).Scan(&suffix); err != nil {
		t.Fatal(err)
	}
	stmts["partition busy"] = struct {
		sql  string
		args []any
	}{fmt.Sprintf(sqlPartitionBusy, "deliveries_"+suffix), nil}
	stmts["event id taken"] = struct {
		sql  string
		args []any
	}{`SELECT 1 FROM messages AS x WHERE x.app_id = $1 AND x.event_id = $2`, []any{"app_x", "e"}}
	for name, q := range lists {
		stmts[name] = struct {
			sql  string
			args []any
		}{q.String(), q.Args()}
	}
	// The history tables' partitions (messages_old, messages_p...) count.
	scan := regexp.MustCompile(`Seq Scan on ((messages|deliveries|attempts|message_tags)(_old|_p[0-9t]+)?|apps|endpoints|event_types|tasks|tokens|idempotency|fifo_sequences)\b`)
	for name, st := range stmts {
		rows, err := conn.Query(ctx, "EXPLAIN "+st.sql, st.args...)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if m := scan.FindString(plan.String()); m != "" {
			t.Errorf("%s: %s; no index serves it:\n%s", name, m, plan.String())
		}
		// An app's messages in a partition are not walked for an event
		// id: each partition made ahead has an index of them.
		if name == "event id taken" && !strings.Contains(plan.String(), "messages_"+suffix+"_event_id") {
			t.Errorf("%s: the partition's event id index is not used:\n%s", name, plan.String())
		}
	}
}

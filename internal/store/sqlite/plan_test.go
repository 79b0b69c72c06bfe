package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// TestQueryPlans pins that the hot-path and list queries are index searches:
// none scans a table (json_each, the virtual table of a bound list, is
// fine), and only lookups of a row or two sort.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	desc := store.Page{Desc: true, After: "x", Limit: 10}
	code := 500
	st := store.StatusFail
	queries := map[string]*query{
		"claim first":      {args: []any{1, 0, "[]", 10}},
		"claim retry":      {args: []any{1, 0, "[]", 10}},
		"mark claimed":     {args: []any{1, 1, 1, "m", "e"}},
		"insert attempt":   {args: []any{"a", "b", "c", "d", "e", 1, 1, "r", 1, 1, "e", 1}},
		"complete":         {args: []any{1, 1, 1, 1, 1, "m", "e", 1}},
		"list messages":    listMessagesQuery(store.ListMessagesParams{AppID: "a", Page: desc, Channel: "c", EventTypes: []string{"x"}, Before: now, After: now}),
		"endpoint msgs":    endpointMessagesQuery(store.ListEndpointMessagesParams{AppID: "a", EndpointID: "e", Page: desc, Channel: "c", EventTypes: []string{"x"}, Status: &st, Before: now, After: now}),
		"attempts by ep":   listAttemptsQuery(store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Status: &st, StatusCodeClass: &code, EventTypes: []string{"x"}, Channel: "c", Before: now, After: now}),
		"attempts by msg":  listAttemptsQuery(store.ListAttemptsParams{AppID: "a", MsgID: "m", Page: desc}),
		"recover":          recoverQuery(store.RecoverParams{AppID: "a", EndpointID: "e", Since: now, Until: now, AfterMsgID: "m", Now: now}),
		"stats":            statsQuery("e", now, now),
		"stats, all time":  statsQuery("e", time.Time{}, time.Time{}),
		"get event types":  getEventTypesQuery([]string{"a", "b"}),
		"claim task":       {args: []any{1, 1}},
		"delete expired":   {args: []any{1, 1}},
		"delete endpoint":  {args: []any{"e", "a"}},
		"delete app":       {args: []any{"a"}},
		"get app":          {args: []any{"a"}},
		"get message":      {args: []any{"a", "m"}},
		"get attempt":      {args: []any{"x", "m", "a"}},
		"app endpoints":    {args: []any{"a"}},
		"destinations":     {args: []any{"m", "a", "e", 10}},
		"expire idem keys": {args: []any{1, 1}},
		"msgs by status":   listMessagesQuery(store.ListMessagesParams{AppID: "a", Page: desc, Status: &st}),
		"failed attempts":  listAttemptsQuery(store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Status: &st}),
		"expire tokens":    {args: []any{1, 1}},
		"expire stats":     {args: []any{1, 1}},
		"add stats":        {args: []any{"e", 1, 1, 1}},
		"endpoint hours":   {args: []any{`["e"]`, 1}},
		"failing eps":      {args: []any{"e", 10}},
		"count since":      {args: []any{"a", 1, "m", 10}},
		"nth message":      nth("id", "messages WHERE app_id = ?", store.Page{Desc: true, After: "m"}, 5000, "a"),
		"nth attempt":      nth("id", "attempts WHERE endpoint_id = ?", store.Page{Desc: true, After: "a"}, 5000, "e"),
		"msgs in a window": listMessagesQuery(store.ListMessagesParams{AppID: "a", Page: desc, Channel: "c", Last: "m"}),
		"msgs by tag":      listMessagesQuery(store.ListMessagesParams{AppID: "a", Page: desc, Tag: "t", Channel: "c", After: now, Last: "m"}),
		"ep msgs by tag":   endpointMessagesQuery(store.ListEndpointMessagesParams{AppID: "a", EndpointID: "e", Page: desc, Tag: "t"}),
		"attempts by tag":  listAttemptsQuery(store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Tag: "t"}),
		"get sequence":     {args: []any{"e", "k"}},
		"next blocked":     {args: []any{"e", "k"}},
		"promote":          {args: []any{1, "m", "e"}},
		"delivery seq":     {args: []any{"m", "e"}},
		"recover ordered": func() *query {
			q := &query{}
			recoverPage(q, store.RecoverParams{AppID: "a", EndpointID: "e", Since: now, AfterMsgID: "m"}, "d.msg_id")
			return q
		}(),
	}
	raw := map[string]string{
		"claim first":      sqlClaimFirst,
		"claim retry":      sqlClaimRetry,
		"mark claimed":     sqlMarkClaimed,
		"insert attempt":   sqlInsertAttempt,
		"complete":         sqlCompleteDelivery,
		"claim task":       sqlClaimTask,
		"delete expired":   sqlExpirePayloads,
		"expire idem keys": sqlExpireIdempotency,
		"delete endpoint":  `DELETE FROM endpoints WHERE id = ? AND app_id = ?`,
		"delete app":       `DELETE FROM apps WHERE id = ?`,
		"get app":          sqlGetApp,
		"get message":      sqlGetMessage,
		"get attempt":      sqlGetAttempt,
		"app endpoints":    sqlAppEndpoints,
		"destinations":     sqlDestinations + ` AND d.endpoint_id > ? ORDER BY d.endpoint_id LIMIT ?`,
		"expire tokens":    sqlExpireTokens,
		"expire stats":     sqlExpireStats,
		"add stats":        sqlAddStats,
		"endpoint hours":   sqlEndpointHours,
		"failing eps":      sqlFailingEndpoints + ` AND e.id > ? ORDER BY e.id LIMIT ?`,
		"count since":      `SELECT count(*) FROM (SELECT 1 FROM messages AS m WHERE m.app_id = ? AND m.created_at >= ? AND m.id >= ? LIMIT ?)`,
		"get sequence":     sqlGetSequence,
		"next blocked":     sqlNextBlocked,
		"promote":          sqlPromote,
		"delivery seq":     sqlDeliverySeq,
	}
	sorts := map[string]bool{"get app": true, "get message": true}
	// Claiming a task walks the partial index of running tasks in order.
	// A bounded count reads its subquery's rows, at most the bound.
	scans := map[string]bool{"claim task": true, "count since": true}
	for name, q := range queries {
		text := q.String()
		if text == "" {
			text = raw[name]
		}
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+text, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if name == "failed attempts" && !strings.Contains(strings.Join(plan, "\n"), "attempts_endpoint_failed") {
			t.Errorf("failed attempts do not use their index:\n  %s", strings.Join(plan, "\n  "))
		}
		for _, step := range plan {
			scan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE") && !scans[name]
			sort := strings.HasPrefix(step, "USE TEMP B-TREE") && !sorts[name]
			if scan || sort {
				t.Errorf("%s: plan step %q in:\n  %s", name, step, strings.Join(plan, "\n  "))
			}
		}
	}
}

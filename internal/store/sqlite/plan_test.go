package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
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
	// raw is the arguments of a statement of the raw map below.
	raw := func(args ...any) *storesql.Query {
		q := storesql.New(dialect)
		q.Add("", args...)
		return q
	}
	queries := map[string]*storesql.Query{
		"claim first":      raw([]any{1, 0, "[]", 10}...),
		"claim retry":      raw([]any{1, 0, "[]", 10}...),
		"mark claimed":     raw([]any{1, 1, 1, "m", "e"}...),
		"insert attempt":   raw([]any{"a", "b", "c", "d", "e", 1, 1, "r", 1, 1, "e", 1}...),
		"complete":         raw([]any{1, 1, 1, 1, 1, "m", "e", 1}...),
		"list messages":    storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "a", Page: desc, Channel: "c", EventTypes: []string{"x"}, Before: now, After: now}),
		"endpoint msgs":    storesql.EndpointMessages(dialect, store.ListEndpointMessagesParams{AppID: "a", EndpointID: "e", Page: desc, Channel: "c", EventTypes: []string{"x"}, Status: &st, Before: now, After: now}),
		"attempts by ep":   storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Status: &st, StatusCodeClass: &code, EventTypes: []string{"x"}, Channel: "c", Before: now, After: now}),
		"attempts by msg":  storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "a", MsgID: "m", Page: desc}),
		"recover":          recoverQuery(store.RecoverParams{AppID: "a", EndpointID: "e", Since: now, Until: now, AfterMsgID: "m", Now: now}),
		"stats":            storesql.EndpointStats(dialect, store.EndpointStatsParams{EndpointID: "e", Since: now, Until: now}),
		"stats, all time":  storesql.EndpointStats(dialect, store.EndpointStatsParams{EndpointID: "e", Since: time.Time{}, Until: time.Time{}}),
		"get event types":  storesql.GetEventTypes(dialect, []string{"a", "b"}),
		"claim task":       raw([]any{1, 1}...),
		"delete expired":   raw([]any{1, 1}...),
		"delete endpoint":  raw([]any{"e", "a"}...),
		"delete app":       raw([]any{"a"}...),
		"get app":          raw([]any{"a"}...),
		"get message":      raw([]any{"a", "m"}...),
		"get attempt":      raw([]any{"x", "m", "a"}...),
		"app endpoints":    raw([]any{"a"}...),
		"destinations":     raw([]any{"m", "a", "e", 10}...),
		"expire idem keys": raw([]any{1, 1}...),
		"msgs by status":   storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "a", Page: desc, Status: &st}),
		"failed attempts":  storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Status: &st}),
		"expire tokens":    raw([]any{1, 1}...),
		"expire stats":     raw([]any{1, 1}...),
		"add stats":        raw([]any{"e", 1, 1, 1}...),
		"endpoint hours":   raw([]any{`["e"]`, 1}...),
		"failing eps":      raw([]any{"e", 10}...),
		"count since":      raw([]any{"a", 1, "m", 10}...),
		"nth message":      storesql.Nth(dialect, "id", "messages WHERE app_id = ?", store.Page{Desc: true, After: "m"}, 5000, "a"),
		"nth attempt":      storesql.Nth(dialect, "id", "attempts WHERE endpoint_id = ?", store.Page{Desc: true, After: "a"}, 5000, "e"),
		"msgs in a window": storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "a", Page: desc, Channel: "c", Last: "m"}),
		"msgs by tag":      storesql.ListMessages(dialect, store.ListMessagesParams{AppID: "a", Page: desc, Tag: "t", Channel: "c", After: now, Last: "m"}),
		"ep msgs by tag":   storesql.EndpointMessages(dialect, store.ListEndpointMessagesParams{AppID: "a", EndpointID: "e", Page: desc, Tag: "t"}),
		"attempts by tag":  storesql.ListAttempts(dialect, store.ListAttemptsParams{AppID: "a", EndpointID: "e", Page: desc, Tag: "t"}),
		"get sequence":     raw([]any{"e", "k"}...),
		"next blocked":     raw([]any{"e", "k"}...),
		"promote":          raw([]any{1, "m", "e"}...),
		"delivery seq":     raw([]any{"m", "e"}...),
		"history page":     raw([]any{1, 0, 10}...),
		"delete messages":  raw([]any{"[1, 2]"}...),
		"recover ordered": func() *storesql.Query {
			q := storesql.New(dialect)
			q.RecoverPage(store.RecoverParams{AppID: "a", EndpointID: "e", Since: now, AfterMsgID: "m"}, "d.msg_id", "")
			return q
		}(),
	}
	rawSQL := map[string]string{
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
		"history page":     sqlHistoryPage,
		"delete messages":  sqlDeleteMessages,
	}
	sorts := map[string]bool{"get app": true, "get message": true}
	// Claiming a task walks the partial index of running tasks in order.
	// A bounded count reads its subquery's rows, at most the bound.
	scans := map[string]bool{"claim task": true, "count since": true}
	for name, q := range queries {
		text := q.String()
		if text == "" {
			text = rawSQL[name]
		}
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+text, q.Args()...)
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

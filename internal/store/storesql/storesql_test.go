package storesql

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

func TestQueryDialects(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	build := func(d Dialect) *Query {
		q := New(d)
		q.Add(`SELECT id FROM messages AS m WHERE m.app_id = ?`, "app_1")
		q.Add(` AND `+d.Holds("m.channels"), "eu")
		q.Add(` AND `+d.In("m.event_type"), d.List([]string{"a", "b"}))
		q.Since("m.created_at", "m.id", ids.Message, at, true)
		q.Before("m.created_at", at)
		q.Last("m.id", store.Page{Desc: true}, "msg_last")
		q.Page("m.id", store.Page{Desc: true, After: "msg_after", Limit: 10})
		return q
	}
	lower := ids.Lower(ids.Message, at.Add(-IDSkew))
	for _, c := range []struct {
		d    Dialect
		sql  string
		args []any
	}{
		{SQLite,
			`SELECT id FROM messages AS m WHERE m.app_id = ? AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?)` +
				` AND m.event_type IN (SELECT value FROM json_each(?)) AND m.created_at > ? AND m.id >= ? AND m.created_at < ?` +
				` AND m.id >= ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
			[]any{"app_1", "eu", `["a","b"]`, at.UnixMicro(), lower, at.UnixMicro(), "msg_last", "msg_after", 10}},
		{PostgreSQL,
			`SELECT id FROM messages AS m WHERE m.app_id = $1 AND $2 = ANY(m.channels) AND m.event_type = ANY($3)` +
				` AND m.created_at > $4 AND m.id >= $5 AND m.created_at < $6 AND m.id >= $7 AND m.id < $8 ORDER BY m.id DESC LIMIT $9`,
			[]any{"app_1", "eu", []string{"a", "b"}, at, lower, at, "msg_last", "msg_after", 10}},
	} {
		q := build(c.d)
		if q.String() != c.sql {
			t.Errorf("dialect %d:\n got %s\nwant %s", c.d, q.String(), c.sql)
		}
		if !reflect.DeepEqual(q.Args(), c.args) {
			t.Errorf("dialect %d: args %#v, want %#v", c.d, q.Args(), c.args)
		}
	}
}

func TestQueryPageAndNth(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		q    *Query
		sql  string
		args []any
	}{
		{"first page ascending, default limit", func() *Query { q := New(PostgreSQL); q.Page("id", store.Page{}); return q }(),
			` ORDER BY id LIMIT $1`, []any{50}},
		{"next page ascending", func() *Query { q := New(SQLite); q.Page("id", store.Page{After: "x", Limit: 5}); return q }(),
			` AND id > ? ORDER BY id LIMIT ?`, []any{"x", 5}},
		{"last bound ascending", func() *Query { q := New(PostgreSQL); q.Last("id", store.Page{}, "z"); return q }(),
			` AND id <= $1`, []any{"z"}},
		{"no last bound", func() *Query { q := New(PostgreSQL); q.Last("id", store.Page{}, ""); return q }(), ``, nil},
		{"no time bounds", func() *Query {
			q := New(PostgreSQL)
			q.Since("c", "id", ids.Message, time.Time{}, false)
			q.Before("c", time.Time{})
			return q
		}(), ``, nil},
		{"nth descending", Nth(PostgreSQL, "id", "messages WHERE app_id = ?", store.Page{Desc: true, After: "m"}, 3, "a"),
			`SELECT id FROM messages WHERE app_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1 OFFSET $3`, []any{"a", "m", 2}},
		{"nth first", Nth(SQLite, "id", "attempts WHERE endpoint_id = ?", store.Page{}, 0, "e"),
			`SELECT id FROM attempts WHERE endpoint_id = ? ORDER BY id LIMIT 1 OFFSET ?`, []any{"e", 0}},
	} {
		if c.q.String() != c.sql || !reflect.DeepEqual(c.q.Args(), c.args) {
			t.Errorf("%s: %q %#v, want %q %#v", c.name, c.q.String(), c.q.Args(), c.sql, c.args)
		}
	}
}

func TestAddPanicsOnExtraArguments(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("PostgreSQL: an argument without a placeholder did not panic")
		}
	}()
	New(PostgreSQL).Add(`SELECT 1 WHERE a = ?`, 1, 2)
}

func TestLists(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    Dialect
		l    []string
		want any
	}{
		{SQLite, nil, "[]"},
		{SQLite, []string{`a"b`}, `["a\"b"]`},
		{PostgreSQL, nil, []string{}},
		{PostgreSQL, []string{"a"}, []string{"a"}},
	} {
		if got := c.d.List(c.l); !reflect.DeepEqual(got, c.want) {
			t.Errorf("dialect %d: List(%q) = %#v, want %#v", c.d, c.l, got, c.want)
		}
	}
	if got := SQLite.MsgCols(false); got != msgColsHead+`NULL`+msgColsTail {
		t.Errorf("SQLite MsgCols(false) = %s", got)
	}
	if got := PostgreSQL.MsgCols(false); got != msgColsHead+`NULL::bytea`+msgColsTail {
		t.Errorf("PostgreSQL MsgCols(false) = %s", got)
	}
}

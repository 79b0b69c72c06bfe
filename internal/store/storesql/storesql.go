// Package storesql builds the statements whose shape varies (lists, their
// pages and filters) once, for both SQL drivers: a Query is written with "?"
// placeholders and constant fragments, and a Dialect turns it into SQLite's
// or PostgreSQL's text and arguments (placeholders, times, lists and
// arrays). Only the shape of a statement varies; values are always bound.
// The drivers import it; it imports neither.
package storesql

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// Dialect is the SQL of one driver.
type Dialect int

// Dialects.
const (
	// SQLite binds "?" as written, stores times as unix microseconds and
	// lists (message channels, bound lists) as JSON arrays.
	SQLite Dialect = iota
	// PostgreSQL numbers placeholders $1, $2..., binds times as they are,
	// and stores lists as arrays.
	PostgreSQL
)

// Time is t as d binds it.
func (d Dialect) Time(t time.Time) any {
	if d == SQLite {
		return t.UnixMicro()
	}
	return t
}

// List is l as d binds a list for In: never NULL, empty for nil.
func (d Dialect) List(l []string) any {
	if d == SQLite {
		if len(l) == 0 {
			return "[]"
		}
		b, _ := json.Marshal(l)
		return string(b)
	}
	if l == nil {
		return []string{}
	}
	return l
}

// JoinMessage joins, as m, the message of each row of alias (a delivery,
// an attempt or a tag: its app_id and msg_id). On PostgreSQL it is a
// LATERAL look-up the planner cannot turn around: a page reads alias's rows
// in its index's order and looks each message up by its key. With a plain
// join the planner may walk the app's messages instead and hold all of
// alias's rows in memory to match them, which it picks when its statistics
// do not know an endpoint yet (63 ms for a page of an endpoint of 12,000
// deliveries, TestStaleStatisticsReadAPageNotAllRows).
func (d Dialect) JoinMessage(alias string) string {
	on := `m.app_id = ` + alias + `.app_id AND m.id = ` + alias + `.msg_id`
	if d == SQLite {
		return `JOIN messages AS m ON ` + on
	}
	return `CROSS JOIN LATERAL (SELECT * FROM messages AS m WHERE ` + on + ` LIMIT 1) AS m`
}

// In is the condition "expr is in the list bound to its one placeholder"
// (bind the list with List).
func (d Dialect) In(expr string) string {
	if d == SQLite {
		return expr + ` IN (SELECT value FROM json_each(?))`
	}
	return expr + ` = ANY(?)`
}

// Holds is the condition "the list column col holds the value bound to its
// one placeholder".
func (d Dialect) Holds(col string) string {
	if d == SQLite {
		return `EXISTS (SELECT 1 FROM json_each(` + col + `) WHERE value = ?)`
	}
	return `? = ANY(` + col + `)`
}

// Query is a statement assembled from constant fragments, with "?"
// placeholders, and their arguments.
type Query struct {
	d    Dialect
	sb   strings.Builder
	args []any
}

// New returns an empty query in d.
func New(d Dialect) *Query { return &Query{d: d} }

// Dialect returns q's dialect.
func (q *Query) Dialect() Dialect { return q.d }

// Add appends frag, whose "?" placeholders take args in order. In
// PostgreSQL they become $1, $2... (numbered across the whole query); a
// fragment with more arguments than placeholders panics. In SQLite they
// are written as they are (a fragment may also use ?NNN there).
func (q *Query) Add(frag string, args ...any) {
	if q.d == SQLite {
		q.sb.WriteString(frag)
		q.args = append(q.args, args...)
		return
	}
	for {
		i := strings.IndexByte(frag, '?')
		if i < 0 {
			break
		}
		q.sb.WriteString(frag[:i])
		q.sb.WriteString("$")
		q.sb.WriteString(strconv.Itoa(len(q.args) + 1))
		q.args = append(q.args, args[0])
		args = args[1:]
		frag = frag[i+1:]
	}
	q.sb.WriteString(frag)
	if len(args) != 0 {
		panic("storesql: more arguments than placeholders in " + frag)
	}
}

// String returns the statement's text.
func (q *Query) String() string { return q.sb.String() }

// Args returns the statement's arguments.
func (q *Query) Args() []any { return q.args }

// Limit is the number of rows a page of limit n returns: 50 when n is not
// positive.
func Limit(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}

// after appends the keyset condition of p on col.
func (q *Query) after(col string, p store.Page) {
	if p.After == "" {
		return
	}
	if p.Desc {
		q.Add(" AND "+col+" < ?", p.After)
	} else {
		q.Add(" AND "+col+" > ?", p.After)
	}
}

// order appends p's order on col.
func (q *Query) order(col string, p store.Page) {
	if p.Desc {
		q.Add(" ORDER BY " + col + " DESC")
	} else {
		q.Add(" ORDER BY " + col)
	}
}

// Page appends the keyset condition of p on col, the order and the limit.
func (q *Query) Page(col string, p store.Page) {
	q.after(col, p)
	q.order(col, p)
	q.Add(" LIMIT ?", Limit(p.Limit))
}

// Last appends the bound of a page's last row on col: inclusive, in the
// page's direction; nothing when id is "".
func (q *Query) Last(col string, p store.Page, id string) {
	if id == "" {
		return
	}
	if p.Desc {
		q.Add(" AND "+col+" >= ?", id)
	} else {
		q.Add(" AND "+col+" <= ?", id)
	}
}

// Nth returns the query of the n-th key of col in p's order (p.Limit is
// ignored), from the rows that from selects: a "table WHERE condition"
// fragment with its arguments.
func Nth(d Dialect, col, from string, p store.Page, n int, args ...any) *Query {
	q := New(d)
	q.Add(`SELECT `+col+` FROM `+from, args...)
	q.after(col, p)
	q.order(col, p)
	q.Add(" LIMIT 1 OFFSET ?", max(n-1, 0))
	return q
}

// IDSkew is how much earlier than its row's created_at an id's time may be.
// Time filters compare created_at exactly; a lower time bound is also turned
// into a lower id bound (ids sort by time) so that the scan starts near the
// first row instead of at the oldest one. Ids are made at about CreatedAt,
// and ids.NewAt only ever moves an id's time later, so a minute of slack
// never drops a row.
const IDSkew = time.Minute

// Since appends "created_at >= t" (or "> t" when strict) on createdCol,
// narrowed by a lower bound on idCol, whose ids have prefix; nothing when t
// is zero.
func (q *Query) Since(createdCol, idCol, prefix string, t time.Time, strict bool) {
	if t.IsZero() {
		return
	}
	if strict {
		q.Add(" AND "+createdCol+" > ?", q.d.Time(t))
	} else {
		q.Add(" AND "+createdCol+" >= ?", q.d.Time(t))
	}
	q.Add(" AND "+idCol+" >= ?", ids.Lower(prefix, t.Add(-IDSkew)))
}

// Before appends "created_at < t" on createdCol; nothing when t is zero.
func (q *Query) Before(createdCol string, t time.Time) {
	if !t.IsZero() {
		q.Add(" AND "+createdCol+" < ?", q.d.Time(t))
	}
}

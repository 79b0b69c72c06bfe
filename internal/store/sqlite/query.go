package sqlite

import (
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// query assembles a statement from constant fragments and their arguments.
// Only the shape of a statement varies (which filters are present, the
// direction); values are always bound.
type query struct {
	sb   strings.Builder
	args []any
}

func (q *query) add(frag string, args ...any) {
	q.sb.WriteString(frag)
	q.args = append(q.args, args...)
}

func (q *query) String() string { return q.sb.String() }

// page appends the keyset condition on col, the order and the limit.
func (q *query) page(col string, p store.Page) {
	if p.After != "" {
		if p.Desc {
			q.add(" AND "+col+" < ?", p.After)
		} else {
			q.add(" AND "+col+" > ?", p.After)
		}
	}
	if p.Desc {
		q.add(" ORDER BY " + col + " DESC")
	} else {
		q.add(" ORDER BY " + col)
	}
	q.add(" LIMIT ?", limit(p.Limit))
}

// idSkew is how much earlier than its row's created_at an id's time may be.
// Time filters compare created_at exactly; a lower time bound is also turned
// into a lower id bound (ids sort by time) so that the scan starts near the
// first row instead of at the oldest one. Ids are made at about CreatedAt,
// and ids.NewAt only ever moves an id's time later, so a minute of slack
// never drops a row.
const idSkew = time.Minute

// since appends "created_at >= t" (or "> t" when strict) on the created
// column, narrowed by a lower bound on the id column.
func (q *query) since(createdCol, idCol, prefix string, t time.Time, strict bool) {
	if t.IsZero() {
		return
	}
	if strict {
		q.add(" AND "+createdCol+" > ?", tsv(t))
	} else {
		q.add(" AND "+createdCol+" >= ?", tsv(t))
	}
	q.add(" AND "+idCol+" >= ?", ids.Lower(prefix, t.Add(-idSkew)))
}

// before appends "created_at < t".
func (q *query) before(createdCol string, t time.Time) {
	if !t.IsZero() {
		q.add(" AND "+createdCol+" < ?", tsv(t))
	}
}

// last appends the bound of a page's last row on col: inclusive, in the
// page's direction.
func last(q *query, col string, p store.Page, id string) {
	if id == "" {
		return
	}
	if p.Desc {
		q.add(" AND "+col+" >= ?", id)
	} else {
		q.add(" AND "+col+" <= ?", id)
	}
}

// nth returns the query of the n-th key of col in p's order, from the rows
// that where selects (a fragment with its arguments).
func nth(col, from string, p store.Page, n int, args ...any) *query {
	q := &query{}
	q.add(`SELECT `+col+` FROM `+from, args...)
	if p.After != "" {
		if p.Desc {
			q.add(" AND "+col+" < ?", p.After)
		} else {
			q.add(" AND "+col+" > ?", p.After)
		}
	}
	if p.Desc {
		q.add(" ORDER BY " + col + " DESC")
	} else {
		q.add(" ORDER BY " + col)
	}
	q.add(" LIMIT 1 OFFSET ?", max(n-1, 0))
	return q
}

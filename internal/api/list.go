package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/store"
)

const (
	defaultLimit = 50
	maxLimit     = 250
)

// listResponse is the Svix list envelope.
type listResponse[T any] struct {
	Data         []T     `json:"data"`
	Iterator     *string `json:"iterator"`
	PrevIterator *string `json:"prevIterator,omitempty"`
	Done         bool    `json:"done"`
}

// listQuery is a parsed request for a page.
type listQuery struct {
	limit int
	// after is the iterator without its "-" prefix.
	after string
	// back is true for a "-" iterator: the page before it.
	back bool
	desc bool
}

// parseList reads limit, iterator and order. defaultDesc is the resource's
// default order; withOrder tells whether the resource takes `order`.
// validIter checks an iterator's shape (nil: any).
func parseList(q url.Values, defaultDesc, withOrder bool, validIter func(string) bool) (listQuery, error) {
	var v validator
	lq := listQuery{limit: defaultLimit, desc: defaultDesc}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n < 0:
			v.Add([]string{"query", "limit"}, "must be a non-negative integer", "type_error.integer")
		case n > maxLimit:
			v.Add([]string{"query", "limit"}, "Given limit must not exceed 250", "value_error")
		default:
			lq.limit = n
		}
	}
	if it := q.Get("iterator"); it != "" {
		lq.after, lq.back = strings.CutPrefix(it, "-")
		if validIter != nil && !validIter(lq.after) {
			v.Add([]string{"query", "iterator"}, "Invalid iterator", "value_error")
		}
	}
	if withOrder {
		switch q.Get("order") {
		case "":
		case "ascending":
			lq.desc = false
		case "descending":
			lq.desc = true
		default:
			v.Add([]string{"query", "order"}, "must be ascending or descending", "type_error.enum")
		}
	}
	return lq, v.Err()
}

// page returns the store page to fetch: one row more than the limit, in the
// walking direction.
func (lq listQuery) page() store.Page {
	desc := lq.desc
	if lq.back {
		desc = !desc
	}
	return store.Page{Limit: lq.limit + 1, After: lq.after, Desc: desc}
}

// finish builds the envelope from rows fetched with lq.page(); key gives a
// row's page key.
func finish[R, T any](lq listQuery, rows []R, key func(R) string, out func(R) T) listResponse[T] {
	more := len(rows) > lq.limit
	if more {
		rows = rows[:lq.limit]
	}
	if lq.back {
		slices.Reverse(rows)
	}
	resp := listResponse[T]{Data: make([]T, 0, len(rows)), Done: !more}
	for _, r := range rows {
		resp.Data = append(resp.Data, out(r))
	}
	if len(rows) > 0 {
		last := key(rows[len(rows)-1])
		first := "-" + key(rows[0])
		resp.Iterator = &last
		resp.PrevIterator = &first
	} else if lq.after != "" {
		// An empty page keeps the caller's place.
		it := lq.after
		if lq.back {
			it = "-" + it
		}
		resp.Iterator = &it
	}
	return resp
}

func writeList[T any](w http.ResponseWriter, resp listResponse[T]) error {
	writeJSON(w, http.StatusOK, resp)
	return nil
}

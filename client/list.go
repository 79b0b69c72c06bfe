package client

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"strconv"
)

// Order is the order of a list.
type Order string

// The orders a list may be asked for. Not every list takes one: see the
// list methods.
const (
	Ascending  Order = "ascending"
	Descending Order = "descending"
)

// ListOptions selects a page of a list. The zero value (or a nil pointer)
// asks for the first page of the server's default size (50).
type ListOptions struct {
	// Limit is the page size, at most 250. Zero means the server default.
	Limit int
	// Iterator continues a list: the Iterator of the previous page for the
	// next one, or its PrevIterator for the one before. Empty starts at
	// the beginning.
	Iterator string
	// Order is the order of applications and endpoints. Empty means the
	// server default: applications oldest first, endpoints newest first.
	// Other lists ignore it.
	Order Order
}

func (o *ListOptions) query() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Iterator != "" {
		q.Set("iterator", o.Iterator)
	}
	if o.Order != "" {
		q.Set("order", string(o.Order))
	}
	return q
}

// ListResponse is one page of a list.
type ListResponse[T any] struct {
	// Data holds the page's items.
	Data []T `json:"data"`
	// Iterator continues the list after this page (as
	// ListOptions.Iterator). Empty when the page is empty and was the
	// first.
	Iterator string `json:"iterator"`
	// PrevIterator leads to the page before this one. Empty when the page
	// is empty.
	PrevIterator string `json:"prevIterator,omitempty"`
	// Done is true when no page follows this one.
	Done bool `json:"done"`
}

// errNoProgress stops All when a server claims more pages without giving
// an iterator to reach them.
var errNoProgress = errors.New("client: list page is not done but has no iterator")

// All walks every page of a list, yielding each item in order, and stops
// at the first error, which it yields with the zero item. page fetches the
// page that iterator leads to (the first page for ""); it usually wraps a
// list method:
//
//	for app, err := range client.All(ctx, func(ctx context.Context, it string) (*client.ListResponse[client.App], error) {
//		return c.ListApps(ctx, &client.ListOptions{Iterator: it, Limit: 250})
//	}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(app.ID)
//	}
//
// Breaking out of the loop stops the walk without fetching more pages.
func All[T any](ctx context.Context, page func(ctx context.Context, iterator string) (*ListResponse[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		it := ""
		for {
			resp, err := page(ctx, it)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, item := range resp.Data {
				if !yield(item, nil) {
					return
				}
			}
			if resp.Done || len(resp.Data) == 0 {
				return
			}
			if resp.Iterator == "" || resp.Iterator == it {
				yield(zero, errNoProgress)
				return
			}
			it = resp.Iterator
		}
	}
}

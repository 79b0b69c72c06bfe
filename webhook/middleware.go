package webhook

import (
	"bytes"
	"container/list"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxBodyBytes is the request body limit of Handler when
// MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// DefaultDedupEntries is the number of message ids Handler remembers when
// Dedup is set and DedupEntries is zero.
const DefaultDedupEntries = 100_000

// Middleware returns a Handler that verifies every request with v before
// passing it to next, with the default body limit and no de-duplication.
// Use a Handler literal to change those.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return &Handler{Verifier: v, Next: next}
}

// Handler is net/http middleware for webhook receivers. It reads the
// request body, up to MaxBodyBytes, verifies it with Verifier and, if the
// message is authentic, calls Next with a request whose body holds the same
// bytes. It answers itself, with a short plain-text reason, when:
//
//   - the body is larger than MaxBodyBytes: 413 Request Entity Too Large;
//   - the body cannot be read: 400 Bad Request;
//   - verification fails: 401 Unauthorized;
//   - the verifier has no usable secret: 500 Internal Server Error.
//
// With Dedup set, it also drops repeated deliveries of a message (same
// webhook-id), as explained on the Dedup field.
//
// A Handler is safe for concurrent use. Its fields must not be changed once
// it serves requests, and it must not be copied after first use.
type Handler struct {
	// Verifier checks the requests. It must not be nil.
	Verifier *Verifier

	// Next handles the verified requests. It must not be nil.
	Next http.Handler

	// MaxBodyBytes is the largest request body accepted. Zero or negative
	// means DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64

	// Dedup turns on de-duplication by webhook-id. Once Next has answered a
	// message with a 2xx status, its id is remembered for the verifier's
	// tolerance after its timestamp (the time during which a replay of the
	// request would still pass verification), and a later request with the
	// same id is answered by Duplicate without calling Next. While Next is
	// still handling a message, another request with the same id is
	// answered 409 Conflict, so that the sender retries later. If Next
	// answers with any other status, or panics, the id is forgotten so that
	// the sender's retry is handled normally. The zero value, false, calls
	// Next for every authentic request.
	//
	// The memory is per Handler and per process: behind several replicas,
	// de-duplicate in the application too.
	Dedup bool

	// DedupEntries bounds how many ids are remembered; when full, the
	// oldest is forgotten. Zero or negative means DefaultDedupEntries.
	DedupEntries int

	// Duplicate answers requests Dedup drops. Nil means 200 OK with an
	// empty body, which tells the sender the message was delivered.
	Duplicate http.Handler

	seenOnce sync.Once
	seen     *dedupSet
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	src := r.Body
	if src == nil {
		src = http.NoBody
	}
	body, err := readBody(http.MaxBytesReader(w, src, limit), r.ContentLength)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}

	id, ts, err := h.Verifier.verifyHeader(r.Header, body)
	if err != nil {
		code, reason := rejection(err)
		http.Error(w, reason, code)
		return
	}

	// Handlers must not modify the request they are given, so pass on a
	// shallow copy carrying the body that was read.
	r2 := r.WithContext(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	r2.ContentLength = int64(len(body))

	if !h.Dedup {
		h.Next.ServeHTTP(w, r2)
		return
	}
	h.serveOnce(w, r2, id, ts)
}

// serveOnce calls Next unless the message id was seen before.
func (h *Handler) serveOnce(w http.ResponseWriter, r *http.Request, id string, ts int64) {
	h.seenOnce.Do(func() {
		n := h.DedupEntries
		if n <= 0 {
			n = DefaultDedupEntries
		}
		h.seen = newDedupSet(n)
	})
	now := h.Verifier.now()
	window := h.Verifier.tolerance()
	if window < 0 {
		window = DefaultTolerance
	}
	expires := time.Unix(ts, 0)
	if now.After(expires) {
		expires = now
	}
	expires = expires.Add(window)

	el, state := h.seen.begin(id, now, expires)
	switch state {
	case stateInFlight:
		http.Error(w, "delivery of this message is in progress", http.StatusConflict)
		return
	case stateDone:
		if h.Duplicate != nil {
			h.Duplicate.ServeHTTP(w, r)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		return
	}

	rec := &statusRecorder{ResponseWriter: w}
	ok := false
	defer func() { h.seen.finish(el, ok) }()
	h.Next.ServeHTTP(rec, r)
	// A handler that writes nothing answers 200.
	ok = rec.status == 0 || (rec.status >= 200 && rec.status < 300)
}

// rejection maps a verification error to a status code and a short reason
// that is safe to send back.
func rejection(err error) (code int, reason string) {
	switch {
	case errors.Is(err, ErrMissingHeaders):
		return http.StatusUnauthorized, "missing webhook headers"
	case errors.Is(err, ErrInvalidTimestamp):
		return http.StatusUnauthorized, "invalid webhook timestamp"
	case errors.Is(err, ErrTimestampTooOld):
		return http.StatusUnauthorized, "webhook timestamp too old"
	case errors.Is(err, ErrTimestampTooNew):
		return http.StatusUnauthorized, "webhook timestamp too new"
	case errors.Is(err, ErrInvalidSecret):
		return http.StatusInternalServerError, "webhook verifier misconfigured"
	default:
		return http.StatusUnauthorized, "invalid webhook signature"
	}
}

// maxPrealloc bounds the buffer readBody allocates before any byte has
// arrived, so that a large declared Content-Length costs nothing until the
// body is actually sent.
const maxPrealloc = 1 << 20

// readBody reads r to the end. sizeHint, the request's Content-Length (-1
// when unknown), sizes the buffer so that a body of declared length is read
// without copying.
func readBody(r io.Reader, sizeHint int64) ([]byte, error) {
	n := 512
	if sizeHint >= 0 {
		// One spare byte so that the read that returns io.EOF does not grow
		// the buffer.
		n = int(min(sizeHint, maxPrealloc)) + 1
	}
	b := make([]byte, 0, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// statusRecorder records the status code a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers that stream use http.Flusher through the recorder.
func (w *statusRecorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// dedupState is what a dedupSet knows about a message id.
type dedupState int

const (
	stateNew      dedupState = iota // Not seen: now in flight, the caller handles it.
	stateInFlight                   // Being handled by another request.
	stateDone                       // Handled successfully.
)

// dedupSet is a bounded set of message ids whose entries expire. Ids are
// kept in insertion order; expired entries are dropped from the front and,
// when the set is full, the oldest entry is evicted.
type dedupSet struct {
	mu    sync.Mutex
	max   int
	ids   map[string]*list.Element
	order list.List // Of *dedupEntry, oldest first.
}

type dedupEntry struct {
	id      string
	expires time.Time
	done    bool
}

func newDedupSet(max int) *dedupSet {
	return &dedupSet{max: max, ids: make(map[string]*list.Element)}
}

// begin looks id up at time now. If it is not present, it is added as in
// flight until expires and the returned element must be passed to finish.
func (d *dedupSet) begin(id string, now, expires time.Time) (*list.Element, dedupState) {
	d.mu.Lock()
	defer d.mu.Unlock()

	// Entries expire roughly in insertion order, so sweeping the front
	// keeps the set small; an expired entry further back is ignored below
	// and removed when met.
	for front := d.order.Front(); front != nil; front = d.order.Front() {
		if now.Before(front.Value.(*dedupEntry).expires) {
			break
		}
		d.remove(front)
	}
	if el, ok := d.ids[id]; ok {
		e := el.Value.(*dedupEntry)
		if now.Before(e.expires) {
			if e.done {
				return nil, stateDone
			}
			return nil, stateInFlight
		}
		d.remove(el)
	}
	for d.order.Len() >= d.max {
		d.remove(d.order.Front())
	}
	el := d.order.PushBack(&dedupEntry{id: id, expires: expires})
	d.ids[id] = el
	return el, stateNew
}

// finish records the outcome of handling the message of el: remembered as
// done if ok, forgotten otherwise.
func (d *dedupSet) finish(el *list.Element, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := el.Value.(*dedupEntry)
	if d.ids[e.id] != el {
		return // Already evicted.
	}
	if ok {
		e.done = true
		return
	}
	d.remove(el)
}

func (d *dedupSet) remove(el *list.Element) {
	e := el.Value.(*dedupEntry)
	if d.ids[e.id] == el {
		delete(d.ids, e.id)
	}
	d.order.Remove(el)
}

// size returns the number of ids held, for tests.
func (d *dedupSet) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

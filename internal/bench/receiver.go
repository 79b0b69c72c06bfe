package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// receiver is the benchmark's webhook receiver. Healthy endpoint i is
// /h/i: each request is verified, counted by (message, endpoint) and
// answered 200. Hanging endpoint i is /s/i: requests wait until the run
// ends. While held (backlog), healthy requests are counted, then wait.
//
// Each endpoint gets a listener of its own (when the address asks for
// port 0), as endpoints of different customers are different hosts: the
// server keeps a pool of connections per host and port.
type receiver struct {
	verifier  *webhook.Verifier
	endpoints int64
	base      time.Time
	srv       *http.Server
	lns       []net.Listener

	// seenBits has one bit per (sequence number, endpoint).
	seenBits     chunked
	unique       atomic.Int64
	dups         atomic.Int64
	rejected     atomic.Int64
	slowReceived atomic.Int64
	lastAt       atomic.Int64 // unix ns of the latest first delivery

	mu   sync.Mutex
	recs []sample // first deliveries, in arrival order

	// outageUntil (unix ns) makes the healthy endpoints answer 503 until
	// then; outageHits counts those requests.
	outageUntil atomic.Int64
	outageHits  atomic.Int64

	held     atomic.Pointer[chan struct{}]
	slow     chan struct{}
	slowOnce sync.Once
	bufs     sync.Pool
}

// sample is the first delivery of a message to an endpoint.
type sample struct {
	seq int64
	at  int64 // unix ns
}

// maxListeners bounds the listeners of a receiver; endpoints beyond share
// them.
const maxListeners = 1000

func newReceiver(addr string, v *webhook.Verifier, endpoints, slow int, base time.Time) (*receiver, error) {
	r := &receiver{
		verifier: v, endpoints: int64(endpoints), base: base,
		slow: make(chan struct{}),
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	r.srv = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	n := 1
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		n = min(endpoints+slow, maxListeners)
	}
	for range n {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("receiver: listen on %s: %w", addr, err)
		}
		r.lns = append(r.lns, ln)
		go r.srv.Serve(ln)
	}
	return r, nil
}

// url returns the URL of the i-th endpoint (healthy ones first, then
// hanging ones).
func (r *receiver) url(i, healthy int) string {
	addr := r.lns[i%len(r.lns)].Addr().String()
	if i < healthy {
		return "http://" + addr + "/h/" + strconv.Itoa(i)
	}
	return "http://" + addr + "/s/" + strconv.Itoa(i-healthy)
}

// close stops the receiver, releasing whatever waits.
func (r *receiver) close() {
	r.releaseSlow()
	r.unhold()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
	for _, ln := range r.lns {
		ln.Close() // those not served yet
	}
}

// hold makes healthy requests wait (after being counted) until unhold.
func (r *receiver) hold() {
	ch := make(chan struct{})
	r.held.Store(&ch)
}

func (r *receiver) unhold() {
	if ch := r.held.Swap(nil); ch != nil {
		close(*ch)
	}
}

// releaseSlow answers the hanging endpoints' requests.
func (r *receiver) releaseSlow() { r.slowOnce.Do(func() { close(r.slow) }) }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now().UnixNano()
	kind, num, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	ep, err := strconv.ParseInt(num, 10, 64)
	if err != nil || (kind != "h" && kind != "s") {
		http.NotFound(w, req)
		return
	}
	if kind == "s" {
		r.slowReceived.Add(1)
		select {
		case <-r.slow:
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if ep < 0 || ep >= r.endpoints {
		http.NotFound(w, req)
		return
	}
	if at < r.outageUntil.Load() {
		r.outageHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	buf := r.bufs.Get().(*bytes.Buffer)
	defer r.bufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(req.Body, 16<<20)); err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	if err := r.verifier.Verify(req.Header, body); err != nil {
		r.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	seq, ok := payloadSeq(body)
	if !ok {
		r.rejected.Add(1)
		http.Error(w, "no sequence number in the payload", http.StatusBadRequest)
		return
	}
	r.record(seq, ep, at)
	if ch := r.held.Load(); ch != nil {
		select {
		case <-*ch:
		case <-req.Context().Done():
		}
	}
	w.WriteHeader(http.StatusOK)
}

// record counts a verified delivery of message seq to endpoint ep.
func (r *receiver) record(seq, ep, at int64) {
	idx := seq*r.endpoints + ep
	bit := int64(1) << (idx & 63)
	if old := r.seenBits.at(idx >> 6).Or(bit); old&bit != 0 {
		r.dups.Add(1)
		return
	}
	r.unique.Add(1)
	for {
		last := r.lastAt.Load()
		if at <= last || r.lastAt.CompareAndSwap(last, at) {
			break
		}
	}
	r.mu.Lock()
	r.recs = append(r.recs, sample{seq: seq, at: at})
	r.mu.Unlock()
}

// seen reports whether message seq reached endpoint ep.
func (r *receiver) seen(seq, ep int64) bool {
	idx := seq*r.endpoints + ep
	return r.seenBits.get(idx>>6)&(int64(1)<<(idx&63)) != 0
}

// samples returns the first deliveries recorded.
func (r *receiver) samples() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// timeOfCount returns when the n-th first delivery arrived (zero if fewer).
func (r *receiver) timeOfCount(n int64) time.Time {
	s := r.samples()
	if n <= 0 || int64(len(s)) < n {
		return time.Time{}
	}
	ats := make([]int64, len(s))
	for i, x := range s {
		ats[i] = x.at
	}
	slices.Sort(ats)
	return time.Unix(0, ats[n-1])
}

// perSecond counts first deliveries by second since start (unix ns).
func (r *receiver) perSecond(start int64) []int64 {
	var out []int64
	for _, s := range r.samples() {
		sec := max(int((s.at-start)/int64(time.Second)), 0)
		for len(out) <= sec {
			out = append(out, 0)
		}
		out[sec]++
	}
	return out
}

// payloadSeq reads the sequence number at the start of a payload built by
// the generator: {"seq":"000000000042",...}.
func payloadSeq(body []byte) (int64, bool) {
	const prefix = `{"seq":"`
	if len(body) < len(prefix)+seqDigits || !bytes.HasPrefix(body, []byte(prefix)) {
		return 0, false
	}
	var n int64
	for _, c := range body[len(prefix) : len(prefix)+seqDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

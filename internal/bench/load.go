package bench

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// lateAfter is how far behind its schedule a send counts as late.
const lateAfter = 10 * time.Millisecond

// loadStats is what the load generator records for each message.
type loadStats struct {
	base      time.Time
	loadStart atomic.Int64 // unix ns
	maxSeq    atomic.Int64 // one past the highest sequence number sent
	accepted  atomic.Int64
	// byReplica counts the messages each replica accepted.
	byReplica []atomic.Int64
	// accAt is the acceptance time (unix ns, from the API's timestamp)
	// of each message by sequence number; 0: not accepted.
	accAt chunked
}

func newLoadStats(base time.Time, replicas int) *loadStats {
	return &loadStats{base: base, byReplica: make([]atomic.Int64, replicas)}
}

func (s *loadStats) acceptedAt(seq int64) int64 { return s.accAt.get(seq) }

func (s *loadStats) acceptedSeqs() []int64 {
	var out []int64
	for seq := range s.maxSeq.Load() {
		if s.accAt.get(seq) != 0 {
			out = append(out, seq)
		}
	}
	return out
}

// perSecond counts accepted messages by second of acceptance since the
// start of the load.
func (s *loadStats) perSecond() []int64 {
	start := s.loadStart.Load()
	var out []int64
	for seq := range s.maxSeq.Load() {
		at := s.accAt.get(seq)
		if at == 0 {
			continue
		}
		sec := max(int((at-start)/int64(time.Second)), 0)
		for len(out) <= sec {
			out = append(out, 0)
		}
		out[sec]++
	}
	return out
}

// generator sends messages to the API.
type generator struct {
	r     *run
	stats *loadStats
	// urls are the message URLs, one per replica: message seq goes to
	// urls[seq mod len(urls)].
	urls   []string
	header http.Header // shared, read-only
	tmpl   []byte      // request body; the sequence number goes at seqAt
	seqAt  int
	// keyAt is where the ordering key's digits go (0: no key), atAt where
	// the deliverAt time goes (0: none).
	keyAt, atAt int
	workers     int

	errors   atomic.Int64
	errMu    sync.Mutex
	errKinds map[string]int64
	late     atomic.Int64
	maxLag   atomic.Int64

	latMu sync.Mutex
	lat   []time.Duration
}

const (
	seqDigits = 12
	keyDigits = 6
	// maxOrderingKeys is the most ordering keys keyDigits can name.
	maxOrderingKeys = 1_000_000
	// atLayout is deliverAt's fixed-width form.
	atLayout = "2006-01-02T15:04:05.000000Z"
)

func (r *run) newGenerator() *generator {
	// The payload is a JSON object of exactly PayloadBytes bytes:
	// {"seq":"000000000042","pad":"xxx..."}.
	head := `{"eventType":"bench.event",`
	keyAt, atAt := 0, 0
	if r.cfg.OrderingKeys > 0 {
		head += `"orderingKey":"k`
		keyAt = len(head)
		head += string(bytes.Repeat([]byte("0"), keyDigits)) + `",`
	}
	if r.cfg.DeliverAfter > 0 {
		head += `"deliverAt":"`
		atAt = len(head)
		head += atLayout + `",`
	}
	head += `"payload":`
	payload := []byte(`{"seq":"` + string(bytes.Repeat([]byte("0"), seqDigits)) + `","pad":"`)
	pad := r.cfg.PayloadBytes - len(payload) - len(`"}`)
	payload = append(payload, bytes.Repeat([]byte("x"), max(pad, 0))...)
	payload = append(payload, `"}`...)
	tmpl := append([]byte(head), payload...)
	tmpl = append(tmpl, '}')
	h := http.Header{}
	h.Set("Authorization", "Bearer "+r.token)
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "herald-bench")
	return &generator{
		r: r, stats: r.stats, urls: r.msgURLs, header: h, tmpl: tmpl,
		seqAt: len(head) + len(`{"seq":"`), keyAt: keyAt, atAt: atAt, workers: r.cfg.Concurrency,
		errKinds: map[string]int64{},
	}
}

func (g *generator) fail(kind string) {
	g.errors.Add(1)
	g.errMu.Lock()
	g.errKinds[kind]++
	g.errMu.Unlock()
}

// worker holds one sender's reusable state.
type worker struct {
	g    *generator
	resp bytes.Buffer
	lat  []time.Duration
}

func (w *worker) flush() {
	w.g.latMu.Lock()
	w.g.lat = append(w.g.lat, w.lat...)
	w.g.latMu.Unlock()
}

// post sends message seq and records the outcome.
func (w *worker) post(ctx context.Context, seq int64) {
	g := w.g
	body := make([]byte, len(g.tmpl))
	copy(body, g.tmpl)
	putSeq(body[g.seqAt:g.seqAt+seqDigits], seq)
	if g.keyAt > 0 {
		putSeq(body[g.keyAt:g.keyAt+keyDigits], seq%int64(g.r.cfg.OrderingKeys))
	}
	var due time.Time
	if g.atAt > 0 {
		due = time.Now().Add(g.r.cfg.DeliverAfter + rand.N(time.Second)).UTC()
		copy(body[g.atAt:g.atAt+len(atLayout)], due.Format(atLayout))
	}
	replica := int(seq % int64(len(g.urls)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.urls[replica], bytes.NewReader(body))
	if err != nil {
		g.fail("request: " + err.Error())
		return
	}
	req.Header = g.header
	start := time.Now()
	resp, err := g.r.api.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.fail("transport error")
		}
		return
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		g.fail("status " + strconv.Itoa(resp.StatusCode))
		return
	}
	if err != nil {
		g.fail("transport error")
		return
	}
	at, ok := acceptedTime(w.resp.Bytes())
	if !ok {
		g.fail("202 without a timestamp")
		return
	}
	if !due.IsZero() {
		// Latency runs from the due time: how late the first attempt was.
		at = due.Truncate(time.Microsecond).UnixNano()
	}
	g.stats.accAt.at(seq).Store(at)
	g.stats.accepted.Add(1)
	g.stats.byReplica[replica].Add(1)
	w.lat = append(w.lat, d)
	// The noisy neighbour gets one message for every NoisyAppEndpoints:
	// as many deliveries as the measured application, all hanging.
	if len(g.r.noisyURLs) > 0 && seq%int64(g.r.cfg.NoisyAppEndpoints) == 0 {
		w.postNoisy(ctx, g.r.noisyURLs[replica], body)
	}
}

// postNoisy sends the same message to the noisy neighbour application; its
// outcome is only counted as an error when it fails.
func (w *worker) postNoisy(ctx context.Context, url string, body []byte) {
	g := w.g
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		g.fail("request: " + err.Error())
		return
	}
	req.Header = g.header
	resp, err := g.r.api.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.fail("noisy neighbour: transport error")
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		g.fail("noisy neighbour: status " + strconv.Itoa(resp.StatusCode))
	}
}

// acceptedTime reads the "timestamp" of a message as returned by the API.
func acceptedTime(body []byte) (int64, bool) {
	key := []byte(`"timestamp":"`)
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil || t.UnixNano() == 0 {
		return 0, false
	}
	return t.UnixNano(), true
}

// putSeq writes seq as zero-padded decimal digits into b.
func putSeq(b []byte, seq int64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + seq%10)
		seq /= 10
	}
}

// closedLoop sends as fast as the API answers, with g.workers requests in
// flight, until deadline (if not zero) or until limit messages (if not
// negative).
func (g *generator) closedLoop(ctx context.Context, deadline time.Time, limit int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range g.workers {
		wg.Go(func() {
			w := &worker{g: g}
			defer w.flush()
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				seq := next.Add(1) - 1
				if limit >= 0 && seq >= limit {
					return
				}
				w.post(ctx, seq)
			}
		})
	}
	wg.Wait()
	n := next.Load()
	if limit >= 0 {
		n = min(n, limit)
	}
	g.stats.maxSeq.Store(n)
}

// openLoop sends rate messages per second for d, each at its time on a
// fixed schedule whatever the latency: message i is due at start + i/rate.
// A message that finds every worker busy is sent late, and counted.
func (g *generator) openLoop(ctx context.Context, start time.Time, d time.Duration, rate int) {
	total := int64(d.Seconds() * float64(rate))
	interval := float64(time.Second) / float64(rate)
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	queue := make(chan int64, 1<<16)
	var wg sync.WaitGroup
	for range g.workers {
		wg.Go(func() {
			w := &worker{g: g}
			defer w.flush()
			for seq := range queue {
				if lag := time.Since(due(seq)); lag > lateAfter {
					g.late.Add(1)
					for {
						m := g.maxLag.Load()
						if int64(lag) <= m || g.maxLag.CompareAndSwap(m, int64(lag)) {
							break
						}
					}
				}
				w.post(ctx, seq)
			}
		})
	}
	var i int64
	for i < total && ctx.Err() == nil {
		now := time.Since(start)
		for ; i < total && due(i).Sub(start) <= now; i++ {
			queue <- i
		}
		if i < total {
			time.Sleep(time.Until(due(i)))
		}
	}
	close(queue)
	wg.Wait()
	g.stats.maxSeq.Store(i)
}

// report fills in the load generator's figures.
func (g *generator) report(res *Result, start, end time.Time) {
	res.Accepted = g.stats.accepted.Load()
	res.IngestPerSec = round(float64(res.Accepted)/end.Sub(start).Seconds(), 1)
	res.IngestMs = percentiles(g.lat)
	res.Errors = g.errors.Load()
	if len(g.errKinds) > 0 {
		res.ErrorKinds = g.errKinds
	}
	res.LateSends = g.late.Load()
	res.MaxSendLagMs = round(float64(g.maxLag.Load())/float64(time.Millisecond), 1)
}

package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// faultReceiver is a receiver on loopback that reads each request whole and
// then answers it with answer, byte by byte as the fault wants. It counts
// the requests it got.
type faultReceiver struct {
	url      string
	requests atomic.Int64
}

func newFaultReceiver(t *testing.T, answer func(c net.Conn)) *faultReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := &faultReceiver{url: "http://" + ln.Addr().String() + "/hook"}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					fr.requests.Add(1)
					answer(c)
				}
			}()
		}
	}()
	return fr
}

// gzipBomb is a gzip stream that inflates to 256 MiB of zeros (about
// 250 kB).
var gzipBomb = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 256 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	return buf.Bytes()
})

func writeSlowly(c net.Conn, every time.Duration, chunk []byte) {
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
		time.Sleep(every)
	}
}

// fault is one hostile receiver of the matrix and what Herald must make of
// it.
type fault struct {
	name   string
	answer func(c net.Conn)
	// status is the attempt's responseStatusCode (0: no usable answer);
	// ok means the attempt succeeds (2xx).
	status int
	ok     bool
	// errorHas is in the recorded error (status 0) for the operator.
	errorHas string
}

func faultMatrix() []fault {
	// 20,000 bytes, the last character cut by the limit.
	cut := strings.Repeat("a", 19999) + "日本"
	return []fault{
		{name: "hang", answer: func(net.Conn) {}, errorHas: "did not answer in time"},
		{name: "101 then silence", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		}, errorHas: "101 Switching Protocols"},
		{name: "200 then a body trickled past the timeout", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
			writeSlowly(c, 50*time.Millisecond, []byte("x"))
		}, status: 200, ok: true},
		{name: "endless headers", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			// Long lines pass the 1 MiB limit in a few writes, well within
			// the timeout even on a loaded machine under -race.
			writeSlowly(c, 0, []byte("X-Pad: "+strings.Repeat("a", 256<<10)+"\r\n"))
		}, errorHas: "not a valid HTTP response"},
		{name: "headers trickled", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			writeSlowly(c, 50*time.Millisecond, []byte("X-A: b\r\n"))
		}, errorHas: "did not answer in time"},
		{name: "1 GiB body", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(1<<30)+"\r\n\r\n")
			zeros := make([]byte, 1<<16)
			for range 1 << 14 {
				if _, err := c.Write(zeros); err != nil {
					return
				}
			}
		}, status: 200, ok: true},
		{name: "gzip bomb", answer: func(c net.Conn) {
			b := gzipBomb()
			_, _ = io.WriteString(c, "HTTP/1.1 500 Oops\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n")
			_, _ = c.Write(b)
		}, status: 500},
		{name: "reset", answer: func(c net.Conn) {
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}, errorHas: "closed the connection"},
		{name: "garbage status line", answer: func(c net.Conn) {
			_, _ = c.Write([]byte("\xff\x00 garbage\r\n\r\n"))
			_ = c.Close()
		}, errorHas: "not a valid HTTP response"},
		{name: "invalid UTF-8 body", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 500 Oops\r\nContent-Length: 9\r\n\r\nLatin-1 \xe9")
		}, status: 500},
		{name: "NUL in the body", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{\x00\x00}\n")
		}, status: 200, ok: true},
		{name: "multibyte character cut at the limit", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: "+strconv.Itoa(len(cut))+"\r\n\r\n"+cut)
		}, status: 502},
		{name: "redirect to a private address", answer: func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n")
		}, status: 302},
	}
}

// rssMB is this process's resident set size in MB (0 where /proc has none).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// TestReceiverFaultMatrix runs every hostile receiver of the matrix against
// a real server, on SQLite and on PostgreSQL. For each: every attempt is
// recorded within the request timeout plus a second, with a clear error
// when no usable answer came; exactly one attempt is made per step of the
// retry schedule (the receiver counts the requests); what is recorded is
// valid text on both drivers; memory stays bounded; and a healthy endpoint
// of another application receives all its deliveries meanwhile.
func TestReceiverFaultMatrix(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testFaultMatrix(t, driver)
		})
	}
}

func testFaultMatrix(t *testing.T, driver string) {
	const timeout = time.Second
	gzipBomb() // made before the clock starts
	var database string
	if driver == "postgres" {
		database = pgtest.Schema(t)
	}
	h := start(t, func(c *config.Config) {
		if database != "" {
			c.Database = database
		}
		c.RequestTimeout = timeout
		// Two attempts in all; the retry is due only when the test moves
		// the clock on, so that each step is counted on its own.
		c.RetrySchedule = []time.Duration{time.Hour}
		c.MaxInFlight = 64
	})
	h.eventType("fault.test")
	hostile := h.app()
	faults := faultMatrix()
	receivers := make([]*faultReceiver, len(faults))
	endpoints := make([]string, len(faults))
	for i, f := range faults {
		receivers[i] = newFaultReceiver(t, f.answer)
		endpoints[i], _ = h.endpoint(hostile, map[string]any{"url": receivers[i].url, "description": f.name})
	}
	neighbour := h.app()
	healthy := newReceiver(t)
	healthyEP, _ := h.endpoint(neighbour, map[string]any{"url": healthy.srv.URL})

	rssBefore := rssMB()
	msg := h.send(hostile, "fault.test", `{"n":1}`, nil)
	for range 20 {
		h.send(neighbour, "fault.test", `{"n":2}`, nil)
	}

	// Step 1: one attempt each.
	check := func(step int) {
		t.Helper()
		for i, f := range faults {
			want := step
			if f.ok {
				want = 1 // a success ends the delivery
			}
			var as []attempt
			eventually(t, fmt.Sprintf("%s: attempt %d", f.name, want), func() bool {
				as = h.attempts(hostile, endpoints[i])
				return len(as) >= want
			})
			eventually(t, f.name+": receiver idle", func() bool { return receivers[i].requests.Load() >= int64(want) })
			if len(as) != want {
				t.Errorf("%s: %d attempts at step %d, want %d", f.name, len(as), step, want)
			}
			if n := receivers[i].requests.Load(); n != int64(want) {
				t.Errorf("%s: the receiver got %d requests at step %d, want %d (one per attempt)", f.name, n, step, want)
			}
			a := as[0] // newest
			if a.MsgID != msg || a.ResponseDurationMs > (timeout+time.Second).Milliseconds() {
				t.Errorf("%s: attempt took %d ms, more than the timeout (%v) plus a second", f.name, a.ResponseDurationMs, timeout)
			}
			if a.ResponseStatusCode != f.status || (a.Status == 0) != f.ok {
				t.Errorf("%s: attempt status %d (code %d), want code %d, success %v; response %.200q",
					f.name, a.Status, a.ResponseStatusCode, f.status, f.ok, a.Response)
			}
			if !utf8.ValidString(a.Response) || strings.ContainsRune(a.Response, 0) || len(a.Response) > 20000 {
				t.Errorf("%s: recorded response is not bounded valid text: %d bytes", f.name, len(a.Response))
			}
			if f.errorHas != "" && !strings.Contains(a.Response, f.errorHas) {
				t.Errorf("%s: recorded error %q does not say %q", f.name, a.Response, f.errorHas)
			}
		}
	}
	check(1)
	eventually(t, "the other application's deliveries", func() bool { return healthy.count() == 20 })
	if got := len(h.attempts(neighbour, healthyEP)); got != 20 {
		t.Errorf("healthy endpoint: %d attempts, want 20", got)
	}
	if grew := rssMB() - rssBefore; rssBefore > 0 && grew > 200 {
		t.Errorf("RSS grew by %.0f MB through the faults (1 GiB body, gzip bomb)", grew)
	}

	// Step 2: past the retry and every lease, one more attempt each for
	// the failures, and nothing more after.
	h.clock.Advance(2 * time.Hour)
	check(2)
	h.clock.Advance(2 * time.Hour)
	var dest struct {
		Data []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		} `json:"data"`
	}
	eventually(t, "every delivery finished", func() bool {
		h.do("GET", "/api/v1/app/"+hostile+"/msg/"+msg+"/endpoint?limit=100", nil, 200, &dest)
		for _, d := range dest.Data {
			if d.Status != 0 && d.Status != 2 {
				return false
			}
		}
		return len(dest.Data) == len(faults)
	})
	check(2)
}

package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// middlewareBundle is what setupMiddleware returns.
type middlewareBundle struct {
	handler *webhook.Handler
	signer  *webhook.Signer
	clock   *testClock
	calls   atomic.Int32 // Calls of the next handler.
	bodies  chan []byte  // Bodies the next handler read.
	status  atomic.Int32 // Status the next handler answers; 0 means 204.
}

// testClock is a settable clock for Verifier.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setupMiddleware(t *testing.T) *middlewareBundle {
	t.Helper()
	secret := webhook.MustParseSecret(vecHMACSecret)
	b := &middlewareBundle{
		signer: &webhook.Signer{Secrets: []webhook.Secret{secret}},
		clock:  &testClock{now: vecTime},
		bodies: make(chan []byte, 16),
	}
	b.handler = &webhook.Handler{
		Verifier: &webhook.Verifier{Secrets: []webhook.Secret{secret}, Now: b.clock.Now},
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.calls.Add(1)
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("next handler: read body: %v", err)
			}
			if r.ContentLength != int64(len(body)) {
				t.Errorf("next handler: ContentLength %d, body %d bytes", r.ContentLength, len(body))
			}
			b.bodies <- body
			status := int(b.status.Load())
			if status == 0 {
				status = http.StatusNoContent
			}
			w.WriteHeader(status)
		}),
	}
	return b
}

// request returns a signed request for body, signed at the clock's time.
func (b *middlewareBundle) request(t *testing.T, id string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	if err := b.signer.SetHeaders(r.Header, id, b.clock.Now(), body); err != nil {
		t.Fatal(err)
	}
	return r
}

func (b *middlewareBundle) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.handler.ServeHTTP(w, r)
	return w
}

func TestMiddleware(t *testing.T) {
	t.Parallel()

	t.Run("valid request reaches next with the same body", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		// Every byte value, so that nothing is re-encoded on the way.
		body := make([]byte, 3000)
		for i := range body {
			body[i] = byte(i)
		}
		w := b.serve(b.request(t, vecID, body))
		if w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
		if got := <-b.bodies; !bytes.Equal(got, body) {
			t.Errorf("next handler got %d bytes, want the %d sent", len(got), len(body))
		}
	})

	t.Run("unknown length body", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		body := []byte(vecBody)
		r := b.request(t, vecID, body)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:5]), bytes.NewReader(body[5:])))
		r.ContentLength = -1
		if w := b.serve(r); w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
		if got := <-b.bodies; !bytes.Equal(got, body) {
			t.Errorf("next handler got %q, want %q", got, body)
		}
	})

	t.Run("Verifier.Middleware", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		h := b.handler.Verifier.Middleware(b.handler.Next)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, b.request(t, vecID, []byte(vecBody)))
		if w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
	})

	rejected := []struct {
		name   string
		modify func(r *http.Request)
		code   int
		reason string
	}{
		{
			name: "bad signature",
			modify: func(r *http.Request) {
				r.Header.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			},
			code:   http.StatusUnauthorized,
			reason: "invalid webhook signature",
		},
		{
			name: "tampered body",
			modify: func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(`{"test": 2432232315}`))
			},
			code:   http.StatusUnauthorized,
			reason: "invalid webhook signature",
		},
		{
			name:   "missing headers",
			modify: func(r *http.Request) { r.Header.Del("webhook-id") },
			code:   http.StatusUnauthorized,
			reason: "missing webhook headers",
		},
		{
			name:   "old timestamp",
			modify: func(r *http.Request) { r.Header.Set("webhook-timestamp", "1614265000") },
			code:   http.StatusUnauthorized,
			reason: "webhook timestamp too old",
		},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupMiddleware(t)
			r := b.request(t, vecID, []byte(vecBody))
			tt.modify(r)
			w := b.serve(r)
			if w.Code != tt.code {
				t.Errorf("status %d, want %d", w.Code, tt.code)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tt.reason {
				t.Errorf("body %q, want %q", got, tt.reason)
			}
			if strings.Contains(w.Body.String(), vecSigV1[3:]) {
				t.Errorf("response reveals the signature: %q", w.Body)
			}
			if n := b.calls.Load(); n != 0 {
				t.Errorf("next called %d times", n)
			}
		})
	}

	t.Run("body too large", func(t *testing.T) {
		t.Parallel()
		for _, knownLength := range []bool{true, false} {
			b := setupMiddleware(t)
			b.handler.MaxBodyBytes = 1000
			body := bytes.Repeat([]byte("a"), 1001)
			r := b.request(t, vecID, body)
			if !knownLength {
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.ContentLength = -1
			}
			if w := b.serve(r); w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("known length %v: status %d, want 413", knownLength, w.Code)
			}
			// Exactly at the limit passes.
			if w := b.serve(b.request(t, vecID, body[:1000])); w.Code != http.StatusNoContent {
				t.Errorf("known length %v: body at limit: status %d, want 204", knownLength, w.Code)
			}
		}
	})

	t.Run("default limit", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		r := b.request(t, vecID, bytes.Repeat([]byte("a"), webhook.DefaultMaxBodyBytes+1))
		if w := b.serve(r); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})

	t.Run("nil body", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		r := b.request(t, vecID, nil)
		r.Body = nil
		if w := b.serve(r); w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
		if got := <-b.bodies; len(got) != 0 {
			t.Errorf("next handler got %q, want empty", got)
		}
	})

	t.Run("large declared length", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.MaxBodyBytes = 1 << 40
		body := []byte(vecBody)
		r := b.request(t, vecID, body)
		r.ContentLength = 1 << 39 // A lie: the read ends early.
		if w := b.serve(r); w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
	})

	t.Run("no secrets", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Verifier.Secrets = nil
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", w.Code)
		}
	})
}

func TestMiddlewareDedup(t *testing.T) {
	t.Parallel()

	t.Run("duplicate answered 200 without next", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		body := []byte(vecBody)
		if w := b.serve(b.request(t, vecID, body)); w.Code != http.StatusNoContent {
			t.Fatalf("first: status %d, want 204", w.Code)
		}
		// A retry of the same message, a few seconds later.
		b.clock.Add(5 * time.Second)
		if w := b.serve(b.request(t, vecID, body)); w.Code != http.StatusOK {
			t.Errorf("duplicate: status %d, want 200", w.Code)
		}
		if n := b.calls.Load(); n != 1 {
			t.Errorf("next called %d times, want 1", n)
		}
		// Another message goes through.
		if w := b.serve(b.request(t, "msg_other", body)); w.Code != http.StatusNoContent {
			t.Errorf("other message: status %d, want 204", w.Code)
		}
		// Once the window has passed the id is forgotten.
		b.clock.Add(webhook.DefaultTolerance + time.Second)
		if w := b.serve(b.request(t, vecID, body)); w.Code != http.StatusNoContent {
			t.Errorf("after window: status %d, want 204", w.Code)
		}
		if n := b.calls.Load(); n != 3 {
			t.Errorf("next called %d times, want 3", n)
		}
	})

	t.Run("custom duplicate handler", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		b.handler.Duplicate = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		})
		b.serve(b.request(t, vecID, []byte(vecBody)))
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusAccepted {
			t.Errorf("duplicate: status %d, want 202", w.Code)
		}
	})

	t.Run("failed delivery is not remembered", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		b.status.Store(http.StatusServiceUnavailable)
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("first: status %d, want 503", w.Code)
		}
		b.status.Store(http.StatusOK)
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusOK {
			t.Errorf("retry: status %d, want 200", w.Code)
		}
		if n := b.calls.Load(); n != 2 {
			t.Errorf("next called %d times, want 2", n)
		}
	})

	t.Run("forged request is not remembered", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		r := b.request(t, vecID, []byte(vecBody))
		r.Header.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
		if w := b.serve(r); w.Code != http.StatusUnauthorized {
			t.Fatalf("forged: status %d, want 401", w.Code)
		}
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusNoContent {
			t.Errorf("genuine: status %d, want 204", w.Code)
		}
	})

	t.Run("in-flight duplicate answered 409", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		entered, release := make(chan struct{}), make(chan struct{})
		next := b.handler.Next
		var first atomic.Bool
		b.handler.Next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
			next.ServeHTTP(w, r)
		})
		done := make(chan int)
		go func() { done <- b.serve(b.request(t, vecID, []byte(vecBody))).Code }()
		<-entered
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusConflict {
			t.Errorf("concurrent duplicate: status %d, want 409", w.Code)
		}
		close(release)
		if code := <-done; code != http.StatusNoContent {
			t.Errorf("first: status %d, want 204", code)
		}
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusOK {
			t.Errorf("later duplicate: status %d, want 200", w.Code)
		}
	})

	t.Run("panicking handler forgets the id", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		next := b.handler.Next
		var first atomic.Bool
		b.handler.Next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if first.CompareAndSwap(false, true) {
				panic(http.ErrAbortHandler)
			}
			next.ServeHTTP(w, r)
		})
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			b.serve(b.request(t, vecID, []byte(vecBody)))
		}()
		if w := b.serve(b.request(t, vecID, []byte(vecBody))); w.Code != http.StatusNoContent {
			t.Errorf("retry: status %d, want 204", w.Code)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		b.handler.DedupEntries = 2
		for _, id := range []string{"msg_1", "msg_2", "msg_3"} {
			b.serve(b.request(t, id, []byte(vecBody)))
		}
		// msg_1 was evicted to make room for msg_3.
		if w := b.serve(b.request(t, "msg_1", []byte(vecBody))); w.Code != http.StatusNoContent {
			t.Errorf("evicted id: status %d, want 204", w.Code)
		}
		if w := b.serve(b.request(t, "msg_3", []byte(vecBody))); w.Code != http.StatusOK {
			t.Errorf("kept id: status %d, want 200", w.Code)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		b := setupMiddleware(t)
		b.handler.Dedup = true
		b.bodies = make(chan []byte, 1000)
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				id := []string{"msg_a", "msg_b", "msg_c", "msg_d"}[i%4]
				w := b.serve(b.request(t, id, []byte(vecBody)))
				switch w.Code {
				case http.StatusNoContent, http.StatusOK, http.StatusConflict:
				default:
					t.Errorf("status %d", w.Code)
				}
			})
		}
		wg.Wait()
		if n := b.calls.Load(); n != 4 {
			t.Errorf("next called %d times, want 4 (once per id)", n)
		}
	})
}

// TestMiddlewareServer runs the middleware behind a real HTTP server.
func TestMiddlewareServer(t *testing.T) {
	t.Parallel()
	b := setupMiddleware(t)
	srv := httptest.NewServer(b.handler)
	t.Cleanup(srv.Close)

	body := []byte(vecBody)
	for _, tc := range []struct {
		name string
		sign bool
		want int
	}{
		{"signed", true, http.StatusNoContent},
		{"unsigned", false, http.StatusUnauthorized},
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.sign {
			if err := b.signer.SetHeaders(req.Header, vecID, b.clock.Now(), body); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

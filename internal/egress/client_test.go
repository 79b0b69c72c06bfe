package egress

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loopback is the allow-list tests use to reach their httptest servers.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// newServer starts a loopback HTTP server that is closed when the test ends.
func newServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// resolverFor returns a Config.Resolver that knows only names.
func resolverFor(names map[string][]netip.Addr) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if addrs, ok := names[host]; ok {
			return addrs, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// urlWithHost replaces the host of srvURL, keeping its port.
func urlWithHost(t testing.TB, srvURL, host string) string {
	t.Helper()
	u, err := url.Parse(srvURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(host, u.Port())
	return u.String()
}

func TestSendDeliversRequestAsGiven(t *testing.T) {
	t.Parallel()

	type seen struct {
		method, userAgent, webhookID, contentType string
		contentLength                             int64
		body                                      []byte
	}
	got := make(chan seen, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.UserAgent(), r.Header.Get("webhook-id"), r.Header.Get("Content-Type"), r.ContentLength, body}
		w.Header().Set("Retry-After", "120") // ignored on success, but still parsed
		w.WriteHeader(http.StatusNoContent)
	})

	body := []byte("{\"test\": 2432232314}\x00\xff not UTF-8 \xc3")
	headers := http.Header{}
	headers.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	headers.Set("Content-Type", "application/json")
	c := New(Config{AllowCIDRs: loopback})
	res := c.Send(t.Context(), Request{URL: srv.URL + "/hook", Headers: headers, Body: body})
	if res.Err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("Send = %d, %v; want 204, nil", res.StatusCode, res.Err)
	}
	if res.Duration <= 0 || res.Timeout || res.RetryAfter != 120*time.Second {
		t.Errorf("Result = %+v", res)
	}
	if out := Classify(res); !out.Success {
		t.Errorf("Classify = %+v, want success", out)
	}
	s := <-got
	if s.method != http.MethodPost || s.userAgent != DefaultUserAgent || s.webhookID != "msg_p5jXN8AQM9LWM0D4loKWxJek" ||
		s.contentType != "application/json" || s.contentLength != int64(len(body)) || !bytes.Equal(s.body, body) {
		t.Errorf("server saw %+v", s)
	}
	if headers.Get("User-Agent") != "" {
		t.Error("Send modified the caller's headers")
	}

	// A caller's User-Agent wins over the configured one.
	headers.Set("User-Agent", "custom/1")
	c.Send(t.Context(), Request{URL: srv.URL, Headers: headers})
	if s := <-got; s.userAgent != "custom/1" || len(s.body) != 0 || s.contentLength != 0 {
		t.Errorf("server saw %+v", s)
	}
}

func TestSendRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })

	res := New(Config{}).Send(t.Context(), Request{URL: srv.URL})
	var be *BlockedError
	if !errors.As(res.Err, &be) {
		t.Fatalf("Send to %s: Err = %v, want a *BlockedError", srv.URL, res.Err)
	}
	if be.Addr != netip.MustParseAddr("127.0.0.1") || be.Host != "" {
		t.Errorf("BlockedError = %+v", be)
	}
	for _, want := range []string{"127.0.0.1", "loopback", "--allow-cidr", "HERALD_ALLOW_CIDRS"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q does not mention %q", res.Err, want)
		}
	}
	if res.StatusCode != 0 || res.Timeout || hits.Load() != 0 {
		t.Errorf("Result = %+v, hits = %d", res, hits.Load())
	}
	if out := Classify(res); out.Success || !out.Retryable {
		t.Errorf("Classify = %+v", out)
	}

	res = New(Config{AllowCIDRs: loopback}).Send(t.Context(), Request{URL: srv.URL})
	if res.Err != nil || res.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("with the allow-list: Result = %+v, hits = %d", res, hits.Load())
	}

	res = New(Config{DisableSSRFGuard: true}).Send(t.Context(), Request{URL: srv.URL})
	if res.Err != nil || res.StatusCode != http.StatusOK || hits.Load() != 2 {
		t.Fatalf("with the guard disabled: Result = %+v, hits = %d", res, hits.Load())
	}
}

// TestSendChecksTheDialledAddress resolves innocent-looking names to
// forbidden addresses, as DNS rebinding would, and expects the dialer to
// refuse them.
func TestSendChecksTheDialledAddress(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	resolver := resolverFor(map[string][]netip.Addr{
		"rebind.test":   {netip.MustParseAddr("127.0.0.1")},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
	})

	for _, host := range []string{"rebind.test", "mapped.test", "metadata.test"} {
		res := New(Config{Resolver: resolver}).Send(t.Context(), Request{URL: urlWithHost(t, srv.URL, host)})
		var be *BlockedError
		if !errors.As(res.Err, &be) {
			t.Fatalf("%s: Err = %v, want a *BlockedError", host, res.Err)
		}
		if be.Host != host || !strings.Contains(res.Err.Error(), host) || !strings.Contains(res.Err.Error(), "--allow-cidr") {
			t.Errorf("%s: error %q, Host %q", host, res.Err, be.Host)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the server was reached %d times", hits.Load())
	}

	c := New(Config{Resolver: resolver, AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for _, host := range []string{"rebind.test", "mapped.test"} {
		res := c.Send(t.Context(), Request{URL: urlWithHost(t, srv.URL, host)})
		if res.Err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s with 127.0.0.0/8 allowed: Result = %+v", host, res)
		}
	}
	if hits.Load() != 2 {
		t.Errorf("hits = %d, want 2", hits.Load())
	}

	res := c.Send(t.Context(), Request{URL: urlWithHost(t, srv.URL, "unknown.test")})
	var dnsErr *net.DNSError
	if !errors.As(res.Err, &dnsErr) {
		t.Errorf("unknown name: Err = %v, want a *net.DNSError", res.Err)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()

	var targetHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) })
	mux.HandleFunc("/found", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/temporary", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
	})
	srv := newServer(t, mux.ServeHTTP)

	c := New(Config{AllowCIDRs: loopback})
	for path, want := range map[string]int{"/found": http.StatusFound, "/temporary": http.StatusTemporaryRedirect} {
		res := c.Send(t.Context(), Request{URL: srv.URL + path, Body: []byte("{}")})
		if res.Err != nil || res.StatusCode != want {
			t.Errorf("%s: Result = %+v, want status %d", path, res, want)
		}
		if out := Classify(res); out.Success || !out.Retryable {
			t.Errorf("%s: Classify = %+v, want a retryable failure", path, out)
		}
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target was hit %d times", n)
	}
}

// hangingServer answers nothing until the test ends or the client goes away.
// If headersFirst, it sends a 200 status and the start of a body first.
func hangingServer(t *testing.T, headersFirst bool) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if headersFirst {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()

	srv := hangingServer(t, false)
	res := New(Config{AllowCIDRs: loopback, Timeout: 200 * time.Millisecond}).Send(t.Context(), Request{URL: srv.URL})
	if !res.Timeout || res.Err == nil || res.StatusCode != 0 {
		t.Fatalf("Result = %+v, want a timeout", res)
	}
	if res.Duration < 200*time.Millisecond || res.Duration > 5*time.Second {
		t.Errorf("Duration = %v, want about 200ms", res.Duration)
	}
	if out := Classify(res); !out.Retryable || out.MinBackoff != 60*time.Second {
		t.Errorf("Classify = %+v", out)
	}
}

func TestSendDeadlineShortensTimeout(t *testing.T) {
	t.Parallel()

	srv := hangingServer(t, false)
	c := New(Config{AllowCIDRs: loopback, Timeout: time.Minute})

	res := c.Send(t.Context(), Request{URL: srv.URL, Deadline: time.Now().Add(150 * time.Millisecond)})
	if !res.Timeout || res.Err == nil || res.StatusCode != 0 {
		t.Fatalf("Result = %+v, want a timeout", res)
	}
	if res.Duration < 100*time.Millisecond || res.Duration > 5*time.Second {
		t.Errorf("Duration = %v, want about 150ms", res.Duration)
	}

	// A deadline already passed fails at once.
	res = c.Send(t.Context(), Request{URL: srv.URL, Deadline: time.Now().Add(-time.Second)})
	if !res.Timeout || res.Err == nil || res.Duration > time.Second {
		t.Errorf("past deadline: Result = %+v", res)
	}

	// A later deadline does not extend Timeout.
	c = New(Config{AllowCIDRs: loopback, Timeout: 100 * time.Millisecond})
	res = c.Send(t.Context(), Request{URL: srv.URL, Deadline: time.Now().Add(time.Hour)})
	if !res.Timeout || res.Duration > 5*time.Second {
		t.Errorf("late deadline: Result = %+v", res)
	}
}

func TestSendStatusBeforeTimeoutCounts(t *testing.T) {
	t.Parallel()

	srv := hangingServer(t, true)
	res := New(Config{AllowCIDRs: loopback, Timeout: 200 * time.Millisecond}).Send(t.Context(), Request{URL: srv.URL})
	if res.StatusCode != http.StatusOK || res.Err != nil || res.Timeout || res.Body != "partial" {
		t.Fatalf("Result = %+v, want 200 with the partial body", res)
	}
	if !Classify(res).Success {
		t.Error("a 200 whose body stalled is not a success")
	}
}

func TestSendCanceled(t *testing.T) {
	t.Parallel()

	srv := hangingServer(t, false)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	res := New(Config{AllowCIDRs: loopback}).Send(ctx, Request{URL: srv.URL})
	if res.Timeout || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Result = %+v, want context.Canceled and no timeout", res)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := New(Config{AllowCIDRs: loopback}).Send(t.Context(), Request{URL: "http://" + addr + "/"})
	if res.Err == nil || res.Timeout || res.StatusCode != 0 {
		t.Fatalf("Result = %+v, want a connection error", res)
	}
	if out := Classify(res); !out.Retryable || out.MinBackoff != 0 {
		t.Errorf("Classify = %+v", out)
	}
}

func TestSendTruncatesResponseBody(t *testing.T) {
	t.Parallel()

	response := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	received := make(chan []byte, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- b
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(response)
	})

	body := make([]byte, 256<<10)
	_, _ = rand.Read(body)
	res := New(Config{AllowCIDRs: loopback}).Send(t.Context(), Request{URL: srv.URL, Body: body})
	if res.Err != nil || res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Result: %d, %v", res.StatusCode, res.Err)
	}
	if len(res.Body) != DefaultMaxResponseBytes || res.Body != string(response[:DefaultMaxResponseBytes]) {
		t.Errorf("Body is %d bytes, want the first %d of the response", len(res.Body), DefaultMaxResponseBytes)
	}
	if got := <-received; !bytes.Equal(got, body) {
		t.Errorf("server received %d bytes that differ from the %d sent", len(got), len(body))
	}

	res = New(Config{AllowCIDRs: loopback, MaxResponseBytes: 10}).Send(t.Context(), Request{URL: srv.URL})
	<-received
	if res.Body != "0123456789" {
		t.Errorf("MaxResponseBytes 10: Body = %q", res.Body)
	}
	res = New(Config{AllowCIDRs: loopback, MaxResponseBytes: -1}).Send(t.Context(), Request{URL: srv.URL})
	<-received
	if res.Body != "" || res.StatusCode != http.StatusInternalServerError {
		t.Errorf("MaxResponseBytes -1: Result = %d, %q", res.StatusCode, res.Body)
	}
}

func TestSendReusesConnections(t *testing.T) {
	t.Parallel()

	// Longer than MaxResponseBytes but within the drain bound, so reuse
	// depends on Send discarding the rest of the body.
	response := strings.Repeat("x", DefaultMaxResponseBytes+10_000)
	var newConns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, response)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := New(Config{AllowCIDRs: loopback})
	const sends = 50
	for i := range sends {
		res := c.Send(t.Context(), Request{URL: srv.URL, Body: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		if res.Err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("send %d: %d, %v", i, res.StatusCode, res.Err)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("%d sequential sends opened %d connections, want 1", sends, n)
	}
}

func TestSendRefusesOtherSchemes(t *testing.T) {
	t.Parallel()

	c := New(Config{DisableSSRFGuard: true})
	for _, u := range []string{
		"ftp://example.com/",
		"file:///etc/passwd",
		"gopher://127.0.0.1:70/",
		"ws://example.com/",
		"javascript:alert(1)",
		"//example.com/",
		"",
	} {
		res := c.Send(t.Context(), Request{URL: u})
		if res.Err == nil || res.StatusCode != 0 || res.Timeout {
			t.Errorf("Send(%q) = %+v, want an error", u, res)
		}
	}
}

func TestSendRetryAfter(t *testing.T) {
	t.Parallel()

	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	res := New(Config{AllowCIDRs: loopback}).Send(t.Context(), Request{URL: srv.URL})
	if res.StatusCode != http.StatusTooManyRequests || res.RetryAfter != 120*time.Second {
		t.Fatalf("Result = %+v", res)
	}
	if out := Classify(res); !out.Retryable || out.MinBackoff != 120*time.Second {
		t.Errorf("Classify = %+v", out)
	}
}

func TestSendHTTP2OverTLS(t *testing.T) {
	t.Parallel()

	protos := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := New(Config{AllowCIDRs: loopback})
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}

	res := c.Send(t.Context(), Request{URL: srv.URL, Body: []byte("{}")})
	if res.Err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("Result = %+v", res)
	}
	if p := <-protos; p != "HTTP/2.0" {
		t.Errorf("server saw %s, want HTTP/2.0", p)
	}
}

func TestSendIgnoresEnvironmentProxy(t *testing.T) {
	// Not parallel: it sets environment variables.
	var proxyHits, targetHits atomic.Int64
	proxy := newServer(t, func(w http.ResponseWriter, r *http.Request) { proxyHits.Add(1) })
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) })
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")

	c := New(Config{
		AllowCIDRs: loopback,
		// A name, because proxies are never used for loopback literals.
		Resolver: resolverFor(map[string][]netip.Addr{"target.test": {netip.MustParseAddr("127.0.0.1")}}),
	})
	if c.http.Transport.(*http.Transport).Proxy != nil {
		t.Fatal("the transport has a Proxy function")
	}
	res := c.Send(t.Context(), Request{URL: urlWithHost(t, target.URL, "target.test")})
	if res.Err != nil || targetHits.Load() != 1 || proxyHits.Load() != 0 {
		t.Errorf("Result = %+v; target hits %d, proxy hits %d", res, targetHits.Load(), proxyHits.Load())
	}
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
	})
	c := New(Config{AllowCIDRs: loopback})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 10 {
				if res := c.Send(t.Context(), Request{URL: srv.URL, Body: []byte("{}")}); res.Err != nil {
					t.Error(res.Err)
				}
			}
		})
	}
	wg.Wait()
	if hits.Load() != 320 {
		t.Errorf("hits = %d, want 320", hits.Load())
	}
}

func BenchmarkSend(b *testing.B) {
	srv := newServer(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	c := New(Config{AllowCIDRs: loopback})
	body := bytes.Repeat([]byte("a"), 1024)
	headers := http.Header{"Content-Type": {"application/json"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if res := c.Send(ctx, Request{URL: srv.URL, Headers: headers, Body: body}); res.StatusCode != http.StatusOK {
			b.Fatalf("Result = %+v", res)
		}
	}
}

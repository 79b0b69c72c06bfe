package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultTimeout bounds one attempt, from dialling to the end of the
	// response body.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxResponseBytes is how much of a response body is kept; Svix
	// keeps the same amount.
	DefaultMaxResponseBytes = 20000
	// DefaultMaxIdleConnsPerHost is how many idle connections are kept per
	// receiver host, enough for high throughput to a single endpoint.
	DefaultMaxIdleConnsPerHost = 256
	// DefaultUserAgent is the User-Agent sent when the request sets none.
	DefaultUserAgent = "Herald-Webhooks"
)

const (
	// drainBytes is how much of a response body beyond MaxResponseBytes is
	// read and discarded so the connection can be reused; a longer body
	// costs its connection instead.
	drainBytes = 64 << 10
	// maxTLSHandshake bounds the TLS handshake (further bounded by Timeout).
	maxTLSHandshake = 10 * time.Second
	// idleConnTimeout closes connections nobody has used for this long.
	idleConnTimeout = 90 * time.Second
	// maxResponseHeaderBytes caps the response header a receiver can send.
	maxResponseHeaderBytes = 1 << 20
)

// Config configures a [Client]. The zero value is a production-ready
// configuration: 15s timeout, SSRF guard on with an empty allow-list.
type Config struct {
	// Timeout bounds one attempt, from dialling to the end of reading the
	// response body; [Request.Deadline] can shorten it. Zero or negative
	// means DefaultTimeout (15s).
	Timeout time.Duration

	// AllowCIDRs are prefixes the SSRF guard lets through even though they
	// are not globally routable, such as 10.0.0.0/8 for receivers inside
	// the operator's network. Parse the configuration value with
	// [ParseCIDRs]. Nil allows nothing beyond global addresses.
	AllowCIDRs []netip.Prefix

	// MaxResponseBytes is how many bytes of a response body are kept in
	// [Result.Body]. Zero means DefaultMaxResponseBytes (20000); negative
	// keeps none.
	MaxResponseBytes int

	// DisableSSRFGuard turns the SSRF guard off, so any address, loopback
	// and cloud metadata services included, may be dialled. It exists for
	// tests and local experiments only; production deployments that need
	// to reach private receivers should list them in AllowCIDRs instead.
	// Default false.
	DisableSSRFGuard bool

	// UserAgent is sent as User-Agent when the request's headers set none.
	// Empty means DefaultUserAgent ("Herald-Webhooks").
	UserAgent string

	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept
	// per receiver host. Zero or negative means DefaultMaxIdleConnsPerHost
	// (256).
	MaxIdleConnsPerHost int

	// Resolver, when set, resolves host names instead of the system
	// resolver. It has the shape of (*net.Resolver).LookupNetIP: network is
	// "ip", "ip4" or "ip6". Tests use it to make a name such as
	// "rebind.test" resolve to 127.0.0.1. Every returned address still
	// passes the SSRF guard when dialled. Nil means the system resolver.
	Resolver func(ctx context.Context, network, host string) ([]netip.Addr, error)

	// WrapTransport, when set, wraps the client's transport, for example
	// to trace each request. The wrapper must not replace the request's
	// destination: the SSRF guard sits in the wrapped transport's dialer.
	// Nil means no wrapper.
	WrapTransport func(http.RoundTripper) http.RoundTripper

	// Now is the clock that times attempts, places [Request.Deadline] and
	// dates Retry-After; it must be the clock Request.Deadline was read
	// from. Nil means time.Now.
	Now func() time.Time
}

// Client sends webhooks. It is safe for concurrent use; build one per process
// with [New] and share it, so connections are reused.
type Client struct {
	http      *http.Client
	dialer    *net.Dialer
	resolver  func(ctx context.Context, network, host string) ([]netip.Addr, error)
	allow     []netip.Prefix
	timeout   time.Duration
	maxBody   int64
	userAgent string
	now       func() time.Time
}

// New builds a Client from cfg, applying the defaults documented on [Config].
func New(cfg Config) *Client {
	c := &Client{
		resolver:  cfg.Resolver,
		allow:     append([]netip.Prefix(nil), cfg.AllowCIDRs...),
		timeout:   cfg.Timeout,
		maxBody:   int64(max(cfg.MaxResponseBytes, 0)),
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes == 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	idle := cfg.MaxIdleConnsPerHost
	if idle <= 0 {
		idle = DefaultMaxIdleConnsPerHost
	}

	c.dialer = &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	if !cfg.DisableSSRFGuard {
		c.dialer.Control = c.control
	}
	transport := &http.Transport{
		// Never an environment proxy: the proxy, not us, would dial the
		// receiver, and the SSRF guard would only ever see the proxy.
		Proxy:                  nil,
		DialContext:            c.dialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext disables HTTP/2 otherwise
		TLSHandshakeTimeout:    min(maxTLSHandshake, c.timeout),
		ResponseHeaderTimeout:  c.timeout,
		MaxIdleConnsPerHost:    idle,
		IdleConnTimeout:        idleConnTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The body is kept for the attempt log, not interpreted; asking for
		// gzip would only add decompression work.
		DisableCompression: true,
	}
	var rt http.RoundTripper = transport
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(transport)
	}
	c.http = &http.Client{
		Transport: rt,
		// A redirect is the receiver's answer, not an instruction: the
		// attempt fails with the 3xx status and Location is never dialled.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// CloseIdleConnections closes keep-alive connections that are not in use,
// for example at shutdown. The Client remains usable.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
}

// Request is one webhook attempt. Send always uses POST.
type Request struct {
	// URL is the endpoint URL; only http and https are sent (see
	// [ValidateURL]).
	URL string
	// Headers are sent as given (they are copied, not modified). User-Agent
	// is added when absent; Content-Length and Host are set by the
	// transport. Nil sends no headers of the caller's.
	Headers http.Header
	// Body is sent byte for byte, with a Content-Length. Nil sends an empty
	// body.
	Body []byte
	// Deadline, when not zero, ends the attempt at that instant if it comes
	// before now+Timeout. The delivery engine passes its lease expiry so an
	// attempt never outlives the lease that guards it.
	Deadline time.Time
}

// Result is what happened to one [Request]. Pass it to [Classify] to decide
// what to do next.
type Result struct {
	// StatusCode is the response status, or 0 when no response arrived.
	StatusCode int
	// Body is the start of the response body, at most MaxResponseBytes
	// bytes, made storable text by [CleanText]: bytes that are not UTF-8
	// and NUL become U+FFFD, and a character cut by the limit is dropped.
	// A failure while reading the body after the status line arrived
	// (the deadline included) only shortens Body: the status decides.
	Body string
	// Duration is how long Send took, including reading the body.
	Duration time.Duration
	// Err is the reason no response arrived: an invalid URL, a DNS or
	// connection failure, a TLS error, a timeout, or a [*BlockedError] from
	// the SSRF guard (test with errors.As). It is nil whenever StatusCode
	// is set.
	Err error
	// RetryAfter is the delay the receiver asked for in a Retry-After header
	// (see [ParseRetryAfter]); zero when the header is absent, malformed or
	// asks for no delay.
	RetryAfter time.Duration
	// Timeout is true when no response arrived before the deadline.
	Timeout bool
	// Class is the kind of failure when Err is set; ClassNone otherwise.
	Class Class
}

// ErrorText is the error to record for an attempt that got no usable
// answer: "<plain reason>: <detail>" (see [PublicReason]); empty when Err is
// nil.
func (r Result) ErrorText() string {
	if r.Err == nil {
		return ""
	}
	return CleanText([]byte(r.Class.Reason()+": "+r.Err.Error()), maxErrorText)
}

// maxErrorText bounds a recorded error; errors can quote what a receiver
// sent.
const maxErrorText = 2048

// Send POSTs req and reports the outcome. Every failure, a refusal by the
// SSRF guard included, is reported in the Result. The response body is read up to MaxResponseBytes, a bounded
// remainder is discarded, and the body is closed so the connection can be
// reused. ctx can cancel the attempt; its deadline, Config.Timeout and
// req.Deadline all bound it.
func (c *Client) Send(ctx context.Context, req Request) Result {
	start := c.now()
	res := c.send(ctx, req, start)
	res.Duration = c.now().Sub(start)
	return res
}

func (c *Client) send(ctx context.Context, req Request, start time.Time) Result {
	if err := ValidateURL(req.URL); err != nil {
		return Result{Err: err, Class: ClassURL}
	}
	// A timeout, not a deadline: req.Deadline is on the injected clock,
	// which the context's timer does not read.
	timeout := c.timeout
	if !req.Deadline.IsZero() {
		timeout = min(timeout, req.Deadline.Sub(start))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// For a *bytes.Reader, NewRequestWithContext sets ContentLength and a
	// GetBody that replays the same bytes, so the transport can resend the
	// body exactly if a reused connection turns out dead before any byte
	// was written.
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Result{Err: err, Class: ClassURL}
	}
	if req.Headers != nil {
		hreq.Header = req.Headers.Clone()
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", c.userAgent)
	}

	resp, err := c.http.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is recorded with the attempt already
		}
		if isTimeout(ctx, err) {
			return Result{Err: fmt.Errorf("no response within %s: %w", c.now().Sub(start).Round(time.Millisecond), err), Timeout: true, Class: ClassTimeout}
		}
		return Result{Err: err, Class: classifyError(err)}
	}
	// Nothing read from here on may outlive the deadline, whatever the
	// status: the context ends an ordinary body, and closing the body at
	// the deadline ends the rest (a protocol switch hands over the raw
	// connection, on which the context no longer acts).
	stop := context.AfterFunc(ctx, func() { _ = resp.Body.Close() })
	defer stop()
	if resp.StatusCode < 200 {
		// net/http returns a 1xx only for 101 Switching Protocols (it
		// reads past the others): the receiver took the connection for
		// another protocol and no webhook answer will follow.
		_ = resp.Body.Close()
		return Result{
			Err:   fmt.Errorf("the endpoint answered %d %s instead of a final status", resp.StatusCode, http.StatusText(resp.StatusCode)),
			Class: ClassProtocol,
		}
	}
	res := Result{StatusCode: resp.StatusCode}
	res.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	body, _ := io.ReadAll(io.LimitReader(resp.Body, c.maxBody))
	res.Body = CleanText(body, int(c.maxBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	_ = resp.Body.Close()
	return res
}

func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// control is the dialer's Control hook: it runs after DNS resolution, on the
// exact address about to be connected, so what is checked is what is dialled.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("SSRF guard: cannot parse dialled address %q: %w", address, err)
	}
	return CheckAddr(ap.Addr(), c.allow)
}

// dialContext dials address, resolving its host with the Resolver hook when
// one is configured. Either way every connection passes through the
// dialer's Control hook.
func (c *Client) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err == nil || c.resolver == nil {
		conn, err := c.dialer.DialContext(ctx, network, address)
		return conn, withHost(err, host)
	}

	lookupNetwork := "ip"
	switch network {
	case "tcp4":
		lookupNetwork = "ip4"
	case "tcp6":
		lookupNetwork = "ip6"
	}
	addrs, err := c.resolver(ctx, lookupNetwork, host)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("lookup %s: no addresses", host)
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := c.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, withHost(firstErr, host)
}

// withHost records the host name on a BlockedError so the message shows both
// the name and the address it resolved to.
func withHost(err error, host string) error {
	var be *BlockedError
	if errors.As(err, &be) && be.Host == "" {
		if _, perr := netip.ParseAddr(host); perr != nil {
			be.Host = host
		}
	}
	return err
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/webhook"
)

// maxListenBody bounds the bodies herald listen reads and relays: well
// above the largest payload Herald accepts by default (1 MiB).
const maxListenBody = 16 << 20

func newListenCmd(s Streams) *cobra.Command {
	var lf listenFlags
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive webhooks locally: verify, show, answer or forward them",
		Long: `Run a local webhook receiver, to see what an endpoint gets while you build it.
Point an endpoint at the address it prints (Herald refuses local addresses
unless the server allows them: HERALD_ALLOW_CIDRS=127.0.0.0/8).

With --secret, every request is verified as a Standard Webhooks (or Svix)
signature; a request that fails (wrong signature, stale timestamp, missing
headers) is answered 401 with the reason and shown as rejected. Without it,
requests are shown as unverified. Each request is shown with its time, message
id, verification result and pretty-printed JSON (a body that is not JSON is
shown as it is), or with --json as one JSON object per line: id, timestamp
(the webhook-timestamp, RFC 3339), received_at, verified, result (verified,
unverified or rejected), reason, event_type (the payload's "type"), method,
path, status (the answer), headers and payload (a string, with invalid_json,
when the body is not JSON).

Requests are answered with --status (200 unless told otherwise), or, with
--forward-to, relayed as they came (method, headers, body byte for byte) to
your application, whose status and body are the answer.`,
		Example: `  herald listen --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  herald listen --secret "$(herald endpoint secret --app acme main)" --forward-to http://localhost:3000/webhooks
  herald listen --status 500          # see Herald retry
  herald listen --json | jq .payload`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, addr, err := lf.receiver(cmd, s)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return r.run(ctx, addr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&lf.listen, "listen", "127.0.0.1:9000", "address to listen on (port 0 picks a free one)")
	f.StringArrayVar(&lf.secrets, "secret", nil, "endpoint secret to verify with: whsec_... or whpk_... (repeatable, during rotation)")
	f.IntVar(&lf.status, "status", http.StatusOK, "HTTP status to answer, to simulate failures")
	f.StringVar(&lf.forwardTo, "forward-to", "", "relay each request to this URL and answer with its response")
	f.BoolVar(&lf.json, "json", false, "print one JSON object per request instead of text")
	return cmd
}

// listenFlags are the flags of herald listen.
type listenFlags struct {
	listen, forwardTo string
	secrets           []string
	status            int
	json              bool
}

// receiver checks the flags and returns the receiver they describe, and
// the address to listen on.
func (lf *listenFlags) receiver(cmd *cobra.Command, s Streams) (*receiver, string, error) {
	f := cmd.Flags()
	addr := lf.listen
	r := &receiver{stdout: s.Stdout, stderr: s.Stderr, now: time.Now, json: lf.json, status: lf.status}
	if r.status < 200 || r.status > 599 {
		return nil, "", &UsageError{Err: fmt.Errorf("--status %d: want an HTTP status between 200 and 599", r.status)}
	}
	for _, sec := range lf.secrets {
		parsed, err := webhook.ParseSecret(strings.TrimSpace(sec))
		if err != nil {
			return nil, "", &UsageError{Err: fmt.Errorf("--secret: %w", err)}
		}
		r.secrets = append(r.secrets, parsed)
	}
	if len(r.secrets) > 0 {
		r.verifier = webhook.NewVerifier(r.secrets...)
	}
	if fwd := lf.forwardTo; fwd != "" {
		if f.Changed("status") {
			return nil, "", &UsageError{Err: errors.New("--status and --forward-to cannot be used together: with --forward-to, your application answers")}
		}
		u, err := url.Parse(fwd)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "", &UsageError{Err: fmt.Errorf("--forward-to %q: want an http:// or https:// URL", fwd)}
		}
		r.forward = u
		r.client = &http.Client{
			Timeout: 30 * time.Second,
			// Relay redirects as they are, like every other answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:       nil,
				DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				// Relay bodies exactly: ask for no encoding the
				// sender did not ask for.
				DisableCompression: true,
				MaxIdleConns:       4,
				IdleConnTimeout:    30 * time.Second,
			},
		}
	}
	return r, addr, nil
}

// receiver is the http.Handler of herald listen.
type receiver struct {
	secrets  []webhook.Secret
	verifier *webhook.Verifier // nil: no verification
	status   int
	forward  *url.URL // nil: answer with status
	client   *http.Client
	json     bool
	now      func() time.Time

	mu     sync.Mutex // serializes output
	stdout io.Writer
	stderr io.Writer
}

// run serves until ctx ends, then shuts down.
func (r *receiver) run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		MaxHeaderBytes:    1 << 20,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	r.mu.Lock()
	fmt.Fprintf(r.stderr, "herald listen: listening on http://%s/\n", ln.Addr())
	switch {
	case r.verifier != nil:
		fmt.Fprintf(r.stderr, "herald listen: verifying signatures (%d secret(s)); requests that fail are answered 401\n", len(r.secrets))
	default:
		fmt.Fprintln(r.stderr, "herald listen: NOT verifying signatures: requests are shown as unverified (pass --secret whsec_... to verify)")
	}
	if r.forward != nil {
		fmt.Fprintf(r.stderr, "herald listen: forwarding requests to %s\n", r.forward.Redacted())
	} else {
		fmt.Fprintf(r.stderr, "herald listen: answering %d %s\n", r.status, http.StatusText(r.status))
	}
	r.mu.Unlock()

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	return nil
}

// delivery is one request as herald listen reports it; with --json it is
// printed as one line.
type delivery struct {
	ID          string              `json:"id"`
	Timestamp   time.Time           `json:"timestamp"`
	ReceivedAt  time.Time           `json:"received_at"`
	Verified    bool                `json:"verified"`
	Result      string              `json:"result"`
	Reason      string              `json:"reason,omitempty"`
	EventType   string              `json:"event_type,omitempty"`
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Status      int                 `json:"status"`
	ForwardedTo string              `json:"forwarded_to,omitempty"`
	Headers     map[string][]string `json:"headers"`
	Payload     json.RawMessage     `json:"payload"`
	InvalidJSON bool                `json:"invalid_json,omitempty"`

	body []byte // the raw body, for human output
}

// The results of a request.
const (
	resultVerified   = "verified"
	resultUnverified = "unverified"
	resultRejected   = "rejected"
)

// ServeHTTP verifies, reports and answers one request.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := &delivery{
		ReceivedAt: r.now().UTC().Truncate(time.Millisecond),
		Method:     req.Method,
		Path:       req.URL.RequestURI(),
		Headers:    req.Header,
	}
	d.ID, d.Timestamp = messageHeaders(req.Header)
	if d.Timestamp.IsZero() {
		d.Timestamp = d.ReceivedAt
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxListenBody))
	if err != nil {
		d.Result, d.Reason, d.Status = resultRejected, "cannot read body: "+err.Error(), http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			d.Reason, d.Status = fmt.Sprintf("body larger than %d bytes", maxListenBody), http.StatusRequestEntityTooLarge
		}
		r.report(d)
		http.Error(w, "herald listen: "+d.Reason, d.Status)
		return
	}
	d.setPayload(body)

	d.Result = resultUnverified
	if r.verifier != nil {
		if err := r.verifier.Verify(req.Header, body); err != nil {
			d.Result, d.Reason, d.Status = resultRejected, rejectReason(err), http.StatusUnauthorized
			r.report(d)
			http.Error(w, "herald listen: rejected: "+d.Reason, http.StatusUnauthorized)
			return
		}
		d.Result, d.Verified = resultVerified, true
	}

	if r.forward == nil {
		d.Status = r.status
		r.report(d)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(r.status)
		if r.status < 300 {
			io.WriteString(w, "ok\n")
		} else {
			fmt.Fprintf(w, "herald listen: answering %d as told by --status\n", r.status)
		}
		return
	}

	target := r.target(req)
	d.ForwardedTo = target.Redacted()
	resp, respBody, err := r.relay(req, target, body)
	if err != nil {
		d.Status, d.Reason = http.StatusBadGateway, "forward failed: "+err.Error()
		r.report(d)
		http.Error(w, "herald listen: "+d.Reason, http.StatusBadGateway)
		return
	}
	d.Status = resp.StatusCode
	r.report(d)
	for k, vs := range resp.Header {
		if hopHeader(k) || k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

// messageHeaders returns the message id and timestamp of a request, from
// the webhook-* headers or else the svix-* ones.
func messageHeaders(h http.Header) (id string, ts time.Time) {
	id, raw := h.Get(webhook.HeaderID), h.Get(webhook.HeaderTimestamp)
	if id == "" && raw == "" {
		id, raw = h.Get(webhook.HeaderSvixID), h.Get(webhook.HeaderSvixTimestamp)
	}
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil && n > 0 && n < 1<<40 {
		ts = time.Unix(n, 0).UTC()
	}
	return id, ts
}

// setPayload records the body: as JSON when it is, else as a string.
func (d *delivery) setPayload(body []byte) {
	d.body = body
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && json.Valid(trimmed) {
		d.Payload = json.RawMessage(trimmed)
		var typed struct {
			Type any `json:"type"`
		}
		if json.Unmarshal(trimmed, &typed) == nil {
			if t, ok := typed.Type.(string); ok {
				d.EventType = t
			}
		}
		return
	}
	raw, _ := json.Marshal(string(body))
	d.Payload = raw
	d.InvalidJSON = len(body) > 0
	if len(body) == 0 {
		d.Payload = json.RawMessage(`""`)
	}
}

// rejectReason is the short reason a verification error is shown and
// answered with.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, webhook.ErrMissingHeaders):
		return "missing webhook-id, webhook-timestamp or webhook-signature header"
	case errors.Is(err, webhook.ErrInvalidTimestamp):
		return "invalid webhook-timestamp"
	case errors.Is(err, webhook.ErrTimestampTooOld):
		return "timestamp too old (more than 5 minutes ago): a replay, or a clock off"
	case errors.Is(err, webhook.ErrTimestampTooNew):
		return "timestamp too new (more than 5 minutes ahead): a clock off"
	case errors.Is(err, webhook.ErrNoMatchingSignature):
		return "no matching signature: another secret, or the body was changed"
	}
	return err.Error()
}

// target is the URL a request is relayed to: --forward-to, completed with
// the request's path and query when --forward-to has no path of its own.
func (r *receiver) target(req *http.Request) *url.URL {
	u := *r.forward
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath = req.URL.Path, req.URL.RawPath
		if u.RawQuery == "" {
			u.RawQuery = req.URL.RawQuery
		}
	}
	return &u
}

// relay sends the request on, with its method, headers and body as
// received, and returns the response with its body.
func (r *receiver) relay(req *http.Request, target *url.URL, body []byte) (*http.Response, []byte, error) {
	out, err := http.NewRequestWithContext(req.Context(), req.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range req.Header {
		if hopHeader(k) {
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// Send no User-Agent rather than Go's.
		out.Header["User-Agent"] = []string{""}
	}
	resp, err := r.client.Do(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxListenBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if len(respBody) > maxListenBody {
		return nil, nil, fmt.Errorf("response larger than %d bytes", maxListenBody)
	}
	return resp, respBody, nil
}

// hopHeader reports whether a header belongs to one connection and is not
// relayed.
func hopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// report prints a request, as a line of JSON or as text.
func (r *receiver) report(d *delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.json {
		line, err := json.Marshal(d)
		if err != nil {
			fmt.Fprintf(r.stderr, "herald listen: cannot encode request: %v\n", err)
			return
		}
		r.stdout.Write(append(line, '\n'))
		return
	}
	writeDelivery(r.stdout, d)
}

// writeDelivery prints a request for a person: a summary line, then the
// payload, pretty-printed when it is JSON.
func writeDelivery(w io.Writer, d *delivery) {
	result := d.Result
	switch d.Result {
	case resultRejected:
		result = "REJECTED (" + d.Reason + ")"
	case resultUnverified:
		result = "unverified"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s", d.ReceivedAt.Local().Format(time.DateTime), orDash(d.ID), result)
	if d.EventType != "" {
		fmt.Fprintf(&b, "  %s", d.EventType)
	}
	fmt.Fprintf(&b, "  %s %s  -> %d", d.Method, d.Path, d.Status)
	if d.ForwardedTo != "" {
		fmt.Fprintf(&b, " from %s", d.ForwardedTo)
	}
	if d.Result != resultRejected && d.Reason != "" {
		fmt.Fprintf(&b, " (%s)", d.Reason)
	}
	b.WriteByte('\n')
	switch {
	case len(bytes.TrimSpace(d.body)) == 0:
		b.WriteString("(empty body)\n")
	case d.InvalidJSON:
		b.WriteString("(not JSON)\n")
		b.Write(d.body)
		if !bytes.HasSuffix(d.body, []byte("\n")) {
			b.WriteByte('\n')
		}
	default:
		b.WriteString(prettyJSON(d.Payload))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each request of a Client made without
// WithHTTPClient. A context deadline shorter than it wins.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is the User-Agent a Client sends unless WithUserAgent
// sets another.
const DefaultUserAgent = "herald-go-client"

// maxResponseBytes bounds the response bodies read. A list page of 250
// messages with large payloads stays well under it.
const maxResponseBytes = 64 << 20

// Client calls Herald's API. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc instead of an
// http.Client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a Client of the Herald server at baseURL, such as
// "http://127.0.0.1:8071" or "https://herald.example.com/prefix", which
// authenticates with token (an admin token, hsk_..., or an app portal token,
// hpt_...). A baseURL without a scheme gets "http://". Requests go to
// baseURL + "/api/v1/...".
//
// New fails only if baseURL is not a usable URL; an empty token is
// allowed, and the server then answers 401 to every authenticated request.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		return nil, errors.New("client: empty server URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("client: server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http:// or https:// and a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q: must not have a query or fragment", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:      u.String(),
		token:     token,
		hc:        &http.Client{Timeout: DefaultTimeout},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server URL the Client sends requests to, without a
// trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Error is a response of the API with a status of 300 or more.
type Error struct {
	// Status is the HTTP status code, such as 404.
	Status int
	// Code is the API's machine-readable error code, such as "not_found"
	// or "authentication_failed"; "validation_error" for a 422. Empty
	// when the body was not an API error (a proxy's page, say).
	Code string
	// Detail is the API's human-readable explanation. For a 422 it joins
	// the Validation entries; for a body that was not an API error it is
	// the start of that body, or the status text.
	Detail string
	// Validation lists the problems with the request when Status is 422
	// (Unprocessable Entity); nil otherwise.
	Validation []ValidationError
}

// ValidationError is one problem of a 422 response.
type ValidationError struct {
	// Loc locates the problem: "body" or "query" or "path", then the
	// field names and list indexes, such as ["body", "eventTypes", "0"].
	Loc []string `json:"loc"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
	// Type classifies the problem, such as "value_error.missing".
	Type string `json:"type"`
}

// Field returns the location of the problem without its first element
// ("body", "query" or "path"), dotted: "eventTypes.0".
func (v ValidationError) Field() string {
	loc := v.Loc
	if len(loc) > 1 {
		loc = loc[1:]
	}
	return strings.Join(loc, ".")
}

// Error returns the status, the code and the detail, as in
// "404 not_found: Entity not found".
func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(strings.ReplaceAll(http.StatusText(e.Status), " ", "_"))
	}
	if e.Detail == "" {
		return fmt.Sprintf("%d %s", e.Status, code)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, code, e.Detail)
}

// newError builds the Error of a response.
func newError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var apiErr struct {
		Code   string          `json:"code"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &apiErr) == nil && len(apiErr.Detail) > 0 {
		var detail string
		var items []ValidationError
		switch {
		case json.Unmarshal(apiErr.Detail, &detail) == nil:
			e.Code, e.Detail = apiErr.Code, detail
			return e
		case json.Unmarshal(apiErr.Detail, &items) == nil:
			e.Code = apiErr.Code
			if e.Code == "" {
				e.Code = "validation_error"
			}
			e.Validation = items
			parts := make([]string, 0, len(items))
			for _, it := range items {
				parts = append(parts, it.Field()+": "+it.Msg)
			}
			e.Detail = strings.Join(parts, "; ")
			return e
		}
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		text = http.StatusText(status)
	}
	e.Detail = text
	return e
}

type rawKey struct{}

// WithRawResponse returns a context under which each request made by a
// Client stores the body of its successful response in *dst, byte for byte
// as the server sent it (empty for 204 No Content). Use it to pass the API's
// JSON on unchanged, as `herald ... --json` does.
func WithRawResponse(ctx context.Context, dst *[]byte) context.Context {
	return context.WithValue(ctx, rawKey{}, dst)
}

// do sends one request. segs are the path segments after /api/v1, escaped
// here; in is encoded as the JSON body when not nil; out receives the
// decoded JSON response when not nil.
func (c *Client) do(ctx context.Context, method string, segs []string, query url.Values, in, out any) error {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteString("/api/v1")
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("client: %s %s: an id in the path is empty", method, strings.Join(segs, "/"))
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(query) > 0 {
		b.WriteByte('?')
		b.WriteString(query.Encode())
	}
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case rawBody:
		body = bytes.NewReader(in)
	default:
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request body: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.String(), body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err // a *url.Error naming the method and URL
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("client: %s %s: read response: %w", method, req.URL.Path, err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("client: %s %s: response larger than %d bytes", method, req.URL.Path, maxResponseBytes)
	}
	if resp.StatusCode >= 300 {
		return newError(resp.StatusCode, data)
	}
	if dst, ok := ctx.Value(rawKey{}).(*[]byte); ok && dst != nil {
		*dst = data
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("client: %s %s: decode response: %w", method, req.URL.Path, err)
		}
	}
	return nil
}

// rawBody is a request body already encoded, sent as it is.
type rawBody []byte

// setTime adds a date-time query parameter when t is set.
func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.Format(time.RFC3339Nano))
	}
}

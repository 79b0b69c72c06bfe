// Package tracing is Herald's optional OpenTelemetry tracing: a server span
// for every API request and a client span for every delivery attempt,
// exported over OTLP/HTTP. It is configured by the standard OTEL_*
// environment variables only, and is off unless OTEL_TRACES_EXPORTER,
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
//
// Supported variables: OTEL_TRACES_EXPORTER (otlp, console or none),
// OTEL_SDK_DISABLED, the OTEL_EXPORTER_OTLP_* (and _TRACES_*) endpoint,
// headers, timeout, compression, certificate and protocol (http/protobuf,
// the default, or http/json; grpc is not built in), OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_*.
//
// Incoming W3C traceparent headers are honoured, so API spans join the
// caller's trace. Nothing is propagated to receivers: a delivery carries no
// tracing headers.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Exporter is where spans go.
type Exporter string

// Exporters.
const (
	// ExporterNone turns tracing off.
	ExporterNone Exporter = "none"
	// ExporterOTLP sends spans over OTLP/HTTP.
	ExporterOTLP Exporter = "otlp"
	// ExporterConsole writes spans to Options.Console as JSON (for
	// debugging).
	ExporterConsole Exporter = "console"
)

// ExporterFromEnv decides from the environment (read with getenv) where
// spans go: none unless tracing is asked for, and an error naming the
// variable for what this build cannot do.
func ExporterFromEnv(getenv func(string) string) (Exporter, error) {
	if v, _ := strconv.ParseBool(strings.TrimSpace(getenv("OTEL_SDK_DISABLED"))); v {
		return ExporterNone, nil
	}
	exp := Exporter(strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))))
	if first, _, ok := strings.Cut(string(exp), ","); ok {
		// A list: Herald uses one exporter, the first.
		exp = Exporter(strings.TrimSpace(first))
	}
	if exp == "" {
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return ExporterNone, nil
		}
		exp = ExporterOTLP
	}
	switch exp {
	case ExporterNone, ExporterConsole:
		return exp, nil
	case ExporterOTLP:
		// The traces variable wins over the general one.
		k := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
		if getenv(k) == "" {
			k = "OTEL_EXPORTER_OTLP_PROTOCOL"
		}
		switch p := strings.TrimSpace(getenv(k)); p {
		case "", "http/protobuf", "http/json":
			return exp, nil
		default:
			return "", fmt.Errorf("%s: protocol %q is not supported: use http/protobuf (port 4318 of a collector)", k, p)
		}
	}
	return "", fmt.Errorf("OTEL_TRACES_EXPORTER: exporter %q is not supported: use otlp, console or none", exp)
}

// Options configure New.
type Options struct {
	// Getenv reads the environment to decide whether to trace; nil means
	// os.Getenv. (The exporter reads its OTEL_EXPORTER_OTLP_* settings
	// from the process environment itself.)
	Getenv func(string) string
	// Version is reported as service.version.
	Version string
	// Console receives spans with OTEL_TRACES_EXPORTER=console; nil means
	// io.Discard.
	Console io.Writer
}

// Tracing makes spans. The zero value, and the one New returns when tracing
// is off, makes none at no cost.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// New sets tracing up as the environment says. It returns a Tracing that
// makes no spans when tracing is off.
func New(ctx context.Context, opts Options) (*Tracing, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	kind, err := ExporterFromEnv(opts.Getenv)
	if err != nil || kind == ExporterNone {
		return &Tracing{}, err
	}
	var exp sdktrace.SpanExporter
	switch kind {
	case ExporterOTLP:
		exp, err = otlptracehttp.New(ctx)
	case ExporterConsole:
		w := opts.Console
		if w == nil {
			w = io.Discard
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %s exporter: %w", kind, err)
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override Herald's defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "herald"), attribute.String("service.version", opts.Version)),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{
		provider: tp,
		tracer:   tp.Tracer("github.com/heraldhq/herald"),
		prop:     propagation.TraceContext{},
	}, nil
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Shutdown exports the spans still buffered and stops, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Handler wraps an API handler with a server span per request, named after
// the route pattern the handler's ServeMux matched (Request.Pattern), so
// that names stay few: "POST /api/v1/app/{app_id}/msg".
func (t *Tracing) Handler(next http.Handler) http.Handler {
	if !t.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("url.scheme", scheme(r)),
				attribute.String("user_agent.original", r.UserAgent()),
			))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		req := r.WithContext(ctx)
		next.ServeHTTP(sw, req)
		// The handler's ServeMux writes the pattern it matched into the
		// request it was given.
		if p := req.Pattern; p != "" && p != "/" {
			route := p
			if _, after, ok := strings.Cut(p, " "); ok {
				route = after
			}
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		status := sw.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// Transport wraps the delivery client's transport with a client span per
// attempt, ended when the response body is closed. It records the
// receiver's host, port and path (never the query, which may hold a
// credential) and the message id (webhook-id), and injects nothing into the
// request.
func (t *Tracing) Transport(next http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return next
	}
	return &transport{next: next, tracer: t.tracer}
}

type transport struct {
	next   http.RoundTripper
	tracer trace.Tracer
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("server.address", r.URL.Hostname()),
		attribute.String("url.scheme", r.URL.Scheme),
		attribute.String("url.path", r.URL.Path),
	}
	if port := r.URL.Port(); port != "" {
		if n, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	if id := r.Header.Get("webhook-id"); id != "" {
		attrs = append(attrs, attribute.String("herald.message_id", id))
	}
	_, span := tr.tracer.Start(r.Context(), "webhook "+r.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	resp, err := tr.next.RoundTrip(r)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "no response")
		span.End()
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		span.SetStatus(codes.Error, resp.Status)
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// CloseIdleConnections reaches the wrapped transport, so that
// http.Client.CloseIdleConnections still works.
func (tr *transport) CloseIdleConnections() {
	if c, ok := tr.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// spanBody ends its span when closed, so that the span covers reading the
// response.
type spanBody struct {
	io.ReadCloser
	span  trace.Span
	ended bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.span.RecordError(err)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.ended {
		b.ended = true
		b.span.End()
	}
	return err
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

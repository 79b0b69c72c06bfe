package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestExporterFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		want    Exporter
		errWant string // a part of the error; "" for none
	}{
		{env: nil, want: ExporterNone},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x"}, want: ExporterNone},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": " OTLP , console"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, want: ExporterConsole},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, want: ExporterNone},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: ExporterNone},
		{env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, errWant: `OTEL_TRACES_EXPORTER: exporter "zipkin" is not supported`},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, errWant: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		// The traces variable wins over the general one.
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: ExporterOTLP},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, errWant: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
	} {
		got, err := ExporterFromEnv(func(k string) string { return tc.env[k] })
		if tc.errWant != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Errorf("%v: error %v, want one containing %q", tc.env, err, tc.errWant)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: got %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestOffMakesNoSpans(t *testing.T) {
	t.Parallel()
	tr, err := New(t.Context(), Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("enabled without any OTEL_ variable")
	}
	h := http.NotFoundHandler()
	if got := tr.Handler(h); got == nil {
		t.Fatal("nil handler")
	}
	rt := http.DefaultTransport
	if got := tr.Transport(rt); got != rt {
		t.Error("Transport wrapped although tracing is off")
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the exporter's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// span is the part of the console exporter's JSON the test reads.
type span struct {
	Name        string
	SpanKind    int
	SpanContext struct{ TraceID string }
	Parent      struct{ TraceID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
	Status struct{ Code string }
}

func (s span) attr(k string) any {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.Value
		}
	}
	return nil
}

func TestConsoleSpans(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	env := map[string]string{"OTEL_TRACES_EXPORTER": "console"}
	tr, err := New(context.Background(), Options{Getenv: func(k string) string { return env[k] }, Version: "v9", Console: out})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("console exporter not enabled")
	}

	// A receiver, reached through the traced transport.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			t.Error("a delivery carries a traceparent header")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer receiver.Close()
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport.(*http.Transport).Clone())}
	req, _ := http.NewRequest("POST", receiver.URL+"/hook?token=secret", strings.NewReader("{}"))
	req.Header.Set("webhook-id", "msg_1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// An API, behind a ServeMux, called with a caller's traceparent.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/app/{app_id}/msg", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})
	api := httptest.NewServer(tr.Handler(mux))
	defer api.Close()
	req, _ = http.NewRequest("POST", api.URL+"/api/v1/app/app_123/msg", strings.NewReader("{}"))
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := map[string]span{}
	dec := json.NewDecoder(strings.NewReader(out.String()))
	for dec.More() {
		var s span
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		spans[s.Name] = s
	}
	send, ok := spans["webhook POST"]
	if !ok {
		t.Fatalf("no delivery span in %v", spans)
	}
	if send.attr("herald.message_id") != "msg_1" || send.attr("url.path") != "/hook" || send.attr("http.response.status_code") != float64(503) || send.Status.Code != "Error" {
		t.Errorf("delivery span %+v", send)
	}
	if strings.Contains(out.String(), "token=secret") {
		t.Error("the receiver URL's query is in a span")
	}
	apiSpan, ok := spans["POST /api/v1/app/{app_id}/msg"]
	if !ok {
		t.Fatalf("no span named after the route in %v", spans)
	}
	if apiSpan.attr("http.route") != "/api/v1/app/{app_id}/msg" || apiSpan.attr("http.response.status_code") != float64(202) {
		t.Errorf("API span %+v", apiSpan)
	}
	if apiSpan.SpanContext.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("API span trace %s, want the caller's", apiSpan.SpanContext.TraceID)
	}
}

package egress

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()

	blocked := fmt.Errorf("dial tcp 10.0.0.1:443: %w", &BlockedError{Addr: netip.MustParseAddr("10.0.0.1"), Reason: "a private address (RFC 1918)"})
	tests := []struct {
		name string
		in   Result
		want Outcome
	}{
		{"200", Result{StatusCode: 200}, Outcome{Success: true}},
		{"201", Result{StatusCode: 201}, Outcome{Success: true}},
		{"204", Result{StatusCode: 204}, Outcome{Success: true}},
		{"299", Result{StatusCode: 299}, Outcome{Success: true}},
		{"2xx ignores Retry-After", Result{StatusCode: 200, RetryAfter: time.Hour}, Outcome{Success: true}},
		{"101", Result{StatusCode: 101}, Outcome{Retryable: true}},
		{"301 not followed", Result{StatusCode: 301}, Outcome{Retryable: true}},
		{"302 not followed", Result{StatusCode: 302}, Outcome{Retryable: true}},
		{"307 not followed", Result{StatusCode: 307}, Outcome{Retryable: true}},
		{"400", Result{StatusCode: 400}, Outcome{Retryable: true}},
		{"401", Result{StatusCode: 401}, Outcome{Retryable: true}},
		{"404", Result{StatusCode: 404}, Outcome{Retryable: true}},
		{"410 disables", Result{StatusCode: 410}, Outcome{DisableEndpoint: true}},
		{"410 ignores Retry-After", Result{StatusCode: 410, RetryAfter: time.Minute}, Outcome{DisableEndpoint: true}},
		{"413", Result{StatusCode: 413}, Outcome{Retryable: true}},
		{"429 without Retry-After", Result{StatusCode: 429}, Outcome{Retryable: true, MinBackoff: 60 * time.Second}},
		{"429 Retry-After 120s", Result{StatusCode: 429, RetryAfter: 120 * time.Second}, Outcome{Retryable: true, MinBackoff: 120 * time.Second}},
		{"429 Retry-After 5s", Result{StatusCode: 429, RetryAfter: 5 * time.Second}, Outcome{Retryable: true, MinBackoff: 5 * time.Second}},
		{"429 Retry-After below 1s", Result{StatusCode: 429, RetryAfter: 10 * time.Millisecond}, Outcome{Retryable: true, MinBackoff: time.Second}},
		{"429 Retry-After above 1h", Result{StatusCode: 429, RetryAfter: 48 * time.Hour}, Outcome{Retryable: true, MinBackoff: time.Hour}},
		{"429 Retry-After huge", Result{StatusCode: 429, RetryAfter: math.MaxInt64}, Outcome{Retryable: true, MinBackoff: time.Hour}},
		{"500", Result{StatusCode: 500}, Outcome{Retryable: true}},
		{"500 ignores Retry-After", Result{StatusCode: 500, RetryAfter: time.Minute}, Outcome{Retryable: true}},
		{"502", Result{StatusCode: 502}, Outcome{Retryable: true}},
		{"502 Retry-After", Result{StatusCode: 502, RetryAfter: 30 * time.Second}, Outcome{Retryable: true, MinBackoff: 30 * time.Second}},
		{"503", Result{StatusCode: 503}, Outcome{Retryable: true}},
		{"503 Retry-After", Result{StatusCode: 503, RetryAfter: 10 * time.Minute}, Outcome{Retryable: true, MinBackoff: 10 * time.Minute}},
		{"503 Retry-After above 1h", Result{StatusCode: 503, RetryAfter: 5 * time.Hour}, Outcome{Retryable: true, MinBackoff: time.Hour}},
		{"504 Retry-After", Result{StatusCode: 504, RetryAfter: 2 * time.Second}, Outcome{Retryable: true, MinBackoff: 2 * time.Second}},
		{"599", Result{StatusCode: 599}, Outcome{Retryable: true}},
		{"timeout", Result{Err: context.DeadlineExceeded, Timeout: true}, Outcome{Retryable: true, MinBackoff: 60 * time.Second}},
		{"SSRF refusal", Result{Err: blocked}, Outcome{Retryable: true}},
		{"connection refused", Result{Err: errors.New("dial tcp 203.0.113.1:443: connect: connection refused")}, Outcome{Retryable: true}},
		{"canceled", Result{Err: context.Canceled}, Outcome{Retryable: true}},
		{"status wins over a body error", Result{StatusCode: 200, Err: errors.New("unexpected EOF")}, Outcome{Success: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.in); got != tt.want {
				t.Errorf("Classify(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{"120", 120 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"007", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"99999999999999999999999", math.MaxInt64, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", math.MaxInt64, true},
		{"-1", 0, false},
		{"-120", 0, false},
		{"+120", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{"120s", 0, false},
		{"soon", 0, false},
		{"Wed, 21 Oct 2015 07:30:00 GMT", 2 * time.Minute, true},
		{"Wednesday, 21-Oct-15 07:30:00 GMT", 2 * time.Minute, true}, // RFC 850
		{"Wed Oct 21 07:30:00 2015", 2 * time.Minute, true},          // ANSI C asctime
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0, true},
		{"Wed, 21 Oct 2015 07:00:00 GMT", 0, true}, // in the past: retry now
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"Wed, 21 Oct 2015 07:30:00", 0, false},
		{"2015-10-21T07:30:00Z", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

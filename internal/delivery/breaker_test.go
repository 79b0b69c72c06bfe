package delivery

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/egress"
)

func TestBreakerCounts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		r              egress.Result
		failure, alive bool
	}{
		{"2xx", egress.Result{StatusCode: 200}, false, true},
		{"4xx: up, refusing this message", egress.Result{StatusCode: 400}, false, true},
		{"429", egress.Result{StatusCode: 429}, false, true},
		{"3xx", egress.Result{StatusCode: 302}, false, true},
		{"5xx", egress.Result{StatusCode: 503}, true, false},
		{"timeout", egress.Result{Timeout: true, Class: egress.ClassTimeout, Err: errors.New("x")}, true, false},
		{"refused", egress.Result{Class: egress.ClassConnect, Err: errors.New("x")}, true, false},
		{"dns", egress.Result{Class: egress.ClassDNS, Err: errors.New("x")}, true, false},
		{"ssrf: the configuration's", egress.Result{Class: egress.ClassSSRF, Err: errors.New("x")}, false, false},
		{"bad url", egress.Result{Class: egress.ClassURL, Err: errors.New("x")}, false, false},
	} {
		failure, alive := counts(tt.r)
		if failure != tt.failure || alive != tt.alive {
			t.Errorf("%s: counts = %v, %v; want %v, %v", tt.name, failure, alive, tt.failure, tt.alive)
		}
	}
}

// The circuit opens after the threshold of consecutive failures, lets one
// probe through at a time at a doubling interval, and closes on an answer.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	b := newBreaker(3, 10*time.Second, 40*time.Second)
	now := time.Unix(1000, 0)
	const ep = "ep_a"

	for i := range 2 {
		if ok, _ := b.allow(ep, now); !ok {
			t.Fatalf("closed circuit refused attempt %d", i)
		}
		if tr := b.record(ep, true, false, false, now); tr.changed() {
			t.Fatalf("failure %d changed the circuit: %+v", i+1, tr)
		}
	}
	// An answer resets the count.
	b.record(ep, false, true, false, now)
	for range 2 {
		b.record(ep, true, false, false, now)
	}
	if ok, _ := b.allow(ep, now); !ok {
		t.Fatal("two failures after an answer opened the circuit")
	}
	tr := b.record(ep, true, false, false, now)
	if !tr.opened || tr.failures != 3 || !tr.nextProbe.Equal(now.Add(10*time.Second)) {
		t.Fatalf("third failure: %+v, want opened with a probe in 10s", tr)
	}
	if open, n := b.openEndpoints(now); n != 1 || len(open) != 1 {
		t.Errorf("openEndpoints = %v, %d", open, n)
	}
	// An attempt already in flight fails: no change.
	if tr := b.record(ep, true, false, false, now); tr.changed() {
		t.Errorf("a failure in flight changed the open circuit: %+v", tr)
	}
	if ok, _ := b.allow(ep, now.Add(9*time.Second)); ok {
		t.Fatal("open circuit allowed an attempt before the probe")
	}

	// The probe: one at a time.
	at := now.Add(10 * time.Second)
	if open, _ := b.openEndpoints(at); len(open) != 0 {
		t.Errorf("claims still skip the endpoint when its probe is due: %v", open)
	}
	ok, probe := b.allow(ep, at)
	if !ok || !probe {
		t.Fatalf("probe due: allow = %v, %v", ok, probe)
	}
	if ok, _ := b.allow(ep, at); ok {
		t.Fatal("a second request went while the probe is in flight")
	}
	// It fails: the interval doubles, up to the maximum.
	tr = b.record(ep, true, false, true, at)
	if !tr.probeFailed || !tr.nextProbe.Equal(at.Add(20*time.Second)) {
		t.Fatalf("failed probe: %+v, want the next in 20s", tr)
	}
	at = at.Add(20 * time.Second)
	b.allow(ep, at)
	tr = b.record(ep, true, false, true, at)
	if !tr.nextProbe.Equal(at.Add(40 * time.Second)) {
		t.Fatalf("second failed probe: next in %v, want 40s", tr.nextProbe.Sub(at))
	}
	at = at.Add(40 * time.Second)
	b.allow(ep, at)
	tr = b.record(ep, true, false, true, at)
	if !tr.nextProbe.Equal(at.Add(40 * time.Second)) {
		t.Fatalf("third failed probe: next in %v, want the maximum, 40s", tr.nextProbe.Sub(at))
	}

	// A probe answered closes it.
	at = at.Add(40 * time.Second)
	if ok, probe := b.allow(ep, at); !ok || !probe {
		t.Fatal("probe refused")
	}
	if tr := b.record(ep, false, true, true, at); !tr.closed {
		t.Fatalf("answered probe: %+v, want closed", tr)
	}
	if ok, probe := b.allow(ep, at); !ok || probe {
		t.Error("closed circuit: allow should let everything through, as no probe")
	}
	if _, n := b.openEndpoints(at); n != 0 {
		t.Errorf("%d open after closing", n)
	}
}

func TestBreakerOff(t *testing.T) {
	t.Parallel()
	b := newBreaker(0, time.Second, time.Second)
	now := time.Unix(1000, 0)
	for range 100 {
		if tr := b.record("ep", true, false, false, now); tr.changed() {
			t.Fatal("a breaker that is off opened")
		}
	}
	if ok, _ := b.allow("ep", now); !ok {
		t.Fatal("a breaker that is off refused")
	}
}

// Failures are summed up per endpoint: one line each per interval, with
// counts by kind and the last error, never the response body.
func TestFailureLogSumsUp(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := newFailureLog()
	for range 500 {
		l.add("app_1", "ep_1", egress.Result{StatusCode: 503, Body: "secret payload echo"})
	}
	l.add("app_1", "ep_1", egress.Result{Timeout: true, Class: egress.ClassTimeout, Err: errors.New("no response within 15s")})
	l.add("app_2", "ep_2", egress.Result{Class: egress.ClassConnect, Err: errors.New("dial tcp 203.0.113.1:443: connection refused")})
	l.flush(t.Context(), log, 30*time.Second)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines for 502 failures of two endpoints, want 2:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"endpoint_id=ep_1", "failures=501", `kinds="5xx=500,timeout=1"`, `last_error="the endpoint did not answer in time: no response within 15s"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], "connection refused") || !strings.Contains(lines[1], "app_id=app_2") {
		t.Errorf("second line: %s", lines[1])
	}
	if strings.Contains(buf.String(), "secret payload") {
		t.Error("a response body reached the log")
	}
	buf.Reset()
	l.flush(t.Context(), log, 30*time.Second)
	if buf.Len() != 0 {
		t.Errorf("a quiet interval logged: %s", buf.String())
	}
}

// A user's change to the endpoint forgets its circuit.
func TestBreakerForget(t *testing.T) {
	t.Parallel()
	b := newBreaker(1, time.Minute, time.Hour)
	now := time.Unix(1000, 0)
	b.record("ep", true, false, false, now)
	if open, n := b.forget("ep"); !open || n != 1 {
		t.Errorf("forget = %v, %d; want open after 1 failure", open, n)
	}
	if ok, probe := b.allow("ep", now); !ok || probe {
		t.Error("a forgotten circuit still holds the endpoint")
	}
	if open, _ := b.forget("ep"); open {
		t.Error("forgetting twice")
	}
}

package egress

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWrapTransport checks that a wrapper sees every request and that the
// SSRF guard still applies beneath it.
func TestWrapTransport(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	var seen atomic.Int64
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen.Add(1)
			return next.RoundTrip(r)
		})
	}

	res := New(Config{AllowCIDRs: loopback, WrapTransport: wrap}).Send(t.Context(), Request{URL: srv.URL})
	if res.Err != nil || res.StatusCode != http.StatusAccepted || seen.Load() != 1 {
		t.Fatalf("Result = %+v, wrapper saw %d requests", res, seen.Load())
	}

	res = New(Config{WrapTransport: wrap}).Send(t.Context(), Request{URL: srv.URL})
	var be *BlockedError
	if !errors.As(res.Err, &be) || seen.Load() != 2 {
		t.Fatalf("without the allow-list: Err = %v, wrapper saw %d requests", res.Err, seen.Load())
	}
}

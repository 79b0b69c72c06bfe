package egress

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds applied by Classify.
const (
	// minRetryAfter and maxRetryAfter clamp a receiver's Retry-After: a value
	// below the minimum would hammer a receiver that asked us to slow down, and
	// one above the maximum would let a receiver stall a message indefinitely.
	minRetryAfter = time.Second
	maxRetryAfter = time.Hour
	// slowDownBackoff is the least wait after a timeout, or after a 429
	// without a usable Retry-After.
	slowDownBackoff = 60 * time.Second
)

// Outcome is what one attempt means for the delivery engine.
type Outcome struct {
	// Success is true for a 2xx response.
	Success bool
	// Retryable is true when the message should be attempted again on the
	// retry schedule. It is false on success and on 410 Gone.
	Retryable bool
	// DisableEndpoint is true when the receiver answered 410 Gone, asking
	// for the endpoint to be disabled.
	DisableEndpoint bool
	// MinBackoff is the least time to wait before the next attempt; the
	// engine waits for the later of this and its retry schedule. Zero means
	// the schedule alone decides.
	MinBackoff time.Duration
}

// Classify decides what a [Result] means. It is the single place where
// responses are mapped to retry decisions:
//
//   - 2xx: success.
//   - 410 Gone: failure, not retried, and the endpoint should be disabled.
//   - 429 Too Many Requests: retried, waiting at least Retry-After clamped to
//     [1s, 1h], or 60s when the response has no usable Retry-After.
//   - 502, 503, 504: retried, waiting at least Retry-After clamped to [1s, 1h]
//     when present, otherwise on the schedule.
//   - Any other status, 3xx included (redirects are never followed): retried
//     on the schedule.
//   - A timeout (Result.Timeout): retried, waiting at least 60s.
//   - A refusal by the SSRF guard ([*BlockedError]): retried on the schedule.
//     The refusal is not final because the operator may extend the allow-list,
//     the user may correct the endpoint URL, or the name may resolve to a
//     public address again; the schedule bounds the cost of trying.
//   - Any other transport error (refused, reset, TLS, DNS...): retried on the
//     schedule.
//
// A zero Result.RetryAfter counts as absent, so "Retry-After: 0" on a 429
// still waits 60s. When a status code is present it decides, whatever Err
// holds.
func Classify(r Result) Outcome {
	switch code := r.StatusCode; {
	case code >= 200 && code <= 299:
		return Outcome{Success: true}
	case code == http.StatusGone:
		return Outcome{DisableEndpoint: true}
	case code == http.StatusTooManyRequests:
		backoff := slowDownBackoff
		if r.RetryAfter > 0 {
			backoff = clampRetryAfter(r.RetryAfter)
		}
		return Outcome{Retryable: true, MinBackoff: backoff}
	case code == http.StatusBadGateway, code == http.StatusServiceUnavailable, code == http.StatusGatewayTimeout:
		var backoff time.Duration
		if r.RetryAfter > 0 {
			backoff = clampRetryAfter(r.RetryAfter)
		}
		return Outcome{Retryable: true, MinBackoff: backoff}
	case code != 0:
		return Outcome{Retryable: true}
	}

	if r.Timeout {
		return Outcome{Retryable: true, MinBackoff: slowDownBackoff}
	}
	// SSRF refusals (*BlockedError) and every other transport error are
	// retried on the schedule; see above for why a refusal is not final.
	return Outcome{Retryable: true}
}

func clampRetryAfter(d time.Duration) time.Duration {
	return min(max(d, minRetryAfter), maxRetryAfter)
}

// ParseRetryAfter parses a Retry-After header value, which is either a number
// of seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"),
// relative to now. It reports false for an empty, negative, fractional or
// otherwise malformed value. A date in the past yields (0, true): retry now.
// A number of seconds too large for a Duration saturates at the largest one.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64), true // only digits, so too large
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

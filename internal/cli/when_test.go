package cli

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParseWhenRange checks that an age in days is range-checked before it
// becomes a Duration: 106752d used to wrap around to a time in the future.
func TestParseWhenRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"0d":      now,
		"7d":      now.Add(-7 * 24 * time.Hour),
		"100000d": now.Add(-100000 * 24 * time.Hour),
		"36h":     now.Add(-36 * time.Hour),
	} {
		got, err := parseWhen("since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"100001d", "106752d", "9223372036854775807d", "-1d", "99999999999999999999d"} {
		got, err := parseWhen("since", in, now)
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseWhen(%q) = %v, %v; want a usage error naming --since", in, got, err)
		}
	}
}

func TestParseAhead(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-06-01T10:00:00Z": time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC),
		"90s":                  now.Add(90 * time.Second),
		"2h":                   now.Add(2 * time.Hour),
		"3d":                   now.Add(72 * time.Hour),
	} {
		got, err := parseAhead("deliver-at", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAhead(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"tomorrow", "-1h", "2026-06-01", "x3d"} {
		if _, err := parseAhead("deliver-at", in, now); err == nil {
			t.Errorf("parseAhead(%q): no error", in)
		}
	}
}

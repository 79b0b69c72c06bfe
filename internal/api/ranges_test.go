package api_test

import (
	"context"
	"testing"
	"time"
)

// TestCountsRangeCheckedBeforeArithmetic checks that every duration or count
// taken from a request is refused out of range, naming the field and the
// range, before it is multiplied: 18446744074 seconds used to wrap around to
// 0.29 s and pass.
func TestCountsRangeCheckedBeforeArithmetic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "ranges"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	const maxInt64 = "9223372036854775807"
	cases := []struct {
		method, path, body string
		loc                []string
		msg                string
	}{
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate", `{"gracePeriodSeconds": 18446744074}`,
			[]string{"body", "gracePeriodSeconds"}, "between 0 and 604800 seconds"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate", `{"gracePeriodSeconds": ` + maxInt64 + `}`,
			[]string{"body", "gracePeriodSeconds"}, "between 0 and 604800 seconds"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate", `{"gracePeriodSeconds": 604801}`,
			[]string{"body", "gracePeriodSeconds"}, "between 0 and 604800 seconds"},
		{"POST", "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate", `{"gracePeriodSeconds": -1}`,
			[]string{"body", "gracePeriodSeconds"}, "between 0 and 604800 seconds"},
		{"POST", "/api/v1/auth/app-portal-access/" + app, `{"expiry": ` + maxInt64 + `}`, []string{"body", "expiry"}, "between 60 and 31536000 seconds"},
		{"POST", "/api/v1/auth/app-portal-access/" + app, `{"expiry": 18446744074}`, []string{"body", "expiry"}, "between 60 and 31536000 seconds"},
		{"POST", "/api/v1/app/" + app + "/msg", `{"eventType": "a", "payload": {}, "payloadRetentionPeriod": ` + maxInt64 + `}`,
			[]string{"body", "payloadRetentionPeriod"}, "between 5 and 90 days"},
		{"POST", "/api/v1/app/" + app + "/msg", `{"eventType": "a", "payload": {}, "payloadRetentionPeriod": 106752}`,
			[]string{"body", "payloadRetentionPeriod"}, "between 5 and 90 days"},
		{"POST", "/api/v1/app/" + app + "/msg", `{"eventType": "a", "payload": {}, "payloadRetentionHours": ` + maxInt64 + `}`,
			[]string{"body", "payloadRetentionHours"}, "between 1 and 2160 hours"},
		{"POST", "/api/v1/app", `{"name": "x", "throttleRate": ` + maxInt64 + `}`, []string{"body", "throttleRate"}, "between 1 and 65535"},
		{"PATCH", "/api/v1/app/" + app + "/endpoint/" + ep, `{"rateLimit": ` + maxInt64 + `}`, []string{"body", "throttleRate"}, "between 1 and 65535"},
		{"GET", "/api/v1/app?limit=" + maxInt64, "", []string{"query", "limit"}, "250"},
		{"GET", "/api/v1/app/" + app + "/msg?limit=18446744073709551617", "", []string{"query", "limit"}, "integer"},
		{"GET", "/api/v1/app/" + app + "/attempt/endpoint/" + ep + "?status=" + maxInt64, "", []string{"query", "status"}, "0, 1, 2 or 3"},
	}
	secret := b.secretOf(t, app, ep)
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		wantValidationMsg(t, b.do(t, c.method, c.path, body), c.msg, c.loc...)
	}
	if got := b.secretOf(t, app, ep); got != secret {
		t.Error("secret rotated by a refused request")
	}
	if env := b.list(t, "/api/v1/app/"+app+"/msg"); len(env.Data) != 0 {
		t.Errorf("refused requests created %d messages", len(env.Data))
	}

	// The largest values in range are used as given.
	now := b.clock.Now()
	b.must(t, 204, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret/rotate", map[string]any{"gracePeriodSeconds": 604800})
	stored, err := b.store.GetEndpoint(context.Background(), app, ep)
	if err != nil || len(stored.OldSecrets) != 1 {
		t.Fatalf("old secrets: %v, %v", stored, err)
	}
	if d := stored.OldSecrets[0].ExpiresAt.Sub(now); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour+time.Minute {
		t.Errorf("old secret valid for %v, want 7 days", d)
	}
	id := b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "payloadRetentionHours": 2160})["id"].(string)
	m, err := b.store.GetMessage(context.Background(), app, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.PayloadExpiresAt.Sub(m.CreatedAt); d != 90*24*time.Hour {
		t.Errorf("payload kept for %v, want 90 days", d)
	}

	// Time bounds before the Unix epoch (where ids cannot go) still bound
	// by time: the message is after 1960.
	if env := b.list(t, "/api/v1/app/"+app+"/msg?after=1960-01-01T00:00:00Z"); len(env.Data) != 1 {
		t.Errorf("messages after 1960: %d, want 1", len(env.Data))
	}
	if env := b.list(t, "/api/v1/app/"+app+"/endpoint/"+ep+"/msg?after=0001-01-01T00:00:00Z"); len(env.Data) != 1 {
		t.Errorf("endpoint messages after the year 1: %d, want 1", len(env.Data))
	}
	if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/stats?since=1960-01-01T00:00:00Z", nil); got["pending"] != 1.0 {
		t.Errorf("stats since 1960: %v", got)
	}
}

package sqlite_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/secretbox"
)

// A full disk, as the API sees it: writes answer 503 with Retry-After
// (never 500), health answers 503 naming the database as unable to write,
// and once space comes back both recover by themselves, with every message
// acknowledged (202) still there.
func TestFullDatabaseAPI(t *testing.T) {
	t.Parallel()
	s := open(t)
	app := fixture(t, s)
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Options{Store: s, Box: box, Log: log, Now: time.Now, PublicURL: "http://herald.test"}))
	t.Cleanup(srv.Close)
	token, err := api.CreateAdminToken(t.Context(), s, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, body any) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	send := func() (*http.Response, string) {
		t.Helper()
		res, b := do("POST", "/api/v1/app/"+app.ID+"/msg", map[string]any{"eventType": "e", "payload": map[string]string{"pad": strings.Repeat("x", 2000)}})
		var m struct{ ID string }
		json.Unmarshal(b, &m)
		return res, m.ID
	}

	if _, err := s.LimitPages(t.Context(), 20); err != nil {
		t.Fatal(err)
	}
	var acked []string
	var full *http.Response
	for range 1000 {
		res, id := send()
		if res.StatusCode == 202 {
			acked = append(acked, id)
			continue
		}
		full = res
		break
	}
	if full == nil || full.StatusCode != 503 || full.Header.Get("Retry-After") != "5" {
		t.Fatalf("a write to a full database: %v, want 503 with Retry-After: 5", full)
	}
	t.Logf("%d messages acknowledged before the database was full", len(acked))
	res, b := do("GET", "/api/v1/health", nil)
	var health struct {
		Database struct{ Status, Detail string }
	}
	json.Unmarshal(b, &health)
	if res.StatusCode != 503 || health.Database.Status != "error" || health.Database.Detail != "cannot write: storage full" {
		t.Fatalf("health while full: %d %s, want 503 naming the database as unable to write", res.StatusCode, b)
	}
	if res, _ := send(); res.StatusCode != 503 {
		t.Fatalf("write while full: %d, want 503", res.StatusCode)
	}

	if _, err := s.LimitPages(t.Context(), 1<<30); err != nil {
		t.Fatal(err)
	}
	if res, b := do("GET", "/api/v1/health", nil); res.StatusCode != 204 {
		t.Fatalf("health once space is back: %d %s, want 204", res.StatusCode, b)
	}
	if res, _ := send(); res.StatusCode != 202 {
		t.Fatalf("write once space is back: %d, want 202", res.StatusCode)
	}
	for _, id := range acked {
		if res, b := do("GET", "/api/v1/app/"+app.ID+"/msg/"+id, nil); res.StatusCode != 200 {
			t.Fatalf("acknowledged message %s: %d %s", id, res.StatusCode, b)
		}
	}
}

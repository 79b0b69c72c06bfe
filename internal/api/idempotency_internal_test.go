package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// TestIdempotentClientGone checks that a response is kept for its key even
// when the client went away while the request ran: the client's retry must
// be answered from the record, not run again.
func TestIdempotentClientGone(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Store: st, Box: box})

	runs := 0
	handler := func(w http.ResponseWriter, r *http.Request) error {
		runs++
		writeJSON(w, http.StatusCreated, map[string]int{"run": runs})
		// The client disconnects just after the work is done.
		r.Context().Value(cancelKey{}).(context.CancelFunc)()
		return nil
	}
	send := func() *httptest.ResponseRecorder {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx = context.WithValue(ctx, cancelKey{}, cancel)
		ctx = withPrincipal(ctx, &principal{TokenID: "tok"})
		r := httptest.NewRequestWithContext(ctx, "POST", "/api/v1/app", strings.NewReader(`{}`))
		r.Header.Set("Idempotency-Key", "k")
		w := httptest.NewRecorder()
		done := make(chan error, 1)
		go func() { done <- a.idempotent(w, r, handler) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("idempotent: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the retry waits for a request that finished")
		}
		return w
	}
	first := send()
	second := send()
	if runs != 1 || second.Code != http.StatusCreated || second.Body.String() != first.Body.String() {
		t.Fatalf("runs = %d; first %d %s; second %d %s", runs, first.Code, first.Body, second.Code, second.Body)
	}
}

type cancelKey struct{}

package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// health answers 204 when the store answers and can write, and 503 naming
// the failing part otherwise: {"database": {"status": "error", "detail":
// ...}}. A store whose last write failed for lack of space is failing until
// a write succeeds (its Ping tries one), so health recovers by itself when
// space comes back.
func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.WarnContext(r.Context(), "health check failed", "err", err)
		detail := "not answering"
		if errors.Is(err, store.ErrStorageFull) {
			detail = "cannot write: storage full"
		}
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"database": map[string]string{"status": "error", "detail": detail},
		})
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) ping(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"context"
	"net/http"
	"time"
)

// health answers 204 when the store answers, and 503 naming the failing part
// otherwise.
func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.WarnContext(r.Context(), "health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"database": map[string]string{"status": "error"},
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

package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

const (
	// idempotencyTTL is how long a response is replayed for a key.
	idempotencyTTL = 12 * time.Hour
	// idempotencyLock is how long a request in progress holds its key; a
	// crashed request's key is free again after it.
	idempotencyLock   = 30 * time.Second
	maxIdempotencyKey = 256
)

// idempotent runs a POST under its Idempotency-Key: the first request with a
// key runs, later ones within 12 hours get its response replayed, and one
// that arrives while the first is still running waits for it. Only 2xx
// responses are kept, so a request that failed can be retried under the same
// key. Keys are scoped by token and live in the store, so every replica sees
// them. A key is one request: reused with another route, query or body, it
// is refused (422 idempotency_key_reused), as the IETF Idempotency-Key draft
// recommends, instead of replaying an answer to a request that was not made.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request) error) error {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return invalid([]string{"header", "idempotency-key"}, "must be at most 256 characters", "value_error")
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }) {
		// The key is stored; keep it to what the Idempotency-Key draft
		// allows (a string of printable ASCII), which every driver stores.
		return invalid([]string{"header", "idempotency-key"}, "must be printable ASCII", "value_error")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	scoped := principalFrom(r.Context()).TokenID + " " + key
	sum := sha256.Sum256(body)
	fingerprint := r.Method + " " + r.URL.RequestURI() + " " + hex.EncodeToString(sum[:])

	deadline := time.Now().Add(idempotencyLock)
	for {
		now := a.now()
		rec, started, err := a.store.BeginIdempotent(r.Context(), store.BeginIdempotentParams{
			Key: scoped, Fingerprint: fingerprint, Now: now,
			LockUntil: now.Add(idempotencyLock), ExpiresAt: now.Add(idempotencyTTL),
		})
		if err != nil {
			return err
		}
		if started {
			break
		}
		if rec.Fingerprint != fingerprint {
			return errKeyReused()
		}
		if rec.Done {
			if len(rec.Body) > 0 {
				w.Header().Set("Content-Type", "application/json")
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.StatusCode)
			_, _ = w.Write(rec.Body)
			return nil
		}
		// The first request is still running: wait for it, polling the
		// shared store so that this works across replicas.
		if time.Now().After(deadline) {
			return errConflict("A request with this Idempotency-Key is still in progress")
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-r.Context().Done():
			t.Stop()
			return r.Context().Err()
		case <-t.C:
		}
	}

	rec := &responseRecorder{ResponseWriter: w}
	if err := h(rec, r); err != nil {
		a.writeError(rec, r, err)
	}
	// The outcome is recorded even when the client has gone away: that
	// client is the one most likely to retry, and must get this response
	// instead of running the request again once the lock expires.
	ctx := context.WithoutCancel(r.Context())
	if rec.status >= 200 && rec.status < 300 {
		if err := a.store.FinishIdempotent(ctx, scoped, rec.status, rec.body.Bytes()); err != nil {
			a.log.ErrorContext(ctx, "store idempotent response", "err", err)
		}
	} else if err := a.store.AbortIdempotent(ctx, scoped); err != nil {
		a.log.ErrorContext(ctx, "release idempotency key", "err", err)
	}
	return nil
}

func errKeyReused() error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
		Detail: "This Idempotency-Key was used for a different request (another route, query or body) in the last 12 hours; " +
			"send a new key with a new request"}
}

// responseRecorder passes a response through and keeps a copy.
type responseRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rr *responseRecorder) WriteHeader(status int) {
	if rr.status == 0 {
		rr.status = status
	}
	rr.ResponseWriter.WriteHeader(status)
}

func (rr *responseRecorder) Write(b []byte) (int, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	rr.body.Write(b)
	return rr.ResponseWriter.Write(b)
}

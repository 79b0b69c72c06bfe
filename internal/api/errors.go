package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// Error is an error with an HTTP status and the Svix error body
// {"code", "detail"}.
type Error = service.Error

// ValidationError is a 422 with the Svix validation body {"detail": [...]}.
type ValidationError = service.ValidationError

// ValidationItem is one problem with the request.
type ValidationItem = service.ValidationItem

func errNotFound() error { return service.ErrNotFound() }

func errConflict(detail string) error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Detail: detail}
}

func errBadRequest(detail string) error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Detail: detail}
}

func errUnauthorized(detail string) error {
	return &Error{Status: http.StatusUnauthorized, Code: "authentication_failed", Detail: detail}
}

// invalid returns a 422 for one field.
func invalid(loc []string, msg, typ string) error {
	return service.Invalid(loc, msg, typ)
}

// retryAfter is the Retry-After of a 503, in seconds: long enough for a
// database that restarts or a disk being cleaned not to be hammered.
const retryAfter = "5"

// writeError maps err to the wire format. Unknown errors become a 500 with a
// fixed message; the cause goes to the log.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		apiErr *Error
		valErr *ValidationError
		maxErr *http.MaxBytesError
	)
	switch {
	case errors.As(err, &valErr):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": valErr.Items})
		return
	case errors.As(err, &apiErr):
	case errors.As(err, &maxErr):
		apiErr = &Error{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
			Detail: fmt.Sprintf("request body larger than %d bytes", maxErr.Limit)}
	case errors.Is(err, store.ErrNotFound):
		apiErr = errNotFound().(*Error)
	case errors.Is(err, store.ErrConflict):
		apiErr = errConflict("An entity with this identifier already exists").(*Error)
	case errors.Is(err, store.ErrStorageFull):
		a.log.ErrorContext(r.Context(), "store cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Detail: "the database cannot write: its storage is full; retry later"}
	case errors.Is(err, store.ErrUnavailable):
		a.log.ErrorContext(r.Context(), "store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Detail: "the database is unavailable; retry later"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nothing to answer.
		apiErr = &Error{Status: 499, Code: "client_closed_request", Detail: "client closed request"}
	default:
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Detail: "internal server error"}
	}
	if apiErr.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, apiErr.Status, map[string]string{"code": apiErr.Code, "detail": apiErr.Detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	b := buf.Bytes()
	if err != nil {
		// Only values built by this package are written; this is a bug.
		slog.Error("marshal response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

package server_test

import (
	"context"
	"log/slog"
	"testing"
)

type slogLogger = slog.Logger

// newTestLogger sends logs to t.Log.
func newTestLogger(t *testing.T) *slog.Logger {
	return slog.New(&tHandler{t: t})
}

type tHandler struct {
	t     *testing.T
	attrs []slog.Attr
}

func (h *tHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tHandler) Handle(_ context.Context, r slog.Record) error {
	args := []any{r.Level.String(), r.Message}
	for _, a := range h.attrs {
		args = append(args, a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.String())
		return true
	})
	h.t.Log(args...)
	return nil
}

func (h *tHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &tHandler{t: h.t, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *tHandler) WithGroup(string) slog.Handler { return h }

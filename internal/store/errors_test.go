package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// A write that failed for lack of space is also a store that is
// unavailable (503, retry later); an unavailable store is not a full one.
func TestStorageFullIsUnavailable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("create messages: %w: %v", store.ErrStorageFull, "database or disk is full")
	if !errors.Is(err, store.ErrStorageFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("%v: not ErrStorageFull and ErrUnavailable", err)
	}
	if errors.Is(fmt.Errorf("ping: %w", store.ErrUnavailable), store.ErrStorageFull) {
		t.Error("ErrUnavailable matches ErrStorageFull")
	}
}

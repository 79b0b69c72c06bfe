package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// TestBadKeyCreatesNothing checks that New refuses a configured encryption
// key that is not one before it opens the database, so that a failed start
// leaves no new database behind.
func TestBadKeyCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = filepath.Join(dir, "herald.db")
	cfg.EncryptionKey = "c2hvcnQ="
	_, err := server.New(context.Background(), cfg, server.Options{Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "HERALD_ENCRYPTION_KEY") {
		t.Fatalf("New with a 5-byte key: %v, want an error naming HERALD_ENCRYPTION_KEY", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("New created %v before refusing the key", entries)
	}
}

package main_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionStamping builds herald the way scripts/release does, with the
// version, commit and date given at link time, and checks that the binary
// reports them: `herald version`, and herald_build_info in /metrics.
func TestVersionStamping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		pkg     = "github.com/heraldhq/herald/internal/buildinfo"
		version = "1.2.3-test"
		commit  = "0123456789abcdef0123456789abcdef01234567"
		date    = "2026-11-30T12:00:00Z"
	)
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X "+pkg+".version="+version+" -X "+pkg+".commit="+commit+" -X "+pkg+".date="+date, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build herald: %v", err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("herald version: %v", err)
	}
	for _, want := range []string{"herald " + version + "\n", "commit: " + commit + "\n", "date:   " + date + "\n", "go:     go1."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("herald version printed\n%s\nwant a line %q", out, want)
		}
	}

	p := serve(t, bin, filepath.Join(t.TempDir(), "herald.db"))
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var line string
	for l := range strings.Lines(string(body)) {
		if strings.HasPrefix(l, "herald_build_info{") {
			line = l
		}
	}
	for _, want := range []string{`version="` + version + `"`, `revision="` + commit + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("herald_build_info = %q, want %s", line, want)
		}
	}
}

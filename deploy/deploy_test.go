// Package deploy_test checks what Herald ships beside its source, the way
// an operator uses it: the Kubernetes manifests and compose files against
// the binary's settings, the container image under podman, and the .deb
// installed with dpkg.
//
// The image and package tests take the output of scripts/release from the
// directory HERALD_DIST names (CI builds it once). Without it, or without
// podman or dpkg, they skip and say what is missing; with
// HERALD_REQUIRE_DEPLOY=1 (as in CI) a missing piece fails instead.
package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// need skips the test, or fails it under HERALD_REQUIRE_DEPLOY=1, with why.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("HERALD_REQUIRE_DEPLOY") == "1" {
		t.Fatalf("HERALD_REQUIRE_DEPLOY=1 but %s", why)
	}
	t.Skip(why)
}

// needCommand needs a command on PATH, naming the Debian package that has it.
func needCommand(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	need(t, err == nil, name+" is not installed (Debian package "+pkg+")")
	return p
}

// artifact returns the one file of HERALD_DIST matching pattern, with
// %s standing for this machine's architecture (GOARCH).
func artifact(t *testing.T, pattern string) string {
	t.Helper()
	dist := os.Getenv("HERALD_DIST")
	need(t, dist != "", "HERALD_DIST is not set: run scripts/release --platforms linux/"+runtime.GOARCH+" --out DIR, then HERALD_DIST=DIR go test ./deploy")
	glob := filepath.Join(dist, strings.ReplaceAll(pattern, "%s", runtime.GOARCH))
	m, _ := filepath.Glob(glob)
	need(t, len(m) == 1, "HERALD_DIST has no single "+glob+" (found "+strings.Join(m, ", ")+")")
	return m[0]
}

// run runs a command and returns its standard output, failing the test
// with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// repoRoot returns the directory of the repository.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

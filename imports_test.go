package herald_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Two names stand for sets the import rules below use that no pattern can
// spell.
const (
	// public is every package of the module outside internal/ and cmd/:
	// the packages other programs import (webhook/, client/).
	public = "(public packages)"
	// nonStd is every package outside Go's standard library, the module's
	// own included.
	nonStd = "(anything outside the standard library)"
)

// importRules are the directions imports must not run in, as ARCHITECTURE.md
// tells them. Each rule forbids every package of from to depend on any
// package of mayNot, directly or through other packages; a test file's
// imports are not checked (tests may start a real driver or server).
// Patterns are relative to the module: "internal/api" is that package,
// "internal/store/..." the package and all below it; a path with a dot in
// its first element is outside the module ("github.com/x/..."). A new rule
// is one more line.
var importRules = []struct {
	from, mayNot []string
	why          string
}{
	{[]string{public}, []string{nonStd},
		"public packages are copied into receivers' programs: the standard library only"},
	{[]string{"internal/delivery/...", "internal/maintenance/...", "internal/store/..."}, []string{"internal/api/...", "internal/cli/...", "internal/server/..."},
		"domain services and storage never reach up to the API, the CLI or the composition root"},
	{[]string{"internal/delivery/...", "internal/maintenance/...", "internal/store", "internal/store/storetest/...", "internal/store/groupcommit/..."}, []string{"internal/store/sqlite/...", "internal/store/postgres/..."},
		"only the composition root (internal/server) knows which store driver is in use"},
	{[]string{"internal/store/sqlite/..."}, []string{"internal/store/postgres/..."},
		"one store driver never uses another"},
	{[]string{"internal/store/postgres/..."}, []string{"internal/store/sqlite/..."},
		"one store driver never uses another"},
	{[]string{"internal/api/...", "internal/service/...", "internal/portal/..."}, []string{"internal/maintenance/..."},
		"the API starts background work by storing a task (store.TaskRecover), never by calling the maintenance service"},
	{[]string{"internal/portal/..."}, []string{"internal/api/..."},
		"the portal calls internal/service and the store, never the HTTP API"},
	{[]string{"internal/delivery/...", "internal/api/...", "internal/service/...", "internal/store/..."}, []string{"github.com/prometheus/..."},
		"the packages internal/metrics measures give it hooks and never import Prometheus"},
}

// goPackage is what go list -json tells of a package.
type goPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

// TestImportDirections fails when a package of the module depends on one an
// import rule forbids it, naming the chain of imports that leads there.
func TestImportDirections(t *testing.T) {
	t.Parallel()
	mod, pkgs := listPackages(t)
	byPath := map[string]*goPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	inModule := func(p *goPackage) bool { return p.Module != nil && p.Module.Path == mod }
	rel := func(path string) string {
		if path == mod {
			return "."
		}
		return strings.TrimPrefix(path, mod+"/")
	}
	match := func(pattern string, p *goPackage) bool {
		switch pattern {
		case public:
			r := rel(p.ImportPath)
			return inModule(p) && !under(r, "internal") && !under(r, "cmd")
		case nonStd:
			return !p.Standard
		}
		path := p.ImportPath
		if inModule(p) {
			path = rel(path)
		}
		if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
			return under(path, tree)
		}
		return path == pattern
	}

	for _, r := range importRules {
		// A pattern that matches nothing (a package renamed or moved) would
		// make its rule pass forever.
		for _, pattern := range slices.Concat(r.from, r.mayNot) {
			if !slices.ContainsFunc(pkgs, func(p *goPackage) bool { return match(pattern, p) }) {
				t.Errorf("import rule %q: %s matches no package", r.why, pattern)
			}
		}
		for _, p := range pkgs {
			if !inModule(p) || !slices.ContainsFunc(r.from, func(pattern string) bool { return match(pattern, p) }) {
				continue
			}
			for _, dep := range p.Deps {
				d := byPath[dep]
				if d == nil {
					t.Fatalf("go list named %s, a dependency of %s, without listing it", dep, p.ImportPath)
				}
				if slices.ContainsFunc(r.mayNot, func(pattern string) bool { return match(pattern, d) }) {
					t.Errorf("%s depends on %s (%s): %s", rel(p.ImportPath), rel(dep), strings.Join(importChain(byPath, p.ImportPath, dep, rel), " -> "), r.why)
				}
			}
		}
	}
}

// under reports whether path is dir or below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// importChain is a shortest chain of imports from one package to another
// it depends on.
func importChain(byPath map[string]*goPackage, from, to string, rel func(string) string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var chain []string
			for p := to; p != ""; p = prev[p] {
				chain = append(chain, rel(p))
			}
			slices.Reverse(chain)
			return chain
		}
		if p := byPath[cur]; p != nil {
			for _, next := range p.Imports {
				if _, seen := prev[next]; !seen {
					prev[next] = cur
					queue = append(queue, next)
				}
			}
		}
	}
	return []string{rel(from), "?", rel(to)}
}

// listPackages runs go list on the module: its path, and every package of
// it and every package they depend on (build files only, for this
// platform).
func listPackages(t *testing.T) (string, []*goPackage) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v%s", err, stderrOf(err))
	}
	mod := strings.TrimSpace(string(out))
	out, err = exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports,Deps,Module", "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v%s", err, stderrOf(err))
	}
	var pkgs []*goPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		p := new(goPackage)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list -deps listed no package")
	}
	return mod, pkgs
}

// stderrOf is what a failed command wrote to its standard error.
func stderrOf(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && len(ee.Stderr) > 0 {
		return ":\n" + string(ee.Stderr)
	}
	return ""
}

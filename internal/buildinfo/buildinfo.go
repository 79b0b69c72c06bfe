// Package buildinfo tells which Herald this is: its version, the commit it
// was built from and when.
//
// A release build stamps all three at link time (scripts/release does):
//
//	go build -ldflags "-X github.com/heraldhq/herald/internal/buildinfo.version=1.2.3
//	  -X github.com/heraldhq/herald/internal/buildinfo.commit=<sha>
//	  -X github.com/heraldhq/herald/internal/buildinfo.date=2026-11-30T12:00:00Z" ./cmd/herald
//
// Without them, a binary built from a git checkout reports "dev-<commit>"
// and the commit and time Go recorded from version control.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set at link time with -ldflags -X; see the package doc.
var (
	version string
	commit  string
	date    string
)

// Info describes the running binary.
type Info struct {
	// Version is the release version ("1.2.3"), the module version of a
	// `go install`, or "dev-<commit>[-dirty]" ("dev" when nothing is known).
	Version string
	// Commit is the full commit hash the binary was built from; empty when
	// unknown.
	Commit string
	// Date is when the commit was made (a release build) or the commit time
	// Go recorded, RFC 3339; empty when unknown.
	Date string
	// Modified is true when a source build had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

var get = sync.OnceValue(func() Info {
	info := Info{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "dev"
		}
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.Date == "" {
				info.Date = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version != "" {
		return info
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
		return info
	}
	info.Version = "dev"
	if rev := info.Commit; rev != "" {
		info.Version += "-" + rev[:min(len(rev), 12)]
		if info.Modified {
			info.Version += "-dirty"
		}
	}
	return info
})

// Get returns what is known of the running binary.
func Get() Info { return get() }

// Version returns Herald's version: the link-time version, the module
// version, or "dev-<commit>" for a source build.
func Version() string { return get().Version }

// UserAgent is the User-Agent of Herald's deliveries.
func UserAgent() string { return "Herald/" + Version() }

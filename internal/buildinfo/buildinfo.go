// Package buildinfo tells which Herald this is.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// version is set at link time with -ldflags "-X
// github.com/heraldhq/herald/internal/buildinfo.version=v1.2.3".
var version string

var once = sync.OnceValue(func() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			return "dev-" + rev + dirty
		}
	}
	return "dev"
})

// Version returns Herald's version: the link-time version, the module
// version, or "dev-<commit>" for a source build.
func Version() string { return once() }

// UserAgent is the User-Agent of Herald's deliveries.
func UserAgent() string { return "Herald/" + Version() }

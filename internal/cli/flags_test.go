package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFlagErrorsNotDiscarded checks that no command reads a flag by name
// and drops the error (`v, _ := f.GetString("nmae")` reads "" for a
// misspelled or retyped flag, silently). Commands bind flags to variables
// where they define them; the few read by name return the error.
func TestFlagErrorsNotDiscarded(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	discard := regexp.MustCompile(`,\s*_\s*:?=\s*[\w.()]*\bGet(String|Int|Int64|Bool|Duration|Float64|StringArray|StringSlice)\(`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if discard.MatchString(line) {
				t.Errorf("%s:%d discards a flag's error: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

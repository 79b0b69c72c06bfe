package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMECommandTable checks the README's table of commands against the
// command tree: every command it names exists, every example parses (the
// command, its flags and its arguments), and every command of the tree is
// in the table.
func TestREADMECommandTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Command line\n")
	section, _, _ = strings.Cut(section, "\n## ")
	root := New(Streams{Getenv: env()})
	listed := map[string]bool{}
	span := regexp.MustCompile("`([^`]*)`")
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `herald") {
			continue
		}
		rows++
		cells := regexp.MustCompile(`[^\\]\|`).Split(line[1:], -1)
		if len(cells) < 2 {
			t.Fatalf("row %q: want a command and an example", line)
		}
		// "`herald endpoint list` / `get` / `update`" and
		// "`herald send` (= `herald msg create`)".
		var parent []string
		for _, m := range span.FindAllStringSubmatch(cells[0], -1) {
			words := strings.Fields(m[1])
			if words[0] == "herald" {
				parent = words[1 : len(words)-1]
			} else {
				words = append(append([]string{"herald"}, parent...), words...)
			}
			path := words[1:]
			c, rest, err := root.Find(path)
			if err != nil || len(rest) > 0 || c == root {
				t.Errorf("the README lists herald %s, which is no command", strings.Join(path, " "))
				continue
			}
			listed[c.CommandPath()] = true
		}
		for _, m := range span.FindAllStringSubmatch(cells[1], -1) {
			_, example, found := strings.Cut(m[1], "herald ")
			if !found {
				continue
			}
			example, _, _ = strings.Cut(example, ` \|`)
			example, _, _ = strings.Cut(example, ")")
			args := shellWords(t, example)
			c, rest, err := root.Find(args)
			if err != nil || c == root {
				t.Errorf("README example herald %s: no such command (%v)", example, err)
				continue
			}
			// Find keeps the flags in rest; parse them as cobra does.
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("README example herald %s: %v", example, err)
				continue
			}
			if err := c.ValidateArgs(c.Flags().Args()); err != nil {
				t.Errorf("README example herald %s: %v", example, err)
			}
		}
	}
	if rows < 20 {
		t.Fatalf("found %d rows of commands in the README's Command line section", rows)
	}
	for _, p := range commandPaths(root, nil) {
		c, _, _ := root.Find(p)
		if c.HasAvailableSubCommands() || c.Parent().Name() == "completion" {
			continue // groups, and the shells of completion
		}
		if !listed[c.CommandPath()] {
			t.Errorf("%s is not in the README's table of commands", c.CommandPath())
		}
	}
}

// shellWords splits a command line as a shell would, for the README's
// examples: words, 'single' and "double" quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

package config

import (
	"net/url"
	"strings"
)

// redacted stands for a secret in a printed database setting.
const redacted = "xxxxx"

// secretParams are the connection parameters whose values are secrets
// (compared ignoring case). sslkey and passfile name files and are not.
var secretParams = []string{"password", "sslpassword"}

func isSecretParam(key string) bool {
	for _, p := range secretParams {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// RedactDatabase returns a database setting fit for a log line or an error:
// every secret it may carry is replaced by xxxxx. It knows each form a
// setting can take:
//
//   - a postgres:// or postgresql:// URL: the password of the user
//     information, and the values of the password and sslpassword
//     query parameters (percent-encoded names included);
//   - a libpq keyword=value string ("host=db password='a b'"): the values of
//     the password and sslpassword keywords, quoted or not;
//   - a SQLite path, returned as it is (unless it looks like one of the
//     above).
//
// It never fails. Where a setting is malformed (a password with an
// unescaped '@', '/', '?' or '#', an unterminated quote), it hides more than
// the secret rather than less: the user information's password runs to the
// last '@' of the URL, and an unterminated quoted value to the end.
func RedactDatabase(s string) string {
	if rest, ok := cutURLScheme(s); ok {
		scheme := s[:len(s)-len(rest)]
		return scheme + redactURL(rest)
	}
	if strings.Contains(s, "=") {
		return redactKeywords(s)
	}
	return s
}

// cutURLScheme returns what follows postgres:// or postgresql://, whatever
// the case of the scheme.
func cutURLScheme(s string) (string, bool) {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return "", false
}

// redactURL redacts what follows the scheme of a URL.
func redactURL(rest string) string {
	hide := make([]bool, len(rest))
	mark := func(from, to int) {
		for i := from; i < to; i++ {
			hide[i] = true
		}
	}
	// user:password@host: the password runs from the first ':' of the
	// user information to its last '@'.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
			mark(colon+1, at)
		}
	}
	// Query parameters. Every '?', '&', ';' and '#' after the first '?' is
	// taken as a separator, so that no parameter hides behind one in a
	// malformed URL.
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		start := q + 1
		for start <= len(rest) {
			end := start + strings.IndexAny(rest[start:], "?&;#")
			if end < start {
				end = len(rest)
			}
			pair := rest[start:end]
			if key, _, ok := strings.Cut(pair, "="); ok {
				if k, err := url.QueryUnescape(key); err == nil {
					key = k
				}
				if isSecretParam(strings.TrimSpace(key)) {
					mark(start+strings.IndexByte(pair, '=')+1, end)
				}
			}
			start = end + 1
		}
	}
	return apply(rest, hide)
}

// redactKeywords redacts a libpq keyword=value string: keywords and values
// separated by white space, '=' possibly surrounded by spaces, values
// single-quoted (with \' and \\) or not (with backslash escapes).
func redactKeywords(s string) string {
	hide := make([]bool, len(s))
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for i < len(s) {
		skipSpace()
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		skipSpace()
		if i >= len(s) || s[i] != '=' {
			// Not keyword=value: move on to the next word.
			if i == start {
				i++
			}
			continue
		}
		i++ // '='
		skipSpace()
		from := i
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i+1, len(s)) // the closing quote, if any
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i, len(s))
		}
		if isSecretParam(key) {
			for j := from; j < i; j++ {
				hide[j] = true
			}
		}
	}
	return apply(s, hide)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// apply replaces every run of hidden bytes of s by redacted.
func apply(s string, hide []bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !hide[i] {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(redacted)
		for i+1 < len(s) && hide[i+1] {
			i++
		}
	}
	return b.String()
}

package config

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRedactDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		// SQLite paths are kept.
		{"./herald.db", "./herald.db"},
		{"sqlite:/var/lib/herald/herald.db", "sqlite:/var/lib/herald/herald.db"},
		{"", ""},
		// URL user information.
		{"postgres://herald:hunter2@db:5432/herald?sslmode=verify-full", "postgres://herald:xxxxx@db:5432/herald?sslmode=verify-full"},
		{"postgresql://herald@db/herald", "postgresql://herald@db/herald"},
		{"postgres://db/herald", "postgres://db/herald"},
		{"postgres://herald:@db/herald", "postgres://herald:@db/herald"},
		{"postgres://herald:p%40ss%2Fw@db/herald", "postgres://herald:xxxxx@db/herald"},
		{"POSTGRES://herald:hunter2@db/herald", "POSTGRES://herald:xxxxx@db/herald"},
		// Unescaped characters a password should not hold: hidden to
		// the last '@'.
		{"postgres://herald:p@ss/w?rd#x@db/herald", "postgres://herald:xxxxx@db/herald"},
		{"postgres://herald:hunter2@db/herald?application_name=a@b", "postgres://herald:xxxxx@b"},
		// Query parameters, as libpq and pgx read them.
		{"postgres://herald@db/herald?password=hunter2", "postgres://herald@db/herald?password=xxxxx"},
		{"postgres://herald@db/herald?sslmode=require&password=hunter2&connect_timeout=5",
			"postgres://herald@db/herald?sslmode=require&password=xxxxx&connect_timeout=5"},
		{"postgres://herald@db/herald?sslpassword=keypass&sslkey=/etc/herald/client.key&passfile=/etc/herald/pgpass",
			"postgres://herald@db/herald?sslpassword=xxxxx&sslkey=/etc/herald/client.key&passfile=/etc/herald/pgpass"},
		{"postgres://herald@db/herald?pass%77ord=hunter2", "postgres://herald@db/herald?pass%77ord=xxxxx"},
		{"postgres://herald@db/herald?PASSWORD=hunter2", "postgres://herald@db/herald?PASSWORD=xxxxx"},
		{"postgres://herald@db/herald?password=hun%74er2", "postgres://herald@db/herald?password=xxxxx"},
		{"postgres://herald@db/herald?x=1;password=hunter2#frag", "postgres://herald@db/herald?x=1;password=xxxxx#frag"},
		{"postgres://herald:one@db/herald?password=two", "postgres://herald:xxxxx@db/herald?password=xxxxx"},
		{"postgres://herald@db/herald?password=", "postgres://herald@db/herald?password="},
		// libpq keyword=value strings.
		{"host=db user=herald password=hunter2 dbname=herald", "host=db user=herald password=xxxxx dbname=herald"},
		{"host=db password = hunter2", "host=db password = xxxxx"},
		{"host=db password='hunter 2' sslmode=require", "host=db password=xxxxx sslmode=require"},
		{`host=db password='it\'s \\ secret' dbname=h`, "host=db password=xxxxx dbname=h"},
		{`password=hunter\ 2 host=db`, "password=xxxxx host=db"},
		{"host=db sslpassword=keypass sslkey=/k", "host=db sslpassword=xxxxx sslkey=/k"},
		{"host=db password='unterminated secret", "host=db password=xxxxx"},
		{"application_name='password=not-a-secret' host=db", "application_name='password=not-a-secret' host=db"},
		{"host=db\tpassword=hunter2\nuser=u", "host=db\tpassword=xxxxx\nuser=u"},
	} {
		if got := RedactDatabase(c.in); got != c.want {
			t.Errorf("RedactDatabase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// dsnForms build a database setting carrying password in each form a
// setting can take; well says whether the setting is well formed (pgx reads
// password from it).
var dsnForms = []struct {
	name string
	well bool
	make func(user, password, host string) (dsn string, ok bool)
}{
	{"URL user information", true, func(u, p, h string) (string, bool) {
		return (&url.URL{Scheme: "postgres", User: url.UserPassword(u, p), Host: h, Path: "/herald", RawQuery: "sslmode=disable"}).String(), true
	}},
	{"URL user information, unescaped", false, func(u, p, h string) (string, bool) {
		if strings.ContainsAny(u, ":@") || strings.Contains(h, "@") {
			return "", false
		}
		return "postgres://" + u + ":" + p + "@" + h + "/herald?sslmode=disable", true
	}},
	{"URL password parameter", true, func(u, p, h string) (string, bool) {
		return "postgresql://" + url.PathEscape(u) + "@" + h + "/herald?sslmode=disable&password=" + queryValue(p) + "&application_name=x", true
	}},
	{"URL sslpassword parameter", false, func(u, p, h string) (string, bool) {
		return "postgres://" + url.PathEscape(u) + "@" + h + "/herald?sslpassword=" + queryValue(p) + "&sslkey=/k", true
	}},
	{"keyword=value, quoted", true, func(u, p, h string) (string, bool) {
		return "host=" + quoteValue(h) + " user=" + quoteValue(u) + " password=" + quoteValue(p) + " dbname=herald", true
	}},
	{"keyword=value, unquoted", false, func(u, p, h string) (string, bool) {
		if p == "" {
			return "", false
		}
		return "password=" + escapeValue(p) + " host=" + quoteValue(h), true
	}},
	{"keyword=value, sslpassword", false, func(u, p, h string) (string, bool) {
		return "host=" + quoteValue(h) + " sslpassword = " + quoteValue(p), true
	}},
}

var plainHost = regexp.MustCompile(`^[a-zA-Z0-9.-]*$`)

// queryValue escapes a query parameter value as pgx reads it: percent
// escapes, and '+' is not a space.
func queryValue(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func quoteValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func escapeValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\\' || r == '\'' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzRedactDatabase checks that no setting carrying a password, in any
// form, comes out of RedactDatabase with the password in it, raw or as
// written in the setting (escaped).
func FuzzRedactDatabase(f *testing.F) {
	for _, seed := range [][3]string{
		{"herald", "hunter2", "db:5432"}, {"u", "p@ss:w/rd?x#y&z", "h"}, {"u", "it's a \\ secret", "db"},
		{"u", "pass word", "db"}, {"u@x", "secret1", "h?password=a"}, {"u", "%41%42", "db"}, {"", "s3cr3t", ""},
		{"u", "'", "h"}, {"u", "a=b c=d", "h"}, {"u:v", "ümlaut-pw", "[::1]:5432"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, user, password, host string) {
		if password == "" || strings.Contains(redacted, password) {
			return
		}
		for _, form := range dsnForms {
			dsn, ok := form.make(user, password, host)
			if !ok {
				continue
			}
			// The setting without the password, to tell a password
			// that is also a part of the setting.
			skeleton, _ := form.make(user, "\x01", host)
			got := RedactDatabase(dsn)
			// The password as the setting spells it: raw, escaped for a
			// URL, quoted for libpq.
			spellings := []string{password, queryValue(password), url.PathEscape(password),
				strings.Trim(quoteValue(password), "'"), escapeValue(password)}
			if ui := url.UserPassword("u", password).String(); strings.HasPrefix(ui, "u:") {
				spellings = append(spellings, ui[2:])
			}
			for _, s := range spellings {
				if s != "" && !strings.Contains(skeleton, s) && !strings.Contains(redacted, s) && strings.Contains(got, s) {
					t.Fatalf("%s: RedactDatabase(%q) = %q keeps the password %q", form.name, dsn, got, s)
				}
			}
			// The setting is one pgx reads the password from (for plain
			// hosts: pgx reads files some parameters name, passfile or
			// sslrootcert, and a fuzzed one may block).
			if form.well && plainHost.MatchString(host) {
				if cfg, err := pgconn.ParseConfig(dsn); err == nil && cfg.Password != password {
					t.Fatalf("%s: pgx reads %q as password %q, not %q", form.name, dsn, cfg.Password, password)
				}
			}
		}
	})
}

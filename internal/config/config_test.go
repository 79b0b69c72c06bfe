package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "herald.conf")
	err := os.WriteFile(file, []byte(`# a comment
HERALD_LISTEN=127.0.0.1:1111
HERALD_REQUEST_TIMEOUT="20s"
HERALD_RETRY_SCHEDULE=1s,2s

HERALD_LOG_LEVEL=debug
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HERALD_LISTEN":          "127.0.0.1:2222",
		"HERALD_REQUEST_TIMEOUT": "25s",
	}
	flags := map[string]string{"listen": "127.0.0.1:3333"}
	c, err := Load(Source{File: file, Getenv: func(k string) string { return env[k] }}, flags)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" {
		t.Errorf("Listen = %q, want the flag's value", c.Listen)
	}
	if c.RequestTimeout != 25*time.Second {
		t.Errorf("RequestTimeout = %s, want the environment's 25s", c.RequestTimeout)
	}
	if got := FormatSchedule(c.RetrySchedule); got != "1s,2s" {
		t.Errorf("RetrySchedule = %s, want the file's 1s,2s", got)
	}
	if c.LogLevel != "debug" {
		t.Errorf("LogLevel = %q, want the file's debug", c.LogLevel)
	}
	if c.Database != "./herald.db" {
		t.Errorf("Database = %q, want the default", c.Database)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HERALD_REQUEST_TIMEOUT": "soon",
		"HERALD_RETRY_SCHEDULE":  "1s,x",
		"HERALD_ALLOW_CIDRS":     "127.0.0.0/8,nope",
		"HERALD_LOG_FORMAT":      "xml",
	}
	_, err := Load(Source{Getenv: func(k string) string { return env[k] }}, map[string]string{"endpoint-concurrency": "0"})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, want := range []string{
		"HERALD_REQUEST_TIMEOUT", "HERALD_RETRY_SCHEDULE", `"x"`, "HERALD_ALLOW_CIDRS", `"nope"`,
		"HERALD_LOG_FORMAT", "--endpoint-concurrency",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	c := Default()
	c.AdminToken = "very-secret"
	c.EncryptionKey = "also-secret"
	c.Database = "postgres://herald@db/herald?sslmode=require&password=db-secret"
	for _, s := range Settings {
		if v := s.Value(&c); strings.Contains(v, "secret") {
			t.Errorf("%s shows %q", s.Env, v)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"1s,1s,1s", "1s,1s,1s", true},
		{" 5s , 5m ", "5s,5m0s", true},
		{"", "", true},
		{"1s,-1s", "", false},
		{"1", "", false},
	} {
		got, err := ParseSchedule(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSchedule(%q) error = %v", tc.in, err)
			continue
		}
		if tc.ok && FormatSchedule(got) != tc.want {
			t.Errorf("ParseSchedule(%q) = %s, want %s", tc.in, FormatSchedule(got), tc.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs("127.0.0.0/8, 10.1.2.3 ,::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "10.1.2.3/32", "::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}
}

func FuzzReadFile(f *testing.F) {
	f.Add("HERALD_LISTEN=1\n# c\n\nHERALD_X='y'")
	f.Add("=")
	f.Fuzz(func(t *testing.T, content string) {
		file := filepath.Join(t.TempDir(), "c")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Load(Source{File: file, Getenv: func(string) string { return "" }}, nil)
	})
}

func TestObservabilitySettings(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (Config, error) {
		return Load(Source{Getenv: func(k string) string { return env[k] }}, nil)
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Metrics || c.AdminListen != "" {
		t.Errorf("defaults: Metrics = %v, AdminListen = %q; want true and off", c.Metrics, c.AdminListen)
	}
	c, err = load(map[string]string{"HERALD_METRICS": "false", "HERALD_ADMIN_LISTEN": "127.0.0.1:8072"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics || c.AdminListen != "127.0.0.1:8072" {
		t.Errorf("from the environment: Metrics = %v, AdminListen = %q", c.Metrics, c.AdminListen)
	}
	for _, bad := range []map[string]string{
		{"HERALD_ADMIN_LISTEN": "8072"},
		{"HERALD_ADMIN_LISTEN": "127.0.0.1:8071"}, // the API's address
		{"HERALD_METRICS": "maybe"},
	} {
		_, err := load(bad)
		for k := range bad {
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%v: error %v, want one naming %s", bad, err, k)
			}
		}
	}
}

// TestRetryWaitBounded checks that a retry wait long enough to overflow once
// jitter scales it (2562047h is about 292 years) is refused, naming the
// setting and the bound.
func TestRetryWaitBounded(t *testing.T) {
	t.Parallel()
	for sched, okay := range map[string]bool{"5s,720h": true, "5s,721h": false, "2562047h": false, "1s,1600000h,1s": false} {
		env := map[string]string{"HERALD_RETRY_SCHEDULE": sched}
		_, err := Load(Source{Getenv: func(k string) string { return env[k] }}, nil)
		if okay && err != nil {
			t.Errorf("%s: %v", sched, err)
		}
		if !okay && (err == nil || !strings.Contains(err.Error(), "HERALD_RETRY_SCHEDULE") || !strings.Contains(err.Error(), "at most 720h")) {
			t.Errorf("%s: error %v, want one naming HERALD_RETRY_SCHEDULE and 720h", sched, err)
		}
	}
}

// TestPortalFrameAncestors checks that the origins allowed to frame the
// portal are read as a list, and that anything but an origin (which would
// end or widen the Content-Security-Policy directive) is refused.
func TestPortalFrameAncestors(t *testing.T) {
	t.Parallel()
	load := func(v string) (Config, error) {
		return Load(Source{Getenv: func(k string) string {
			if k == "HERALD_PORTAL_FRAME_ANCESTORS" {
				return v
			}
			return ""
		}}, nil)
	}
	c, err := load("https://app.example.com, https://*.example.org:8443/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://app.example.com", "https://*.example.org:8443"}; !slices.Equal(c.PortalFrameAncestors, want) {
		t.Errorf("PortalFrameAncestors = %q, want %q", c.PortalFrameAncestors, want)
	}
	for _, bad := range []string{"*", "app.example.com", "https://a.example.com/path", "https://a.example.com; script-src *",
		"'self'", "javascript:alert(1)", "https://a.*.com", "https://user@a.example.com"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "HERALD_PORTAL_FRAME_ANCESTORS") {
			t.Errorf("%q: error %v, want one naming HERALD_PORTAL_FRAME_ANCESTORS", bad, err)
		}
	}
}

// TestValidatePayloads checks the server-wide default of payload
// validation: off unless asked for, from the environment or the flag.
func TestValidatePayloads(t *testing.T) {
	t.Parallel()
	load := func(env, flags map[string]string) (Config, error) {
		return Load(Source{Getenv: func(k string) string { return env[k] }}, flags)
	}
	if c, err := load(nil, nil); err != nil || c.ValidatePayloads {
		t.Errorf("default: ValidatePayloads = %v, %v; want false", c.ValidatePayloads, err)
	}
	if c, err := load(map[string]string{"HERALD_VALIDATE_PAYLOADS": "true"}, nil); err != nil || !c.ValidatePayloads {
		t.Errorf("from the environment: ValidatePayloads = %v, %v; want true", c.ValidatePayloads, err)
	}
	if c, err := load(map[string]string{"HERALD_VALIDATE_PAYLOADS": "true"}, map[string]string{"validate-payloads": "false"}); err != nil || c.ValidatePayloads {
		t.Errorf("flag over the environment: ValidatePayloads = %v, %v; want false", c.ValidatePayloads, err)
	}
	if _, err := load(map[string]string{"HERALD_VALIDATE_PAYLOADS": "sometimes"}, nil); err == nil || !strings.Contains(err.Error(), "HERALD_VALIDATE_PAYLOADS") {
		t.Errorf("a bad value: error %v, want one naming HERALD_VALIDATE_PAYLOADS", err)
	}
}

// TestSettingKinds checks that each setting's Kind is what its parser
// takes: its default reads back, a value of the kind is accepted, and text
// that is not of the kind is refused. A typed field behind a setting of
// KindString would show in help as a string; this catches it.
func TestSettingKinds(t *testing.T) {
	t.Parallel()
	good := map[Kind]string{KindBool: "true", KindInt: "7", KindFloat: "0.5", KindDuration: "3s", KindDurationList: "1s,2m"}
	bad := map[Kind]string{KindBool: "maybe", KindInt: "1.5", KindFloat: "half", KindDuration: "5", KindDurationList: "1s,soon"}
	def := Default()
	for _, s := range Settings {
		c := Default()
		if err := s.Set(&c, s.get(&def)); err != nil {
			t.Errorf("--%s (%s): its default does not read back: %v", s.Flag, s.Kind, err)
		}
		if v, ok := good[s.Kind]; ok {
			if err := s.Set(&c, v); err != nil {
				t.Errorf("--%s (%s) refuses %q: %v", s.Flag, s.Kind, v, err)
			}
		}
		if v, ok := bad[s.Kind]; ok {
			if err := s.Set(&c, v); err == nil || !strings.Contains(err.Error(), s.Env) || !strings.Contains(err.Error(), "--"+s.Flag) {
				t.Errorf("--%s (%s) takes %q: error %v, want one naming %s and --%s", s.Flag, s.Kind, v, err, s.Env, s.Flag)
			}
		}
		if s.Kind == KindString {
			// Text of any other kind would be refused by a typed
			// parser; a string setting takes it (Validate may not).
			for _, v := range bad {
				if err := s.Set(&c, v); err != nil {
					t.Errorf("--%s is a string setting but refuses %q: %v (give it its kind)", s.Flag, v, err)
				}
			}
		}
	}
}

// TestEncryptionKeyValidated checks that a configured encryption key is
// checked with every other setting, by Load, naming the setting and never
// showing the key.
func TestEncryptionKeyValidated(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"c2hvcnQ=", "not base64 at all!", "CHANGE-ME"} {
		env := map[string]string{"HERALD_ENCRYPTION_KEY": bad, "HERALD_LOG_FORMAT": "xml"}
		_, err := Load(Source{Getenv: func(k string) string { return env[k] }}, nil)
		if err == nil {
			t.Errorf("%q: Load succeeded", bad)
			continue
		}
		for _, want := range []string{"HERALD_ENCRYPTION_KEY (--encryption-key)", "32", "HERALD_LOG_FORMAT"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not mention %s", bad, err, want)
			}
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	env := map[string]string{"HERALD_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	if _, err := Load(Source{Getenv: func(k string) string { return env[k] }}, nil); err != nil {
		t.Errorf("a key of 32 bytes: %v", err)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	load := func(v string) (Config, error) {
		return Load(Source{Getenv: func(k string) string {
			if k == "HERALD_RETENTION" {
				return v
			}
			return ""
		}}, nil)
	}
	for v, want := range map[string]time.Duration{
		"": 90 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "36h": 36 * time.Hour, "0": 0, "0d": 0,
	} {
		c, err := load(v)
		if err != nil || c.Retention != want {
			t.Errorf("HERALD_RETENTION=%q: %s, %v; want %s", v, c.Retention, err, want)
		}
	}
	for _, v := range []string{"30m", "-1d", "1.5d", "d", "ninety days"} {
		if _, err := load(v); err == nil || !strings.Contains(err.Error(), "HERALD_RETENTION") {
			t.Errorf("HERALD_RETENTION=%q: error %v, want one naming HERALD_RETENTION", v, err)
		}
	}
	if got := days(90 * 24 * time.Hour); got != "90d" {
		t.Errorf("days(90 days) = %q", got)
	}
	if got := days(36 * time.Hour); got != "36h0m0s" {
		t.Errorf("days(36h) = %q", got)
	}
}

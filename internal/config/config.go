// Package config holds Herald's server configuration: one Config struct, its
// defaults, and the one table of settings that maps every field to its flag,
// its HERALD_* environment variable and its key in the optional config file.
//
// Values are applied in this order, each overriding the previous: defaults,
// the config file, the environment, then command-line flags. Validate
// returns every problem at once, each naming the setting.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/secretbox"
)

// Config is the configuration of `herald serve`.
type Config struct {
	// Listen is the address the HTTP API listens on. Default 127.0.0.1:8071.
	Listen string
	// Database is a PostgreSQL URL (postgres:// or postgresql://) or a SQLite
	// file path, optionally prefixed with "sqlite:". Default ./herald.db.
	Database string
	// AdminToken, when set, is accepted as an admin API token in addition
	// to the tokens in the store. Default empty: on first start Herald
	// generates one, prints it once and stores only its hash.
	AdminToken string
	// PublicURL is the base URL users reach Herald at, used for portal
	// links. Default empty: derived from Listen.
	PublicURL string
	// EncryptionKey encrypts endpoint secrets at rest: base64 of 32 bytes.
	// Default empty: a key is generated on first start and kept in a file
	// next to a SQLite database (or in the database for PostgreSQL).
	EncryptionKey string
	// RequestTimeout bounds each delivery request. Default 15s.
	RequestTimeout time.Duration
	// RetrySchedule is the wait before each retry after the first attempt,
	// each at most MaxRetryWait. Default 5s,5m,30m,2h,5h,10h,10h (8
	// attempts in all).
	RetrySchedule []time.Duration
	// RetryJitter is the random spread applied to each retry delay, as a
	// fraction. Default 0.2 (±20%).
	RetryJitter float64
	// AllowCIDRs are destination networks exempt from the SSRF guard.
	// Default none.
	AllowCIDRs []netip.Prefix
	// SvixHeaders also sends svix-id, svix-timestamp and svix-signature.
	// Default false.
	SvixHeaders bool
	// EndpointConcurrency is the most requests in flight to one endpoint.
	// Default 32.
	EndpointConcurrency int
	// MaxInFlight is the most delivery requests in flight in this process.
	// Default 1024.
	MaxInFlight int
	// AppConcurrency is the most delivery requests in flight to one
	// application's endpoints together, so that one application cannot
	// hold every slot of the process. Default 0: a quarter of MaxInFlight.
	AppConcurrency int
	// MaxBodyBytes is the largest API request body accepted. Default
	// 1048576 (1 MiB).
	MaxBodyBytes int64
	// Retention is how long a message's history (the message, its
	// deliveries and attempts) is kept after the message was accepted;
	// a message that still has a delivery to make is kept until it has
	// none. 0 keeps history for ever. Default 90 days, the longest a
	// payload may be kept.
	Retention time.Duration
	// PortalTokenTTL is how long an app portal token lives. Default 168h.
	PortalTokenTTL time.Duration
	// SQLiteSync is SQLite's synchronous setting: "full" (every commit
	// is on disk before the API answers) or "normal" (commits survive a
	// crash of Herald but not of the machine). Default full.
	SQLiteSync string
	// DBMaxConns is the PostgreSQL connection pool size per replica.
	// Default 10.
	DBMaxConns int
	// LogFormat is "text" or "json". Default text.
	LogFormat string
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// PollInterval is the longest time the delivery engine waits before
	// looking for due deliveries (retries, and work other replicas leave)
	// when nothing wakes it. Default 250ms.
	PollInterval time.Duration
	// ShutdownTimeout bounds a graceful shutdown. Default 20s.
	ShutdownTimeout time.Duration
	// BreakerFailures is how many consecutive failed attempts to an
	// endpoint (no connection, a timeout, a 5xx) open its circuit: no
	// attempts but probes until it answers again. 0 turns the breaker
	// off. Default 5.
	BreakerFailures int
	// BreakerMaxProbe is the longest wait between two probes of an open
	// circuit (the first comes after 10s and the wait doubles). Default
	// 5m.
	BreakerMaxProbe time.Duration
	// Metrics serves Prometheus metrics at /metrics on the API listener,
	// without authentication. Default true.
	Metrics bool
	// AdminListen is the address of the admin listener, which serves
	// /debug/pprof/ and /metrics without authentication: bind it to a
	// private address. Default empty: no admin listener.
	AdminListen string
	// PortalFrameAncestors are the origins (https://app.example.com) that
	// may embed the consumer portal in a frame. Default empty: no site may
	// frame it.
	PortalFrameAncestors []string
	// ValidatePayloads validates the payload of each message against the
	// newest JSON Schema of its event type (when it has one), for event
	// types whose own validatePayloads is null; a payload that does not
	// validate is refused with 422. Default false, as Svix does.
	ValidatePayloads bool
}

// MaxRetryWait is the longest wait of a retry schedule: 30 days. Jitter
// scales a wait by up to 2 before it is used, which a far longer one (more
// than 146 years) would overflow.
const MaxRetryWait = 30 * 24 * time.Hour

// DefaultRetrySchedule is the Svix schedule after the first attempt.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Default returns the configuration with every default applied.
func Default() Config {
	return Config{
		Listen:              "127.0.0.1:8071",
		Database:            "./herald.db",
		RequestTimeout:      15 * time.Second,
		RetrySchedule:       append([]time.Duration(nil), DefaultRetrySchedule...),
		RetryJitter:         0.2,
		EndpointConcurrency: 32,
		MaxInFlight:         1024,
		MaxBodyBytes:        1 << 20,
		PortalTokenTTL:      7 * 24 * time.Hour,
		Retention:           90 * 24 * time.Hour,
		DBMaxConns:          10,
		SQLiteSync:          "full",
		LogFormat:           "text",
		LogLevel:            "info",
		ShutdownTimeout:     20 * time.Second,
		PollInterval:        250 * time.Millisecond,
		BreakerFailures:     5,
		BreakerMaxProbe:     5 * time.Minute,
		Metrics:             true,
	}
}

// Kind is the type of a setting's value. Every value is text where it
// comes from (a flag, the environment, the config file) and is parsed by
// the setting; the kind tells a flag parser how to take it (a Bool flag
// given without a value means true) and help how to show it.
type Kind int

// The kinds of settings.
const (
	// KindString is text.
	KindString Kind = iota
	// KindBool is true or false (strconv.ParseBool).
	KindBool
	// KindInt is an integer.
	KindInt
	// KindFloat is a decimal number.
	KindFloat
	// KindDuration is a Go duration, such as 15s or 2h30m.
	KindDuration
	// KindDurationList is comma-separated durations.
	KindDurationList
	// KindList is comma-separated text.
	KindList
)

// String names the kind as flag help shows it: string, bool, int, float,
// duration, durations or strings.
func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindDuration:
		return "duration"
	case KindDurationList:
		return "durations"
	case KindList:
		return "strings"
	}
	return "string"
}

// Setting is one configurable field.
type Setting struct {
	// Flag is the command-line flag name, without dashes.
	Flag string
	// Env is the environment variable, also the key in the config file.
	Env string
	// Kind is the type of the value. The zero value is KindString.
	Kind Kind
	// Usage is the flag's help text.
	Usage string
	// Secret settings are never printed.
	Secret bool
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

// Settings is the table of every setting, in help order.
var Settings = []Setting{
	{Flag: "listen", Env: "HERALD_LISTEN", Usage: "address of the HTTP API",
		set: func(c *Config, v string) error { c.Listen = v; return nil },
		get: func(c *Config) string { return c.Listen }},
	{Flag: "database", Env: "HERALD_DATABASE_URL", Usage: "postgres:// URL, or SQLite file path (sqlite: prefix optional)",
		set: func(c *Config, v string) error { c.Database = v; return nil },
		get: func(c *Config) string { return c.Database }},
	{Flag: "admin-token", Env: "HERALD_ADMIN_TOKEN", Usage: "admin API token accepted in addition to stored tokens", Secret: true,
		set: func(c *Config, v string) error { c.AdminToken = v; return nil },
		get: func(c *Config) string { return c.AdminToken }},
	{Flag: "public-url", Env: "HERALD_PUBLIC_URL", Usage: "base URL users reach Herald at (portal links)",
		set: func(c *Config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return nil },
		get: func(c *Config) string { return c.PublicURL }},
	{Flag: "encryption-key", Env: "HERALD_ENCRYPTION_KEY", Usage: "base64 of 32 bytes encrypting endpoint secrets at rest", Secret: true,
		set: func(c *Config, v string) error { c.EncryptionKey = v; return nil },
		get: func(c *Config) string { return c.EncryptionKey }},
	{Flag: "request-timeout", Env: "HERALD_REQUEST_TIMEOUT", Kind: KindDuration, Usage: "timeout of each delivery request",
		set: func(c *Config, v string) error { return setDuration(&c.RequestTimeout, v) },
		get: func(c *Config) string { return c.RequestTimeout.String() }},
	{Flag: "retry-schedule", Env: "HERALD_RETRY_SCHEDULE", Kind: KindDurationList, Usage: "comma-separated waits before each retry (1s,1s,1s = 4 attempts)",
		set: func(c *Config, v string) error {
			s, err := ParseSchedule(v)
			c.RetrySchedule = s
			return err
		},
		get: func(c *Config) string { return FormatSchedule(c.RetrySchedule) }},
	{Flag: "retry-jitter", Env: "HERALD_RETRY_JITTER", Kind: KindFloat, Usage: "random spread of retry delays, as a fraction (0.2 = ±20%)",
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("not a number: %q", v)
			}
			c.RetryJitter = f
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(c.RetryJitter, 'g', -1, 64) }},
	{Flag: "allow-cidr", Env: "HERALD_ALLOW_CIDRS", Kind: KindList, Usage: "comma-separated CIDRs exempt from the SSRF guard (e.g. 127.0.0.0/8)",
		set: func(c *Config, v string) error {
			p, err := ParseCIDRs(v)
			c.AllowCIDRs = p
			return err
		},
		get: func(c *Config) string {
			var s []string
			for _, p := range c.AllowCIDRs {
				s = append(s, p.String())
			}
			return strings.Join(s, ",")
		}},
	{Flag: "svix-headers", Env: "HERALD_SVIX_HEADERS", Kind: KindBool, Usage: "also send svix-id, svix-timestamp and svix-signature",
		set: func(c *Config, v string) error { return setBool(&c.SvixHeaders, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.SvixHeaders) }},
	{Flag: "endpoint-concurrency", Env: "HERALD_ENDPOINT_CONCURRENCY", Kind: KindInt, Usage: "most requests in flight to one endpoint",
		set: func(c *Config, v string) error { return setInt(&c.EndpointConcurrency, v) },
		get: func(c *Config) string { return strconv.Itoa(c.EndpointConcurrency) }},
	{Flag: "max-in-flight", Env: "HERALD_MAX_IN_FLIGHT", Kind: KindInt, Usage: "most delivery requests in flight in this process",
		set: func(c *Config, v string) error { return setInt(&c.MaxInFlight, v) },
		get: func(c *Config) string { return strconv.Itoa(c.MaxInFlight) }},
	{Flag: "app-concurrency", Env: "HERALD_APP_CONCURRENCY", Kind: KindInt, Usage: "most requests in flight to one application's endpoints together; 0 is a quarter of --max-in-flight",
		set: func(c *Config, v string) error { return setInt(&c.AppConcurrency, v) },
		get: func(c *Config) string { return strconv.Itoa(c.AppConcurrency) }},
	{Flag: "max-body-bytes", Env: "HERALD_MAX_BODY_BYTES", Kind: KindInt, Usage: "largest API request body accepted",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			c.MaxBodyBytes = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(c.MaxBodyBytes, 10) }},
	{Flag: "validate-payloads", Env: "HERALD_VALIDATE_PAYLOADS", Kind: KindBool, Usage: "refuse (422) a message whose payload does not validate against its event type's schema, for event types that do not choose (validatePayloads null)",
		set: func(c *Config, v string) error { return setBool(&c.ValidatePayloads, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.ValidatePayloads) }},
	{Flag: "retention", Env: "HERALD_RETENTION", Kind: KindDuration, Usage: "how long a message, its deliveries and attempts are kept after the message was accepted (like 90d or 36h; 0: for ever); one with a delivery still to make is kept until it has none",
		set: func(c *Config, v string) error { return setDays(&c.Retention, v) },
		get: func(c *Config) string { return days(c.Retention) }},
	{Flag: "portal-token-ttl", Env: "HERALD_PORTAL_TOKEN_TTL", Kind: KindDuration, Usage: "lifetime of app portal tokens",
		set: func(c *Config, v string) error { return setDuration(&c.PortalTokenTTL, v) },
		get: func(c *Config) string { return c.PortalTokenTTL.String() }},
	{Flag: "sqlite-sync", Env: "HERALD_SQLITE_SYNC", Usage: "SQLite durability: full (each commit on disk) or normal (survives a crash of Herald, not of the machine)",
		set: func(c *Config, v string) error { c.SQLiteSync = strings.ToLower(v); return nil },
		get: func(c *Config) string { return c.SQLiteSync }},
	{Flag: "db-max-conns", Env: "HERALD_DB_MAX_CONNS", Kind: KindInt, Usage: "PostgreSQL connections per replica",
		set: func(c *Config, v string) error { return setInt(&c.DBMaxConns, v) },
		get: func(c *Config) string { return strconv.Itoa(c.DBMaxConns) }},
	{Flag: "log-format", Env: "HERALD_LOG_FORMAT", Usage: "log format: text or json",
		set: func(c *Config, v string) error { c.LogFormat = v; return nil },
		get: func(c *Config) string { return c.LogFormat }},
	{Flag: "log-level", Env: "HERALD_LOG_LEVEL", Usage: "log level: debug, info, warn or error",
		set: func(c *Config, v string) error { c.LogLevel = v; return nil },
		get: func(c *Config) string { return c.LogLevel }},
	{Flag: "poll-interval", Env: "HERALD_POLL_INTERVAL", Kind: KindDuration, Usage: "longest wait before looking for due deliveries when nothing wakes the engine",
		set: func(c *Config, v string) error { return setDuration(&c.PollInterval, v) },
		get: func(c *Config) string { return c.PollInterval.String() }},
	{Flag: "breaker-failures", Env: "HERALD_BREAKER_FAILURES", Kind: KindInt, Usage: "consecutive failed attempts (no connection, timeout, 5xx) that open an endpoint's circuit; 0: no breaker",
		set: func(c *Config, v string) error { return setInt(&c.BreakerFailures, v) },
		get: func(c *Config) string { return strconv.Itoa(c.BreakerFailures) }},
	{Flag: "breaker-max-probe", Env: "HERALD_BREAKER_MAX_PROBE", Kind: KindDuration, Usage: "longest wait between two probes of an open circuit (the first after 10s, doubling)",
		set: func(c *Config, v string) error { return setDuration(&c.BreakerMaxProbe, v) },
		get: func(c *Config) string { return c.BreakerMaxProbe.String() }},
	{Flag: "shutdown-timeout", Env: "HERALD_SHUTDOWN_TIMEOUT", Kind: KindDuration, Usage: "bound on a graceful shutdown",
		set: func(c *Config, v string) error { return setDuration(&c.ShutdownTimeout, v) },
		get: func(c *Config) string { return c.ShutdownTimeout.String() }},
	{Flag: "metrics", Env: "HERALD_METRICS", Kind: KindBool, Usage: "serve Prometheus metrics at /metrics on the API listener, without auth",
		set: func(c *Config, v string) error { return setBool(&c.Metrics, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.Metrics) }},
	{Flag: "portal-frame-ancestors", Env: "HERALD_PORTAL_FRAME_ANCESTORS", Kind: KindList, Usage: "comma-separated origins that may embed the consumer portal in a frame, e.g. https://app.example.com (needs HTTPS; empty: none)",
		set: func(c *Config, v string) error {
			c.PortalFrameAncestors = nil
			for _, o := range strings.Split(v, ",") {
				if o = strings.TrimSpace(o); o != "" {
					c.PortalFrameAncestors = append(c.PortalFrameAncestors, strings.TrimRight(o, "/"))
				}
			}
			return nil
		},
		get: func(c *Config) string { return strings.Join(c.PortalFrameAncestors, ",") }},
	{Flag: "admin-listen", Env: "HERALD_ADMIN_LISTEN", Usage: "address of an admin listener serving /debug/pprof/ and /metrics, without auth (empty: off)",
		set: func(c *Config, v string) error { c.AdminListen = v; return nil },
		get: func(c *Config) string { return c.AdminListen }},
}

// Lookup returns the setting with the given flag name.
func Lookup(flag string) (*Setting, bool) {
	for i := range Settings {
		if Settings[i].Flag == flag {
			return &Settings[i], true
		}
	}
	return nil, false
}

// Set parses v into the setting's field of c.
func (s *Setting) Set(c *Config, v string) error {
	if err := s.set(c, strings.TrimSpace(v)); err != nil {
		return fmt.Errorf("%s (--%s): %w", s.Env, s.Flag, err)
	}
	return nil
}

// Value returns the current value of the setting in c, redacted for secrets:
// a secret setting is hidden, and the database setting shows no password
// (RedactDatabase).
func (s *Setting) Value(c *Config) string {
	v := s.get(c)
	if s.Secret && v != "" {
		return "(redacted)"
	}
	if s.Flag == "database" {
		return RedactDatabase(v)
	}
	return v
}

// Source is where configuration values come from, besides flags.
type Source struct {
	// File is the path of an optional config file: lines of
	// HERALD_NAME=value, # comments and blank lines. Empty: none.
	File string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Load returns the defaults overridden by the file, then the environment,
// then flags (flag name to value, only those given on the command line).
// It returns every problem at once.
func Load(src Source, flags map[string]string) (Config, error) {
	c := Default()
	var errs []error
	if src.File != "" {
		vals, err := readFile(src.File)
		if err != nil {
			errs = append(errs, err)
		}
		for i := range Settings {
			if v, ok := vals[Settings[i].Env]; ok {
				errs = append(errs, Settings[i].Set(&c, v))
				delete(vals, Settings[i].Env)
			}
		}
		for k := range vals {
			errs = append(errs, fmt.Errorf("%s: unknown setting %s", src.File, k))
		}
	}
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for i := range Settings {
		if v := getenv(Settings[i].Env); v != "" {
			errs = append(errs, Settings[i].Set(&c, v))
		}
	}
	for name, v := range flags {
		s, ok := Lookup(name)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown flag --%s", name))
			continue
		}
		errs = append(errs, s.Set(&c, v))
	}
	errs = append(errs, c.Validate())
	return c, errors.Join(errs...)
}

// Validate checks the configuration and returns every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		s, _ := Lookup(flag)
		errs = append(errs, fmt.Errorf("%s (--%s): %s", s.Env, s.Flag, fmt.Sprintf(format, args...)))
	}
	if c.Listen == "" {
		bad("listen", "must not be empty")
	}
	if c.Database == "" {
		bad("database", "must not be empty")
	}
	if c.EncryptionKey != "" {
		// Checked here, with the rest, before anything opens or creates
		// the database. The error never holds the key.
		if _, err := secretbox.ParseKey(c.EncryptionKey); err != nil {
			bad("encryption-key", "%v", err)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public-url", "must be an absolute http(s) URL, got %q", c.PublicURL)
		}
	}
	if c.RequestTimeout < time.Second || c.RequestTimeout > 5*time.Minute {
		bad("request-timeout", "must be between 1s and 5m, got %s", c.RequestTimeout)
	}
	if len(c.RetrySchedule) > 50 {
		bad("retry-schedule", "at most 50 retries, got %d", len(c.RetrySchedule))
	}
	if i := slices.IndexFunc(c.RetrySchedule, func(d time.Duration) bool { return d > MaxRetryWait }); i >= 0 {
		bad("retry-schedule", "each wait must be at most %s, got %s", MaxRetryWait, c.RetrySchedule[i])
	}
	if c.RetryJitter < 0 || c.RetryJitter >= 1 {
		bad("retry-jitter", "must be in [0, 1), got %g", c.RetryJitter)
	}
	if c.EndpointConcurrency < 1 || c.EndpointConcurrency > 10000 {
		bad("endpoint-concurrency", "must be between 1 and 10000, got %d", c.EndpointConcurrency)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 100000 {
		bad("max-in-flight", "must be between 1 and 100000, got %d", c.MaxInFlight)
	}
	if c.AppConcurrency < 0 || c.AppConcurrency > 100000 {
		bad("app-concurrency", "must be between 0 (a quarter of --max-in-flight) and 100000, got %d", c.AppConcurrency)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("max-body-bytes", "must be between 1024 and 67108864, got %d", c.MaxBodyBytes)
	}
	if c.Retention != 0 && c.Retention < time.Hour {
		bad("retention", "must be 0 (keep for ever) or at least 1h, got %s", days(c.Retention))
	}
	if c.PortalTokenTTL < time.Minute {
		bad("portal-token-ttl", "must be at least 1m, got %s", c.PortalTokenTTL)
	}
	if c.SQLiteSync != "full" && c.SQLiteSync != "normal" {
		bad("sqlite-sync", "must be full or normal, got %q", c.SQLiteSync)
	}
	if c.DBMaxConns < 2 || c.DBMaxConns > 1000 {
		bad("db-max-conns", "must be between 2 and 1000, got %d", c.DBMaxConns)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "must be text or json, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.BreakerFailures < 0 || c.BreakerFailures > 1000 {
		bad("breaker-failures", "must be between 0 (no breaker) and 1000, got %d", c.BreakerFailures)
	}
	if c.BreakerMaxProbe < 10*time.Second || c.BreakerMaxProbe > 24*time.Hour {
		bad("breaker-max-probe", "must be between 10s and 24h, got %s", c.BreakerMaxProbe)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Hour {
		bad("poll-interval", "must be between 10ms and 1h, got %s", c.PollInterval)
	}
	if c.ShutdownTimeout < time.Second {
		bad("shutdown-timeout", "must be at least 1s, got %s", c.ShutdownTimeout)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			bad("admin-listen", "must be host:port, like 127.0.0.1:8072, got %q", c.AdminListen)
		} else if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			bad("admin-listen", "must differ from HERALD_LISTEN (--listen), both are %q", c.Listen)
		}
	}
	for _, o := range c.PortalFrameAncestors {
		if !validOrigin(o) {
			bad("portal-frame-ancestors", "each must be an origin like https://app.example.com (scheme and host, no path), got %q", o)
		}
	}
	return errors.Join(errs...)
}

// validOrigin reports whether s is an origin a Content-Security-Policy's
// frame-ancestors can name: http(s), a host (whose leftmost label may be
// *), an optional port, and nothing else; no character that would end the
// directive.
func validOrigin(s string) bool {
	if strings.ContainsAny(s, " ;,'\"\t\n\r") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return false
	}
	host := strings.TrimPrefix(u.Hostname(), "*.")
	return host != "" && !strings.Contains(host, "*")
}

// IsPostgres reports whether Database names a PostgreSQL server.
func (c *Config) IsPostgres() bool {
	return IsPostgresURL(c.Database)
}

// IsPostgresURL reports whether s is a postgres:// or postgresql:// URL.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// SQLitePath returns the file path of a SQLite database setting.
func SQLitePath(s string) string {
	s = strings.TrimPrefix(s, "sqlite://")
	return strings.TrimPrefix(s, "sqlite:")
}

// ParseSchedule parses comma-separated durations. An empty string is an empty
// schedule: one attempt, no retries.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a duration like 5s or 2h", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatSchedule is the inverse of ParseSchedule.
func FormatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// ParseCIDRs parses comma-separated CIDRs; a bare address means that address
// alone.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR like 127.0.0.0/8 or an address", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func setDuration(d *time.Duration, v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 15s", v)
	}
	*d = x
	return nil
}

// setDays is setDuration that also takes whole days, like 90d.
func setDays(d *time.Duration, v string) error {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		x, err := strconv.Atoi(n)
		if err != nil || x < 0 || x > 100*365 {
			return fmt.Errorf("%q is not a number of days like 90d", v)
		}
		*d = time.Duration(x) * 24 * time.Hour
		return nil
	}
	return setDuration(d, v)
}

// days writes d as whole days (90d) when it is, else as a duration.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func setInt(n *int, v string) error {
	x, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*n = x
	return nil
}

func setBool(b *bool, v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = x
	return nil
}

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return vals, fmt.Errorf("%s:%d: want HERALD_NAME=value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vals[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return vals, fmt.Errorf("config file: %w", err)
	}
	return vals, nil
}

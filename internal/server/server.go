// Package server is Herald's composition root: it opens the store named by
// the configuration, builds the delivery engine, the background tasks and the
// HTTP API, and runs them until it is told to stop. It is the only package
// that knows which store driver is in use.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/maintenance"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/operational"
	"github.com/heraldhq/herald/internal/portal"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/groupcommit"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/tracing"
)

// Server is a running Herald.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	now      func() time.Time
	store    store.Store
	engine   *delivery.Engine
	tasks    *maintenance.Service
	ingest   *groupcommit.Committer[store.CreateMessageParams, store.CreateMessageResult]
	cluster  *cluster // nil unless the store is shared by replicas
	metrics  *metrics.Metrics
	events   *operational.Events
	queue    *metrics.QueueSampler
	tracing  *tracing.Tracing
	http     *http.Server
	listener net.Listener
	served   chan error
	// The admin listener (pprof and metrics), when configured.
	admin         *http.Server
	adminListener net.Listener
	// parts are the pieces of the server with a life of their own (the
	// store, the background services, the listeners) in the order New
	// built them; Start starts them in it and Shutdown stops them in the
	// reverse order, so that each stops only after everything built on it
	// has: the listeners first, no new requests coming, then the services
	// those requests used, the store last.
	parts lifecycle.Group
}

// add appends a part; start is nil for a part that runs from New on, or
// never runs.
func (s *Server) add(name string, start, stop func(context.Context) error) {
	s.parts.Add(name, start, stop)
}

// Options are what the caller provides besides the configuration.
type Options struct {
	// Log receives the server's logs; nil builds one from the
	// configuration, writing to Stderr.
	Log *slog.Logger
	// Stderr receives the logs (when Log is nil) and the first admin
	// token; nil means os.Stderr.
	Stderr io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Stdout receives spans when OTEL_TRACES_EXPORTER=console; nil means
	// os.Stdout.
	Stdout io.Writer
}

// NewLogger builds the logger the configuration asks for.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenStore opens (without migrating) the store the configuration names.
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	return openStore(ctx, cfg, slog.New(slog.DiscardHandler))
}

// openStore opens the store with log for its background work.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.IsPostgres() {
		s, err := postgres.Open(ctx, cfg.Database, postgres.WithMaxConns(cfg.DBMaxConns), postgres.WithLogger(log),
			postgres.WithPartitionWidth(postgres.PartitionWidth(cfg.Retention)))
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL database %s: %w", config.RedactDatabase(cfg.Database), err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, config.SQLitePath(cfg.Database), sqlite.WithSynchronous(strings.ToUpper(cfg.SQLiteSync)))
	if err != nil {
		return nil, fmt.Errorf("open SQLite database %s: %w", config.SQLitePath(cfg.Database), err)
	}
	return s, nil
}

// New opens and migrates the store and builds every part of the server,
// without serving yet.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *Server, err error) {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Log == nil {
		opts.Log = NewLogger(&cfg, opts.Stderr)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	s := &Server{cfg: cfg, log: opts.Log, now: opts.Now, served: make(chan error, 1)}
	// A configured key is checked before the database is opened: a bad
	// one must not leave a new, migrated database behind.
	var key []byte
	if cfg.EncryptionKey != "" {
		if key, err = secretbox.ParseKey(cfg.EncryptionKey); err != nil {
			return nil, fmt.Errorf("HERALD_ENCRYPTION_KEY (--encryption-key): %w", err)
		}
	}
	s.store, err = openStore(ctx, &cfg, s.log)
	if err != nil {
		return nil, err
	}
	s.add("store", nil, func(context.Context) error { return s.store.Close() })
	defer func() {
		if err != nil {
			// Stop what was built: the store, and whatever runs on it.
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			s.Shutdown(sctx)
		}
	}()
	if err := s.store.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	box, err := s.encryptionBox(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := s.bootstrapAdminToken(ctx, opts.Stderr, opts.Now()); err != nil {
		return nil, err
	}

	opsApp, err := operational.Bootstrap(ctx, s.store, opts.Now())
	if err != nil {
		return nil, err
	}
	s.events = &operational.Events{AppID: opsApp, Now: opts.Now}

	s.metrics = metrics.New(metrics.Build{Version: buildinfo.Version(), Revision: buildinfo.Get().Commit})
	s.tracing, err = tracing.New(ctx, tracing.Options{Version: buildinfo.Version(), Console: opts.Stdout})
	if err != nil {
		return nil, err
	}
	// Stopped after the engine: the spans of the last attempts are
	// exported too.
	s.add("tracing", nil, s.tracing.Shutdown)
	egressCfg := egress.Config{
		Timeout:    cfg.RequestTimeout,
		AllowCIDRs: cfg.AllowCIDRs,
		UserAgent:  buildinfo.UserAgent(),
		// Keep a connection for every request that may be in flight, so
		// that many endpoints on one host reuse theirs instead of dialing.
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		Now:                 opts.Now,
	}
	if s.tracing.Enabled() {
		egressCfg.WrapTransport = s.tracing.Transport
	}
	client := egress.New(egressCfg)
	s.engine = delivery.New(delivery.Config{
		Store: s.store, Client: client, Box: box, Log: s.log, Now: opts.Now,
		RequestTimeout: cfg.RequestTimeout, RetrySchedule: cfg.RetrySchedule, Jitter: cfg.RetryJitter,
		EndpointConcurrency: cfg.EndpointConcurrency, AppConcurrency: cfg.AppConcurrency, MaxInFlight: cfg.MaxInFlight, PollInterval: cfg.PollInterval,
		SvixHeaders: cfg.SvixHeaders, UserAgent: buildinfo.UserAgent(),
		Observer: s.metrics, Events: s.events,
		BreakerFailures: breakerFailures(cfg.BreakerFailures), BreakerMaxProbe: cfg.BreakerMaxProbe,
	})
	s.add("engine", s.engine.Start, s.engine.Stop)
	s.metrics.WatchDelivery(s.engine.Load, s.engine.OpenCircuits)
	s.queue = s.metrics.NewQueueSampler(metrics.QueueSamplerConfig{Store: s.store, Log: s.log, Now: opts.Now})
	s.add("queue sampler", s.queue.Start, s.queue.Stop)
	// Tasks wake the engine; the cluster wakes it and tells it the
	// number of replicas.
	s.tasks = maintenance.New(maintenance.Config{Store: s.store, Log: s.log, Now: opts.Now, Wake: s.engine.Wake, Events: s.events, Retention: cfg.Retention})
	s.add("tasks", s.tasks.Start, s.tasks.Stop)
	s.cluster = newCluster(s.store, s.engine, s.log, opts.Now)
	if s.cluster != nil {
		s.metrics.WatchListenFailures(s.cluster.store.ListenFailures)
		s.add("cluster", func(ctx context.Context) error { s.cluster.Start(ctx); return nil }, s.cluster.Stop)
	}
	// Writes the messages the API accepts: closed once the API's
	// requests have ended.
	s.ingest = groupcommit.New(s.writeMessages, groupcommit.Options{MaxBatch: 512})
	s.add("ingest", nil, func(ctx context.Context) error { return lifecycle.Wait(ctx, s.ingest.Close) })

	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + cfg.Listen
	}
	handler := api.New(api.Options{
		Store:            s.store,
		WriteMessage:     s.ingest.Do,
		Dispatcher:       s.engine,
		KickTasks:        s.tasks.Kick,
		Box:              box,
		Log:              s.log,
		Now:              opts.Now,
		AdminToken:       cfg.AdminToken,
		PublicURL:        publicURL,
		MaxBodyBytes:     cfg.MaxBodyBytes,
		PortalTokenTTL:   cfg.PortalTokenTTL,
		Version:          buildinfo.Version(),
		Observe:          s.metrics.APIRequest,
		Events:           s.events,
		ValidatePayloads: cfg.ValidatePayloads,
	})
	console, err := portal.New(portal.Options{
		Service:        handler.Service(),
		Log:            s.log,
		AdminToken:     cfg.AdminToken,
		PublicURL:      publicURL,
		PortalTokenTTL: cfg.PortalTokenTTL,
		FrameAncestors: cfg.PortalFrameAncestors,
		Live:           s.live,
	})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	var root http.Handler = withPortal(console, s.tracing.Handler(handler))
	if cfg.Metrics {
		root = withMetrics(s.metrics.Handler(), root)
	}
	s.http = &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Shut down first: no new requests, those in progress finish.
	s.add("http", func(context.Context) error {
		go func() { s.served <- s.http.Serve(s.listener) }()
		return nil
	}, s.http.Shutdown)
	if cfg.AdminListen != "" {
		s.admin = &http.Server{
			Handler:           adminHandler(s.metrics.Handler()),
			ReadHeaderTimeout: 10 * time.Second,
			// Long enough for /debug/pprof/profile?seconds=60 and a
			// trace of the same length.
			WriteTimeout:   5 * time.Minute,
			IdleTimeout:    120 * time.Second,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.add("admin listener", func(ctx context.Context) error {
			aln := s.adminListener
			go func() {
				if err := s.admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.ErrorContext(ctx, "admin listener stopped", "err", err)
				}
			}()
			return nil
		}, s.admin.Shutdown)
	}
	return s, nil
}

// breakerFailures maps the setting (0: off) to the engine's (negative: off).
func breakerFailures(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// writeMessages writes a batch of messages for the ingest group committer,
// and times it.
func (s *Server) writeMessages(ctx context.Context, ps []store.CreateMessageParams) ([]store.CreateMessageResult, error) {
	start := s.now()
	rs, err := s.store.CreateMessages(ctx, ps)
	s.metrics.Batch("ingest", len(ps), s.now().Sub(start), err)
	return rs, err
}

// live is what the console's overview shows: the numbers /metrics serves,
// from the same sources.
func (s *Server) live() portal.Live {
	snap := s.metrics.Snapshot()
	queued, inFlight := s.engine.Load()
	return portal.Live{Attempts: snap.Attempts, DueFirst: snap.DueFirst, DueRetry: snap.DueRetry, DueParked: snap.DueParked,
		OldestDueAge: snap.OldestDueAge, InFlight: float64(inFlight), Queued: float64(queued)}
}

// withPortal serves the consumer portal and the console (/portal/,
// /console/) with p and everything else with next.
func withPortal(p, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if portal.Handles(r.URL.Path) {
			p.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withMetrics serves /metrics with m and everything else with next. It
// compares the path exactly rather than through a ServeMux, which would
// clean and redirect the API's paths.
func withMetrics(m, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			m.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminHandler serves the admin listener: /metrics and the runtime profiles
// under /debug/pprof/.
func adminHandler(m http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Herald admin listener: /metrics, /debug/pprof/")
	})
	return mux
}

// encryptionBox returns the box sealing endpoint secrets: with key, the
// configured key, or else one generated on first start and kept in a file
// beside a SQLite database (or in a PostgreSQL database's settings).
func (s *Server) encryptionBox(ctx context.Context, key []byte) (*secretbox.Box, error) {
	if key == nil {
		keyText, err := s.storedKey(ctx)
		if err != nil {
			return nil, err
		}
		if key, err = secretbox.ParseKey(keyText); err != nil {
			return nil, fmt.Errorf("the stored encryption key: %w", err)
		}
	}
	return secretbox.New(key)
}

func (s *Server) storedKey(ctx context.Context) (string, error) {
	if s.cfg.IsPostgres() {
		s.log.WarnContext(ctx, "no HERALD_ENCRYPTION_KEY set: endpoint secrets are encrypted with a key kept in the database; set one to keep the key apart from the data")
		return s.store.PutSettingIfAbsent(ctx, "encryption_key", secretbox.NewKey())
	}
	path := config.SQLitePath(s.cfg.Database) + ".key"
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read encryption key: %w", err)
	}
	key := secretbox.NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create encryption key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write encryption key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("write encryption key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write encryption key file: %w", err)
	}
	s.log.InfoContext(ctx, "generated the key that encrypts endpoint secrets; back it up with the database", "path", path)
	return key, nil
}

// bootstrapAdminToken makes the first admin token when none is configured
// or stored, and prints it once.
func (s *Server) bootstrapAdminToken(ctx context.Context, w io.Writer, now time.Time) error {
	if s.cfg.AdminToken != "" {
		return nil
	}
	n, err := s.store.CountAdminTokens(ctx)
	if err != nil {
		return fmt.Errorf("count admin tokens: %w", err)
	}
	if n > 0 {
		return nil
	}
	// Replicas starting at once on an empty database may each make
	// one; every token printed is valid.
	token, err := api.CreateAdminToken(ctx, s.store, "bootstrap", now)
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	fmt.Fprintf(w, "\nHerald generated an admin API token. It is shown only this once; only its hash is stored:\n\n    %s\n\nUse it as: Authorization: Bearer <token>. Make more with `herald token create`.\n\n", token)
	return nil
}

// Start listens and starts serving and delivering.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	if s.admin != nil {
		s.adminListener, err = net.Listen("tcp", s.cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener on %s: %w", s.cfg.AdminListen, err)
		}
	}
	closeListeners := func() {
		ln.Close()
		if s.adminListener != nil {
			s.adminListener.Close()
			s.adminListener = nil
		}
	}
	s.listener = ln
	// In the order New built them: the services, then the listeners
	// serve.
	if err := s.parts.Start(ctx); err != nil {
		closeListeners()
		return err
	}
	attrs := []any{"addr", ln.Addr().String(), "version", buildinfo.Version(),
		"database", config.RedactDatabase(s.cfg.Database), "metrics", s.cfg.Metrics, "tracing", s.tracing.Enabled()}
	if s.adminListener != nil {
		attrs = append(attrs, "admin_addr", s.adminListener.Addr().String())
	}
	s.log.InfoContext(ctx, "herald serving", attrs...)
	return nil
}

// AdminAddr is the address of the admin listener once started; empty when
// there is none.
func (s *Server) AdminAddr() string {
	if s.adminListener == nil {
		return ""
	}
	return s.adminListener.Addr().String()
}

// Addr is the address the API listens on, once started.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Store is the server's store (for tests).
func (s *Server) Store() store.Store { return s.store }

// Served returns a channel that receives the HTTP server's error if it stops
// serving on its own.
func (s *Server) Served() <-chan error { return s.served }

// Shutdown stops the server within ctx, every part in the reverse of the
// order New built it: the admin listener and the API stop accepting
// requests and finish those in progress; the ingest committer writes what
// they accepted; the cluster, the tasks and the queue sampler stop; the
// engine stops (sends in flight finish, queued jobs go back to the store);
// the last spans are exported; the store closes. Parts that never started
// stop all the same. A second call does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.parts.Stop(ctx)
}

// Run starts the server and serves until ctx ends, then shuts down within
// the configured timeout.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	s, err := New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		s.Shutdown(context.Background())
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, s.Shutdown(sctx))
}

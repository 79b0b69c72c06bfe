// Package bench measures a Herald server end to end: it starts one (or
// targets a running one), starts a receiver that verifies every signature,
// creates an application and endpoints, drives load through the public API,
// waits until every accepted message has been delivered, and reports
// throughput, end-to-end latency, losses, duplicates and the server's memory.
// `herald bench` is its command line.
//
// End-to-end latency is measured from the message's acceptance, the
// `timestamp` the API returns with the 202 (taken by the server when it
// handles the request, before the commit), to the moment the receiver's
// handler starts, both read from the wall clock of this machine.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/webhook"
)

// Config is what a run measures. The zero value of each field is explained
// in its comment; Run applies the defaults.
type Config struct {
	// URL targets a running Herald server instead of starting one; Token
	// is its admin token. Empty: Run starts a server with ServerCommand.
	URL   string
	Token string
	// ServerCommand is the program and arguments that start a server (for
	// `herald bench`, the same binary's hidden `bench server` command);
	// Run appends --listen, --database, --admin-token and --allow-cidr,
	// then ServerFlags. The command must print "listening on ADDR" on a
	// line of its standard output once it serves.
	ServerCommand []string
	// ServerEnv is added to the server's environment.
	ServerEnv []string
	// ServerFlags are more flags for the server (e.g. --max-in-flight 2048).
	ServerFlags []string
	// Database is the server's database: a SQLite path or a postgres://
	// URL. Empty: a SQLite file in a temporary directory, removed at the end.
	Database string
	// Replicas is the number of servers started on Database, which must
	// then be a postgres:// URL: they share its admin token and an
	// encryption key, and the API requests go to them in turn. Zero means 1.
	Replicas int
	// CPUProfile, when set, asks the started server (the first replica)
	// to write a CPU profile of the whole run to this file.
	CPUProfile string
	// HeapProfile, when set, asks the started server (the first replica)
	// to write a heap profile to this file, taken when its heap was largest.
	HeapProfile string

	// Duration is how long load is sent. Zero means 30s.
	Duration time.Duration
	// Rate is the messages per second sent on a fixed timeline (open
	// model); zero means as fast as the server accepts them (closed loop,
	// Concurrency requests in flight).
	Rate int
	// Concurrency is the most API requests in flight. Zero means 64.
	Concurrency int
	// Endpoints is the number of healthy endpoints each message fans out
	// to. Zero means 1.
	Endpoints int
	// SlowEndpoints is the number of extra endpoints, receiving the same
	// messages, whose receiver hangs until the run ends. Zero means none.
	SlowEndpoints int
	// NoisyAppEndpoints, when positive, adds a second application with
	// that many endpoints, all hanging until the run ends; one message in
	// NoisyAppEndpoints sent to the measured application is also sent to
	// it, so that it asks for as many deliveries. It measures isolation
	// between applications (the healthy endpoints' latency beside a noisy
	// neighbour), not the cost of its fan-out. Zero means none.
	NoisyAppEndpoints int
	// Outage, when positive, makes the healthy endpoints answer 503 for
	// that long from the start of the load (the receiver is down), then
	// 200: it measures the requests made to an endpoint that is down and
	// the drain once it is back. Zero means none.
	Outage time.Duration
	// PayloadBytes is the size of each message's JSON payload. Zero means
	// 1024.
	PayloadBytes int
	// FIFO makes the healthy endpoints FIFO (ordering "fifo"): each sends
	// the messages of one ordering key one at a time. False: unordered.
	FIFO bool
	// OrderingKeys, when positive, gives message seq the ordering key
	// "k<seq mod OrderingKeys>", so that a FIFO endpoint sends that many
	// messages at a time. Zero means no key (one sequence per endpoint).
	OrderingKeys int
	// DeliverAfter, when positive, schedules each message that long after
	// it is sent (deliverAt), plus a random part of up to a second, so
	// that due times fall at random moments (not in step with the sends,
	// which wake the server); end-to-end latency then runs from that due
	// time: it measures how late scheduled messages are. Zero means none.
	DeliverAfter time.Duration
	// Backlog, when positive, replaces the timed load: Backlog messages
	// are sent while the receiver hangs (it accepts connections and never
	// answers), so their deliveries queue up in the server; then the
	// receiver answers again and the drain is measured.
	Backlog int
	// DrainTimeout bounds the wait for deliveries after the load. Zero
	// means 5 minutes (or 30 minutes with a backlog).
	DrainTimeout time.Duration
	// Ceiling, when set, is the path of a built ceiling program
	// (../shared/tools/ceiling): it runs for Duration at Concurrency
	// before and after Herald, and the result gives Herald's deliveries
	// per second over the ceiling's relay rate. Needs the closed loop
	// (Rate zero) and no Backlog. Empty: no comparison.
	Ceiling string
	// Prefill, when positive, writes that many delivered messages of the
	// measured application, each with its delivery and one attempt, dated
	// before the run (one a millisecond), into the server's database before
	// the load, with PrefillCommand: the run then measures a store that
	// already holds them. Zero means an empty store.
	Prefill int
	// PrefillRetention is how long each prefilled payload is kept after
	// its message. Zero means 90 days (the API's default).
	PrefillRetention time.Duration
	// PrefillCommand is the program and arguments that prefill (for
	// `herald bench`, the hidden `bench prefill` command); Run appends
	// --database, --app, --endpoint, --endpoint-url, --messages and
	// --payload-bytes.
	PrefillCommand []string
	// ListPages, when positive, measures the list API after the run: that
	// many pages of the app's messages, of the first endpoint's attempts,
	// of its failed attempts, and of the attempts of as many messages, one
	// request at a time. Zero means none.
	ListPages int
	// Receiver is the address the receiver listens on. Empty means
	// 127.0.0.1:0. With port 0, each endpoint gets its own port.
	Receiver string
	// Progress, when set, receives a line every few seconds.
	Progress io.Writer
}

func (c *Config) setDefaults() {
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Endpoints <= 0 {
		c.Endpoints = 1
	}
	if c.PayloadBytes <= 0 {
		c.PayloadBytes = 1024
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Minute
		if c.Backlog > 0 {
			c.DrainTimeout = 30 * time.Minute
		}
	}
	if c.Receiver == "" {
		c.Receiver = "127.0.0.1:0"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// MinPayloadBytes is the smallest payload Run builds: the JSON object
// holding the sequence number.
const MinPayloadBytes = len(`{"seq":"000000000000","pad":""}`)

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Rate < 0:
		return errors.New("rate must be positive (or max)")
	case c.PayloadBytes != 0 && c.PayloadBytes < MinPayloadBytes:
		return fmt.Errorf("payload-bytes must be at least %d", MinPayloadBytes)
	case c.Endpoints < 0 || c.SlowEndpoints < 0 || c.NoisyAppEndpoints < 0 || c.Backlog < 0 || c.Concurrency < 0 ||
		c.OrderingKeys < 0 || c.DeliverAfter < 0:
		return errors.New("endpoints, slow-endpoints, noisy-app-endpoints, backlog, concurrency, ordering-keys and deliver-after cannot be negative")
	case c.OrderingKeys > maxOrderingKeys:
		return fmt.Errorf("ordering-keys must be at most %d", maxOrderingKeys)
	case c.Ceiling != "" && (c.Rate > 0 || c.Backlog > 0):
		return errors.New("ceiling compares closed-loop runs: it needs rate max and no backlog")
	case c.Prefill > 0 && (c.URL != "" || len(c.PrefillCommand) == 0):
		return errors.New("prefill needs a server started by the benchmark and a prefill command")
	case c.Replicas > 1 && (c.URL != "" || !IsPostgres(c.Database)):
		return errors.New("replicas share one database: they need a postgres:// database and no URL")
	case c.URL == "" && len(c.ServerCommand) == 0:
		return errors.New("no server: set a URL or a server command")
	}
	return nil
}

// IsPostgres reports whether database is a PostgreSQL URL.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Run runs the benchmark and returns its result. The result is returned
// with a nil error even when deliveries were lost: Result.Lost says so.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Ceiling == "" {
		return runHerald(ctx, cfg)
	}
	cr := &CeilingResult{Binary: cfg.Ceiling}
	var err error
	ceilingProgress(cfg.Progress, "the ceiling, before Herald")
	if cr.Before, err = runCeiling(ctx, cfg.Ceiling, cfg.Duration, cfg.Concurrency); err != nil {
		return nil, err
	}
	res, err := runHerald(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ceilingProgress(cfg.Progress, "the ceiling, after Herald")
	if cr.After, err = runCeiling(ctx, cfg.Ceiling, cfg.Duration, cfg.Concurrency); err != nil {
		return nil, err
	}
	cr.RelayPerSec = round((cr.Before.RelayPerSec+cr.After.RelayPerSec)/2, 1)
	if cr.RelayPerSec > 0 {
		cr.Ratio = round(res.DeliveriesPerSec/cr.RelayPerSec, 3)
	}
	res.Ceiling = cr
	return res, nil
}

// runHerald measures Herald: one run of the benchmark, its server and
// receiver stopped on return.
func runHerald(ctx context.Context, cfg Config) (*Result, error) {
	r := &run{cfg: cfg, base: time.Now(), cleanup: func() {}}
	defer func() { r.cleanup() }()
	return r.run(ctx)
}

func ceilingProgress(w io.Writer, what string) {
	if w != nil {
		fmt.Fprintf(w, "herald bench: running %s\n", what)
	}
}

// run is the state of one benchmark.
type run struct {
	cfg  Config
	base time.Time

	tmpDir string
	// srvs are the started servers, one per replica (none when targeting
	// cfg.URL); urls their base URLs, in the same order. url is the first.
	srvs  []*child
	urls  []string
	url   string
	token string
	// encKey is the encryption key every replica gets (empty: one replica,
	// which uses its own).
	encKey string
	recv   *receiver
	api    *http.Client
	appID  string
	// endpointID is the first healthy endpoint's.
	endpointID string
	// db is the started server's database.
	db string
	// msgURLs are the message URLs of the measured application on each
	// replica; noisyURLs of the noisy neighbour's (empty: none).
	msgURLs   []string
	noisyURLs []string
	rss       []*sampler
	cleanup   func()
	stats     *loadStats
}

func (r *run) run(ctx context.Context) (*Result, error) {
	res := &Result{Config: echoConfig(&r.cfg), Machine: machineInfo(), E2EFrom: "message timestamp (API acceptance) to receiver handler start"}
	if r.cfg.DeliverAfter > 0 {
		res.E2EFrom = "the message's deliverAt (its due time) to receiver handler start"
	}

	secret, err := webhook.NewHMACSecret()
	if err != nil {
		return nil, err
	}
	verifier := webhook.NewVerifier(webhook.MustParseSecret(secret))
	r.recv, err = newReceiver(r.cfg.Receiver, verifier, r.cfg.Endpoints, r.cfg.SlowEndpoints+r.cfg.NoisyAppEndpoints, r.base)
	if err != nil {
		return nil, err
	}
	cleanups := []func(){r.recv.close}
	r.cleanup = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}

	r.url, r.token = r.cfg.URL, r.cfg.Token
	if r.url == "" {
		if r.tmpDir, err = os.MkdirTemp("", "herald-bench-"); err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { os.RemoveAll(r.tmpDir) })
		r.token = "hsk_bench_" + randomHex(16)
		if r.cfg.Replicas > 1 {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			r.encKey = base64.StdEncoding.EncodeToString(key)
		}
		// One after the other: each migrates the database on start.
		for i := range r.cfg.Replicas {
			srv, err := r.startServer(ctx, i)
			if err != nil {
				return nil, err
			}
			r.srvs = append(r.srvs, srv)
			cleanups = append(cleanups, func() { srv.stop(30 * time.Second) })
		}
		res.Server.PID = r.srvs[0].pid()
		r.url = r.urls[0]
	} else {
		r.urls = []string{r.url}
	}

	r.api = newAPIClient(r.cfg.Concurrency)
	if err := r.setup(ctx, secret); err != nil {
		return nil, err
	}
	res.Server.URL = r.url
	if r.cfg.Prefill > 0 {
		if res.Prefill, err = r.prefill(ctx, r.db); err != nil {
			return nil, err
		}
	}

	// Idle memory: after setup, before load, once the servers settled.
	if len(r.srvs) > 0 {
		sleepCtx(ctx, time.Second)
		for _, srv := range r.srvs {
			rep := ReplicaResult{PID: srv.pid(), URL: "http://" + srv.addr}
			rep.RSSMB.Idle = mb(procRSS(srv.pid()))
			res.ServerRSSMB.Idle = max(res.ServerRSSMB.Idle, rep.RSSMB.Idle)
			res.Replicas = append(res.Replicas, rep)
			r.rss = append(r.rss, startSampler(srv.pid(), 100*time.Millisecond))
		}
	}
	cpu0 := r.cpuTimes()

	r.stats = newLoadStats(r.base, len(r.urls))
	var stopProgress func()
	if r.cfg.Progress != nil {
		stopProgress = r.progress()
	}
	if r.cfg.Backlog > 0 {
		err = r.runBacklog(ctx, res)
	} else {
		err = r.runLoad(ctx, res)
	}
	if stopProgress != nil {
		stopProgress()
	}
	if err != nil {
		return nil, err
	}

	r.recv.releaseSlow()
	cpu1 := r.cpuTimes()
	res.CPUSec.Server = round(cpu1.server-cpu0.server, 2)
	if len(r.srvs) > 1 {
		for i := range res.Replicas {
			res.Replicas[i].CPUSec = round(cpu1.replicas[i]-cpu0.replicas[i], 2)
		}
	}
	res.CPUSec.Bench = round(cpu1.bench-cpu0.bench, 2)
	res.Host = hostUsage(cpu0, cpu1)
	if r.cfg.ListPages > 0 {
		if res.Lists, err = r.probeLists(ctx); err != nil {
			return nil, err
		}
	}
	// Memory is each replica's; the result's is the largest of theirs.
	for i, srv := range r.srvs {
		peak := r.rss[i].stop()
		hwm := procHWM(srv.pid())
		rep := &res.Replicas[i]
		rep.RSSMB.Peak = mb(max(peak, hwm))
		rep.RSSMB.PeakDuringLoad = mb(peak)
		res.ServerRSSMB.Peak = max(res.ServerRSSMB.Peak, rep.RSSMB.Peak)
		res.ServerRSSMB.PeakDuringLoad = max(res.ServerRSSMB.PeakDuringLoad, rep.RSSMB.PeakDuringLoad)
	}
	// Stop now, so that the CPU profile is written before returning.
	for _, srv := range r.srvs {
		if err := srv.stop(30 * time.Second); err != nil {
			res.Notes = append(res.Notes, "server stop: "+err.Error())
		}
	}
	if len(r.srvs) > 1 {
		for i := range res.Replicas {
			res.Replicas[i].Accepted = r.stats.byReplica[i].Load()
		}
	} else {
		res.Replicas = nil
	}
	r.finish(res)
	return res, nil
}

// startServer starts replica i on the configured or a temporary database
// and returns once it serves. Only the first replica writes profiles.
func (r *run) startServer(ctx context.Context, i int) (*child, error) {
	db := r.cfg.Database
	if db == "" {
		db = filepath.Join(r.tmpDir, "herald.db")
	}
	r.db = db
	args := append([]string(nil), r.cfg.ServerCommand...)
	args = append(args, "--listen", "127.0.0.1:0", "--database", db, "--admin-token", r.token,
		"--allow-cidr", "127.0.0.0/8")
	if r.cfg.Backlog > 0 {
		// The receiver holds requests for the whole backlog phase: the
		// longest request timeout (5m) keeps the held deliveries from
		// timing out into the retry schedule unless queueing takes longer.
		args = append(args, "--request-timeout", "5m")
	}
	if r.cfg.CPUProfile != "" && i == 0 {
		p, err := filepath.Abs(r.cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--cpuprofile", p)
	}
	if r.cfg.HeapProfile != "" && i == 0 {
		p, err := filepath.Abs(r.cfg.HeapProfile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--heapprofile", p)
	}
	args = append(args, r.cfg.ServerFlags...)
	env := r.cfg.ServerEnv
	if r.encKey != "" {
		// In the environment, not on a command line others can read.
		env = append(append([]string(nil), env...), "HERALD_ENCRYPTION_KEY="+r.encKey)
	}
	log := "server.log"
	if i > 0 {
		log = fmt.Sprintf("server-%d.log", i+1)
	}
	c, err := startChild(ctx, args, env, filepath.Join(r.tmpDir, log))
	if err != nil {
		return nil, err
	}
	r.urls = append(r.urls, "http://"+c.addr)
	return c, nil
}

// setup creates the application and its endpoints.
func (r *run) setup(ctx context.Context, secret string) error {
	cl, err := client.New(r.url, r.token, client.WithHTTPClient(r.api))
	if err != nil {
		return err
	}
	app, err := cl.CreateApp(ctx, client.AppIn{Name: "herald bench", UID: "bench-" + randomHex(6)})
	if err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	r.appID = app.ID
	for _, u := range r.urls {
		r.msgURLs = append(r.msgURLs, u+"/api/v1/app/"+app.ID+"/msg")
	}
	for i := range r.cfg.Endpoints + r.cfg.SlowEndpoints {
		desc := "herald bench: healthy"
		if i >= r.cfg.Endpoints {
			desc = "herald bench: hangs"
		}
		in := client.EndpointIn{URL: r.recv.url(i, r.cfg.Endpoints), Secret: secret, Description: desc}
		if r.cfg.FIFO && i < r.cfg.Endpoints {
			in.Ordering = client.OrderingFIFO
		}
		ep, err := cl.CreateEndpoint(ctx, app.ID, in)
		if err != nil {
			return fmt.Errorf("create endpoint: %w", err)
		}
		if i == 0 {
			r.endpointID = ep.ID
		}
	}
	if r.cfg.NoisyAppEndpoints == 0 {
		return nil
	}
	noisy, err := cl.CreateApp(ctx, client.AppIn{Name: "herald bench: noisy neighbour", UID: "bench-noisy-" + randomHex(6)})
	if err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	for _, u := range r.urls {
		r.noisyURLs = append(r.noisyURLs, u+"/api/v1/app/"+noisy.ID+"/msg")
	}
	for i := range r.cfg.NoisyAppEndpoints {
		if _, err := cl.CreateEndpoint(ctx, noisy.ID, client.EndpointIn{
			URL: r.recv.url(r.cfg.Endpoints+r.cfg.SlowEndpoints+i, r.cfg.Endpoints), Secret: secret, Description: "herald bench: noisy neighbour, hangs",
		}); err != nil {
			return fmt.Errorf("create endpoint: %w", err)
		}
	}
	return nil
}

// runLoad sends messages for the configured duration, then waits for their
// deliveries.
func (r *run) runLoad(ctx context.Context, res *Result) error {
	g := r.newGenerator()
	start := time.Now()
	r.stats.loadStart.Store(start.UnixNano())
	if r.cfg.Outage > 0 {
		r.recv.outageUntil.Store(start.Add(r.cfg.Outage).UnixNano())
	}
	if r.cfg.Rate > 0 {
		g.openLoop(ctx, start, r.cfg.Duration, r.cfg.Rate)
	} else {
		g.closedLoop(ctx, start.Add(r.cfg.Duration), -1)
	}
	loadEnd := time.Now()
	res.LoadSec = round(loadEnd.Sub(start).Seconds(), 3)
	expected := g.stats.accepted.Load() * int64(r.cfg.Endpoints)
	drained := r.waitDelivered(ctx, expected, r.cfg.DrainTimeout)
	res.DrainSec = round(time.Since(loadEnd).Seconds(), 3)
	if !drained {
		res.Notes = append(res.Notes, fmt.Sprintf("drain timeout (%s) reached before every delivery arrived", r.cfg.DrainTimeout))
	}
	g.report(res, start, loadEnd)
	if r.cfg.Outage > 0 {
		back := start.Add(r.cfg.Outage).UnixNano()
		o := &OutageResult{Sec: r.cfg.Outage.Seconds(), Requests: r.recv.outageHits.Load()}
		// The backlog is the messages accepted while the endpoint was
		// down; it is drained when the last of them arrived.
		var last int64
		for _, smp := range r.recv.samples() {
			if acc := r.stats.acceptedAt(smp.seq); acc != 0 && acc < back && smp.at > last {
				last = smp.at
			}
		}
		if drained && last > back {
			o.DrainSec = round(time.Duration(last-back).Seconds(), 3)
		}
		res.Outage = o
	}
	return ctx.Err()
}

// runBacklog queues cfg.Backlog messages while the receiver hangs, then
// releases it and measures the drain.
func (r *run) runBacklog(ctx context.Context, res *Result) error {
	r.recv.hold()
	g := r.newGenerator()
	start := time.Now()
	r.stats.loadStart.Store(start.UnixNano())
	g.closedLoop(ctx, time.Time{}, int64(r.cfg.Backlog))
	loadEnd := time.Now()
	res.LoadSec = round(loadEnd.Sub(start).Seconds(), 3)
	if err := ctx.Err(); err != nil {
		return err
	}
	accepted := g.stats.accepted.Load()
	expected := accepted * int64(r.cfg.Endpoints)
	before := r.recv.unique.Load() // held requests already count
	release := time.Now()
	r.recv.unhold()
	drained := r.waitDelivered(ctx, expected, r.cfg.DrainTimeout)
	done := time.Now()
	res.DrainSec = round(done.Sub(loadEnd).Seconds(), 3)
	if !drained {
		res.Notes = append(res.Notes, fmt.Sprintf("drain timeout (%s) reached before every delivery arrived", r.cfg.DrainTimeout))
	}
	g.report(res, start, loadEnd)
	b := &BacklogResult{
		Messages:      accepted,
		Deliveries:    expected,
		IngestSec:     res.LoadSec,
		IngestPerSec:  round(float64(accepted)/loadEnd.Sub(start).Seconds(), 1),
		HeldAtRelease: before,
	}
	last := time.Unix(0, r.recv.lastAt.Load())
	got := r.recv.unique.Load() - before
	if d := last.Sub(release); d > 0 && got > 0 {
		b.DrainSec = round(d.Seconds(), 3)
		b.DrainPerSec = round(float64(got)/d.Seconds(), 1)
	}
	// The time by which 99% of the backlog had arrived, to tell a
	// straggler (a retried delivery) from the bulk.
	if t99 := r.recv.timeOfCount(before + (expected-before)*99/100); !t99.IsZero() && t99.After(release) {
		b.Drain99Sec = round(t99.Sub(release).Seconds(), 3)
	}
	res.Backlog = b
	return ctx.Err()
}

// waitDelivered polls until expected unique deliveries arrived.
func (r *run) waitDelivered(ctx context.Context, expected int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for r.recv.unique.Load() < expected {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// progress prints a line every 5 seconds until the returned func is called.
func (r *run) progress() func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		var lastA, lastD int64
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			a, d := r.stats.accepted.Load(), r.recv.unique.Load()
			line := fmt.Sprintf("herald bench: %4.0fs  accepted %9d (%6.0f/s)  delivered %9d (%6.0f/s)",
				time.Since(r.base).Seconds(), a, float64(a-lastA)/5, d, float64(d-lastD)/5)
			if r.cfg.Outage > 0 {
				line += fmt.Sprintf("  requests in outage %d", r.recv.outageHits.Load())
			}
			if len(r.srvs) > 0 {
				var rss int64
				for _, srv := range r.srvs {
					rss = max(rss, procRSS(srv.pid()))
				}
				line += fmt.Sprintf("  server RSS %.0f MB", mb(rss))
			}
			fmt.Fprintln(r.cfg.Progress, line)
			lastA, lastD = a, d
		}
	}()
	return func() { close(stop); <-done }
}

type cpuTimes struct {
	at time.Time
	// server is the sum of replicas, each replica's CPU seconds.
	server, bench       float64
	replicas            []float64
	hostBusy, hostTotal float64
	pressure            float64
}

func (r *run) cpuTimes() cpuTimes {
	c := cpuTimes{at: time.Now()}
	for _, srv := range r.srvs {
		cpu := procCPU(srv.pid())
		c.replicas = append(c.replicas, cpu)
		c.server += cpu
	}
	c.bench = selfCPU()
	c.hostBusy, c.hostTotal = hostCPU()
	c.pressure = cpuPressure()
	return c
}

// hostUsage reports how busy the machine was between a and b, and how much
// of it was neither the server nor the benchmark.
func hostUsage(a, b cpuTimes) HostUsage {
	var h HostUsage
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 || b.hostTotal <= a.hostTotal {
		return h
	}
	ncpu := float64(runtime.NumCPU())
	h.BusyCores = round((b.hostBusy-a.hostBusy)/(b.hostTotal-a.hostTotal)*ncpu, 2)
	h.ServerCores = round((b.server-a.server)/secs, 2)
	h.BenchCores = round((b.bench-a.bench)/secs, 2)
	h.OtherCores = round(max(h.BusyCores-h.ServerCores-h.BenchCores, 0), 2)
	h.CPUPressurePct = round((b.pressure-a.pressure)/secs*100, 1)
	return h
}

// finish computes the delivery figures from what the receiver recorded.
func (r *run) finish(res *Result) {
	n := int64(r.cfg.Endpoints)
	accepted := r.stats.acceptedSeqs()
	var delivered, lost int64
	for _, seq := range accepted {
		for ep := range n {
			if r.recv.seen(seq, ep) {
				delivered++
			} else {
				lost++
			}
		}
	}
	res.Delivered = delivered
	res.Lost = lost
	res.Duplicates = r.recv.dups.Load()
	res.Rejected = r.recv.rejected.Load()
	res.Unaccepted = r.recv.unique.Load() - delivered
	if res.Unaccepted < 0 {
		res.Unaccepted = 0
	}
	if n := r.cfg.SlowEndpoints + r.cfg.NoisyAppEndpoints; n > 0 {
		res.Slow = &SlowResult{Endpoints: n, Received: r.recv.slowReceived.Load()}
	}

	// Sustained delivery rate: from the first send to the last delivery.
	first := r.stats.loadStart.Load()
	last := r.recv.lastAt.Load()
	if last > first && delivered > 0 {
		res.DeliveriesPerSec = round(float64(delivered)/time.Duration(last-first).Seconds(), 1)
	}

	// End-to-end latency of each first delivery of an accepted message.
	samples := r.recv.samples()
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		acc := r.stats.acceptedAt(s.seq)
		if acc == 0 {
			continue
		}
		lat = append(lat, time.Duration(s.at-acc))
	}
	res.E2EMs = percentiles(lat)

	// Per-second timeline, to see whether a rate was sustained.
	res.Timeline = &Timeline{Accepted: r.stats.perSecond(), Delivered: r.recv.perSecond(first)}
}

func newAPIClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * concurrency,
			MaxIdleConnsPerHost: 2 * concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func mb(bytes int64) float64 { return round(float64(bytes)/(1<<20), 1) }

func round(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if f < 0 {
		return -float64(int64(-f*p+0.5)) / p
	}
	return float64(int64(f*p+0.5)) / p
}

// percentiles returns the latency summary of ds, in milliseconds.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		i = min(max(i, 0), len(ds)-1)
		return round(float64(ds[i])/float64(time.Millisecond), 2)
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max:   round(float64(ds[len(ds)-1])/float64(time.Millisecond), 2),
		Mean:  round(float64(sum)/float64(len(ds))/float64(time.Millisecond), 2),
		Count: len(ds),
	}
}

// chunked is a growable array of atomic counters indexed from 0, safe for
// concurrent use without a lock: chunks are allocated on first use.
type chunked struct {
	chunks [1 << 14]atomic.Pointer[[1 << 16]atomic.Int64]
	mu     sync.Mutex
}

func (c *chunked) at(i int64) *atomic.Int64 {
	ci, off := i>>16, i&(1<<16-1)
	if ci >= int64(len(c.chunks)) {
		return new(atomic.Int64) // out of range: counts nowhere
	}
	p := c.chunks[ci].Load()
	if p == nil {
		c.mu.Lock()
		if p = c.chunks[ci].Load(); p == nil {
			p = new([1 << 16]atomic.Int64)
			c.chunks[ci].Store(p)
		}
		c.mu.Unlock()
	}
	return &p[off]
}

// get reads element i without allocating.
func (c *chunked) get(i int64) int64 {
	ci, off := i>>16, i&(1<<16-1)
	if ci >= int64(len(c.chunks)) {
		return 0
	}
	if p := c.chunks[ci].Load(); p != nil {
		return p[off].Load()
	}
	return 0
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/bench"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store"
)

func newBenchCmd(s Streams) *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Herald on this machine: throughput, latency, losses, memory",
		Long: `Start a Herald server (a child process of this binary, on a temporary SQLite
database unless --database or --url says otherwise) and a local receiver that
verifies every signature, create an application with endpoints, send messages
through the API, wait until every accepted message has been delivered, and
report what happened.

Load is --rate N messages per second on a fixed schedule whatever the latency
(sends that find every worker busy go out late, and are counted), or --rate max:
as fast as the API accepts them with --concurrency requests in flight. Each
message goes to --endpoints endpoints, and to --slow-endpoints more whose
receiver never answers until the run ends (the latency reported is the healthy
endpoints'). --noisy-app-endpoints N adds a second application with N endpoints
that all hang, and sends it one message in N (as many deliveries as the measured
application asks for): the healthy endpoints' latency beside a noisy neighbour. Each endpoint is a port of its own on the receiver, as endpoints of
different customers are different hosts. --backlog N replaces the timed load: N messages are sent while the
receiver hangs (it takes each request and answers none), so their deliveries
queue up in the server; then the receiver answers again and the drain is
timed. The server started for a backlog run gets --request-timeout 5m so that
the held requests do not time out into the retry schedule (unless queueing
takes longer).

--fifo makes the healthy endpoints FIFO (one message at a time per ordering
key), and --ordering-keys N gives the messages N ordering keys in turn: the
throughput of an ordered endpoint. --deliver-after D schedules each message D,
plus up to a second at random, after it is sent (deliverAt); the end-to-end
latency then runs from that due time to the first attempt: how punctual
scheduled delivery is.

End-to-end latency runs from the message's acceptance (the timestamp the API
returns with its 202) to the start of the receiver's handler. Lost counts the
deliveries of accepted messages that never arrived within --drain-timeout; the
command fails when any was lost or failed verification. The server's memory
(RSS, from /proc) is read after setup (idle) and every 100 ms during the run
(peak); it is not measured with --url.

--replicas N starts N servers on one PostgreSQL --database (replicas, as in
production: the same admin token and encryption key) and sends the API
requests to them in turn; the figures are the sum of their work (CPU time
added up, memory the largest replica's), and --json lists each replica's
accepted messages, CPU time and memory. --cpuprofile and --heapprofile profile
the first replica only.

--ceiling PATH compares Herald with the physical limit of webhook relaying on
this machine: PATH is a built ceiling program (../shared/tools/ceiling: a relay
that only signs and forwards, storing nothing, between a load generator and a
sink, all on loopback). It runs for --duration at --concurrency before Herald
and again after it, and the report gives Herald's deliveries per second over
the mean of the two relay rates: the ratio, measured in the same minutes.
Keep the defaults --payload-bytes 1024 and --endpoints 1 for the ratio (the
ceiling's payloads are 1,008 bytes of JSON, to one target).
scripts/ceiling-ratio builds both programs and runs it.

--prefill N writes N delivered messages of the measured application, each with
its delivery and one successful attempt, dated one a millisecond before the
run, into the server's database before the load (bulk statements of the
database's own dialect, not the API): the run then measures a store that
already holds them. Their payloads expire --prefill-retention after their
messages: about N ms makes them expire at 1,000 a second during the run, for
the retention pass to keep up with. --list-pages N times, after the run, N requests of each
list: the application's messages (walking 50 a page), the endpoint's attempts,
its failed attempts (none: each request searches its whole window), and the
attempts of N messages.

--json prints one JSON object: accepted, ingest_per_sec, delivered,
deliveries_per_sec, lost, duplicates, e2e_ms {p50, p90, p99, p999, max},
ingest_ms, server_rss_mb {idle, peak}, errors, cpu_sec, host_cpu (how busy the
machine was, and how much of it other processes took), a per-second timeline,
the configuration and the machine; with --replicas, replicas [{url, pid,
accepted, cpu_sec, rss_mb}]; with --ceiling, ceiling {before, after,
relay_per_sec, ratio}.`,
		Example: `  herald bench                                   # 30 s at max rate, SQLite, one endpoint
  herald bench --rate 2000 --duration 30s --json
  herald bench --duration 20s --ceiling ./ceiling  # the ratio to ../shared/tools/ceiling
  herald bench --prefill 10000000 --list-pages 200 --database /tmp/big.db
  herald bench --endpoints 100 --rate 50
  herald bench --slow-endpoints 10 --rate 500
  herald bench --noisy-app-endpoints 50 --rate 500
  herald bench --backlog 200000
  herald bench --fifo --ordering-keys 64 --rate max --duration 20s
  herald bench --deliver-after 5s --rate 20
  herald bench --rate 10 --duration 65m --outage 60m --drain-timeout 4h
  herald bench --database postgres://postgres@127.0.0.1/herald_bench
  herald bench --database postgres://postgres@127.0.0.1/herald_bench --replicas 2
  herald bench --url http://127.0.0.1:8071 --token hsk_... --rate 100
  herald bench --cpuprofile server.pprof && go tool pprof -top server.pprof`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, asJSON, err := bf.config(s)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			res, err := bench.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(s.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				bench.WriteText(s.Stdout, res)
			}
			switch {
			case res.Lost > 0:
				return fmt.Errorf("bench: %d accepted deliveries never arrived", res.Lost)
			case res.Rejected > 0:
				return fmt.Errorf("bench: %d deliveries failed signature verification", res.Rejected)
			}
			return nil
		},
	}
	f := cmd.Flags()
	c := &bf.cfg
	f.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to send load")
	f.StringVar(&bf.rate, "rate", "max", "messages per second on a fixed schedule, or max: as fast as accepted")
	f.IntVar(&c.Concurrency, "concurrency", 64, "most API requests in flight")
	f.IntVar(&c.Endpoints, "endpoints", 1, "healthy endpoints each message goes to")
	f.IntVar(&c.SlowEndpoints, "slow-endpoints", 0, "extra endpoints, getting the same messages, that hang until the run ends")
	f.IntVar(&c.NoisyAppEndpoints, "noisy-app-endpoints", 0, "a second application with this many endpoints, all hanging, sent one message in this many (as many deliveries)")
	f.DurationVar(&c.Outage, "outage", 0, "the healthy endpoints answer 503 for this long from the start, then 200: attempts while down, drain once back")
	f.IntVar(&c.PayloadBytes, "payload-bytes", 1024, "size of each message's JSON payload")
	f.BoolVar(&c.FIFO, "fifo", false, "make the healthy endpoints FIFO: one message at a time per ordering key")
	f.IntVar(&c.OrderingKeys, "ordering-keys", 0, "give the messages this many ordering keys, in turn (default: none)")
	f.DurationVar(&c.DeliverAfter, "deliver-after", 0, "schedule each message this long (plus up to 1s at random) after it is sent (deliverAt); latency then runs from that due time")
	f.IntVar(&c.Backlog, "backlog", 0, "instead of the timed load: queue this many messages with the receiver hanging, then time the drain")
	f.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "longest wait for deliveries after the load (0: 5m, or 30m with --backlog)")
	f.StringVar(&c.Database, "database", "", "database of the server started: SQLite path or postgres:// URL (default: a temporary SQLite file)")
	f.IntVar(&c.Replicas, "replicas", 1, "servers started on the --database, which must be postgres://; API requests go to them in turn")
	f.StringVar(&c.URL, "url", "", "measure the running server at this URL instead of starting one (needs --token)")
	f.StringVar(&c.Token, "token", "", "admin API token of the server at --url (env HERALD_TOKEN)")
	f.StringVar(&c.Receiver, "receiver", "127.0.0.1:0", "address the receiver listens on (the server must reach it; port 0: a port per endpoint)")
	f.StringArrayVar(&c.ServerFlags, "server-flag", nil, "extra flag for the server started, e.g. --server-flag=--max-in-flight=2048 (repeatable)")
	f.IntVar(&c.Prefill, "prefill", 0, "before the load, write this many delivered messages (each with its delivery and attempt, one a millisecond before the run) into the server's database")
	f.DurationVar(&c.PrefillRetention, "prefill-retention", 90*24*time.Hour, "how long each prefilled payload is kept after its message: with about N ms (--prefill N), they expire at 1,000 a second during the run")
	f.IntVar(&c.ListPages, "list-pages", 0, "after the run, time this many list API requests of each kind (messages, an endpoint's attempts, its failed attempts, a message's attempts)")
	f.StringVar(&c.Ceiling, "ceiling", "", "path of a built ceiling program (../shared/tools/ceiling): run it before and after Herald for the same time and concurrency, and print the ratio")
	f.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the server started to this file")
	f.StringVar(&c.HeapProfile, "heapprofile", "", "write a heap profile of the server started, taken at its largest heap, to this file")
	f.BoolVar(&bf.json, "json", false, "print the result as one JSON object")
	f.BoolVar(&bf.quiet, "quiet", false, "do not print progress to standard error")

	cmd.AddCommand(newBenchServerCmd(s), newBenchPrefillCmd(s))
	return cmd
}

// benchFlags are the flags of herald bench: the run's configuration as
// given, and the flags that are not part of it.
type benchFlags struct {
	cfg         bench.Config
	rate        string
	json, quiet bool
}

// config checks the flags of herald bench and returns the run's
// configuration, and whether to print JSON.
func (bf *benchFlags) config(s Streams) (bench.Config, bool, error) {
	cfg := bf.cfg
	if bf.rate != "max" {
		n, err := strconv.Atoi(bf.rate)
		if err != nil || n <= 0 {
			return cfg, false, &UsageError{Err: fmt.Errorf("--rate %q: want a number of messages per second, or max", bf.rate)}
		}
		cfg.Rate = n
	}
	asJSON := bf.json
	if !bf.quiet {
		cfg.Progress = s.Stderr
	}

	var problems []string
	switch {
	case cfg.Duration <= 0:
		problems = append(problems, "--duration must be positive")
	case cfg.Concurrency <= 0:
		problems = append(problems, "--concurrency must be positive")
	case cfg.Endpoints <= 0:
		problems = append(problems, "--endpoints must be at least 1")
	case cfg.SlowEndpoints < 0 || cfg.NoisyAppEndpoints < 0 || cfg.Backlog < 0 || cfg.DrainTimeout < 0 || cfg.OrderingKeys < 0 || cfg.DeliverAfter < 0 ||
		cfg.Prefill < 0 || cfg.ListPages < 0:
		problems = append(problems, "--slow-endpoints, --noisy-app-endpoints, --backlog, --drain-timeout, --ordering-keys, --deliver-after, --prefill and --list-pages cannot be negative")
	case cfg.PayloadBytes < bench.MinPayloadBytes:
		problems = append(problems, fmt.Sprintf("--payload-bytes must be at least %d", bench.MinPayloadBytes))
	}
	if cfg.Ceiling != "" && (cfg.Rate > 0 || cfg.Backlog > 0) {
		problems = append(problems, "--ceiling compares closed-loop runs: it needs --rate max and no --backlog")
	}
	if cfg.Replicas < 1 {
		problems = append(problems, "--replicas must be at least 1")
	} else if cfg.Replicas > 1 && (cfg.URL != "" || !bench.IsPostgres(cfg.Database)) {
		problems = append(problems, "--replicas share one database: they need a postgres:// --database, and do not apply to --url")
	}
	if cfg.URL != "" {
		if cfg.Token == "" {
			cfg.Token = s.Getenv("HERALD_TOKEN")
		}
		if cfg.Token == "" {
			problems = append(problems, "--url needs --token (or HERALD_TOKEN)")
		}
		if cfg.Database != "" || cfg.CPUProfile != "" || cfg.HeapProfile != "" || len(cfg.ServerFlags) > 0 || cfg.Prefill != 0 {
			problems = append(problems, "--database, --cpuprofile, --heapprofile, --server-flag and --prefill apply to the server herald bench starts, not to --url")
		}
	} else {
		exe, err := os.Executable()
		if err != nil {
			return cfg, false, fmt.Errorf("bench: find this program to start the server: %w", err)
		}
		cfg.ServerCommand = []string{exe, "bench", "server"}
		cfg.PrefillCommand = []string{exe, "bench", "prefill"}
	}
	if len(problems) > 0 {
		return cfg, false, &UsageError{Err: errors.New(strings.Join(problems, "; "))}
	}
	return cfg, asJSON, nil
}

// newBenchServerCmd is the server herald bench starts as a child process:
// herald serve, which also prints the address it listens on to standard
// output and can write a CPU profile of its whole life.
func newBenchServerCmd(s Streams) *cobra.Command {
	var cpuProfile, heapProfile string
	cmd := &cobra.Command{
		Use:     "server",
		Short:   "Run the server for herald bench (internal)",
		Example: `  herald bench server --listen 127.0.0.1:0 --database /tmp/b.db --cpuprofile cpu.pprof`,
		Hidden:  true,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if heapProfile != "" {
				stopHeap := watchHeap(heapProfile, time.Second)
				defer stopHeap()
			}
			return runBenchServer(ctx, cfg, s.Stdout, s.Stderr)
		},
	}
	addServerFlags(cmd)
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	cmd.Flags().StringVar(&heapProfile, "heapprofile", "", "write a heap profile, taken when the heap was largest, to this file")
	return cmd
}

// prefiller is a store that can write many delivered messages at once
// (both drivers can): herald bench --prefill.
type prefiller interface {
	Prefill(ctx context.Context, p store.PrefillParams) error
}

// newBenchPrefillCmd writes delivered messages into a database for herald
// bench --prefill, which starts it as a child process once the server runs
// and the application and endpoint exist.
func newBenchPrefillCmd(s Streams) *cobra.Command {
	var appID, endpointID, endpointURL string
	var messages, payloadBytes int
	var every, retention time.Duration
	cmd := &cobra.Command{
		Use:     "prefill",
		Short:   "Write delivered messages into a database for herald bench --prefill (internal)",
		Example: `  herald bench prefill --database /tmp/b.db --app app_... --endpoint ep_... --endpoint-url http://127.0.0.1:9/ --messages 1000000`,
		Hidden:  true,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			if appID == "" || endpointID == "" || messages <= 0 || payloadBytes < bench.MinPayloadBytes || every <= 0 {
				return &UsageError{Err: errors.New("--app, --endpoint, a positive --messages and --every, and --payload-bytes of at least " +
					strconv.Itoa(bench.MinPayloadBytes) + " are needed")}
			}
			st, err := openExisting(cmd.Context(), &cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			p, ok := st.(prefiller)
			if !ok {
				return errors.New("bench prefill: this store cannot prefill")
			}
			now := time.Now()
			start := now
			last := now
			return p.Prefill(cmd.Context(), store.PrefillParams{
				AppID: appID, EndpointID: endpointID, URL: endpointURL, EventType: "bench.prefill",
				Messages: messages, Payload: []byte(`{"prefill":"` + strings.Repeat("x", payloadBytes-len(`{"prefill":""}`)) + `"}`),
				Until: now.Add(-time.Second), Every: every,
				PayloadRetention: retention,
				Progress: func(done int) {
					if t := time.Now(); t.Sub(last) >= 5*time.Second || done == messages {
						last = t
						fmt.Fprintf(s.Stderr, "herald bench: prefilled %d of %d messages (%.0f/s)\n", done, messages, float64(done)/t.Sub(start).Seconds())
					}
				},
			})
		},
	}
	addServerFlags(cmd, "database", "sqlite-sync")
	f := cmd.Flags()
	f.StringVar(&appID, "app", "", "application ID")
	f.StringVar(&endpointID, "endpoint", "", "endpoint ID")
	f.StringVar(&endpointURL, "endpoint-url", "", "endpoint URL recorded in the attempts")
	f.IntVar(&messages, "messages", 0, "messages to write")
	f.IntVar(&payloadBytes, "payload-bytes", 1024, "size of each message's JSON payload")
	f.DurationVar(&every, "every", time.Millisecond, "time between two messages, the last one a second ago")
	f.DurationVar(&retention, "payload-retention", 90*24*time.Hour, "how long each payload is kept after its message")
	return cmd
}

// watchHeap checks the heap every interval and writes a heap profile to
// path each time it is larger than ever before, until the returned func
// is called.
func watchHeap(path string, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		var peak uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse <= peak {
				continue
			}
			peak = ms.HeapInuse
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// runBenchServer is server.Run that prints the address it serves on.
func runBenchServer(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	srv, err := server.New(ctx, cfg, server.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", srv.Addr())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srv.Served():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, srv.Shutdown(sctx))
}

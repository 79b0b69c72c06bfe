package cli

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// benchChildEnv, set in the environment of a test binary, makes it run the
// command line instead of the tests: herald bench starts its server as
// os.Executable(), which under `go test` is the test binary.
const benchChildEnv = "HERALD_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" {
		err := Main(context.Background(), os.Args[1:], Streams{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBench runs a short benchmark end to end: a server in a child process,
// a verifying receiver, load at a fixed rate. It checks the report, not the
// speed: every accepted message is delivered, and nothing is lost.
func TestBench(t *testing.T) {
	t.Setenv(benchChildEnv, "1") // inherited by the server process only
	out := ok(t, env(), "bench", "--duration", "2s", "--rate", "50", "--json", "--quiet")
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"accepted", "ingest_per_sec", "delivered", "deliveries_per_sec", "lost",
		"duplicates", "e2e_ms", "ingest_ms", "server_rss_mb", "errors", "machine", "config"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q in the result", k)
		}
	}
	for obj, keys := range map[string][]string{
		"e2e_ms":        {"p50", "p90", "p99", "max"},
		"ingest_ms":     {"p50", "p99"},
		"server_rss_mb": {"idle", "peak"},
	} {
		m, _ := raw[obj].(map[string]any)
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("no %s.%s in the result", obj, k)
			}
		}
	}
	var res struct {
		Accepted, Delivered, Lost, Errors, Duplicates int64
		E2E                                           struct{ P50, Max float64 }   `json:"e2e_ms"`
		RSS                                           struct{ Idle, Peak float64 } `json:"server_rss_mb"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// 2 s at 50/s is 100 messages; on a loaded machine some may go out
	// late, none may be missing.
	if res.Accepted != 100 || res.Errors != 0 {
		t.Errorf("accepted %d with %d errors, want 100 and 0", res.Accepted, res.Errors)
	}
	if res.Delivered != res.Accepted || res.Lost != 0 {
		t.Errorf("delivered %d of %d accepted, lost %d", res.Delivered, res.Accepted, res.Lost)
	}
	if res.E2E.P50 <= 0 || res.E2E.Max < res.E2E.P50 {
		t.Errorf("e2e latency = %+v", res.E2E)
	}
	if res.RSS.Idle <= 0 || res.RSS.Peak < res.RSS.Idle {
		t.Errorf("server RSS = %+v", res.RSS)
	}
}

// TestBenchBacklog queues deliveries behind a hanging receiver and checks
// that the drain delivers all of them.
func TestBenchBacklog(t *testing.T) {
	t.Setenv(benchChildEnv, "1")
	out := ok(t, env(), "bench", "--backlog", "300", "--endpoints", "2", "--slow-endpoints", "1", "--json", "--quiet")
	var res struct {
		Accepted, Delivered, Lost int64
		Backlog                   struct {
			Deliveries  int64   `json:"deliveries"`
			DrainPerSec float64 `json:"drain_per_sec"`
		} `json:"backlog"`
		Slow struct {
			Received int64 `json:"requests_received"`
		} `json:"slow_endpoints"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Accepted != 300 || res.Delivered != 600 || res.Lost != 0 || res.Backlog.Deliveries != 600 {
		t.Errorf("accepted %d, delivered %d, lost %d, backlog %+v; want 300, 600, 0", res.Accepted, res.Delivered, res.Lost, res.Backlog)
	}
	if res.Backlog.DrainPerSec <= 0 {
		t.Errorf("drain rate %v", res.Backlog.DrainPerSec)
	}
	if res.Slow.Received == 0 {
		t.Error("the hanging endpoint got no request")
	}
}

// TestBenchFIFOAndScheduled runs the FIFO and scheduled modes briefly:
// every message is delivered, and a scheduled one's latency runs from its
// due time.
func TestBenchFIFOAndScheduled(t *testing.T) {
	t.Setenv(benchChildEnv, "1")
	for _, args := range [][]string{
		{"--backlog", "200", "--fifo", "--ordering-keys", "4"},
		{"--rate", "20", "--duration", "1s", "--deliver-after", "2s"},
	} {
		out := ok(t, env(), append([]string{"bench", "--json", "--quiet"}, args...)...)
		var res struct {
			Accepted, Delivered, Lost int64
			E2EFrom                   string `json:"e2e_from"`
			E2EMs                     struct {
				Max float64 `json:"max"`
			} `json:"e2e_ms"`
			Config struct {
				FIFO         bool   `json:"fifo"`
				OrderingKeys int    `json:"ordering_keys"`
				DeliverAfter string `json:"deliver_after"`
			} `json:"config"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if res.Accepted == 0 || res.Delivered != res.Accepted || res.Lost != 0 {
			t.Errorf("%v: accepted %d, delivered %d, lost %d", args, res.Accepted, res.Delivered, res.Lost)
		}
		if res.Config.DeliverAfter != "" {
			// From the due time, not from acceptance (2 s earlier).
			if !strings.Contains(res.E2EFrom, "deliverAt") || res.E2EMs.Max >= 2000 {
				t.Errorf("%v: e2e from %q, max %.1f ms", args, res.E2EFrom, res.E2EMs.Max)
			}
		} else if !res.Config.FIFO || res.Config.OrderingKeys != 4 {
			t.Errorf("%v: config %+v", args, res.Config)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "fast"}, `--rate "fast"`},
		{[]string{"--rate", "0"}, `--rate "0"`},
		{[]string{"--endpoints", "0"}, "--endpoints must be at least 1"},
		{[]string{"--payload-bytes", "10"}, "--payload-bytes must be at least"},
		{[]string{"--ordering-keys", "-1"}, "--ordering-keys"},
		{[]string{"--url", "http://127.0.0.1:1"}, "--url needs --token"},
		{[]string{"--ceiling", "ceiling", "--rate", "100"}, "--ceiling compares closed-loop runs"},
		{[]string{"--ceiling", "ceiling", "--backlog", "100"}, "--ceiling compares closed-loop runs"},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "x", "--database", "x.db"}, "not to --url"},
		{[]string{"--replicas", "0"}, "--replicas must be at least 1"},
		{[]string{"--replicas", "2"}, "--replicas share one database: they need a postgres:// --database"},
		{[]string{"--replicas", "2", "--database", "x.db"}, "--replicas share one database: they need a postgres:// --database"},
		{[]string{"--replicas", "2", "--url", "http://127.0.0.1:1", "--token", "x"}, "do not apply to --url"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := run(t, env(), append([]string{"bench"}, tt.args...)...)
			var ue *UsageError
			if r.err == nil || !errors.As(r.err, &ue) || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("herald bench %v: %v, want a usage error containing %q", tt.args, r.err, tt.want)
			}
		})
	}
}

// ceilingSource is where the ceiling program's source is in the project's
// workspace: ../shared/tools/ceiling beside the repository.
const ceilingSource = "../../../shared/tools/ceiling"

// TestBenchCeiling builds the real ceiling program (skipping when its
// source is not beside the repository) and runs herald bench --ceiling
// briefly: the ceiling runs before and after Herald, and the ratio is
// Herald's deliveries per second over the mean of its two rates.
func TestBenchCeiling(t *testing.T) {
	src, err := filepath.Abs(ceilingSource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		t.Skipf("no ceiling source at %s: %v", src, err)
	}
	bin := filepath.Join(t.TempDir(), "ceiling")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the ceiling: %v\n%s", err, out)
	}

	t.Setenv(benchChildEnv, "1")
	out := ok(t, env(), "bench", "--ceiling", bin, "--duration", "1s", "--concurrency", "4", "--json", "--quiet")
	var res struct {
		Accepted, Delivered, Lost int64
		DeliveriesPerSec          float64 `json:"deliveries_per_sec"`
		Ceiling                   *struct {
			Binary        string
			Before, After struct {
				Relayed     int64   `json:"relayed"`
				RelayPerSec float64 `json:"relay_per_sec"`
			}
			RelayPerSec float64 `json:"relay_per_sec"`
			Ratio       float64 `json:"ratio"`
		} `json:"ceiling"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Accepted == 0 || res.Delivered != res.Accepted || res.Lost != 0 {
		t.Errorf("accepted %d, delivered %d, lost %d", res.Accepted, res.Delivered, res.Lost)
	}
	c := res.Ceiling
	if c == nil {
		t.Fatalf("no ceiling in the result:\n%s", out)
	}
	if c.Binary != bin || c.Before.Relayed == 0 || c.After.Relayed == 0 {
		t.Errorf("ceiling %+v: want two runs of %s that relayed something", c, bin)
	}
	if mean := (c.Before.RelayPerSec + c.After.RelayPerSec) / 2; math.Abs(c.RelayPerSec-mean) > 0.1 {
		t.Errorf("relay_per_sec %v, want the mean of %v and %v", c.RelayPerSec, c.Before.RelayPerSec, c.After.RelayPerSec)
	}
	if want := res.DeliveriesPerSec / c.RelayPerSec; math.Abs(c.Ratio-want) > 0.001 {
		t.Errorf("ratio %v, want %v / %v = %v", c.Ratio, res.DeliveriesPerSec, c.RelayPerSec, want)
	}

	// The text report says it too.
	text := ok(t, env(), "bench", "--ceiling", bin, "--duration", "1s", "--concurrency", "4", "--quiet")
	if !strings.Contains(text, "ceiling") || !strings.Contains(text, "x\n") {
		t.Errorf("the text report gives no ratio:\n%s", text)
	}
}

// TestBenchPrefill prefills the store before a short run and times the
// lists after it: the list pages walk past the run's 20 messages into the
// prefilled ones, on SQLite and, when reachable, PostgreSQL.
func TestBenchPrefill(t *testing.T) {
	t.Setenv(benchChildEnv, "1")
	for name, database := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "prefill.db") },
		"postgres": func(t *testing.T) string { db, _ := pgtest.Database(t); return db }, // skips when unreachable
	} {
		t.Run(name, func(t *testing.T) {
			db := database(t)
			out := ok(t, env(), "bench", "--prefill", "500", "--prefill-retention", "1ms", "--list-pages", "5", "--rate", "20", "--duration", "1s",
				"--database", db, "--json", "--quiet")
			var res struct {
				Accepted, Delivered, Lost int64
				Prefill                   struct {
					Messages int `json:"messages"`
				} `json:"prefill"`
				Lists struct {
					Messages     struct{ Count int } `json:"messages_ms"`
					MessagesSeen int                 `json:"messages_seen"`
					AttemptsSeen int                 `json:"attempts_seen"`
				} `json:"lists"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if res.Accepted != 20 || res.Delivered != 20 || res.Lost != 0 {
				t.Errorf("accepted %d, delivered %d, lost %d; want 20, 20, 0", res.Accepted, res.Delivered, res.Lost)
			}
			// 5 pages of 50: the run's 20 messages and 230 prefilled.
			if res.Prefill.Messages != 500 || res.Lists.Messages.Count != 5 || res.Lists.MessagesSeen != 250 || res.Lists.AttemptsSeen != 250 {
				t.Errorf("prefill %+v, lists %+v; want 500 prefilled, 5 requests, 250 messages and attempts seen", res.Prefill, res.Lists)
			}
			// The prefilled payloads expired 1 ms after their messages;
			// the run's are kept.
			cfg := config.Default()
			cfg.Database = db
			st, err := server.OpenStore(t.Context(), &cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if n, err := st.DeleteExpired(t.Context(), time.Now()); err != nil || n != 500 {
				t.Errorf("DeleteExpired = %d, %v; want the 500 prefilled payloads", n, err)
			}
		})
	}
}

// TestBenchReplicas runs two replicas on one fresh PostgreSQL database for
// 2 s: each replica takes half of the API requests, every accepted message
// is delivered exactly once, and the result reports each replica.
func TestBenchReplicas(t *testing.T) {
	db, _ := pgtest.Database(t) // skips when unreachable
	t.Setenv(benchChildEnv, "1")
	out := ok(t, env(), "bench", "--replicas", "2", "--database", db, "--rate", "50", "--duration", "2s", "--json", "--quiet")
	var res struct {
		Accepted, Delivered, Lost, Duplicates, Errors int64
		CPUSec                                        struct{ Server float64 } `json:"cpu_sec"`
		RSS                                           struct{ Peak float64 }   `json:"server_rss_mb"`
		Config                                        struct{ Replicas int }   `json:"config"`
		Replicas                                      []struct {
			URL      string  `json:"url"`
			PID      int     `json:"pid"`
			Accepted int64   `json:"accepted"`
			CPUSec   float64 `json:"cpu_sec"`
			RSS      struct {
				Idle, Peak float64
			} `json:"rss_mb"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Accepted != 100 || res.Errors != 0 || res.Delivered != res.Accepted || res.Lost != 0 || res.Duplicates != 0 {
		t.Errorf("accepted %d (errors %d), delivered %d, lost %d, duplicates %d; want 100, 0, 100, 0, 0",
			res.Accepted, res.Errors, res.Delivered, res.Lost, res.Duplicates)
	}
	if res.Config.Replicas != 2 || len(res.Replicas) != 2 {
		t.Fatalf("config.replicas %d, %d replicas reported; want 2:\n%s", res.Config.Replicas, len(res.Replicas), out)
	}
	a, b := res.Replicas[0], res.Replicas[1]
	if a.URL == b.URL || a.PID == b.PID {
		t.Errorf("replicas %+v and %+v are one server", a, b)
	}
	var cpu, rss float64
	for i, r := range res.Replicas {
		// Round robin: message seq goes to replica seq mod 2.
		if r.Accepted != 50 {
			t.Errorf("replica %d accepted %d messages, want 50", i+1, r.Accepted)
		}
		if r.CPUSec <= 0 || r.RSS.Idle <= 0 || r.RSS.Peak < r.RSS.Idle {
			t.Errorf("replica %d: CPU %v s, RSS %+v", i+1, r.CPUSec, r.RSS)
		}
		cpu += r.CPUSec
		rss = max(rss, r.RSS.Peak)
	}
	if math.Abs(res.CPUSec.Server-cpu) > 0.02 || res.RSS.Peak != rss {
		t.Errorf("server CPU %v s and peak RSS %v MB, want the replicas' sum %v and largest %v", res.CPUSec.Server, res.RSS.Peak, cpu, rss)
	}
}

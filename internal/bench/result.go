package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/config"
)

// Result is what a run measured; `herald bench --json` prints it.
type Result struct {
	// Accepted is the number of messages the API answered 202 to.
	Accepted int64 `json:"accepted"`
	// IngestPerSec is Accepted over the load phase.
	IngestPerSec float64 `json:"ingest_per_sec"`
	// Delivered is the number of deliveries of accepted messages to
	// healthy endpoints that the receiver got (each counted once).
	Delivered int64 `json:"delivered"`
	// DeliveriesPerSec is Delivered from the first send to the last
	// delivery.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Lost is the number of deliveries of accepted messages to healthy
	// endpoints that never arrived (within the drain timeout).
	Lost int64 `json:"lost"`
	// Duplicates counts deliveries received more than once (same message,
	// same endpoint), beyond the first.
	Duplicates int64 `json:"duplicates"`
	// E2EMs is the latency from the message's acceptance to the start of
	// the receiver's handler, over every first delivery to a healthy
	// endpoint.
	E2EMs Latency `json:"e2e_ms"`
	// E2EFrom says where E2EMs starts and ends.
	E2EFrom string `json:"e2e_from"`
	// IngestMs is the latency of the API's POST (send to response).
	IngestMs Latency `json:"ingest_ms"`
	// ServerRSSMB is the server's resident memory (0 with --url); with
	// several replicas, the largest replica's.
	ServerRSSMB RSS `json:"server_rss_mb"`
	// Replicas reports each server started, when there are several.
	Replicas []ReplicaResult `json:"replicas,omitempty"`
	// Errors counts API requests answered with another status than 202,
	// and transport errors; ErrorKinds breaks them down.
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// Rejected counts deliveries whose signature did not verify.
	Rejected int64 `json:"rejected_signatures"`
	// Unaccepted counts deliveries of messages whose POST did not return
	// a 202 to the load generator (a timeout after the commit, say).
	Unaccepted int64 `json:"delivered_unaccepted"`
	// LateSends counts messages of an open-model run (--rate N) sent more
	// than 10 ms after their time on the schedule, all workers being busy;
	// MaxSendLagMs is the worst lag.
	LateSends    int64   `json:"late_sends"`
	MaxSendLagMs float64 `json:"max_send_lag_ms"`
	// LoadSec is how long the load phase took; DrainSec how long after it
	// the last delivery took to arrive.
	LoadSec  float64 `json:"load_sec"`
	DrainSec float64 `json:"drain_sec"`
	// CPUSec is the CPU time used during load and drain by the server
	// process (the sum of the replicas) and by the benchmark (load generator and receiver).
	CPUSec struct {
		Server float64 `json:"server"`
		Bench  float64 `json:"bench"`
	} `json:"cpu_sec"`
	// Host is how the machine's CPUs were used during load and drain.
	Host HostUsage `json:"host_cpu"`
	// Slow reports the hanging endpoints, with --slow-endpoints.
	Slow *SlowResult `json:"slow_endpoints,omitempty"`
	// Backlog reports the drain, with --backlog.
	Backlog *BacklogResult `json:"backlog,omitempty"`
	// Outage reports an outage run (--outage).
	Outage *OutageResult `json:"outage,omitempty"`
	// Prefill reports the rows written before the run, with --prefill.
	Prefill *PrefillResult `json:"prefill,omitempty"`
	// Lists is the list API's latency after the run, with --list-pages.
	Lists *ListsResult `json:"lists,omitempty"`
	// Ceiling compares the run with the ceiling relay, with --ceiling.
	Ceiling *CeilingResult `json:"ceiling,omitempty"`
	// Timeline counts messages accepted and deliveries received in each
	// second from the start of the load.
	Timeline *Timeline `json:"timeline,omitempty"`

	Config  ConfigEcho `json:"config"`
	Machine Machine    `json:"machine"`
	Server  struct {
		URL string `json:"url"`
		PID int    `json:"pid,omitempty"`
	} `json:"server"`
	Notes []string `json:"notes,omitempty"`
}

// ReplicaResult is one of several servers started on one database.
type ReplicaResult struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
	// Accepted is the number of messages it answered 202 to.
	Accepted int64 `json:"accepted"`
	// CPUSec is its CPU time during load and drain.
	CPUSec float64 `json:"cpu_sec"`
	RSSMB  RSS     `json:"rss_mb"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
	Count int     `json:"count"`
}

// RSS is the server's resident set size in MiB: Idle after setup and
// before load; Peak the largest of the samples taken every 100 ms and of
// the kernel's high-water mark (VmHWM, which includes start-up);
// PeakDuringLoad the largest sample.
type RSS struct {
	Idle           float64 `json:"idle"`
	Peak           float64 `json:"peak"`
	PeakDuringLoad float64 `json:"peak_during_load"`
}

// HostUsage is the machine's CPU use during a run, in cores (CPU seconds
// per second): the server, the benchmark, and other processes, which on a
// shared machine take CPU from both. CPUPressurePct is the share of the time
// some runnable task waited for a CPU (/proc/pressure/cpu).
type HostUsage struct {
	BusyCores      float64 `json:"busy_cores"`
	ServerCores    float64 `json:"server_cores"`
	BenchCores     float64 `json:"bench_cores"`
	OtherCores     float64 `json:"other_cores"`
	CPUPressurePct float64 `json:"cpu_pressure_pct"`
}

// SlowResult reports the hanging endpoints.
type SlowResult struct {
	Endpoints int `json:"endpoints"`
	// Received counts the requests they got (each hangs).
	Received int64 `json:"requests_received"`
}

// OutageResult reports a run whose receiver was down for a while.
type OutageResult struct {
	// Sec is how long the healthy endpoints answered 503.
	Sec float64 `json:"sec"`
	// Requests counts the requests they got meanwhile (attempts spent on
	// an endpoint that is down).
	Requests int64 `json:"requests_during"`
	// DrainSec is from the end of the outage to the arrival of the last
	// message accepted during it (the backlog).
	DrainSec float64 `json:"drain_after_sec"`
}

// BacklogResult reports a backlog run.
type BacklogResult struct {
	Messages   int64 `json:"messages"`
	Deliveries int64 `json:"deliveries"`
	// IngestSec and IngestPerSec: queueing the backlog through the API
	// while the receiver hung.
	IngestSec    float64 `json:"ingest_sec"`
	IngestPerSec float64 `json:"ingest_per_sec"`
	// HeldAtRelease is the deliveries the hanging receiver already had
	// (requests in flight) when it was released.
	HeldAtRelease int64 `json:"held_at_release"`
	// DrainSec is from the release to the last delivery; DrainPerSec the
	// deliveries received in that time over it; Drain99Sec the time by
	// which 99% had arrived.
	DrainSec    float64 `json:"drain_sec"`
	DrainPerSec float64 `json:"drain_per_sec"`
	Drain99Sec  float64 `json:"drain_99_sec"`
}

// Timeline is counts per second.
type Timeline struct {
	Accepted  []int64 `json:"accepted"`
	Delivered []int64 `json:"delivered"`
}

// ConfigEcho is the configuration of the run, as reported.
type ConfigEcho struct {
	Duration      string `json:"duration"`
	Rate          any    `json:"rate"`
	Concurrency   int    `json:"concurrency"`
	Endpoints     int    `json:"endpoints"`
	SlowEndpoints int    `json:"slow_endpoints"`
	// NoisyAppEndpoints are the hanging endpoints of a second application.
	NoisyAppEndpoints int    `json:"noisy_app_endpoints,omitempty"`
	PayloadBytes      int    `json:"payload_bytes"`
	Backlog           int    `json:"backlog,omitempty"`
	FIFO              bool   `json:"fifo,omitempty"`
	OrderingKeys      int    `json:"ordering_keys,omitempty"`
	DeliverAfter      string `json:"deliver_after,omitempty"`
	Prefill           int    `json:"prefill,omitempty"`
	Database          string `json:"database"`
	// Replicas is the number of servers started on Database (omitted: 1).
	Replicas    int      `json:"replicas,omitempty"`
	ServerFlags []string `json:"server_flags,omitempty"`
}

func echoConfig(c *Config) ConfigEcho {
	e := ConfigEcho{
		Duration: c.Duration.String(), Rate: c.Rate, Concurrency: c.Concurrency, Endpoints: c.Endpoints,
		SlowEndpoints: c.SlowEndpoints, NoisyAppEndpoints: c.NoisyAppEndpoints, PayloadBytes: c.PayloadBytes, Backlog: c.Backlog, ServerFlags: c.ServerFlags,
		FIFO: c.FIFO, OrderingKeys: c.OrderingKeys, Prefill: c.Prefill,
	}
	if c.Replicas > 1 {
		e.Replicas = c.Replicas
	}
	if c.DeliverAfter > 0 {
		e.DeliverAfter = c.DeliverAfter.String()
	}
	if c.Rate == 0 {
		e.Rate = "max"
	}
	switch {
	case c.URL != "":
		e.Database = "unknown (--url " + c.URL + ")"
	case c.Database == "":
		e.Database = "sqlite (temporary file)"
	default:
		e.Database = config.RedactDatabase(c.Database)
	}
	return e
}

// Machine describes where the run happened.
type Machine struct {
	Date       string `json:"date"`
	CPUModel   string `json:"cpu_model"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemTotalMB int64  `json:"mem_total_mb"`
	Kernel     string `json:"kernel,omitempty"`
	// LoadAvg is /proc/loadavg when the run started: the machine may be
	// shared.
	LoadAvg   string `json:"load_avg,omitempty"`
	OS        string `json:"os"`
	GoVersion string `json:"go_version"`
	Herald    string `json:"herald_version"`
}

func machineInfo() Machine {
	m := Machine{
		Date:       time.Now().UTC().Format(time.RFC3339),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion:  runtime.Version(),
		Herald:     buildinfo.Version(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotalMB = statusKB(b, "MemTotal:") >> 10
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// WriteText writes the readable summary of res.
func WriteText(w io.Writer, res *Result) {
	c := &res.Config
	fmt.Fprintf(w, "herald bench: %s, rate %v, %d endpoint(s)", c.Duration, c.Rate, c.Endpoints)
	if c.SlowEndpoints > 0 {
		fmt.Fprintf(w, " + %d hanging", c.SlowEndpoints)
	}
	if c.NoisyAppEndpoints > 0 {
		fmt.Fprintf(w, ", beside an application with %d hanging", c.NoisyAppEndpoints)
	}
	if c.FIFO {
		fmt.Fprintf(w, ", FIFO with %d ordering key(s)", max(c.OrderingKeys, 1))
	} else if c.OrderingKeys > 0 {
		fmt.Fprintf(w, ", %d ordering keys (unordered endpoints)", c.OrderingKeys)
	}
	if c.DeliverAfter != "" {
		fmt.Fprintf(w, ", each scheduled %s ahead", c.DeliverAfter)
	}
	fmt.Fprintf(w, ", %d-byte payloads, concurrency %d, database %s\n", c.PayloadBytes, c.Concurrency, c.Database)
	m := &res.Machine
	fmt.Fprintf(w, "machine: %s, %d CPU (GOMAXPROCS %d), %d MB, %s, herald %s, load average %s\n\n",
		m.CPUModel, m.NumCPU, m.GOMAXPROCS, m.MemTotalMB, m.GoVersion, m.Herald, m.LoadAvg)

	fmt.Fprintf(w, "  accepted      %10d  %9.0f/s   (%d errors", res.Accepted, res.IngestPerSec, res.Errors)
	if len(res.ErrorKinds) > 0 {
		keys := make([]string, 0, len(res.ErrorKinds))
		for k := range res.ErrorKinds {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "; %s: %d", k, res.ErrorKinds[k])
		}
	}
	fmt.Fprintf(w, ")\n")
	fmt.Fprintf(w, "  delivered     %10d  %9.0f/s   lost %d, duplicates %d, bad signatures %d\n",
		res.Delivered, res.DeliveriesPerSec, res.Lost, res.Duplicates, res.Rejected)
	from := "acceptance to receiver"
	if res.Config.DeliverAfter != "" {
		from = "due time (deliverAt) to receiver"
	}
	fmt.Fprintf(w, "  e2e latency   p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%s)\n",
		res.E2EMs.P50, res.E2EMs.P90, res.E2EMs.P99, res.E2EMs.Max, from)
	fmt.Fprintf(w, "  API latency   p50 %.1f ms  p99 %.1f ms  max %.1f ms", res.IngestMs.P50, res.IngestMs.P99, res.IngestMs.Max)
	if res.LateSends > 0 {
		fmt.Fprintf(w, "  (%d sends late, worst by %.0f ms)", res.LateSends, res.MaxSendLagMs)
	}
	fmt.Fprintln(w)
	if res.Server.PID != 0 {
		fmt.Fprintf(w, "  server RSS    idle %.1f MB, peak %.1f MB\n", res.ServerRSSMB.Idle, res.ServerRSSMB.Peak)
	}
	for i, rep := range res.Replicas {
		fmt.Fprintf(w, "  replica %-5d %d messages accepted, CPU %.1f s, RSS idle %.1f MB, peak %.1f MB  (%s)\n",
			i+1, rep.Accepted, rep.CPUSec, rep.RSSMB.Idle, rep.RSSMB.Peak, rep.URL)
	}
	fmt.Fprintf(w, "  CPU time      server %.1f s, bench %.1f s over %.1f s load + %.1f s drain\n",
		res.CPUSec.Server, res.CPUSec.Bench, res.LoadSec, res.DrainSec)
	fmt.Fprintf(w, "  machine CPU   %.2f cores busy: server %.2f, bench %.2f, other processes %.2f; CPU pressure %.0f%%\n",
		res.Host.BusyCores, res.Host.ServerCores, res.Host.BenchCores, res.Host.OtherCores, res.Host.CPUPressurePct)
	if s := res.Slow; s != nil {
		fmt.Fprintf(w, "  hanging       %d endpoint(s) got %d requests (latency above is the healthy endpoints')\n", s.Endpoints, s.Received)
	}
	if o := res.Outage; o != nil {
		fmt.Fprintf(w, "  outage        %.0f s down: %d requests meanwhile; the messages accepted meanwhile all arrived %.1f s after it was back\n",
			o.Sec, o.Requests, o.DrainSec)
	}
	if b := res.Backlog; b != nil {
		fmt.Fprintf(w, "  backlog       %d deliveries queued in %.1f s (%.0f/s); drained in %.1f s (%.0f/s; 99%% in %.1f s)\n",
			b.Deliveries, b.IngestSec, b.IngestPerSec, b.DrainSec, b.DrainPerSec, b.Drain99Sec)
	}
	if p := res.Prefill; p != nil {
		fmt.Fprintf(w, "  prefill       %d delivered messages with their attempts, written before the run in %.0f s (%.0f/s)\n", p.Messages, p.Seconds, p.PerSec)
	}
	if l := res.Lists; l != nil {
		for _, x := range []struct {
			what string
			lat  Latency
		}{{"messages", l.Messages}, {"endpoint attempts", l.EndpointAttempts}, {"failed attempts", l.EndpointFailed}, {"message attempts", l.MessageAttempts}} {
			fmt.Fprintf(w, "  list API      %-18s p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d requests)\n", x.what, x.lat.P50, x.lat.P99, x.lat.Max, x.lat.Count)
		}
	}
	if c := res.Ceiling; c != nil {
		fmt.Fprintf(w, "  ceiling       relay %.0f/s before, %.0f/s after (other processes %.2f and %.2f cores): mean %.0f/s\n",
			c.Before.RelayPerSec, c.After.RelayPerSec, c.Before.Host.OtherCores, c.After.Host.OtherCores, c.RelayPerSec)
		fmt.Fprintf(w, "  ratio         herald %.0f deliveries/s over the ceiling's %.0f/s = %.2fx\n", res.DeliveriesPerSec, c.RelayPerSec, c.Ratio)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

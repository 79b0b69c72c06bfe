package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The ceiling is a separate program (../shared/tools/ceiling in the
// project's workspace; Config.Ceiling is the path of its binary): a load
// generator POSTs 1 KiB JSON to a relay that signs it and forwards it to a
// sink, storing nothing. Its rate is the most that webhook relaying gets
// from this machine; Herald's deliveries per second over it is the ratio
// BENCHMARKS.md reports. It is run before and after Herald, with the same
// duration and concurrency, so that the ratio compares runs of the same
// minutes on a machine that may be shared.

// CeilingResult compares Herald with the ceiling relay.
type CeilingResult struct {
	// Binary is the ceiling program that ran.
	Binary string `json:"binary"`
	// Before and After are its runs before and after Herald's.
	Before CeilingRun `json:"before"`
	After  CeilingRun `json:"after"`
	// RelayPerSec is the mean of the two runs' rates.
	RelayPerSec float64 `json:"relay_per_sec"`
	// Ratio is Herald's deliveries_per_sec over RelayPerSec.
	Ratio float64 `json:"ratio"`
}

// CeilingRun is one run of the ceiling's load generator.
type CeilingRun struct {
	// Relayed and Failed count the load generator's requests that the
	// relay answered 202, and the others.
	Relayed int64 `json:"relayed"`
	Failed  int64 `json:"failed"`
	// Seconds is the load's duration as the generator measured it, and
	// RelayPerSec Relayed over it (as the generator prints them).
	Seconds     float64 `json:"seconds"`
	RelayPerSec float64 `json:"relay_per_sec"`
	// Host is how the machine's CPUs were used meanwhile; its server
	// cores are the relay's and the sink's, its bench cores the load
	// generator's.
	Host HostUsage `json:"host_cpu"`
}

// runCeiling starts the ceiling's sink and relay on free loopback ports,
// runs its load for d with concurrency requests in flight, stops them and
// returns what the load printed.
func runCeiling(ctx context.Context, bin string, d time.Duration, concurrency int) (CeilingRun, error) {
	var run CeilingRun
	sinkAddr, err := freeAddr()
	if err != nil {
		return run, err
	}
	relayAddr, err := freeAddr()
	if err != nil {
		return run, err
	}
	sink, err := startCeilingServer(ctx, bin, sinkAddr, "sink", sinkAddr)
	if err != nil {
		return run, err
	}
	defer sink.stop()
	relay, err := startCeilingServer(ctx, bin, relayAddr, "relay", relayAddr, "http://"+sinkAddr)
	if err != nil {
		return run, err
	}
	defer relay.stop()

	a := cpuTimes{at: time.Now(), server: sink.cpu() + relay.cpu()}
	a.hostBusy, a.hostTotal = hostCPU()
	a.pressure = cpuPressure()
	load := exec.CommandContext(ctx, bin, "load", "http://"+relayAddr, d.String(), strconv.Itoa(concurrency))
	var out, stderr bytes.Buffer
	load.Stdout, load.Stderr = &out, &stderr
	setParentDeathSignal(load)
	err = load.Run()
	b := cpuTimes{at: time.Now(), server: sink.cpu() + relay.cpu()}
	b.hostBusy, b.hostTotal = hostCPU()
	b.pressure = cpuPressure()
	if err != nil {
		return run, fmt.Errorf("ceiling load: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if ps := load.ProcessState; ps != nil {
		b.bench = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	run, err = parseCeilingLoad(out.String())
	if err != nil {
		return run, err
	}
	run.Host = hostUsage(a, b)
	return run, nil
}

// startCeilingServer starts the ceiling in a server mode (sink or relay)
// and returns once addr accepts connections.
func startCeilingServer(ctx context.Context, bin, addr string, args ...string) (*ceilingServer, error) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ceiling %s: %w", args[0], err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return &ceilingServer{cmd: cmd, exited: exited}, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("ceiling %s exited before serving on %s: %s", args[0], addr, strings.TrimSpace(stderr.String()))
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("ceiling %s did not serve on %s: %v", args[0], addr, cmp.Or(ctx.Err(), err))
		}
	}
}

// ceilingServer is a running sink or relay of the ceiling.
type ceilingServer struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (s *ceilingServer) cpu() float64 { return procCPU(s.cmd.Process.Pid) }

// stop kills the server (it has no graceful stop) and waits until it is
// reaped.
func (s *ceilingServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// freeAddr returns a loopback address with a port free at the time of the
// call (the ceiling takes addresses, not listeners).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// parseCeilingLoad reads the line the ceiling's load prints:
// "relayed=N failed=N seconds=F relay_per_sec=F".
func parseCeilingLoad(out string) (CeilingRun, error) {
	var run CeilingRun
	seen := 0
	for _, field := range strings.Fields(out) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "relayed":
			run.Relayed, err = strconv.ParseInt(v, 10, 64)
		case "failed":
			run.Failed, err = strconv.ParseInt(v, 10, 64)
		case "seconds":
			run.Seconds, err = strconv.ParseFloat(v, 64)
		case "relay_per_sec":
			run.RelayPerSec, err = strconv.ParseFloat(v, 64)
		default:
			continue
		}
		if err != nil {
			return run, fmt.Errorf("ceiling load printed %q: %s: %w", strings.TrimSpace(out), k, err)
		}
		seen++
	}
	if seen != 4 {
		return run, fmt.Errorf("ceiling load printed %q, want relayed=N failed=N seconds=F relay_per_sec=F", strings.TrimSpace(out))
	}
	if run.Relayed == 0 {
		return run, errors.New("ceiling load relayed nothing: " + strings.TrimSpace(out))
	}
	return run, nil
}

package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(ds)
	want := Latency{P50: 50, P90: 90, P99: 99, P999: 100, Max: 100, Mean: 50.5, Count: 100}
	if got != want {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if got := percentiles(nil); got != (Latency{}) {
		t.Errorf("percentiles(nil) = %+v", got)
	}
}

func TestSequenceNumbers(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{0, 7, 42, 999999999999} {
		b := []byte(`{"seq":"000000000000","pad":"x"}`)
		putSeq(b[8:8+seqDigits], seq)
		if got, ok := payloadSeq(b); !ok || got != seq {
			t.Errorf("payloadSeq(%s) = %d, %v; want %d", b, got, ok, seq)
		}
	}
	for _, bad := range []string{``, `{"seq":"12"}`, `{"seq":"00000000000x","pad":""}`, `{"id":"000000000000000"}`} {
		if _, ok := payloadSeq([]byte(bad)); ok {
			t.Errorf("payloadSeq(%s) ok", bad)
		}
	}
}

func TestAcceptedTime(t *testing.T) {
	t.Parallel()
	at, ok := acceptedTime([]byte(`{"id":"msg_1","payload":{"seq":"1"},"timestamp":"2026-05-06T07:08:09.123456Z"}`))
	if want := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC).UnixNano(); !ok || at != want {
		t.Errorf("acceptedTime = %d, %v; want %d", at, ok, want)
	}
	for _, bad := range []string{`{}`, `{"timestamp":"yesterday"}`, `{"timestamp":"2026`} {
		if _, ok := acceptedTime([]byte(bad)); ok {
			t.Errorf("acceptedTime(%s) ok", bad)
		}
	}
}

func TestChunked(t *testing.T) {
	t.Parallel()
	var c chunked
	for _, i := range []int64{0, 1, 1<<16 - 1, 1 << 16, 5<<16 + 3} {
		c.at(i).Add(i + 1)
	}
	for _, i := range []int64{0, 1, 1<<16 - 1, 1 << 16, 5<<16 + 3} {
		if got := c.get(i); got != i+1 {
			t.Errorf("get(%d) = %d", i, got)
		}
	}
	if c.get(2) != 0 || c.get(9<<16) != 0 || c.get(1<<40) != 0 {
		t.Error("unset elements are not zero")
	}
}

func TestStatusKB(t *testing.T) {
	t.Parallel()
	b := []byte("Name:\therald\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n")
	if got := statusKB(b, "VmRSS:"); got != 40960 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := statusKB(b, "VmSwap:"); got != 0 {
		t.Errorf("VmSwap = %d", got)
	}
}

// TestEchoedDatabaseHasNoPassword checks that the database a result records
// carries no password, in whatever form the setting gave it.
func TestEchoedDatabaseHasNoPassword(t *testing.T) {
	t.Parallel()
	for _, db := range []string{
		"postgres://bench:hunter2@db/herald",
		"postgres://bench@db/herald?sslmode=require&password=hunter2",
		"postgresql://bench@db/herald?sslpassword=hunter2",
		"postgres://bench:hun ter2@db/herald",
		"host=db user=bench password=hunter2",
	} {
		e := echoConfig(&Config{Database: db})
		if strings.Contains(e.Database, "hunter2") || strings.Contains(e.Database, "ter2") || !strings.Contains(e.Database, "db") {
			t.Errorf("database %q recorded as %q", db, e.Database)
		}
	}
}

func TestParseCeilingLoad(t *testing.T) {
	t.Parallel()
	got, err := parseCeilingLoad("relayed=12345 failed=2 seconds=8.0 relay_per_sec=1543\n")
	want := CeilingRun{Relayed: 12345, Failed: 2, Seconds: 8, RelayPerSec: 1543}
	if err != nil || got != want {
		t.Errorf("parseCeilingLoad = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "relayed=1 failed=0 seconds=1.0", "relayed=x failed=0 seconds=1.0 relay_per_sec=1",
		"relayed=0 failed=9 seconds=1.0 relay_per_sec=0"} {
		if _, err := parseCeilingLoad(bad); err == nil {
			t.Errorf("parseCeilingLoad(%q) succeeded", bad)
		}
	}
}

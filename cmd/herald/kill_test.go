package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildHerald compiles the herald binary once per test run.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build herald: %v", err)
	}
	return bin
}

// process is a `herald serve` child process.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
}

var servingRE = regexp.MustCompile(`herald serving"? addr=(\S+)`)

func serve(t *testing.T, bin, db string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--database", db,
		"--admin-token", "kill-test", "--allow-cidr", "127.0.0.0/8",
		"--request-timeout", "1s", "--endpoint-concurrency", "8", "--retry-schedule", "200ms,200ms,200ms,200ms,200ms"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &bytes.Buffer{}}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteString(line + "\n")
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.addr = <-found:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("herald did not start: %s", p.logs)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

func post(ctx context.Context, url string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer kill-test")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, nil
}

// TestKill9LosesNothing kills `herald serve` with SIGKILL while messages are
// being accepted and delivered, restarts it on the same database, and checks
// that every message acknowledged with 202 is delivered, and that no message
// was ever being sent twice at the same time.
func TestKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	db := filepath.Join(t.TempDir(), "herald.db")

	var (
		mu         sync.Mutex
		received   = map[string]int{}
		inFlight   = map[string]bool{}
		concurrent atomic.Int32
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if inFlight[id] {
			concurrent.Add(1)
		}
		inFlight[id] = true
		mu.Unlock()
		// Keep requests in flight for a moment so the kill catches some.
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		delete(inFlight, id)
		received[id]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer receiver.Close()

	p := serve(t, bin, db)
	ctx := context.Background()
	base := "http://" + p.addr
	if code, b, err := post(ctx, base+"/api/v1/app", map[string]any{"name": "kill", "uid": "kill"}); err != nil || code != 201 {
		t.Fatalf("create app: %d %s %v", code, b, err)
	}
	if code, b, err := post(ctx, base+"/api/v1/app/kill/endpoint", map[string]any{"url": receiver.URL}); err != nil || code != 201 {
		t.Fatalf("create endpoint: %d %s %v", code, b, err)
	}

	// Load: 8 senders; kill after 1000 acknowledgements.
	var (
		ackMu sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	var once sync.Once
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				code, b, err := post(ctx, base+"/api/v1/app/kill/msg", map[string]any{
					"eventType": "load.test", "payload": map[string]any{"w": w, "i": i},
				})
				if err != nil || code != 202 {
					return // the server is gone: this one was not acknowledged
				}
				var m struct{ ID string }
				json.Unmarshal(b, &m)
				ackMu.Lock()
				acked = append(acked, m.ID)
				n := len(acked)
				ackMu.Unlock()
				if n >= 1000 {
					once.Do(func() {
						p.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	p.cmd.Wait()

	mu.Lock()
	before := len(received)
	mu.Unlock()
	t.Logf("acknowledged %d messages; %d delivered before the kill", len(acked), before)

	serve(t, bin, db)
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		mu.Lock()
		for _, id := range acked {
			if received[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never delivered", missing, len(acked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	dups := 0
	mu.Lock()
	for _, n := range received {
		if n > 1 {
			dups++
		}
	}
	mu.Unlock()
	t.Logf("all %d acknowledged messages delivered; %d delivered more than once (in flight at the kill)", len(acked), dups)
	if c := concurrent.Load(); c != 0 {
		t.Errorf("%d times a message was being sent twice at the same time", c)
	}
	if dups > 2*8 { // sends in flight plus results not yet committed, at --endpoint-concurrency 8
		t.Errorf("%d duplicates: more than could have been in flight at the kill", dups)
	}
	fmt.Fprint(io.Discard)
}

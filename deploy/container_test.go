package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// podman runs podman with the flags HERALD_PODMAN gives ("podman --runtime
// runc" where the default runtime cannot run containers, as in CI).
type podman []string

func newPodman(t *testing.T) podman {
	t.Helper()
	p := strings.Fields(os.Getenv("HERALD_PODMAN"))
	if len(p) == 0 {
		p = []string{"podman"}
	}
	needCommand(t, p[0], "podman")
	return p
}

func (p podman) run(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(run(t, p[0], append(p[1:], args...)...))
}

func (p podman) try(args ...string) (string, error) {
	out, err := exec.Command(p[0], append(p[1:], args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestContainer loads the image scripts/release made, checks its
// configuration, runs it as a user would (HERALD_* variables, a named
// volume on /data), creates an app and an endpoint through the API, and
// receives a signed delivery on the host. Then it backs up the database
// inside the container and stops it gracefully.
//
// The container shares the host's network (--network host): the API and
// the receiver are both on loopback, which the test allows the SSRF guard
// to reach with HERALD_ALLOW_CIDRS. A bridge network would reach the host
// on a private address instead.
func TestContainer(t *testing.T) {
	archive := artifact(t, "herald_*_linux_%s.image.tar")
	pm := newPodman(t)

	loaded := pm.run(t, "load", "--quiet", "--input", archive)
	m := regexp.MustCompile(`Loaded image(?:\(s\))?: (\S+)`).FindStringSubmatch(loaded)
	if m == nil {
		t.Fatalf("podman load printed %q", loaded)
	}
	image := m[1]
	t.Logf("image %s from %s", image, archive)

	// The image's configuration.
	var cfg []struct {
		Size        int64
		Healthcheck *struct{ Test []string }
		Config      struct {
			User         string
			Env          []string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Entrypoint   []string
			Cmd          []string
		}
	}
	if err := json.Unmarshal([]byte(pm.run(t, "image", "inspect", image)), &cfg); err != nil || len(cfg) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	c := cfg[0].Config
	t.Logf("image size %.1f MB", float64(cfg[0].Size)/1e6)
	if c.User != "10001:10001" {
		t.Errorf("image user = %q, want 10001:10001 (not root)", c.User)
	}
	if _, ok := c.ExposedPorts["8071/tcp"]; !ok {
		t.Errorf("exposed ports = %v, want 8071/tcp", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes = %v, want /data", c.Volumes)
	}
	if hc := cfg[0].Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /herald healthcheck" {
		t.Errorf("health check = %+v, want CMD /herald healthcheck", hc)
	}
	for _, e := range c.Env {
		if name, _, _ := strings.Cut(e, "="); name != "PATH" && !strings.HasPrefix(name, "HERALD_") {
			t.Errorf("image sets %s: configuration is HERALD_* variables only", name)
		}
	}
	if cfg[0].Size > 40e6 {
		t.Errorf("image is %d bytes; it was 27 MB: what grew?", cfg[0].Size)
	}

	// The version the binary reports.
	versionOut := pm.run(t, "run", "--rm", "--network", "none", image, "version")
	version := strings.TrimPrefix(strings.SplitN(versionOut, "\n", 2)[0], "herald ")
	if strings.HasPrefix(version, "dev") || !strings.Contains(versionOut, "commit: ") || strings.Contains(versionOut, "commit: unknown") {
		t.Errorf("herald version in the image printed %q, want a stamped version and commit", versionOut)
	}

	// A receiver on the host, on loopback.
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 16)
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}), ReadHeaderTimeout: 5 * time.Second}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go recv.Serve(rl)
	defer recv.Close()

	apiPort := freePort(t)
	name := fmt.Sprintf("herald-test-%d", os.Getpid())
	volume := name + "-data"
	const token = "hsk_container-test-token"
	pm.try("rm", "--force", name)
	pm.try("volume", "rm", "--force", volume)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := pm.try("logs", name)
			t.Logf("container logs:\n%s", logs)
		}
		pm.try("rm", "--force", "--time", "0", name)
		pm.try("volume", "rm", "--force", volume)
	})
	pm.run(t, "run", "--detach", "--name", name, "--network", "host",
		"--volume", volume+":/data",
		"--env", fmt.Sprintf("HERALD_LISTEN=127.0.0.1:%d", apiPort),
		"--env", "HERALD_ADMIN_TOKEN="+token,
		"--env", "HERALD_ALLOW_CIDRS=127.0.0.0/8",
		image)
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	waitFor(t, 30*time.Second, func() error {
		resp, err := http.Get(base + "/api/v1/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	})
	if out, err := pm.try("healthcheck", "run", name); err != nil {
		t.Errorf("podman healthcheck run: %v: %s", err, out)
	}
	// The process, seen from the host (podman top needs ps in the image).
	pid := pm.run(t, "inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("read the container's process status: %v", err)
	}
	if uid := regexp.MustCompile(`(?m)^Uid:.*$`).Find(status); !bytes.HasPrefix(uid, []byte("Uid:\t10001\t")) {
		t.Errorf("herald runs as %q, want uid 10001 (not root)", uid)
	}

	api := func(method, path string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s: %s", method, path, resp.Status, out)
		}
		return out
	}
	api("POST", "/api/v1/app", map[string]any{"name": "Container", "uid": "ctr"})
	api("POST", "/api/v1/app/ctr/endpoint", map[string]any{"url": "http://" + rl.Addr().String() + "/hook", "uid": "host"})
	var secret struct{ Key string }
	json.Unmarshal(api("GET", "/api/v1/app/ctr/endpoint/host/secret", nil), &secret)
	api("POST", "/api/v1/app/ctr/msg", map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"invoice": "in_1"}})

	select {
	case d := <-got:
		if err := webhook.NewVerifier(webhook.MustParseSecret(secret.Key)).Verify(d.header, d.body); err != nil {
			t.Errorf("delivery does not verify: %v", err)
		}
		if ua := d.header.Get("User-Agent"); ua != "Herald/"+version {
			t.Errorf("User-Agent = %q, want Herald/%s", ua, version)
		}
		if !strings.Contains(string(d.body), `"in_1"`) {
			t.Errorf("body = %s", d.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the host within 30s")
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `herald_build_info{goversion=`) || !strings.Contains(string(metrics), `version="`+version+`"`) {
		t.Errorf("/metrics lacks herald_build_info with version %q", version)
	}

	// An online backup inside the container, onto the volume.
	if out := pm.run(t, "exec", name, "/herald", "backup", "/data/backup.db"); !strings.Contains(out, "encryption key copied to /data/backup.db.key") {
		t.Errorf("herald backup in the container printed %q", out)
	}

	// podman stop sends SIGTERM; herald, PID 1, shuts down gracefully.
	pm.run(t, "stop", "--time", "30", name)
	if code := pm.run(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("exit code after podman stop = %s, want 0", code)
	}
	if logs, _ := pm.try("logs", name); !strings.Contains(logs, `"shutting down"`) {
		t.Errorf("no graceful shutdown in the logs:\n%s", logs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls f until it succeeds, failing the test at the deadline.
func waitFor(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up after %s: %v", d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

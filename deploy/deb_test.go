package deploy_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeb installs the .deb scripts/release made with dpkg -i into a
// scratch root (dpkg --root, its maintainer scripts run without chroot under
// DPKG_ROOT), checks what it installed and who owns it, runs the installed
// binary with the installed configuration, checks the systemd unit with
// systemd-analyze, then purges the package.
func TestDeb(t *testing.T) {
	deb := artifact(t, "herald_*_%s.deb")
	needCommand(t, "dpkg", "dpkg")
	needCommand(t, "dpkg-deb", "dpkg")
	needCommand(t, "useradd", "passwd")

	// The scratch root: an empty dpkg database that knows passwd (the
	// package's one dependency) is installed, and the account files of a
	// fresh system.
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/status", run(t, "dpkg-query", "--status", "passwd"), 0o644)
	write("var/lib/dpkg/info/passwd.list", "", 0o644)
	write("var/lib/dpkg/available", "", 0o644)
	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	write("etc/group", "root:x:0:\n", 0o644)
	write("etc/shadow", "root:*:20000:0:99999:7:::\n", 0o640)
	write("etc/gshadow", "root:*::\n", 0o640)

	dpkg := func(args ...string) string {
		t.Helper()
		return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)...)
	}
	dpkg("--install", deb)
	// Installing again is an upgrade in place: the scripts run with the
	// old version and must not fail when the user exists.
	dpkg("--install", deb)
	if st := dpkg("--status", "herald"); !strings.Contains(st, "Status: install ok installed") {
		t.Fatalf("dpkg --status herald:\n%s", st)
	}

	// The herald user, a system account without a login shell.
	var uid, gid int
	for line := range strings.Lines(readFile(t, filepath.Join(root, "etc/passwd"))) {
		f := strings.Split(strings.TrimSpace(line), ":")
		if f[0] == "herald" {
			fmt.Sscan(f[2], &uid)
			fmt.Sscan(f[3], &gid)
			if uid == 0 || uid >= 1000 || f[5] != "/var/lib/herald" || f[6] != "/usr/sbin/nologin" {
				t.Errorf("herald user = %q, want a system uid, home /var/lib/herald, no shell", line)
			}
		}
	}
	if uid == 0 {
		t.Fatal("no herald user in the root's /etc/passwd")
	}
	owned := func(path string, mode fs.FileMode, wantUID, wantGID int) {
		t.Helper()
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Error(err)
			return
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || int(st.Uid) != wantUID || int(st.Gid) != wantGID {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, wantUID, wantGID)
		}
	}
	owned("usr/bin/herald", 0o755, 0, 0)
	owned("etc/herald/herald.conf", 0o640, 0, gid) // may hold secrets: readable by herald only
	owned("var/lib/herald", 0o750, uid, gid)
	owned("lib/systemd/system/herald.service", 0o644, 0, 0)
	if conf := dpkg("--status", "herald"); !strings.Contains(conf, "/etc/herald/herald.conf") {
		t.Errorf("herald.conf is not a conffile:\n%s", conf)
	}

	// The installed binary reports the package's version.
	bin := filepath.Join(root, "usr/bin/herald")
	debVersion := strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, "Version"))
	if out := run(t, bin, "version"); !strings.HasPrefix(out, "herald "+strings.ReplaceAll(debVersion, "~", "-")+"\n") {
		t.Errorf("installed herald version printed %q, want version %s", out, debVersion)
	}

	// It serves with the installed configuration file (the database moved
	// to a temporary directory: nothing here runs as the herald user).
	db := filepath.Join(t.TempDir(), "herald.db")
	serve := exec.Command(bin, "serve", "--config", filepath.Join(root, "etc/herald/herald.conf"),
		"--listen", "127.0.0.1:0", "--database", db, "--admin-token", "hsk_deb-test")
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`"addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "herald serving") {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		// JSON logs: the installed configuration's HERALD_LOG_FORMAT.
		run(t, bin, "healthcheck", "--ready", "--listen", a)
	case <-time.After(30 * time.Second):
		t.Fatal("the installed herald did not start with the installed configuration")
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Errorf("herald serve after SIGTERM: %v", err)
	}

	t.Run("systemd unit", func(t *testing.T) { checkUnit(t, root) })

	dpkg("--purge", "herald")
	for _, gone := range []string{"usr/bin/herald", "etc/herald/herald.conf", "lib/systemd/system/herald.service"} {
		if _, err := os.Stat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s is still there after dpkg --purge", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/herald")); err != nil {
		t.Errorf("purge removed the data directory: %v", err)
	}
}

// checkUnit has systemd-analyze verify the installed unit (pointed at the
// installed binary) and rate its hardening offline.
func checkUnit(t *testing.T, root string) {
	analyze := needCommand(t, "systemd-analyze", "systemd")
	unit := readFile(t, filepath.Join(root, "lib/systemd/system/herald.service"))
	for _, want := range []string{"User=herald", "ExecStart=/usr/bin/herald serve --config /etc/herald/herald.conf", "NoNewPrivileges=yes", "ProtectSystem=strict", "TimeoutStopSec=30s"} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/herald", filepath.Join(root, "usr/bin/herald"))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure on systemd's scale of 0 (locked down) to 10 (none); the
	// unit rates 1.4. --threshold counts tenths.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for herald.service: (\S+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd exposure level %s", m[1])
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a Herald server running as a child process.
type child struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	done    chan struct{}
	err     error // of Wait, once done is closed

	stopOnce sync.Once
	stopErr  error
}

// readyPrefix starts the line a server command prints once it serves.
const readyPrefix = "listening on "

// startChild starts args and waits until it prints its address. Its
// standard error goes to logPath.
func startChild(ctx context.Context, args, env []string, logPath string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	setParentDeathSignal(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	c := &child{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), readyPrefix); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
		c.err = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	timer := time.NewTimer(2 * time.Minute)
	defer timer.Stop()
	select {
	case c.addr = <-addr:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("server exited before serving (%v):\n%s", c.err, tail(logPath, 2000))
	case <-timer.C:
	case <-ctx.Done():
	}
	c.stop(5 * time.Second)
	return nil, fmt.Errorf("server did not start serving:\n%s", tail(logPath, 2000))
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the server to shut down (SIGTERM) and kills it after timeout.
func (c *child) stop(timeout time.Duration) error {
	c.stopOnce.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-c.done:
			var ee *exec.ExitError
			if c.err != nil && !errors.As(c.err, &ee) {
				c.stopErr = c.err
			} else if c.err != nil {
				c.stopErr = fmt.Errorf("server exited with %v:\n%s", c.err, tail(c.logPath, 2000))
			}
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = fmt.Errorf("server did not stop within %s; killed", timeout)
		}
	})
	return c.stopErr
}

// tail returns the end of a file.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

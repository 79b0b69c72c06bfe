package bench

import (
	"bytes"
	"strconv"
	"time"
)

// sampler records the largest RSS of a process, read every interval.
type sampler struct {
	stopc chan struct{}
	done  chan int64
}

func startSampler(pid int, interval time.Duration) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		peak := procRSS(pid)
		for {
			select {
			case <-s.stopc:
				s.done <- max(peak, procRSS(pid))
				return
			case <-t.C:
				peak = max(peak, procRSS(pid))
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak in bytes.
func (s *sampler) stop() int64 {
	close(s.stopc)
	return <-s.done
}

// statusKB reads a "Field:   123 kB" line of a /proc status-like file.
func statusKB(b []byte, field string) int64 {
	i := bytes.Index(b, []byte(field))
	if i < 0 {
		return 0
	}
	line := b[i+len(field):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	line = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))
	n, _ := strconv.ParseInt(string(line), 10, 64)
	return n
}

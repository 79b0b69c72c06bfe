package postgres_test

import (
	"net"
	"syscall"
	"testing"
)

// The pool's connections notice a server that stops answering at the TCP
// level: keepalive probes after 15s idle, every 5s, and a 30s user timeout.
func TestConnectionsKeepAlive(t *testing.T) {
	t.Parallel()
	s := open(t)
	err := s.NetConn(t.Context(), func(c net.Conn) {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			t.Skipf("connection is a %T, not TCP", c)
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []struct {
			name       string
			level, opt int
			want       int
		}{
			{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
			{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 5},
			{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 3},
			{"TCP_USER_TIMEOUT", syscall.IPPROTO_TCP, 0x12, 30000},
		} {
			var got int
			var gerr error
			if err := raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil {
				t.Fatal(err)
			}
			if gerr != nil || got != o.want {
				t.Errorf("%s = %d (%v), want %d", o.name, got, gerr, o.want)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

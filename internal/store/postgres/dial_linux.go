package postgres

import (
	"strings"
	"syscall"
)

// sysTCPUserTimeout is TCP_USER_TIMEOUT of linux/tcp.h (the same on every
// architecture), which the frozen syscall package lacks on most.
const sysTCPUserTimeout = 0x12

// setUserTimeout sets TCP_USER_TIMEOUT on TCP sockets: data left
// unacknowledged that long, keepalive probes included, breaks the
// connection.
func setUserTimeout(network, _ string, c syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, sysTCPUserTimeout, int(tcpUserTimeout.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}

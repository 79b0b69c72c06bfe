package egress

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// rawServer accepts connections on loopback and hands each one, after the
// request's header has been read, to answer. Connections are closed when the
// test ends.
func rawServer(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	t.Cleanup(func() {
		close(done)
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			default:
			}
			go func() {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				answer(c)
				<-done
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// TestSendHostileAnswers: whatever a receiver does, Send returns within its
// timeout, and an answer that is not a final HTTP status is a failure with a
// class and a plain reason.
func TestSendHostileAnswers(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name   string
		answer func(c net.Conn)
		status int
		class  Class
	}{
		{"101 then silence", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
		}, 0, ClassProtocol},
		{"101 without upgrade headers then silence", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
		}, 0, ClassProtocol},
		{"endless 100 Continue", func(c net.Conn) {
			for range 10 {
				_, _ = c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
			}
		}, 0, ClassTimeout},
		{"silence", func(net.Conn) {}, 0, ClassTimeout},
		{"endless headers", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n"))
			// Long lines pass the 1 MiB limit in a few writes, well within
			// the timeout even on a loaded machine under -race.
			line := []byte("X-Pad: " + strings.Repeat("a", 256<<10) + "\r\n")
			for {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}, 0, ClassProtocol},
		{"headers trickled", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n"))
			for {
				if _, err := c.Write([]byte("X-A: b\r\n")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}, 0, ClassTimeout},
		{"garbage status line", func(c net.Conn) {
			_, _ = c.Write([]byte("\xff\x00garbage\r\n\r\n"))
		}, 0, ClassProtocol},
		{"reset", func(c net.Conn) {
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}, 0, ClassClosed},
		{"closed", func(c net.Conn) { _ = c.Close() }, 0, ClassClosed},
		{"200 then a body trickled past the timeout", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"))
			for {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}, 200, ClassNone},
		{"invalid UTF-8 and NUL", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 500 Oops\r\nContent-Length: 7\r\n\r\na\xffb\x00c\xe6\x97"))
		}, 500, ClassNone},
	}
	c := New(Config{AllowCIDRs: loopback, Timeout: timeout})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := rawServer(t, tt.answer)
			res := c.Send(t.Context(), Request{URL: url, Body: []byte("{}")})
			if res.Duration > timeout+time.Second {
				t.Errorf("Send took %v, more than the timeout (%v) plus a second", res.Duration, timeout)
			}
			if res.StatusCode != tt.status || res.Class != tt.class {
				t.Errorf("Result = status %d class %q err %v; want status %d class %q", res.StatusCode, res.Class, res.Err, tt.status, tt.class)
			}
			if tt.status == 0 {
				if res.Err == nil || Classify(res).Success {
					t.Errorf("Result = %+v, want a failed attempt", res)
				}
				text := res.ErrorText()
				if !strings.HasPrefix(text, tt.class.Reason()+": ") || PublicReason(text) != tt.class.Reason() {
					t.Errorf("ErrorText = %q, want it to start with %q", text, tt.class.Reason())
				}
			}
			if !utf8.ValidString(res.Body) || strings.ContainsRune(res.Body, 0) || !utf8.ValidString(res.ErrorText()) {
				t.Errorf("Body %q or error %q is not storable text", res.Body, res.ErrorText())
			}
		})
	}
}

func TestSendErrorClasses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()

	guarded := New(Config{})
	open := New(Config{AllowCIDRs: loopback, Resolver: resolverFor(nil)})
	for _, tt := range []struct {
		c     *Client
		url   string
		class Class
	}{
		{open, refused, ClassConnect},
		{open, "http://no-such-host.test/", ClassDNS},
		{guarded, "http://127.0.0.1:9/", ClassSSRF},
		{guarded, "ftp://example.com/", ClassURL},
	} {
		res := tt.c.Send(t.Context(), Request{URL: tt.url})
		if res.Class != tt.class || res.Err == nil {
			t.Errorf("%s: class %q (err %v), want %q", tt.url, res.Class, res.Err, tt.class)
		}
		if got := PublicReason(res.ErrorText()); got != tt.class.Reason() {
			t.Errorf("%s: PublicReason = %q, want %q", tt.url, got, tt.class.Reason())
		}
		if tt.class == ClassSSRF && strings.Contains(PublicReason(res.ErrorText()), "127.0.0.1") {
			t.Errorf("the public reason names the address: %q", PublicReason(res.ErrorText()))
		}
	}
}

func TestSendTLSFailure(t *testing.T) {
	t.Parallel()
	// A plain HTTP server answering a TLS client.
	srv := newServer(t, nil)
	u := "https://" + strings.TrimPrefix(srv.URL, "http://") + "/"
	res := New(Config{AllowCIDRs: loopback, Timeout: 2 * time.Second}).Send(t.Context(), Request{URL: u})
	if res.Class != ClassTLS {
		t.Errorf("%s: class %q (err %v), want tls", u, res.Class, res.Err)
	}
}

func TestPublicReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{ClassSSRF.Reason() + ": destination localhost (127.0.0.1) is a loopback address", ClassSSRF.Reason()},
		{ClassDNS.Reason() + ": lookup x on 10.0.0.2:53: no such host", ClassDNS.Reason()},
		{ClassTimeout.Reason(), ClassTimeout.Reason()},
		{"dial tcp 10.0.0.1:80: connection refused", ClassOther.Reason()},
		{ClassDNS.Reason() + "x: y", ClassOther.Reason()},
		{"", ClassOther.Reason()},
	} {
		if got := PublicReason(tt.in); got != tt.want {
			t.Errorf("PublicReason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 0, "plain"},
		{"a\xffb", 0, "a\uFFFDb"},
		{"a\x00b", 0, "a\uFFFDb"},
		{"日本", 0, "日本"},
		{"日本"[:5], 0, "日"},                // a character cut short at the end is dropped
		{"日本", 4, "日"},                    // the limit never cuts a character
		{"\xff\xff\xff", 4, "\uFFFD"},     // replacements count against the limit
		{"ab\xf0\x9f\x8e", 0, "ab"},       // a cut 4-byte character
		{"ab\xf0\x9f\x8e\x89", 0, "ab🎉"},  // a whole one
		{"\xe6\x97x", 0, "\uFFFD\uFFFDx"}, // cut in the middle is not at the end
		{strings.Repeat("é", 3), 5, "éé"}, // 2 bytes each
		{"\xc3", 0, ""},
	} {
		if got := CleanText([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "a\xffb", "日本"[:5], "\x00", "\xf0\x9f\x8e\x89"} {
		f.Add([]byte(s), 4)
	}
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max %= 64
		got := CleanText(b, max)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("CleanText(%q, %d) = %q: not storable", b, max, got)
		}
		if max > 0 && len(got) > max {
			t.Fatalf("CleanText(%q, %d) = %q: longer than the limit", b, max, got)
		}
		if utf8.Valid(b) && !strings.ContainsRune(string(b), 0) && (max <= 0 || len(b) <= max) && got != string(b) {
			t.Fatalf("CleanText(%q, %d) = %q changed clean text", b, max, got)
		}
	})
}

package egress

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Class names the kind of failure of an attempt that got no usable answer,
// short and stable, for metrics and logs.
type Class string

// Failure classes. A Result with a usable status code has no class.
const (
	ClassNone     Class = ""
	ClassURL      Class = "url"      // the URL cannot be sent to
	ClassDNS      Class = "dns"      // the host name did not resolve
	ClassSSRF     Class = "ssrf"     // the SSRF guard refused the address
	ClassConnect  Class = "connect"  // no connection (refused, unreachable)
	ClassTLS      Class = "tls"      // the TLS handshake failed
	ClassTimeout  Class = "timeout"  // no complete answer before the deadline
	ClassClosed   Class = "closed"   // the connection ended before an answer
	ClassProtocol Class = "protocol" // the answer was not a usable HTTP response
	ClassOther    Class = "other"
)

// reasons are the plain sentences shown to an endpoint's owner for each
// class: what went wrong, never the addresses, names or resolver behind it.
var reasons = map[Class]string{
	ClassURL:      "the endpoint URL cannot be used",
	ClassDNS:      "the endpoint's host name could not be resolved",
	ClassSSRF:     "the endpoint's address is not allowed",
	ClassConnect:  "could not connect to the endpoint",
	ClassTLS:      "the TLS handshake with the endpoint failed",
	ClassTimeout:  "the endpoint did not answer in time",
	ClassClosed:   "the endpoint closed the connection before answering",
	ClassProtocol: "the endpoint's answer was not a valid HTTP response",
	ClassOther:    "the request failed",
}

// Reason returns the plain sentence for c ("the request failed" for an
// unknown class).
func (c Class) Reason() string {
	if r, ok := reasons[c]; ok {
		return r
	}
	return reasons[ClassOther]
}

// PublicReason returns the part of a recorded transport error that an
// endpoint's owner may see. Errors recorded from a [Result] read
// "<reason>: <detail>" (see [Result.ErrorText]); the detail names addresses,
// host names and resolvers, which are the operator's to see. A text that does
// not start with a known reason gives "the request failed".
func PublicReason(recorded string) string {
	for _, r := range reasons {
		if recorded == r || strings.HasPrefix(recorded, r+": ") {
			return r
		}
	}
	return reasons[ClassOther]
}

// classifyError names the kind of a transport error (not a timeout, which
// the caller knows from its deadline).
func classifyError(err error) Class {
	var (
		blocked *BlockedError
		dnsErr  *net.DNSError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &blocked):
		return ClassSSRF
	case errors.As(err, &dnsErr):
		return ClassDNS
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &verify),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return ClassTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.EPIPE):
		return ClassClosed
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return ClassConnect
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ClassConnect
	}
	// net/http reports an unreadable answer with untyped errors.
	switch msg := err.Error(); {
	case strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"), strings.Contains(msg, "HTTP response to HTTPS client"):
		return ClassTLS
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "HTTP/1.x transport connection broken"),
		strings.Contains(msg, "too many 1xx"), strings.Contains(msg, "header exceeds"),
		strings.Contains(msg, "http2:"), strings.Contains(msg, "invalid"):
		return ClassProtocol
	case strings.Contains(msg, "server closed"), strings.Contains(msg, "connection reset"):
		return ClassClosed
	}
	return ClassOther
}

// CleanText turns bytes a receiver sent into text every store keeps as is:
// bytes that are not valid UTF-8, and NUL (which PostgreSQL's text refuses),
// become U+FFFD; the result is at most max bytes (no limit when max <= 0),
// cut on a character boundary; a character that the limit (or the sender)
// cut short at the end is dropped rather than replaced.
func CleanText(b []byte, max int) string {
	// A multi-byte character cut short at the end is dropped.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	clean := utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
	if clean && (max <= 0 || len(b) <= max) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == 0 {
			r = utf8.RuneError
		}
		if max > 0 && sb.Len()+utf8.RuneLen(r) > max {
			break
		}
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

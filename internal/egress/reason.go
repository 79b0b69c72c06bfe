package egress

import "strings"

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

package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// BlockedError reports a destination refused by the SSRF guard. Callers branch
// on it with errors.As; it survives the wrapping done by net and net/http.
type BlockedError struct {
	// Addr is the address that was (or would have been) dialled.
	Addr netip.Addr
	// Host is the host name from the URL that resolved to Addr, or empty when
	// the URL held a literal IP address or the check was made without one.
	Host string
	// Reason says why Addr is refused, as a noun phrase such as
	// "a loopback address".
	Reason string
}

// Error names the address, the reason, and the allow-list that overrides the
// guard.
func (e *BlockedError) Error() string {
	dest := e.Addr.String()
	if e.Host != "" {
		dest = e.Host + " (" + dest + ")"
	}
	msg := fmt.Sprintf("destination %s is %s; refused by the SSRF guard (allow it with --allow-cidr / HERALD_ALLOW_CIDRS", dest, e.Reason)
	if a := e.Addr.WithZone(""); a.IsValid() {
		msg += ", e.g. " + netip.PrefixFrom(a, a.BitLen()).String()
	}
	return msg + ")"
}

// rule is one forbidden range and why it is forbidden.
type rule struct {
	prefix netip.Prefix
	reason string
}

func rules(pairs ...string) []rule {
	rs := make([]rule, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		rs = append(rs, rule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return rs
}

// v4Rules are the IPv4 ranges that are not globally routable destinations.
// The first match names the reason, so narrower ranges come first.
var v4Rules = rules(
	"0.0.0.0/32", "an unspecified address",
	"0.0.0.0/8", `a "this network" address (0.0.0.0/8)`,
	"10.0.0.0/8", "a private address (RFC 1918)",
	"100.64.0.0/10", "a shared address (CGNAT, 100.64.0.0/10)",
	"127.0.0.0/8", "a loopback address",
	"169.254.0.0/16", "a link-local address (this range includes cloud metadata services)",
	"172.16.0.0/12", "a private address (RFC 1918)",
	"192.0.0.0/24", "an IETF protocol assignment address (192.0.0.0/24)",
	"192.0.2.0/24", "a documentation address (TEST-NET-1)",
	"192.88.99.0/24", "a deprecated 6to4 relay anycast address",
	"192.168.0.0/16", "a private address (RFC 1918)",
	"198.18.0.0/15", "a benchmarking address (198.18.0.0/15)",
	"198.51.100.0/24", "a documentation address (TEST-NET-2)",
	"203.0.113.0/24", "a documentation address (TEST-NET-3)",
	"224.0.0.0/4", "a multicast address",
	"255.255.255.255/32", "the broadcast address",
	"240.0.0.0/4", "a reserved address (240.0.0.0/4)",
)

// v6Rules are the IPv6 ranges refused outright. Ranges that embed an IPv4
// address and are checked through it (IPv4-mapped, NAT64, 6to4) are handled in
// code before these rules; anything outside 2000::/3 that no rule names is
// refused as reserved.
var v6Rules = rules(
	"::/128", "an unspecified address",
	"::1/128", "a loopback address",
	"::/96", "an IPv4-compatible IPv6 address (deprecated)",
	"100::/64", "a discard-only address (100::/64)",
	"2001::/32", "a Teredo address (2001::/32)",
	"2001:2::/48", "a benchmarking address (2001:2::/48)",
	"2001:10::/28", "an ORCHID address (deprecated)",
	"2001:db8::/32", "a documentation address (2001:db8::/32)",
	"3fff::/20", "a documentation address (3fff::/20)",
	"fc00::/7", "a unique local address (fc00::/7)",
	"fe80::/10", "a link-local address",
	"fec0::/10", "a site-local address (deprecated)",
	"ff00::/8", "a multicast address",
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// CheckAddr reports whether addr may be dialled: it returns nil for a globally
// routable address or one inside a prefix of allow, and a [*BlockedError]
// otherwise.
//
// Refused IPv4: unspecified and 0.0.0.0/8, loopback 127/8, RFC 1918, link-local
// 169.254/16, CGNAT 100.64/10, 192.0.0/24, documentation (192.0.2/24,
// 198.51.100/24, 203.0.113/24), benchmarking 198.18/15, the deprecated 6to4
// relay 192.88.99/24, multicast 224/4, reserved 240/4 and broadcast.
//
// Refused IPv6: unspecified, loopback, IPv4-compatible ::/96, discard-only
// 100::/64, Teredo 2001::/32 (its embedded addresses are obfuscated, so it is
// refused whole), benchmarking, ORCHID, documentation (2001:db8::/32,
// 3fff::/20), unique-local fc00::/7, link-local, site-local, multicast, and
// everything else outside global unicast 2000::/3.
//
// IPv6 forms that carry an IPv4 address are judged by that address, because
// that is where the packets end up: IPv4-mapped ::ffff:0:0/96, NAT64
// 64:ff9b::/96, and 6to4 2002::/16 are allowed when the embedded IPv4 is
// allowed and refused when it is not. In the local-use NAT64 prefix
// 64:ff9b:1::/48 the embedding is only recognised in its /96 form (bits 48-95
// zero); any other address there is refused, since its IPv4 cannot be located.
//
// An address with an IPv6 zone is judged without the zone. The allow-list is
// consulted both for addr and for an embedded IPv4 address, so allowing
// 10.0.0.0/8 also allows ::ffff:10.1.2.3.
func CheckAddr(addr netip.Addr, allow []netip.Prefix) error {
	reason, ok := blockReason(addr, allow)
	if ok {
		return nil
	}
	return &BlockedError{Addr: addr, Reason: reason}
}

// blockReason returns ("", true) when addr may be dialled and the reason
// otherwise.
func blockReason(addr netip.Addr, allow []netip.Prefix) (string, bool) {
	if !addr.IsValid() {
		return "not a valid IP address", false
	}
	addr = addr.WithZone("") // Prefix.Contains never matches a zoned address.
	for _, p := range allow {
		if p.Contains(addr) {
			return "", true
		}
	}
	if addr.Is4() {
		for _, r := range v4Rules {
			if r.prefix.Contains(addr) {
				return r.reason, false
			}
		}
		return "", true
	}

	b := addr.As16()
	switch {
	case addr.Is4In6():
		return embedded("an IPv4-mapped IPv6 address", addr.Unmap(), allow)
	case nat64WellKnown.Contains(addr):
		return embedded("a NAT64 address", v4At(b, 12), allow)
	case nat64LocalUse.Contains(addr):
		for _, x := range b[6:12] {
			if x != 0 {
				return "a local-use NAT64 address (64:ff9b:1::/48) whose embedded IPv4 address cannot be located", false
			}
		}
		return embedded("a local-use NAT64 address", v4At(b, 12), allow)
	case sixToFour.Contains(addr):
		return embedded("a 6to4 address", v4At(b, 2), allow)
	}
	for _, r := range v6Rules {
		if r.prefix.Contains(addr) {
			return r.reason, false
		}
	}
	if !globalUnicast6.Contains(addr) {
		return "a reserved IPv6 address (outside global unicast 2000::/3)", false
	}
	return "", true
}

// embedded judges an IPv6 address by the IPv4 address it carries.
func embedded(kind string, v4 netip.Addr, allow []netip.Prefix) (string, bool) {
	reason, ok := blockReason(v4, allow)
	if ok {
		return "", true
	}
	return fmt.Sprintf("%s embedding %s, which is %s", kind, v4, reason), false
}

func v4At(b [16]byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]})
}

// ParseCIDRs parses the comma-separated allow-list of the --allow-cidr flag and
// HERALD_ALLOW_CIDRS, such as "10.0.0.0/8, 127.0.0.1, fd00::/8". A bare address
// stands for itself (/32 or /128). Prefixes are returned masked ("10.1.2.3/8"
// becomes 10.0.0.0/8); blank entries are skipped, so "" yields no prefixes.
// The error names the first entry that is not an address or prefix.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "%") {
			return nil, fmt.Errorf("allow-list entry %q: IPv6 zones are not supported", entry)
		}
		if strings.Contains(entry, "/") {
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("allow-list entry %q is not a CIDR prefix (like 10.0.0.0/8 or fd00::/8)", entry)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("allow-list entry %q is not an IP address or CIDR prefix (like 10.0.0.0/8 or fd00::/8)", entry)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()

	tests := []struct {
		addr    string
		allow   string // comma-separated, for ParseCIDRs
		blocked bool
		reason  string // substring of the reason when blocked
	}{
		// Global addresses.
		{addr: "8.8.8.8"},
		{addr: "1.1.1.1"},
		{addr: "93.184.216.34"},
		{addr: "172.32.0.1"},  // just past 172.16/12
		{addr: "100.128.0.1"}, // just past 100.64/10
		{addr: "2606:4700::1111"},
		{addr: "2a00:1450:4001::200e"},

		// IPv4 non-global.
		{addr: "0.0.0.0", blocked: true, reason: "unspecified"},
		{addr: "0.1.2.3", blocked: true, reason: "this network"},
		{addr: "127.0.0.1", blocked: true, reason: "loopback"},
		{addr: "127.255.255.254", blocked: true, reason: "loopback"},
		{addr: "10.0.0.1", blocked: true, reason: "RFC 1918"},
		{addr: "172.16.0.1", blocked: true, reason: "RFC 1918"},
		{addr: "172.31.255.255", blocked: true, reason: "RFC 1918"},
		{addr: "192.168.1.1", blocked: true, reason: "RFC 1918"},
		{addr: "169.254.169.254", blocked: true, reason: "link-local"},
		{addr: "169.254.0.1", blocked: true, reason: "link-local"},
		{addr: "100.64.0.1", blocked: true, reason: "CGNAT"},
		{addr: "100.127.255.255", blocked: true, reason: "CGNAT"},
		{addr: "192.0.0.8", blocked: true, reason: "IETF protocol"},
		{addr: "192.0.2.1", blocked: true, reason: "documentation"},
		{addr: "198.51.100.7", blocked: true, reason: "documentation"},
		{addr: "203.0.113.9", blocked: true, reason: "documentation"},
		{addr: "198.18.0.1", blocked: true, reason: "benchmarking"},
		{addr: "198.19.255.255", blocked: true, reason: "benchmarking"},
		{addr: "192.88.99.1", blocked: true, reason: "6to4 relay"},
		{addr: "224.0.0.1", blocked: true, reason: "multicast"},
		{addr: "239.255.255.250", blocked: true, reason: "multicast"},
		{addr: "240.0.0.1", blocked: true, reason: "reserved"},
		{addr: "255.255.255.255", blocked: true, reason: "broadcast"},

		// IPv6 non-global.
		{addr: "::", blocked: true, reason: "unspecified"},
		{addr: "::1", blocked: true, reason: "loopback"},
		{addr: "fe80::1", blocked: true, reason: "link-local"},
		{addr: "fe80::1%eth0", blocked: true, reason: "link-local"},
		{addr: "febf::1", blocked: true, reason: "link-local"},
		{addr: "fec0::1", blocked: true, reason: "site-local"},
		{addr: "fc00::1", blocked: true, reason: "unique local"},
		{addr: "fd12:3456::1", blocked: true, reason: "unique local"},
		{addr: "ff02::1", blocked: true, reason: "multicast"},
		{addr: "ff0e::1", blocked: true, reason: "multicast"},
		{addr: "100::1", blocked: true, reason: "discard-only"},
		{addr: "2001:db8::1", blocked: true, reason: "documentation"},
		{addr: "3fff::1", blocked: true, reason: "documentation"},
		{addr: "2001::1", blocked: true, reason: "Teredo"},
		{addr: "2001:0:4136:e378:8000:63bf:3fff:fdd2", blocked: true, reason: "Teredo"},
		{addr: "2001:2::1", blocked: true, reason: "benchmarking"},
		{addr: "2001:10::1", blocked: true, reason: "ORCHID"},
		{addr: "::7f00:1", blocked: true, reason: "IPv4-compatible"},
		{addr: "::808:808", blocked: true, reason: "IPv4-compatible"},
		{addr: "5f00::1", blocked: true, reason: "reserved IPv6"},
		{addr: "4000::1", blocked: true, reason: "reserved IPv6"},

		// IPv4-mapped IPv6: judged by the embedded address.
		{addr: "::ffff:8.8.8.8"},
		{addr: "::ffff:127.0.0.1", blocked: true, reason: "IPv4-mapped IPv6 address embedding 127.0.0.1, which is a loopback"},
		{addr: "::ffff:169.254.169.254", blocked: true, reason: "link-local"},
		{addr: "::ffff:10.1.2.3", blocked: true, reason: "RFC 1918"},
		{addr: "::ffff:0.0.0.0", blocked: true, reason: "unspecified"},

		// 6to4: judged by the embedded address (bits 16-47).
		{addr: "2002:808:808::1"},
		{addr: "2002:7f00:1::1", blocked: true, reason: "6to4 address embedding 127.0.0.1"},
		{addr: "2002:a9fe:a9fe::", blocked: true, reason: "embedding 169.254.169.254"},
		{addr: "2002:c0a8:101::1", blocked: true, reason: "embedding 192.168.1.1"},

		// NAT64 well-known prefix: judged by the last 32 bits.
		{addr: "64:ff9b::808:808"},
		{addr: "64:ff9b::8.8.4.4"},
		{addr: "64:ff9b::7f00:1", blocked: true, reason: "NAT64 address embedding 127.0.0.1"},
		{addr: "64:ff9b::a9fe:a9fe", blocked: true, reason: "embedding 169.254.169.254"},
		{addr: "64:ff9b::a00:1", blocked: true, reason: "embedding 10.0.0.1"},

		// NAT64 local-use prefix: only the /96 embedding is recognised.
		{addr: "64:ff9b:1::808:808"},
		{addr: "64:ff9b:1::a00:1", blocked: true, reason: "local-use NAT64 address embedding 10.0.0.1"},
		{addr: "64:ff9b:1:808:8:800::", blocked: true, reason: "cannot be located"},

		// The allow-list.
		{addr: "127.0.0.1", allow: "127.0.0.0/8"},
		{addr: "127.0.0.1", allow: "127.0.0.1"},
		{addr: "127.0.0.2", allow: "127.0.0.1", blocked: true, reason: "loopback"},
		{addr: "10.20.30.40", allow: "10.0.0.0/8"},
		{addr: "192.168.1.1", allow: "10.0.0.0/8", blocked: true, reason: "RFC 1918"},
		{addr: "169.254.169.254", allow: "169.254.169.254/32"},
		{addr: "::1", allow: "::1"},
		{addr: "::1", allow: "127.0.0.0/8", blocked: true, reason: "loopback"},
		{addr: "fd00::5", allow: "fd00::/8"},
		{addr: "fe80::1%eth0", allow: "fe80::/10"},
		{addr: "::ffff:10.1.2.3", allow: "10.0.0.0/8"},
		{addr: "::ffff:10.1.2.3", allow: "::ffff:10.0.0.0/104"},
		{addr: "2002:a00:1::", allow: "10.0.0.1"},
		{addr: "64:ff9b::a00:1", allow: "10.0.0.0/8"},
		{addr: "127.0.0.1", allow: "::ffff:127.0.0.1", blocked: true, reason: "loopback"},
	}
	for _, tt := range tests {
		name := tt.addr
		if tt.allow != "" {
			name += " allow " + tt.allow
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseCIDRs(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			addr := netip.MustParseAddr(tt.addr)
			err = CheckAddr(addr, allow)
			if !tt.blocked {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want allowed", tt.addr, err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("CheckAddr(%s) = %v, want a *BlockedError", tt.addr, err)
			}
			if be.Addr != addr {
				t.Errorf("BlockedError.Addr = %s, want %s", be.Addr, addr)
			}
			if !strings.Contains(be.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", be.Reason, tt.reason)
			}
		})
	}
}

func TestCheckAddrInvalid(t *testing.T) {
	t.Parallel()
	err := CheckAddr(netip.Addr{}, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")})
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("CheckAddr(zero Addr) = %v, want a *BlockedError", err)
	}
	_ = be.Error() // must not panic
}

func TestBlockedErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *BlockedError
		want string
	}{
		{
			err:  CheckAddr(netip.MustParseAddr("127.0.0.1"), nil).(*BlockedError),
			want: "destination 127.0.0.1 is a loopback address; refused by the SSRF guard (allow it with --allow-cidr / HERALD_ALLOW_CIDRS, e.g. 127.0.0.1/32)",
		},
		{
			err:  &BlockedError{Addr: netip.MustParseAddr("169.254.169.254"), Host: "metadata.test", Reason: "a link-local address"},
			want: "destination metadata.test (169.254.169.254) is a link-local address; refused by the SSRF guard (allow it with --allow-cidr / HERALD_ALLOW_CIDRS, e.g. 169.254.169.254/32)",
		},
		{
			err:  &BlockedError{Addr: netip.MustParseAddr("fe80::1%eth0"), Reason: "a link-local address"},
			want: "destination fe80::1%eth0 is a link-local address; refused by the SSRF guard (allow it with --allow-cidr / HERALD_ALLOW_CIDRS, e.g. fe80::1/128)",
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() =\n  %s\nwant\n  %s", got, tt.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string // substring naming the bad entry
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "127.0.0.1", want: []string{"127.0.0.1/32"}},
		{in: "::1", want: []string{"::1/128"}},
		{in: " 10.0.0.0/8 , fd00::/8,192.168.1.5 ,", want: []string{"10.0.0.0/8", "fd00::/8", "192.168.1.5/32"}},
		{in: "10.0.0.0/8,banana", wantErr: `"banana"`},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33"`},
		{in: "10.0.0/8", wantErr: `"10.0.0/8"`},
		{in: "fe80::1%eth0", wantErr: `"fe80::1%eth0"`},
		{in: "example.com", wantErr: `"example.com"`},
	}
	for _, tt := range tests {
		got, err := ParseCIDRs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCIDRs(%q) error = %v, want one naming %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCIDRs(%q): %v", tt.in, err)
			continue
		}
		var gotS []string
		for _, p := range got {
			gotS = append(gotS, p.String())
		}
		if strings.Join(gotS, " ") != strings.Join(tt.want, " ") {
			t.Errorf("ParseCIDRs(%q) = %v, want %v", tt.in, gotS, tt.want)
		}
	}
}

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8", "127.0.0.1, ::1", "fd00::/8,x", "1.2.3.4/40"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseCIDRs(%q) returned %v, not a valid masked prefix", s, p)
			}
		}
	})
}

func FuzzCheckAddr(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		err := CheckAddr(addr, nil)
		// Whatever an embedded form says, the forbidden families stay
		// forbidden, and an allowed address is a global unicast one.
		if err == nil && (addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
			addr.IsMulticast() || addr.IsUnspecified() || !addr.IsGlobalUnicast()) {
			t.Fatalf("CheckAddr(%s) allowed a non-global address", addr)
		}
		if err == nil && addr.Is4In6() && CheckAddr(addr.Unmap(), nil) != nil {
			t.Fatalf("CheckAddr(%s) allowed a mapped address whose IPv4 is refused", addr)
		}
	})
}

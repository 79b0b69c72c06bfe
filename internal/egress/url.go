package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest endpoint URL, in bytes, that [ValidateURL]
// accepts.
const MaxURLLength = 2048

// ValidateURL checks an endpoint URL when it is created or updated through the
// API. It requires an absolute http or https URL with a host, a port (when
// given) between 1 and 65535, no surrounding white space, and at most
// [MaxURLLength] bytes. The host must be an IP literal or an ASCII DNS name
// (internationalised names in their xn-- form).
//
// User information (https://user:pass@host/) is accepted, as Svix does, and is
// sent as HTTP Basic authentication; a fragment is accepted and, as in every
// HTTP client, never sent.
//
// ValidateURL does no DNS resolution and does not apply the SSRF policy: a
// name can resolve differently by the time a message is sent, so the check
// the [Client] makes on the dialled address is the authoritative one. Callers
// that want to reject a literal private address early can pass it to
// [CheckAddr].
func ValidateURL(raw string) error {
	if raw == "" {
		return errors.New("URL is empty")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("URL is %d bytes long; the limit is %d", len(raw), MaxURLLength)
	}
	if strings.TrimSpace(raw) != raw {
		return errors.New("URL has leading or trailing white space")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL.
		}
		return fmt.Errorf("URL is malformed: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return errors.New("URL must be absolute, starting with https:// or http://")
		}
		return fmt.Errorf("URL scheme %q is not supported; use https or http", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("URL has no host; expected %s://host/path", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("URL port %q is not between 1 and 65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("URL has an empty port")
	}
	return checkHostname(u.Hostname())
}

// checkHostname accepts an IP literal or a DNS name made of ASCII letters,
// digits, hyphens and underscores, with an optional final dot.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("URL has no host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 254 || (len(h) == 254 && !strings.HasSuffix(h, ".")) {
		return fmt.Errorf("URL host is longer than 253 characters")
	}
	name := strings.TrimSuffix(h, ".")
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("URL host %q is not a valid DNS name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return fmt.Errorf("URL host %q is not ASCII; use its xn-- (punycode) form", h)
			default:
				return fmt.Errorf("URL host %q contains %q, which is not allowed in a host name", h, rune(c))
			}
		}
	}
	return nil
}

package egress

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()

	long := "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/"))
	tests := []struct {
		in      string
		wantErr string // substring; empty means valid
	}{
		{in: "https://example.com/webhook"},
		{in: "http://example.com"},
		{in: "HTTPS://Example.COM/Path?q=1"},
		{in: "https://example.com:8443/hooks?token=abc#frag"},
		{in: "https://user:pass@example.com/"},
		{in: "https://my_host.example.com/"},
		{in: "https://example.com./"},
		{in: "https://xn--bcher-kva.example/"},
		{in: "http://127.0.0.1:8080/"}, // API time does not apply the SSRF policy
		{in: "http://[::1]:8080/"},
		{in: "http://[2606:4700::1111]/"},
		{in: long},

		{in: "", wantErr: "empty"},
		{in: long + "a", wantErr: "limit"},
		{in: " https://example.com", wantErr: "white space"},
		{in: "https://example.com\n", wantErr: "white space"},
		{in: "example.com/webhook", wantErr: "absolute"},
		{in: "/webhook", wantErr: "absolute"},
		{in: "ftp://example.com/", wantErr: `"ftp"`},
		{in: "file:///etc/passwd", wantErr: `"file"`},
		{in: "gopher://example.com/", wantErr: `"gopher"`},
		{in: "javascript:alert(1)", wantErr: `"javascript"`},
		{in: "ws://example.com/", wantErr: `"ws"`},
		{in: "http:example.com", wantErr: "no host"},
		{in: "https:///path", wantErr: "no host"},
		{in: "https://:443/", wantErr: "no host"},
		{in: "https://example.com:0/", wantErr: "port"},
		{in: "https://example.com:65536/", wantErr: "port"},
		{in: "https://example.com:/", wantErr: "empty port"},
		{in: "https://example.com:http/", wantErr: "malformed"},
		{in: "https://exa mple.com/", wantErr: "malformed"},
		{in: "https://example..com/", wantErr: "not a valid DNS name"},
		{in: "https://" + strings.Repeat("a", 64) + ".com/", wantErr: "not a valid DNS name"},
		{in: "https://bücher.example/", wantErr: "xn--"},
		{in: "https://exa!mple.com/", wantErr: "not allowed"},
		{in: "https://[::1/", wantErr: "malformed"},
		{in: "https://example.com/\x7f", wantErr: "malformed"},
	}
	for _, tt := range tests {
		err := ValidateURL(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidateURL(%q) = %v, want nil", tt.in, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("ValidateURL(%q) = nil, want an error containing %q", tt.in, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("ValidateURL(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://[::1]:80", "ftp://x", "https://user:pw@h:1/p?q#f", "http:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("ValidateURL(%q) accepted a URL url.Parse rejects: %v", s, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(s) > MaxURLLength {
			t.Fatalf("ValidateURL(%q) accepted scheme %q host %q", s, u.Scheme, u.Hostname())
		}
	})
}

package webhook

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary ids, timestamps, signature headers and bodies
// to VerifyParts. It must never panic, and a header may verify only if it
// contains, as one entry, the real v1 or v1a signature of the message.
func FuzzVerify(f *testing.F) {
	hmacSecret := MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	edSecret := MustParseSecret("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")
	edPublic, err := edSecret.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	const (
		id   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts   = "1614265330"
		body = `{"test": 2432232314}`
		v1   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
		v1a  = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
	)
	for _, sig := range []string{
		v1, v1a, v1 + " " + v1a, "v1a,bad " + v1, "v1,", ",", " ", "v1", "v2," + v1[3:],
		"invalid_signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZ\nlE3uFJELVlNIOLJ1OE=", strings.Repeat("v1,x ", 40) + v1,
	} {
		f.Add(id, ts, sig, []byte(body))
	}
	f.Add(id, "hello", v1, []byte(body))
	f.Add("", ts, v1, []byte(body))
	f.Add(id, "+"+ts, v1, []byte(body))

	v := &Verifier{
		Secrets:   []Secret{hmacSecret, edPublic},
		Tolerance: -1, // Only signatures are under test.
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		err := v.VerifyParts(id, ts, sig, body)
		if err != nil {
			return
		}
		// It verified: the header must hold one of the real signatures,
		// computed independently of the code under test.
		mac := hmacSHA256(hmacSecret.k.hmacKey, []byte(id+"."+ts+"."+string(body)))
		realV1 := "v1," + base64.StdEncoding.EncodeToString(mac)
		realV1a := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(edSecret.k.priv, []byte(id+"."+ts+"."+string(body))))
		found := false
		for _, e := range strings.Split(sig, " ") {
			if e == realV1 || e == realV1a {
				found = true
			}
		}
		if !found {
			t.Fatalf("VerifyParts(%q, %q, %q, %q) verified without the real signature", id, ts, sig, body)
		}
	})
}

// hmacSHA256 is a reference HMAC written from RFC 2104, independent of the
// pooled implementation under test.
func hmacSHA256(key, msg []byte) []byte {
	const blockSize = 64
	if len(key) > blockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var ipad, opad [blockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	inner := sha256.Sum256(append(ipad[:], msg...))
	outer := sha256.Sum256(append(opad[:], inner[:]...))
	return outer[:]
}

func TestReferenceHMAC(t *testing.T) {
	t.Parallel()
	s := MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	want, err := Sign(s, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmacSHA256(s.k.hmacKey, []byte(`msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}`))
	if got := "v1," + base64.StdEncoding.EncodeToString(mac); got != want {
		t.Errorf("reference HMAC = %q, Sign = %q", got, want)
	}
}

func TestEntries(t *testing.T) {
	t.Parallel()
	type entry struct{ version, sig string }
	tests := []struct {
		header string
		want   []entry
	}{
		{"", nil},
		{"   ", nil},
		{"v1,abc", []entry{{"v1", "abc"}}},
		{"v1,abc v1a,def", []entry{{"v1", "abc"}, {"v1a", "def"}}},
		{"  v1,abc   nocomma v2,x,y ", []entry{{"v1", "abc"}, {"v2", "x,y"}}},
		{"v1, ,", []entry{{"v1", ""}, {"", ""}}},
		{strings.Repeat("a,b ", MaxSignatureEntries) + "v1,late", nil}, // Checked by count below.
	}
	for _, tt := range tests {
		var got []entry
		for version, sig := range entries(tt.header) {
			got = append(got, entry{version, sig})
		}
		if strings.Contains(tt.header, "late") {
			if len(got) != MaxSignatureEntries || got[len(got)-1].sig == "late" {
				t.Errorf("entries past MaxSignatureEntries were read: %d entries", len(got))
			}
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("entries(%q) = %q, want %q", tt.header, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("entries(%q) = %q, want %q", tt.header, got, tt.want)
				break
			}
		}
	}
}

func TestDedupSetExpiry(t *testing.T) {
	t.Parallel()
	d := newDedupSet(10)
	t0 := time.Unix(1614265330, 0)
	el, st := d.begin("a", t0, t0.Add(time.Minute))
	if st != stateNew {
		t.Fatalf("first begin: state %d", st)
	}
	if _, st := d.begin("a", t0, t0.Add(time.Minute)); st != stateInFlight {
		t.Errorf("begin while in flight: state %d, want in flight", st)
	}
	d.finish(el, true)
	if _, st := d.begin("a", t0.Add(59*time.Second), t0.Add(2*time.Minute)); st != stateDone {
		t.Errorf("begin after finish: state %d, want done", st)
	}
	el, _ = d.begin("b", t0, t0.Add(time.Hour))
	d.finish(el, true)
	// At t0+1m, "a" expires and is swept; "b" stays.
	if _, st := d.begin("c", t0.Add(time.Minute), t0.Add(time.Hour)); st != stateNew {
		t.Errorf("begin c: state %d", st)
	}
	if n := d.size(); n != 2 {
		t.Errorf("size = %d, want 2 (b, c)", n)
	}
}

package secretbox

import (
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sealed := b.Seal(secret)
	if strings.Contains(sealed, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
		t.Fatal("sealed value contains the secret")
	}
	if b.Seal(secret) == sealed {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := b.Open(sealed)
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := New(make([]byte, KeySize))
	if _, err := other.Open(sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open with another key: err = %v", err)
	}
	for _, bad := range []string{"", "sb1:", "sb1:!!", secret, sealed[:len(sealed)-2]} {
		if _, err := b.Open(bad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(%q) err = %v", bad, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	if _, err := ParseKey("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("short key: err = %v", err)
	}
	if _, err := ParseKey("not base64 at all!"); err == nil {
		t.Error("garbage key accepted")
	}
}

package webhook_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/webhook"
)

func TestSignAll(t *testing.T) {
	t.Parallel()

	secrets := []webhook.Secret{
		webhook.MustParseSecret(vecHMACSecret),
		webhook.MustParseSecret(vecPrivate),
	}
	got, err := webhook.SignAll(secrets, vecID, vecTime, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if want := vecSigV1 + " " + vecSigV1a; got != want {
		t.Errorf("SignAll = %q, want %q", got, want)
	}

	// More secrets than the stack buffer holds.
	many := make([]webhook.Secret, 7)
	for i := range many {
		many[i] = secrets[i%2]
	}
	got, err = webhook.SignAll(many, vecID, vecTime, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(got)); n != 7 {
		t.Errorf("SignAll with 7 secrets gave %d entries", n)
	}

	tests := []struct {
		name    string
		secrets []webhook.Secret
	}{
		{name: "none"},
		{name: "public key", secrets: []webhook.Secret{secrets[0], webhook.MustParseSecret(vecPublic)}},
		{name: "zero Secret", secrets: []webhook.Secret{{}}},
	}
	for _, tt := range tests {
		if _, err := webhook.SignAll(tt.secrets, vecID, vecTime, nil); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("SignAll with %s: %v, want ErrInvalidSecret", tt.name, err)
		}
	}
	if _, err := webhook.Sign(webhook.MustParseSecret(vecPublic), vecID, vecTime, nil); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("Sign with public key: %v, want ErrInvalidSecret", err)
	}
}

func TestSignerSetHeaders(t *testing.T) {
	t.Parallel()

	secret := webhook.MustParseSecret(vecHMACSecret)
	for _, svix := range []bool{false, true} {
		s := &webhook.Signer{Secrets: []webhook.Secret{secret}, SvixHeaders: svix}
		h := http.Header{}
		if err := s.SetHeaders(h, vecID, vecTime, []byte(vecBody)); err != nil {
			t.Fatal(err)
		}
		want := http.Header{
			"Webhook-Id":        {vecID},
			"Webhook-Timestamp": {"1614265330"},
			"Webhook-Signature": {vecSigV1},
		}
		if svix {
			want["Svix-Id"] = want["Webhook-Id"]
			want["Svix-Timestamp"] = want["Webhook-Timestamp"]
			want["Svix-Signature"] = want["Webhook-Signature"]
		}
		if len(h) != len(want) {
			t.Errorf("SvixHeaders %v: got %d headers, want %d: %v", svix, len(h), len(want), h)
		}
		for k, vs := range want {
			if got := h.Get(k); got != vs[0] {
				t.Errorf("SvixHeaders %v: %s = %q, want %q", svix, k, got, vs[0])
			}
		}
		if err := vecVerifier(t, vecHMACSecret).Verify(h, []byte(vecBody)); err != nil {
			t.Errorf("SvixHeaders %v: Verify: %v", svix, err)
		}
		if sig, err := s.Sign(vecID, vecTime, []byte(vecBody)); err != nil || sig != vecSigV1 {
			t.Errorf("Signer.Sign = %q, %v", sig, err)
		}
	}

	h := http.Header{}
	if err := (&webhook.Signer{}).SetHeaders(h, vecID, vecTime, nil); !errors.Is(err, webhook.ErrInvalidSecret) || len(h) != 0 {
		t.Errorf("zero Signer: %v, headers %v; want ErrInvalidSecret and none", err, h)
	}
}

// TestSignConcurrent shares one secret between goroutines, as the delivery
// engine does; run with -race.
func TestSignConcurrent(t *testing.T) {
	t.Parallel()
	secrets := []webhook.Secret{webhook.MustParseSecret(vecHMACSecret), webhook.MustParseSecret(vecPrivate)}
	body := []byte(vecBody)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := webhook.SignAll(secrets, vecID, vecTime, body)
				if err != nil || got != vecSigV1+" "+vecSigV1a {
					t.Errorf("SignAll = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestSignLongID checks that a message id longer than the pooled scratch
// space is handled.
func TestSignLongID(t *testing.T) {
	t.Parallel()
	secret := webhook.MustParseSecret(vecHMACSecret)
	id := strings.Repeat("x", 5000)
	for range 3 {
		sig, err := webhook.Sign(secret, id, vecTime, []byte(vecBody))
		if err != nil {
			t.Fatal(err)
		}
		if err := vecVerifier(t, vecHMACSecret).VerifyParts(id, "1614265330", sig, []byte(vecBody)); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	for _, bb := range []struct {
		name   string
		secret string
	}{
		{"v1", vecHMACSecret},
		{"v1a", vecPrivate},
	} {
		secret := webhook.MustParseSecret(bb.secret)
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := webhook.Sign(secret, vecID, vecTime, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignAll(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	secrets := []webhook.Secret{webhook.MustParseSecret(vecHMACSecret), webhook.MustParseSecret("whsec_" + strings.Repeat("A", 32))}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.SignAll(secrets, vecID, vecTime, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	for _, bb := range []struct {
		name   string
		secret string
		verify string
	}{
		{"v1", vecHMACSecret, vecHMACSecret},
		{"v1a", vecPrivate, vecPublic},
	} {
		sig, err := webhook.Sign(webhook.MustParseSecret(bb.secret), vecID, vecTime, body)
		if err != nil {
			b.Fatal(err)
		}
		v := vecVerifier(b, bb.verify)
		h := http.Header{}
		h.Set(webhook.HeaderID, vecID)
		h.Set(webhook.HeaderTimestamp, "1614265330")
		h.Set(webhook.HeaderSignature, sig)
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

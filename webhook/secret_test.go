package webhook_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/webhook"
)

func TestParseSecret(t *testing.T) {
	t.Parallel()

	key24 := "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes, no padding needed.
	key16 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key15 := base64.StdEncoding.EncodeToString([]byte("0123456789abcde"))
	key20 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghij")) // Padded.
	pubOnly := strings.TrimPrefix(vecPublic, "whpk_")
	privNoPad := strings.TrimRight(vecPrivate, "=")
	// The private key of vector B with its public half from another key.
	privMismatch := vecPrivate[:len("whsk_")+43] + "A" + vecPrivate[len("whsk_")+44:]

	tests := []struct {
		in      string
		version webhook.Version
		encode  string // Canonical form; "" means in itself.
		wantErr bool
	}{
		{in: vecHMACSecret, version: webhook.V1},
		{in: key24, version: webhook.V1, encode: "whsec_" + key24},
		{in: "whsec_" + key16, version: webhook.V1},
		{in: "whsec_" + key20, version: webhook.V1},
		{in: "whsec_" + strings.TrimRight(key20, "="), version: webhook.V1, encode: "whsec_" + key20},
		{in: strings.TrimRight(key20, "="), version: webhook.V1, encode: "whsec_" + key20},
		{in: vecPrivate, version: webhook.V1a},
		{in: privNoPad, version: webhook.V1a, encode: vecPrivate},
		{in: vecPublic, version: webhook.V1a},

		{in: "", wantErr: true},
		{in: "whsec_", wantErr: true},
		{in: "whsec_" + key15, wantErr: true},
		{in: key15, wantErr: true},
		{in: "whsec_not base64!", wantErr: true},
		{in: "whsec_" + base64.URLEncoding.EncodeToString([]byte("0123456789abcdef??>>")), wantErr: true},
		{in: "whsk_", wantErr: true},
		{in: "whsk_" + pubOnly, wantErr: true},
		{in: privMismatch, wantErr: true},
		{in: "whpk_", wantErr: true},
		{in: "whpk_" + key24, wantErr: true},
		{in: "whpk_" + strings.TrimPrefix(vecPrivate, "whsk_"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			s, err := webhook.ParseSecret(tt.in)
			if tt.wantErr {
				if !errors.Is(err, webhook.ErrInvalidSecret) {
					t.Fatalf("ParseSecret = %v, want ErrInvalidSecret", err)
				}
				if payload := tt.in[strings.Index(tt.in, "_")+1:]; len(payload) >= 8 && strings.Contains(err.Error(), payload[:8]) {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret: %v", err)
			}
			if got := s.Version(); got != tt.version {
				t.Errorf("Version = %q, want %q", got, tt.version)
			}
			want := tt.encode
			if want == "" {
				want = tt.in
			}
			if got := s.Encode(); got != want {
				t.Errorf("Encode = %q, want %q", got, want)
			}
		})
	}
}

func TestSecretDoesNotPrintKey(t *testing.T) {
	t.Parallel()
	for _, in := range []string{vecHMACSecret, vecPrivate, vecPublic} {
		s := webhook.MustParseSecret(in)
		payload := in[strings.Index(in, "_")+1:][:8]
		type wrapper struct{ S webhook.Secret }
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			for _, arg := range []any{s, &s, wrapper{s}, []webhook.Secret{s}} {
				if out := fmt.Sprintf(verb, arg); strings.Contains(out, payload) {
					t.Errorf("Sprintf(%q, %T) = %q reveals the key", verb, arg, out)
				}
			}
		}
		if got, want := s.String(), in[:strings.Index(in, "_")+1]+"…(redacted)"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
	}
	var zero webhook.Secret
	if !zero.IsZero() || zero.String() == "" || zero.Encode() != "" || zero.CanSign() {
		t.Errorf("zero Secret: IsZero %v, String %q, Encode %q, CanSign %v", zero.IsZero(), zero, zero.Encode(), zero.CanSign())
	}
}

func TestSecretPublicKey(t *testing.T) {
	t.Parallel()

	priv := webhook.MustParseSecret(vecPrivate)
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.Encode(); got != vecPublic {
		t.Errorf("PublicKey().Encode() = %q, want %q", got, vecPublic)
	}
	if !priv.CanSign() || pub.CanSign() {
		t.Errorf("CanSign: private %v, public %v; want true, false", priv.CanSign(), pub.CanSign())
	}
	again, err := pub.PublicKey()
	if err != nil || again.Encode() != vecPublic {
		t.Errorf("PublicKey of a public key = %v, %v", again.Encode(), err)
	}
	if _, err := webhook.MustParseSecret(vecHMACSecret).PublicKey(); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("PublicKey of HMAC secret: %v, want ErrInvalidSecret", err)
	}
	if _, err := (webhook.Secret{}).PublicKey(); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("PublicKey of zero Secret: %v, want ErrInvalidSecret", err)
	}
}

func TestNewSecrets(t *testing.T) {
	t.Parallel()

	h1, err := webhook.NewHMACSecret()
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := webhook.NewHMACSecret()
	if h1 == h2 {
		t.Error("two NewHMACSecret calls returned the same secret")
	}
	if !strings.HasPrefix(h1, "whsec_") || len(h1) != len("whsec_")+32 {
		t.Errorf("NewHMACSecret = %d chars %q..., want whsec_ and 32 base64 chars", len(h1), h1[:6])
	}
	s := webhook.MustParseSecret(h1)
	if s.Encode() != h1 || s.Version() != webhook.V1 {
		t.Errorf("parsed NewHMACSecret: Encode round trip %v, Version %q", s.Encode() == h1, s.Version())
	}

	priv, pub, err := webhook.NewEd25519Secret()
	if err != nil {
		t.Fatal(err)
	}
	ps := webhook.MustParseSecret(priv)
	derived, err := ps.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if derived.Encode() != pub {
		t.Error("public key of NewEd25519Secret's private key differs from its public key")
	}
	sig, err := webhook.Sign(ps, vecID, vecTime, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	v := vecVerifier(t, pub)
	if err := v.VerifyParts(vecID, "1614265330", sig, []byte(vecBody)); err != nil {
		t.Errorf("verify with new public key: %v", err)
	}
}

func TestMustParseSecretPanics(t *testing.T) {
	t.Parallel()
	const bad = "whsec_c2hvcnQ=" // "short"
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		if msg := fmt.Sprint(r); strings.Contains(msg, "c2hvcnQ") {
			t.Errorf("panic %q reveals the secret", msg)
		}
	}()
	webhook.MustParseSecret(bad)
}

package webhook_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The vectors of ../shared/reference/webhook-facts.md.
const (
	vecHMACSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecPrivate    = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	vecPublic     = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	vecID         = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTimestamp  = 1614265330
	vecBody       = `{"test": 2432232314}`
	vecSigV1      = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vecSigV1a     = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)

var vecTime = time.Unix(vecTimestamp, 0)

// vecVerifier returns a verifier whose clock reads the vectors' timestamp.
func vecVerifier(t testing.TB, secrets ...string) *webhook.Verifier {
	t.Helper()
	v := &webhook.Verifier{Now: func() time.Time { return vecTime }}
	for _, s := range secrets {
		sec, err := webhook.ParseSecret(s)
		if err != nil {
			t.Fatalf("ParseSecret: %v", err)
		}
		v.Secrets = append(v.Secrets, sec)
	}
	return v
}

func TestVectors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		secret string // Signs, and verifies.
		verify string // Also verifies, if set.
		body   []byte
		want   string
	}{
		{name: "A v1", secret: vecHMACSecret, body: []byte(vecBody), want: vecSigV1},
		{name: "B v1a", secret: vecPrivate, verify: vecPublic, body: []byte(vecBody), want: vecSigV1a},
		{name: "C N=1048576", secret: vecHMACSecret, body: bytes.Repeat([]byte("a"), 1048576), want: "v1,txpEUxqWZJ5nteTnymUVa+7C4NHpBeXJ6CsBAW0c3/A="},
		{name: "C N=262144", secret: vecHMACSecret, body: bytes.Repeat([]byte("a"), 262144), want: "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0="},
		{name: "C N=262143", secret: vecHMACSecret, body: bytes.Repeat([]byte("a"), 262143), want: "v1,NTItnqyWMoFhk2Bbe5V/BMdcFRWgcSQaTgqLHX7FC7c="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := webhook.MustParseSecret(tt.secret)

			got, err := webhook.Sign(secret, vecID, vecTime, tt.body)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got != tt.want {
				t.Errorf("Sign = %q, want %q", got, tt.want)
			}
			// Signing is deterministic for both versions.
			if again, _ := webhook.Sign(secret, vecID, vecTime, tt.body); again != got {
				t.Errorf("second Sign = %q, want %q", again, got)
			}

			verifiers := []string{tt.secret}
			if tt.verify != "" {
				verifiers = append(verifiers, tt.verify)
			}
			for _, s := range verifiers {
				v := vecVerifier(t, s)
				if err := v.VerifyParts(vecID, strconv.Itoa(vecTimestamp), tt.want, tt.body); err != nil {
					t.Errorf("VerifyParts with %s: %v", webhook.MustParseSecret(s), err)
				}
				// One byte changed must fail.
				tampered := bytes.Clone(tt.body)
				tampered[len(tampered)-1] ^= 1
				if err := v.VerifyParts(vecID, strconv.Itoa(vecTimestamp), tt.want, tampered); !errors.Is(err, webhook.ErrNoMatchingSignature) {
					t.Errorf("VerifyParts of tampered body with %s = %v, want ErrNoMatchingSignature", webhook.MustParseSecret(s), err)
				}
			}
		})
	}
}

// TestMustFailMustPass covers the "must fail" and "must pass" lists of the
// reference facts, with a clock at the vectors' timestamp.
func TestMustFailMustPass(t *testing.T) {
	t.Parallel()

	secret := webhook.MustParseSecret(vecHMACSecret)
	signAt := func(ts int64) string {
		sig, err := webhook.Sign(secret, vecID, time.Unix(ts, 0), []byte(vecBody))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	ts := strconv.Itoa(vecTimestamp)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		if id != "" {
			h.Set("webhook-id", id)
		}
		if ts != "" {
			h.Set("webhook-timestamp", ts)
		}
		if sig != "" {
			h.Set("webhook-signature", sig)
		}
		return h
	}
	const tol = 5 * 60

	tests := []struct {
		name   string
		header http.Header
		secret string // Default vecHMACSecret.
		want   error
	}{
		// Must fail.
		{name: "missing id", header: headers("", ts, vecSigV1), want: webhook.ErrMissingHeaders},
		{name: "missing timestamp", header: headers(vecID, "", vecSigV1), want: webhook.ErrMissingHeaders},
		{name: "missing signature", header: headers(vecID, ts, ""), want: webhook.ErrMissingHeaders},
		{name: "no headers", header: http.Header{}, want: webhook.ErrMissingHeaders},
		{name: "blank signature", header: headers(vecID, ts, "   "), want: webhook.ErrMissingHeaders},
		{name: "wrong signature", header: headers(vecID, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="), want: webhook.ErrNoMatchingSignature},
		{name: "v1, alone", header: headers(vecID, ts, "v1,"), want: webhook.ErrNoMatchingSignature},
		{name: "right signature under v2", header: headers(vecID, ts, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), want: webhook.ErrNoMatchingSignature},
		{name: "no comma", header: headers(vecID, ts, "invalid_signature"), want: webhook.ErrNoMatchingSignature},
		{name: "right signature without version", header: headers(vecID, ts, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), want: webhook.ErrNoMatchingSignature},
		{name: "unpadded signature", header: headers(vecID, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), want: webhook.ErrNoMatchingSignature},
		{name: "timestamp hello", header: headers(vecID, "hello", vecSigV1), want: webhook.ErrInvalidTimestamp},
		{name: "timestamp float", header: headers(vecID, ts+".5", vecSigV1), want: webhook.ErrInvalidTimestamp},
		{name: "timestamp too old", header: headers(vecID, strconv.Itoa(vecTimestamp-tol-1), signAt(vecTimestamp-tol-1)), want: webhook.ErrTimestampTooOld},
		{name: "timestamp too new", header: headers(vecID, strconv.Itoa(vecTimestamp+tol+1), signAt(vecTimestamp+tol+1)), want: webhook.ErrTimestampTooNew},
		{name: "timestamp min int64", header: headers(vecID, "-9223372036854775808", vecSigV1), want: webhook.ErrTimestampTooOld},
		{name: "timestamp max int64", header: headers(vecID, "9223372036854775807", vecSigV1), want: webhook.ErrTimestampTooNew},
		{name: "other id", header: headers("msg_other", ts, vecSigV1), want: webhook.ErrNoMatchingSignature},
		{name: "other timestamp spelling", header: headers(vecID, "0"+ts, vecSigV1), want: webhook.ErrNoMatchingSignature},
		{name: "v1 signature checked by ed25519 key", header: headers(vecID, ts, vecSigV1), secret: vecPublic, want: webhook.ErrNoMatchingSignature},
		{name: "v1a signature checked by HMAC key", header: headers(vecID, ts, vecSigV1a), want: webhook.ErrNoMatchingSignature},
		{name: "v1a signature under v1", header: headers(vecID, ts, "v1"+vecSigV1a[3:]), secret: vecPublic, want: webhook.ErrNoMatchingSignature},

		// Must pass.
		{name: "valid", header: headers(vecID, ts, vecSigV1)},
		{name: "oldest accepted", header: headers(vecID, strconv.Itoa(vecTimestamp-tol), signAt(vecTimestamp-tol))},
		{name: "newest accepted", header: headers(vecID, strconv.Itoa(vecTimestamp+tol), signAt(vecTimestamp+tol))},
		{name: "several entries, one valid", header: headers(vecID, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc invalid "+vecSigV1+" v1a,xyz")},
		{name: "extra spaces", header: headers(vecID, ts, "  v1,bad   "+vecSigV1+"  ")},
		{name: "secret without whsec_", header: headers(vecID, ts, vecSigV1), secret: vecHMACSecret[len("whsec_"):]},
		{name: "v1a with public key", header: headers(vecID, ts, vecSigV1a), secret: vecPublic},
		{name: "v1a with private key", header: headers(vecID, ts, vecSigV1a), secret: vecPrivate},
		{name: "v1 and v1a, public key", header: headers(vecID, ts, vecSigV1+" "+vecSigV1a), secret: vecPublic},
		{name: "mixed-case names", header: http.Header{
			"WEBHOOK-ID":        {vecID},
			"Webhook-TIMESTAMP": {ts},
			"webhook-Signature": {vecSigV1},
		}},
		{name: "lowercase names", header: http.Header{
			"webhook-id":        {vecID},
			"webhook-timestamp": {ts},
			"webhook-signature": {vecSigV1},
		}},
		{name: "svix names", header: http.Header{
			"Svix-Id":        {vecID},
			"Svix-Timestamp": {ts},
			"Svix-Signature": {vecSigV1},
		}},
		{name: "lowercase svix names", header: http.Header{
			"svix-id":        {vecID},
			"svix-timestamp": {ts},
			"svix-signature": {vecSigV1},
		}},
		{name: "signature in two header lines", header: http.Header{
			"Webhook-Id":        {vecID},
			"Webhook-Timestamp": {ts},
			"Webhook-Signature": {"v1,bad", vecSigV1},
		}},

		// The webhook-* set wins and is never mixed with svix-*.
		{name: "webhook set preferred", header: http.Header{
			"Webhook-Id":        {vecID},
			"Webhook-Timestamp": {ts},
			"Webhook-Signature": {vecSigV1},
			"Svix-Id":           {"msg_other"},
			"Svix-Timestamp":    {"hello"},
			"Svix-Signature":    {"v1,bad"},
		}},
		{name: "sets not mixed", header: http.Header{
			"Webhook-Id":        {vecID},
			"Webhook-Timestamp": {ts},
			"Svix-Signature":    {vecSigV1},
		}, want: webhook.ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.secret
			if s == "" {
				s = vecHMACSecret
			}
			v := vecVerifier(t, s)
			err := v.Verify(tt.header, []byte(vecBody))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), vecSigV1[3:13]) {
				t.Errorf("error %q reveals the signature", err)
			}
		})
	}
}

func TestMustFailSecrets(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "whsk_", "whpk_"} {
		if _, err := webhook.ParseSecret(s); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrInvalidSecret", s, err)
		}
	}
}

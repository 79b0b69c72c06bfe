package api

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/heraldhq/herald/webhook"
)

const (
	minHMACSecretBytes = 24
	maxHMACSecretBytes = 64
)

// parseEndpointSecret validates a secret given by a user and returns its
// canonical form: "whsec_" + base64 of 24..64 bytes (the prefix is optional
// on input), or a "whsk_" ed25519 signing key.
func parseEndpointSecret(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "whsk_"):
		sec, err := webhook.ParseSecret(s)
		if err != nil || !sec.CanSign() {
			return "", errors.New("not a valid whsk_ ed25519 signing key")
		}
		return sec.Encode(), nil
	case strings.HasPrefix(s, "whpk_"):
		return "", errors.New("a whpk_ public key cannot sign; give the whsk_ signing key")
	}
	raw := strings.TrimPrefix(s, "whsec_")
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(raw, "="))
	}
	if err != nil {
		return "", errors.New("secret must be whsec_ followed by base64")
	}
	if len(b) < minHMACSecretBytes || len(b) > maxHMACSecretBytes {
		return "", errors.New("secret must decode to between 24 and 64 bytes")
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// newEndpointSecret generates a secret: HMAC (whsec_, 24 random bytes) or
// ed25519 (whsk_).
func newEndpointSecret(ed25519 bool) string {
	if ed25519 {
		priv, _, err := webhook.NewEd25519Secret()
		if err != nil {
			panic("api: generate ed25519 key: " + err.Error())
		}
		return priv
	}
	s, err := webhook.NewHMACSecret()
	if err != nil {
		panic("api: generate secret: " + err.Error())
	}
	return s
}

func isEd25519Secret(s string) bool { return strings.HasPrefix(s, "whsk_") }

// publicSecret is what the API shows of a secret: an HMAC secret itself, the
// public key of an ed25519 signing key.
func publicSecret(s string) string {
	if !isEd25519Secret(s) {
		return s
	}
	sec, err := webhook.ParseSecret(s)
	if err != nil {
		return ""
	}
	pub, err := sec.PublicKey()
	if err != nil {
		return ""
	}
	return pub.Encode()
}

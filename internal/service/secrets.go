package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/webhook"
)

const (
	minHMACSecretBytes = 24
	maxHMACSecretBytes = 64
)

// ParseSecret validates a secret given by a user and returns its
// canonical form: "whsec_" + base64 of 24..64 bytes (the prefix is optional
// on input), or a "whsk_" ed25519 signing key.
func ParseSecret(s string) (string, error) {
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

// NewSecret generates a secret: HMAC (whsec_, 24 random bytes) or
// ed25519 (whsk_).
func NewSecret(ed25519 bool) string {
	if ed25519 {
		priv, _, err := webhook.NewEd25519Secret()
		if err != nil {
			panic("service: generate ed25519 key: " + err.Error())
		}
		return priv
	}
	s, err := webhook.NewHMACSecret()
	if err != nil {
		panic("service: generate secret: " + err.Error())
	}
	return s
}

func isEd25519Secret(s string) bool { return strings.HasPrefix(s, "whsk_") }

// PublicSecret is what the API shows of a secret: an HMAC secret itself, the
// public key of an ed25519 signing key.
func PublicSecret(s string) string {
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

const (
	maxOldSecrets      = 10
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 7 * 24 * time.Hour
)

// OpenSecret returns the secret of an endpoint as stored (sealed).
func (s *Service) OpenSecret(sealed string) (string, error) {
	secret, err := s.box.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("open endpoint secret: %w", err)
	}
	return secret, nil
}

// EndpointSecret is what a caller is shown of an endpoint's secret: an HMAC
// secret itself, the public key of an ed25519 signing key.
func (s *Service) EndpointSecret(ep *store.Endpoint) (string, error) {
	secret, err := s.OpenSecret(ep.Secret)
	if err != nil {
		return "", err
	}
	return PublicSecret(secret), nil
}

// RotateIn is the body of a secret rotation.
type RotateIn struct {
	Key         Opt[string] `json:"key"`
	GracePeriod Opt[int64]  `json:"gracePeriodSeconds"`
}

// ValidateRotate checks a rotation and returns the new key ("" to generate
// one) and how long the current key keeps signing.
func ValidateRotate(in *RotateIn) (newKey string, grace time.Duration, err error) {
	var v Validator
	grace = defaultGracePeriod
	if n, ok := in.GracePeriod.Value(); ok {
		grace = v.Duration("gracePeriodSeconds", n, 0, int64(maxGracePeriod/time.Second), time.Second, "seconds")
	}
	if k, ok := in.Key.Value(); ok {
		parsed, err := ParseSecret(k)
		if err != nil {
			v.Body("key", err.Error(), "value_error")
		}
		newKey = parsed
	}
	return newKey, grace, v.Err()
}

// RotateSecret gives ep a new secret (newKey, or a generated one of the
// same kind as the current one); the current secret keeps signing for
// grace beside it. At most 10 old secrets sign at once.
func (s *Service) RotateSecret(ctx context.Context, ep *store.Endpoint, newKey string, grace time.Duration) error {
	now := s.Now()
	old := ep.OldSecrets[:0:0]
	for _, o := range ep.OldSecrets {
		if o.ExpiresAt.After(now) {
			old = append(old, o)
		}
	}
	if grace > 0 {
		if len(old) >= maxOldSecrets {
			next := old[0].ExpiresAt
			for _, o := range old {
				if o.ExpiresAt.Before(next) {
					next = o.ExpiresAt
				}
			}
			return &Error{Status: http.StatusBadRequest, Code: "limit_reached", Detail: fmt.Sprintf(
				"You can only rotate a key %d times; please wait for old keys to expire. Your next key expires at %s.",
				maxOldSecrets, next.Format(time.RFC3339))}
		}
		old = append([]store.OldSecret{{Secret: ep.Secret, ExpiresAt: now.Add(grace)}}, old...)
	}
	if newKey == "" {
		current, err := s.OpenSecret(ep.Secret)
		if err != nil {
			return err
		}
		newKey = NewSecret(isEd25519Secret(current))
	}
	sealed := s.box.Seal(newKey)
	_, err := s.SaveEndpoint(ctx, ep, store.UpdateEndpointParams{Secret: &sealed, OldSecrets: &old})
	return err
}

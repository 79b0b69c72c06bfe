package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Version is the version tag of a signature entry in the webhook-signature
// header, which names its signature scheme.
type Version string

// The signature versions of the Standard Webhooks specification.
const (
	// V1 is HMAC-SHA256 with a shared secret (whsec_ keys).
	V1 Version = "v1"
	// V1a is ed25519 (whsk_ private keys sign, whpk_ public keys verify).
	V1a Version = "v1a"
)

// Key prefixes of the encoded secrets.
const (
	prefixHMAC    = "whsec_"
	prefixPrivate = "whsk_"
	prefixPublic  = "whpk_"
)

// MinHMACKeySize is the smallest decoded HMAC key, in bytes, that
// ParseSecret accepts. Keys made by NewHMACSecret are 24 bytes.
const MinHMACKeySize = 16

// hmacKeySize is the number of random bytes in a key made by NewHMACSecret.
const hmacKeySize = 24

// ErrInvalidSecret is returned when a secret cannot be parsed or cannot be
// used for the requested operation (for example signing with a public key).
// Errors wrapping it never contain key material.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// Secret is a parsed signing key: an HMAC key (whsec_, signature version
// v1), an ed25519 private key (whsk_, v1a, signs and verifies) or an
// ed25519 public key (whpk_, v1a, verifies only).
//
// The zero Secret is invalid: signing with it fails and it verifies
// nothing. A Secret is immutable and safe for concurrent use; copies share
// their key material. Its String method never reveals the key; use Encode
// to get the secret itself.
type Secret struct {
	k *key
}

// key is the shared, immutable state of a Secret.
type key struct {
	version Version

	hmacKey []byte    // V1 only.
	macs    sync.Pool // V1 only: *macState keyed with hmacKey.

	priv ed25519.PrivateKey // V1a signing keys only; nil for whpk_ keys.
	pub  ed25519.PublicKey  // V1a only.
}

// macState is a reusable HMAC-SHA256 state for one key, with scratch space
// so that computing a signature allocates nothing.
type macState struct {
	h      hash.Hash
	prefix []byte // id "." timestamp "."
	sum    [sha256.Size]byte
}

// maxPooledPrefix bounds the scratch buffer a pooled macState keeps, so that
// one very long message id does not pin memory.
const maxPooledPrefix = 1 << 10

func newHMACKey(k []byte) *key {
	kk := &key{version: V1, hmacKey: k}
	kk.macs.New = func() any {
		return &macState{h: hmac.New(sha256.New, kk.hmacKey)}
	}
	return kk
}

func newPrivateKey(priv ed25519.PrivateKey) *key {
	return &key{version: V1a, priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

func newPublicKey(pub ed25519.PublicKey) *key {
	return &key{version: V1a, pub: pub}
}

// ParseSecret parses an encoded secret:
//
//   - "whsec_" followed by base64 of an HMAC key (v1). The prefix is
//     optional, as in the Svix libraries: a string without a known prefix is
//     taken as the base64 of an HMAC key. The decoded key must be at least
//     MinHMACKeySize bytes.
//   - "whsk_" followed by base64 of a 32-byte ed25519 seed and its 32-byte
//     public key (v1a). The public key must match the seed.
//   - "whpk_" followed by base64 of a 32-byte ed25519 public key (v1a,
//     verify only).
//
// The base64 is the standard alphabet, with or without padding. Errors wrap
// ErrInvalidSecret and never contain the secret.
func ParseSecret(s string) (Secret, error) {
	switch {
	case strings.HasPrefix(s, prefixPrivate):
		b, err := decodeKey(s[len(prefixPrivate):])
		if err != nil {
			return Secret{}, err
		}
		if len(b) != ed25519.PrivateKeySize {
			return Secret{}, fmt.Errorf("%w: whsk_ key is %d bytes, want %d", ErrInvalidSecret, len(b), ed25519.PrivateKeySize)
		}
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], b[ed25519.SeedSize:]) != 1 {
			return Secret{}, fmt.Errorf("%w: whsk_ public half does not match its seed", ErrInvalidSecret)
		}
		return Secret{newPrivateKey(priv)}, nil

	case strings.HasPrefix(s, prefixPublic):
		b, err := decodeKey(s[len(prefixPublic):])
		if err != nil {
			return Secret{}, err
		}
		if len(b) != ed25519.PublicKeySize {
			return Secret{}, fmt.Errorf("%w: whpk_ key is %d bytes, want %d", ErrInvalidSecret, len(b), ed25519.PublicKeySize)
		}
		return Secret{newPublicKey(b)}, nil

	default:
		b, err := decodeKey(strings.TrimPrefix(s, prefixHMAC))
		if err != nil {
			return Secret{}, err
		}
		if len(b) < MinHMACKeySize {
			return Secret{}, fmt.Errorf("%w: HMAC key is %d bytes, want at least %d", ErrInvalidSecret, len(b), MinHMACKeySize)
		}
		return Secret{newHMACKey(b)}, nil
	}
}

// MustParseSecret is like ParseSecret but panics if s cannot be parsed. It
// is meant for secrets known at program start. The panic message does not
// contain the secret.
func MustParseSecret(s string) Secret {
	sec, err := ParseSecret(s)
	if err != nil {
		panic("webhook: MustParseSecret: " + err.Error())
	}
	return sec
}

// decodeKey decodes standard base64 with or without padding.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty key", ErrInvalidSecret)
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(s, "=") {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		// The decoder's error names only an offset; keep our own wording so
		// that no part of the key can ever end up in a message.
		return nil, fmt.Errorf("%w: key is not valid base64", ErrInvalidSecret)
	}
	return b, nil
}

// NewHMACSecret returns a new random HMAC secret for signature version v1:
// "whsec_" followed by the base64 of 24 bytes from crypto/rand.
func NewHMACSecret() (string, error) {
	b := make([]byte, hmacKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate HMAC secret: %w", err)
	}
	return prefixHMAC + base64.StdEncoding.EncodeToString(b), nil
}

// NewEd25519Secret returns a new random ed25519 key pair for signature
// version v1a: the private key ("whsk_...") that signs and the public key
// ("whpk_...") that receivers verify with.
func NewEd25519Secret() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	return prefixPrivate + base64.StdEncoding.EncodeToString(priv),
		prefixPublic + base64.StdEncoding.EncodeToString(pub), nil
}

// Version returns the signature version the secret produces or verifies:
// V1 for HMAC secrets, V1a for ed25519 keys, or "" for the zero Secret.
func (s Secret) Version() Version {
	if s.k == nil {
		return ""
	}
	return s.k.version
}

// CanSign reports whether the secret can sign: true for HMAC secrets and
// ed25519 private keys, false for ed25519 public keys and the zero Secret.
func (s Secret) CanSign() bool {
	return s.k != nil && (s.k.version == V1 || s.k.priv != nil)
}

// IsZero reports whether s is the zero Secret.
func (s Secret) IsZero() bool {
	return s.k == nil
}

// PublicKey returns the verify-only public key (whpk_) of an ed25519 key.
// For a public key it returns s itself. HMAC secrets and the zero Secret have
// no public key; the error wraps ErrInvalidSecret.
func (s Secret) PublicKey() (Secret, error) {
	switch {
	case s.k == nil:
		return Secret{}, fmt.Errorf("%w: zero Secret", ErrInvalidSecret)
	case s.k.version != V1a:
		return Secret{}, fmt.Errorf("%w: HMAC secrets have no public key", ErrInvalidSecret)
	case s.k.priv == nil:
		return s, nil
	default:
		return Secret{newPublicKey(s.k.pub)}, nil
	}
}

// Encode returns the canonical encoding of the secret, with its prefix and
// padded standard base64: "whsec_...", "whsk_..." or "whpk_...". It returns
// "" for the zero Secret. The result is key material: do not log it.
func (s Secret) Encode() string {
	switch {
	case s.k == nil:
		return ""
	case s.k.version == V1:
		return prefixHMAC + base64.StdEncoding.EncodeToString(s.k.hmacKey)
	case s.k.priv != nil:
		return prefixPrivate + base64.StdEncoding.EncodeToString(s.k.priv)
	default:
		return prefixPublic + base64.StdEncoding.EncodeToString(s.k.pub)
	}
}

// String returns the kind of the secret without any key material, such as
// "whsec_…(redacted)", so that a Secret can be logged or printed safely.
func (s Secret) String() string {
	switch {
	case s.k == nil:
		return "webhook.Secret(zero)"
	case s.k.version == V1:
		return prefixHMAC + "…(redacted)"
	case s.k.priv != nil:
		return prefixPrivate + "…(redacted)"
	default:
		return prefixPublic + "…(redacted)"
	}
}

// GoString is like String, so that the %#v verb does not print key
// material either.
func (s Secret) GoString() string {
	return s.String()
}

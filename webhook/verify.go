package webhook

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a message's timestamp may be from the
// verifier's clock, in either direction, when Verifier.Tolerance is zero. It
// is the value every reference library uses.
const DefaultTolerance = 5 * time.Minute

// MaxSignatureEntries is the number of entries of a webhook-signature header
// that are examined; later entries are ignored. Senders send one entry per
// active key, so real headers have one to three. The bound keeps a forged
// header from costing a receiver many ed25519 verifications.
const MaxSignatureEntries = 32

// Errors returned by verification. Callers can tell them apart with
// errors.Is. None of them, nor any error wrapping them, contains a signature
// or key material, so they are safe to log and to return to the sender.
var (
	// ErrMissingHeaders means the id, timestamp or signature header is
	// absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")

	// ErrInvalidTimestamp means the timestamp header is not an integer
	// number of unix seconds.
	ErrInvalidTimestamp = errors.New("webhook: invalid timestamp")

	// ErrTimestampTooOld means the timestamp is further in the past than
	// the verifier's tolerance: the message may be a replay.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")

	// ErrTimestampTooNew means the timestamp is further in the future than
	// the verifier's tolerance.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")

	// ErrNoMatchingSignature means no entry of the signature header is a
	// valid signature of the message under any of the verifier's secrets.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
)

// Verifier checks the signatures of incoming webhooks. Create one with
// NewVerifier or as a struct literal; it is safe for concurrent use as long
// as its fields are not modified.
type Verifier struct {
	// Secrets are the keys a message may be signed with: HMAC secrets
	// (whsec_) for v1 entries and ed25519 keys (whsk_ or whpk_) for v1a
	// entries. A message passes if any one entry of its signature header
	// verifies under any one secret. With none, every message fails with an
	// error wrapping ErrInvalidSecret.
	Secrets []Secret

	// Tolerance is how far the message timestamp may be from Now, in
	// either direction. Zero means DefaultTolerance (5 minutes). A negative
	// value disables the check, which allows replays: use it only to verify
	// stored messages.
	Tolerance time.Duration

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// NewVerifier returns a Verifier accepting signatures by any of secrets,
// with the default tolerance and the system clock.
func NewVerifier(secrets ...Secret) *Verifier {
	return &Verifier{Secrets: secrets}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) tolerance() time.Duration {
	if v.Tolerance == 0 {
		return DefaultTolerance
	}
	return v.Tolerance
}

// Verify checks the webhook headers of a request against its raw body,
// which must be the exact bytes received (do not re-encode JSON before
// verifying). It returns nil if the message is authentic and recent.
//
// It reads webhook-id, webhook-timestamp and webhook-signature, the
// Standard Webhooks names, and falls back to svix-id, svix-timestamp and
// svix-signature only when none of the webhook-* headers is present; the
// two sets are never mixed. Header names are matched case-insensitively, so
// hand-built maps with lowercase keys work too. Several signature header
// values are treated as one space-separated list.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	_, _, err := v.verifyHeader(h, body)
	return err
}

// verifyHeader is Verify returning the message id and timestamp too.
func (v *Verifier) verifyHeader(h http.Header, body []byte) (id string, ts int64, err error) {
	id, tsRaw, sig := headerValues(h)
	ts, err = v.verifyParts(id, tsRaw, sig, body)
	return id, ts, err
}

// VerifyParts is Verify with the three header values passed directly: the
// message id, the timestamp in unix seconds as sent, and the signature
// header, a space-separated list of "<version>,<base64>" entries.
//
// The timestamp is checked first. Then each entry is tried: entries with an
// unknown version, or without a comma, are skipped; v1 entries are compared
// in constant time with the HMAC-SHA256 of each HMAC secret; v1a entries are
// checked with ed25519 against each ed25519 key. The base64 must be padded
// standard base64, as every sender produces.
func (v *Verifier) VerifyParts(id, timestamp, signatures string, body []byte) error {
	_, err := v.verifyParts(id, timestamp, signatures, body)
	return err
}

func (v *Verifier) verifyParts(id, timestamp, signatures string, body []byte) (int64, error) {
	if id == "" || timestamp == "" || strings.TrimSpace(signatures) == "" {
		return 0, ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, ErrInvalidTimestamp
	}
	if tol := v.tolerance(); tol > 0 {
		now := v.now().Unix()
		tolSec := int64(tol / time.Second)
		// Written so that no extreme timestamp can overflow.
		switch {
		case ts < now-tolSec:
			return ts, ErrTimestampTooOld
		case ts > now+tolSec:
			return ts, ErrTimestampTooNew
		}
	}
	if len(v.Secrets) == 0 {
		return ts, fmt.Errorf("%w: verifier has no secrets", ErrInvalidSecret)
	}
	if verifySignatures(v.Secrets, id, timestamp, signatures, body) {
		return ts, nil
	}
	return ts, ErrNoMatchingSignature
}

// verifySignatures reports whether any entry of header is a valid signature
// of id "." ts "." body under any secret.
func verifySignatures(secrets []Secret, id, ts, header string, body []byte) bool {
	var content *[]byte // Built on first use, for v1a only.
	defer func() {
		if content != nil {
			releaseContent(content)
		}
	}()
	for _, s := range secrets {
		k := s.k
		if k == nil {
			continue
		}
		switch k.version {
		case V1:
			var sum [sha256.Size]byte
			k.mac(&sum, id, ts, body)
			var want [v1Base64Len]byte
			base64.StdEncoding.Encode(want[:], sum[:])
			for version, sig := range entries(header) {
				if version != string(V1) || len(sig) != v1Base64Len {
					continue
				}
				var got [v1Base64Len]byte
				copy(got[:], sig)
				if hmac.Equal(got[:], want[:]) {
					return true
				}
			}
		case V1a:
			for version, sig := range entries(header) {
				if version != string(V1a) {
					continue
				}
				raw, ok := decodeEd25519Signature(sig)
				if !ok {
					continue
				}
				if content == nil {
					content = signedContent(id, ts, body)
				}
				if ed25519.Verify(k.pub, *content, raw[:]) {
					return true
				}
			}
		}
	}
	return false
}

// decodeEd25519Signature decodes the base64 of a v1a entry. Only the
// canonical padded encoding is accepted, so that one signature has exactly
// one textual form.
func decodeEd25519Signature(sig string) (raw [ed25519.SignatureSize]byte, ok bool) {
	if len(sig) != v1aBase64Len {
		return raw, false
	}
	var in [v1aBase64Len]byte
	copy(in[:], sig)
	var out [ed25519.SignatureSize + 2]byte
	n, err := base64.StdEncoding.Strict().Decode(out[:], in[:])
	if err != nil || n != ed25519.SignatureSize {
		return raw, false
	}
	var again [v1aBase64Len]byte
	base64.StdEncoding.Encode(again[:], out[:n])
	if !bytes.Equal(again[:], in[:]) {
		return raw, false
	}
	return [ed25519.SignatureSize]byte(out[:n]), true
}

// entries iterates over the first MaxSignatureEntries space-separated
// entries of a signature header, yielding each entry's version and
// signature. Entries without a comma are skipped.
func entries(header string) func(yield func(version, sig string) bool) {
	return func(yield func(version, sig string) bool) {
		rest := header
		for n := 0; n < MaxSignatureEntries; n++ {
			rest = strings.TrimLeft(rest, " ")
			if rest == "" {
				return
			}
			var entry string
			entry, rest, _ = strings.Cut(rest, " ")
			version, sig, ok := strings.Cut(entry, ",")
			if !ok {
				continue
			}
			if !yield(version, sig) {
				return
			}
		}
	}
}

// headerValues returns the id, timestamp and signature of a message from
// the webhook-* headers, or from the svix-* headers if none of the webhook-*
// ones is present.
func headerValues(h http.Header) (id, ts, sig string) {
	id = headerValue(h, HeaderID, "webhook-id")
	ts = headerValue(h, HeaderTimestamp, "webhook-timestamp")
	sigs := headerAll(h, HeaderSignature, "webhook-signature")
	if id == "" && ts == "" && len(sigs) == 0 {
		id = headerValue(h, HeaderSvixID, "svix-id")
		ts = headerValue(h, HeaderSvixTimestamp, "svix-timestamp")
		sigs = headerAll(h, HeaderSvixSignature, "svix-signature")
	}
	switch len(sigs) {
	case 0:
	case 1:
		sig = sigs[0]
	default:
		sig = strings.Join(sigs, " ")
	}
	return id, ts, sig
}

// headerValue returns the first value of a header, or "".
func headerValue(h http.Header, canonical, lower string) string {
	if vs := headerAll(h, canonical, lower); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// headerAll returns the values of one header, looked up under its
// canonical name, then its lowercase name, then any spelling.
func headerAll(h http.Header, canonical, lower string) []string {
	if vs, ok := h[canonical]; ok {
		return vs
	}
	if vs, ok := h[lower]; ok {
		return vs
	}
	for k, vs := range h {
		if strings.EqualFold(k, canonical) {
			return vs
		}
	}
	return nil
}

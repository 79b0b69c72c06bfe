package webhook

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The header names of the Standard Webhooks specification, in the canonical
// form net/http uses. Header names are case-insensitive on the wire.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// The header names Svix uses for the same values. Svix receiver libraries
// read these first and fall back to the webhook-* names.
const (
	HeaderSvixID        = "Svix-Id"
	HeaderSvixTimestamp = "Svix-Timestamp"
	HeaderSvixSignature = "Svix-Signature"
)

// Encoded sizes of one signature entry, "<version>,<base64>".
const (
	v1Base64Len  = 44 // base64 of a 32-byte HMAC-SHA256.
	v1aBase64Len = 88 // base64 of a 64-byte ed25519 signature.
	v1EntryLen   = len(V1) + 1 + v1Base64Len
	v1aEntryLen  = len(V1a) + 1 + v1aBase64Len
)

// Sign returns the signature entry of one message for one secret: "v1,"
// followed by the base64 of the HMAC-SHA256 for HMAC secrets, or "v1a,"
// followed by the base64 of the ed25519 signature for ed25519 private keys.
// The signed content is msgID + "." + the unix seconds of timestamp + "." +
// body, where body is the exact bytes sent.
//
// Public keys (whpk_) and the zero Secret cannot sign; the error wraps
// ErrInvalidSecret.
func Sign(secret Secret, msgID string, timestamp time.Time, body []byte) (string, error) {
	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], timestamp.Unix(), 10)
	var buf [v1aEntryLen]byte
	b, err := appendSignature(buf[:0], secret, msgID, string(ts), body)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// SignAll returns the value of the webhook-signature header for a message
// signed with every secret: the entries of Sign, separated by single spaces,
// in the order of secrets. During key rotation, pass every key that
// receivers may still hold. It fails if secrets is empty or any secret
// cannot sign.
func SignAll(secrets []Secret, msgID string, timestamp time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secrets to sign with", ErrInvalidSecret)
	}
	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], timestamp.Unix(), 10)
	var buf [4 * (v1aEntryLen + 1)]byte
	b := buf[:0]
	for i, s := range secrets {
		if i > 0 {
			b = append(b, ' ')
		}
		var err error
		if b, err = appendSignature(b, s, msgID, string(ts), body); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// Signer signs outgoing messages and sets their headers. The zero Signer has
// no secrets and fails to sign. A Signer is safe for concurrent use as long
// as its fields are not modified.
type Signer struct {
	// Secrets are the keys to sign with, one signature entry each (several
	// during key rotation). It must not be empty, and every secret must be
	// able to sign.
	Secrets []Secret

	// SvixHeaders makes SetHeaders also set svix-id, svix-timestamp and
	// svix-signature, for receivers on old Svix libraries that read only
	// those. The zero value sets only the webhook-* headers, which every
	// Standard Webhooks and current Svix library reads.
	SvixHeaders bool
}

// Sign returns the webhook-signature header value for a message, as
// SignAll does with s.Secrets.
func (s *Signer) Sign(msgID string, timestamp time.Time, body []byte) (string, error) {
	return SignAll(s.Secrets, msgID, timestamp, body)
}

// SetHeaders signs a message and sets webhook-id, webhook-timestamp and
// webhook-signature on h, and the svix-* aliases if s.SvixHeaders is set.
// On error h is left unchanged. The body must be the exact bytes sent.
func (s *Signer) SetHeaders(h http.Header, msgID string, timestamp time.Time, body []byte) error {
	sig, err := SignAll(s.Secrets, msgID, timestamp, body)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	h[HeaderID] = []string{msgID}
	h[HeaderTimestamp] = []string{ts}
	h[HeaderSignature] = []string{sig}
	if s.SvixHeaders {
		h[HeaderSvixID] = []string{msgID}
		h[HeaderSvixTimestamp] = []string{ts}
		h[HeaderSvixSignature] = []string{sig}
	}
	return nil
}

// errCannotSign is returned when signing with a public key.
var errCannotSign = fmt.Errorf("%w: an ed25519 public key (whpk_) cannot sign", ErrInvalidSecret)

// appendSignature appends the "<version>,<base64>" entry of one message to
// dst. ts is the timestamp exactly as it appears in the header.
func appendSignature(dst []byte, s Secret, id, ts string, body []byte) ([]byte, error) {
	k := s.k
	switch {
	case k == nil:
		return dst, fmt.Errorf("%w: zero Secret", ErrInvalidSecret)
	case k.version == V1:
		var sum [sha256.Size]byte
		k.mac(&sum, id, ts, body)
		dst = append(dst, V1...)
		dst = append(dst, ',')
		return base64.StdEncoding.AppendEncode(dst, sum[:]), nil
	case k.priv == nil:
		return dst, errCannotSign
	default:
		msg := signedContent(id, ts, body)
		sig := ed25519.Sign(k.priv, *msg)
		releaseContent(msg)
		dst = append(dst, V1a...)
		dst = append(dst, ',')
		return base64.StdEncoding.AppendEncode(dst, sig), nil
	}
}

// mac writes the HMAC-SHA256 of id "." ts "." body to sum. The id and
// timestamp are written into the MAC ahead of the body, so the body is
// never copied.
func (k *key) mac(sum *[sha256.Size]byte, id, ts string, body []byte) {
	st := k.macs.Get().(*macState)
	p := append(st.prefix[:0], id...)
	p = append(p, '.')
	p = append(p, ts...)
	p = append(p, '.')
	st.h.Write(p)
	st.h.Write(body)
	*sum = [sha256.Size]byte(st.h.Sum(st.sum[:0]))
	st.h.Reset()
	if cap(p) <= maxPooledPrefix {
		st.prefix = p
	} else {
		st.prefix = nil
	}
	k.macs.Put(st)
}

// contentPool holds buffers for the signed content of v1a signatures, which
// ed25519 needs as one contiguous message.
var contentPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledContent bounds the buffers kept in contentPool.
const maxPooledContent = 64 << 10

// signedContent returns id "." ts "." body in a pooled buffer; the caller
// must pass it to releaseContent when done.
func signedContent(id, ts string, body []byte) *[]byte {
	bp := contentPool.Get().(*[]byte)
	b := append((*bp)[:0], id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	b = append(b, body...)
	*bp = b
	return bp
}

func releaseContent(bp *[]byte) {
	if cap(*bp) > maxPooledContent {
		return
	}
	*bp = (*bp)[:0]
	contentPool.Put(bp)
}

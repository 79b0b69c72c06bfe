// Package ids makes Herald's resource identifiers: a type prefix ("app_",
// "ep_", "msg_", "atmpt_") followed by 27 base62 characters that encode a
// millisecond timestamp and random bits, so that ids sort by creation time
// both as strings and as bytes.
//
// Within one process, ids made in the same millisecond are strictly
// increasing (the random part is incremented), so keyset pagination over ids
// returns rows in the order they were made.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// Prefixes of the resource kinds. The Svix API fixes the first four.
const (
	App      = "app_"
	Endpoint = "ep_"
	Message  = "msg_"
	Attempt  = "atmpt_"
	Token    = "tok_"
	Task     = "qtask_"
)

// Length is the number of characters after the prefix.
const Length = 27

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// raw is 20 bytes: 6 bytes of unix milliseconds, big endian, then 14 bytes
// that are random for the first id of a millisecond and incremented after.
type raw [20]byte

var (
	mu   sync.Mutex
	last raw
)

// New returns a new id with the given prefix.
func New(prefix string) string {
	return NewAt(prefix, time.Now())
}

// NewAt returns a new id whose time part is t. Ids are only guaranteed to be
// increasing when t does not go backwards; a t earlier than the last one is
// clamped to it.
func NewAt(prefix string, t time.Time) string {
	var r raw
	ms := uint64(t.UnixMilli())
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], ms)
	copy(r[:6], buf[2:])

	mu.Lock()
	if string(r[:6]) <= string(last[:6]) {
		// Same (or an earlier) millisecond: continue from the last id.
		r = last
		increment(&r)
	} else {
		if _, err := rand.Read(r[6:]); err != nil {
			panic("ids: crypto/rand failed: " + err.Error())
		}
		// Leave headroom so increments within the millisecond never
		// overflow into the time bytes.
		r[6] &= 0x7f
	}
	last = r
	mu.Unlock()

	var b strings.Builder
	b.Grow(len(prefix) + Length)
	b.WriteString(prefix)
	b.WriteString(encode(r))
	return b.String()
}

// maxMillis is the largest time part of an id: 48 bits of milliseconds since
// the Unix epoch (the year 10889).
const maxMillis = 1<<48 - 1

// At returns a new id whose time part is t, with random bits after it,
// whatever ids this process made before: the id of something accepted at
// another time (an import, a test of retention). Unlike NewAt's, its ids
// are not increasing.
func At(prefix string, t time.Time) string {
	var r raw
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(min(max(t.UnixMilli(), 0), maxMillis)))
	copy(r[:6], buf[2:])
	if _, err := rand.Read(r[6:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	return prefix + encode(r)
}

// Lower returns the smallest id with the given prefix whose time part is at
// or after t, for range queries by time ("after"). A time before the Unix
// epoch gives the smallest id of all, one after the largest time part the
// largest.
func Lower(prefix string, t time.Time) string {
	var r raw
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(min(max(t.UnixMilli(), 0), maxMillis)))
	copy(r[:6], buf[2:])
	return prefix + encode(r)
}

// Time returns the time encoded in id, and false when id is not of the form
// prefix + 27 base62 characters.
func Time(prefix, id string) (time.Time, bool) {
	r, ok := decode(prefix, id)
	if !ok {
		return time.Time{}, false
	}
	var buf [8]byte
	copy(buf[2:], r[:6])
	return time.UnixMilli(int64(binary.BigEndian.Uint64(buf[:]))), true
}

// Valid reports whether id has the prefix and a well-formed body.
func Valid(prefix, id string) bool {
	_, ok := decode(prefix, id)
	return ok
}

func increment(r *raw) {
	for i := len(r) - 1; i >= 6; i-- {
		r[i]++
		if r[i] != 0 {
			return
		}
	}
}

// encode writes the 160-bit number r in base62, left-padded to Length.
func encode(r raw) string {
	// Work on five 32-bit limbs; repeated division by 62.
	var n [5]uint32
	for i := range n {
		n[i] = binary.BigEndian.Uint32(r[i*4:])
	}
	var out [Length]byte
	for i := Length - 1; i >= 0; i-- {
		var rem uint64
		for j := range n {
			cur := rem<<32 | uint64(n[j])
			n[j] = uint32(cur / 62)
			rem = cur % 62
		}
		out[i] = alphabet[rem]
	}
	return string(out[:])
}

func decode(prefix, id string) (raw, bool) {
	var r raw
	if !strings.HasPrefix(id, prefix) || len(id) != len(prefix)+Length {
		return r, false
	}
	var n [5]uint32
	for i := len(prefix); i < len(id); i++ {
		d := digit(id[i])
		if d < 0 {
			return r, false
		}
		carry := uint64(d)
		for j := len(n) - 1; j >= 0; j-- {
			cur := uint64(n[j])*62 + carry
			n[j] = uint32(cur)
			carry = cur >> 32
		}
		if carry != 0 {
			return r, false // overflows 160 bits
		}
	}
	for i := range n {
		binary.BigEndian.PutUint32(r[i*4:], n[i])
	}
	return r, true
}

func digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

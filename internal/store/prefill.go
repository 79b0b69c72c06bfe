package store

import "time"

// PrefillParams says what a driver's Prefill method writes: Messages
// messages of AppID, each with a delivery to EndpointID that succeeded on
// its first attempt and that attempt, made Every apart and ending at Until,
// each with Payload (kept for PayloadRetention after its message). It makes a store that
// looks like months of traffic in minutes, for herald bench --prefill; the
// drivers write it with bulk statements of their own dialect, not through
// the Store interface, and it is no part of that interface.
type PrefillParams struct {
	AppID, EndpointID string
	// URL and EventType are recorded in each attempt and message.
	URL, EventType string
	Messages       int
	Payload        []byte
	// Until is the time of the last message; Every the gap between two.
	Until time.Time
	Every time.Duration
	// PayloadRetention is how long each payload is kept after its message
	// (zero: for ever).
	PayloadRetention time.Duration
	// Progress, when set, is called after each batch with the messages
	// written so far.
	Progress func(done int)
}

// PrefillAttemptDelay is how long after its message a prefilled attempt
// is recorded.
const PrefillAttemptDelay = 20 * time.Millisecond

// PayloadExpiresAt returns when the payload of a message made at t
// expires, and false when it never does.
func (p *PrefillParams) PayloadExpiresAt(t time.Time) (time.Time, bool) {
	return t.Add(p.PayloadRetention), p.PayloadRetention > 0
}

// At returns the time of message i (0 is the oldest).
func (p *PrefillParams) At(i int) time.Time {
	return p.Until.Add(-p.Every * time.Duration(p.Messages-1-i))
}

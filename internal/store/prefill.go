package store

import (
	"time"

	"github.com/heraldhq/herald/internal/ids"
)

// PrefillParams says what a driver's Prefill method writes: Messages
// messages of AppID, each with a delivery to EndpointID that succeeded on
// its first attempt and that attempt, made Every apart and ending at Until,
// each with Payload (kept for PayloadRetention after its message). It makes
// a store that looks like months of traffic in minutes, for herald bench
// --prefill; the drivers write it with bulk statements of their own dialect,
// not through the Store interface, and it is no part of that interface.
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

// PrefillRow is one prefilled message and its attempt.
type PrefillRow struct {
	MsgID, AttemptID string
	// At is the message's time, AttemptAt its attempt's (and its
	// delivery's last update).
	At, AttemptAt time.Time
	// PayloadExpiresAt is when its payload expires; zero: never.
	PayloadExpiresAt time.Time
}

// prefillAttemptDelay is how long after its message a prefilled attempt is
// recorded.
const prefillAttemptDelay = 20 * time.Millisecond

// Row returns message i (0 is the oldest). Rows must be made in order:
// their ids increase with i.
func (p *PrefillParams) Row(i int) PrefillRow {
	at := p.Until.Add(-p.Every * time.Duration(p.Messages-1-i))
	r := PrefillRow{MsgID: ids.NewAt(ids.Message, at), AttemptID: ids.NewAt(ids.Attempt, at), At: at, AttemptAt: at.Add(prefillAttemptDelay)}
	if p.PayloadRetention > 0 {
		r.PayloadExpiresAt = at.Add(p.PayloadRetention)
	}
	return r
}

// Batches calls write for each batch of at most size messages, [from, to)
// in order, and Progress after each; it stops at the first error.
func (p *PrefillParams) Batches(size int, write func(from, to int) error) error {
	for done := 0; done < p.Messages; {
		to := min(done+size, p.Messages)
		if err := write(done, to); err != nil {
			return err
		}
		done = to
		if p.Progress != nil {
			p.Progress(done)
		}
	}
	return nil
}

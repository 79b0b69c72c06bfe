// Package store defines Herald's storage interface: the records Herald keeps,
// one method per query with a params struct where it takes more than an id,
// and the errors callers branch on. It imports no driver; the drivers live in
// store/sqlite and store/postgres and both pass the conformance suite in
// store/storetest.
//
// # The delivery queue
//
// The delivery queue lives in the store (a transactional outbox). A message
// and one Delivery per matching endpoint are written in one transaction by
// CreateMessages. A Delivery is the state of one message to one endpoint,
// keyed by (MsgID, EndpointID). While it is pending, NextAttemptAt is the time
// it becomes due; a worker claims due deliveries with ClaimDeliveries, which
// moves NextAttemptAt to the end of the worker's lease and writes the worker's
// lease token. A lease that expires makes the delivery due again, so a crashed
// worker's deliveries are claimed by another one without any recovery step.
//
// A pending delivery with a zero NextAttemptAt is parked: due, but waiting
// for room at its endpoint (whose queue in the worker was full, or whose
// circuit was open). Parked deliveries are kept apart from the due-time
// order, so that the claims of other endpoints' deliveries never walk past a
// backlog they cannot take; a claim with ClaimParams.Parked takes them, per
// endpoint, for the endpoints the worker has room for.
// CompleteDeliveries records an attempt and moves the delivery on, but only
// if the lease token still matches: a worker that lost its lease records what
// it did and changes nothing else.
//
// # Times
//
// Drivers keep times to the microsecond, in UTC. Callers pass times already
// truncated with Now-style helpers (see Truncate). A lease, lock or
// retention time t has ended, and a delivery due at t is due, when now >= t.
// Time filters (Before, After, Since, Until) compare CreatedAt; the ids of
// messages and attempts are made at their CreatedAt (ids.NewAt, or ids.New
// at about the same moment), which lets drivers turn a lower time bound into
// a lower id bound, allowing a minute of skew.
//
// The UpdatedAt of an app, endpoint or event type never goes backwards:
// every write of one stores the later of its own time and the stored
// UpdatedAt + 1µs, so that a cache that keeps the copy with the latest
// UpdatedAt (another replica's, say) never keeps a stale one because two
// writers' clocks or times disagree.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors drivers return; compare with errors.Is.
var (
	// ErrNotFound means the record does not exist (or is not visible to the
	// app the caller asked through).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule was broken: a duplicate uid,
	// event type name or message eventId.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database could not be reached; the operation
	// did not take effect and may be retried.
	ErrUnavailable = errors.New("store unavailable")
	// ErrStorageFull means the database could not write to its storage:
	// it is full (the disk, a quota, SQLite's max_page_count, PostgreSQL's
	// disk_full), or, with SQLite, a write or fsync failed with an I/O
	// error, which is how some writes to a full disk fail. It matches
	// ErrUnavailable too: the operation did not take effect and may be
	// retried once space is freed.
	ErrStorageFull error = storageFull{}
)

// storageFull is the type of ErrStorageFull, an error that is also
// ErrUnavailable.
type storageFull struct{}

func (storageFull) Error() string { return "cannot write: storage full" }

// Is makes errors.Is(ErrStorageFull, ErrUnavailable) true.
func (storageFull) Is(target error) bool { return target == ErrUnavailable }

// Text returns s as every driver stores text: valid UTF-8 without U+0000,
// each U+0000 and each run of bytes that are not UTF-8 replaced by U+FFFD.
// PostgreSQL's text holds nothing else; drivers apply it to text that comes
// from outside and cannot be refused (Attempt.Response, a receiver's body).
func Text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Truncate returns t in UTC truncated to the precision drivers keep.
func Truncate(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Store is the storage interface every driver implements. Methods are safe for
// concurrent use.
type Store interface {
	// Migrate brings the schema up to date. Concurrent callers (replicas
	// starting at once) are safe.
	Migrate(ctx context.Context) error
	// Ping checks that the database answers. A driver that keeps track of
	// its writes (SQLite's) also fails with ErrStorageFull after a write
	// failed for lack of space, until a write, its own or another,
	// succeeds.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error

	// Applications.

	// CreateApp inserts app. ErrConflict when its UID is taken.
	CreateApp(ctx context.Context, app *App) error
	// GetApp returns the app whose ID or UID is idOrUID.
	GetApp(ctx context.Context, idOrUID string) (*App, error)
	// ListApps returns apps ordered by ID.
	ListApps(ctx context.Context, p Page) ([]*App, error)
	// UpdateApp sets the fields p names of the app with p.ID, leaves the
	// others as stored, writes p.Events (see Events) in the same
	// transaction, and returns the app as written. ErrConflict when the
	// new UID is taken.
	UpdateApp(ctx context.Context, p UpdateAppParams) (*App, error)
	// DeleteApp deletes the app and everything that belongs to it: its
	// endpoints, messages, deliveries, attempts, tasks and portal tokens.
	DeleteApp(ctx context.Context, id string) error

	// Endpoints.

	// CreateEndpoint inserts ep, and events (see Events) in the same
	// transaction. ErrNotFound when its app does not exist, ErrConflict
	// when its UID is taken within the app.
	CreateEndpoint(ctx context.Context, ep *Endpoint, events ...*Message) error
	// GetEndpoint returns the endpoint of appID whose ID or UID is idOrUID.
	GetEndpoint(ctx context.Context, appID, idOrUID string) (*Endpoint, error)
	// GetEndpointByID returns the endpoint with id, whatever its app.
	GetEndpointByID(ctx context.Context, id string) (*Endpoint, error)
	// ListEndpoints returns the endpoints of appID ordered by ID.
	ListEndpoints(ctx context.Context, appID string, p Page) ([]*Endpoint, error)
	// UpdateEndpoint sets the fields p names of the endpoint with p.ID and
	// p.AppID, leaves the others as stored (a write that does not name
	// Disabled never undoes a disable made meanwhile by CompleteDeliveries),
	// writes p.Events (see Events) in the same transaction, and returns the
	// endpoint as written. ErrConflict when the new UID is taken within the
	// app.
	UpdateEndpoint(ctx context.Context, p UpdateEndpointParams) (*Endpoint, error)
	// DeleteEndpoint deletes the endpoint, its deliveries and its
	// attempts, and writes events (see Events) in the same transaction
	// (none when the endpoint does not exist: ErrNotFound).
	DeleteEndpoint(ctx context.Context, appID, id string, events ...*Message) error
	// SetEndpointCircuit stores the state of an endpoint's circuit
	// breaker (what the delivery engine decided), without changing its
	// UpdatedAt. ErrNotFound when the endpoint does not exist.
	SetEndpointCircuit(ctx context.Context, id string, c Circuit) error

	// Event types (global, not per app).

	// CreateEventType inserts et. ErrConflict when the name exists, even
	// archived.
	CreateEventType(ctx context.Context, et *EventType) error
	// GetEventType returns the event type called name, archived or not.
	GetEventType(ctx context.Context, name string) (*EventType, error)
	// GetEventTypes returns, in one query, the event types among names
	// (archived or not) ordered by name; names that do not exist are left
	// out, and a name given twice is returned once. Callers bound the list
	// (the API takes at most 1,000 names).
	GetEventTypes(ctx context.Context, names []string) ([]*EventType, error)
	// ListEventTypes returns event types ordered by name.
	ListEventTypes(ctx context.Context, p ListEventTypesParams) ([]*EventType, error)
	// UpdateEventType sets the fields p names of the event type called
	// p.Name, leaves the others as stored, and returns the event type as
	// written.
	UpdateEventType(ctx context.Context, p UpdateEventTypeParams) (*EventType, error)
	// DeleteEventType removes the event type for good (archiving is an
	// update).
	DeleteEventType(ctx context.Context, name string) error

	// Messages and deliveries.

	// CreateMessages writes each message with its deliveries, all in one
	// transaction (group commit): one Delivery per endpoint of the message's
	// app that accepts it (Endpoint.Accepts), pending and due at once (at
	// Message.DueAt: a scheduled message's are due at its DeliverAt, and
	// never leased) for enabled endpoints, StatusSkipped for disabled ones.
	// A delivery to a FIFO endpoint joins the sequence of its message's
	// OrderingKey there (see Sequence): pending when it is the head,
	// StatusBlocked otherwise (not leased, and not among the result's
	// Jobs). Messages join in the order of params. A message whose EventID
	// is already used in its app gets ErrConflict in its result, and one
	// whose app is gone gets ErrNotFound; neither affects the others.
	// Results are in the order of params.
	CreateMessages(ctx context.Context, params []CreateMessageParams) ([]CreateMessageResult, error)
	// GetMessage returns the message of appID whose ID or EventID is
	// idOrEventID.
	GetMessage(ctx context.Context, appID, idOrEventID string) (*Message, error)
	// ListMessages returns messages of an app ordered by ID as p.Desc says
	// (the API's default, newest first, is Desc = true).
	ListMessages(ctx context.Context, p ListMessagesParams) ([]*Message, error)
	// ExpungeMessagePayload removes the payload of a message for good.
	ExpungeMessagePayload(ctx context.Context, appID, msgID string) error
	// CancelMessage cancels the scheduled message p.MsgID of the app
	// p.AppID before it is due, in one transaction: when Cancelable allows
	// it at p.Now, each of its deliveries becomes StatusCanceled (a FIFO
	// sequence whose head one was advances, see Sequence), its CanceledAt
	// becomes p.Now, and the
	// message is returned as written. A message already cancelled is
	// returned as it is. ErrNotFound when the message is not the app's;
	// ErrConflict when Cancelable refuses (not scheduled, due, or a
	// delivery was attempted, leased or resent).
	CancelMessage(ctx context.Context, p CancelMessageParams) (*Message, error)

	// ClaimDeliveries leases up to p.Limit due deliveries (NextAttemptAt <=
	// p.Now, Status pending), oldest due first, or parked ones with
	// p.Parked, to the caller: their NextAttemptAt becomes p.LeaseUntil
	// and their Lease p.Lease. Two concurrent calls never return the same
	// delivery.
	ClaimDeliveries(ctx context.Context, p ClaimParams) ([]*Job, error)
	// CompleteDeliveries records the outcome of attempts, in one
	// transaction: each Attempt is inserted (unless its delivery no longer
	// exists: its endpoint or message was deleted meanwhile), and each
	// delivery whose lease token still equals Completion.Lease moves to the
	// new state. Whatever the lease, it also keeps Endpoint.FailingSince (a
	// failed attempt sets it when it is zero, a successful one clears it;
	// neither changes UpdatedAt) and applies DisableEndpoint (which moves
	// UpdatedAt to the attempt's CreatedAt, or past the stored UpdatedAt
	// when that is later). A delivery of a FIFO sequence (Completion.Ordered)
	// that moves to a final state (success, fail, skipped) advances its
	// sequence in the same transaction (see Sequence), the next delivery
	// becoming pending and due at Completion.Finished or its message's
	// DeliverAt, whichever is later.
	CompleteDeliveries(ctx context.Context, cs []Completion) error
	// ReleaseDeliveries gives leased deliveries back: each one whose lease
	// token still matches becomes due at NextAttemptAt with no lease.
	ReleaseDeliveries(ctx context.Context, rs []Release) error
	// ResendDelivery asks for one more, manual, attempt of a message to an
	// endpoint, due at p.Now: a delivery that does not exist yet is created,
	// a finished one (success, fail, skipped, canceled) becomes pending and
	// manual, and a pending one becomes due at p.Now unless it is leased. To
	// a FIFO endpoint, a created or finished one joins the end of its
	// sequence instead (see Sequence): pending and due at p.Now only when it
	// is the head, blocked and manual otherwise; a blocked one keeps its
	// place. ErrNotFound when the message or the endpoint is not the app's.
	ResendDelivery(ctx context.Context, p ResendParams) error
	// RecoverDeliveries makes up to p.Limit failed or skipped deliveries of
	// an endpoint, whose messages were created in [p.Since, p.Until), pending,
	// manual and due at p.Now, taking them in message ID order after
	// p.AfterMsgID. To a FIFO endpoint they join their sequences in that
	// order, as ResendDelivery's do. It returns the last message ID it took
	// ("" when none).
	RecoverDeliveries(ctx context.Context, p RecoverParams) (last string, err error)
	// GetDelivery returns the delivery of a message to an endpoint.
	GetDelivery(ctx context.Context, k DeliveryKey) (*Delivery, error)
	// ListMessageDestinations returns the deliveries of a message that were
	// attempted or are pending (not skipped), with their endpoints, ordered
	// by endpoint ID.
	ListMessageDestinations(ctx context.Context, appID, msgID string, p Page) ([]*Destination, error)
	// ListEndpointMessages returns the messages delivered or to be delivered
	// to an endpoint (not skipped) with their delivery state, ordered by
	// message ID as p.Desc says.
	ListEndpointMessages(ctx context.Context, p ListEndpointMessagesParams) ([]*EndpointMessage, error)
	// QueueStats describes the delivery queue at now, for metrics: how many
	// pending deliveries are due (NextAttemptAt <= now; leased ones are not,
	// their NextAttemptAt is the lease's end), split into first attempts and
	// retries as ClaimParams.Retries splits them, and the NextAttemptAt of
	// the one due longest. Drivers answer from the claim queues' indexes; it
	// is meant to be sampled every few seconds, not per request.
	QueueStats(ctx context.Context, now time.Time) (*QueueStats, error)
	// EndpointStats counts the deliveries to p.EndpointID by state, among
	// those whose messages were created in [p.Since, p.Until) (zero times
	// are open bounds).
	EndpointStats(ctx context.Context, p EndpointStatsParams) (*Stats, error)

	// Attempts.

	// ListAttempts returns attempts by endpoint or by message (one of the
	// two is required), ordered by ID as p.Desc says.
	ListAttempts(ctx context.Context, p ListAttemptsParams) ([]*Attempt, error)
	// GetAttempt returns one attempt of a message.
	GetAttempt(ctx context.Context, k AttemptKey) (*Attempt, error)
	// ExpungeAttemptResponse removes the response body kept for an attempt.
	ExpungeAttemptResponse(ctx context.Context, k AttemptKey) error

	// Background tasks.

	// CreateTask inserts a background task.
	CreateTask(ctx context.Context, t *Task) error
	// ClaimTask leases the oldest running task that is not leased at p.Now
	// (or whose lease expired) until p.LeaseUntil; ErrNotFound when there
	// is none.
	ClaimTask(ctx context.Context, p ClaimTaskParams) (*Task, error)
	// UpdateTask saves the cursor, status, lease and UpdatedAt of a task,
	// and writes events (see Events) in the same transaction.
	UpdateTask(ctx context.Context, t *Task, events ...*Message) error
	// GetTask returns a task.
	GetTask(ctx context.Context, id string) (*Task, error)

	// API tokens.

	// CreateToken inserts a token (only its hash is stored).
	CreateToken(ctx context.Context, t *Token) error
	// GetTokenByHash returns the token with that hash, expired or not.
	GetTokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// DeleteToken revokes a token.
	DeleteToken(ctx context.Context, id string) error
	// CountAdminTokens counts the tokens with no AppID.
	CountAdminTokens(ctx context.Context) (int, error)

	// Idempotency.

	// BeginIdempotent starts a request under an idempotency key. When no
	// live record exists (none, or one that expired), or the record is in
	// progress but its lock expired, it (re)writes an in-progress record
	// locked until p.LockUntil and returns started = true. Otherwise it
	// returns the record as stored and started = false: a finished record
	// is replayed by the caller, an in-progress one waited for.
	BeginIdempotent(ctx context.Context, p BeginIdempotentParams) (rec *IdempotencyRecord, started bool, err error)
	// FinishIdempotent stores the response of a request started with
	// BeginIdempotent.
	FinishIdempotent(ctx context.Context, key string, status int, body []byte) error
	// AbortIdempotent deletes an in-progress record so that the request can
	// be retried under the same key; without one it does nothing.
	AbortIdempotent(ctx context.Context, key string) error

	// Maintenance.

	// DeleteExpired removes idempotency records that expired, payloads
	// whose retention ended before now, tokens (portal tokens and
	// sessions) that expired, and the EndpointHours older than
	// StatsRetention, and returns how many rows changed.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// DeleteHistory deletes up to p.Limit messages accepted before p.Before,
	// oldest first, each with its deliveries, attempts and tags, and returns
	// how many it deleted. A message that still has a pending or blocked
	// delivery (scheduled far ahead, retrying, or waiting behind a FIFO
	// head) is kept until it has none. Each call is one short transaction
	// that reads at most HistoryReadFactor x p.Limit messages, so that
	// retention never holds the store's writes back for long.
	//
	// Calls go on reading where the previous call on this store stopped, so
	// that messages kept are not read again by every call; p.Rescan starts
	// from the oldest message instead, and looks at the kept ones again.
	// done reports that the call read up to the messages accepted at
	// p.Before or later: nothing more is to be deleted before a rescan.
	DeleteHistory(ctx context.Context, p DeleteHistoryParams) (deleted int, done bool, err error)

	// Settings: a small key-value table for installation-wide values.

	// GetSetting returns the value of key.
	GetSetting(ctx context.Context, key string) (string, error)
	// PutSettingIfAbsent stores value under key unless the key exists, and
	// returns the value stored under key afterwards.
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)

	// Views of the portal and the console: each reads a bounded amount
	// however large the app.

	// EndpointHours returns the hourly attempt counters of the endpoints
	// among ids, for the hours that start at or after since, ordered by
	// endpoint ID then hour; hours without attempts are left out.
	// CompleteDeliveries keeps the counters: each attempt it records counts
	// once, in the hour of its CreatedAt (see HourOf). Callers bound the
	// list of ids (a page of endpoints).
	EndpointHours(ctx context.Context, ids []string, since time.Time) ([]EndpointHour, error)
	// ListFailingEndpoints returns the endpoints of every app that are
	// disabled or failing (FailingSince set), ordered by ID.
	ListFailingEndpoints(ctx context.Context, p Page) ([]*Endpoint, error)
	// CountMessagesSince counts the messages of an app created at or after
	// since, up to max: it returns max when there are more.
	CountMessagesSince(ctx context.Context, appID string, since time.Time, max int) (int, error)
	// FindApps returns the apps whose name or UID contains text (ignoring
	// ASCII case), ordered by ID.
	FindApps(ctx context.Context, text string, p Page) ([]*App, error)
	// NthMessageID returns the ID of the n-th message of an app in the
	// order and after the bound of p (p.Limit is ignored), reading the
	// app's index of messages only; "" when there are fewer than n. With
	// ListMessagesParams.Last it bounds the rows a filtered page examines.
	NthMessageID(ctx context.Context, appID string, p Page, n int) (string, error)
	// NthEndpointAttemptID is NthMessageID for the attempts of an endpoint.
	NthEndpointAttemptID(ctx context.Context, endpointID string, p Page, n int) (string, error)
	// ListAPITokens returns the admin API tokens (no AppID, not a
	// session), ordered by ID.
	ListAPITokens(ctx context.Context, p Page) ([]*Token, error)
	// DeleteAPIToken revokes the admin API token with id; ErrNotFound
	// when there is none (a portal token or a session is none).
	DeleteAPIToken(ctx context.Context, id string) error
}

// EndpointHour counts the attempts recorded for an endpoint in one hour.
type EndpointHour struct {
	EndpointID string
	// Hour is the start of the hour, in UTC.
	Hour    time.Time
	Success int64
	Fail    int64
}

// HourOf returns the start of the hour of t, in UTC: the hour an attempt made
// at t counts in.
func HourOf(t time.Time) time.Time {
	return t.UTC().Truncate(time.Hour)
}

// StatsRetention is how long the hourly endpoint counters (EndpointHours)
// are kept.
const StatsRetention = 31 * 24 * time.Hour

// Page selects a page of a list ordered by a unique key.
type Page struct {
	// Limit is the most rows to return; drivers treat 0 as 50.
	Limit int
	// After is an exclusive bound: the key of the last row already seen, in
	// the direction of Desc. Empty starts from the first row.
	After string
	// Desc orders by key descending.
	Desc bool
}

// App is an application: the tenant a sender delivers messages for.
type App struct {
	ID   string
	UID  string // empty: none
	Name string
	// ThrottleRate is the most messages per second sent to the app's
	// endpoints together; 0 means unlimited.
	ThrottleRate int
	Metadata     map[string]string // never nil when read
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// UpdateAppParams names the fields UpdateApp sets; a nil field is left as
// stored.
type UpdateAppParams struct {
	ID           string
	UID          *string // "": none
	Name         *string
	ThrottleRate *int
	Metadata     *map[string]string // nil map: empty
	// UpdatedAt is the time of the change; the stored UpdatedAt becomes
	// the later of it and the previous UpdatedAt + 1µs.
	UpdatedAt time.Time
	// Events are written in the same transaction (see Events).
	Events []*Message
}

// Endpoint is a URL registered by an app to receive messages.
type Endpoint struct {
	ID          string
	AppID       string
	UID         string // empty: none
	URL         string
	Description string
	Disabled    bool
	// EventTypes lists the event types the endpoint receives; nil means all.
	EventTypes []string
	// Channels lists the channels the endpoint receives; nil means every
	// message whatever its channels.
	Channels []string
	// ThrottleRate is the most messages per second sent to the endpoint;
	// 0 means unlimited.
	ThrottleRate int
	// Ordering says whether deliveries to the endpoint are sent in order;
	// OrderingNone (the zero value): in parallel.
	Ordering Ordering
	Metadata map[string]string // never nil when read
	// Headers are sent with every delivery. Never nil when read.
	Headers map[string]string
	// Secret is the current signing secret as stored (sealed by the caller).
	Secret string
	// OldSecrets are previous secrets still valid for signing until their
	// expiry, newest first.
	OldSecrets []OldSecret
	// FailingSince is when the endpoint started failing without a success
	// since (zero when it is not failing); it drives auto-disable.
	FailingSince time.Time
	// Circuit is the state of the endpoint's circuit breaker as last
	// stored by a delivery engine; zero: closed, never opened. Only
	// SetEndpointCircuit writes it: CreateEndpoint leaves it zero and
	// UpdateEndpoint as stored.
	Circuit   Circuit
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Circuit is the state of an endpoint's circuit breaker. The delivery
// engine decides it (each process keeps its own breaker) and stores the
// latest change so that the API, the CLI and the portal can show it.
type Circuit struct {
	// Open is true while no new attempts are made to the endpoint but
	// probes.
	Open bool
	// Failures counts the consecutive failed attempts that opened it (or
	// so far, while closed).
	Failures int
	// Since is when it last opened or closed; zero: never opened.
	Since time.Time
	// NextProbe is when the next probe may go, while open.
	NextProbe time.Time
}

// Events, in the methods that take them, are messages written in the same
// transaction as the change they report (Herald's operational webhooks:
// the change and its event are stored together or not at all). Each event
// is a complete Message (ID, AppID, EventType, Payload, PayloadExpiresAt,
// CreatedAt) written as CreateMessages writes one without a lease: with one
// delivery per endpoint of its app that accepts it (Endpoint.Accepts),
// pending and due at its CreatedAt for enabled endpoints, skipped for
// disabled ones.
//
// Events are written after the change, so the endpoints that receive them
// are those of their app as the change left them: an endpoint created
// receives the events of its creation that it accepts, one deleted does
// not. A change that does not happen (ErrNotFound, ErrConflict or any
// other error) writes no event. An event that cannot be written (its app
// does not exist, its ID or EventID is taken) is the caller's mistake: the
// call fails with an error that is neither ErrNotFound nor ErrConflict
// (those describe the change), and nothing is written, the change
// included.

// UpdateEndpointParams names the fields UpdateEndpoint sets; a nil field is
// left as stored, so that a write changes only what its caller asked for.
// FailingSince is never set by the caller: CompleteDeliveries keeps it, and
// ResetFailingOnEnable clears it.
type UpdateEndpointParams struct {
	ID    string
	AppID string

	UID          *string // "": none
	URL          *string
	Description  *string
	Disabled     *bool
	EventTypes   *[]string // nil list: all event types
	Channels     *[]string // nil list: every message
	ThrottleRate *int
	// Ordering changes how the endpoint's deliveries created from now on
	// are sent; deliveries already in a sequence finish in it.
	Ordering   *Ordering
	Metadata   *map[string]string // nil map: empty
	Headers    *map[string]string // nil map: empty
	Secret     *string
	OldSecrets *[]OldSecret
	// ResetFailingOnEnable, with Disabled set to false, clears
	// FailingSince when the endpoint is disabled at the moment of the
	// write, so that an endpoint enabled again starts a new failure clock;
	// an endpoint that is already enabled keeps its FailingSince. Deciding
	// to restart the clock is the caller's; the driver makes the check
	// and the write one.
	ResetFailingOnEnable bool
	// UpdatedAt is the time of the change; the stored UpdatedAt becomes
	// the later of it and the previous UpdatedAt + 1µs.
	UpdatedAt time.Time
	// Events are written in the same transaction (see Events).
	Events []*Message
}

// OldSecret is a rotated-out secret kept valid for a grace period.
type OldSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Accepts reports whether a message of eventType on channels goes to the
// endpoint: the endpoint takes all event types when it lists none, and takes
// any message when it lists no channels; otherwise the message must share at
// least one channel with it.
func (e *Endpoint) Accepts(eventType string, channels []string) bool {
	if e.EventTypes != nil && !slices.Contains(e.EventTypes, eventType) {
		return false
	}
	if e.Channels == nil {
		return true
	}
	for _, c := range channels {
		if slices.Contains(e.Channels, c) {
			return true
		}
	}
	return false
}

// EventType names a kind of event messages are sent for.
type EventType struct {
	Name        string
	Description string
	Archived    bool
	Deprecated  bool
	FeatureFlag string // empty: none
	// Schemas maps a version to a JSON schema; nil when none.
	Schemas json.RawMessage
	// ValidatePayloads says whether message payloads are validated against
	// the newest schema; ValidationDefault (the zero value) follows the
	// server's default.
	ValidatePayloads PayloadValidation
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// PayloadValidation is an event type's choice about validating the payloads
// of its messages against its schema.
type PayloadValidation int8

const (
	// ValidationDefault follows the server's default (--validate-payloads).
	ValidationDefault PayloadValidation = iota
	// ValidationOn validates payloads whatever the server's default.
	ValidationOn
	// ValidationOff never validates payloads.
	ValidationOff
)

// UpdateEventTypeParams names the fields UpdateEventType sets; a nil field
// is left as stored.
type UpdateEventTypeParams struct {
	Name        string
	Description *string
	Archived    *bool
	Deprecated  *bool
	FeatureFlag *string          // "": none
	Schemas     *json.RawMessage // nil RawMessage: none
	// ValidatePayloads, when not nil, replaces the setting
	// (ValidationDefault: the server's default).
	ValidatePayloads *PayloadValidation
	// UpdatedAt is the time of the change; the stored UpdatedAt becomes
	// the later of it and the previous UpdatedAt + 1µs.
	UpdatedAt time.Time
}

// ListEventTypesParams selects event types.
type ListEventTypesParams struct {
	Page
	IncludeArchived bool
}

// Message is an event an app sent, with the payload as received.
type Message struct {
	ID        string
	AppID     string
	EventType string
	EventID   string   // empty: none
	Channels  []string // nil: none
	// Tags label the message for filtering lists (ListMessagesParams.Tag);
	// nil: none.
	Tags []string
	// Payload is the JSON body delivered, byte for byte; nil once expunged
	// or not loaded.
	Payload []byte
	// PayloadExpiresAt is when the payload is deleted (retention).
	PayloadExpiresAt time.Time
	// DeliverAt, when after CreatedAt, schedules the message: its
	// deliveries are due at DeliverAt instead of at once (see DueAt).
	// Zero: sent at once.
	DeliverAt time.Time
	// OrderingKey names the message's sequence at FIFO endpoints (see
	// Sequence); "" is the endpoint's sequence of messages without a key.
	OrderingKey string
	// CanceledAt is when the message's schedule was cancelled
	// (CancelMessage); zero: it was not.
	CanceledAt time.Time
	CreatedAt  time.Time
}

// DeliveryStatus is the state of a delivery or the outcome of an attempt. The
// values of the first four are those of the Svix API's MessageStatus.
type DeliveryStatus int

// Delivery and attempt states.
const (
	StatusSuccess DeliveryStatus = 0
	StatusPending DeliveryStatus = 1
	StatusFail    DeliveryStatus = 2
	// StatusSending is reported for a pending delivery that has failed at
	// least once and will be retried; drivers never store it.
	StatusSending DeliveryStatus = 3
	// StatusSkipped marks a delivery to an endpoint that was disabled when
	// the message was created: never attempted, recoverable.
	StatusSkipped DeliveryStatus = 4
	// StatusBlocked marks a delivery of a FIFO sequence waiting for the
	// deliveries before it (see Sequence): not due, never claimed.
	StatusBlocked DeliveryStatus = 5
	// StatusCanceled marks a delivery of a scheduled message cancelled
	// before it was due (CancelMessage): final, never attempted, not
	// recovered (a resend sends it).
	StatusCanceled DeliveryStatus = 6
)

// TriggerType says why an attempt was made (the Svix API's values).
type TriggerType int

// Trigger types.
const (
	TriggerScheduled TriggerType = 0
	TriggerManual    TriggerType = 1
)

// Delivery is the state of one message to one endpoint.
type Delivery struct {
	AppID      string
	MsgID      string
	EndpointID string
	Status     DeliveryStatus
	// Attempts counts the attempts made so far.
	Attempts int
	// NextAttemptAt is when a pending delivery is due, or when its lease
	// ends while it is leased. Zero once the delivery is finished.
	NextAttemptAt time.Time
	// Lease is the token of the worker holding the delivery; 0 when none.
	Lease int64
	// Manual means the pending attempt was asked for by a user (resend,
	// recover): it is made once and not retried.
	Manual bool
	// Seq is the delivery's number in its FIFO sequence, in the order the
	// deliveries joined it (see Sequence); 0 when it is not in one.
	Seq int64
	// LastAttemptAt and LastStatusCode describe the newest attempt (zero
	// when none).
	LastAttemptAt  time.Time
	LastStatusCode int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ReportedStatus is the status the API shows (the Svix API's four): pending
// and blocked deliveries that have failed before are "sending", other
// blocked ones "pending", skipped and canceled ones "fail".
func (d *Delivery) ReportedStatus() DeliveryStatus {
	switch d.Status {
	case StatusPending, StatusBlocked:
		if d.Attempts > 0 {
			return StatusSending
		}
		return StatusPending
	case StatusSkipped, StatusCanceled:
		return StatusFail
	}
	return d.Status
}

// Job is a leased delivery with what a worker needs to send it.
type Job struct {
	Delivery
	EventType string
	Payload   []byte
	// MsgCreatedAt is when the message was accepted.
	MsgCreatedAt time.Time
	// EndpointUpdatedAt lets a worker tell whether its cached copy of the
	// endpoint is current.
	EndpointUpdatedAt time.Time
	// EndpointThrottleRate is the endpoint's ThrottleRate, so that a worker
	// throttles from the first job it sees of an endpoint.
	EndpointThrottleRate int
	// MsgEventID is the message's EventID ("" when none), for the
	// operational events that name it.
	MsgEventID string
}

// CreateMessageParams is one message for CreateMessages.
type CreateMessageParams struct {
	// Message is complete: ID, AppID, CreatedAt and the rest are set.
	Message *Message
	// Lease and LeaseUntil, when Lease is not 0, create the pending
	// deliveries already leased to the caller (the in-process fast path):
	// NextAttemptAt = LeaseUntil. Otherwise, and always for a scheduled
	// message, they are due at Message.DueAt.
	Lease      int64
	LeaseUntil time.Time
	// NoLease lists endpoints whose deliveries are created parked (due, not
	// leased, NextAttemptAt zero: see the package doc) when Lease is set
	// and the message is not scheduled: the caller cannot take more for
	// them now.
	NoLease []string
	// EndpointID, when set, sends the message to that endpoint of the app
	// only, whatever its event type and channel filters (a test message);
	// no other endpoint gets a delivery.
	EndpointID string
}

// CreateMessageResult is the outcome of one message of CreateMessages.
type CreateMessageResult struct {
	// Err is nil, ErrConflict (duplicate EventID) or ErrNotFound (no app,
	// or no such EndpointID in the app); the message is stored only when
	// Err is nil.
	Err error
	// Jobs are the pending deliveries created, with the payload (blocked
	// ones are not).
	Jobs []*Job
	// Skipped counts deliveries recorded for disabled endpoints.
	Skipped int
}

// ListMessagesParams selects messages of an app.
type ListMessagesParams struct {
	AppID string
	Page
	Channel    string   // empty: any
	Tag        string   // empty: any
	EventTypes []string // empty: any
	// Before and After bound the creation time (exclusive); zero: open.
	Before, After time.Time
	// WithContent loads payloads.
	WithContent bool
	// Status, when set, keeps the messages that have at least one
	// delivery (skipped ones aside) in that state as reported (see
	// Delivery.ReportedStatus); nil: any.
	Status *DeliveryStatus
	// Last, when set, is the last ID the page may reach, inclusive, in
	// its direction (see NthMessageID); empty: no bound.
	Last string
}

// CancelMessageParams names the message CancelMessage cancels and when.
type CancelMessageParams struct {
	AppID string
	MsgID string
	Now   time.Time
}

// ClaimParams selects due deliveries to lease.
type ClaimParams struct {
	Now        time.Time
	LeaseUntil time.Time
	// Lease is written to every claimed delivery; callers use a fresh
	// random value per claim.
	Lease int64
	Limit int
	// Retries selects deliveries that have been attempted before (and
	// manual ones) instead of first attempts, so that first attempts are
	// never starved by a backlog of retries.
	Retries bool
	// ExcludeEndpoints are endpoints the caller cannot take more of now.
	ExcludeEndpoints []string
	// DueSince, when not zero, skips deliveries due before it: a caller
	// that has just claimed everything due except the excluded endpoints'
	// backlog looks only at what became due since, instead of walking past
	// that backlog again.
	DueSince time.Time
	// Parked claims parked deliveries (see the package doc) instead of
	// due ones, whatever Retries and DueSince say: at most PerEndpoint
	// (when positive) of each endpoint not in ExcludeEndpoints, in message
	// order (oldest message first), Limit in all.
	Parked      bool
	PerEndpoint int
}

// Completion is the outcome of one attempt for CompleteDeliveries.
type Completion struct {
	MsgID      string
	EndpointID string
	Lease      int64
	// Attempt, when not nil, is recorded whatever the lease; nil means no
	// request was made (see StatusSkipped).
	Attempt *Attempt
	// Status is the new state: StatusSuccess, StatusFail, StatusPending to
	// retry at NextAttemptAt, or StatusSkipped when the endpoint turned out
	// to be disabled (Attempts is then left as it was).
	Status        DeliveryStatus
	NextAttemptAt time.Time
	// DisableEndpoint disables the endpoint (it answered 410 Gone).
	DisableEndpoint bool
	// Events are written in the same transaction, whatever the lease (see
	// Events): the operational events this outcome causes.
	Events []*Message
	// Ordered is true for a delivery of a FIFO sequence (the claimed
	// Job's Seq is not 0): a final Status advances the sequence. Drivers
	// may look for sequences to advance only in batches that have one.
	Ordered bool
	// FinishedAt is when the outcome was known: the next delivery of a FIFO
	// sequence becomes due then (or at its message's DeliverAt). Zero: the
	// Attempt's CreatedAt.
	FinishedAt time.Time
}

// Finished returns when c's outcome was known (FinishedAt, else the
// Attempt's CreatedAt; zero when c has neither).
func (c *Completion) Finished() time.Time {
	if c.FinishedAt.IsZero() && c.Attempt != nil {
		return c.Attempt.CreatedAt
	}
	return c.FinishedAt
}

// Release gives back a leased delivery unattempted, due at NextAttemptAt;
// a zero NextAttemptAt parks it (see the package doc). At, when not zero,
// is when it is given back: its UpdatedAt, which for a parked delivery is
// when it was parked.
type Release struct {
	MsgID         string
	EndpointID    string
	Lease         int64
	NextAttemptAt time.Time
	At            time.Time
}

// ResendParams names the delivery ResendDelivery attempts once more: the
// message MsgID of the app AppID to its endpoint EndpointID, due at Now.
type ResendParams struct {
	AppID      string
	MsgID      string
	EndpointID string
	Now        time.Time
}

// RecoverParams selects deliveries to recover.
type RecoverParams struct {
	AppID      string
	EndpointID string
	Since      time.Time
	Until      time.Time // zero: no upper bound
	AfterMsgID string
	Limit      int
	Now        time.Time
}

// Destination is a delivery of a message with its endpoint.
type Destination struct {
	Endpoint *Endpoint
	Delivery *Delivery
}

// EndpointMessage is a message with its delivery to one endpoint.
type EndpointMessage struct {
	Message  *Message
	Delivery *Delivery
}

// ListEndpointMessagesParams selects the messages of an endpoint; the page key
// is the message ID.
type ListEndpointMessagesParams struct {
	AppID      string
	EndpointID string
	Page
	Channel     string
	Tag         string // empty: any
	EventTypes  []string
	Status      *DeliveryStatus // as reported (see Delivery.ReportedStatus)
	Before      time.Time
	After       time.Time
	WithContent bool
}

// Stats counts deliveries by state.
type Stats struct {
	Success int64
	Pending int64 // pending, never attempted
	Sending int64 // pending, attempted before
	Fail    int64
	// Canceled counts deliveries skipped because the endpoint was
	// disabled, and those of scheduled messages that were cancelled.
	Canceled int64
}

// EndpointStatsParams selects the deliveries EndpointStats counts: those
// to EndpointID whose messages were created in [Since, Until).
type EndpointStatsParams struct {
	EndpointID string
	Since      time.Time // zero: no lower bound
	Until      time.Time // zero: no upper bound
}

// QueueStats is the state of the delivery queue at one moment.
type QueueStats struct {
	// DueFirst counts due first attempts (pending, never attempted, not
	// manual).
	DueFirst int64
	// DueRetry counts due retries and manual attempts (pending, attempted
	// before or manual).
	DueRetry int64
	// Parked counts parked deliveries (see the package doc): due, waiting
	// for room at their endpoints. SQLite counts at most 10,000.
	Parked int64
	// OldestDue is the smallest NextAttemptAt among due deliveries of both
	// kinds, or the UpdatedAt of the oldest parked one (when it was
	// parked) when that is earlier; zero when none is due. (SQLite looks
	// at one parked delivery per endpoint, usually the one it sends next.)
	OldestDue time.Time
}

// Due counts every due delivery, parked ones included.
func (q *QueueStats) Due() int64 { return q.DueFirst + q.DueRetry + q.Parked }

// Earliest returns the earliest of ts that is not zero; zero when all are.
func Earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// Attempt is one HTTP request made to deliver a message.
type Attempt struct {
	ID         string
	AppID      string
	MsgID      string
	EndpointID string
	URL        string
	// Status is StatusSuccess or StatusFail.
	Status     DeliveryStatus
	StatusCode int // 0 when no response was received
	// Response is the start of the response body, or the error when no
	// response was received; empty once expunged. It is stored as Text:
	// U+0000 and bytes that are not UTF-8 read back as U+FFFD.
	Response    string
	DurationMs  int64
	TriggerType TriggerType
	// EventType is the message's, kept on the attempt for filtering.
	EventType string
	CreatedAt time.Time
}

// DeliveryKey names the delivery of the message MsgID to the endpoint
// EndpointID.
type DeliveryKey struct {
	MsgID      string
	EndpointID string
}

// AttemptKey names one attempt: the attempt ID of the message MsgID of the
// app AppID.
type AttemptKey struct {
	AppID string
	MsgID string
	ID    string
}

// ListAttemptsParams selects attempts by endpoint (EndpointID set) or by
// message (MsgID set); both may be set.
type ListAttemptsParams struct {
	AppID      string
	EndpointID string
	MsgID      string
	Page
	Status *DeliveryStatus
	// StatusCodeClass is 0 (no response), 100, 200, 300, 400 or 500; nil:
	// any.
	StatusCodeClass *int
	EventTypes      []string
	Channel         string
	Tag             string // empty: any
	Before, After   time.Time
	WithContent     bool
	// Last, when set, is the last ID the page may reach, inclusive, in
	// its direction (see NthEndpointAttemptID); empty: no bound.
	Last string
}

// TaskStatus is the state of a background task.
type TaskStatus string

// Task states.
const (
	TaskRunning  TaskStatus = "running"
	TaskFinished TaskStatus = "finished"
	TaskFailed   TaskStatus = "failed"
)

// Task is paged background work that survives restarts, such as recovering
// an endpoint.
type Task struct {
	ID         string
	Kind       string // e.g. "endpoint.recover"
	AppID      string
	EndpointID string
	// Params is the task's input as JSON.
	Params json.RawMessage
	// Cursor is where the next page starts.
	Cursor     string
	Status     TaskStatus
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ClaimTaskParams leases a task (ClaimTask).
type ClaimTaskParams struct {
	// Now is the time of the claim: a lease that ends at or before it
	// has expired.
	Now time.Time
	// LeaseUntil is when the new lease ends.
	LeaseUntil time.Time
}

// Token is an API token; only a hash of the secret part is stored.
type Token struct {
	ID   string
	Hash []byte
	// AppID scopes a portal token to one app; empty for admin tokens.
	AppID     string
	Name      string
	ExpiresAt time.Time // zero: never
	CreatedAt time.Time
	// Session marks a browser session of the portal (AppID set) or the
	// console, made when someone signs in: the API never accepts one as a
	// bearer token, and ListAPITokens never lists one.
	Session bool
}

// IdempotencyRecord is the first response to a request under an
// idempotency key.
type IdempotencyRecord struct {
	Key string
	// Fingerprint identifies the request (method, path, body hash): a
	// different request under the same key is refused.
	Fingerprint string
	Done        bool
	StatusCode  int
	Body        []byte
	LockedUntil time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// BeginIdempotentParams starts a request under an idempotency key.
type BeginIdempotentParams struct {
	// Key is scoped by the caller (for example the token ID and the
	// client's key).
	Key         string
	Fingerprint string
	Now         time.Time
	LockUntil   time.Time
	ExpiresAt   time.Time
}

// DeleteHistoryParams says which messages Store.DeleteHistory deletes.
type DeleteHistoryParams struct {
	// Before: messages whose CreatedAt is earlier.
	Before time.Time
	// Limit is the most messages one call deletes.
	Limit int
	// Rescan reads from the oldest message rather than from where the
	// previous call stopped.
	Rescan bool
}

// HistoryReadFactor bounds the messages one DeleteHistory call reads:
// HistoryReadFactor x Limit.
const HistoryReadFactor = 10

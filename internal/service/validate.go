// Package service is the domain code the HTTP API and the portal share: the
// rules for endpoint bodies (URL, event types a caller may see, channels,
// headers, secrets), writing and replaying messages, and what of an attempt
// a caller may read. Each rule lives here once; internal/api maps its errors
// to the Svix wire format and internal/portal to pages.
package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidationError is a request with problems, each naming its field; the
// API answers it with 422 and the Svix validation body.
type ValidationError struct {
	Items []ValidationItem
}

// ValidationItem is one problem with the request.
type ValidationItem struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

func (e *ValidationError) Error() string {
	if len(e.Items) == 0 {
		return "validation error"
	}
	return fmt.Sprintf("validation error: %v: %s", e.Items[0].Loc, e.Items[0].Msg)
}

// Invalid returns a ValidationError for one field.
func Invalid(loc []string, msg, typ string) error {
	return &ValidationError{Items: []ValidationItem{{Loc: loc, Msg: msg, Type: typ}}}
}

// Opt is a request field that may be absent, null, or set: PATCH needs all
// three.
type Opt[T any] struct {
	Set  bool // the field was present
	Null bool // the field was null
	V    T
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	if raw, ok := any(&o.V).(*json.RawMessage); ok {
		// The decoder hands over a value it has already checked: a copy
		// is all a raw value needs, and it spares scanning a message's
		// payload twice more.
		*raw = append((*raw)[:0], b...)
		return nil
	}
	err := json.Unmarshal(b, &o.V)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		// A value that does not parse as T (a date-time that is not RFC
		// 3339): report it as a type error, which the decoder labels
		// with the field's name.
		return &json.UnmarshalTypeError{Value: JSONKind(b), Type: reflect.TypeOf(o.V)}
	}
	return err
}

// JSONKind names the kind of a JSON value for error messages.
func JSONKind(b []byte) string {
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string " + string(b)
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	}
	return "number " + string(b)
}

// Value returns the value when set and not null.
func (o Opt[T]) Value() (T, bool) {
	return o.V, o.Set && !o.Null
}

// Validator collects problems with a request so all are reported at once.
type Validator struct {
	Items []ValidationItem
}

// Add records a problem at loc ("body", then the field's path).
func (v *Validator) Add(loc []string, msg, typ string) {
	v.Items = append(v.Items, ValidationItem{Loc: loc, Msg: msg, Type: typ})
}

// Body records a problem with a field of the body.
func (v *Validator) Body(field string, msg, typ string) {
	v.Add([]string{"body", field}, msg, typ)
}

// Err returns the problems as a *ValidationError, or nil when there are
// none.
func (v *Validator) Err() error {
	if len(v.Items) == 0 {
		return nil
	}
	return &ValidationError{Items: v.Items}
}

// IDPattern is what uids, event type names and channels are made of.
var IDPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.]+$`)

// Ident checks a uid-like string: 1..max characters of [a-zA-Z0-9-_.].
func (v *Validator) Ident(loc []string, s string, max int) {
	switch {
	case s == "":
		v.Add(loc, "must not be empty", "value_error.any_str.min_length")
	case len(s) > max:
		v.Add(loc, fmt.Sprintf("must be at most %d characters", max), "value_error.any_str.max_length")
	case !IDPattern.MatchString(s):
		v.Add(loc, `must match ^[a-zA-Z0-9\-_.]+$`, "value_error.str.regex")
	}
}

// IdentList checks a list of identifiers: items valid, unique, count bounds.
func (v *Validator) IdentList(field string, list []string, itemMax, minItems, maxItems int) {
	if len(list) < minItems {
		v.Body(field, fmt.Sprintf("must have at least %d item(s)", minItems), "value_error.list.min_items")
	}
	if maxItems > 0 && len(list) > maxItems {
		// Reported alone: the items of an oversized list are not worth
		// an error each.
		v.Body(field, fmt.Sprintf("must have at most %d items", maxItems), "value_error.list.max_items")
		return
	}
	seen := make(map[string]bool, len(list))
	for i, s := range list {
		loc := []string{"body", field, strconv.Itoa(i)}
		v.Ident(loc, s, itemMax)
		if seen[s] {
			v.Add(loc, "items must be unique", "value_error.list.unique_items")
		}
		seen[s] = true
	}
}

// Text checks a free-text field: no control characters U+0000 to U+0008,
// and min..max characters (max 0: no bound).
func (v *Validator) Text(field, s string, min, max int) {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= 0x08 }) {
		// As the Svix server: no control characters 0x00-0x08.
		v.Body(field, "must not contain control characters U+0000 to U+0008", "value_error")
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		v.Body(field, fmt.Sprintf("must be at least %d character(s)", min), "value_error.any_str.min_length")
	}
	if max > 0 && n > max {
		v.Body(field, fmt.Sprintf("must be at most %d characters", max), "value_error.any_str.max_length")
	}
}

// Metadata checks a metadata map: at most 100 keys, keys of at most 256
// and values of at most 4096 bytes, no U+0000.
func (v *Validator) Metadata(field string, m map[string]string) {
	if len(m) > 100 {
		v.Body(field, "must have at most 100 keys", "value_error")
	}
	for k, val := range m {
		if len(k) > 256 || len(val) > 4096 {
			v.Body(field, "keys must be at most 256 and values at most 4096 bytes", "value_error")
			return
		}
	}
	for k, val := range m {
		if strings.ContainsRune(k, 0) || strings.ContainsRune(val, 0) {
			v.Body(field, NULMessage("keys and values"), "value_error")
			return
		}
	}
}

// NULMessage says that what must not contain U+0000. No stored string may:
// PostgreSQL's text and jsonb cannot hold it, and both drivers accept the
// same input.
func NULMessage(what string) string {
	return what + " must not contain the NUL character (U+0000)"
}

// Duration turns a count of units taken from the body into a Duration,
// checking that it is within [lo, hi] first: a count multiplied before it
// was checked could wrap around (18446744074 seconds is 0.29 s) and pass.
// unitName names the unit in the message ("seconds"). Out of range, it
// records the problem and returns 0.
func (v *Validator) Duration(field string, n, lo, hi int64, unit time.Duration, unitName string) time.Duration {
	if n < lo || n > hi {
		v.Body(field, fmt.Sprintf("must be between %d and %d %s", lo, hi, unitName), "value_error.number")
		return 0
	}
	return time.Duration(n) * unit
}

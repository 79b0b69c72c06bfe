package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/store"
)

// EventTypeIn is the body of the Svix API's EventTypeIn, EventTypeUpdate and
// EventTypePatch.
type EventTypeIn struct {
	Name        Opt[string]          `json:"name"`
	Description Opt[string]          `json:"description"`
	Archived    Opt[bool]            `json:"archived"`
	Deprecated  Opt[bool]            `json:"deprecated"`
	FeatureFlag Opt[string]          `json:"featureFlag"`
	Schemas     Opt[json.RawMessage] `json:"schemas"`
	// ValidatePayloads is a Herald extension: true or false, or null for
	// the server's default. Absent, an update leaves it as it is (Svix
	// clients do not know it) and a create takes null.
	ValidatePayloads Opt[bool] `json:"validatePayloads"`
}

// ValidateEventType checks a body; full is true for create and PUT. The name
// is checked by the caller when it comes from the body.
func ValidateEventType(in *EventTypeIn, full bool) error {
	var v Validator
	if full && !in.Description.Set || in.Description.Null {
		v.Body("description", "field required", "value_error.missing")
	} else if d, ok := in.Description.Value(); ok {
		v.Text("description", d, 0, 8192)
	}
	if in.Archived.Null {
		v.Body("archived", "must be a boolean", "type_error")
	}
	if in.Deprecated.Null {
		v.Body("deprecated", "must be a boolean", "type_error")
	}
	if f, ok := in.FeatureFlag.Value(); ok {
		v.Ident([]string{"body", "featureFlag"}, f, 256)
	}
	if s, ok := in.Schemas.Value(); ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			v.Body("schemas", "must be an object mapping a version to a JSON schema", "type_error.dict")
		} else if len(s) <= 256<<10 {
			for _, version := range schemaVersions(m) {
				schema := m[version]
				if t := bytes.TrimSpace(schema); len(t) == 0 || t[0] != '{' {
					v.Add([]string{"body", "schemas", version}, "must be a JSON schema object", "type_error.dict")
				} else if _, err := compileSchema(schema); err != nil {
					v.Add([]string{"body", "schemas", version}, err.Error(), "value_error.jsonschema")
				}
			}
		}
		if len(s) > 256<<10 {
			v.Body("schemas", "must be at most 256 KiB", "value_error")
		} else if problem := JSONProblem(s); problem != "" {
			v.Body("schemas", "cannot be stored: "+problem, "value_error")
		}
	}
	return v.Err()
}

// EventTypeUpdate is the change an event type body asks for. With full
// (create and PUT) it names every field the body carries, absent optional
// fields taking their defaults; otherwise (PATCH) only the fields present.
func EventTypeUpdate(in *EventTypeIn, full bool) store.UpdateEventTypeParams {
	var p store.UpdateEventTypeParams
	if full || in.Description.Set {
		p.Description = &in.Description.V
	}
	if full || in.Archived.Set {
		p.Archived = &in.Archived.V
	}
	if full || in.Deprecated.Set {
		p.Deprecated = &in.Deprecated.V
	}
	if full || in.FeatureFlag.Set {
		p.FeatureFlag = &in.FeatureFlag.V
	}
	if full || in.Schemas.Set {
		s, _ := in.Schemas.Value()
		p.Schemas = &s
	}
	if in.ValidatePayloads.Set {
		v := store.ValidationDefault
		if on, ok := in.ValidatePayloads.Value(); ok && on {
			v = store.ValidationOn
		} else if ok {
			v = store.ValidationOff
		}
		p.ValidatePayloads = &v
	}
	return p
}

// NewEventType is the event type called name that a create or PUT body
// describes.
func NewEventType(name string, in *EventTypeIn, now time.Time) *store.EventType {
	et := &store.EventType{Name: name, CreatedAt: now, UpdatedAt: now}
	p := EventTypeUpdate(in, true)
	set(&et.Description, p.Description)
	set(&et.Archived, p.Archived)
	set(&et.Deprecated, p.Deprecated)
	set(&et.FeatureFlag, p.FeatureFlag)
	set(&et.Schemas, p.Schemas)
	set(&et.ValidatePayloads, p.ValidatePayloads)
	return et
}

// CreateEventType creates the event type called name that a validated body
// (ValidateEventType) describes; creating an archived one brings it back
// with the body's fields.
func (s *Service) CreateEventType(ctx context.Context, name string, in *EventTypeIn) (*store.EventType, error) {
	now := s.Now()
	existing, err := s.store.GetEventType(ctx, name)
	switch {
	case err == nil && !existing.Archived:
		return nil, errEventTypeExists
	case err == nil:
		p := EventTypeUpdate(in, true)
		unarchived := false
		p.Name, p.Archived, p.UpdatedAt = existing.Name, &unarchived, now
		defer s.DropRule(name)
		return s.store.UpdateEventType(ctx, p)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	et := NewEventType(name, in, now)
	defer s.DropRule(name)
	err = s.store.CreateEventType(ctx, et)
	if errors.Is(err, store.ErrConflict) {
		return nil, errEventTypeExists
	}
	if err != nil {
		return nil, err
	}
	return et, nil
}

var errEventTypeExists = &Error{Status: http.StatusConflict, Code: "event_type_exists", Detail: "An event_type with this name already exists"}

// maxJSONNumber is the longest number kept in a stored JSON document.
const maxJSONNumber = 100

// JSONProblem says why the valid JSON document b cannot be stored as it is
// by every driver, or returns "" when it can. PostgreSQL keeps JSON
// documents (event type schemas) as jsonb, which refuses \u0000, a UTF-16
// surrogate escape without its pair, bytes that are not UTF-8, and numbers
// beyond its numeric type; SQLite would keep them all. The rule here is the
// same for both drivers: no U+0000, valid UTF-8 and escapes, and numbers of
// at most 100 characters within the range of a 64-bit float.
func JSONProblem(b []byte) string {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			end, problem := jsonStringProblem(b, i+1)
			if problem != "" {
				return problem
			}
			i = end
		case c == '-' || '0' <= c && c <= '9':
			end := i
			for end < len(b) && strings.IndexByte("+-.0123456789eE", b[end]) >= 0 {
				end++
			}
			if problem := jsonNumberProblem(string(b[i:end])); problem != "" {
				return problem
			}
			i = end - 1
		}
	}
	return ""
}

// jsonStringProblem checks the JSON string whose contents start at b[i]; it
// returns the index of the closing quote.
func jsonStringProblem(b []byte, i int) (int, string) {
	for ; i < len(b) && b[i] != '"'; i++ {
		switch {
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'u':
			r, ok := hex4(b, i+2)
			i += 5
			switch {
			case !ok:
				return i, "contains a malformed \\u escape"
			case r == 0:
				return i, NULMessage("strings")
			case utf16.IsSurrogate(r):
				low, ok := rune(0), false
				if r < 0xdc00 && i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					low, ok = hex4(b, i+3)
				}
				if !ok || utf16.DecodeRune(r, low) == utf8.RuneError {
					return i, "contains a UTF-16 surrogate escape without its pair"
				}
				i += 6
			}
		case b[i] == '\\':
			i++
		case b[i] >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, "contains bytes that are not UTF-8"
			}
			i += size - 1
		}
	}
	return i, ""
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

func jsonNumberProblem(num string) string {
	const msg = "numbers must be at most 100 characters and within the range of a 64-bit float"
	if len(num) > maxJSONNumber {
		return msg
	}
	f, err := strconv.ParseFloat(num, 64)
	mantissa, _, _ := strings.Cut(strings.ToLower(num), "e")
	if err != nil || f == 0 && strings.ContainsAny(mantissa, "123456789") {
		return msg
	}
	return ""
}

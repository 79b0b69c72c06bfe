package postgres

import (
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/store"
)

// Values as stored, and scanners for what comes back.

// ts is a time as stored: NULL for the zero time.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// tscan scans a timestamptz column (NULL: zero time) into *t, in UTC.
type tscan struct{ t *time.Time }

func (x tscan) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*x.t = time.Time{}
		return nil
	}
	*x.t = v.Time.UTC()
	return nil
}

// nstr stores "" as NULL.
func nstr(s string) pgtype.Text {
	return pgtype.Text{String: s, Valid: s != ""}
}

// sscan scans a nullable text column into *s ("" for NULL).
type sscan struct{ s *string }

func (x sscan) ScanText(v pgtype.Text) error {
	*x.s = v.String
	return nil
}

// jsonMap stores a map as a JSON object ("{}" for nil).
func jsonMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// mscan scans a jsonb object column into a never-nil map.
type mscan struct{ m *map[string]string }

func (x mscan) Scan(src any) error {
	m := map[string]string{}
	if b := asBytes(src); len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
	}
	*x.m = m
	return nil
}

// list stores a list as an array, nil as NULL.
func list(l []string) any {
	if l == nil {
		return nil
	}
	return l
}

// rawArg stores a RawMessage as jsonb, nil as NULL.
func rawArg(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return string(r)
}

// rawscan scans a nullable jsonb column into a RawMessage (NULL: nil).
type rawscan struct{ r *json.RawMessage }

func (x rawscan) Scan(src any) error {
	b := asBytes(src)
	if src == nil {
		*x.r = nil
		return nil
	}
	*x.r = append(json.RawMessage(nil), b...)
	return nil
}

func asBytes(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// oldSecrets stores old secrets as jsonb (NULL for nil), their expiry in UTC
// to the microsecond.
func oldSecrets(l []store.OldSecret) (any, error) {
	if l == nil {
		return nil, nil
	}
	out := make([]store.OldSecret, len(l))
	for i, o := range l {
		out[i] = store.OldSecret{Secret: o.Secret, ExpiresAt: store.Truncate(o.ExpiresAt)}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// oldSecretsScan scans the old_secrets column (NULL: nil).
type oldSecretsScan struct{ l *[]store.OldSecret }

func (x oldSecretsScan) Scan(src any) error {
	*x.l = nil
	if src == nil {
		return nil
	}
	var l []store.OldSecret
	if err := json.Unmarshal(asBytes(src), &l); err != nil {
		return err
	}
	for i := range l {
		l[i].ExpiresAt = store.Truncate(l[i].ExpiresAt)
	}
	*x.l = l
	return nil
}

// strs is a list parameter that is never NULL (an empty array for nil), for
// "= ANY" and "<> ALL".
func strs(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// validationArg stores an event type's payload validation setting: NULL
// for the server's default, else true or false.
func validationArg(v store.PayloadValidation) pgtype.Bool {
	return pgtype.Bool{Bool: v == store.ValidationOn, Valid: v != store.ValidationDefault}
}

// vscan scans validate_payloads (NULL, true or false) into a
// PayloadValidation.
type vscan struct{ v *store.PayloadValidation }

func (x vscan) ScanBool(v pgtype.Bool) error {
	switch {
	case !v.Valid:
		*x.v = store.ValidationDefault
	case v.Bool:
		*x.v = store.ValidationOn
	default:
		*x.v = store.ValidationOff
	}
	return nil
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/service"
)

// Opt is a request field that may be absent, null, or set.
type Opt[T any] = service.Opt[T]

// validator collects problems with a request so all are reported at once.
type validator = service.Validator

// readBody reads the request body; the size limit is set by the server's
// middleware (http.MaxBytesReader), so a too-large body surfaces here as a
// *http.MaxBytesError.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, err
		}
		return nil, errBadRequest("cannot read request body")
	}
	return b, nil
}

// decodeBody decodes the JSON body into v. An empty body decodes as {}.
// Syntax errors are 400; a value of the wrong type is 422 naming the field.
func decodeBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

func decodeJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			loc := []string{"body"}
			if typeErr.Field != "" {
				loc = append(loc, strings.Split(typeErr.Field, ".")...)
			}
			what := typeErr.Type.String()
			switch typeErr.Type.Kind().String() {
			case "struct", "map":
				what = "an object"
			case "slice":
				what = "an array"
			case "uint16", "uint32", "uint64", "int", "int64":
				what = "an integer in range"
			case "string":
				what = "a string"
			case "bool":
				what = "a boolean"
			}
			if typeErr.Type == reflect.TypeFor[time.Time]() {
				what = "an RFC 3339 date-time"
			}
			return invalid(loc, fmt.Sprintf("expected %s, got %s", what, typeErr.Value), "type_error")
		}
		return errBadRequest("request body is not valid JSON: " + err.Error())
	}
	// Anything after the value, even a stray } or ], makes the body
	// malformed (dec.More would miss those two).
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadRequest("request body has data after the JSON value")
	}
	return nil
}

// storableText reports whether s can be stored as text by every driver:
// valid UTF-8 without U+0000. Strings decoded from a JSON body are always
// valid UTF-8; path, query and header values need not be.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// query helpers

func queryBool(q url.Values, name string, def bool) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, invalid([]string{"query", name}, "must be true or false", "type_error.bool")
	}
	return b, nil
}

func queryTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid([]string{"query", name}, "must be an RFC 3339 date-time", "value_error.datetime")
	}
	return t, nil
}

// queryList reads a repeated query parameter; comma-separated values are
// split too (both encodings are in use by clients).
func queryList(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	// Some clients send name[]=a&name[]=b.
	for _, v := range q[name+"[]"] {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func queryInt(q url.Values, name string) (*int, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, invalid([]string{"query", name}, "must be an integer", "type_error.integer")
	}
	return &n, nil
}

package service

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/store"
)

// Payload validation (a Herald extension): an event type's newest JSON
// Schema, compiled once, checked against the payload of each message of
// that type when validation is on for it (the event type's validatePayloads,
// else Config.ValidatePayloads).

const (
	// maxViolations caps the violations a 422 lists, so that a huge
	// payload that is wrong everywhere does not make a huge answer.
	maxViolations = 50
	// ruleCacheTTL bounds how long the ingest path uses an event type read
	// earlier, as appCacheTTL does for apps: changes made through this
	// process are seen at once, those made through another replica within
	// this time.
	ruleCacheTTL = time.Second
	// compiledCacheTTL is how long a compiled schema is kept unused; it is
	// keyed by the schema's content, so it never goes stale.
	compiledCacheTTL = time.Hour
	// schemaBase is the URL a schema is compiled under (a reserved domain:
	// nothing is ever fetched from it or from anywhere else). A relative
	// $ref resolves against it unless the schema has an $id.
	schemaBase = "https://herald.invalid/schema.json"
)

// dialects are the values of $schema Herald accepts (with http or https,
// with or without an empty fragment); a schema without one is draft
// 2020-12.
var dialects = map[string]*jsonschema.Draft{
	"json-schema.org/draft/2020-12/schema": jsonschema.Draft2020,
	"json-schema.org/draft-07/schema":      jsonschema.Draft7,
}

// dialect returns the draft $schema names.
func dialect(schema any) (*jsonschema.Draft, bool) {
	s, _ := schema.(string)
	s = strings.TrimSuffix(s, "#")
	s, ok := strings.CutPrefix(s, "https://")
	if !ok {
		s, ok = strings.CutPrefix(s, "http://")
	}
	d, known := dialects[s]
	return d, ok && known
}

// printer renders the library's messages.
var printer = message.NewPrinter(language.English)

// noFetch is the compiler's loader: every reference outside the schema
// (http, https, file or any other URL) is refused, so that compiling never
// reaches the network or the disk. The meta-schemas of the drafts are
// built into the library and need no loading.
type noFetch struct{}

func (noFetch) Load(url string) (any, error) {
	//lint:ignore ST1005 a sentence the API caller reads as is, starting with a proper noun
	return nil, errors.New("Herald does not load schemas from URLs; put the definition in this schema ($defs) and refer to it with a local $ref")
}

// compiledSchema is an event type's newest schema, compiled.
type compiledSchema struct {
	version string
	schema  *jsonschema.Schema
	// err is why the stored schema does not compile (one stored before
	// schemas were checked); nil when it does.
	err error
}

// payloadRule is what the ingest path needs to know of an event type.
type payloadRule struct {
	setting store.PayloadValidation
	// newest is the newest schema; nil when the event type has none or
	// does not exist.
	newest *compiledSchema
}

// compileSchema compiles one version of an event type's schemas, checking
// it against its draft's meta-schema. Its $schema, when present, must name
// draft 2020-12 or draft-07; without it the schema is draft 2020-12.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noFetch{})
	if obj, ok := doc.(map[string]any); ok {
		if v, ok := obj["$schema"]; ok {
			d, ok := dialect(v)
			if !ok {
				return nil, fmt.Errorf("$schema %s is not supported: use %q (draft 2020-12, the default) or %q (draft-07)",
					jsonText(v), "https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft-07/schema#")
			}
			c.DefaultDraft(d)
		}
	}
	if err := c.AddResource(schemaBase, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(schemaBase)
	if err != nil {
		return nil, schemaProblem(err)
	}
	return sch, nil
}

// schemaProblem turns a compile error into a reason for a person: the
// meta-schema violations with their places in the schema, or the reference
// that was not loaded.
func schemaProblem(err error) error {
	var (
		metaErr *jsonschema.SchemaValidationError
		loadErr *jsonschema.LoadURLError
	)
	switch {
	case errors.As(err, &metaErr):
		var ve *jsonschema.ValidationError
		if errors.As(metaErr.Err, &ve) {
			var parts []string
			for _, v := range violations(ve) {
				parts = append(parts, fmt.Sprintf("at %q: %s", jsonPointer(v.loc), v.msg))
			}
			return errors.New("not a valid JSON Schema: " + strings.Join(parts, "; "))
		}
		return fmt.Errorf("not a valid JSON Schema: %v", metaErr.Err)
	case errors.As(err, &loadErr):
		return fmt.Errorf("refers to %s, which is not in this schema: %v", loadErr.URL, loadErr.Err)
	}
	return err
}

// schemaVersions returns the versions of an event type's schemas, newest
// first: the highest number first (Svix numbers versions "1", "2", ...),
// then keys that are not numbers, in reverse byte order.
func schemaVersions(m map[string]json.RawMessage) []string {
	versions := make([]string, 0, len(m))
	for v := range m {
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b string) int {
		na, errA := strconv.Atoi(a)
		nb, errB := strconv.Atoi(b)
		switch {
		case errA == nil && errB == nil && na != nb:
			return cmp.Compare(nb, na)
		case errA == nil && errB != nil:
			return -1
		case errA != nil && errB == nil:
			return 1
		}
		return strings.Compare(b, a)
	})
	return versions
}

// newestSchema returns the newest version of schemas (a stored event type's
// map of version to schema) and its schema; ok is false when there is none.
func newestSchema(schemas json.RawMessage) (version string, schema json.RawMessage, ok bool) {
	var m map[string]json.RawMessage
	if len(schemas) == 0 || json.Unmarshal(schemas, &m) != nil || len(m) == 0 {
		return "", nil, false
	}
	version = schemaVersions(m)[0]
	return version, m[version], true
}

// compiledNewest returns the newest schema of schemas compiled, through
// the cache of compiled schemas (keyed by content, so that an event type
// read again, here or from another replica, is not compiled again unless
// its schema changed); nil when there is no schema.
func (s *Service) compiledNewest(schemas json.RawMessage) *compiledSchema {
	version, raw, ok := newestSchema(schemas)
	if !ok {
		return nil
	}
	key := sha256.Sum256(raw)
	now := s.Now()
	if c, ok := s.compiled.Get(key, now); ok && c.version == version {
		return c
	}
	c := &compiledSchema{version: version}
	c.schema, c.err = compileSchema(raw)
	s.compiled.Put(key, c, now.Add(compiledCacheTTL))
	return c
}

// ruleOf is the payload rule of an event type as read.
func (s *Service) ruleOf(et *store.EventType) *payloadRule {
	return &payloadRule{setting: et.ValidatePayloads, newest: s.compiledNewest(et.Schemas)}
}

// payloadRule returns the rule of the event type called name, for the
// ingest path: cached for ruleCacheTTL, including the absence of an event
// type (messages may name event types that do not exist). A cache miss
// costs one read of the event type by its primary key.
func (s *Service) payloadRule(ctx context.Context, name string) (*payloadRule, error) {
	now := s.Now()
	if r, ok := s.rules.Get(name, now); ok {
		return r, nil
	}
	et, err := s.store.GetEventType(ctx, name)
	var r *payloadRule
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = &payloadRule{}
	case err != nil:
		return nil, err
	default:
		r = s.ruleOf(et)
	}
	s.rules.Put(name, r, now.Add(ruleCacheTTL))
	return r, nil
}

// DropRule forgets the cached rule of the event type called name, after
// this process changed it.
func (s *Service) DropRule(name string) { s.rules.Drop(name) }

// validates reports whether payloads are checked under rule.
func (s *Service) validates(rule *payloadRule) bool {
	if rule.newest == nil {
		return false
	}
	switch rule.setting {
	case store.ValidationOn:
		return true
	case store.ValidationOff:
		return false
	}
	return s.validatePayloads
}

// CheckPayload refuses a payload that does not validate against the newest
// schema of its event type, when validation is on for it, with a 422 that
// lists each violation at ["body", "payload", ...its JSON pointer].
func (s *Service) CheckPayload(ctx context.Context, eventType string, payload json.RawMessage) error {
	rule, err := s.payloadRule(ctx, eventType)
	if err != nil {
		return err
	}
	if !s.validates(rule) {
		return nil
	}
	return rule.newest.check(eventType, payload)
}

// check validates payload against the schema.
func (c *compiledSchema) check(eventType string, payload json.RawMessage) error {
	if c.err != nil {
		return Invalid([]string{"body", "eventType"},
			fmt.Sprintf("the payload cannot be validated: schema version %s of event type %s does not compile (%v); fix the schema or turn validation off for the event type",
				c.version, eventType, c.err), "value_error.jsonschema")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return Invalid([]string{"body", "payload"}, "must be JSON", "value_error")
	}
	err = c.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate payload: %w", err)
	}
	vs := violations(ve)
	var v Validator
	for i, x := range vs {
		if i == maxViolations {
			v.Add([]string{"body", "payload"}, fmt.Sprintf("%d more violations are not listed", len(vs)-maxViolations),
				"value_error.jsonschema.truncated")
			break
		}
		typ := "value_error.jsonschema"
		if x.keyword != "" {
			typ += "." + x.keyword
		}
		v.Add(append([]string{"body", "payload"}, x.loc...), x.msg, typ)
	}
	return v.Err()
}

// violation is one thing wrong with a document.
type violation struct {
	loc     []string // the segments of its JSON pointer
	msg     string
	keyword string // the schema keyword that failed; "" when none
}

// violations returns the leaves of a validation error (each one thing that
// is wrong; the inner nodes only group them), ordered by place in the
// document and then by message, so that the same document always gets the
// same list.
func violations(e *jsonschema.ValidationError) []violation {
	var out []violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			v := violation{loc: e.InstanceLocation, msg: e.ErrorKind.LocalizedString(printer)}
			if kw := e.ErrorKind.KeywordPath(); len(kw) > 0 {
				v.keyword = kw[0]
			}
			out = append(out, v)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	slices.SortStableFunc(out, func(a, b violation) int {
		if c := comparePointers(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	return out
}

// comparePointers orders two JSON pointers' segments as a reader expects:
// a parent before its children, array indexes as numbers.
func comparePointers(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		na, errA := strconv.Atoi(a[i])
		nb, errB := strconv.Atoi(b[i])
		if errA == nil && errB == nil {
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// jsonText writes v as JSON, for messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// jsonPointer writes segments as a JSON pointer (RFC 6901).
func jsonPointer(segments []string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(s))
	}
	return b.String()
}

// schemaExamples returns the example objects of an event type's schemas:
// the newest version's first, each version's "examples" in order, then its
// "example".
func schemaExamples(schemas json.RawMessage) []json.RawMessage {
	var m map[string]json.RawMessage
	if len(schemas) == 0 || json.Unmarshal(schemas, &m) != nil {
		return nil
	}
	var out []json.RawMessage
	for _, version := range schemaVersions(m) {
		var s struct {
			Examples []json.RawMessage `json:"examples"`
			Example  json.RawMessage   `json:"example"`
		}
		if json.Unmarshal(m[version], &s) != nil {
			continue
		}
		for _, ex := range append(s.Examples, s.Example) {
			if ex = bytes.TrimSpace(ex); len(ex) > 0 && ex[0] == '{' {
				out = append(out, ex)
			}
		}
	}
	return out
}

// exampleFor returns the payload send-example sends for et: the first of
// its examples, or, when payload validation is on for it, the first that
// validates against its newest schema.
func (s *Service) exampleFor(et *store.EventType) (json.RawMessage, error) {
	examples := schemaExamples(et.Schemas)
	if len(examples) == 0 {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_scheme",
			Detail: "Unable to generate example message from event-type schema"}
	}
	rule := s.ruleOf(et)
	if !s.validates(rule) {
		return examples[0], nil
	}
	for _, ex := range examples {
		if rule.newest.check(et.Name, ex) == nil {
			return ex, nil
		}
	}
	return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_scheme",
		Detail: fmt.Sprintf("Unable to generate example message from event-type schema: payload validation is on for %s and none of its examples validates against its newest schema (version %s)",
			et.Name, rule.newest.version)}
}

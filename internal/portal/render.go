package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// page is what every template gets.
type page struct {
	Title string
	// Nav names the active item of the navigation.
	Nav     string
	Console bool
	// Base is the path of the app's pages ("" outside an app).
	Base string
	App  *store.App
	CSRF string
	// SignedIn shows the sign-out button.
	SignedIn bool
	Flash    string
	Data     any
}

type notice struct{ Text string }

type signIn struct {
	Next  string
	Error string
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(assets, "assets/pages/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		t, err := template.Must(base.Clone()).ParseFS(assets, name)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		pages[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"add": func(a, b int64) int64 { return a + b },
	"sub": func(a, b int) int { return a - b },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"ago":        func(t time.Time) string { return ago(time.Since(t)) },
	"statusText": statusName,
	// state names a delivery's state for a person: as reported, but a
	// delivery waiting for the one before it at a FIFO endpoint is
	// "waiting its turn", and one of a cancelled message "canceled".
	"state": func(d *store.Delivery) string {
		switch d.Status {
		case store.StatusBlocked:
			return "waiting its turn"
		case store.StatusCanceled:
			return "canceled"
		}
		return statusName(d.ReportedStatus())
	},
	"pretty": prettyJSON,
	"join":   strings.Join,
	"percent": func(ok, total int64) string {
		if total == 0 {
			return "—"
		}
		return strconv.FormatFloat(float64(ok)*100/float64(total), 'f', 1, 64) + " %"
	},
	"contains": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"example": func(schemas json.RawMessage) string {
		ex, ok := service.SchemaExample(schemas)
		if !ok {
			return ""
		}
		return prettyJSON(ex)
	},
}

// ago says how long ago a duration is, roughly.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// prettyJSON indents a JSON document; anything else is shown as it is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// render writes the page name with status.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view, pg page) {
	t := p.pages[name]
	if t == nil {
		p.log.ErrorContext(r.Context(), "portal: no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v != nil {
		pg.CSRF, pg.SignedIn, pg.Console = v.csrf, true, v.area.console
		if v.app != nil {
			pg.App, pg.Base = v.app, v.base()
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		p.log.ErrorContext(r.Context(), "portal: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows err as a page: the detail of a service error, a
// generic message for anything unexpected (whose cause is logged).
func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var se *service.Error
	var ve *service.ValidationError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &ve):
		se = &service.Error{Status: http.StatusUnprocessableEntity, Detail: validationText(ve)}
	case errors.As(err, &maxErr):
		se = &service.Error{Status: http.StatusRequestEntityTooLarge, Detail: "The form is too large."}
	case errors.Is(err, store.ErrNotFound):
		se = errNotFound
	case errors.Is(err, store.ErrUnavailable):
		p.log.ErrorContext(r.Context(), "portal: store unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		se = &service.Error{Status: http.StatusServiceUnavailable, Detail: "The database is unavailable; try again in a moment."}
	default:
		p.log.ErrorContext(r.Context(), "portal: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		se = &service.Error{Status: http.StatusInternalServerError, Detail: "Something went wrong on our side. Try again."}
	}
	title := http.StatusText(se.Status)
	p.render(w, r, se.Status, "notice", v, page{Title: title, Data: notice{Text: se.Detail}})
}

// validationText puts a validation error's problems in one sentence.
func validationText(ve *service.ValidationError) string {
	var parts []string
	for _, it := range ve.Items {
		parts = append(parts, strings.Join(it.Loc[min(1, len(it.Loc)):], ".")+": "+it.Msg)
	}
	return strings.Join(parts, "; ")
}

// fieldErrors maps each field of a validation error (its location without
// "body") to its messages, for the form to show beside the field.
type fieldErrors map[string]string

func (f fieldErrors) add(field, msg string) {
	if f[field] != "" {
		f[field] += " " + msg
		return
	}
	f[field] = msg
}

// fromValidation sorts the problems of err by field; ok is false when err is
// not a validation error.
func fromValidation(err error) (fieldErrors, bool) {
	var ve *service.ValidationError
	if !errors.As(err, &ve) {
		return nil, false
	}
	f := fieldErrors{}
	for _, it := range ve.Items {
		field := ""
		if len(it.Loc) > 1 {
			field = it.Loc[1]
		}
		msg := it.Msg
		if len(it.Loc) > 2 {
			msg = strings.Join(it.Loc[2:], ".") + ": " + msg
		}
		f.add(field, msg)
	}
	return f, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// notice is a handler of a page of text.
func (p *Portal) notice(status int, title, text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p.render(w, r, status, "notice", nil, page{Title: title, Data: notice{Text: text}})
	}
}

// statusName names a delivery or attempt status.
func statusName(s store.DeliveryStatus) string {
	switch s {
	case store.StatusSuccess:
		return "success"
	case store.StatusPending:
		return "pending"
	case store.StatusFail:
		return "fail"
	case store.StatusSending:
		return "retrying"
	case store.StatusSkipped:
		return "skipped"
	}
	return "unknown"
}

package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/internal/buildinfo"
)

// DefaultServerURL is the server the API commands talk to when neither
// --url nor HERALD_URL is given: where `herald serve` listens by default.
const DefaultServerURL = "http://127.0.0.1:8071"

// addAPIFlags registers the flags every API command shares, on a command
// group (inherited by its subcommands) or a single command.
func addAPIFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.String("url", DefaultServerURL, "Herald server URL, where herald serve listens; a trailing /api/v1 is dropped (env HERALD_URL)")
	f.String("token", "", "API token (env HERALD_TOKEN)")
	f.Bool("json", false, "print the API's JSON instead of a table")
}

// addAppFlag registers --app on a command; appID reads it.
func addAppFlag(cmd *cobra.Command, s Streams) {
	cmd.Flags().String("app", "", "application id or uid (env HERALD_APP)")
	_ = cmd.RegisterFlagCompletionFunc("app", completeApps(s))
}

// apiCall is what an API command works with: the client, the context that
// captures the raw response, and the output streams.
type apiCall struct {
	s      Streams
	c      *client.Client
	url    string
	json   bool
	ctx    context.Context
	raw    []byte
	stdout io.Writer
}

// newAPICall reads --url, --token and --json (falling back to HERALD_URL
// and HERALD_TOKEN) and builds the client.
func newAPICall(cmd *cobra.Command, s Streams) (*apiCall, error) {
	serverURL := serverBase(flagOrEnv(cmd, s, "url", "HERALD_URL"))
	token := flagOrEnv(cmd, s, "token", "HERALD_TOKEN")
	if token == "" {
		//lint:ignore ST1005 the CLI prints it as is: a message with a hint on its own line
		return nil, errors.New("no API token: pass --token or set HERALD_TOKEN\n" + tokenHint)
	}
	c, err := client.New(serverURL, token, client.WithUserAgent("herald-cli/"+buildinfo.Version()))
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--url: %w", err)}
	}
	// --json is inherited from the command's group, so it is read here
	// rather than bound where each command is built.
	asJSON, err := cmd.Flags().GetBool("json")
	if err != nil {
		return nil, err
	}
	a := &apiCall{s: s, c: c, url: c.BaseURL(), json: asJSON, stdout: s.Stdout}
	a.ctx = client.WithRawResponse(cmd.Context(), &a.raw)
	return a, nil
}

// serverBase returns the server URL the API commands use for --url: the
// default when it is empty, and without a trailing /api/v1, which the client
// adds itself: --url http://127.0.0.1:8071/api/v1, as the API's URLs are
// written, names the server at http://127.0.0.1:8071.
func serverBase(v string) string {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	if v == "" {
		return DefaultServerURL
	}
	return strings.TrimSuffix(v, "/api/v1")
}

// flagOrEnv returns the flag's value if it was given, else the environment
// variable's, else the flag's default.
func flagOrEnv(cmd *cobra.Command, s Streams, flag, env string) string {
	f := cmd.Flags().Lookup(flag)
	if f == nil {
		return s.Getenv(env)
	}
	if f.Changed {
		return f.Value.String()
	}
	if v := s.Getenv(env); v != "" {
		return v
	}
	return f.Value.String()
}

// appID returns --app, or HERALD_APP.
func appID(cmd *cobra.Command, s Streams) (string, error) {
	id := flagOrEnv(cmd, s, "app", "HERALD_APP")
	if id == "" {
		return "", &UsageError{Err: errors.New("missing --app: the application id or uid (or set HERALD_APP)")}
	}
	return id, nil
}

// newAppCall reads --app, then prepares the API call: the commands on one
// application's resources start with both.
func newAppCall(cmd *cobra.Command, s Streams) (string, *apiCall, error) {
	app, err := appID(cmd, s)
	if err != nil {
		return "", nil, err
	}
	a, err := newAPICall(cmd, s)
	return app, a, err
}

// required checks that v, the value of the string flag --name, was given,
// or returns a usage error saying what the flag is.
func required(v, name, what string) error {
	if v == "" {
		return &UsageError{Err: fmt.Errorf("missing --%s: %s", name, what)}
	}
	return nil
}

// args returns a validator accepting exactly the named positional
// arguments, with a usage error naming what is missing.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		switch {
		case len(a) < len(names):
			return &UsageError{Err: fmt.Errorf("missing %s", strings.Join(names[len(a):], " "))}
		case len(a) > len(names):
			extra := a[len(names)]
			if _, err := strconv.ParseBool(extra); err == nil {
				// --svix-headers false: a switch takes no separate value.
				return &UsageError{Err: fmt.Errorf("unexpected argument %q: a switch takes a value only after =, as in --metrics=false", extra)}
			}
			return &UsageError{Err: fmt.Errorf("unexpected argument %q", extra)}
		}
		for i, v := range a {
			if v == "" {
				return &UsageError{Err: fmt.Errorf("%s must not be empty", names[i])}
			}
		}
		return nil
	}
}

// anyChanged reports whether any of the flags was given.
func anyChanged(cmd *cobra.Command, names ...string) bool {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// changed returns v, the value of a flag, when the flag was given on the
// command line, for a PATCH field; nil when it was not given.
func changed[T any](f *pflag.FlagSet, name string, v T) *T {
	if !f.Changed(name) {
		return nil
	}
	return &v
}

// runGroup is the action of a command group: help, or an error naming an
// unknown subcommand and the ones it may be a misspelling of, as cobra
// does for the root command.
func runGroup(cmd *cobra.Command, a []string) error {
	if len(a) > 0 {
		msg := fmt.Sprintf("unknown command %q for %q", a[0], cmd.CommandPath())
		if near := closest(a[0], cmd.SuggestionsFor(a[0])); len(near) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(near, "\n\t") + "\n"
		}
		return &UsageError{Err: errors.New(msg)}
	}
	return cmd.Help()
}

// closest keeps the suggestions nearest to typed ("lst": list, not get
// as well), by edit distance; a suggestion cobra made by prefix counts as
// nearest.
func closest(typed string, near []string) []string {
	best, out := -1, []string(nil)
	for _, n := range near {
		d := editDistance(strings.ToLower(typed), strings.ToLower(n))
		if strings.HasPrefix(n, typed) {
			d = 0
		}
		switch {
		case best < 0 || d < best:
			best, out = d, []string{n}
		case d == best:
			out = append(out, n)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, a []string) error { return args()(cmd, a) }

const tokenHint = "Use the admin token `herald serve` printed on its first start, or make one with `herald token create`;\n" +
	"pass it with --token or the HERALD_TOKEN environment variable."

// explain turns an error of the client into a message for a person: the
// server's code and detail, how to get a token after a 401, and, when no
// Herald answered at --url, what was reached and what was expected.
func (a *apiCall) explain(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Code == "":
			// Herald answers every error with {"code", "detail"}: this
			// is a proxy's or another server's page.
			return a.notHerald(fmt.Sprintf("%d %s%s", apiErr.Status, http.StatusText(apiErr.Status), excerpt(apiErr.Status, apiErr.Detail)))
		case apiErr.Status == 401:
			return fmt.Errorf("the server refused the API token: %s: %s\n%s", apiErr.Code, apiErr.Detail, tokenHint)
		case len(apiErr.Validation) > 0:
			var b strings.Builder
			fmt.Fprintf(&b, "the server rejected the request (%d %s):", apiErr.Status, apiErr.Code)
			for _, v := range apiErr.Validation {
				fmt.Fprintf(&b, "\n  %s: %s", v.Field(), v.Msg)
			}
			return errors.New(b.String())
		default:
			return fmt.Errorf("server error %d %s: %s", apiErr.Status, orDash(apiErr.Code), apiErr.Detail)
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var (
		opErr     *net.OpError
		dnsErr    *net.DNSError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		certErr   *tls.CertificateVerificationError
		urlErr    *url.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &opErr) && opErr.Op == "dial",
		errors.As(err, &dnsErr):
		//lint:ignore ST1005 the CLI prints it as is: a message with a hint on its own line
		return fmt.Errorf("no Herald server answered at %s (%s)\nStart one with `herald serve`, or point --url (or HERALD_URL) at one.", a.url, rootCause(err))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("the Herald server at %s did not answer in time", a.url)
	case errors.As(err, &certErr):
		return fmt.Errorf("the TLS certificate of %s is not trusted: %w", a.url, certErr)
	case errors.As(err, &syntaxErr) || errors.As(err, &typeErr):
		return a.notHerald("an answer that is not the JSON of Herald's API")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "server closed idle connection"):
		// A peer that closes at once shows as any of these, as the
		// timing falls.
		return a.notHerald("the connection closed without an HTTP answer")
	case errors.As(err, &urlErr):
		// Connected, but no HTTP answer: TLS to a plain HTTP port, HTTP
		// to a TLS one, another protocol, a reset.
		return a.notHerald(rootCause(err))
	}
	return err
}

// notHerald is the error of an answer from --url that is not Herald's API:
// what answered, and where the API was expected.
func (a *apiCall) notHerald(what string) error {
	//lint:ignore ST1005 the CLI prints it as is: a message with a hint on its own line
	return fmt.Errorf("%s answered, but not as a Herald server: %s\n"+
		"Herald's API was expected at %s/api/v1/. Point --url (or HERALD_URL) at the address herald serve listens on, such as %s.",
		a.url, what, a.url, DefaultServerURL)
}

// excerpt returns the first line of the body of an error response,
// shortened, to show what answered: `: "<!DOCTYPE html>"`; nothing for an
// empty body, for which the client gives the status text.
func excerpt(status int, body string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	line = strings.TrimSpace(line)
	if line == "" || line == http.StatusText(status) {
		return ""
	}
	if r := []rune(line); len(r) > 60 {
		line = string(r[:60]) + "..."
	}
	return fmt.Sprintf(": %q", line)
}

// rootCause returns the innermost error's text, e.g. "connection refused".
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// printRaw writes the API's response as received, ending in a newline.
func (a *apiCall) printRaw() {
	out := a.raw
	if len(bytes.TrimSpace(out)) == 0 {
		return
	}
	a.stdout.Write(out)
	if out[len(out)-1] != '\n' {
		io.WriteString(a.stdout, "\n")
	}
}

// show prints the response: the API's JSON with --json, else human.
func (a *apiCall) show(err error, human func(w io.Writer)) error {
	if err != nil {
		return a.explain(err)
	}
	if a.json {
		a.printRaw()
		return nil
	}
	human(a.stdout)
	return nil
}

// done prints msg for a call that answers no content (204), unless --json.
func (a *apiCall) done(err error, msg string) error {
	if err != nil {
		return a.explain(err)
	}
	if !a.json {
		fmt.Fprintln(a.stdout, msg)
	}
	return nil
}

// listFlags are the paging flags of list commands.
type listFlags struct {
	limit    int
	iterator string
	all      bool
}

// addListFlags registers the paging flags on a list command.
func addListFlags(cmd *cobra.Command) *listFlags {
	var l listFlags
	cmd.Flags().IntVar(&l.limit, "limit", 0, "page size, up to 250 (default: the server's, 50)")
	cmd.Flags().StringVar(&l.iterator, "iterator", "", "continue a list from this iterator")
	cmd.Flags().BoolVar(&l.all, "all", false, "fetch every page")
	return &l
}

// options returns the options of the first page and whether to fetch
// every page.
func (l *listFlags) options() (client.ListOptions, bool, error) {
	if l.limit < 0 || l.limit > 250 {
		return client.ListOptions{}, false, &UsageError{Err: errors.New("--limit must be between 1 and 250")}
	}
	return client.ListOptions{Limit: l.limit, Iterator: l.iterator}, l.all, nil
}

// runList prints one page of a list, or every page with all: a table, or
// with --json the API's page (for all, one page holding every item).
func runList[T any](a *apiCall, opts client.ListOptions, all bool, noun string,
	fetch func(ctx context.Context, opts client.ListOptions) (*client.ListResponse[T], error),
	table func(w io.Writer, items []T)) error {
	var (
		items []T
		raws  []json.RawMessage
		last  *client.ListResponse[T]
	)
	for {
		page, err := fetch(a.ctx, opts)
		if err != nil {
			return a.explain(err)
		}
		last = page
		items = append(items, page.Data...)
		if !all {
			break
		}
		if a.json {
			var env struct {
				Data []json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(a.raw, &env); err != nil {
				return fmt.Errorf("decode list page: %w", err)
			}
			raws = append(raws, env.Data...)
		}
		if page.Done || len(page.Data) == 0 || page.Iterator == "" || page.Iterator == opts.Iterator {
			break
		}
		opts.Iterator = page.Iterator
	}
	switch {
	case a.json && !all:
		a.printRaw()
	case a.json:
		if raws == nil {
			raws = []json.RawMessage{}
		}
		out, err := json.Marshal(struct {
			Data     []json.RawMessage `json:"data"`
			Iterator *string           `json:"iterator"`
			Done     bool              `json:"done"`
		}{Data: raws, Done: true})
		if err != nil {
			return err
		}
		a.stdout.Write(append(out, '\n'))
	case len(items) == 0:
		fmt.Fprintf(a.s.Stderr, "No %s.\n", noun)
	default:
		table(a.stdout, items)
		if !all && !last.Done && last.Iterator != "" {
			fmt.Fprintf(a.s.Stderr, "More %s: add --iterator %s, or --all.\n", noun, last.Iterator)
		}
	}
	return nil
}

// readData reads a JSON argument: the text itself, @file for a file's
// contents, or @- for standard input. The JSON must be valid; it is passed
// on byte for byte, less surrounding whitespace.
func readData(s Streams, flag, v string) (json.RawMessage, error) {
	var b []byte
	switch {
	case v == "@-":
		var err error
		if b, err = io.ReadAll(s.Stdin); err != nil {
			return nil, fmt.Errorf("--%s: read standard input: %w", flag, err)
		}
	case strings.HasPrefix(v, "@"):
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, &UsageError{Err: fmt.Errorf("--%s: %w", flag, err)}
		}
	default:
		b = []byte(v)
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, &UsageError{Err: fmt.Errorf("--%s is not valid JSON", flag)}
	}
	return json.RawMessage(b), nil
}

// parseKeyValues parses KEY=VALUE flags into a map.
func parseKeyValues(flag string, list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, &UsageError{Err: fmt.Errorf("--%s %q: want KEY=VALUE", flag, kv)}
		}
		m[k] = v
	}
	return m, nil
}

// maxAgeDays is the longest age parseWhen takes in days (about 273 years).
const maxAgeDays = 100000

// parseWhen parses a point in time given as RFC 3339 ("2024-05-06T07:08:09Z"),
// a date ("2024-05-06", UTC) or an age ("90m", "36h", "7d": that long ago).
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		// Checked before it is multiplied: 106752d would wrap around.
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= maxAgeDays {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		} else if err == nil {
			return time.Time{}, &UsageError{Err: fmt.Errorf("--%s %q: an age in days must be between 0d and %dd", flag, s, maxAgeDays)}
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, &UsageError{Err: fmt.Errorf("--%s %q: want an RFC 3339 time, a date (2006-01-02) or an age (90m, 36h, 7d)", flag, s)}
}

// timeFlag parses v, the value of an optional time flag: the zero time
// when it is empty.
func timeFlag(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseWhen(name, v, now)
}

// completeApps completes application ids from the server, quietly giving
// nothing when it cannot be reached.
func completeApps(s Streams) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		a, err := newAPICall(cmd, s)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		page, err := a.c.ListApps(cmd.Context(), &client.ListOptions{Limit: 250})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, app := range page.Data {
			id := app.ID
			if app.UID != "" {
				id = app.UID
			}
			if strings.HasPrefix(id, toComplete) {
				out = append(out, cobra.CompletionWithDesc(id, app.Name))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeAppArg completes the first positional argument with application
// ids.
func completeAppArg(s Streams) cobra.CompletionFunc {
	apps := completeApps(s)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return apps(cmd, args, toComplete)
	}
}

// completeEndpointArg completes the first positional argument with the
// endpoints of --app.
func completeEndpointArg(s Streams) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		a, err := newAPICall(cmd, s)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		app, err := appID(cmd, s)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		page, err := a.c.ListEndpoints(cmd.Context(), app, &client.ListOptions{Limit: 250})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, ep := range page.Data {
			if strings.HasPrefix(ep.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(ep.ID, ep.URL))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeEventTypes completes event type names.
func completeEventTypes(s Streams) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		a, err := newAPICall(cmd, s)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		page, err := a.c.ListEventTypes(cmd.Context(), &client.ListEventTypesOptions{ListOptions: client.ListOptions{Limit: 250}})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, et := range page.Data {
			if strings.HasPrefix(et.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(et.Name, et.Description))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeEventTypeArg completes the first positional argument with event
// type names.
func completeEventTypeArg(s Streams) cobra.CompletionFunc {
	types := completeEventTypes(s)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return types(cmd, args, toComplete)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package bench

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/client"
)

// ListsResult is the latency of the list API after the run, one request at
// a time, with Config.ListPages.
type ListsResult struct {
	// Messages walks the app's messages, newest first, 50 a page.
	Messages Latency `json:"messages_ms"`
	// EndpointAttempts walks the attempts of the first healthy endpoint.
	EndpointAttempts Latency `json:"endpoint_attempts_ms"`
	// EndpointFailed asks for the endpoint's failed attempts: there are
	// none, so each request searches its whole window.
	EndpointFailed Latency `json:"endpoint_failed_attempts_ms"`
	// MessageAttempts lists the attempts of messages taken from the
	// message pages.
	MessageAttempts Latency `json:"message_attempts_ms"`
	// MessagesSeen and AttemptsSeen count the rows the message and
	// endpoint attempt pages returned.
	MessagesSeen int `json:"messages_seen"`
	AttemptsSeen int `json:"attempts_seen"`
}

// PrefillResult reports the rows written before the run, with
// Config.Prefill.
type PrefillResult struct {
	Messages int     `json:"messages"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"messages_per_sec"`
}

// prefill runs the prefill command on the server's database: cfg.Prefill
// delivered messages of the measured app, each with its attempt, dated
// before the run.
func (r *run) prefill(ctx context.Context, db string) (*PrefillResult, error) {
	args := append([]string(nil), r.cfg.PrefillCommand...)
	args = append(args, "--database", db, "--app", r.appID, "--endpoint", r.endpointID, "--endpoint-url", r.recv.url(0, r.cfg.Endpoints),
		"--messages", strconv.Itoa(r.cfg.Prefill), "--payload-bytes", strconv.Itoa(r.cfg.PayloadBytes),
		"--payload-retention", cmp.Or(r.cfg.PrefillRetention, 90*24*time.Hour).String())
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if r.cfg.Progress != nil {
		cmd.Stderr = r.cfg.Progress
	}
	setParentDeathSignal(cmd)
	start := time.Now()
	if out, err := cmd.Output(); err != nil {
		return nil, fmt.Errorf("prefill: %w: %s%s", err, out, stderr.String())
	}
	secs := time.Since(start).Seconds()
	return &PrefillResult{Messages: r.cfg.Prefill, Seconds: round(secs, 1), PerSec: round(float64(r.cfg.Prefill)/secs, 0)}, nil
}

// probeLists measures the list API, cfg.ListPages requests of each kind,
// one at a time.
func (r *run) probeLists(ctx context.Context) (*ListsResult, error) {
	cl, err := client.New(r.url, r.token, client.WithHTTPClient(r.api))
	if err != nil {
		return nil, err
	}
	timed := func(lat *[]time.Duration, f func() error) error {
		t := time.Now()
		err := f()
		*lat = append(*lat, time.Since(t))
		return err
	}
	n := r.cfg.ListPages
	var msgs, eps, failed, byMsg []time.Duration
	var msgIDs []string
	var seenMsgs, seenAtts int
	it := ""
	for range n {
		var page *client.ListResponse[client.Message]
		if err := timed(&msgs, func() (err error) {
			page, err = cl.ListMessages(ctx, r.appID, &client.ListMessagesOptions{ListOptions: client.ListOptions{Limit: 50, Iterator: it}})
			return err
		}); err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		seenMsgs += len(page.Data)
		if len(page.Data) > 0 {
			msgIDs = append(msgIDs, page.Data[len(page.Data)/2].ID)
		}
		if it = page.Iterator; page.Done {
			it = ""
		}
	}
	it = ""
	for range n {
		var page *client.ListResponse[client.Attempt]
		if err := timed(&eps, func() (err error) {
			page, err = cl.ListAttemptsByEndpoint(ctx, r.appID, r.endpointID, &client.ListAttemptsOptions{ListOptions: client.ListOptions{Limit: 50, Iterator: it}})
			return err
		}); err != nil {
			return nil, fmt.Errorf("list attempts by endpoint: %w", err)
		}
		seenAtts += len(page.Data)
		if it = page.Iterator; page.Done {
			it = ""
		}
	}
	fail := client.StatusFail
	for range n {
		if err := timed(&failed, func() error {
			_, err := cl.ListAttemptsByEndpoint(ctx, r.appID, r.endpointID, &client.ListAttemptsOptions{ListOptions: client.ListOptions{Limit: 50}, Status: &fail})
			return err
		}); err != nil {
			return nil, fmt.Errorf("list failed attempts: %w", err)
		}
	}
	for _, id := range msgIDs {
		if err := timed(&byMsg, func() error {
			_, err := cl.ListAttemptsByMessage(ctx, r.appID, id, nil)
			return err
		}); err != nil {
			return nil, fmt.Errorf("list attempts by message: %w", err)
		}
	}
	return &ListsResult{Messages: percentiles(msgs), EndpointAttempts: percentiles(eps), EndpointFailed: percentiles(failed), MessageAttempts: percentiles(byMsg),
		MessagesSeen: seenMsgs, AttemptsSeen: seenAtts}, nil
}

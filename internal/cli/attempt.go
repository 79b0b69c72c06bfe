package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func newAttemptCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "attempt",
		Aliases: []string{"attempts"},
		Short:   "Inspect delivery attempts and resend messages",
		Long: `Inspect delivery attempts: every request Herald made to deliver a message to
an endpoint, with the status code and the start of the response. Resend a
message to an endpoint once it can take it.`,
		Example: `  herald attempt list --app acme --endpoint main
  herald attempt list --app acme --msg msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw
  herald attempt resend --app acme --msg msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw --endpoint main`,
		RunE: runGroup,
	}
	addAPIFlags(cmd)
	cmd.AddCommand(
		newAttemptListCmd(s),
		newAttemptGetCmd(s),
		newAttemptResendCmd(s),
	)
	return cmd
}

func newAttemptListCmd(s Streams) *cobra.Command {
	var (
		list                                *listFlags
		ep, msg, status, tag, before, after string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the attempts to an endpoint or of a message, newest first",
		Example: `  herald attempt list --app acme --endpoint main
  herald attempt list --app acme --endpoint main --status fail --after 24h
  herald attempt list --app acme --msg msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := appID(cmd, s)
			if err != nil {
				return err
			}
			if ep == "" && msg == "" {
				return &UsageError{Err: errors.New("give --endpoint, --msg, or both")}
			}
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			opts, all, err := list.options()
			if err != nil {
				return err
			}
			ao := client.ListAttemptsOptions{Tag: tag}
			if status != "" {
				st, err := client.ParseMessageStatus(status)
				if err != nil {
					return &UsageError{Err: fmt.Errorf("--status: %w", err)}
				}
				ao.Status = &st
			}
			now := time.Now()
			if ao.Before, err = timeFlag("before", before, now); err != nil {
				return err
			}
			if ao.After, err = timeFlag("after", after, now); err != nil {
				return err
			}
			fetch := func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.Attempt], error) {
				ao.ListOptions = o
				return a.c.ListAttemptsByEndpoint(ctx, app, ep, &ao)
			}
			if msg != "" {
				ao.EndpointID = ep
				fetch = func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.Attempt], error) {
					ao.ListOptions = o
					return a.c.ListAttemptsByMessage(ctx, app, msg, &ao)
				}
			}
			return runList(a, opts, all, "attempts", fetch, writeAttempts)
		},
	}
	addAppFlag(cmd, s)
	list = addListFlags(cmd)
	cmd.Flags().StringVar(&ep, "endpoint", "", "attempts to this endpoint (id or uid)")
	cmd.Flags().StringVar(&msg, "msg", "", "attempts of this message (id or event id)")
	cmd.Flags().StringVar(&status, "status", "", "only attempts with this status: success or fail")
	cmd.Flags().StringVar(&tag, "tag", "", "only attempts of messages with this tag")
	cmd.Flags().StringVar(&before, "before", "", "only attempts made before: RFC 3339 time, date or age such as 1h")
	cmd.Flags().StringVar(&after, "after", "", "only attempts made after: RFC 3339 time, date or age such as 24h")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"success", "fail"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newAttemptGetCmd(s Streams) *cobra.Command {
	var msg string
	cmd := &cobra.Command{
		Use:     "get ATTEMPT",
		Short:   "Show an attempt with the response it got",
		Example: `  herald attempt get --app acme --msg msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw atmpt_2bXhQpY3wLr8d1NcKj5sTq0VeGz`,
		Args:    args("ATTEMPT"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			app, err := appID(cmd, s)
			if err != nil {
				return err
			}
			if err := required(msg, "msg", "the message the attempt belongs to"); err != nil {
				return err
			}
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			at, err := a.c.GetAttempt(a.ctx, app, msg, argv[0])
			return a.show(err, func(w io.Writer) { writeAttempt(w, at) })
		},
	}
	addAppFlag(cmd, s)
	cmd.Flags().StringVar(&msg, "msg", "", "the message (id or event id) the attempt belongs to (required)")
	return cmd
}

func newAttemptResendCmd(s Streams) *cobra.Command {
	var msg, ep string
	cmd := &cobra.Command{
		Use:   "resend",
		Short: "Send a message to an endpoint again",
		Long: `Send a message to an endpoint again, once: a failed resend is not retried.
The endpoint must be enabled. Follow it with: herald attempt list --app APP --msg MESSAGE`,
		Example: `  herald attempt resend --app acme --msg msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw --endpoint main`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := appID(cmd, s)
			if err != nil {
				return err
			}
			if err := required(msg, "msg", "the message to send again"); err != nil {
				return err
			}
			if err := required(ep, "endpoint", "the endpoint to send it to"); err != nil {
				return err
			}
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			err = a.c.ResendMessage(a.ctx, app, msg, ep)
			return a.show(err, func(w io.Writer) {
				fmt.Fprintf(w, "Queued %s for %s.\n", msg, ep)
			})
		},
	}
	addAppFlag(cmd, s)
	cmd.Flags().StringVar(&msg, "msg", "", "the message (id or event id) to send again (required)")
	cmd.Flags().StringVar(&ep, "endpoint", "", "the endpoint (id or uid) to send it to (required)")
	return cmd
}

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

func newEndpointCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoint",
		Aliases: []string{"endpoints", "ep"},
		Short:   "Manage endpoints: the URLs an application's messages are sent to",
		Long: `Manage endpoints. An endpoint is a URL of one application that receives
its messages, signed with the endpoint's secret. Name an endpoint by its id
(ep_...) or uid; name its application with --app or HERALD_APP.`,
		Example: `  herald endpoint create --app acme https://acme.example.com/webhooks --event-type invoice.paid
  herald endpoint list --app acme
  herald endpoint test --app acme ep_2bXhM8tz0cq3VjZhQfC6yL1nKpD`,
		RunE: runGroup,
	}
	addAPIFlags(cmd)
	cmd.AddCommand(
		newEndpointListCmd(s),
		newEndpointCreateCmd(s),
		newEndpointGetCmd(s),
		newEndpointUpdateCmd(s),
		newEndpointDeleteCmd(s),
		newEndpointSecretCmd(s),
		newEndpointRotateCmd(s),
		newEndpointHeadersCmd(s),
		newEndpointStatsCmd(s),
		newEndpointTestCmd(s),
		newEndpointRecoverCmd(s),
	)
	return cmd
}

// endpointCmd builds a command acting on one endpoint of --app.
func endpointCmd(s Streams, use, short, example string, run func(cmd *cobra.Command, a *apiCall, app, ep string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:               use + " ENDPOINT",
		Short:             short,
		Example:           example,
		Args:              args("ENDPOINT"),
		ValidArgsFunction: completeEndpointArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			app, a, err := newAppCall(cmd, s)
			if err != nil {
				return err
			}
			return run(cmd, a, app, argv[0])
		},
	}
	addAppFlag(cmd, s)
	return cmd
}

func newEndpointListCmd(s Streams) *cobra.Command {
	var list *listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the endpoints of an application, newest first",
		Example: `  herald endpoint list --app acme
  HERALD_APP=acme herald endpoint list --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, a, err := newAppCall(cmd, s)
			if err != nil {
				return err
			}
			opts, all, err := list.options()
			if err != nil {
				return err
			}
			return runList(a, opts, all, "endpoints",
				func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.Endpoint], error) {
					return a.c.ListEndpoints(ctx, app, &o)
				}, writeEndpoints)
		},
	}
	addAppFlag(cmd, s)
	list = addListFlags(cmd)
	return cmd
}

func newEndpointCreateCmd(s Streams) *cobra.Command {
	var (
		ef     *endpointFlags
		secret string
	)
	cmd := &cobra.Command{
		Use:   "create URL",
		Short: "Add an endpoint to an application and print its signing secret",
		Example: `  herald endpoint create --app acme https://acme.example.com/webhooks
  herald endpoint create --app acme http://127.0.0.1:9000/ --event-type invoice.paid --event-type invoice.voided
  herald endpoint create --app acme https://acme.example.com/hooks --uid main --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  herald endpoint create --app acme https://acme.example.com/orders --ordering fifo`,
		Args: args("URL"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			app, a, err := newAppCall(cmd, s)
			if err != nil {
				return err
			}
			in := client.EndpointIn{URL: argv[0], Description: ef.description, Disabled: ef.disabled,
				EventTypes: ef.eventTypes, Channels: ef.channels, ThrottleRate: ef.throttleRate, UID: ef.uid,
				Secret: secret, Ordering: ef.ordering}
			if in.Metadata, err = parseKeyValues("metadata", ef.metadata); err != nil {
				return err
			}
			ep, err := a.c.CreateEndpoint(a.ctx, app, in)
			if err != nil || a.json {
				return a.show(err, nil)
			}
			// Show the secret too: the receiver needs it to verify.
			secret, err := a.c.GetEndpointSecret(a.ctx, app, ep.ID)
			if err != nil {
				return a.explain(err)
			}
			writeEndpoint(a.stdout, ep, secret.Key)
			return nil
		},
	}
	addAppFlag(cmd, s)
	ef = addEndpointFlags(cmd)
	cmd.Flags().StringVar(&secret, "secret", "", "signing secret (whsec_... or whsk_...); default: a new random one")
	return cmd
}

// endpointFlags are the flags create and update share.
type endpointFlags struct {
	description          string
	disabled             bool
	eventTypes, channels []string
	throttleRate         int
	uid                  string
	metadata             []string
	ordering             string
}

// addEndpointFlags registers the flags create and update share.
func addEndpointFlags(cmd *cobra.Command) *endpointFlags {
	var ef endpointFlags
	f := cmd.Flags()
	f.StringVar(&ef.description, "description", "", "free text describing the endpoint")
	f.BoolVar(&ef.disabled, "disabled", false, "disable the endpoint: it receives nothing")
	f.StringArrayVar(&ef.eventTypes, "event-type", nil, "receive only this event type (repeatable; default every type)")
	f.StringArrayVar(&ef.channels, "channel", nil, "receive only messages on this channel (repeatable)")
	f.IntVar(&ef.throttleRate, "throttle-rate", 0, "most messages per second (default unlimited)")
	f.StringVar(&ef.uid, "uid", "", "your own id for the endpoint")
	f.StringArrayVar(&ef.metadata, "metadata", nil, "KEY=VALUE pair to store with the endpoint (repeatable)")
	f.StringVar(&ef.ordering, "ordering", "", `"fifo": send messages one at a time per ordering key, in the order accepted; "none": in parallel (default)`)
	return &ef
}

func newEndpointGetCmd(s Streams) *cobra.Command {
	return endpointCmd(s, "get", "Show an endpoint",
		`  herald endpoint get --app acme ep_2bXhM8tz0cq3VjZhQfC6yL1nKpD`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			ep, err := a.c.GetEndpoint(a.ctx, app, id)
			return a.show(err, func(w io.Writer) { writeEndpoint(w, ep, "") })
		})
}

func newEndpointUpdateCmd(s Streams) *cobra.Command {
	var (
		ef            *endpointFlags
		endpointURL   string
		allEventTypes bool
	)
	cmd := endpointCmd(s, "update", "Change the given fields of an endpoint",
		`  herald endpoint update --app acme ep_2bXhM8tz0cq3VjZhQfC6yL1nKpD --endpoint-url https://acme.example.com/v2/webhooks
  herald endpoint update --app acme main --disabled=false
  herald endpoint update --app acme main --all-event-types`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			f := cmd.Flags()
			if !anyChanged(cmd, "endpoint-url", "description", "disabled", "event-type", "all-event-types",
				"channel", "throttle-rate", "uid", "metadata", "ordering") {
				return &UsageError{Err: errors.New("nothing to change: give at least one flag, such as --endpoint-url or --disabled")}
			}
			if f.Changed("event-type") && f.Changed("all-event-types") {
				return &UsageError{Err: errors.New("--event-type and --all-event-types cannot be used together")}
			}
			var p client.EndpointPatch
			p.URL = changed(f, "endpoint-url", endpointURL)
			p.Description = changed(f, "description", ef.description)
			p.Disabled = changed(f, "disabled", ef.disabled)
			p.EventTypes = changed(f, "event-type", ef.eventTypes)
			if allEventTypes {
				p.EventTypes = new([]string)
			}
			p.Channels = changed(f, "channel", ef.channels)
			p.ThrottleRate = changed(f, "throttle-rate", ef.throttleRate)
			p.UID = changed(f, "uid", ef.uid)
			p.Ordering = changed(f, "ordering", ef.ordering)
			if f.Changed("metadata") {
				m, err := parseKeyValues("metadata", ef.metadata)
				if err != nil {
					return err
				}
				p.Metadata = m
			}
			ep, err := a.c.PatchEndpoint(a.ctx, app, id, p)
			return a.show(err, func(w io.Writer) { writeEndpoint(w, ep, "") })
		})
	ef = addEndpointFlags(cmd)
	cmd.Flags().StringVar(&endpointURL, "endpoint-url", "", "new URL of the endpoint")
	cmd.Flags().BoolVar(&allEventTypes, "all-event-types", false, "remove the event type filter: receive every type")
	return cmd
}

func newEndpointDeleteCmd(s Streams) *cobra.Command {
	return endpointCmd(s, "delete", "Delete an endpoint",
		`  herald endpoint delete --app acme ep_2bXhM8tz0cq3VjZhQfC6yL1nKpD`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			err := a.c.DeleteEndpoint(a.ctx, app, id)
			return a.done(err, fmt.Sprintf("Deleted endpoint %s.", id))
		})
}

func newEndpointSecretCmd(s Streams) *cobra.Command {
	return endpointCmd(s, "secret", "Print the secret an endpoint's receiver verifies signatures with",
		`  herald endpoint secret --app acme main
  herald listen --secret "$(herald endpoint secret --app acme main)"`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			secret, err := a.c.GetEndpointSecret(a.ctx, app, id)
			return a.show(err, func(w io.Writer) { fmt.Fprintln(w, secret.Key) })
		})
}

func newEndpointRotateCmd(s Streams) *cobra.Command {
	var (
		key   string
		grace time.Duration
	)
	cmd := endpointCmd(s, "rotate-secret", "Give an endpoint a new signing secret and print it",
		`  herald endpoint rotate-secret --app acme main
  herald endpoint rotate-secret --app acme main --grace-period 1h
  herald endpoint rotate-secret --app acme main --key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --grace-period 0s`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			in := client.RotateSecretIn{Key: key}
			if cmd.Flags().Changed("grace-period") {
				if grace < 0 {
					return &UsageError{Err: errors.New("--grace-period must not be negative")}
				}
				secs := int64(grace / time.Second)
				in.GracePeriodSeconds = &secs
			}
			if err := a.c.RotateEndpointSecret(a.ctx, app, id, in); err != nil {
				return a.explain(err)
			}
			secret, err := a.c.GetEndpointSecret(a.ctx, app, id)
			return a.show(err, func(w io.Writer) { fmt.Fprintln(w, secret.Key) })
		})
	cmd.Long = `Give an endpoint a new signing secret and print it. During the grace period
(24h unless --grace-period says otherwise) messages are signed with both the old
and the new secret, so the receiver can switch to the new one at any time.`
	cmd.Flags().StringVar(&key, "key", "", "the new secret (whsec_... or whsk_...); default: a new random one")
	cmd.Flags().DurationVar(&grace, "grace-period", 24*time.Hour, "how long the old secret also signs, up to 168h")
	return cmd
}

func newEndpointHeadersCmd(s Streams) *cobra.Command {
	var (
		set, unset []string
		replace    bool
	)
	cmd := endpointCmd(s, "headers", "Show or change the custom headers sent to an endpoint",
		`  herald endpoint headers --app acme main
  herald endpoint headers --app acme main --set X-Tenant=acme --set Authorization="Bearer s3cret"
  herald endpoint headers --app acme main --unset X-Tenant
  herald endpoint headers --app acme main --replace --set X-Only=this`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			headers, err := parseKeyValues("set", set)
			if err != nil {
				return err
			}
			switch {
			case replace:
				if len(unset) > 0 {
					return &UsageError{Err: errors.New("--unset has no use with --replace")}
				}
				err = a.c.UpdateEndpointHeaders(a.ctx, app, id, headers)
			case len(set) > 0 || len(unset) > 0:
				patch := make(map[string]*string, len(headers)+len(unset))
				for k, v := range headers {
					patch[k] = &v
				}
				for _, k := range unset {
					patch[k] = nil
				}
				err = a.c.PatchEndpointHeaders(a.ctx, app, id, patch)
			}
			if err != nil {
				return a.explain(err)
			}
			h, err := a.c.GetEndpointHeaders(a.ctx, app, id)
			return a.show(err, func(w io.Writer) { writeHeaders(w, h) })
		})
	cmd.Long = `Show the custom headers Herald sends with every message to an endpoint, or
change them: --set adds or replaces one, --unset removes one, and --replace
makes the --set headers the only ones. Values of sensitive headers
(Authorization and the like) are not shown.`
	cmd.Flags().StringArrayVar(&set, "set", nil, "NAME=VALUE header to send (repeatable)")
	cmd.Flags().StringArrayVar(&unset, "unset", nil, "NAME of a header to stop sending (repeatable)")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace all headers with the --set ones")
	return cmd
}

func newEndpointStatsCmd(s Streams) *cobra.Command {
	var since, until string
	cmd := endpointCmd(s, "stats", "Count an endpoint's delivery attempts by outcome",
		`  herald endpoint stats --app acme main
  herald endpoint stats --app acme main --since 24h`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			now := time.Now()
			var opts client.StatsOptions
			var err error
			if opts.Since, err = timeFlag("since", since, now); err != nil {
				return err
			}
			if opts.Until, err = timeFlag("until", until, now); err != nil {
				return err
			}
			st, err := a.c.GetEndpointStats(a.ctx, app, id, &opts)
			return a.show(err, func(w io.Writer) { writeStats(w, st) })
		})
	cmd.Flags().StringVar(&since, "since", "", "start: RFC 3339 time, date or age such as 24h or 7d (default 28 days before --until)")
	cmd.Flags().StringVar(&until, "until", "", "end: RFC 3339 time, date or age (default now)")
	return cmd
}

func newEndpointTestCmd(s Streams) *cobra.Command {
	var eventType string
	cmd := endpointCmd(s, "test", "Send a test message to one endpoint",
		`  herald endpoint test --app acme main
  herald endpoint test --app acme main --event-type invoice.paid`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			msg, err := a.c.SendExample(a.ctx, app, id, eventType)
			return a.show(err, func(w io.Writer) { writeMessage(w, msg) })
		})
	cmd.Long = `Send a test message to one endpoint and to no other: for svix.ping (the
default) the payload {"success":true}, for another event type the first
example in its schema. Follow it with: herald attempt list --app APP --endpoint ENDPOINT`
	cmd.Flags().StringVar(&eventType, "event-type", "svix.ping", "event type whose schema example to send")
	_ = cmd.RegisterFlagCompletionFunc("event-type", completeEventTypes(s))
	return cmd
}

func newEndpointRecoverCmd(s Streams) *cobra.Command {
	var since, until string
	cmd := endpointCmd(s, "recover", "Send again the messages that failed to reach an endpoint",
		`  herald endpoint recover --app acme main --since 6h
  herald endpoint recover --app acme main --since 2024-05-01 --until 2024-05-02`,
		func(cmd *cobra.Command, a *apiCall, app, id string) error {
			if !cmd.Flags().Changed("since") {
				return &UsageError{Err: errors.New("missing --since: the start of the period to recover")}
			}
			now := time.Now()
			var in client.RecoverIn
			var err error
			if in.Since, err = timeFlag("since", since, now); err != nil {
				return err
			}
			if in.Until, err = timeFlag("until", until, now); err != nil {
				return err
			}
			task, err := a.c.RecoverEndpoint(a.ctx, app, id, in)
			return a.show(err, func(w io.Writer) {
				fmt.Fprintf(w, "Recovering failed messages since %s in the background (task %s, %s).\n",
					fmtTime(in.Since), task.ID, task.Status)
			})
		})
	cmd.Long = `Send again, once and in the background, every message of a period that failed
to reach the endpoint and never succeeded. Use it after fixing a receiver.`
	cmd.Flags().StringVar(&since, "since", "", "start: RFC 3339 time, date or age such as 6h or 2d (required)")
	cmd.Flags().StringVar(&until, "until", "", "end: RFC 3339 time, date or age (default now)")
	return cmd
}

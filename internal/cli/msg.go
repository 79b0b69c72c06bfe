package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func newMsgCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "msg",
		Aliases: []string{"msgs", "message", "messages"},
		Short:   "Send and inspect messages",
		Long: `Send and inspect messages. A message is one event sent to an application: Herald
delivers it to every endpoint of the application subscribed to its event type.
Name a message by its id (msg_...) or the event id you gave it.`,
		Example: `  herald msg create --app acme --type invoice.paid --data '{"type":"invoice.paid","id":"in_1"}'
  herald msg list --app acme --event-type invoice.paid
  herald msg get --app acme msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw
  herald msg cancel --app acme msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw`,
		RunE: runGroup,
	}
	addAPIFlags(cmd)
	create := newSendCmd(s, "create")
	create.Short = "Send a message (the same as herald send)"
	cmd.AddCommand(
		newMsgListCmd(s),
		create,
		newMsgGetCmd(s),
		newMsgCancelCmd(s),
	)
	return cmd
}

// newSendCmd builds `herald send` and `herald msg create`.
func newSendCmd(s Streams, use string) *cobra.Command {
	example := `  herald ` + use + ` --app acme --type invoice.paid --data '{"type":"invoice.paid","id":"in_1","amount":4200}'
  herald ` + use + ` --app acme --type invoice.paid --data @invoice.json --event-id in_1
  echo '{"ok":true}' | herald ` + use + ` --app acme --type test.ping --data @-`
	if use == "create" {
		example = `  herald msg create --app acme --type invoice.paid --data '{"type":"invoice.paid","id":"in_1"}'`
	}
	var (
		eventType, data, deliverAt string
		in                         client.MessageIn
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: "Send a message to the endpoints of an application",
		Long: `Send a message: Herald stores it and delivers it to every endpoint of the
application that takes its event type, signed and retried until it lands. The
payload must be a JSON object; it is delivered byte for byte.

--deliver-at schedules the message: it is stored at once and first sent at that
time (cancel it before with herald msg cancel). --ordering-key orders it at FIFO
endpoints: messages with one key are sent one at a time, in the order they
were accepted.`,
		Example: example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := appID(cmd, s)
			if err != nil {
				return err
			}
			if err = required(eventType, "type", "the event type, such as invoice.paid"); err != nil {
				return err
			}
			in.EventType = eventType
			if err = required(data, "data", "the JSON payload, @file, or @- for standard input"); err != nil {
				return err
			}
			if in.Payload, err = readData(s, "data", data); err != nil {
				return err
			}
			if deliverAt != "" {
				if in.DeliverAt, err = parseAhead("deliver-at", deliverAt, time.Now()); err != nil {
					return err
				}
			}
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			msg, err := a.c.CreateMessage(a.ctx, app, in)
			return a.show(err, func(w io.Writer) { writeMessage(w, msg) })
		},
	}
	if use == "send" {
		addAPIFlags(cmd)
	}
	addAppFlag(cmd, s)
	f := cmd.Flags()
	f.StringVar(&eventType, "type", "", "event type of the message, such as invoice.paid (required)")
	f.StringVar(&data, "data", "", "JSON payload, @file to read it from a file, or @- from standard input (required)")
	f.StringVar(&in.EventID, "event-id", "", "your own unique id of the message, to avoid sending it twice")
	f.StringArrayVar(&in.Channels, "channel", nil, "send only to endpoints on this channel (repeatable)")
	f.StringArrayVar(&in.Tags, "tag", nil, "tag the message, to find it with msg list --tag (repeatable)")
	f.StringVar(&deliverAt, "deliver-at", "", "send it first at this time: RFC 3339 time, or a wait such as 90s, 2h, 3d")
	f.StringVar(&in.OrderingKey, "ordering-key", "", "its ordering key at FIFO endpoints, such as an order id")
	_ = cmd.RegisterFlagCompletionFunc("type", completeEventTypes(s))
	return cmd
}

// parseAhead reads a time in the future: RFC 3339, or a wait from now
// (90s, 2h, 3d).
func parseAhead(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= maxAgeDays {
			return now.Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(d), nil
	}
	return time.Time{}, &UsageError{Err: fmt.Errorf("--%s %q: want an RFC 3339 time or a wait (90s, 2h, 3d)", flag, s)}
}

func newMsgListCmd(s Streams) *cobra.Command {
	var (
		list          *listFlags
		mo            client.ListMessagesOptions
		before, after string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the messages of an application, newest first",
		Example: `  herald msg list --app acme
  herald msg list --app acme --event-type invoice.paid --after 24h --all --json`,
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
			now := time.Now()
			if mo.Before, err = timeFlag("before", before, now); err != nil {
				return err
			}
			if mo.After, err = timeFlag("after", after, now); err != nil {
				return err
			}
			return runList(a, opts, all, "messages",
				func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.Message], error) {
					mo.ListOptions = o
					return a.c.ListMessages(ctx, app, &mo)
				}, writeMessages)
		},
	}
	addAppFlag(cmd, s)
	list = addListFlags(cmd)
	cmd.Flags().StringArrayVar(&mo.EventTypes, "event-type", nil, "only messages of this event type (repeatable)")
	cmd.Flags().StringVar(&mo.Channel, "channel", "", "only messages on this channel")
	cmd.Flags().StringVar(&mo.Tag, "tag", "", "only messages with this tag")
	cmd.Flags().StringVar(&before, "before", "", "only messages created before: RFC 3339 time, date or age such as 1h")
	cmd.Flags().StringVar(&after, "after", "", "only messages created after: RFC 3339 time, date or age such as 24h")
	_ = cmd.RegisterFlagCompletionFunc("event-type", completeEventTypes(s))
	return cmd
}

func newMsgGetCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get MESSAGE",
		Short:   "Show a message with its payload",
		Example: `  herald msg get --app acme msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw`,
		Args:    args("MESSAGE"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			app, a, err := newAppCall(cmd, s)
			if err != nil {
				return err
			}
			msg, err := a.c.GetMessage(a.ctx, app, argv[0])
			return a.show(err, func(w io.Writer) { writeMessage(w, msg) })
		},
	}
	addAppFlag(cmd, s)
	return cmd
}

func newMsgCancelCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel MESSAGE",
		Short: "Cancel a scheduled message before it is sent",
		Long: `Cancel a message sent with --deliver-at before its time: it is never sent.
A message that is not scheduled, is due, or was resent cannot be cancelled.`,
		Example: `  herald msg cancel --app acme msg_2bXhQn3vU9Jc0KfA4yTt7LmPzRw`,
		Args:    args("MESSAGE"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			app, a, err := newAppCall(cmd, s)
			if err != nil {
				return err
			}
			msg, err := a.c.CancelMessage(a.ctx, app, argv[0])
			return a.show(err, func(w io.Writer) { writeMessage(w, msg) })
		},
	}
	addAppFlag(cmd, s)
	return cmd
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func newEventTypeCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "event-type",
		Aliases: []string{"event-types", "et"},
		Short:   "Manage event types, such as invoice.paid",
		Long: `Manage event types. An event type names a kind of message; endpoints can
subscribe to some types only, and the consumer portal lists them with their
description and schema. Event types are shared by every application.`,
		Example: `  herald event-type create invoice.paid --description "An invoice was paid"
  herald event-type list`,
		RunE: runGroup,
	}
	addAPIFlags(cmd)
	cmd.AddCommand(
		newEventTypeListCmd(s),
		newEventTypeCreateCmd(s),
		newEventTypeGetCmd(s),
		newEventTypeUpdateCmd(s),
		newEventTypeDeleteCmd(s),
	)
	return cmd
}

func newEventTypeListCmd(s Streams) *cobra.Command {
	var (
		list              *listFlags
		archived, schemas bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List event types by name",
		Example: `  herald event-type list
  herald event-type list --include-archived --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			opts, all, err := list.options()
			if err != nil {
				return err
			}
			return runList(a, opts, all, "event types",
				func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.EventType], error) {
					return a.c.ListEventTypes(ctx, &client.ListEventTypesOptions{
						ListOptions: o, IncludeArchived: archived, WithContent: schemas})
				}, writeEventTypes)
		},
	}
	list = addListFlags(cmd)
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived event types")
	cmd.Flags().BoolVar(&schemas, "schemas", false, "include the schemas (in --json output)")
	return cmd
}

// schemaFlag reads v, the value of --schema: the JSON schema of version 1
// of the payload, sent as {"1": schema}.
func schemaFlag(s Streams, v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	schema, err := readData(s, "schema", v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]json.RawMessage{"1": schema})
}

func newEventTypeCreateCmd(s Streams) *cobra.Command {
	var ef *eventTypeFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an event type",
		Example: `  herald event-type create invoice.paid --description "An invoice was paid"
  herald event-type create invoice.paid --schema @invoice-paid.schema.json
  herald event-type create invoice.paid --schema @invoice-paid.schema.json --validate-payloads on`,
		Args: args("NAME"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			in := client.EventTypeIn{Name: argv[0], Description: ef.description, Deprecated: ef.deprecated,
				FeatureFlag: ef.featureFlag}
			if in.Schemas, err = schemaFlag(s, ef.schema); err != nil {
				return err
			}
			if in.ValidatePayloads, err = ef.validation(cmd); err != nil {
				return err
			}
			et, err := a.c.CreateEventType(a.ctx, in)
			return a.show(err, func(w io.Writer) { writeEventType(w, et) })
		},
	}
	ef = addEventTypeFlags(cmd)
	return cmd
}

// eventTypeFlags are the flags create and update share.
type eventTypeFlags struct {
	description, featureFlag, schema, validatePayloads string
	deprecated                                         bool
}

// addEventTypeFlags registers the flags create and update share.
func addEventTypeFlags(cmd *cobra.Command) *eventTypeFlags {
	var ef eventTypeFlags
	f := cmd.Flags()
	f.StringVar(&ef.description, "description", "", "what the event means, shown to consumers")
	f.BoolVar(&ef.deprecated, "deprecated", false, "mark the event type deprecated")
	f.StringVar(&ef.featureFlag, "feature-flag", "", "show the event type only to portal tokens with this flag")
	f.StringVar(&ef.schema, "schema", "", "JSON Schema of the payload: the JSON, @file, or @- for standard input; its \"examples\" are what herald endpoint test sends")
	f.StringVar(&ef.validatePayloads, "validate-payloads", "", "refuse messages whose payload does not validate against the schema: on, off, or default (the server's --validate-payloads)")
	return &ef
}

// validation reads --validate-payloads: on, off or default; unset when
// the flag is not given.
func (ef *eventTypeFlags) validation(cmd *cobra.Command) (client.Validation, error) {
	if !cmd.Flags().Changed("validate-payloads") {
		return client.ValidationUnset, nil
	}
	v := ef.validatePayloads
	switch v {
	case "on", "true":
		return client.ValidationOn, nil
	case "off", "false":
		return client.ValidationOff, nil
	case "default":
		return client.ValidationDefault, nil
	}
	return client.ValidationUnset, &UsageError{Err: fmt.Errorf("--validate-payloads must be on, off or default, not %q", v)}
}

func newEventTypeGetCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:               "get NAME",
		Short:             "Show an event type with its schema",
		Example:           `  herald event-type get invoice.paid`,
		Args:              args("NAME"),
		ValidArgsFunction: completeEventTypeArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			et, err := a.c.GetEventType(a.ctx, argv[0])
			return a.show(err, func(w io.Writer) { writeEventType(w, et) })
		},
	}
}

func newEventTypeUpdateCmd(s Streams) *cobra.Command {
	var (
		ef       *eventTypeFlags
		archived bool
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change the given fields of an event type",
		Example: `  herald event-type update invoice.paid --description "An invoice was paid in full"
  herald event-type update invoice.paid --deprecated
  herald event-type update invoice.paid --archived=false
  herald event-type update invoice.paid --validate-payloads default`,
		Args:              args("NAME"),
		ValidArgsFunction: completeEventTypeArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			if !anyChanged(cmd, "description", "deprecated", "archived", "feature-flag", "schema", "validate-payloads") {
				return &UsageError{Err: errors.New("nothing to change: give at least one flag, such as --description")}
			}
			f := cmd.Flags()
			var p client.EventTypePatch
			p.Description = changed(f, "description", ef.description)
			p.Deprecated = changed(f, "deprecated", ef.deprecated)
			p.Archived = changed(f, "archived", archived)
			p.FeatureFlag = changed(f, "feature-flag", ef.featureFlag)
			if p.Schemas, err = schemaFlag(s, ef.schema); err != nil {
				return err
			}
			if p.ValidatePayloads, err = ef.validation(cmd); err != nil {
				return err
			}
			et, err := a.c.PatchEventType(a.ctx, argv[0], p)
			return a.show(err, func(w io.Writer) { writeEventType(w, et) })
		},
	}
	ef = addEventTypeFlags(cmd)
	cmd.Flags().BoolVar(&archived, "archived", false, "archive (or with =false restore) the event type")
	return cmd
}

func newEventTypeDeleteCmd(s Streams) *cobra.Command {
	var expunge bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Archive an event type, or delete it for good with --expunge",
		Example: `  herald event-type delete invoice.voided
  herald event-type delete invoice.voided --expunge`,
		Args:              args("NAME"),
		ValidArgsFunction: completeEventTypeArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			err = a.c.DeleteEventType(a.ctx, argv[0], expunge)
			what := "Archived"
			if expunge {
				what = "Deleted"
			}
			return a.done(err, fmt.Sprintf("%s event type %s.", what, argv[0]))
		},
	}
	cmd.Flags().BoolVar(&expunge, "expunge", false, "delete the event type instead of archiving it")
	return cmd
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func newAppCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "app",
		Aliases: []string{"apps", "application"},
		Short:   "Manage applications (one per customer who receives webhooks)",
		Long: `Manage applications. An application is one customer of yours: it holds the
endpoints that customer registered and the messages sent to them. Name an
application by its id (app_...) or by the uid you gave it.`,
		Example: `  herald app create "Acme Inc" --uid acme
  herald app list
  herald app get acme --json`,
		RunE: runGroup,
	}
	addAPIFlags(cmd)
	cmd.AddCommand(
		newAppListCmd(s),
		newAppCreateCmd(s),
		newAppGetCmd(s),
		newAppUpdateCmd(s),
		newAppDeleteCmd(s),
		newAppPortalCmd(s),
	)
	return cmd
}

func newAppListCmd(s Streams) *cobra.Command {
	var list *listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List applications, oldest first",
		Example: `  herald app list
  herald app list --all --json | jq -r '.data[].id'`,
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
			return runList(a, opts, all, "applications",
				func(ctx context.Context, o client.ListOptions) (*client.ListResponse[client.App], error) {
					return a.c.ListApps(ctx, &o)
				}, writeApps)
		},
	}
	list = addListFlags(cmd)
	return cmd
}

func newAppCreateCmd(s Streams) *cobra.Command {
	var (
		in          client.AppIn
		meta        []string
		getIfExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an application",
		Example: `  herald app create "Acme Inc" --uid acme
  herald app create "Acme Inc" --uid acme --get-if-exists --metadata plan=pro`,
		Args: args("NAME"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			in.Name = argv[0]
			if in.Metadata, err = parseKeyValues("metadata", meta); err != nil {
				return err
			}
			create := a.c.CreateApp
			if getIfExists {
				create = a.c.GetOrCreateApp
			}
			app, err := create(a.ctx, in)
			return a.show(err, func(w io.Writer) { writeApp(w, app) })
		},
	}
	cmd.Flags().StringVar(&in.UID, "uid", "", "your own id for the application, usable instead of its app_ id")
	cmd.Flags().IntVar(&in.ThrottleRate, "throttle-rate", 0, "most messages per second to each endpoint (default unlimited)")
	cmd.Flags().StringArrayVar(&meta, "metadata", nil, "KEY=VALUE pair to store with the application (repeatable)")
	cmd.Flags().BoolVar(&getIfExists, "get-if-exists", false, "return the application with this --uid if it exists")
	return cmd
}

func newAppGetCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:               "get APP",
		Short:             "Show an application",
		Example:           `  herald app get acme`,
		Args:              args("APP"),
		ValidArgsFunction: completeAppArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			app, err := a.c.GetApp(a.ctx, argv[0])
			return a.show(err, func(w io.Writer) { writeApp(w, app) })
		},
	}
}

func newAppUpdateCmd(s Streams) *cobra.Command {
	var (
		name, uid    string
		throttleRate int
		meta         []string
	)
	cmd := &cobra.Command{
		Use:   "update APP",
		Short: "Change the given fields of an application",
		Long: `Change the fields of an application given as flags; the others keep their
values.`,
		Example: `  herald app update acme --name "Acme Corporation"
  herald app update acme --throttle-rate 50 --metadata plan=enterprise`,
		Args:              args("APP"),
		ValidArgsFunction: completeAppArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			var p client.AppPatch
			f := cmd.Flags()
			p.Name = changed(f, "name", name)
			p.UID = changed(f, "uid", uid)
			p.ThrottleRate = changed(f, "throttle-rate", throttleRate)
			if f.Changed("metadata") {
				if p.Metadata, err = parseKeyValues("metadata", meta); err != nil {
					return err
				}
			}
			if !anyChanged(cmd, "name", "uid", "throttle-rate", "metadata") {
				return &UsageError{Err: errors.New("nothing to change: give --name, --uid, --throttle-rate or --metadata")}
			}
			app, err := a.c.PatchApp(a.ctx, argv[0], p)
			return a.show(err, func(w io.Writer) { writeApp(w, app) })
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "new display name")
	cmd.Flags().StringVar(&uid, "uid", "", "new uid")
	cmd.Flags().IntVar(&throttleRate, "throttle-rate", 0, "most messages per second to each endpoint")
	cmd.Flags().StringArrayVar(&meta, "metadata", nil, "KEY=VALUE pair; replaces all metadata (repeatable)")
	return cmd
}

func newAppDeleteCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:               "delete APP",
		Short:             "Delete an application with its endpoints and messages",
		Example:           `  herald app delete acme`,
		Args:              args("APP"),
		ValidArgsFunction: completeAppArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			err = a.c.DeleteApp(a.ctx, argv[0])
			return a.done(err, fmt.Sprintf("Deleted application %s.", argv[0]))
		},
	}
}

func newAppPortalCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "portal APP",
		Short: "Print a consumer portal link for an application",
		Long: `Print a link that opens the consumer portal logged in to one application,
where its owner manages endpoints and sees deliveries. Anyone with the link
can use it until it expires.`,
		Example:           `  herald app portal acme`,
		Args:              args("APP"),
		ValidArgsFunction: completeAppArg(s),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a, err := newAPICall(cmd, s)
			if err != nil {
				return err
			}
			access, err := a.c.AppPortalAccess(a.ctx, argv[0])
			return a.show(err, func(w io.Writer) { fmt.Fprintln(w, access.URL) })
		},
	}
}

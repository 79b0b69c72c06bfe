package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store"
)

func newServeCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Herald server: API, delivery engine and background tasks",
		Long: `Run the Herald server. With no configuration it stores everything in
./herald.db (SQLite), listens on 127.0.0.1:8071, and prints a new admin token
on first start. Settings come from flags, then HERALD_* environment variables,
then the --config file, then defaults.`,
		Example: `  herald serve
  herald serve --listen 0.0.0.0:8071 --database /var/lib/herald/herald.db
  HERALD_ALLOW_CIDRS=127.0.0.0/8 herald serve   # allow deliveries to local receivers`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, server.Options{Stderr: s.Stderr})
		},
	}
	addServerFlags(cmd)
	return cmd
}

func newMigrateCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date, then exit",
		Long: `Apply the database migrations and exit. herald serve also migrates on
start; use this to migrate ahead of a deploy.`,
		Example: `  herald migrate --database ./herald.db
  herald migrate --database postgres://herald@db/herald`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			st, err := server.OpenStore(cmd.Context(), &cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			fmt.Fprintln(s.Stdout, "database schema is up to date")
			return nil
		},
	}
	// The retention sets the span of the PostgreSQL partitions Migrate
	// makes ahead.
	addServerFlags(cmd, "database", "db-max-conns", "retention")
	return cmd
}

func newTokenCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage admin API tokens",
		Long: `Manage the admin API tokens stored in the database that --database (or
HERALD_DATABASE_URL) names. The database must exist: herald serve or herald
migrate creates it.`,
		Example: `  herald token create --name ci
  herald token list
  herald token revoke hsk_...`,
		RunE: runGroup,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the admin API tokens",
		Long: `List the admin API tokens stored in the database: id, name and creation time
(never the token, which only its creator saw). Portal tokens and browser
sessions are not listed.`,
		Example: `  herald token list --database /var/lib/herald/herald.db`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := openExisting(ctx, &cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			tw := newTable(s.Stdout)
			row(tw, "ID", "NAME", "CREATED")
			page := store.Page{Limit: 250}
			for {
				rows, err := st.ListAPITokens(ctx, page)
				if err != nil {
					return fmt.Errorf("list tokens: %w", err)
				}
				for _, t := range rows {
					row(tw, t.ID, t.Name, fmtTime(t.CreatedAt))
				}
				if len(rows) < page.Limit {
					break
				}
				page.After = rows[len(rows)-1].ID
			}
			return tw.Flush()
		},
	}
	addServerFlags(list, "database", "db-max-conns")
	var name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an admin API token and print it",
		Long: `Create an admin API token, store its hash in the database, and print the
token. It is shown only this once.`,
		Example: `  herald token create --name ci
  export HERALD_TOKEN=$(herald token create --name me)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
				// Stored as text, which PostgreSQL refuses otherwise.
				return &UsageError{Err: fmt.Errorf("--name %q: must be UTF-8 text", name)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := openExisting(ctx, &cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			token, err := api.CreateAdminToken(ctx, st, name, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Stdout, token)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to remember the token by")
	addServerFlags(create, "database", "db-max-conns")

	revoke := &cobra.Command{
		Use:   "revoke TOKEN",
		Short: "Revoke an API token",
		Long: `Revoke an admin or app portal API token: delete it from the database. Running
servers stop accepting it within seconds. A token given with --admin-token or
HERALD_ADMIN_TOKEN is not stored; remove it from the configuration instead.`,
		Example: `  herald token revoke hsk_4Bl1IxlcNRIE25hbMFx_o101sqsNerN2v3sZtGScEHA`,
		Args:    args("TOKEN"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := openExisting(ctx, &cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			t, err := st.GetTokenByHash(ctx, api.HashToken(strings.TrimSpace(argv[0])))
			if errors.Is(err, store.ErrNotFound) {
				return errors.New("no such token in the database")
			}
			if err != nil {
				return err
			}
			if err := st.DeleteToken(ctx, t.ID); err != nil {
				return fmt.Errorf("revoke token: %w", err)
			}
			fmt.Fprintf(s.Stdout, "Revoked token %s (%s).\n", t.ID, t.Name)
			return nil
		},
	}
	addServerFlags(revoke, "database", "db-max-conns")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newVersionCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Herald's version, the commit it was built from, and its Go version",
		Long: `Print Herald's version on the first line ("herald 1.2.3"), then the commit it
was built from, the commit's date, and the Go version and platform it was built
for. A source build without release stamping reports "dev-<commit>".`,
		Example: `  herald version
  herald version | head -n1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi := buildinfo.Get()
			fmt.Fprintln(s.Stdout, "herald", bi.Version)
			commit := bi.Commit
			if commit == "" {
				commit = "unknown"
			} else if bi.Modified {
				commit += " (modified)"
			}
			fmt.Fprintln(s.Stdout, "commit:", commit)
			if bi.Date != "" {
				fmt.Fprintln(s.Stdout, "date:  ", bi.Date)
			}
			fmt.Fprintln(s.Stdout, "go:    ", bi.GoVersion, bi.Platform)
			return nil
		},
	}
}

// openExisting opens the store of a command that must not create one
// (herald token): a SQLite file that does not exist is an error naming the
// path and the flag, rather than a new, empty database beside the one the
// server uses. herald serve and herald migrate create it.
func openExisting(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if err := requireDatabase(cfg); err != nil {
		return nil, err
	}
	return server.OpenStore(ctx, cfg)
}

// requireDatabase returns an error when cfg names a SQLite file that does
// not exist. A PostgreSQL URL is not checked: its server says.
func requireDatabase(cfg *config.Config) error {
	if cfg.IsPostgres() {
		return nil
	}
	path := config.SQLitePath(cfg.Database)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or a problem the driver reports
	}
	where := path
	if abs, err := filepath.Abs(path); err == nil && abs != path {
		where = fmt.Sprintf("%s (%s)", path, abs)
	}
	return fmt.Errorf("no database at %s: point --database (or HERALD_DATABASE_URL) at the database herald serve uses; herald serve and herald migrate create a new one", where)
}

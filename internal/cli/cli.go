// Package cli implements Herald's command line: `herald serve`, `herald
// migrate`, `herald backup`, `herald healthcheck`, `herald token`, `herald
// version`, the local receiver `herald listen`, and the API commands (`herald app`, `endpoint`, `event-type`,
// `msg`, `send`, `attempt`) built on the public client package. Commands
// are built by New and run by Main over explicit streams, so tests call them
// like any function; only cmd/herald turns errors into exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/config"
)

// Streams are the command's standard streams and environment.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// UsageError marks a mistake in how the command was called (exit code 2).
type UsageError struct {
	Err error
	// Command is the path of the command that was called ("herald app
	// get"); when set, Error points to its help.
	Command string
}

func (e *UsageError) Error() string {
	if e.Command == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v\nRun '%s --help' for usage.", e.Err, e.Command)
}

func (e *UsageError) Unwrap() error { return e.Err }

// Main runs the command line with args (without the program name).
func Main(ctx context.Context, args []string, s Streams) error {
	if s.Getenv == nil {
		s.Getenv = os.Getenv
	}
	root := New(s)
	root.SetArgs(args)
	root.SetIn(s.Stdin)
	root.SetOut(s.Stdout)
	root.SetErr(s.Stderr)
	root.SetContext(ctx)
	cmd, err := root.ExecuteC()
	if err != nil {
		var ue *UsageError
		if !errors.As(err, &ue) && isFlagError(err) {
			err = &UsageError{Err: err}
		}
		if errors.As(err, &ue) && cmd != nil && ue.Command == "" {
			ue.Command = cmd.CommandPath()
		}
	}
	return err
}

func isFlagError(err error) bool {
	var nf *pflag.NotExistError
	return errors.As(err, &nf) || errors.Is(err, pflag.ErrHelp) ||
		err != nil && (len(err.Error()) > 13 && err.Error()[:13] == "unknown flag:" ||
			len(err.Error()) > 16 && err.Error()[:16] == "unknown command ")
}

// New builds the root command.
func New(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "herald",
		Short: "Herald: self-hosted webhook sending",
		Long: `Herald delivers signed webhooks: your application tells Herald an event
happened, and Herald POSTs it to every endpoint registered for that event type,
retrying until it lands, and recording every attempt.`,
		Example: `  herald serve                                   # start the server; prints an admin token
  export HERALD_TOKEN=hsk_...
  herald app create "Acme Inc" --uid acme
  herald endpoint create --app acme https://acme.example.com/webhooks
  herald send --app acme --type invoice.paid --data '{"type":"invoice.paid"}'
  herald listen --secret whsec_...                # receive webhooks locally`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: err} })
	root.AddCommand(
		newServeCmd(s),
		newMigrateCmd(s),
		newBackupCmd(s),
		newHealthcheckCmd(s),
		newTokenCmd(s),
		newVersionCmd(s),
		newListenCmd(s),
		newAppCmd(s),
		newEndpointCmd(s),
		newEventTypeCmd(s),
		newSendCmd(s, "send"),
		newMsgCmd(s),
		newAttemptCmd(s),
		newBenchCmd(s),
	)
	// Add cobra's completion command now rather than at Execute, so that
	// it is part of the tree (help, tests) and has an example. It writes
	// to the output set at this point.
	if s.Stdout != nil {
		root.SetOut(s.Stdout)
	}
	if s.Stderr != nil {
		root.SetErr(s.Stderr)
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Example = `  source <(herald completion bash)
  herald completion zsh > "${fpath[1]}/_herald"
  herald completion fish > ~/.config/fish/completions/herald.fish`
		}
	}
	suggest(root)
	return root
}

// suggest makes every command of the tree suggest the subcommands close to
// a misspelled one ("herald app lst": did you mean list?), and every group
// refuse an unknown subcommand instead of printing its help.
func suggest(cmd *cobra.Command) {
	cmd.SuggestionsMinimumDistance = 2
	if cmd.HasParent() && cmd.HasSubCommands() && !cmd.Runnable() {
		// cobra's completion: without an action, it shows its help
		// and exits 0 whatever follows.
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = runGroup
	}
	for _, c := range cmd.Commands() {
		suggest(c)
	}
}

// addServerFlags registers a flag for every setting, plus --config.
func addServerFlags(cmd *cobra.Command, only ...string) {
	cmd.Flags().String("config", "", "config file of HERALD_NAME=value lines (env HERALD_CONFIG)")
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	def := config.Default()
	for _, st := range config.Settings {
		if len(only) > 0 && !want[st.Flag] {
			continue
		}
		usage := fmt.Sprintf("%s (env %s)", st.Usage, st.Env)
		defVal := st.Value(&def)
		if st.Secret {
			defVal = ""
		}
		f := cmd.Flags().VarPF(&settingValue{kind: st.Kind, text: defVal}, st.Flag, "", usage)
		if st.Kind == config.KindBool {
			f.NoOptDefVal = "true" // --svix-headers alone means true
		}
	}
}

// settingValue is the flag of a setting: typed in help and, for booleans,
// in parsing (a bare --metrics is --metrics=true), but kept as text, which
// config.Load parses with the setting's own parser, as it does the
// environment and the config file. So a bad value is reported with every
// other problem, naming the variable and the flag, not alone by pflag.
type settingValue struct {
	kind config.Kind
	text string
}

func (v *settingValue) String() string     { return v.text }
func (v *settingValue) Set(s string) error { v.text = s; return nil }

// Type is the kind's name, which help shows after the flag (none for a
// bool).
func (v *settingValue) Type() string { return v.kind.String() }

// loadConfig reads the configuration: defaults, file, environment, then
// the flags given on the command line.
func loadConfig(cmd *cobra.Command, s Streams) (config.Config, error) {
	flags := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		// Only settings; commands have flags of their own (token
		// create --name).
		if _, ok := config.Lookup(f.Name); ok {
			flags[f.Name] = f.Value.String()
		}
	})
	file, err := cmd.Flags().GetString("config")
	if err != nil {
		return config.Config{}, err
	}
	if file == "" {
		file = s.Getenv("HERALD_CONFIG")
	}
	cfg, err := config.Load(config.Source{File: file, Getenv: s.Getenv}, flags)
	if err != nil {
		return cfg, &UsageError{Err: fmt.Errorf("configuration:\n%w", err)}
	}
	return cfg, nil
}

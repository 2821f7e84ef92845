package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit codes, documented in the root command's help.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitBadOutcome  = 3
	exitUnreachable = 4
)

const exitCodesHelp = `Exit codes:
  0  success
  1  the command failed
  2  bad flags, input or configuration
  3  a bad outcome: the workflow failed, a probe found its target unhealthy, audit verify found
     a problem
  4  Temporal could not be reached`

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return exitError{exitUsage, fmt.Errorf(format, args...)}
}

// usageArgs makes positional-argument errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return exitError{exitUsage, fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
		}
		return nil
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program, so tests can call it: it returns the exit code.
func run(ctx context.Context, args []string, env config.Env, stdin io.Reader, stdout, stderr io.Writer) int {
	if stop, err := startProfiles(env); err != nil {
		fmt.Fprintln(stderr, "lifeboat:", err)
		return exitUsage
	} else {
		defer stop()
	}
	app := &app{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	root := app.rootCommand()
	defer func() {
		for _, c := range app.closers {
			_ = c.Close()
		}
	}()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "lifeboat:", err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if app.flagError || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitFailure
}

// app holds what every command shares: global flags and the process's environment.
type app struct {
	env            config.Env
	stdin          io.Reader
	stdout, stderr io.Writer

	configPath string
	keyFile    string
	tokenFile  string
	output     string
	address    string
	namespace  string
	flagError  bool
	closers    []io.Closer // backends to release at exit (the GCS client)
	converter  converter.DataConverter
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lifeboat",
		Short: "Disaster-recovery orchestration on Temporal",
		Long: `lifeboat starts, watches and steers Lifeboat's disaster-recovery workflows on Temporal.

It reads the same configuration file as lifeboat-worker (--config or LIFEBOAT_CONFIG) to reach
Temporal and to encrypt and decrypt workflow payloads with the same keys. TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and the other TEMPORAL_* variables override it.

Who you are: where the configuration verifies identities, your signing key (--key, LIFEBOAT_KEY,
or ~/.config/lifeboat/key; see lifeboat keygen) signs what you start, decide and acknowledge; without
a key, your OIDC login (lifeboat login; --token-file) has the worker sign for you.
Where it takes them as typed (identity mode trust-client), --as and --requester name you, by
default $LIFEBOAT_AS (your ID in the identity directory), else user@host.

Everyday use:
  lifeboat asset status                      every asset's last backup, RPO and last verified restore
  lifeboat backup run ASSET                  back an asset up now and follow the backup
  lifeboat restore ASSET --target DIR        restore a snapshot (--database NAME, or --in-place)
  lifeboat approve WORKFLOW-ID               approve a workflow waiting at an approval gate
  lifeboat verify ASSET                      run a restore drill and print its evidence
  lifeboat schedule sync                     make the schedules match the configuration
  lifeboat failover PLAN                     run a recovery plan through its gates, and follow it
  lifeboat drill PLAN                        rehearse a plan, measure its RTO, then undo it
  lifeboat rehearse PLAN                     a tabletop exercise: actions simulated, decisions real
  lifeboat report WORKFLOW-ID                the post-incident or drill report (--format html)

Commands that start a workflow print its ID and Web UI link and, unless --no-wait, follow it with
progress on stderr. Every command prints JSON with -o json.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "text" && a.output != "json" {
				return usageErr("--output %q: use text or json", a.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		a.flagError = true
		return exitError{exitUsage, fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
	})
	defaultConfig, _ := a.env("LIFEBOAT_CONFIG")
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", defaultConfig, "Lifeboat configuration file (env LIFEBOAT_CONFIG)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&a.address, "address", "", "Temporal frontend host:port (overrides the configuration and TEMPORAL_ADDRESS)")
	pf.StringVarP(&a.namespace, "namespace", "n", "", "Temporal namespace (overrides the configuration and TEMPORAL_NAMESPACE)")
	pf.StringVar(&a.tokenFile, "token-file", "", "your OIDC login, which lifeboat login writes and the commands that sign use where you have no key (default $LIFEBOAT_OIDC_TOKEN, else ~/.config/lifeboat/oidc-token.json)")
	pf.StringVar(&a.keyFile, "key", "", "your signing key, which signs what you do where identities are verified (default $LIFEBOAT_KEY, else ~/.config/lifeboat/key when it exists)")

	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Workflows:"},
		&cobra.Group{ID: "local", Title: "Local stack and tools:"},
	)
	root.AddGroup(&cobra.Group{ID: "data", Title: "Backups:"})
	for _, c := range []*cobra.Command{a.backupCommand(), a.restoreCommand(), a.verifyCommand(), a.scheduleCommand(),
		a.assetCommand(), a.readinessCommand(), a.repoCommand()} {
		c.GroupID = "data"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.failoverCommand(), a.failbackCommand(), a.drillCommand(), a.rehearseCommand(), a.probeCommand(), a.statusCommand(),
		a.approveCommand(), a.rejectCommand(), a.decideCommand(), a.ackCommand(), a.reportCommand()} {
		c.GroupID = "run"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.devCommand(), a.keyCommand(), a.keygenCommand(), a.loginCommand(), a.logoutCommand(), a.tokenCommand(), a.versionCommand()} {
		c.GroupID = "local"
		root.AddCommand(c)
	}
	plans := a.planCommand()
	plans.GroupID = "run"
	root.AddCommand(plans)
	root.AddCommand(a.auditCommand())
	root.AddCommand(a.slaCommand())
	root.AddCommand(a.evidenceCommand())
	root.SetHelpCommandGroupID("local")
	root.SetCompletionCommandGroupID("local")
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.print(map[string]string{"version": buildVersion()}, func(w io.Writer) {
				fmt.Fprintln(w, "lifeboat", buildVersion())
			})
		},
	}
}

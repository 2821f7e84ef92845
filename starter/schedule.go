package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/asset"
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Keep the assets' backup and restore-drill schedules: sync, list, pause, resume, trigger",
		Long: `Lifeboat runs each asset's backups, and its restore drills when it has a verify: section, from
Temporal Schedules named backup-ASSET and verify-ASSET, with overlap policy BUFFER_ONE and the
configuration's schedules.catchup_window. 'schedule sync' makes them match the configuration (the
worker also does it when it starts); the other commands act on one schedule, named by its ID or by
its asset (the backup schedule, or the restore-drill one with --verify).`,
	}
	cmd.AddCommand(a.scheduleSyncCommand(), a.scheduleListCommand(),
		a.scheduleStateCommand("pause"), a.scheduleStateCommand("resume"), a.scheduleTriggerCommand())
	return cmd
}

func (a *app) scheduleSyncCommand() *cobra.Command {
	var allowEmpty bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Make the schedules and RPO watchdogs match the configuration's assets",
		Long: `Create the missing schedules of the configuration's assets, update the others (a paused schedule
stays paused), delete the schedules of assets no longer configured, and start the RPO watchdog of
every asset that has none running. Every asset is attempted; the changes are printed, and the
exit code is 1 when any failed.`,
		Example: `  lifeboat schedule sync --config /etc/lifeboat/lifeboat.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("schedule sync needs --config or LIFEBOAT_CONFIG: it makes the schedules match the configuration's assets")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := asset.Validate(cfg.Assets); err != nil {
				return exitError{exitUsage, fmt.Errorf("invalid assets:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))}
			}
			if len(cfg.Assets) == 0 && !allowEmpty {
				return usageErr("the configuration has no assets: syncing would delete every Lifeboat schedule; pass --allow-empty to do that")
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			syncer := &schedules.Syncer{Client: c, TaskQueue: cfg.Worker.TaskQueue, CatchupWindow: cfg.Schedules.CatchupWindow.D()}
			changes, syncErr := syncer.Sync(ctx, cfg.Assets)
			if changes == nil {
				changes = []schedules.Change{}
			}
			if err := a.print(changes, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKIND\tASSET\tACTION")
				for _, ch := range changes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.ID, ch.Kind, ch.Asset, ch.Action)
				}
				_ = tw.Flush()
			}); err != nil {
				return err
			}
			if syncErr != nil {
				return fmt.Errorf("schedules not fully synced:\n  - %s", strings.ReplaceAll(syncErr.Error(), "\n", "\n  - "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "sync a configuration without assets, deleting every Lifeboat schedule")
	return cmd
}

func (a *app) scheduleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List Lifeboat's schedules: kind, asset, paused, next and last run",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			syncer := &schedules.Syncer{Client: c, TaskQueue: cfg.Worker.TaskQueue}
			entries, err := syncer.List(ctx)
			if err != nil {
				return err
			}
			if entries == nil {
				entries = []schedules.Entry{}
			}
			return a.print(entries, func(w io.Writer) { printSchedules(w, entries, time.Now()) })
		},
	}
}

func printSchedules(w io.Writer, entries []schedules.Entry, now time.Time) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no Lifeboat schedules: run 'lifeboat schedule sync'")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tASSET\tPAUSED\tNEXT RUN\tLAST RUN")
	for _, e := range entries {
		paused, next := "no", "-"
		if e.Paused {
			paused = "yes"
		}
		if len(e.NextRuns) > 0 && !e.Paused {
			next = fmt.Sprintf("%s (in %s)", e.NextRuns[0].Local().Format("2006-01-02 15:04"), units.Duration(max(0, e.NextRuns[0].Sub(now)).Round(time.Second)).Human())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, e.Asset, paused, next, ago(e.LastRun, now))
	}
	_ = tw.Flush()
}

// scheduleTarget is the schedule ID-OR-ASSET names: a full ID (backup-… or verify-…) as is, an
// asset's name as its backup schedule, or its restore-drill schedule with --verify.
func scheduleTarget(arg string, verify bool) (string, error) {
	if strings.HasPrefix(arg, "backup-") || strings.HasPrefix(arg, "verify-") {
		if verify {
			return "", usageErr("%q is a schedule ID already: --verify picks an asset's restore-drill schedule, give the asset's name with it", arg)
		}
		return arg, nil
	}
	if err := checkAssetName(arg); err != nil {
		return "", err
	}
	if verify {
		return workflows.VerifyScheduleID(arg), nil
	}
	return workflows.BackupScheduleID(arg), nil
}

const scheduleTargetHelp = `ID-OR-ASSET is a schedule ID (backup-ASSET, verify-ASSET) or an asset's name, which means its
backup schedule, or its restore-drill schedule with --verify. (An asset whose own name starts
with backup- or verify- is given by its schedule ID.)`

// scheduleStateCommand is pause or resume.
func (a *app) scheduleStateCommand(verb string) *cobra.Command {
	var (
		verify bool
		note   string
	)
	pause := verb == "pause"
	short := "Pause a schedule: no runs start until it is resumed"
	if !pause {
		short = "Resume a paused schedule"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID-OR-ASSET",
		Short: short,
		Long: short + `. A paused schedule stays paused through 'schedule sync'; the RPO watchdog
still alerts when backups stop.

` + scheduleTargetHelp,
		Example: fmt.Sprintf("  lifeboat schedule %s www\n  lifeboat schedule %s www --verify --note \"maintenance until 14:00\"", verb, verb),
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := scheduleTarget(args[0], verify)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, _, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if note == "" {
				note = fmt.Sprintf("%sd with lifeboat by %s", verb, a.whoAmI())
			}
			h := c.ScheduleClient().GetHandle(ctx, id)
			if pause {
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
			} else {
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
			}
			if err != nil {
				return scheduleErr(err, verb, id)
			}
			past := map[bool]string{true: "Paused", false: "Resumed"}[pause]
			return a.print(scheduleAction{ID: id, Action: strings.ToLower(past), Note: note}, func(w io.Writer) {
				fmt.Fprintf(w, "%s schedule %s (%s)\n", past, id, note)
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "the asset's restore-drill schedule, not its backup schedule")
	cmd.Flags().StringVar(&note, "note", "", "why, shown with the schedule (default: who did it)")
	return cmd
}

func (a *app) scheduleTriggerCommand() *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "trigger ID-OR-ASSET",
		Short: "Run a schedule's action now (after the running one, if any)",
		Long: `Start a schedule's workflow now, as if it were due: a backup, or a restore drill with --verify.
The overlap policy is BUFFER_ONE: when one is running, this one starts after it.

` + scheduleTargetHelp,
		Example: `  lifeboat schedule trigger www
  lifeboat schedule trigger verify-www`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := scheduleTarget(args[0], verify)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, _, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			err = c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE})
			if err != nil {
				return scheduleErr(err, "trigger", id)
			}
			return a.print(scheduleAction{ID: id, Action: "triggered"}, func(w io.Writer) {
				fmt.Fprintf(w, "Triggered schedule %s: its workflow starts now, or after the one running (see 'lifeboat schedule list')\n", id)
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "the asset's restore-drill schedule, not its backup schedule")
	return cmd
}

type scheduleAction struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
}

// scheduleErr names the schedule that is missing.
func scheduleErr(err error, verb, id string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return exitError{exitFailure, fmt.Errorf("no schedule %q in this namespace (see 'lifeboat schedule list')", id)}
	}
	return fmt.Errorf("%s schedule %s: %w", verb, id, err)
}

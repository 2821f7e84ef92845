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

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Keep the assets' backup and restore-drill schedules: sync, list, pause, resume, trigger",
		Long: `Lifeboat runs each asset's backups, and its restore drills when it has a verify: section, from
Temporal Schedules named backup-ASSET and verify-ASSET, with overlap policy BUFFER_ONE and the
configuration's schedules.catchup_window. Each schedule records its owner, the configuration's
schedules.owner. 'schedule sync' makes this owner's schedules match the configuration (the worker
also does it when it starts); 'schedule list' shows every owner's; the other commands act on one
schedule, named by its ID or by its asset (the backup schedule, or the restore-drill one with
--verify).`,
	}
	cmd.AddCommand(a.scheduleSyncCommand(), a.scheduleListCommand(),
		a.scheduleStateCommand("pause"), a.scheduleStateCommand("resume"), a.scheduleTriggerCommand())
	return cmd
}

func (a *app) scheduleSyncCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Make this owner's schedules and RPO watchdogs match the configuration's assets",
		Long: `Create the missing schedules of the configuration's assets, update the others (a paused schedule
stays paused), and start the RPO watchdog of every asset that has none running. Schedules and
watchdogs carry their owner, the configuration's schedules.owner: sync removes and stops only this
owner's, of assets no longer configured, and never touches another owner's. A configured asset whose
schedule another owner holds is a conflict: it is left as it is and the exit code is 1.

Schedules with no owner recorded (made before owners existed, or by a configuration without
schedules.owner) are adopted when their asset is in this configuration and left alone otherwise.
Without schedules.owner, and for a configuration without assets, sync removes nothing.

--dry-run prints the plan and changes nothing; sync prints the same table once done. Every change
is attempted; the exit code is 1 when any failed or conflicts.`,
		Example: `  lifeboat schedule sync --config /etc/lifeboat/lifeboat.yaml --dry-run
  lifeboat schedule sync --config /etc/lifeboat/lifeboat.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("schedule sync needs --config or LIFEBOAT_CONFIG: it makes the schedules match the configuration's assets")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			var problems []string
			if err := asset.Validate(cfg.Assets); err != nil {
				problems = append(problems, strings.Split(err.Error(), "\n")...)
			}
			if err := cfg.Schedules.Validate(); err != nil {
				problems = append(problems, strings.Split(err.Error(), "\n")...)
			}
			if len(problems) > 0 {
				return exitError{exitUsage, fmt.Errorf("invalid configuration:\n  - %s", strings.Join(problems, "\n  - "))}
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			syncer := &schedules.Syncer{Client: c, TaskQueue: cfg.Worker.TaskQueue, Owner: cfg.Schedules.Owner, CatchupWindow: cfg.Schedules.CatchupWindow.D(),
				Drills: cfg.Recovery.Drills}
			plan, err := syncer.Plan(ctx, cfg.Assets)
			if err != nil {
				return fmt.Errorf("plan schedule sync: %w", err)
			}
			var syncErr error
			if dryRun {
				syncErr = plan.Err()
			} else {
				syncErr = syncer.Apply(ctx, plan)
			}
			for _, w := range plan.Warnings {
				fmt.Fprintln(a.stderr, "lifeboat: warning:", w)
			}
			out := syncOutput{Plan: plan, DryRun: dryRun}
			if err := a.print(out, func(w io.Writer) { printSyncPlan(w, out) }); err != nil {
				return err
			}
			if syncErr != nil {
				what := "schedules not fully synced"
				if dryRun {
					what = "sync would not fully succeed"
				}
				return fmt.Errorf("%s:\n  - %s", what, strings.ReplaceAll(syncErr.Error(), "\n", "\n  - "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what sync would create, update, remove, start, stop and leave alone, and change nothing")
	return cmd
}

// syncOutput is what schedule sync prints: the plan, applied or not.
type syncOutput struct {
	*schedules.Plan
	DryRun bool `json:"dry_run"`
}

// actionText spells a plan's action in the table; the dry run's and the sync's tables are the same.
var actionText = map[schedules.Action]string{
	schedules.Leave:    "leave alone",
	schedules.Conflict: "CONFLICT",
}

func printSyncPlan(w io.Writer, out syncOutput) {
	owner := fmt.Sprintf("owner %q", out.Owner)
	if out.Owner == "" {
		owner = "no owner (schedules.owner is not set)"
	}
	switch {
	case out.DryRun:
		fmt.Fprintf(w, "Dry run for %s: nothing is changed. Sync would:\n", owner)
	default:
		fmt.Fprintf(w, "Synced schedules for %s:\n", owner)
	}
	if len(out.Changes) == 0 {
		fmt.Fprintln(w, "  nothing: no assets and no Lifeboat schedules or watchdogs in this namespace")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tASSET\tOWNER\tACTION\tNOTE")
	for _, ch := range out.Changes {
		owner, action, note := ch.Owner, string(ch.Action), ch.Note
		if owner == "" {
			owner = "-"
		}
		if t, ok := actionText[ch.Action]; ok {
			action = t
		}
		if ch.Error != "" {
			action, note = action+" FAILED", ch.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.Kind, ch.Asset, owner, action, note)
	}
	_ = tw.Flush()
}

func (a *app) scheduleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List Lifeboat's schedules of every owner: kind, asset, owner, paused, next and last run",
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
	fmt.Fprintln(tw, "ID\tKIND\tASSET\tOWNER\tPAUSED\tNEXT RUN\tLAST RUN")
	for _, e := range entries {
		paused, next, owner := "no", "-", e.Owner
		if owner == "" {
			owner = "-"
		}
		if e.Paused {
			paused = "yes"
		}
		if len(e.NextRuns) > 0 && !e.Paused {
			next = fmt.Sprintf("%s (in %s)", e.NextRuns[0].Local().Format("2006-01-02 15:04"), units.Duration(max(0, e.NextRuns[0].Sub(now)).Round(time.Second)).Human())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, e.Asset, owner, paused, next, ago(e.LastRun, now))
	}
	_ = tw.Flush()
}

// scheduleTarget is the schedule ID-OR-ASSET names: a full ID (backup-… or verify-…) as is, an
// asset's name as its backup schedule, or its restore-drill schedule with --verify.
func scheduleTarget(arg string, verify bool) (string, error) {
	if strings.HasPrefix(arg, "backup-") || strings.HasPrefix(arg, "verify-") || strings.HasPrefix(arg, "drill-") {
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

const scheduleTargetHelp = `ID-OR-ASSET is a schedule ID (backup-ASSET, verify-ASSET, or drill-PLAN for a plan drilled on a
schedule) or an asset's name, which means its backup schedule, or its restore-drill schedule with
--verify. (An asset whose own name starts with backup-, verify- or drill- is given by its schedule
ID.)`

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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) assetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "asset",
		Short: "Work with the protected assets defined in the configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Check the configuration's assets (and the rest of it), reporting every problem at once",
		Long: `Check the assets in the configuration file (--config or LIFEBOAT_CONFIG): sources, repositories,
schedules, RPOs against their schedules, retention, verification checks, and that every secret an
asset names is configured. Every problem is listed; the exit code is 2 when there is any.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("asset validate needs --config or LIFEBOAT_CONFIG")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return exitError{exitUsage, fmt.Errorf("invalid configuration:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))}
			}
			type row struct {
				Name     string `json:"name"`
				Source   string `json:"source"`
				Schedule string `json:"schedule"`
				RPO      string `json:"rpo"`
				Verified bool   `json:"verified"`
			}
			rows := make([]row, 0, len(cfg.Assets))
			for _, as := range cfg.Assets {
				sched := as.Schedule.Cron
				if sched == "" {
					sched = "every " + as.Schedule.Every.String()
				}
				rows = append(rows, row{Name: as.Name, Source: as.Source.Kind(), Schedule: sched, RPO: as.RPO.String(), Verified: as.Verify != nil})
			}
			return a.print(rows, func(w io.Writer) {
				for _, r := range rows {
					verified := ""
					if r.Verified {
						verified = ", restore-tested"
					}
					fmt.Fprintf(w, "%-24s %-9s %-16s RPO %s%s\n", r.Name, r.Source, r.Schedule, r.RPO, verified)
				}
				fmt.Fprintf(w, "%d assets, configuration valid\n", len(rows))
			})
		},
	})
	cmd.AddCommand(a.assetStatusCommand())
	return cmd
}

func (a *app) assetStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status [ASSET...]",
		Short: "Show each asset's protection: last backup, RPO, last verified restore point",
		Long: `Ask the RPO watchdog of each ASSET (default: every asset in the configuration) for the asset's
protection: the last good backup and its age, the RPO and whether the asset is outside it (with
the alert level), and the last verified restore point — the newest restore drill that passed.

The exit code is 3 when any asset is outside its RPO, and 1 when any could not be checked (no
watchdog running: run 'lifeboat schedule sync'; or no worker answering).`,
		Example: `  lifeboat asset status
  lifeboat asset status www orders-db -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if err := checkAssetName(name); err != nil {
					return err
				}
			}
			names := args
			if len(names) == 0 {
				cfg, err := a.loadConfig()
				if err != nil {
					return err
				}
				for _, as := range cfg.Assets {
					names = append(names, as.Name)
				}
				if len(names) == 0 {
					return usageErr("no assets to show: name them, or give a configuration with assets (--config or LIFEBOAT_CONFIG)")
				}
			}
			ctx := cmd.Context()
			c, _, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			states := make([]assetState, 0, len(names))
			for _, name := range names {
				states = append(states, watchdogState(ctx, c, name))
			}
			now := time.Now()
			for _, s := range states {
				if s.Status != nil {
					asOf(s.Status, now)
				}
			}
			if err := a.print(states, func(w io.Writer) { printAssetStates(w, states, now) }); err != nil {
				return err
			}
			var stale, blind []string
			for _, s := range states {
				switch {
				case s.Status == nil:
					blind = append(blind, s.Asset)
				case s.Status.Stale:
					stale = append(stale, s.Asset)
				}
			}
			if len(stale) > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("outside the RPO: %s", strings.Join(stale, ", "))}
			}
			if len(blind) > 0 {
				return exitError{exitFailure, fmt.Errorf("protection unknown: %s", strings.Join(blind, ", "))}
			}
			return nil
		},
	}
}

// assetState is an asset's protection as its watchdog reports it.
type assetState struct {
	Asset    string               `json:"asset"`
	Watchdog string               `json:"watchdog"`
	Running  bool                 `json:"watchdog_running"`
	Status   *workflows.RPOStatus `json:"status,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// watchdogState asks the asset's RPO watchdog for its status.
func watchdogState(ctx context.Context, c client.Client, name string) assetState {
	s := assetState{Asset: name, Watchdog: workflows.WatchdogID(name)}
	desc, err := c.DescribeWorkflowExecution(ctx, s.Watchdog, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		s.Error = "no watchdog (run `lifeboat schedule sync`)"
		return s
	case err != nil:
		s.Error = "watchdog not described: " + err.Error()
		return s
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		s.Error = fmt.Sprintf("no watchdog: the last one is %s (run `lifeboat schedule sync`)", strings.ToLower(st.String()))
		return s
	}
	s.Running = true
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, s.Watchdog, "", workflows.QueryStatus)
	var st workflows.RPOStatus
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		s.Error = "watchdog not answering (is lifeboat-worker running?): " + err.Error()
		return s
	}
	s.Status = &st
	return s
}

func printAssetStates(w io.Writer, states []assetState, now time.Time) {
	var ok, stale, blind int
	for i, s := range states {
		if i > 0 {
			fmt.Fprintln(w)
		}
		st := s.Status
		if st == nil {
			blind++
			fmt.Fprintf(w, "%s  %s\n", s.Asset, s.Error)
			continue
		}
		if st.Stale {
			stale++
			fmt.Fprintf(w, "%s  OUTSIDE RPO (%s)%s\n", s.Asset, st.RPO.Human(), alertLevel(st.Level))
		} else {
			ok++
			fmt.Fprintf(w, "%s  within RPO (%s)\n", s.Asset, st.RPO.Human())
		}
		if st.LastBackup.IsZero() {
			fmt.Fprintf(w, "  last backup    none yet (watched for %s)\n", st.Age.Human())
		} else {
			fmt.Fprintf(w, "  last backup    %s, %s old, snapshot %s\n", st.LastBackup.Local().Format("2006-01-02 15:04"), units.Duration(st.Age.D().Round(time.Second)).Human(), shortSnapshot(st.LastSnapshot))
		}
		if st.Stale {
			fmt.Fprintf(w, "  stale since    %s\n", st.Deadline.Local().Format("2006-01-02 15:04"))
		} else {
			fmt.Fprintf(w, "  stale from     %s\n", st.Deadline.Local().Format("2006-01-02 15:04"))
		}
		if v := st.LastVerified; v != nil {
			fmt.Fprintf(w, "  last verified  snapshot %s of %s, drill %s, %s\n", shortSnapshot(v.Snapshot.ID),
				v.Snapshot.Time.Local().Format("2006-01-02 15:04"), ago(v.FinishedAt, now), checksPassed(v))
		} else {
			fmt.Fprintln(w, "  last verified  no restore drill has passed yet")
		}
		if f := st.LastFailed; f != nil && (st.LastVerified == nil || f.FinishedAt.After(st.LastVerified.FinishedAt)) {
			fmt.Fprintf(w, "  last drill     FAILED %s: %s\n", ago(f.FinishedAt, now), f.Error)
		}
	}
	fmt.Fprintf(w, "\n%s: %d within RPO, %d outside, %d unknown\n", plural(int64(len(states)), "asset"), ok, stale, blind)
}

func shortSnapshot(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	if id == "" {
		return "-"
	}
	return id
}

func checksPassed(ev *workflows.Evidence) string {
	if ev.Checks == nil {
		return "no checks"
	}
	passed := 0
	for _, c := range ev.Checks.Checks {
		if c.Passed {
			passed++
		}
	}
	return fmt.Sprintf("%d of %d checks passed", passed, len(ev.Checks.Checks))
}

// asOf brings a watchdog's answer to now: the watchdog's clock stands still between its wake-ups,
// so the age it reports is the age at its last one. Past the deadline the asset is outside its RPO
// even before the watchdog wakes to say so.
func asOf(st *workflows.RPOStatus, now time.Time) {
	base := st.LastBackup
	if base.IsZero() {
		base = st.WatchingSince
	}
	if !base.IsZero() && now.After(base) {
		st.Age = units.Duration(now.Sub(base))
	}
	if !st.Deadline.IsZero() && now.After(st.Deadline) {
		st.Stale = true
	}
}

func alertLevel(level int) string {
	if level == 0 {
		return ", not alerted yet"
	}
	return fmt.Sprintf(", alert level %d", level)
}

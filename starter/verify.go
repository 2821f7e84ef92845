package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) verifyCommand() *cobra.Command {
	var (
		snapshot string
		noWait   bool
	)
	cmd := &cobra.Command{
		Use:   "verify ASSET",
		Short: "Run a restore drill: restore a snapshot into scratch and run the asset's checks",
		Long: `Start a Verify workflow (a restore drill) for ASSET with the workflow ID verify-ASSET-<UTC time>.
It restores a snapshot into a scratch directory or scratch database, runs the asset's validation
checks, removes the scratch copy and records the evidence — with the asset's RPO watchdog too,
which then reports it as the last verified restore point.

--snapshot is latest (default), sample (one picked at random) or a snapshot ID. Unless --no-wait,
progress is shown on stderr and the evidence printed; the exit code is 3 when the drill failed.`,
		Example: `  lifeboat verify www
  lifeboat verify orders-db --snapshot sample -o json`,
		Args: assetArg("verify"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(snapshot) == "" {
				return usageErr("--snapshot: give latest, sample or a snapshot ID")
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			who := a.whoAmI()
			in := workflows.VerifyInput{Asset: args[0], Snapshot: snapshot, Trigger: who}
			run, started, err := a.startAssetWorkflow(ctx, c, cfg, assetStart{
				kind: "verify", asset: in.Asset, workflowType: workflows.VerifyWorkflow,
				summary: fmt.Sprintf("Restore drill of %s (snapshot %s), started by %s", in.Asset, in.Snapshot, who),
			}, in)
			if err != nil {
				return err
			}
			if noWait {
				return a.printStarted(started)
			}
			var ev workflows.Evidence
			live := a.newLive()
			err = watchRun(a, ctx, c, run, &ev, func(st workflows.VerifyStatus, running *contract.OpProgress) string {
				if running != nil {
					st.Progress = running
				}
				line, pct := phaseProgress(st.Phase, st.Progress)
				live.show(st.Phase, line, pct)
				return ""
			})
			live.done()
			return a.finishRun(ctx, runOutput{startedOutput: started}, err, &ev, "restore drill", func(w io.Writer) { printEvidence(w, ev) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&snapshot, "snapshot", "latest", "latest, sample (one at random) or a snapshot ID")
	f.BoolVar(&noWait, "no-wait", false, "print the workflow ID and return at once")
	return cmd
}

// printEvidence prints a restore drill's evidence.
func printEvidence(w io.Writer, ev workflows.Evidence) {
	head := "Restore drill of " + ev.Asset
	if ev.Passed {
		head += " PASSED"
	} else {
		head += " FAILED"
	}
	if !ev.FinishedAt.IsZero() {
		head += " in " + units.Duration(ev.FinishedAt.Sub(ev.StartedAt).Round(time.Second)).Human()
	}
	if ev.Trigger != "" {
		head += " (started by " + ev.Trigger + ")"
	}
	fmt.Fprintln(w, head)
	if ev.Error != "" {
		fmt.Fprintf(w, "  error         %s\n", ev.Error)
	}
	if sn := ev.Snapshot; sn.ID != "" {
		fmt.Fprintf(w, "  snapshot      %s of %s, %s\n", sn.ID, sn.Time.UTC().Format(time.RFC3339), units.Bytes(sn.Bytes))
	}
	if r := ev.Restore; r != nil {
		where := r.TargetDir
		if r.Database != "" {
			where = "database " + r.Database
		}
		fmt.Fprintf(w, "  restored to   %s (scratch, removed after the checks)\n", where)
		fmt.Fprintf(w, "  restore time  %s for %d files, %s\n", ev.RestoreTime.Human(), r.Files, units.Bytes(r.Bytes))
	}
	if ck := ev.Checks; ck != nil {
		passed := 0
		for _, c := range ck.Checks {
			if c.Passed {
				passed++
			}
		}
		fmt.Fprintf(w, "  checks        %d of %d passed\n", passed, len(ck.Checks))
		for _, c := range ck.Checks {
			result := "passed"
			if !c.Passed {
				result = "FAILED"
			}
			line := fmt.Sprintf("    %-7s %s", result, c.Name)
			if c.Value != "" {
				line += " = " + c.Value
			}
			if c.Detail != "" {
				line += " (" + c.Detail + ")"
			}
			fmt.Fprintln(w, line)
		}
		if ck.TreeSHA256 != "" {
			fmt.Fprintf(w, "  tree digest   sha256:%s (%d files, %s)\n", ck.TreeSHA256, ck.Files, units.Bytes(ck.Bytes))
		}
	}
	if ev.Record != nil {
		fmt.Fprintf(w, "  %s\n", ev.Record.Line())
	}
}

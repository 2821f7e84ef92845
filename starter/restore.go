package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/snappath"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

func (a *app) restoreCommand() *cobra.Command {
	var (
		in              workflows.RestoreInput
		approvalTimeout time.Duration
		noWait          bool
	)
	cmd := &cobra.Command{
		Use:   "restore ASSET",
		Short: "Restore a snapshot of an asset: to a directory, a new database, or in place after approval",
		Long: `Start a Restore workflow for ASSET, an asset of the worker's configuration, with the workflow ID
restore-ASSET-<UTC time>. Say where it goes with exactly one of:

  --target DIR       an empty or new directory on the worker's machine (absolute, inside the
                     worker's restore_roots), for files; no existing file is ever replaced
  --database NAME    a new database on the asset's PostgreSQL server
  --in-place         over the live data; the workflow first waits for approval at the
                     restore-in-place gate, by someone other than the requester. Files are
                     replaced one by one, each only once its new content is verified; a
                     database is restored beside the live one, checked, and swapped in, the
                     old one kept as <name>_replaced_<UTC time>

--path selects a file or directory inside the snapshot, relative to its root (index.html, img);
it is restored as DIR/<its name>. The approval request states the exact scope: asset, snapshot,
path, target directory or database, and whether anything is overwritten or replaced.

An in-place restore is approved with 'lifeboat approve WORKFLOW-ID' (or rejected with 'lifeboat
reject'); the approvers are the asset's owners in the configuration (with none, anyone but the
requester; never people the request names), --quorum of them must approve, and nobody deciding
within --approval-timeout refuses it. Where the worker verifies identities, only the asset's owners
may restore it, and the start is signed with your key (see lifeboat keygen).

Unless --no-wait, progress is shown on stderr (and who approved so far, while it waits) and the
result is printed when the restore ends; the exit code is 3 when it failed or was not approved.`,
		Example: `  lifeboat restore www --target /srv/restore/www
  lifeboat restore www --snapshot 4f2a91c0 --path index.html --target /tmp/r
  lifeboat restore orders-db --database orders_restored
  lifeboat restore www --in-place --quorum 2`,
		Args: assetArg("restore"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Asset = args[0]
			if err := checkRestoreFlags(cmd, &in, approvalTimeout); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := runID("restore", in.Asset, time.Now())
			s, err := a.assert(ctx, cfg, in.Requester, cmd.Flags().Changed("requester"),
				identity.Assertion{Act: identity.ActStart, Workflow: id, Subject: in.Asset}, time.Minute)
			if err != nil {
				return err
			}
			in.Assertion, in.Requester = s.token, s.person
			run, started, err := a.startAssetWorkflow(ctx, c, cfg, assetStart{
				id: id, kind: "restore", asset: in.Asset, workflowType: workflows.RestoreWorkflow,
				summary: restoreSummary(in), details: restoreDetails(in, cfg),
			}, in)
			if err != nil {
				return err
			}
			out := runOutput{startedOutput: started, Status: "running"}
			if in.InPlace {
				out.Approval = newApprovalHint(out.WorkflowID, workflows.GateRestoreInPlace, in.Requester, in.Approvers, in.Quorum)
				if a.output == "text" {
					printApprovalHint(a.stdout, *out.Approval)
				}
			}
			if noWait {
				if a.output == "json" {
					return a.print(out, nil)
				}
				return nil
			}
			var result workflows.RestoreResult
			live := a.newLive()
			err = watchRun(a, ctx, c, run, &result, func(st workflows.RestoreResult, running *contract.OpProgress) string {
				if running != nil {
					st.Progress = running
				}
				if st.Phase == workflows.PhaseApproval {
					line := awaitingApproval(ctx, c, run, workflows.GateRestoreInPlace)
					live.show(line, line, -1)
					return ""
				}
				line, pct := phaseProgress(st.Phase, st.Progress)
				live.show(st.Phase, line, pct)
				return ""
			})
			live.done()
			return a.finishRun(ctx, out, err, &result, "restore", func(w io.Writer) { printRestoreResult(w, result) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Snapshot, "snapshot", "latest", "snapshot ID (or a unique prefix), or latest")
	f.StringVar(&in.Path, "path", "", "restore only this file or subtree of the snapshot (relative to its root)")
	f.StringVar(&in.TargetDir, "target", "", "restore into this absolute directory on the worker's machine")
	f.StringVar(&in.Database, "database", "", "restore into this new database on the asset's PostgreSQL server")
	f.BoolVar(&in.InPlace, "in-place", false, "restore over the live data, after approval")
	f.StringVar(&in.Requester, "requester", a.whoAmI(), "who asks for the restore; they cannot approve it themselves")
	f.IntVar(&in.Quorum, "quorum", 0, "how many approvers must approve an in-place restore (default 1)")
	f.DurationVar(&approvalTimeout, "approval-timeout", workflows.DefaultApprovalTimeout, "how long an in-place restore waits for approval before giving up")
	f.BoolVar(&noWait, "no-wait", false, "print the workflow ID (and how to approve) and return at once")
	return cmd
}

// checkRestoreFlags refuses what the workflow would refuse, and flags that would be ignored, before
// anything starts.
func checkRestoreFlags(cmd *cobra.Command, in *workflows.RestoreInput, approvalTimeout time.Duration) error {
	var where []string
	if in.TargetDir != "" {
		where = append(where, "--target")
	}
	if in.Database != "" {
		where = append(where, "--database")
	}
	if in.InPlace {
		where = append(where, "--in-place")
	}
	switch len(where) {
	case 0:
		return usageErr("say where to restore: give exactly one of --target DIR, --database NAME or --in-place (see %s --help)", cmd.CommandPath())
	case 1:
	default:
		return usageErr("%s exclude each other: give exactly one of --target DIR, --database NAME or --in-place", strings.Join(where, " and "))
	}
	if in.TargetDir != "" && !strings.HasPrefix(in.TargetDir, "/") {
		return usageErr("--target %q: must be an absolute path (the directory is on the worker's machine)", in.TargetDir)
	}
	if sel, err := snappath.Clean(in.Path); err != nil {
		return usageErr("--path: %v", err)
	} else {
		in.Path = sel
	}
	if strings.TrimSpace(in.Requester) == "" {
		return usageErr("--requester: say who asks for the restore")
	}
	f := cmd.Flags()
	if !in.InPlace && (f.Changed("quorum") || f.Changed("approval-timeout")) {
		return usageErr("--quorum and --approval-timeout apply to --in-place restores only")
	}
	if in.Quorum < 0 {
		return usageErr("--quorum %d: must not be negative", in.Quorum)
	}
	if approvalTimeout <= 0 {
		return usageErr("--approval-timeout %s: must be positive", approvalTimeout)
	}
	if in.InPlace {
		in.ApprovalTimeout = units.Duration(approvalTimeout)
	}
	if err := in.Validate(); err != nil {
		return usageErr("invalid restore:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))
	}
	return nil
}

// restoreWhere says where a restore goes, for people.
func restoreWhere(in workflows.RestoreInput) string {
	switch {
	case in.InPlace:
		return "in place, over the live data"
	case in.Database != "":
		return "into database " + in.Database
	default:
		return "into " + in.TargetDir
	}
}

func restoreSummary(in workflows.RestoreInput) string {
	return fmt.Sprintf("Restore of %s (snapshot %s) %s, requested by %s", in.Asset, in.Snapshot, restoreWhere(in), in.Requester)
}

// restoreDetails are a restore's static details in the Web UI: what it touches and, for one in
// place, what gates it — the asset's owners in cfg (groups expanded), or, when it has none, anyone
// but the requester, which is what the workflow then accepts.
func restoreDetails(in workflows.RestoreInput, cfg config.Config) string {
	var b strings.Builder
	if in.Path != "" {
		fmt.Fprintf(&b, "Only `%s` of the snapshot.\n\n", in.Path)
	}
	if !in.InPlace {
		fmt.Fprintf(&b, "Restores %s, beside the live data, which it does not touch: no approval is needed.\n", restoreWhere(in))
		return b.String()
	}
	quorum := max(in.Quorum, 1)
	approvers, whose := in.Approvers, "named in the request"
	if len(approvers) == 0 {
		whose = "the asset's owners"
		for _, as := range cfg.Assets {
			if as.Name == in.Asset {
				approvers = as.Owners
			}
		}
		if expanded := cfg.Identity.Directory.Expand(approvers); len(expanded) > 0 {
			approvers = expanded
		}
	}
	var others []string
	for _, p := range approvers {
		if p != in.Requester {
			others = append(others, p)
		}
	}
	switch {
	case len(approvers) == 0:
		fmt.Fprintf(&b, "Replaces the live data once approved. %s has no owners in the configuration, so anyone but %s, who asked, may approve: %d approval(s) needed",
			in.Asset, in.Requester, quorum)
	default:
		fmt.Fprintf(&b, "Replaces the live data once approved by %d of %s (%s; %s, who asked, cannot approve)",
			quorum, strings.Join(others, ", "), whose, in.Requester)
	}
	fmt.Fprintf(&b, " within %s; otherwise it is not done. One rejection stops it.\n", in.ApprovalTimeout.Human())
	return b.String()
}

// awaitingApproval is the progress line of a workflow waiting at gate: how many approved of how many
// needed, from the approvals query.
func awaitingApproval(ctx context.Context, c client.Client, run client.WorkflowRun, gate string) string {
	line := workflows.PhaseApproval
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, run.GetID(), run.GetRunID(), approval.QueryApprovals)
	if err != nil {
		return line
	}
	var st approval.State
	if v.Get(&st) != nil {
		return line
	}
	for _, g := range st.Pending {
		if g.Gate != gate {
			continue
		}
		line = fmt.Sprintf("%s (%d of %d)", line, len(g.ApprovedBy), g.Quorum)
		if len(g.ApprovedBy) > 0 {
			line += ", approved by " + strings.Join(g.ApprovedBy, ", ")
		}
		if !g.ExpiresAt.IsZero() {
			line += ", expires " + g.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
	}
	return line
}

// printRestoreResult prints a restore's outcome, or its state while it runs.
func printRestoreResult(w io.Writer, r workflows.RestoreResult) {
	kind := "Restore"
	if r.InPlace {
		kind = "In-place restore"
	}
	head := kind + " of " + r.Asset
	switch {
	case r.Phase == workflows.PhaseFailed:
		head += " FAILED"
	case r.Phase == workflows.PhaseDone && r.Error != "":
		head += " NOT DONE"
	case r.Phase == workflows.PhaseDone:
		head += " succeeded"
	default:
		head += ": " + r.Phase
	}
	if !r.FinishedAt.IsZero() {
		head += " in " + units.Duration(r.FinishedAt.Sub(r.StartedAt).Round(time.Second)).Human()
	}
	if r.Requester != "" {
		head += " (requested by " + r.Requester + ")"
	}
	fmt.Fprintln(w, head)
	if r.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", r.Error)
	}
	if sn := r.Snapshot; sn != nil {
		fmt.Fprintf(w, "  snapshot   %s of %s, %s\n", sn.ID, sn.Time.UTC().Format(time.RFC3339), units.Bytes(sn.Bytes))
	}
	if ap := r.Approval; ap != nil {
		for _, d := range ap.Decisions {
			verb := "approved"
			if !d.Approve {
				verb = "rejected (" + d.Reason + ")"
			}
			fmt.Fprintf(w, "  %-10s by %s via %s at %s\n", verb, d.Identity, d.Channel, d.Time.Local().Format(time.RFC3339))
		}
		if ap.Expired {
			fmt.Fprintf(w, "  expired    after waiting %s\n", units.Duration(ap.Waited).Human())
		}
	}
	if r.Progress != nil {
		fmt.Fprintf(w, "  progress   %s\n", progressBar(*r.Progress, barWidth))
	}
	if res := r.Restored; res != nil {
		where := res.TargetDir
		if res.Database != "" {
			where = "database " + res.Database
		}
		if where == "" {
			where = "place"
		}
		fmt.Fprintf(w, "  restored   %d files, %s into %s in %s\n", res.Files, units.Bytes(res.Bytes), where, units.Duration(res.Duration).Human())
		if n := len(res.Failed); n > 0 {
			fmt.Fprintf(w, "  failed     %d files: %s\n", n, strings.Join(res.Failed[:min(5, n)], "; "))
		}
	}
}

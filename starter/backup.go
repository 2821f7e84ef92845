package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"go.temporal.io/api/serviceerror"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) backupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up an asset now, list its backups and show one",
		Long: `Back up the assets defined in the worker's configuration through Temporal: the worker runs the
backup, copies it off-site and applies retention, exactly as a scheduled backup does.`,
	}
	cmd.AddCommand(a.backupRunCommand(), a.backupListCommand(), a.backupShowCommand())
	return cmd
}

func (a *app) backupRunCommand() *cobra.Command {
	var (
		tags          []string
		skipRetention bool
		noWait        bool
	)
	cmd := &cobra.Command{
		Use:   "run ASSET",
		Short: "Start a Backup workflow for an asset and follow it",
		Long: `Start a Backup workflow for ASSET, an asset of the worker's configuration, with the workflow ID
backup-ASSET-<UTC time>. It backs up into the asset's repository, copies the snapshot off-site and
applies retention (unless --skip-retention), and tells the asset's RPO watchdog.

Unless --no-wait, progress is shown on stderr and the result is printed when the backup ends; the
exit code is 3 when it failed.`,
		Example: `  lifeboat backup run www
  lifeboat backup run orders-db --tag before-migration --skip-retention
  lifeboat backup run www --no-wait -o json`,
		Args: assetArg("back up"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			who := a.whoAmI()
			in := workflows.BackupInput{Asset: args[0], Tags: tags, Trigger: who, SkipRetention: skipRetention}
			details := ""
			if len(tags) > 0 {
				details += "Tags: " + strings.Join(tags, ", ") + "\n\n"
			}
			if skipRetention {
				details += "Retention is skipped for this backup.\n"
			}
			run, out, err := a.startAssetWorkflow(ctx, c, cfg, assetStart{
				kind: "backup", asset: in.Asset, workflowType: workflows.BackupWorkflow,
				summary: fmt.Sprintf("Backup of %s, started by %s", in.Asset, who), details: details,
			}, in)
			if err != nil {
				return err
			}
			if noWait {
				return a.printStarted(out)
			}
			var result workflows.BackupResult
			live := a.newLive()
			err = watchRun(a, ctx, c, run, &result, func(st workflows.BackupResult, running *contract.OpProgress) string {
				if running != nil {
					st.Progress = running
				}
				line, pct := phaseProgress(st.Phase, st.Progress)
				if st.Progress == nil && st.Error != "" {
					line = st.Phase + ": " + st.Error
				}
				live.show(st.Phase, line, pct)
				return ""
			})
			live.done()
			return a.finishRun(ctx, runOutput{startedOutput: out}, err, &result, "backup", func(w io.Writer) { printBackupResult(w, result) })
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "tag to give the snapshot (repeatable)")
	f.BoolVar(&skipRetention, "skip-retention", false, "leave old snapshots alone this time")
	f.BoolVar(&noWait, "no-wait", false, "print the workflow ID and return at once")
	return cmd
}

func (a *app) backupListCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list [ASSET]",
		Short: "List Backup workflows, newest first",
		Long: `List Backup workflows (scheduled and manual) from Temporal's visibility store, newest first: of
every asset, or of ASSET. The result column is the LifeboatResult search attribute.`,
		Example: `  lifeboat backup list
  lifeboat backup list www --limit 5 -o json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			query := fmt.Sprintf("%s = 'backup'", workflows.KindKey.GetName())
			if len(args) == 1 {
				if err := checkAssetName(args[0]); err != nil {
					return err
				}
				// The name matched assetName, so it needs no quoting.
				query += fmt.Sprintf(" AND %s = '%s'", workflows.AssetKey.GetName(), args[0])
			}
			if limit < 1 {
				return usageErr("--limit %d: list at least 1", limit)
			}
			ctx := cmd.Context()
			c, _, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := listRuns(ctx, c, query, limit)
			if err != nil {
				return err
			}
			return a.print(rows, func(w io.Writer) { printRuns(w, rows, time.Now()) })
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "list at most this many")
	return cmd
}

func (a *app) backupShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show WORKFLOW-ID",
		Short: "Show a Backup workflow's result, or its progress while it runs",
		Long: `Show a Backup workflow: its result when it completed, what it had done when it failed (from the
failure's details), or its state from the status query while it runs.`,
		Example: `  lifeboat backup show backup-www-20260102T030405Z`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			var result workflows.BackupResult
			out, err := a.showRun(ctx, c, cfg, args[0], workflows.BackupWorkflow, &result)
			if err != nil {
				return err
			}
			if out.Running != nil {
				result.Progress = out.Running
			}
			return a.print(out, func(w io.Writer) {
				printShowHeader(w, out)
				if out.Result != nil {
					printBackupResult(w, result)
				}
			})
		},
	}
}

// assetPattern is what an asset's name must look like (as in the configuration).
var assetPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// checkAssetName refuses a name that cannot be an asset's, before it goes into a workflow ID or a
// visibility query.
func checkAssetName(name string) error {
	if !assetPattern.MatchString(name) {
		return usageErr("%q is not an asset name: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", name)
	}
	return nil
}

// assetArg requires exactly one argument, a valid asset name; doing names what the command does
// with it, for the error message.
func assetArg(doing string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch len(args) {
		case 0:
			return usageErr("missing ASSET: name the asset to %s, as in the configuration (see %s --help)", doing, cmd.CommandPath())
		case 1:
			return checkAssetName(args[0])
		default:
			return usageErr("one ASSET at a time, got %d: %s (see %s --help)", len(args), strings.Join(args, " "), cmd.CommandPath())
		}
	}
}

// whoAmI names the person running the CLI, for triggers, requesters and approvals: $LIFEBOAT_AS
// (their ID in the identity directory) when set, else user@host.
func (a *app) whoAmI() string {
	if as, _ := a.env("LIFEBOAT_AS"); strings.TrimSpace(as) != "" {
		return strings.TrimSpace(as)
	}
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name, _ = a.env("USER")
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return name + "@" + host
}

// assetStart describes a workflow the CLI starts on an asset.
type assetStart struct {
	// id is the workflow ID; empty for runID's.
	id                        string
	kind, asset, workflowType string
	summary, details          string
}

// runID is the workflow ID of a run of kind on asset started at t: backup-www-20260102T030405Z.
func runID(kind, asset string, t time.Time) string {
	return fmt.Sprintf("%s-%s-%s", kind, asset, t.UTC().Format("20060102T150405Z"))
}

// startAssetWorkflow starts s with input under a new ID, tagged with the kind and asset search
// attributes, and prints its ID and Web UI link with text output.
func (a *app) startAssetWorkflow(ctx context.Context, c client.Client, cfg config.Config, s assetStart, input any) (client.WorkflowRun, startedOutput, error) {
	id := s.id
	if id == "" {
		id = runID(s.kind, s.asset, time.Now())
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                cfg.Worker.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            s.summary,
		StaticDetails:                            s.details,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.KindKey.ValueSet(s.kind), workflows.AssetKey.ValueSet(s.asset)),
	}, s.workflowType, input)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil, startedOutput{}, fmt.Errorf("start %s %s: a %s of %s started this second already; try again", s.kind, id, s.kind, s.asset)
		}
		return nil, startedOutput{}, fmt.Errorf("start %s %s: %w", s.kind, id, err)
	}
	out := startedOutput{WorkflowID: run.GetID(), RunID: run.GetRunID(), URL: workflowURL(cfg, run.GetID(), run.GetRunID())}
	if a.output == "text" {
		fmt.Fprintf(a.stdout, "Started %s workflow %s\n", s.workflowType, out.WorkflowID)
		if out.URL != "" {
			fmt.Fprintf(a.stdout, "  Web UI: %s\n", out.URL)
		}
	}
	return run, out, nil
}

// printStarted ends a --no-wait start: the text was printed when it started.
func (a *app) printStarted(out startedOutput) error {
	if a.output == "json" {
		return a.print(out, nil)
	}
	return nil
}

// runOutput is a started workflow followed to its end.
type runOutput struct {
	startedOutput
	// Approval says how to approve a workflow that waits for it.
	Approval *approvalHint `json:"approval,omitempty"`
	Status   string        `json:"status"`
	Error    string        `json:"error,omitempty"`
}

// stoppedWaiting reports whether err ended the wait rather than the workflow. Every outcome of the
// workflow itself (failed, cancelled, terminated, timed out) reaches the CLI as a
// WorkflowExecutionError; anything else — the CLI's own deadline or Ctrl-C, which gRPC may report a
// moment before the context does, or a lost connection — means the workflow goes on unwatched.
func stoppedWaiting(err error) bool {
	var outcome *temporal.WorkflowExecutionError
	return !errors.As(err, &outcome)
}

// finishRun prints the outcome of a workflow the CLI waited for. A failed workflow's result is read
// from its failure's details into result, printed, and turned into exit code 3.
func (a *app) finishRun(ctx context.Context, out runOutput, runErr error, result any, what string, text func(w io.Writer)) error {
	if runErr != nil && (ctx.Err() != nil || stoppedWaiting(runErr)) {
		// The CLI stopped waiting (Ctrl-C); the workflow goes on.
		reason := "interrupted"
		if ctx.Err() == nil {
			reason = runErr.Error()
		}
		return exitError{exitFailure, fmt.Errorf("stopped waiting for %s %s (%s), which goes on: follow it with 'lifeboat status %s'", what, out.WorkflowID, reason, out.WorkflowID)}
	}
	out.Status = "completed"
	hasResult := runErr == nil || failureDetails(runErr, result)
	if hasResult {
		out.Result = result
	}
	if runErr != nil {
		out.Status, out.Error = "failed", workflowErrMessage(runErr)
	}
	if err := a.print(out, func(w io.Writer) {
		if hasResult {
			text(w)
		} else {
			fmt.Fprintf(w, "%s %s failed: %s\n", what, out.WorkflowID, out.Error)
		}
	}); err != nil {
		return err
	}
	if runErr != nil {
		return exitError{exitBadOutcome, fmt.Errorf("%s %s failed: %s", what, out.WorkflowID, out.Error)}
	}
	return nil
}

// failureDetails reads the result a failed Lifeboat workflow carries in its failure's details into
// v; it reports whether there was one.
func failureDetails(err error, v any) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(v) == nil
}

// workflowErrMessage is why a workflow failed, without the SDK's wrapping.
func workflowErrMessage(err error) string {
	var (
		appErr      *temporal.ApplicationError
		canceled    *temporal.CanceledError
		terminated  *temporal.TerminatedError
		timeout     *temporal.TimeoutError
		unavailable *serviceerror.Unavailable
	)
	switch {
	case errors.As(err, &appErr):
		return appErr.Message()
	case errors.As(err, &canceled):
		return "canceled"
	case errors.As(err, &terminated):
		return "terminated"
	case errors.As(err, &timeout):
		return "timed out (" + timeout.TimeoutType().String() + ")"
	case errors.As(err, &unavailable):
		return "temporal unavailable: " + unavailable.Error()
	}
	return err.Error()
}

// showOutput is a workflow as `backup show` and its siblings print it.
type showOutput struct {
	WorkflowID string     `json:"workflow_id"`
	RunID      string     `json:"run_id"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	URL        string     `json:"url,omitempty"`
	Error      string     `json:"error,omitempty"`
	Result     any        `json:"result,omitempty"`
	// Warning says why no result is shown.
	Warning string `json:"warning,omitempty"`
	// Running is the progress the running step last heartbeated.
	Running *contract.OpProgress `json:"running,omitempty"`
}

// showRun describes the workflow id, which must be of type wantType, and reads its result into
// result: from the result when it completed, the failure's details when it failed, and the status
// query otherwise.
func (a *app) showRun(ctx context.Context, c client.Client, cfg config.Config, id, wantType string, result any) (showOutput, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return showOutput{}, notFound(err, id)
	}
	info := desc.GetWorkflowExecutionInfo()
	out := showOutput{
		WorkflowID: info.GetExecution().GetWorkflowId(),
		RunID:      info.GetExecution().GetRunId(),
		Type:       info.GetType().GetName(),
		Status:     info.GetStatus().String(),
		StartedAt:  info.GetStartTime().AsTime(),
	}
	if out.Type != wantType {
		return out, usageErr("%s is not a %s workflow: it is %s (see lifeboat status %s)", id, wantType, out.Type, id)
	}
	if info.GetCloseTime() != nil {
		t := info.GetCloseTime().AsTime()
		out.ClosedAt = &t
	}
	out.URL = workflowURL(cfg, out.WorkflowID, out.RunID)
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		err := c.GetWorkflow(ctx, out.WorkflowID, out.RunID).Get(ctx, result)
		switch {
		case err == nil:
			out.Result = result
		case failureDetails(err, result):
			out.Result, out.Error = result, workflowErrMessage(err)
		default:
			out.Error = workflowErrMessage(err)
		}
		return out, nil
	}
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		out.Error = strings.ToLower(out.Status)
	}
	// Queries need a worker; without one the description alone is shown.
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, out.WorkflowID, out.RunID, workflows.QueryStatus)
	if err == nil {
		err = v.Get(result)
	}
	if err != nil {
		out.Warning = "state unavailable: " + err.Error()
		if a.output == "text" {
			fmt.Fprintf(a.stderr, "warning: %s\n", out.Warning)
		}
		return out, nil
	}
	out.Result = result
	out.Running = heartbeatProgress(desc, a.dataConverter())
	return out, nil
}

func printShowHeader(w io.Writer, out showOutput) {
	fmt.Fprintf(w, "%s  %s  %s\n", out.WorkflowID, out.Type, out.Status)
	fmt.Fprintf(w, "  started %s", out.StartedAt.Local().Format(time.RFC3339))
	if out.ClosedAt != nil {
		fmt.Fprintf(w, ", closed %s (%s)", out.ClosedAt.Local().Format(time.RFC3339), out.ClosedAt.Sub(out.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	if out.URL != "" {
		fmt.Fprintf(w, "  Web UI: %s\n", out.URL)
	}
	if out.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", out.Error)
	}
	fmt.Fprintln(w)
}

// printBackupResult prints a backup's outcome, or its state while it runs.
func printBackupResult(w io.Writer, r workflows.BackupResult) {
	head := "Backup of " + r.Asset
	switch {
	case r.Phase == workflows.PhaseFailed:
		head += " FAILED"
	case r.Phase == workflows.PhaseDone:
		head += " succeeded"
	default:
		head += ": " + r.Phase
	}
	if !r.FinishedAt.IsZero() {
		head += " in " + units.Duration(r.FinishedAt.Sub(r.StartedAt).Round(time.Second)).Human()
	} else if !r.StartedAt.IsZero() {
		head += ", started " + r.StartedAt.Local().Format(time.RFC3339)
	}
	if r.Trigger != "" {
		head += " (started by " + r.Trigger + ")"
	}
	fmt.Fprintln(w, head)
	if r.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", r.Error)
	}
	if r.Progress != nil {
		fmt.Fprintf(w, "  progress   %s\n", progressBar(*r.Progress, barWidth))
	}
	if sn := r.Snapshot; sn != nil {
		fmt.Fprintf(w, "  snapshot   %s of %s in %s\n", sn.ID, sn.Time.UTC().Format(time.RFC3339), sn.Location)
		fmt.Fprintf(w, "  data       %d files, %s; %s added (%s stored), in %s\n", sn.Files, units.Bytes(sn.Bytes),
			units.Bytes(sn.BytesAdded), units.Bytes(sn.StoredAdded), units.Duration(sn.Duration).Human())
	}
	if r.Resumed != nil {
		fmt.Fprintf(w, "  resumed    after an interrupted attempt had done %s\n", units.Bytes(r.Resumed.BytesDone))
	}
	if o := r.Offsite; o != nil {
		skipped := ""
		if o.Skipped {
			skipped = " (already there)"
		}
		fmt.Fprintf(w, "  off-site   %s in %s%s\n", o.Copy.ID, o.Copy.Location, skipped)
	}
	for _, rr := range r.Retention {
		fmt.Fprintf(w, "  retention  %s: %d kept, %d removed, %s freed\n", rr.Location, rr.Kept, len(rr.Removed), units.Bytes(rr.BytesFreed))
	}
	if r.WaitedForLock > 0 {
		fmt.Fprintf(w, "  waited     %s for the repository lock\n", r.WaitedForLock.Human())
	}
}

// runRow is one workflow in a list.
type runRow struct {
	WorkflowID string         `json:"workflow_id"`
	RunID      string         `json:"run_id"`
	Asset      string         `json:"asset,omitempty"`
	Status     string         `json:"status"`
	StartedAt  time.Time      `json:"started_at"`
	ClosedAt   *time.Time     `json:"closed_at,omitempty"`
	Duration   units.Duration `json:"duration"`
	Result     string         `json:"result,omitempty"`
}

// listRuns lists up to limit workflows matching a visibility query, newest first.
func listRuns(ctx context.Context, c client.Client, query string, limit int) ([]runRow, error) {
	rows := []runRow{}
	var token []byte
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(min(limit-len(rows), 1000)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows (%s): %w", query, err)
		}
		now := time.Now()
		for _, info := range resp.GetExecutions() {
			r := runRow{
				WorkflowID: info.GetExecution().GetWorkflowId(),
				RunID:      info.GetExecution().GetRunId(),
				Status:     info.GetStatus().String(),
				StartedAt:  info.GetStartTime().AsTime(),
				Asset:      searchattr.Keyword(info.GetSearchAttributes(), workflows.AssetKey.GetName()),
				Result:     searchattr.Keyword(info.GetSearchAttributes(), workflows.ResultKey.GetName()),
			}
			end := now
			if info.GetCloseTime() != nil {
				t := info.GetCloseTime().AsTime()
				r.ClosedAt, end = &t, t
			}
			r.Duration = units.Duration(end.Sub(r.StartedAt).Round(time.Second))
			rows = append(rows, r)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	if len(rows) > limit {
		rows = rows[:limit]
	}
	slices.SortStableFunc(rows, func(x, y runRow) int { return y.StartedAt.Compare(x.StartedAt) })
	return rows, nil
}

func printRuns(w io.Writer, rows []runRow, now time.Time) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no workflows found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW ID\tSTATUS\tSTARTED\tDURATION\tRESULT")
	for _, r := range rows {
		dur := r.Duration.Human()
		if r.ClosedAt == nil {
			dur += " so far"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.Status, ago(r.StartedAt, now), dur, r.Result)
	}
	_ = tw.Flush()
}

// ago shows a past time with how long ago it was, such as "2026-01-02 03:04 (3h ago)".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("2006-01-02 15:04"), units.Duration(max(0, now.Sub(t)).Round(time.Second)).Human())
}

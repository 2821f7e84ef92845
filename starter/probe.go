package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) probeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Check the health of services with HTTP, TCP and PostgreSQL probes",
	}
	cmd.AddCommand(a.probeRunCommand())
	return cmd
}

func (a *app) probeRunCommand() *cobra.Command {
	var (
		file                string
		target, id          string
		httpURLs, tcps, pgs []string
		interval            time.Duration
		successes, failures int
		wait                bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Start a HealthProbe workflow",
		Long: `Start a HealthProbe workflow. Each check is attempted until it passes --success-threshold
times in a row (healthy) or fails --failure-threshold times in a row (unhealthy).

Describe the checks with flags, or give the whole workflow input as JSON with --file (- for stdin);
the JSON is the same as for 'temporal workflow start --type HealthProbe --input'.

PostgreSQL checks name a secret configured on the worker (secrets: in its configuration); the
connection string itself never leaves the worker.`,
		Example: `  lifeboat probe run --target orders --http https://orders.internal/healthz --tcp db.internal:5432 --wait
  lifeboat probe run --target orders-db --postgres orders-primary --failure-threshold 5
  lifeboat probe run --file examples/probe.json -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in workflows.HealthProbeInput
			if file != "" {
				if len(httpURLs)+len(tcps)+len(pgs) > 0 {
					return usageErr("--file gives the whole input: do not combine it with --http, --tcp or --postgres")
				}
				var err error
				if in, err = readProbeFile(file, a.stdin); err != nil {
					return exitError{exitUsage, err}
				}
			}
			if target != "" {
				in.Target = target
			}
			for _, u := range httpURLs {
				in.Checks = append(in.Checks, probe.Check{Kind: probe.HTTP, URL: u})
			}
			for _, t := range tcps {
				in.Checks = append(in.Checks, probe.Check{Kind: probe.TCP, Address: t})
			}
			for _, s := range pgs {
				in.Checks = append(in.Checks, probe.Check{Kind: probe.Postgres, DSNSecret: s})
			}
			if cmd.Flags().Changed("interval") {
				in.Interval = units.Duration(interval)
			}
			if cmd.Flags().Changed("success-threshold") {
				in.SuccessThreshold = successes
			}
			if cmd.Flags().Changed("failure-threshold") {
				in.FailureThreshold = failures
			}
			if err := in.Validate(); err != nil {
				return usageErr("invalid probe:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))
			}
			if id == "" {
				id = fmt.Sprintf("probe-%s-%s", slug(in.Target), time.Now().UTC().Format("20060102T150405.000Z"))
			}
			return a.startProbe(cmd, id, in, wait)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "workflow input as JSON (- for stdin)")
	f.StringVar(&target, "target", "", "what is probed, such as orders-primary")
	f.StringVar(&id, "id", "", "workflow ID (default probe-<target>-<time>)")
	f.StringArrayVar(&httpURLs, "http", nil, "HTTP(S) URL that must answer 2xx or 3xx (repeatable)")
	f.StringArrayVar(&tcps, "tcp", nil, "host:port that must accept a connection (repeatable)")
	f.StringArrayVar(&pgs, "postgres", nil, "worker secret holding a PostgreSQL DSN to connect to and run SELECT 1 (repeatable)")
	f.DurationVar(&interval, "interval", 5*time.Second, "wait between attempts of a check")
	f.IntVar(&successes, "success-threshold", 1, "passes in a row that make a check healthy")
	f.IntVar(&failures, "failure-threshold", 3, "failures in a row that make a check unhealthy")
	f.BoolVarP(&wait, "wait", "w", false, "wait for the verdict, showing progress; exit 3 when unhealthy")
	return cmd
}

func readProbeFile(path string, stdin io.Reader) (workflows.HealthProbeInput, error) {
	var in workflows.HealthProbeInput
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return in, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("probe input %s: %w", path, err)
	}
	return in, nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		return "target"
	}
	return s
}

// probeSummary is the static summary shown in the Web UI's workflow list.
func probeSummary(in workflows.HealthProbeInput) string {
	kinds := map[probe.Kind]int{}
	var order []string
	for _, c := range in.Checks {
		if kinds[c.Kind] == 0 {
			order = append(order, string(c.Kind))
		}
		kinds[c.Kind]++
	}
	return fmt.Sprintf("Health probe of %s: %d checks (%s)", in.Target, len(in.Checks), strings.Join(order, ", "))
}

func probeDetails(in workflows.HealthProbeInput) string {
	var b strings.Builder
	b.WriteString("| check | kind | target |\n|---|---|---|\n")
	for _, c := range in.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.DisplayName(), c.Kind, c.Target())
	}
	return b.String()
}

type startedOutput struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	URL        string `json:"url,omitempty"`
	Result     any    `json:"result,omitempty"`
}

func (a *app) startProbe(cmd *cobra.Command, id string, in workflows.HealthProbeInput, wait bool) error {
	ctx := cmd.Context()
	c, cfg, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                cfg.Worker.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            probeSummary(in),
		StaticDetails:                            probeDetails(in),
		TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.KindKey.ValueSet("probe"), workflows.AssetKey.ValueSet(in.Target)),
	}, workflows.HealthProbeWorkflow, in)
	if err != nil {
		return fmt.Errorf("start probe %s: %w", id, err)
	}
	out := startedOutput{WorkflowID: run.GetID(), RunID: run.GetRunID(), URL: workflowURL(cfg, run.GetID(), run.GetRunID())}
	if a.output == "text" {
		fmt.Fprintf(a.stdout, "Started %s workflow %s\n", workflows.HealthProbeWorkflow, out.WorkflowID)
		if out.URL != "" {
			fmt.Fprintf(a.stdout, "  Web UI: %s\n", out.URL)
		}
	}
	if !wait {
		if a.output == "json" {
			return a.print(out, nil)
		}
		return nil
	}

	var result workflows.HealthProbeResult
	err = watchRun(a, ctx, c, run, &result, func(st workflows.HealthProbeResult, _ *contract.OpProgress) string { return probeProgress(st) })
	if err != nil {
		return exitError{exitBadOutcome, fmt.Errorf("probe %s failed: %w", id, err)}
	}
	out.Result = result
	if err := a.print(out, func(w io.Writer) { printProbeResult(w, result) }); err != nil {
		return err
	}
	if !result.Healthy {
		return exitError{exitBadOutcome, errors.New(result.Target + " is unhealthy")}
	}
	return nil
}

func probeProgress(st workflows.HealthProbeResult) string {
	var parts []string
	for _, c := range st.Checks {
		parts = append(parts, fmt.Sprintf("%s %s (%d)", c.Name, c.Status, c.Attempts))
	}
	return strings.Join(parts, ", ")
}

func printProbeResult(w io.Writer, r workflows.HealthProbeResult) {
	fmt.Fprintf(w, "%s is %s (%s)\n", r.Target, r.Status, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
	for _, c := range r.Checks {
		opt := ""
		if c.Optional {
			opt = " [optional]"
		}
		last := c.LastDetail
		if c.Status != workflows.StatusHealthy {
			last = c.LastReason
		}
		fmt.Fprintf(w, "  %-9s %s%s: %s; %d attempts, last %s (%s)\n", c.Status, c.Name, opt, c.Verdict, c.Attempts, last, c.LastLatency.Human())
	}
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func (a *app) probeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Check the health of services with the HTTP, TCP and PostgreSQL checks configured on the worker",
		Long: `Check the health of services. A probe runs checks configured on the worker (probes.checks in
its configuration), by name: the worker refuses any other, so that starting a probe never sends
requests, connections or SQL of the caller's choosing.`,
	}
	cmd.AddCommand(a.probeRunCommand(), a.probeListCommand())
	return cmd
}

func (a *app) probeRunCommand() *cobra.Command {
	var (
		file                string
		target, id          string
		checks              []string
		interval            time.Duration
		successes, failures int
		wait                bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Start a HealthProbe workflow of configured checks",
		Long: `Start a HealthProbe workflow. Each check is attempted until it passes --success-threshold
times in a row (healthy) or fails --failure-threshold times in a row (unhealthy).

Name the checks with --check: checks configured on the worker (probes.checks in its configuration;
'lifeboat probe list' shows those of --config). --target with no --check runs every check that
probes.targets lists under it; with --check, it only names what is probed (by default the name of the
only check). The worker runs each check as it configures it and refuses a name it does not configure.

Or give the whole workflow input as JSON with --file (- for stdin), the same as for 'temporal
workflow start --type HealthProbe --input'; its checks name configured checks ({"name": "orders-db"}).

What a failed check reports comes from a fixed vocabulary (connection refused, timeout, HTTP 503,
authentication failed, query failed (SQLSTATE 42P01), ...): never what the target said, which only the
worker's log has.`,
		Example: `  lifeboat probe run --check worker-health --wait
  lifeboat probe run --target orders-db --failure-threshold 5
  lifeboat probe run --target orders --check orders-primary --check orders-replica --wait
  lifeboat probe run --file examples/probe.json -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in workflows.HealthProbeInput
			if file != "" {
				if len(checks) > 0 {
					return usageErr("--file gives the whole input: do not combine it with --check")
				}
				var err error
				if in, err = readProbeFile(file, a.stdin); err != nil {
					return exitError{exitUsage, err}
				}
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			names, err := probeChecks(cfg.Probes, target, checks, file != "")
			if err != nil {
				return err
			}
			for _, n := range names {
				in.Checks = append(in.Checks, probe.Check{Name: n})
			}
			switch {
			case target != "":
				in.Target = target
			case in.Target == "" && len(checks) == 1:
				in.Target = checks[0]
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
			return a.startProbe(cmd, id, in, cfg.Probes.ByName(), wait)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "workflow input as JSON (- for stdin)")
	f.StringArrayVar(&checks, "check", nil, "name of a check configured on the worker (probes.checks; repeatable)")
	f.StringVar(&target, "target", "", "what is probed; without --check, run every check probes.targets lists under it")
	f.StringVar(&id, "id", "", "workflow ID (default probe-<target>-<time>)")
	f.DurationVar(&interval, "interval", 5*time.Second, "wait between attempts of a check")
	f.IntVar(&successes, "success-threshold", 1, "passes in a row that make a check healthy")
	f.IntVar(&failures, "failure-threshold", 3, "failures in a row that make a check unhealthy")
	f.BoolVarP(&wait, "wait", "w", false, "wait for the verdict, showing progress; exit 3 when unhealthy")
	// The flags that once described checks of the caller's choosing say what to do instead.
	for _, old := range []string{"http", "tcp", "postgres"} {
		f.StringArray(old, nil, "")
		_ = f.MarkHidden(old)
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for _, old := range []string{"http", "tcp", "postgres"} {
			if cmd.Flags().Changed(old) {
				return usageErr("--%s: probes run only checks configured on the worker (probes.checks in its configuration): name one with --check", old)
			}
		}
		return nil
	}
	return cmd
}

// probeChecks returns the names of the checks to run: those given with --check, or, without any
// and without --file, those configured under target. The names are checked against the
// configured checks when cfg has any; the worker checks them anyway.
func probeChecks(cfg config.Probes, target string, checks []string, fromFile bool) ([]string, error) {
	configured := cfg.ByName()
	if len(checks) == 0 && target != "" && !fromFile {
		listed, ok := cfg.Targets[target]
		if !ok {
			return nil, usageErr("--target %q is not in probes.targets of the configuration%s: name checks with --check", target, listedNames(slices.Collect(maps.Keys(cfg.Targets)), "targets"))
		}
		return listed, nil
	}
	for _, n := range checks {
		if _, ok := configured[n]; len(configured) > 0 && !ok {
			return nil, usageErr("--check %q is not configured (probes.checks)%s", n, listedNames(slices.Collect(maps.Keys(configured)), "checks"))
		}
	}
	return checks, nil
}

// listedNames is ": the configured <what> are a, b", or nothing when there are none.
func listedNames(names []string, what string) string {
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return fmt.Sprintf("; the configured %s are %s", what, strings.Join(names, ", "))
}

func (a *app) probeListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the checks and targets configured for probes",
		Long: `List the checks that probes may run and the targets that group them, as --config configures
them (probes: in the worker's configuration; docs/configuration.md): each check's name, kind and the
host it reaches, or the secret a PostgreSQL check connects with. Never a URL's path or password,
a header or a connection string. The section is validated as the worker validates it, and a problem
exits 2. Needs no connection to Temporal.`,
		Example: `  lifeboat probe list
  lifeboat probe list -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Probes.Validate(cfg.Secrets); err != nil {
				return usageErr("invalid probes configuration:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))
			}
			type listed struct {
				Name      string     `json:"name"`
				Kind      probe.Kind `json:"kind"`
				Host      string     `json:"host,omitempty"`
				DSNSecret string     `json:"dsn_secret,omitempty"`
				Optional  bool       `json:"optional,omitempty"`
			}
			out := struct {
				Checks       []listed            `json:"checks"`
				Targets      map[string][]string `json:"targets,omitempty"`
				AllowedHosts []string            `json:"allowed_hosts,omitempty"`
			}{Checks: []listed{}, Targets: cfg.Probes.Targets, AllowedHosts: cfg.Probes.AllowedHosts}
			for _, c := range cfg.Probes.Checks {
				out.Checks = append(out.Checks, listed{Name: c.Name, Kind: c.Kind, Host: checkHost(c), DSNSecret: c.DSNSecret, Optional: c.Optional})
			}
			return a.print(out, func(w io.Writer) {
				if len(out.Checks) == 0 {
					fmt.Fprintln(w, "No checks configured: probes run only checks in probes.checks of the worker's configuration.")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "CHECK\tKIND\tHOST\tOPTIONAL")
				for _, c := range cfg.Probes.Checks {
					opt := ""
					if c.Optional {
						opt = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Kind, checkReaches(c), opt)
				}
				_ = tw.Flush()
				targets := slices.Sorted(maps.Keys(out.Targets))
				if len(targets) > 0 {
					fmt.Fprintln(w, "\nTargets (lifeboat probe run --target NAME):")
					for _, t := range targets {
						fmt.Fprintf(w, "  %s: %s\n", t, strings.Join(out.Targets[t], ", "))
					}
				}
			})
		},
	}
}

// checkHost is the host (with its port, if the check gives one) that an http or tcp check
// reaches: never a URL's user, password, path or query.
func checkHost(c probe.Check) string {
	switch c.Kind {
	case probe.HTTP:
		if u, err := url.Parse(c.URL); err == nil {
			return u.Host
		}
	case probe.TCP:
		return c.Address
	}
	return ""
}

// checkReaches says what a check reaches, safe to show: its host, or for a postgres check the
// name of the secret that holds its connection string.
func checkReaches(c probe.Check) string {
	if c.Kind == probe.Postgres {
		return "secret " + c.DSNSecret
	}
	return checkHost(c)
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

// probeSummary is the static summary shown in the Web UI's workflow list. Checks given by name
// alone are described as configured knows them.
func probeSummary(in workflows.HealthProbeInput, configured map[string]probe.Check) string {
	kinds := map[probe.Kind]int{}
	var order []string
	for _, c := range in.Checks {
		c = described(c, configured)
		if c.Kind == "" {
			continue
		}
		if kinds[c.Kind] == 0 {
			order = append(order, string(c.Kind))
		}
		kinds[c.Kind]++
	}
	if len(order) == 0 {
		return fmt.Sprintf("Health probe of %s: %d checks", in.Target, len(in.Checks))
	}
	return fmt.Sprintf("Health probe of %s: %d checks (%s)", in.Target, len(in.Checks), strings.Join(order, ", "))
}

func probeDetails(in workflows.HealthProbeInput, configured map[string]probe.Check) string {
	var b strings.Builder
	b.WriteString("| check | kind | reaches |\n|---|---|---|\n")
	for _, c := range in.Checks {
		d := described(c, configured)
		kind, target := string(d.Kind), checkReaches(d)
		if d.Kind == "" {
			kind, target = "", "as configured on the worker"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.DisplayName(), kind, target)
	}
	return b.String()
}

// described is c, or for a check given by name alone, its definition in configured when it has one.
func described(c probe.Check, configured map[string]probe.Check) probe.Check {
	if d, ok := configured[c.Name]; ok && c.IsReference() {
		return d
	}
	return c
}

type startedOutput struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	URL        string `json:"url,omitempty"`
	Result     any    `json:"result,omitempty"`
}

func (a *app) startProbe(cmd *cobra.Command, id string, in workflows.HealthProbeInput, configured map[string]probe.Check, wait bool) error {
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
		StaticSummary:                            probeSummary(in, configured),
		StaticDetails:                            probeDetails(in, configured),
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

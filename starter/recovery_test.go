package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// runRecoveryCLI is run with the failover, failback and drill commands on the root command, added
// here when the root does not have them.
func runRecoveryCLI(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) int {
	a := &app{env: env, stdin: strings.NewReader(""), stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	have := map[string]bool{}
	for _, c := range root.Commands() {
		have[c.Name()] = true
	}
	for _, c := range []*cobra.Command{a.failoverCommand(), a.failbackCommand(), a.drillCommand()} {
		if !have[c.Name()] {
			c.GroupID = "run"
			root.AddCommand(c)
		}
	}
	root.SetArgs(args)
	root.SetIn(a.stdin)
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
	if a.flagError || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitFailure
}

// The address cannot be reached: a case that got past the checks would exit 4, not 2.
func TestRecoveryUsageErrorsExitTwo(t *testing.T) {
	env := config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"failover without plan", []string{"failover"}, "missing PLAN: name the plan to failover"},
		{"failback without plan", []string{"failback"}, "missing PLAN: name the plan to failback"},
		{"drill without plan", []string{"drill"}, "missing PLAN: name the plan to drill"},
		{"failover of a bad plan name", []string{"failover", "Orders_DB"}, `"Orders_DB" is not a plan name`},
		{"drill of a plan name starting with a dash", []string{"drill", "--", "-orders"}, `"-orders" is not a plan name`},
		{"failover of a name too long", []string{"failover", strings.Repeat("a", 64)}, "is not a plan name"},
		{"failover of two plans", []string{"failover", "orders", "billing"}, "one PLAN at a time"},
		{"failover without requester", []string{"failover", "orders", "--requester", " "}, "--requester: say who starts the failover"},
		{"failover with a reason too long", []string{"failover", "orders", "--reason", strings.Repeat("x", approval.MaxReasonLen+1)}, "--reason: 2001 bytes"},
		{"unknown flag", []string{"drill", "orders", "--quorum", "2"}, "unknown flag: --quorum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			code := runRecoveryCLI(context.Background(), tt.args, env, &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, errb.String(), exitUsage, tt.want)
			}
		})
	}
	// A valid plan name gets as far as dialling.
	var out, errb syncBuffer
	if code := runRecoveryCLI(context.Background(), []string{"failover", "orders-db-failover"}, env, &out, &errb); code != exitUnreachable {
		t.Fatalf("failover of a valid plan name: code %d, stderr %q; want %d", code, errb.String(), exitUnreachable)
	}
}

func TestRecoveryHelpNamesFlags(t *testing.T) {
	env := config.MapEnv(nil)
	for cmd, want := range map[string][]string{
		"failover": {"PLAN", "--reason", "--requester", "--no-wait", "recovery-PLAN", "one recovery per plan", "lifeboat approve", "exit code is 0", "3 when"},
		"failback": {"PLAN", "--reason", "--requester", "--no-wait", "recovery-PLAN", "exactly as\n'lifeboat failover'", "orders-db-failback"},
		"drill":    {"PLAN", "--reason", "--requester", "--no-wait", "drill-PLAN", "undone", "also when the plan succeeded"},
	} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb syncBuffer
			if code := runRecoveryCLI(context.Background(), []string{cmd, "--help"}, env, &out, &errb); code != exitOK {
				t.Fatalf("code %d: %s", code, errb.String())
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s --help does not mention %q:\n%s", cmd, w, out.String())
				}
			}
		})
	}
}

func TestRecoverySummaryFitsOnALine(t *testing.T) {
	in := workflows.RecoveryInput{Plan: "orders-db-failover", Requester: "alice", Reason: "primary lost"}
	if got, want := recoverySummary(failoverKind, in), "Failover: orders-db-failover (primary lost), started by alice"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	in.Reason = ""
	if got, want := recoverySummary(drillKind, in), "Drill: orders-db-failover, started by alice"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	in.Reason = strings.Repeat("é", 300)
	got := recoverySummary(failbackKind, in)
	if len(got) > maxSummaryLen || !strings.HasSuffix(got, "…), started by alice") || !strings.HasPrefix(got, "Failback: orders-db-failover (éé") {
		t.Errorf("long summary (%d bytes) = %q", len(got), got)
	}
	if d := recoveryDetails(drillKind, workflows.RecoveryInput{Plan: "p", Mode: workflows.ModeDrill, Requester: "alice", Reason: "exercise"}); !strings.Contains(d, "**Reason:** exercise") || !strings.Contains(d, "undone") {
		t.Errorf("details = %q", d)
	}
}

func TestRecoveryStepLines(t *testing.T) {
	id := "recovery-orders"
	gate := approval.PendingGate{Gate: "approve", Title: "approve", Requester: "alice", Approvers: []string{"bob", "carol"}, Quorum: 2}
	tests := []struct {
		name  string
		step  workflows.StepState
		gates []approval.PendingGate
		want  string
	}{
		{"pending", workflows.StepState{ID: "promote", Type: plan.TypeAction, Status: workflows.StepPending}, nil, ""},
		{"running", workflows.StepState{ID: "promote", Type: plan.TypeAction, Status: workflows.StepRunning}, nil, "step promote running"},
		{"at a gate", workflows.StepState{ID: "approve", Type: plan.TypeApproval, Status: workflows.StepRunning}, []approval.PendingGate{gate},
			"step approve waiting for approval (0 of 2) — approve with: lifeboat approve recovery-orders --gate approve"},
		{"half approved", workflows.StepState{ID: "approve", Type: plan.TypeApproval, Status: workflows.StepRunning},
			[]approval.PendingGate{func() approval.PendingGate { g := gate; g.ApprovedBy = []string{"bob"}; return g }()},
			"step approve waiting for approval (1 of 2, approved by bob) — approve with: lifeboat approve recovery-orders --gate approve"},
		{"at a decision", workflows.StepState{ID: "how", Type: plan.TypeDecision, Status: workflows.StepRunning},
			[]approval.PendingGate{{Gate: "how", Title: "Repair or restore?", Quorum: 1, Options: []string{"repair", "restore"}}},
			"step how waiting for a decision (0 of 1): Repair or restore? — decide with: lifeboat decide recovery-orders --gate how --choice repair|restore"},
		{"manual", workflows.StepState{ID: "page", Type: plan.TypeManual, Status: workflows.StepRunning},
			[]approval.PendingGate{{Gate: "page", Title: "Update the status page", Quorum: 1}},
			"step page waiting to be done (0 of 1): Update the status page — when done: lifeboat approve recovery-orders --gate page"},
		{"succeeded", workflows.StepState{ID: "promote", Type: plan.TypeAction, Status: plan.StatusSucceeded, Duration: units.Duration(106 * time.Millisecond), Summary: "promoted"},
			nil, "step promote succeeded in 106ms: promoted"},
		{"failed", workflows.StepState{ID: "promote", Type: plan.TypeAction, Status: plan.StatusFailed, Duration: units.Duration(2 * time.Second), Error: "timeout"},
			nil, "step promote FAILED after 2s: timeout"},
		{"skipped", workflows.StepState{ID: "fence", Type: plan.TypeAction, Status: plan.StatusSkipped, Summary: "condition x is false"}, nil, "step fence skipped: condition x is false"},
		{"not run", workflows.StepState{ID: "dns", Type: plan.TypeAction, Status: workflows.StepNotRun}, nil, "step dns not run"},
		{"compensated", workflows.StepState{ID: "dns", Type: plan.TypeAction, Status: workflows.StepCompensated, Compensation: "aws.route53_upsert: back"},
			nil, "step dns undone: aws.route53_upsert: back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stepLine(id, tt.step, tt.gates); got != tt.want {
				t.Errorf("stepLine =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}

	var b strings.Builder
	v := newPlanView(&b, id)
	r := workflows.RecoveryResult{Steps: []workflows.StepState{{ID: "check", Type: plan.TypeAction, Status: workflows.StepRunning}, {ID: "promote", Status: workflows.StepPending}}}
	v.update(r, nil)
	v.update(r, nil)
	r.Steps[0].Status, r.Steps[0].Duration = plan.StatusSucceeded, units.Duration(time.Second)
	v.update(r, nil)
	if got, want := b.String(), "  step check running\n  step check succeeded in 1s\n"; got != want {
		t.Errorf("plan view wrote %q, want %q (one line per change)", got, want)
	}
}

func TestRecoveryPrint(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	met, missed := true, false
	r := workflows.RecoveryResult{Plan: "orders", Mode: workflows.ModeRecovery, Requester: "alice", Reason: "primary lost", Status: plan.StatusSucceeded,
		Objectives: plan.Objectives{RTO: units.Duration(10 * time.Minute)}, StartedAt: start, RTO: units.Duration(90 * time.Second), RTOMet: &met,
		Steps: []workflows.StepState{
			{ID: "check", Type: plan.TypeAction, Status: plan.StatusSucceeded, Duration: units.Duration(3 * time.Millisecond), Summary: "connection\nrefused"},
			{ID: "fence", Type: plan.TypeAction, Status: workflows.StepCompensated, Duration: units.Duration(time.Second), Summary: "fenced", Compensation: "postgres.unfence: takes writes again"},
		}}
	var b strings.Builder
	printRecovery(&b, r, "recovery-orders", nil, start.Add(time.Hour))
	for _, want := range []string{"Recovery plan orders succeeded", "requested by alice: primary lost", "RTO       1m30s achieved, objective 10m: met",
		"STEP", "check  action  succeeded    3ms   connection refused", "Compensations:", "fence: postgres.unfence: takes writes again"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printRecovery does not show %q:\n%s", want, b.String())
		}
	}
	r.RTOMet, r.Mode = &missed, workflows.ModeDrill
	b.Reset()
	printRecovery(&b, r, "drill-orders", nil, start)
	if !strings.Contains(b.String(), "Drill of plan orders") || !strings.Contains(b.String(), "objective 10m: MISSED") {
		t.Errorf("missed RTO:\n%s", b.String())
	}
	r.Status, r.RTOMet, r.Error = "running", nil, ""
	r.Steps = []workflows.StepState{{ID: "approve", Type: plan.TypeApproval, Status: workflows.StepRunning, StartedAt: start}}
	b.Reset()
	printRecovery(&b, r, "drill-orders", []approval.PendingGate{
		{Gate: "approve", Title: "approve", Requester: "alice", Approvers: []string{"bob"}, Quorum: 1},
		{Gate: "how", Title: "Repair or restore?", Requester: "alice", Quorum: 2, ApprovedBy: []string{"carol"}, Options: []string{"repair", "restore"}},
	}, start.Add(2*time.Minute))
	for _, want := range []string{"RTO       2m so far, objective 10m", "2m so far", "Waiting for a decision:", "approve: 0 of 1 approvals by bob (not alice)\n",
		"lifeboat approve drill-orders --gate approve", `lifeboat reject drill-orders --gate approve --reason "…"`,
		"how: Repair or restore? — 1 of 2 approvals by anyone but alice; approved by carol", "lifeboat decide drill-orders --gate how --choice repair|restore"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("running plan does not show %q:\n%s", want, b.String())
		}
	}
	r.Status = "canceled"
	b.Reset()
	printRecovery(&b, r, "drill-orders", nil, start)
	if !strings.Contains(b.String(), "CANCELED") || !strings.Contains(b.String(), "not achieved: the plan canceled (objective 10m)") {
		t.Errorf("canceled plan:\n%s", b.String())
	}
}

const recoveryTaskQueue = "cli-recovery-test"

// recoveryTestPlan checks a closed port (a finding, not a failure), waits for bob's approval — alice
// starts it and cannot approve it herself — then waits a second.
const recoveryTestPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders-failover}
spec:
  scenario: The orders primary is lost
  objectives: {rto: 10m}
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  groups: [{id: dba, members: [alice, bob]}]
  steps:
    - id: check-primary
      action: check.tcp
      with: {address: "%s", timeout: 1s}
    - id: approve
      needs: [check-primary]
      approval: {approvers: [dba], timeout: 10m}
    - id: settle
      needs: [approve]
      wait: {duration: 1s}
`

// slowGatePlan opens its gate only after a pause.
const slowGatePlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: slow-gate}
spec:
  scenario: A gate that opens after a pause
  people:
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  steps:
    - {id: pause, wait: {duration: 3s}}
    - {id: go, needs: [pause], approval: {approvers: [bob], timeout: 10m}}
`

// slowCheckPlan's one step is a check (a local activity) that runs until the test lets it end.
const slowCheckPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: slow-check}
spec:
  scenario: A check that takes its time
  steps:
    - {id: look, action: check.http, with: {url: "%s", timeout: 2m}}
`

// unsafeDrillPlan promotes a server without saying what a drill does instead.
const unsafeDrillPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: unsafe-drill}
spec:
  scenario: The primary is lost
  steps:
    - id: promote
      action: postgres.promote
      with: {dsn_secret: orders-replica}
`

// recoveryEnv is a dev server and a worker running the real Recovery workflow and activities.
type recoveryEnv struct {
	t      *testing.T
	config string
	env    config.Env
	client client.Client
	// slow is the endpoint the slow-check plan's step requests: it answers only once released,
	// and tells hit when a request arrives.
	slowHit     chan struct{}
	slowRelease chan struct{}
}

func startRecoveryEnv(t *testing.T) *recoveryEnv {
	t.Helper()
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	dir := t.TempDir()
	e := &recoveryEnv{t: t, config: filepath.Join(dir, "lifeboat.yaml")}
	if err := os.WriteFile(e.config, []byte(cliConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	plans := filepath.Join(dir, "plans")
	if err := os.Mkdir(plans, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plans, "orders-failover.yaml"), fmt.Appendf(nil, recoveryTestPlan, closed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plans, "slow-gate.yaml"), []byte(slowGatePlan), 0o600); err != nil {
		t.Fatal(err)
	}
	e.slowHit, e.slowRelease = make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.slowHit <- struct{}{}:
		default:
		}
		select {
		case <-e.slowRelease:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	if err := os.WriteFile(filepath.Join(plans, "slow-check.yaml"), fmt.Appendf(nil, slowCheckPlan, slow.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plans, "unsafe-drill.yaml"), []byte(unsafeDrillPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":    srv.HostPort,
		"LIFEBOAT_TASK_QUEUE": recoveryTaskQueue,
		"TEST_KEY":            codec.GenerateKey(),
	})
	cfg, err := config.Load(e.config, e.env)
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := cfg.ClientOptions(e.env)
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.client = c
	w := worker.New(c, recoveryTaskQueue, worker.Options{})
	workflows.RegisterWorkflows(w)
	activities.Set{
		Plans:         &activities.Plans{Dir: plans},
		Identities:    &activities.Identities{},
		Actions:       &activities.Actions{},
		Notifications: &activities.Notifications{Logger: slog.New(slog.DiscardHandler)},
	}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return e
}

func (e *recoveryEnv) lifeboatTo(out, errb *syncBuffer, args ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return runRecoveryCLI(ctx, append([]string{"--config", e.config}, args...), e.env, out, errb)
}

// expect runs the CLI and checks the exit code and that stdout+stderr contain every want.
func (e *recoveryEnv) expect(code int, want []string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	var out, errb syncBuffer
	got := e.lifeboatTo(&out, &errb, args...)
	stdout, stderr = out.String(), errb.String()
	if got != code {
		e.t.Fatalf("lifeboat %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout+stderr, w) {
			e.t.Errorf("lifeboat %s does not say %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), w, stdout, stderr)
		}
	}
	return stdout, stderr
}

// background runs the CLI in a goroutine; wait returns its exit code.
func (e *recoveryEnv) background(args ...string) (out, errb *syncBuffer, wait func() int) {
	out, errb = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- e.lifeboatTo(out, errb, args...) }()
	return out, errb, func() int {
		e.t.Helper()
		select {
		case code := <-done:
			return code
		case <-time.After(45 * time.Second):
			e.t.Fatalf("lifeboat %s did not end\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errb.String())
			return -1
		}
	}
}

// waitingAt waits until the live view shows the plan waiting at its approval gate.
func (e *recoveryEnv) waitingAt(id string, out, errb *syncBuffer) {
	e.t.Helper()
	want := "step approve waiting for approval (0 of 1) — approve with: lifeboat approve " + id + " --gate approve"
	wait.For(e.t, 30*time.Second, id+" waits for approval", func() error {
		if !strings.Contains(errb.String(), want) {
			return fmt.Errorf("no %q\nstdout:\n%s\nstderr:\n%s", want, out.String(), errb.String())
		}
		return nil
	})
}

// While a step runs inside the workflow's task (a local activity), status still shows the run and
// its current details: the workflow answers at the task's next heartbeat, within the wait.
func TestStatusWhileAStepRunsInsideTheWorkflowTask(t *testing.T) {
	e := startRecoveryEnv(t)
	id := workflows.RecoveryWorkflowID(workflows.ModeDrill, "slow-check")
	out, errb, done := e.background("drill", "slow-check", "--requester", "alice")
	select {
	case <-e.slowHit:
	case <-time.After(time.Minute):
		t.Fatalf("the check never ran\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	stdout, stderr := e.expect(exitOK, []string{id + "  Recovery  Running", "Drill of plan slow-check running", "look", "running"}, "status", id)
	if strings.Contains(stderr, "warning") {
		t.Errorf("status warned while the check ran:\n%s\n%s", stderr, stdout)
	}
	close(e.slowRelease)
	if code := done(); code != exitOK {
		t.Fatalf("drill: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
}

func TestFailoverDrillAndStatusAgainstTemporal(t *testing.T) {
	e := startRecoveryEnv(t)
	const id = "recovery-orders-failover"

	t.Run("failover", func(t *testing.T) {
		e.t = t
		out, errb, done := e.background("failover", "orders-failover", "--requester", "alice", "--reason", "primary lost")
		e.waitingAt(id, out, errb)
		if !strings.Contains(out.String(), "Started Recovery workflow "+id) {
			t.Errorf("no start line:\n%s", out.String())
		}
		if !strings.Contains(errb.String(), "step check-primary succeeded in ") || !strings.Contains(errb.String(), "connection refused") {
			t.Errorf("the live view does not show the check's result:\n%s", errb.String())
		}

		// One recovery per plan: a second one is refused while the first runs.
		e.expect(exitFailure, []string{"a recovery of plan orders-failover is already running as workflow " + id, "lifeboat status " + id}, "failover", "orders-failover", "--requester", "carol")
		e.expect(exitFailure, []string{"already running as workflow " + id}, "failback", "orders-failover", "--requester", "carol")

		// status shows the steps and the open gate with the command that decides it.
		stdout, _ := e.expect(exitOK, []string{id + "  Recovery  Running", "Recovery plan orders-failover running", "requested by alice: primary lost",
			"so far, objective 10m", "STEP", "check-primary", "succeeded", "approve", "approval", "running", "settle", "pending",
			"Waiting for a decision:", "approve: 0 of 1 approvals by alice, bob (not alice)", "lifeboat approve " + id + " --gate approve"}, "status", id)
		if strings.Contains(stdout, "| step |") {
			t.Errorf("status shows the raw Markdown details as well as the table:\n%s", stdout)
		}
		stdout, _ = e.expect(exitOK, nil, "status", id, "-o", "json")
		var st struct {
			Type         string                   `json:"type"`
			State        workflows.RecoveryResult `json:"state"`
			PendingGates []pendingGateView        `json:"pending_gates"`
		}
		if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Type != workflows.RecoveryWorkflow || st.State.Plan != "orders-failover" || len(st.State.Steps) != 3 ||
			len(st.PendingGates) != 1 || st.PendingGates[0].Command != "lifeboat approve "+id+" --gate approve" {
			t.Errorf("status -o json: %v\n%s", err, stdout)
		}

		e.expect(exitUsage, []string{"refused the decision", "cannot approve its own request"}, "approve", id, "--as", "alice")
		e.expect(exitOK, []string{"Approved gate approve of " + id + ": 1 of 1 approvals; closed, approved"}, "approve", id, "--as", "bob")
		if code := done(); code != exitOK {
			t.Fatalf("failover: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
		for _, want := range []string{`Recovery plan orders-failover succeeded`, `RTO       \d[.\d]*s achieved, objective 10m: met`,
			`check-primary\s+action\s+succeeded\s+[\d.]+(µs|ms)\s+connection refused\n`, `approve\s+approval\s+succeeded\s+[.\d]+(ms|s)\s+approved by bob`,
			`settle\s+wait\s+succeeded\s+1(\.\d+)?s`} {
			if !regexp.MustCompile(want).MatchString(out.String()) {
				t.Errorf("the result does not show %s:\n%s", want, out.String())
			}
		}
		// One line per change, in order, the last ones included.
		var steps []string
		for _, line := range strings.Split(errb.String(), "\n") {
			if strings.HasPrefix(line, "  step ") {
				steps = append(steps, strings.Fields(line)[1]+" "+strings.Fields(line)[2])
			}
		}
		// A step that runs for less than the poll interval may go unseen as running.
		want := []string{"check-primary succeeded", "approve waiting", "approve succeeded", "settle succeeded"}
		seen := map[string]bool{}
		next := 0
		for _, s := range steps {
			if seen[s] {
				t.Errorf("live view repeats %q:\n%s", s, errb.String())
			}
			seen[s] = true
			if next < len(want) && s == want[next] {
				next++
			}
		}
		if next < len(want) {
			t.Errorf("live view does not show %q in order: %s\n%s", want[next:], strings.Join(steps, ", "), errb.String())
		}

		// Closed, the plan's record comes from its result.
		e.expect(exitOK, []string{id + "  Recovery  Completed", "Recovery plan orders-failover succeeded", "objective 10m: met", "settle", "approved by bob"}, "status", id)
	})

	t.Run("rejected failback exits 3", func(t *testing.T) {
		e.t = t
		// The ID is free again once the first run has ended.
		out, errb, done := e.background("failback", "orders-failover", "--requester", "alice")
		e.waitingAt(id, out, errb)
		e.expect(exitOK, []string{"Rejected gate approve", "closed, not approved"}, "reject", id, "--as", "bob", "--reason", "not yet")
		if code := done(); code != exitBadOutcome {
			t.Fatalf("rejected failback: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
		for _, want := range []string{"Recovery plan orders-failover FAILED", "rejected by bob: not yet", "RTO       not achieved: the plan failed (objective 10m)", "not run"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the result does not show %q:\n%s", want, out.String())
			}
		}
		if !strings.Contains(errb.String(), "step approve FAILED") {
			t.Errorf("the live view does not show the rejection:\n%s", errb.String())
		}
	})

	t.Run("cancelled failover exits 3", func(t *testing.T) {
		e.t = t
		out, errb, done := e.background("failover", "orders-failover", "--requester", "alice", "-o", "json")
		var started startedOutput
		wait.For(t, 30*time.Second, "the failover waits for approval", func() error {
			d, err := e.client.DescribeWorkflowExecution(context.Background(), id, "")
			if err != nil || d.GetWorkflowExecutionInfo().GetCloseTime() != nil {
				return fmt.Errorf("not running: %v", err)
			}
			started.RunID = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			if len(pendingGates(context.Background(), e.client, id, started.RunID)) == 0 {
				return errors.New("no gate open yet")
			}
			return nil
		})
		if err := e.client.CancelWorkflow(context.Background(), id, started.RunID); err != nil {
			t.Fatal(err)
		}
		if code := done(); code != exitBadOutcome {
			t.Fatalf("cancelled failover: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
		var res struct {
			Status string                   `json:"status"`
			Result workflows.RecoveryResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res.Status != "canceled" || res.Result.Status != "canceled" || len(res.Result.Steps) != 3 {
			t.Errorf("cancelled failover -o json: %v\n%s", err, out.String())
		}
		e.expect(exitBadOutcome, []string{"Recovery plan orders-failover CANCELED"}, "status", id)
	})

	t.Run("drill", func(t *testing.T) {
		e.t = t
		const drillID = "drill-orders-failover"
		out, errb, done := e.background("drill", "orders-failover", "--requester", "alice")
		e.waitingAt(drillID, out, errb)
		e.expect(exitFailure, []string{"a drill of plan orders-failover is already running as workflow " + drillID}, "drill", "orders-failover", "--requester", "alice")
		e.expect(exitOK, []string{"closed, approved"}, "approve", drillID, "--as", "bob")
		if code := done(); code != exitOK {
			t.Fatalf("drill: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "Drill of plan orders-failover succeeded") || !strings.Contains(out.String(), "objective 10m: met") {
			t.Errorf("drill result:\n%s", out.String())
		}
		d, err := e.client.DescribeWorkflowExecution(context.Background(), drillID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := searchattr.Keyword(d.GetWorkflowExecutionInfo().GetSearchAttributes(), workflows.KindKey.GetName()); got != "drill" {
			t.Errorf("LifeboatKind = %q, want drill", got)
		}
	})

	t.Run("sla counts the drill's RTO", func(t *testing.T) {
		e.t = t
		slaCountsTheDrill(t, e)
	})

	t.Run("a drill that could reach production is refused", func(t *testing.T) {
		e.t = t
		stdout, stderr := e.expect(exitBadOutcome, []string{"plan unsafe-drill cannot be drilled: a drill could reach its production targets", "spec.steps[0] (promote).drill: postgres.promote changes what it acts on"},
			"drill", "unsafe-drill", "--requester", "alice")
		if strings.Contains(stdout+stderr, "succeeded") {
			t.Fatalf("the unsafe drill ran:\n%s\n%s", stdout, stderr)
		}
	})

	t.Run("no-wait and an unknown plan", func(t *testing.T) {
		e.t = t
		stdout, _ := e.expect(exitOK, []string{"Started Recovery workflow recovery-nosuch-plan", "Follow it with: lifeboat status recovery-nosuch-plan"},
			"failover", "nosuch-plan", "--no-wait", "--reason", "test")
		if strings.Contains(stdout, "FAILED") {
			t.Errorf("--no-wait waited:\n%s", stdout)
		}
		var res workflows.RecoveryResult
		err := e.client.GetWorkflow(context.Background(), "recovery-nosuch-plan", "").Get(context.Background(), &res)
		if err == nil || !strings.Contains(err.Error(), "nosuch-plan") {
			t.Fatalf("a plan the worker does not have: %v", err)
		}
		e.expect(exitBadOutcome, []string{"failover recovery-nosuch-plan failed", "nosuch-plan"}, "failover", "nosuch-plan")
	})

	t.Run("approve waits for a gate that has not opened yet", func(t *testing.T) {
		e.t = t
		e.expect(exitOK, nil, "failover", "slow-gate", "--no-wait", "--requester", "alice")
		e.expect(exitUsage, []string{`gate "nope" is not open`}, "approve", "recovery-slow-gate", "--gate", "nope", "--as", "bob", "--timeout", "1s")
		e.expect(exitOK, []string{"the gate is not open yet; waiting up to 1m0s", "closed, approved"}, "approve", "recovery-slow-gate", "--gate", "go", "--as", "bob")
		e.expect(exitOK, []string{"Recovery plan slow-gate succeeded"}, "status", "recovery-slow-gate", "--wait")
	})

	t.Run("status --wait follows a drill to its end", func(t *testing.T) {
		e.t = t
		const drillID = "drill-orders-failover"
		e.expect(exitOK, []string{"Started Recovery workflow " + drillID}, "drill", "orders-failover", "--no-wait", "--requester", "alice")
		// lifeboat approve waits for the gate to open: the workflow refuses decisions before then.
		e.expect(exitOK, nil, "approve", drillID, "--gate", "approve", "--as", "bob")
		e.expect(exitOK, []string{drillID + "  Recovery  Completed", "Drill of plan orders-failover succeeded"}, "status", drillID, "--wait")
		e.expect(exitFailure, []string{"nosuch-workflow"}, "status", "nosuch-workflow", "--wait")
	})

	t.Run("status of a run that failed before it began says so, with the reason, and exits 3", func(t *testing.T) {
		e.t = t
		e.expect(exitOK, nil, "drill", "nosuch-plan", "--no-wait", "--requester", "alice")
		stdout, _ := e.expect(exitBadOutcome, []string{"drill-nosuch-plan  Recovery  Failed", "no plan named"}, "status", "drill-nosuch-plan", "--wait")
		if strings.Contains(stdout, "running") || strings.Contains(stdout, "so far") {
			t.Errorf("a failed run reads as running:\n%s", stdout)
		}
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

func TestRehearseHelpAndUsage(t *testing.T) {
	var out, errb syncBuffer
	if code := runRecoveryCLI(context.Background(), []string{"rehearse", "--help"}, config.MapEnv(nil), &out, &errb); code != exitOK {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	for _, w := range []string{"PLAN", "--as", "--reason", "--no-wait", "rehearsal-PLAN", "simulated", "never carried out", "[rehearsal]",
		"Whoever may start a drill", "lifeboat decide", "exit code is 0"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("rehearse --help does not mention %q:\n%s", w, out.String())
		}
	}
	env := config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rehearse"}, "missing PLAN: name the plan to rehearse"},
		{[]string{"rehearse", "Orders"}, `"Orders" is not a plan name`},
		{[]string{"rehearse", "orders", "--as", " "}, "--as: say who starts the rehearsal"},
		{[]string{"rehearse", "orders", "--requester", "alice"}, "unknown flag: --requester"},
	} {
		var out, errb syncBuffer
		if code := runRecoveryCLI(context.Background(), tt.args, env, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("lifeboat %s: code %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, errb.String(), exitUsage, tt.want)
		}
	}
	if got := recoveryDetails(rehearseKind, workflows.RecoveryInput{Plan: "p", Mode: workflows.ModeRehearsal, Requester: "erin"}); !strings.Contains(got, "`lifeboat rehearse`") ||
		!strings.Contains(got, "never carried out") {
		t.Errorf("details = %q", got)
	}
}

func TestRehearsalPrintShowsLatencies(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	gate := func(id string, typ plan.StepType, opened time.Duration, answers ...approval.Decision) workflows.StepState {
		return workflows.StepState{ID: id, Type: typ, Status: plan.StatusSucceeded, StartedAt: start.Add(opened), GateOpenedAt: start.Add(opened),
			Approval: &approval.Outcome{Approved: true, Decisions: answers}}
	}
	r := workflows.RecoveryResult{Plan: "orders", Mode: workflows.ModeRehearsal, Requester: "erin", Status: plan.StatusSucceeded, StartedAt: start,
		RTO: units.Duration(10 * time.Minute), Steps: []workflows.StepState{
			gate("approve", plan.TypeApproval, 0, approval.Decision{Approve: true, Identity: "bob", Time: start.Add(2 * time.Minute)},
				approval.Decision{Approve: true, Identity: "carol", Time: start.Add(5 * time.Minute)}),
			gate("how", plan.TypeDecision, 5*time.Minute, approval.Decision{Approve: true, Identity: "carol", Choice: "restore", Time: start.Add(6 * time.Minute)}),
		}}
	var b strings.Builder
	printRecovery(&b, r, "rehearsal-orders", nil, start)
	for _, want := range []string{`Rehearsal of plan orders succeeded`, `a rehearsal: actions are simulated, never carried out`,
		`Decision latencies`, `approve\s+bob\s+approve\s+2m\n`, `how\s+carol\s+choose restore\s+1m\n`,
		`PERSON\s+ANSWERS\s+MEDIAN\s+MAX`, `bob\s+1\s+2m\s+2m\n`, `carol\s+2\s+3m\s+5m\n`} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("printRecovery does not show %s:\n%s", want, b.String())
		}
	}
	r.Mode = workflows.ModeDrill
	b.Reset()
	printRecovery(&b, r, "drill-orders", nil, start)
	if strings.Contains(b.String(), "Decision latencies") {
		t.Errorf("a drill shows rehearsal latencies:\n%s", b.String())
	}
}

// TestRehearseAgainstTemporal rehearses an example plan on a real Temporal: its actions (an exec,
// SQL checks, an HTTP check) would fail on this machine if they ran; its decision and manual step
// are answered with lifeboat decide and lifeboat approve.
func TestRehearseAgainstTemporal(t *testing.T) {
	e := startRecoveryEnv(t)
	src, err := os.ReadFile(filepath.Join("..", "examples", "plans", "corrupted-service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.config), "plans", "corrupted-service.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	const id = "rehearsal-corrupted-service"
	out, errb, done := e.background("rehearse", "corrupted-service", "--as", "dave", "--reason", "quarterly tabletop")
	waitFor := func(want string) {
		t.Helper()
		wait.For(t, 30*time.Second, want, func() error {
			if !strings.Contains(errb.String(), want) {
				return fmt.Errorf("no %q\nstdout:\n%s\nstderr:\n%s", want, out.String(), errb.String())
			}
			return nil
		})
	}
	waitFor("step repair-or-restore waiting for a decision (0 of 1)")
	if !strings.Contains(out.String(), "Started Recovery workflow "+id+" (rehearsal of plan corrupted-service, requested by dave)") {
		t.Errorf("no start line:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "step maintenance-on succeeded in 0s: rehearsed: would run exec with command=orders-maintenance-on") {
		t.Errorf("the live view does not show the simulated action:\n%s", errb.String())
	}
	// One rehearsal per plan at a time.
	e.expect(exitFailure, []string{"a rehearsal of plan corrupted-service is already running as workflow " + id}, "rehearse", "corrupted-service", "--as", "erin")
	e.expect(exitOK, []string{id + "  Recovery  Running", "Rehearsal of plan corrupted-service running", "a rehearsal: actions are simulated",
		"rehearsed: would run postgres.sql_check with dsn_secret=secret orders-db", "would reach dsn_secret secret orders-db",
		"lifeboat decide " + id + " --gate repair-or-restore --choice repair|restore-latest|restore-older"}, "status", id)

	e.expect(exitOK, nil, "decide", id, "--gate", "repair-or-restore", "--choice", "repair", "--as", "carol")
	waitFor("step repair-data waiting to be done (0 of 1)")
	e.expect(exitOK, nil, "approve", id, "--gate", "repair-data", "--as", "bob")
	if code := done(); code != exitOK {
		t.Fatalf("rehearse: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{`Rehearsal of plan corrupted-service succeeded`, `repair-reindex\s+action\s+succeeded\s+rehearsed: would run exec with command=orders-rebuild-search-index`,
		`restore-latest\s+strategies\s+skipped`, `Decision latencies`, `repair-or-restore\s+carol\s+choose repair\s+\S+\n`, `repair-data\s+bob\s+approve\s+\S+\n`,
		`carol\s+1\s+\S+\s+\S+\n`, `bob\s+1\s+\S+\s+\S+\n`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the result does not show %s:\n%s", want, out.String())
		}
	}

	e.expect(exitOK, []string{id + "  Recovery  Completed", "Rehearsal of plan corrupted-service succeeded", "Decision latencies"}, "status", id)
	stdout, _ := e.expect(exitOK, nil, "status", id, "-o", "json")
	var st struct {
		State             workflows.RecoveryResult     `json:"state"`
		DecisionLatencies *workflows.DecisionLatencies `json:"decision_latencies"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.State.Mode != workflows.ModeRehearsal || st.DecisionLatencies == nil ||
		len(st.DecisionLatencies.Answers) != 2 || len(st.DecisionLatencies.People) != 2 {
		t.Fatalf("status -o json: %v\n%s", err, stdout)
	}
	for _, a := range st.DecisionLatencies.Answers {
		if a.Latency <= 0 || a.At.IsZero() {
			t.Errorf("answer %+v: no latency", a)
		}
	}
	// Nothing ran: every action step has what it would have done, and no outputs.
	for _, s := range st.State.Steps {
		if s.Type == plan.TypeAction && s.Status == plan.StatusSucceeded && (s.Simulated == nil || len(s.Outputs) > 0) {
			t.Errorf("step %s: %+v", s.ID, s)
		}
	}

	report, _ := e.expect(exitOK, []string{"# Rehearsal report: corrupted-service (succeeded)", "> **Rehearsal.** This was a rehearsal: no action was carried out",
		"## Decision latencies", "| repair-or-restore | decision | carol | choose repair |", "| repair-data | manual | bob | approve |",
		`\[rehearsal\] corrupted-service: step repair-or-restore needs a decision`}, "report", id)
	if strings.Contains(report, "| approval.requested | warning | corrupted-service") {
		t.Errorf("a notification of the rehearsal is not marked:\n%s", report)
	}
}

package workflows

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// metadataQuery is the query the Web UI and `temporal workflow metadata` send for a workflow's
// handler descriptions and current details.
const metadataQuery = "__temporal_workflow_metadata"

type querier interface {
	QueryWorkflow(queryType string, args ...any) (converter.EncodedValue, error)
}

// workflowMetadata asks a running (or ended) test workflow what the Web UI asks it.
func workflowMetadata(t *testing.T, e querier) *sdkpb.WorkflowMetadata {
	t.Helper()
	v, err := e.QueryWorkflow(metadataQuery)
	if err != nil {
		t.Fatalf("query %s: %v", metadataQuery, err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatalf("query %s: %v", metadataQuery, err)
	}
	return &md
}

// described checks that md lists each wanted handler ("query:status", "signal:decide",
// "update:decide") and that every handler it lists has a description.
func described(t *testing.T, md *sdkpb.WorkflowMetadata, want ...string) {
	t.Helper()
	got := map[string]string{}
	def := md.GetDefinition()
	for _, d := range def.GetQueryDefinitions() {
		got["query:"+d.GetName()] = d.GetDescription()
	}
	for _, d := range def.GetSignalDefinitions() {
		got["signal:"+d.GetName()] = d.GetDescription()
	}
	for _, d := range def.GetUpdateDefinitions() {
		got["update:"+d.GetName()] = d.GetDescription()
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("%s: %s is not listed (listed: %v)", def.GetType(), w, got)
		}
	}
	for name, desc := range got {
		if strings.TrimSpace(desc) == "" {
			t.Errorf("%s: %s has no description", def.GetType(), name)
		}
	}
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

// While an in-place restore waits for approval, its current details name who may answer (the
// asset's owners but the requester), the quorum, the deadline and the commands that answer.
func TestRestoreGateDetailsSayWhoMayAnswerAndHow(t *testing.T) {
	e := newAssetEnv(t, nil)
	const id = "restore-www-20261207T120000Z"
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	e.onAsset(testAsset()) // owners alice and bob
	e.onResolve()
	e.OnActivity("RestoreAsset", mock.Anything, mock.Anything).Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/www"}, nil)
	var waiting *sdkpb.WorkflowMetadata
	var ok error
	e.RegisterDelayedCallback(func() { waiting = workflowMetadata(t, e) }, 10*time.Minute)
	e.RegisterDelayedCallback(func() {
		decide(e, "bob", approval.Decision{Approve: true, Identity: "bob", Channel: approval.ChannelCLI}, &ok)
	}, 30*time.Minute)
	e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", InPlace: true, Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil || ok != nil {
		t.Fatalf("workflow: %v; approval: %v", err, ok)
	}
	if waiting == nil {
		t.Fatal("the metadata query was not answered while the gate waited")
	}
	described(t, waiting, "query:"+QueryStatus, "query:"+approval.QueryApprovals, "update:"+approval.UpdateDecide,
		"signal:"+approval.SignalDecide, "signal:"+contract.SignalProgress)
	details := waiting.GetCurrentDetails()
	mustContain(t, "current details while waiting", details,
		"Waiting for a decision at gate `restore-in-place`",
		"May answer: bob\n",
		"Needs: 1 approval(s) (so far: none yet)",
		"Deadline: 2", "then it gives up, not approved",
		"`lifeboat approve "+id+" --gate restore-in-place`",
		"`lifeboat reject "+id+" --gate restore-in-place --reason \"…\"`",
		"`temporal workflow update execute --workflow-id "+id+" --name decide --input '{\"gate\":\"restore-in-place\",\"approve\":true,\"identity\":\"<you>\"}'")
	if strings.Contains(details, "May answer: alice") {
		t.Errorf("the requester is named as an approver:\n%s", details)
	}
	after := workflowMetadata(t, e).GetCurrentDetails()
	if strings.Contains(after, "Waiting for a decision") || !strings.Contains(after, "bob approved") {
		t.Errorf("current details once approved still say it waits, or not who approved:\n%s", after)
	}
}

// While a recovery's approval step waits, its current details name the plan's resolved approvers
// (a role, through a group, to people), the quorum and the approvals so far, and its phase says
// it waits for people.
func TestRecoveryGateDetailsNameTheResolvedApprovers(t *testing.T) {
	e, log := newRecoveryEnv(t, failoverPlan)
	const id = "recovery-db-failover-webui"
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	log.results["check-primary"] = contract.ActionResult{Outputs: map[string]any{"role": "unreachable"}}
	log.results["check-replica"] = contract.ActionResult{Outputs: map[string]any{"role": "replica", "lag_seconds": 0.0}}
	var first, second error
	var opened, half *sdkpb.WorkflowMetadata
	e.RegisterDelayedCallback(func() { opened = workflowMetadata(t, e) }, time.Minute)
	approveAt(e, 2*time.Minute, "approve", "bob", &first)
	e.RegisterDelayedCallback(func() { half = workflowMetadata(t, e) }, 150*time.Second)
	approveAt(e, 3*time.Minute, "approve", "carol", &second)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice", Reason: "primary unreachable"})
	if err := e.GetWorkflowError(); err != nil || first != nil || second != nil {
		t.Fatalf("workflow: %v; approvals: %v, %v", err, first, second)
	}
	if opened == nil || half == nil {
		t.Fatal("the metadata query was not answered while the gate waited")
	}
	described(t, opened, "query:"+QueryStatus, "query:"+approval.QueryApprovals, "update:"+approval.UpdateDecide,
		"signal:"+approval.SignalDecide, "update:"+UpdateAcknowledge, "signal:"+SignalAcknowledge, "signal:"+SignalAlert)
	mustContain(t, "current details at the gate", opened.GetCurrentDetails(),
		"Waiting for a decision at gate `approve`", "May answer: bob, carol\n", "Needs: 2 approval(s) (so far: none yet)",
		"`lifeboat approve "+id+" --gate approve`", "--workflow-id "+id+" --name decide")
	mustContain(t, "current details after one approval", half.GetCurrentDetails(), "Needs: 2 approval(s) (so far: bob)")
	if after := workflowMetadata(t, e).GetCurrentDetails(); strings.Contains(after, "Waiting for a decision") {
		t.Errorf("current details still show the closed gate:\n%s", after)
	}
}

// The other workflows describe the handlers they register too.
func TestWatchdogAndAlertDescribeTheirHandlers(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	e.OnActivity("LatestSnapshot", mock.Anything, mock.Anything).Return(contract.LatestSnapshotResult{}, nil)
	var md *sdkpb.WorkflowMetadata
	e.RegisterDelayedCallback(func() { md = workflowMetadata(t, e); e.CancelWorkflow() }, time.Minute)
	e.ExecuteWorkflow(RPOWatchdogWorkflow, RPOWatchdogInput{Asset: "www"})
	if md == nil {
		t.Fatal("the watchdog did not answer the metadata query")
	}
	described(t, md, "query:"+QueryStatus, "signal:"+SignalBackupDone, "signal:"+SignalVerified)

	env, _ := newAlertEnv(t)
	var amd *sdkpb.WorkflowMetadata
	sendAt(env, time.Minute, event(AlertFiring, 0, -1))
	env.RegisterDelayedCallback(func() { amd = workflowMetadata(t, env) }, 2*time.Minute)
	sendAt(env, 3*time.Minute, event(AlertResolved, 0, 3*time.Minute))
	env.ExecuteWorkflow(AlertWorkflow, testAlertInput())
	if amd == nil {
		t.Fatal("the alert workflow did not answer the metadata query")
	}
	described(t, amd, "query:"+QueryStatus, "signal:"+SignalAlert)
}

// Every handler registration in the workflows gives a description: the ones without options take
// none, and the Web UI would show a bare name.
func TestEveryHandlerRegistrationTakesADescription(t *testing.T) {
	bare := regexp.MustCompile(`workflow\.(SetQueryHandler|SetUpdateHandler|GetSignalChannel)\(`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := filepath.Glob("*/*.go")
	for _, f := range append(files, sub...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if bare.MatchString(line) {
				t.Errorf("%s:%d registers a handler without a description: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

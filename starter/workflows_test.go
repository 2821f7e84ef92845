package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// The workflow commands are tested against a real dev server and a worker that runs stand-ins
// registered under the real workflow names: they answer the status query, report progress and
// fail with their result in the failure's details like the real ones, without needing
// repositories. The restore stand-in uses the real approval gates. Payloads are encrypted with the
// configuration's key, as in production.

const cliTaskQueue = "cli-test"

const cliConfig = `
secrets: {repo-pass: x}
encryption:
  keys:
    - id: t1
      secret: ${TEST_KEY}
assets:
  - name: www
    owners: [bob, carol]
    source: {paths: {include: [/srv/www]}}
    repository: {location: /srv/backups, password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {last: 24}
    rpo: 2h
    verify:
      schedule: {cron: "0 3 * * *"}
      checks: [{name: index, file: index.html}]
  - name: db
    source: {paths: {include: [/srv/db]}}
    repository: {location: /srv/backups, password_secret: repo-pass}
    schedule: {cron: "*/15 * * * *"}
    retention: {last: 24}
    rpo: 1h
`

// cliEnv is a dev server, a worker of stand-ins, and the CLI's configuration and environment.
type cliEnv struct {
	t      *testing.T
	config string
	env    config.Env
	client client.Client
}

func startCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	e := &cliEnv{t: t, config: filepath.Join(t.TempDir(), "lifeboat.yaml")}
	if err := os.WriteFile(e.config, []byte(cliConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":    srv.HostPort,
		"LIFEBOAT_TASK_QUEUE": cliTaskQueue,
		"TEST_KEY":            codec.GenerateKey(),
	})
	cfg, err := config.Load(e.config, e.env)
	if err != nil {
		t.Fatal(err)
	}
	opts, encrypted, err := cfg.ClientOptions(e.env)
	if err != nil || !encrypted {
		t.Fatalf("client options: encrypted %v, %v", encrypted, err)
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.client = c
	w := worker.New(c, cliTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(fakeBackup, workflow.RegisterOptions{Name: workflows.BackupWorkflow})
	w.RegisterWorkflowWithOptions(fakeVerify, workflow.RegisterOptions{Name: workflows.VerifyWorkflow})
	w.RegisterWorkflowWithOptions(fakeRestore, workflow.RegisterOptions{Name: workflows.RestoreWorkflow})
	w.RegisterWorkflowWithOptions(fakeWatchdog, workflow.RegisterOptions{Name: workflows.RPOWatchdogWorkflow})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return e
}

// syncBuffer is a bytes.Buffer a running command and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// lifeboat runs the CLI with the test's configuration.
func (e *cliEnv) lifeboat(args ...string) (stdout, stderr string, code int) {
	var out, errb syncBuffer
	code = e.lifeboatTo(&out, &errb, args...)
	return out.String(), errb.String(), code
}

func (e *cliEnv) lifeboatTo(out, errb *syncBuffer, args ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return run(ctx, append([]string{"--config", e.config}, args...), e.env, strings.NewReader(""), out, errb)
}

// expect runs the CLI and checks the exit code and that stdout+stderr contain every want.
func (e *cliEnv) expect(code int, want []string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, got := e.lifeboat(args...)
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

var startedID = regexp.MustCompile(`Started \w+ workflow (\S+)`)

func startedWorkflow(t *testing.T, stdout string) string {
	t.Helper()
	m := startedID.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no workflow ID in:\n%s", stdout)
	}
	return m[1]
}

func TestWorkflowCommandsAgainstTemporal(t *testing.T) {
	e := startCLIEnv(t)

	t.Run("schedules", func(t *testing.T) {
		e.t = t
		e.expect(exitOK, []string{"backup-www", "verify-www", "backup-db", "create", "rpo-www", "start"}, "schedule", "sync")
		wait.For(t, 30*time.Second, "schedule list", func() error {
			stdout, stderr, code := e.lifeboat("schedule", "list", "-o", "json")
			var entries []struct{ ID, Kind, Asset string }
			if code != exitOK || json.Unmarshal([]byte(stdout), &entries) != nil {
				return fmt.Errorf("exit %d: %s%s", code, stdout, stderr)
			}
			if got := fmt.Sprint(entries); got != "[{backup-db backup db} {backup-www backup www} {verify-www verify www}]" {
				return fmt.Errorf("listed %s", got)
			}
			return nil
		})
		e.expect(exitOK, []string{"Paused schedule backup-www (maintenance)"}, "schedule", "pause", "www", "--note", "maintenance")
		if d, err := e.client.ScheduleClient().GetHandle(context.Background(), "backup-www").Describe(context.Background()); err != nil || !d.Schedule.State.Paused {
			t.Fatalf("backup-www after pause: %v", err)
		}
		wait.For(t, 30*time.Second, "schedule list shows the pause", func() error {
			stdout, _, _ := e.lifeboat("schedule", "list")
			if !regexp.MustCompile(`backup-www\s+backup\s+www\s+-\s+yes\s+-\s`).MatchString(stdout) {
				return fmt.Errorf("backup-www is not listed as paused:\n%s", stdout)
			}
			return nil
		})
		e.expect(exitOK, []string{"Resumed schedule verify-www (resumed with lifeboat by "}, "schedule", "resume", "www", "--verify")
		e.expect(exitOK, []string{"Resumed schedule backup-www"}, "schedule", "resume", "backup-www")
		if d, err := e.client.ScheduleClient().GetHandle(context.Background(), "backup-www").Describe(context.Background()); err != nil || d.Schedule.State.Paused {
			t.Fatalf("backup-www after resume: %v", err)
		}
		e.expect(exitFailure, []string{`no schedule "backup-nosuch"`}, "schedule", "pause", "nosuch")
		e.expect(exitOK, []string{"Triggered schedule verify-www"}, "schedule", "trigger", "www", "--verify")
		wait.For(t, 30*time.Second, "the triggered drill", func() error {
			resp, err := e.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH 'verify-www-'", workflows.VerifyWorkflow)})
			if err != nil {
				return err
			}
			if len(resp.GetExecutions()) == 0 {
				return fmt.Errorf("no Verify workflow started")
			}
			return nil
		})
	})

	t.Run("asset status", func(t *testing.T) {
		e.t = t
		// The watchdogs the sync started answer (a busy machine may take a moment to run their
		// first task): www is within its RPO, db is not.
		wait.For(t, time.Minute, "both watchdogs answer", func() error {
			stdout, stderr, _ := e.lifeboat("asset", "status", "-o", "json")
			var states []assetState
			if err := json.Unmarshal([]byte(stdout), &states); err != nil {
				return fmt.Errorf("%v: %s%s", err, stdout, stderr)
			}
			for _, s := range states {
				if s.Status == nil {
					return fmt.Errorf("%s: %s", s.Asset, s.Error)
				}
			}
			return nil
		})
		stdout, _ := e.expect(exitBadOutcome, []string{"www  within RPO (2h)", "db  OUTSIDE RPO (1h), alert level 2", "stale since", "snapshot 4f2a91c0",
			"1 of 1 checks passed", "no restore drill has passed yet", "outside the RPO: db"}, "asset", "status")
		if !strings.Contains(stdout, "2 assets: 1 within RPO, 1 outside, 0 unknown") {
			t.Errorf("no summary:\n%s", stdout)
		}
		e.expect(exitOK, []string{"within RPO"}, "asset", "status", "www")
		e.expect(exitFailure, []string{"no watchdog (run `lifeboat schedule sync`)", "protection unknown: nosuch"}, "asset", "status", "www", "nosuch")
		stdout, _ = e.expect(exitBadOutcome, nil, "asset", "status", "db", "-o", "json")
		var states []assetState
		if err := json.Unmarshal([]byte(stdout), &states); err != nil || len(states) != 1 || states[0].Status == nil || !states[0].Status.Stale {
			t.Fatalf("asset status -o json: %v\n%s", err, stdout)
		}
	})

	var okID, failedID string
	t.Run("backup", func(t *testing.T) {
		e.t = t
		stdout, stderr := e.expect(exitOK, []string{"Started Backup workflow backup-www-", "Web UI: http://localhost:8233/namespaces/default/workflows/backup-www-",
			"Backup of www succeeded", "4f2a91c0deadbeef", "30 files, 100.0 MiB", "retention  /srv/backups: 3 kept"}, "backup", "run", "www", "--tag", "t1")
		okID = startedWorkflow(t, stdout)
		// The total is counted, not estimated: no "~".
		if !strings.Contains(stderr, "backup [") || !strings.Contains(stderr, "/ 100.0 MiB") || strings.Contains(stderr, "~") {
			t.Errorf("no progress bar on stderr:\n%s", stderr)
		}
		stdout, _ = e.expect(exitBadOutcome, []string{"Backup of db FAILED", "error      back up: disk full",
			"failed: backup of db failed: back up: disk full"}, "backup", "run", "db")
		failedID = startedWorkflow(t, stdout)

		stdout, _ = e.expect(exitOK, nil, "backup", "run", "www", "--no-wait", "-o", "json")
		var started startedOutput
		if err := json.Unmarshal([]byte(stdout), &started); err != nil || !strings.HasPrefix(started.WorkflowID, "backup-www-") || started.RunID == "" {
			t.Fatalf("backup run --no-wait -o json: %v\n%s", err, stdout)
		}
		if err := e.client.GetWorkflow(context.Background(), started.WorkflowID, "").Get(context.Background(), nil); err != nil {
			t.Fatal(err)
		}

		wait.For(t, 30*time.Second, "backup list www", func() error {
			stdout, stderr, code := e.lifeboat("backup", "list", "www", "-o", "json")
			var rows []runRow
			if code != exitOK || json.Unmarshal([]byte(stdout), &rows) != nil {
				return fmt.Errorf("exit %d: %s%s", code, stdout, stderr)
			}
			if len(rows) != 2 || rows[0].WorkflowID != started.WorkflowID || rows[1].WorkflowID != okID || rows[1].Result != "succeeded" || rows[1].Status != "Completed" {
				return fmt.Errorf("listed %+v", rows)
			}
			return nil
		})
		wait.For(t, 30*time.Second, "backup list", func() error {
			stdout, _, code := e.lifeboat("backup", "list", "--limit", "2")
			if code != exitOK || !strings.Contains(stdout, started.WorkflowID) || strings.Contains(stdout, okID) {
				return fmt.Errorf("exit %d, want the newest 2 backups:\n%s", code, stdout)
			}
			stdout, _, _ = e.lifeboat("backup", "list", "db")
			if !strings.Contains(stdout, failedID) || !strings.Contains(stdout, "failed") {
				return fmt.Errorf("the failed backup is not listed as failed:\n%s", stdout)
			}
			return nil
		})

		e.expect(exitOK, []string{"Completed", "Backup of www succeeded", "4f2a91c0deadbeef"}, "backup", "show", okID)
		e.expect(exitOK, []string{"Failed", "Backup of db FAILED", "back up: disk full"}, "backup", "show", failedID)
		stdout, _ = e.expect(exitOK, nil, "backup", "show", failedID, "-o", "json")
		var shown struct {
			Status string                 `json:"status"`
			Result workflows.BackupResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(stdout), &shown); err != nil || shown.Status != "Failed" || shown.Result.Error != "back up: disk full" {
			t.Errorf("backup show -o json of a failed backup: %v\n%s", err, stdout)
		}
		e.expect(exitUsage, []string{"rpo-www is not a Backup workflow: it is RPOWatchdog"}, "backup", "show", "rpo-www")

		// Interrupted while waiting, the CLI says the backup goes on.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		var iout, ierr syncBuffer
		code := run(ctx, []string{"--config", e.config, "backup", "run", "www"}, e.env, strings.NewReader(""), &iout, &ierr)
		if code != exitFailure || !strings.Contains(ierr.String(), "stopped waiting for backup backup-www-") || !strings.Contains(ierr.String(), "which goes on") {
			t.Errorf("interrupted backup run: exit %d\nstdout:\n%s\nstderr:\n%s", code, iout.String(), ierr.String())
		}
		interrupted := startedWorkflow(t, iout.String())
		if err := e.client.GetWorkflow(context.Background(), interrupted, "").Get(context.Background(), nil); err != nil {
			t.Errorf("the interrupted backup: %v", err)
		}
		e.expect(exitFailure, []string{`no workflow with id "backup-nosuch"`}, "backup", "show", "backup-nosuch")
	})

	t.Run("verify", func(t *testing.T) {
		e.t = t
		e.expect(exitOK, []string{"Restore drill of www PASSED", "restore time  2s", "checks        1 of 1 passed", "passed  index = present",
			"tree digest   sha256:abc123"}, "verify", "www")
		e.expect(exitBadOutcome, []string{"Restore drill of db FAILED", "FAILED  rows = 0 (want at least 1)", "checks        0 of 1 passed",
			"failed: restore drill of db failed: checks: 1 of 1 checks failed"}, "verify", "db", "--snapshot", "sample")
	})

	t.Run("restore and approvals", func(t *testing.T) {
		e.t = t
		stdout, _ := e.expect(exitOK, nil, "restore", "www", "--in-place", "--requester", "alice", "--no-wait", "-o", "json")
		var out runOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Approval == nil {
			t.Fatalf("restore --in-place --no-wait -o json: %v\n%s", err, stdout)
		}
		id := out.WorkflowID
		if out.Approval.Approve != "lifeboat approve "+id || !strings.Contains(out.Approval.Temporal, "--workflow-id "+id+" --name decide") {
			t.Errorf("approval hint = %+v", out.Approval)
		}
		e.expect(exitUsage, []string{"refused the decision", "approval refused"}, "approve", id, "--as", "alice")
		e.expect(exitUsage, []string{"refused the decision"}, "approve", id, "--as", "mallory")
		e.expect(exitOK, []string{"Approved gate restore-in-place of " + id + ": 1 of 1 approvals; closed, approved"}, "approve", id, "--as", "bob", "--reason", "go")
		var result workflows.RestoreResult
		if err := e.client.GetWorkflow(context.Background(), id, "").Get(context.Background(), &result); err != nil || result.Approval == nil || !result.Approval.Approved {
			t.Fatalf("approved restore: %+v, %v", result, err)
		}
		if d := result.Approval.Decisions; len(d) != 1 || d[0].Identity != "bob" || d[0].Channel != approval.ChannelCLI || d[0].Reason != "go" {
			t.Errorf("decisions = %+v", d)
		}
		e.expect(exitFailure, []string{"is completed: it takes no decision any more"}, "approve", id, "--as", "carol")

		// A restore waiting for approval shows it, and ends with exit 3 when rejected.
		var wout, werr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- e.lifeboatTo(&wout, &werr, "restore", "www", "--in-place", "--requester", "alice")
		}()
		wait.For(t, 30*time.Second, "the restore waits for approval", func() error {
			if !strings.Contains(werr.String(), "awaiting approval (0 of 1)") {
				return fmt.Errorf("stdout:\n%s\nstderr:\n%s", wout.String(), werr.String())
			}
			return nil
		})
		if !strings.Contains(wout.String(), "lifeboat approve restore-www-") || !strings.Contains(wout.String(), `"identity":"<you>"`) {
			t.Errorf("no approval hint:\n%s", wout.String())
		}
		waiting := startedWorkflow(t, wout.String())
		e.expect(exitOK, []string{"Rejected gate restore-in-place", "closed, not approved"}, "reject", waiting, "--as", "bob", "--reason", "wrong snapshot")
		select {
		case code := <-done:
			if code != exitBadOutcome || !strings.Contains(wout.String(), "In-place restore of www NOT DONE") || !strings.Contains(wout.String(), "rejected by bob: wrong snapshot") {
				t.Errorf("rejected restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, wout.String(), werr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the rejected restore did not end")
		}

		stdout, stderr := e.expect(exitOK, []string{"Restore of www succeeded", "30 files, 100.0 MiB into /srv/restore"}, "restore", "www", "--target", "/srv/restore")
		if !strings.Contains(stderr, "restore [") {
			t.Errorf("no progress bar on stderr:\n%s", stderr)
		}
		if strings.Contains(stdout, "lifeboat approve") {
			t.Errorf("a restore to a directory asks for approval:\n%s", stdout)
		}

		e.expect(exitFailure, []string{`no workflow with id "restore-nosuch"`}, "approve", "restore-nosuch")
		// A workflow without gates refuses decisions.
		e.expect(exitUsage, []string{"refused the decision"}, "approve", "rpo-www", "--timeout", "20s")
	})
}

// fakeBackup reports progress for three seconds, then succeeds, or for asset db fails with what it
// did in the failure's details.
func fakeBackup(ctx workflow.Context, in workflows.BackupInput) (workflows.BackupResult, error) {
	st := &workflows.BackupResult{Asset: in.Asset, Trigger: in.Trigger, Phase: workflows.PhaseBackingUp, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.BackupResult, error) { return *st, nil }); err != nil {
		return *st, err
	}
	for i := range 3 {
		st.Progress = &contract.OpProgress{Step: "backup", BytesDone: int64(i+1) * 30 << 20, BytesTotal: 100 << 20, Files: int64(i+1) * 10, Elapsed: time.Duration(i+1) * time.Second}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return *st, err
		}
	}
	st.Progress = nil
	st.FinishedAt = workflow.Now(ctx)
	if in.Asset == "db" {
		st.Phase, st.Error = workflows.PhaseFailed, "back up: disk full"
		_ = workflow.UpsertTypedSearchAttributes(ctx, workflows.ResultKey.ValueSet("failed"))
		return *st, temporal.NewNonRetryableApplicationError("backup of db failed: "+st.Error, "BackupFailed", nil, *st)
	}
	st.Snapshot = &contract.SnapshotInfo{ID: "4f2a91c0deadbeef", Time: st.StartedAt, Location: "/srv/backups", Files: 30, Bytes: 100 << 20,
		BytesAdded: 10 << 20, StoredAdded: 4 << 20, Duration: 3 * time.Second}
	st.Retention = []contract.RetentionReport{{Location: "/srv/backups", Kept: 3, Removed: []string{"old"}, BytesFreed: 1 << 20}}
	st.Phase = workflows.PhaseDone
	_ = workflow.UpsertTypedSearchAttributes(ctx, workflows.ResultKey.ValueSet("succeeded"))
	return *st, nil
}

// fakeVerify restores for two seconds and passes its check, or for asset db fails it.
func fakeVerify(ctx workflow.Context, in workflows.VerifyInput) (workflows.Evidence, error) {
	info := workflow.GetInfo(ctx)
	ev := workflows.Evidence{Asset: in.Asset, Trigger: in.Trigger, Workflow: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, StartedAt: workflow.Now(ctx),
		Snapshot: contract.SnapshotInfo{ID: "4f2a91c0deadbeef", Time: workflow.Now(ctx), Bytes: 100 << 20}}
	st := &workflows.VerifyStatus{Phase: workflows.PhaseRestoring}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.VerifyStatus, error) { st.Evidence = ev; return *st, nil }); err != nil {
		return ev, err
	}
	st.Progress = &contract.OpProgress{Step: "restore", BytesDone: 50 << 20, BytesTotal: 100 << 20, Elapsed: time.Second}
	if err := workflow.Sleep(ctx, 2*time.Second); err != nil {
		return ev, err
	}
	st.Progress, st.Phase = nil, workflows.PhaseChecking
	ev.Restore = &contract.RestoreAssetResult{Snapshot: ev.Snapshot, TargetDir: "/scratch/" + in.Asset, Files: 30, Bytes: 100 << 20, Duration: 2 * time.Second}
	ev.RestoreTime = units.Duration(2 * time.Second)
	ev.FinishedAt = workflow.Now(ctx)
	if in.Asset == "db" {
		ev.Checks = &contract.RunChecksResult{Checks: []contract.CheckResult{{Name: "rows", Kind: "row_count", Value: "0", Detail: "want at least 1"}}}
		ev.Error = "checks: 1 of 1 checks failed: rows: want at least 1"
		return ev, temporal.NewNonRetryableApplicationError("restore drill of db failed: "+ev.Error, "VerificationFailed", nil, ev)
	}
	ev.Checks = &contract.RunChecksResult{Passed: true, TreeSHA256: "abc123", Files: 30, Bytes: 100 << 20,
		Checks: []contract.CheckResult{{Name: "index", Kind: "file", Passed: true, Value: "present"}}}
	ev.Passed = true
	return ev, nil
}

// fakeRestore waits at the real approval gate when in place, then restores for a second.
func fakeRestore(ctx workflow.Context, in workflows.RestoreInput) (workflows.RestoreResult, error) {
	st := &workflows.RestoreResult{Asset: in.Asset, Phase: workflows.PhaseStarting, Requester: in.Requester, InPlace: in.InPlace, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.RestoreResult, error) { return *st, nil }); err != nil {
		return *st, err
	}
	gates, err := approval.New(ctx)
	if err != nil {
		return *st, err
	}
	st.Snapshot = &contract.SnapshotInfo{ID: "4f2a91c0deadbeef", Time: workflow.Now(ctx), Bytes: 100 << 20}
	if in.InPlace {
		st.Phase = workflows.PhaseApproval
		outcome, err := gates.Await(ctx, approval.Request{Gate: workflows.GateRestoreInPlace, Title: "restore " + in.Asset + " in place",
			Requester: in.Requester, Approvers: []string{"bob", "carol"}, Quorum: in.Quorum, Timeout: in.ApprovalTimeout.D()})
		st.Approval = &outcome
		if err != nil {
			return *st, err
		}
		if !outcome.Approved {
			st.Phase, st.FinishedAt = workflows.PhaseDone, workflow.Now(ctx)
			st.Error = fmt.Sprintf("rejected by %s: %s", outcome.RejectedBy.Identity, outcome.RejectedBy.Reason)
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return *st, err
			}
			return *st, temporal.NewNonRetryableApplicationError("restore of "+in.Asset+" in place not approved: "+st.Error, "RestoreNotApproved", nil, *st)
		}
	}
	st.Phase = workflows.PhaseRestoring
	st.Progress = &contract.OpProgress{Step: "restore", BytesDone: 20 << 20, BytesTotal: 100 << 20, Elapsed: time.Second}
	if err := workflow.Sleep(ctx, 1500*time.Millisecond); err != nil {
		return *st, err
	}
	target := in.TargetDir
	if in.InPlace {
		target = "/srv/" + in.Asset
	}
	st.Progress = nil
	st.Restored = &contract.RestoreAssetResult{Snapshot: *st.Snapshot, TargetDir: target, Database: in.Database, Files: 30, Bytes: 100 << 20, Duration: time.Second}
	st.Phase, st.FinishedAt = workflows.PhaseDone, workflow.Now(ctx)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *st, err
	}
	return *st, nil
}

// fakeWatchdog answers the status query: www is within its RPO with a verified restore point, db
// is outside it with no drill.
func fakeWatchdog(ctx workflow.Context, in workflows.RPOWatchdogInput) error {
	now := workflow.Now(ctx)
	st := workflows.RPOStatus{Asset: in.Asset, RPO: units.Duration(time.Hour)}
	switch in.Asset {
	case "www":
		st.RPO = units.Duration(2 * time.Hour)
		st.LastBackup, st.LastSnapshot, st.Age = now.Add(-10*time.Minute), "4f2a91c0deadbeef", units.Duration(10*time.Minute)
		st.Deadline = st.LastBackup.Add(st.RPO.D())
		st.LastVerified = &workflows.Evidence{Asset: "www", Passed: true, FinishedAt: now.Add(-time.Hour),
			Snapshot: contract.SnapshotInfo{ID: "4f2a91c0deadbeef", Time: now.Add(-2 * time.Hour)},
			Checks:   &contract.RunChecksResult{Passed: true, Checks: []contract.CheckResult{{Name: "index", Passed: true}}}}
	default:
		st.LastBackup, st.LastSnapshot, st.Age = now.Add(-3*time.Hour), "77aa0000", units.Duration(3*time.Hour)
		st.Deadline, st.Stale, st.Level = st.LastBackup.Add(time.Hour), true, 2
	}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.RPOStatus, error) { return st, nil }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// The address in runCLI's environment cannot be reached: a case that got past the checks would
// exit 4, not 2.
func TestWorkflowCommandUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	badOwner := filepath.Join(dir, "bad-owner.yaml")
	if err := os.WriteFile(badOwner, []byte("schedules: {owner: \"prod eu\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"backup run without asset", []string{"backup", "run"}, "missing ASSET: name the asset to back up"},
		{"backup run with a bad asset name", []string{"backup", "run", "WWW"}, `"WWW" is not an asset name`},
		{"backup run with two assets", []string{"backup", "run", "www", "db"}, "one ASSET at a time"},
		{"backup list with a bad asset name", []string{"backup", "list", "www' OR '1'='1"}, "is not an asset name"},
		{"backup list with no limit", []string{"backup", "list", "--limit", "0"}, "--limit 0"},
		{"backup show without id", []string{"backup", "show"}, "accepts 1 arg"},
		{"restore without asset", []string{"restore", "--target", "/srv/r"}, "missing ASSET: name the asset to restore"},
		{"restore without a target", []string{"restore", "www"}, "give exactly one of --target DIR, --database NAME or --in-place"},
		{"restore to a directory and a database", []string{"restore", "www", "--target", "/srv/r", "--database", "r"}, "--target and --database exclude each other"},
		{"restore to a directory and in place", []string{"restore", "www", "--target", "/srv/r", "--in-place"}, "--target and --in-place exclude each other"},
		{"restore to a relative directory", []string{"restore", "www", "--target", "restored"}, `--target "restored": must be an absolute path`},
		{"restore a path that leaves the snapshot", []string{"restore", "www", "--target", "/srv/r", "--path", "../../etc/x"}, `--path: snapshot path "../../etc/x" has a ".." element`},
		{"restore an absolute path", []string{"restore", "www", "--target", "/srv/r", "--path", "/srv/www/index.html"}, `give it relative to the snapshot root`},
		{"restore with a quorum but not in place", []string{"restore", "www", "--database", "r", "--quorum", "2"}, "apply to --in-place restores only"},
		{"restore with approvers the request names", []string{"restore", "www", "--in-place", "--approver", "bob"}, "unknown flag: --approver"},
		{"restore with a negative quorum", []string{"restore", "www", "--in-place", "--quorum", "-1"}, "--quorum -1"},
		{"restore without requester", []string{"restore", "www", "--in-place", "--requester", " "}, "--requester"},
		{"restore with no approval time", []string{"restore", "www", "--in-place", "--approval-timeout", "0s"}, "--approval-timeout 0s"},
		{"approve without id", []string{"approve"}, "accepts 1 arg"},
		{"approve as nobody", []string{"approve", "restore-www-1", "--as", ""}, "--as: say who decides"},
		{"reject without reason", []string{"reject", "restore-www-1"}, "reject needs --reason"},
		{"reject with a blank reason", []string{"reject", "restore-www-1", "--reason", "  "}, "reject needs --reason"},
		{"decide without a choice", []string{"decide", "recovery-1"}, "decide needs --choice"},
		{"verify without asset", []string{"verify"}, "missing ASSET: name the asset to verify"},
		{"verify without snapshot", []string{"verify", "www", "--snapshot", ""}, "--snapshot: give latest, sample or a snapshot ID"},
		{"asset status with a bad name", []string{"asset", "status", "www", "Orders"}, `"Orders" is not an asset name`},
		{"asset status without assets", []string{"asset", "status"}, "no assets to show"},
		{"schedule sync without config", []string{"schedule", "sync"}, "schedule sync needs --config"},
		{"schedule sync with a bad owner", []string{"--config", badOwner, "schedule", "sync", "--dry-run"}, `schedules.owner: "prod eu"`},
		{"schedule pause of an ID with --verify", []string{"schedule", "pause", "backup-www", "--verify"}, "is a schedule ID already"},
		{"schedule trigger with a bad name", []string{"schedule", "trigger", "Www"}, `"Www" is not an asset name`},
		{"schedule resume without id", []string{"schedule", "resume"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestWorkflowCommandsHelpNamesTheirFlags(t *testing.T) {
	tests := []struct {
		cmd  []string
		want []string
	}{
		{[]string{"probe"}, []string{"run", "list", "configured on the worker", "probes.checks"}},
		{[]string{"probe", "run"}, []string{"--check", "--target", "--file", "--id", "--interval", "--success-threshold", "--failure-threshold", "--wait", "probes.checks", "probes.targets", "fixed vocabulary"}},
		{[]string{"probe", "list"}, []string{"probes:", "-o json", "no connection to Temporal"}},
		{[]string{"backup", "run"}, []string{"ASSET", "--tag", "--skip-retention", "--no-wait", "exit code is 3"}},
		{[]string{"backup", "list"}, []string{"[ASSET]", "--limit", "newest first"}},
		{[]string{"backup", "show"}, []string{"WORKFLOW-ID", "failure's details"}},
		{[]string{"restore"}, []string{"--snapshot", "--path", "--target", "--database", "--in-place", "--requester", "--quorum", "--approval-timeout", "--no-wait", "lifeboat approve"}},
		{[]string{"approve"}, []string{"WORKFLOW-ID", "--gate", "--as", "--reason", "--timeout", "exits with code 2"}},
		{[]string{"reject"}, []string{"--reason REASON", "--gate", "--as"}},
		{[]string{"decide"}, []string{"--choice OPTION", "--gate", "--as"}},
		{[]string{"verify"}, []string{"--snapshot", "sample", "--no-wait"}},
		{[]string{"asset", "status"}, []string{"[ASSET...]", "last verified restore point", "exit code is 3"}},
		{[]string{"schedule", "sync"}, []string{"--dry-run", "(a paused schedule", "schedules.owner", "never touches another owner's"}},
		{[]string{"schedule", "list"}, []string{"owner", "paused", "next and last run"}},
		{[]string{"schedule", "pause"}, []string{"ID-OR-ASSET", "--verify", "--note"}},
		{[]string{"schedule", "resume"}, []string{"ID-OR-ASSET", "--verify", "--note"}},
		{[]string{"schedule", "trigger"}, []string{"ID-OR-ASSET", "--verify", "BUFFER_ONE"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cmd, " "), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", append(tt.cmd, "--help")...)
			if code != exitOK {
				t.Fatalf("code %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help does not mention %q:\n%s", w, stdout)
				}
			}
		})
	}
	stdout, _, _ := runCLI(t, "", "--help")
	for _, c := range []string{"backup", "restore", "verify", "schedule", "approve", "reject"} {
		if !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("lifeboat --help does not list %s:\n%s", c, stdout)
		}
	}
}

func TestScheduleTarget(t *testing.T) {
	tests := []struct {
		arg     string
		verify  bool
		want    string
		wantErr string
	}{
		{arg: "www", want: "backup-www"},
		{arg: "www", verify: true, want: "verify-www"},
		{arg: "backup-www", want: "backup-www"},
		{arg: "verify-www", want: "verify-www"},
		{arg: "verify-www", verify: true, wantErr: "is a schedule ID already"},
		{arg: "Www", wantErr: "is not an asset name"},
		{arg: "", wantErr: "is not an asset name"},
	}
	for _, tt := range tests {
		got, err := scheduleTarget(tt.arg, tt.verify)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("scheduleTarget(%q, %v) = %q, %v; want error %q", tt.arg, tt.verify, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("scheduleTarget(%q, %v) = %q, %v; want %q", tt.arg, tt.verify, got, err, tt.want)
		}
	}
}

func TestRunIDIsUTCToTheSecond(t *testing.T) {
	at := time.Date(2026, 1, 2, 4, 4, 5, 999, time.FixedZone("CET", 3600))
	if got, want := runID("backup", "www", at), "backup-www-20260102T030405Z"; got != want {
		t.Fatalf("runID = %q, want %q", got, want)
	}
}

func TestFailureDetailsReadTheResultOfAFailedWorkflow(t *testing.T) {
	st := workflows.BackupResult{Asset: "www", Phase: workflows.PhaseFailed, Error: "back up: disk full"}
	cause := errors.New("disk full")
	err := fmt.Errorf("workflow failed: %w", temporal.NewNonRetryableApplicationError("backup of www failed: back up: disk full", "BackupFailed", cause, st))
	var got workflows.BackupResult
	if !failureDetails(err, &got) || got.Asset != "www" || got.Error != st.Error || got.Phase != workflows.PhaseFailed {
		t.Fatalf("failureDetails = %+v", got)
	}
	if msg := workflowErrMessage(err); msg != "backup of www failed: back up: disk full" {
		t.Fatalf("workflowErrMessage = %q", msg)
	}
	if failureDetails(temporal.NewApplicationError("no details", "X"), &got) {
		t.Fatal("failureDetails found details in an error without any")
	}
	if failureDetails(errors.New("plain"), &got) {
		t.Fatal("failureDetails found details in a plain error")
	}
}

func TestAgoAndRuns(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := ago(time.Time{}, now); got != "never" {
		t.Errorf("ago(zero) = %q", got)
	}
	if got := ago(now.Add(-90*time.Minute), now); !strings.HasSuffix(got, "(1h30m ago)") {
		t.Errorf("ago(90m) = %q", got)
	}
	closed := now.Add(-time.Hour)
	var b strings.Builder
	printRuns(&b, []runRow{
		{WorkflowID: "backup-www-2", Status: "Running", StartedAt: now.Add(-time.Minute), Duration: 60e9},
		{WorkflowID: "backup-www-1", Status: "Completed", StartedAt: now.Add(-2 * time.Hour), ClosedAt: &closed, Duration: 3600e9, Result: "succeeded"},
	}, now)
	out := b.String()
	for _, want := range []string{"WORKFLOW ID", "backup-www-2", "1m so far", "Completed", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("printRuns does not show %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "backup-www-2") > strings.Index(out, "backup-www-1") {
		t.Errorf("printRuns changed the order:\n%s", out)
	}
}

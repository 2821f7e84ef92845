package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// scheduleConfig is a configuration of owner OWNER with the assets ASSETS (a list of names).
const scheduleConfig = `
secrets: {repo-pass: x}
schedules: {owner: OWNER}
assets: ASSETS
`

const scheduleAsset = `
  - name: NAME
    source: {paths: {include: [/srv/NAME]}}
    repository: {location: /srv/backups, password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {last: 24}
    rpo: 2h`

// writeScheduleConfig writes a configuration of owner with assets and returns its path.
func writeScheduleConfig(t *testing.T, owner string, assets ...string) string {
	t.Helper()
	list := "[]"
	if len(assets) > 0 {
		list = ""
		for _, a := range assets {
			list += strings.ReplaceAll(scheduleAsset, "NAME", a)
		}
	}
	body := strings.NewReplacer("OWNER", owner, "ASSETS", list).Replace(scheduleConfig)
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncJSON is what schedule sync -o json prints.
type syncJSON struct {
	Owner    string             `json:"owner"`
	DryRun   bool               `json:"dry_run"`
	Changes  []schedules.Change `json:"changes"`
	Warnings []string           `json:"warnings"`
}

// TestScheduleCommandsAgainstTemporal runs schedule sync (with and without --dry-run, as text and
// JSON) and schedule list against a dev server, with two configurations of different owners.
func TestScheduleCommandsAgainstTemporal(t *testing.T) {
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	env := config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": srv.HostPort, "LIFEBOAT_TASK_QUEUE": "schedule-cli-test"})
	lifeboat := func(want int, cfg string, args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out, errb syncBuffer
		code := run(ctx, append([]string{"--config", cfg}, args...), env, strings.NewReader(""), &out, &errb)
		if code != want {
			t.Fatalf("lifeboat %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	c := srv.Dial(t, client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	exists := func(id string) bool {
		t.Helper()
		_, err := c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			t.Fatal(err)
		}
		return err == nil
	}
	prod := writeScheduleConfig(t, "prod", "www", "db")

	// The dry run prints the plan and changes nothing.
	stdout, _ := lifeboat(exitOK, prod, "schedule", "sync", "--dry-run")
	for _, want := range []string{`Dry run for owner "prod": nothing is changed`, "ID  ", "OWNER", "ACTION"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run does not say %q:\n%s", want, stdout)
		}
	}
	for _, row := range []string{`backup-www\s+backup\s+www\s+-\s+create`, `rpo-www\s+watchdog\s+www\s+-\s+start`, `backup-db\s+backup\s+db\s+-\s+create`} {
		if !regexp.MustCompile(row).MatchString(stdout) {
			t.Errorf("dry run has no row %s:\n%s", row, stdout)
		}
	}
	if exists("backup-www") {
		t.Fatal("the dry run created backup-www")
	}
	stdout, _ = lifeboat(exitOK, prod, "schedule", "sync", "--dry-run", "-o", "json")
	var dry syncJSON
	if err := json.Unmarshal([]byte(stdout), &dry); err != nil || !dry.DryRun || dry.Owner != "prod" || len(dry.Changes) != 4 {
		t.Fatalf("dry run -o json: %v\n%s", err, stdout)
	}

	// The sync makes exactly the changes the dry run listed, and prints the same table.
	stdout, _ = lifeboat(exitOK, prod, "schedule", "sync", "-o", "json")
	var done syncJSON
	if err := json.Unmarshal([]byte(stdout), &done); err != nil || done.DryRun {
		t.Fatalf("sync -o json: %v\n%s", err, stdout)
	}
	if !reflect.DeepEqual(done.Changes, dry.Changes) {
		t.Errorf("sync made\n%+v\nthe dry run listed\n%+v", done.Changes, dry.Changes)
	}
	if !exists("backup-www") || !exists("backup-db") {
		t.Fatal("sync did not create the schedules")
	}

	// schedule list shows every schedule with its owner.
	wait.For(t, 30*time.Second, "schedule list", func() error {
		stdout, _ := lifeboat(exitOK, prod, "schedule", "list", "-o", "json")
		var entries []schedules.Entry
		if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
			return err
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.ID+" "+e.Owner)
		}
		if want := []string{"backup-db prod", "backup-www prod"}; !reflect.DeepEqual(got, want) {
			return fmt.Errorf("listed %q, want %q", got, want)
		}
		return nil
	})
	stdout, _ = lifeboat(exitOK, prod, "schedule", "list")
	if !regexp.MustCompile(`OWNER`).MatchString(stdout) || !regexp.MustCompile(`backup-www\s+backup\s+www\s+prod\s+no\s`).MatchString(stdout) {
		t.Errorf("schedule list does not show the owner:\n%s", stdout)
	}

	// Another owner's dry run leaves prod's alone; naming prod's asset is a conflict (exit 1) that
	// changes nothing.
	qa := writeScheduleConfig(t, "qa", "files")
	wait.For(t, 30*time.Second, "qa's dry run sees prod's schedules", func() error {
		stdout, _ := lifeboat(exitOK, qa, "schedule", "sync", "--dry-run")
		if !regexp.MustCompile(`backup-www\s+backup\s+www\s+prod\s+leave alone\s+owned by "prod"`).MatchString(stdout) ||
			!regexp.MustCompile(`rpo-db\s+watchdog\s+db\s+prod\s+leave alone`).MatchString(stdout) {
			return fmt.Errorf("prod's schedules and watchdogs are not left alone:\n%s", stdout)
		}
		return nil
	})
	conflicting := writeScheduleConfig(t, "qa", "www")
	stdout, stderr := lifeboat(exitFailure, conflicting, "schedule", "sync")
	if !regexp.MustCompile(`backup-www\s+backup\s+www\s+prod\s+CONFLICT`).MatchString(stdout) ||
		!strings.Contains(stderr, `schedule backup-www: conflict: owned by "prod", and this configuration names www too: left as it is`) {
		t.Errorf("conflicting sync:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if exists("backup-files") {
		t.Error("qa's dry run created backup-files")
	}

	// A configuration without assets changes nothing, even with prod's name, and says so.
	empty := writeScheduleConfig(t, "prod")
	stdout, stderr = lifeboat(exitOK, empty, "schedule", "sync")
	if !strings.Contains(stderr, "warning: the configuration has no assets") ||
		!regexp.MustCompile(`backup-www\s+backup\s+www\s+prod\s+leave alone\s+the configuration has no assets`).MatchString(stdout) {
		t.Errorf("sync of no assets:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if !exists("backup-www") || !exists("backup-db") {
		t.Error("sync of no assets removed prod's schedules")
	}
}

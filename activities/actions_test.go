package activities

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
)

func runAction(t *testing.T, a *Actions, action string, p map[string]any) (contract.ActionResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.RunAction, contract.ActionInput{Action: action, Params: p, Step: "test"})
	var res contract.ActionResult
	if err == nil {
		_ = v.Get(&res)
	}
	return res, err
}

// A failover of a real primary/replica pair through the plan actions.
func TestPostgresFailoverActions(t *testing.T) {
	pg := pgtest.Start(t, pgtest.WithReplica())
	a := &Actions{Secrets: secrets.Static{"primary": pg.DSN("postgres"), "replica": pg.Replica.DSN("postgres")}}
	step := func(action, secret string, want map[string]any) contract.ActionResult {
		t.Helper()
		res, err := runAction(t, a, action, map[string]any{"dsn_secret": secret})
		if err != nil {
			t.Fatalf("%s on %s: %v", action, secret, err)
		}
		for k, v := range want {
			if res.Outputs[k] != v {
				t.Fatalf("%s on %s: %s = %v, want %v (%s)", action, secret, k, res.Outputs[k], v, res.Summary)
			}
		}
		return res
	}
	step("postgres.replication_status", "replica", map[string]any{"role": "replica", "streaming": true})
	step("postgres.write_probe", "replica", map[string]any{"ok": false})
	step("postgres.replication_status", "primary", map[string]any{"role": "primary", "reachable": true})
	step("postgres.fence", "primary", map[string]any{"fenced": true, "reachable": true})
	step("postgres.write_probe", "primary", map[string]any{"ok": false})
	step("postgres.unfence", "primary", map[string]any{"fenced": false})
	step("postgres.write_probe", "primary", map[string]any{"ok": true})
	step("postgres.fence", "primary", map[string]any{"fenced": true, "reachable": true})
	// The replica has replayed the probe's write before the primary is lost: its commit is the
	// recovery point the promotion reports.
	wait.For(t, 15*time.Second, "the replica replays the probe's write", func() error {
		res, err := runAction(t, a, "postgres.sql_check", map[string]any{"dsn_secret": "replica",
			"query": "SELECT count(*) FROM public.lifeboat_write_probe", "expect": "1"})
		if err == nil && res.Outputs["ok"] != true {
			err = errors.New(res.Summary)
		}
		return err
	})
	if err := pg.Crash(); err != nil {
		t.Fatal(err)
	}
	step("postgres.replication_status", "primary", map[string]any{"role": "unreachable", "reachable": false})
	step("postgres.fence", "primary", map[string]any{"fenced": true, "reachable": false})
	promoted := step("postgres.promote", "replica", map[string]any{"promoted": true})
	t.Logf("promote: %s", promoted.Summary)
	if _, ok := promoted.Outputs[contract.OutputRecoveryPoint]; !ok {
		t.Fatalf("promote reports no recovery point: %v", promoted.Outputs)
	}
	step("postgres.promote", "replica", map[string]any{"promoted": true}) // idempotent
	step("postgres.write_probe", "replica", map[string]any{"ok": true})
	res, err := runAction(t, a, "postgres.sql_check", map[string]any{"dsn_secret": "replica", "query": "SELECT pg_is_in_recovery()", "expect": "f"})
	if err != nil || res.Outputs["ok"] != true {
		t.Fatalf("sql check on the new primary: %+v, %v", res, err)
	}
}

func TestAWSFailoverActions(t *testing.T) {
	fake := awsfake.New(t)
	fake.AddHostedZone("Z1", "example.com.")
	fake.AddEC2Instance("eu-west-1", "i-0abc", "stopped")
	fake.AddAutoScalingGroup("eu-west-1", "web", 0, 10, 0)
	fake.AddDBReplica("eu-west-1", "orders-replica", "arn:aws:rds:us-east-1:123456789012:db:orders-db")
	west := "arn:aws:rds:us-west-2:123456789012:cluster:orders-west"
	fake.AddGlobalCluster("orders-global", "arn:aws:rds:us-east-1:123456789012:cluster:orders-east", west)
	a := &Actions{Poll: time.Millisecond, AWS: func(ctx context.Context) (Failover, error) {
		return aws.NewFailover(ctx, aws.Config{Endpoint: fake.URL, AccessKeyID: awsfake.AccessKeyID, SecretAccessKey: awsfake.SecretAccessKey})
	}}
	if _, err := runAction(t, a, "aws.route53_upsert", map[string]any{"zone_id": "Z1", "record": "db.example.com", "value": "replica.example.com"}); err != nil {
		t.Fatal(err)
	}
	if v, ok := fake.RecordValues("Z1", "db.example.com.", "CNAME", ""); !ok || len(v) != 1 || v[0] != "replica.example.com" {
		t.Fatalf("record %v %v", v, ok)
	}
	if res, err := runAction(t, a, "aws.ec2_start", map[string]any{"instance_id": "i-0abc", "region": "eu-west-1"}); err != nil || res.Outputs["state"] != "running" {
		t.Fatalf("ec2 start: %+v %v", res, err)
	}
	if res, err := runAction(t, a, "aws.ec2_stop", map[string]any{"instance_id": "i-0abc", "region": "eu-west-1"}); err != nil || res.Outputs["state"] != "stopped" {
		t.Fatalf("ec2 stop: %+v %v", res, err)
	}
	if res, err := runAction(t, a, "aws.asg_set_capacity", map[string]any{"group": "web", "region": "eu-west-1", "desired": 3}); err != nil || res.Outputs["in_service"] != float64(3) {
		t.Fatalf("asg capacity: %+v %v", res, err)
	}
	if res, err := runAction(t, a, "aws.rds_promote_read_replica", map[string]any{"instance": "orders-replica", "region": "eu-west-1"}); err != nil || res.Outputs["endpoint"] == "" {
		t.Fatalf("rds promote: %+v %v", res, err)
	}
	res, err := runAction(t, a, "aws.rds_failover_global_cluster", map[string]any{"global_cluster": "orders-global", "target_cluster_arn": west, "allow_data_loss": true})
	if err != nil || res.Outputs["writer_cluster_arn"] != west {
		t.Fatalf("global failover: %+v %v", res, err)
	}
	// Outside the group's bounds: refused, not retried.
	_, err = runAction(t, a, "aws.asg_set_capacity", map[string]any{"group": "web", "region": "eu-west-1", "desired": 11})
	if errType(err) != contract.ErrTypeActionRefused || !strings.Contains(err.Error(), "max 10") {
		t.Fatalf("capacity above max: %v", err)
	}
	// Without AWS access configured.
	if _, err := runAction(t, &Actions{}, "aws.ec2_start", map[string]any{"instance_id": "i-0abc", "region": "eu-west-1"}); errType(err) != contract.ErrTypeActionRefused {
		t.Fatalf("no aws: %v", err)
	}
}

func TestCheckAndExecActions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	_ = ln.Close()
	a := &Actions{Commands: map[string][]string{"ok": {"sh", "-c", "echo restarted"}, "broken": {"sh", "-c", "echo nope >&2; exit 4"}}}
	for _, tc := range []struct {
		name, action string
		params       map[string]any
		wantOK       any
		wantErrType  string
	}{
		{"http status matches", "check.http", map[string]any{"url": srv.URL, "expect_status": 418}, true, ""},
		{"http status differs", "check.http", map[string]any{"url": srv.URL, "expect_status": 200}, false, ""},
		{"tcp closed port", "check.tcp", map[string]any{"address": open, "timeout": "1s"}, false, ""},
		{"dns localhost", "check.dns", map[string]any{"name": "localhost", "expect": "127.0.0.1"}, true, ""},
		{"dns wrong answer", "check.dns", map[string]any{"name": "localhost", "expect": "10.9.9.9"}, false, ""},
		{"allowed command", "exec", map[string]any{"command": "ok"}, nil, ""},
		{"command outside the allow-list", "exec", map[string]any{"command": "rm-rf"}, nil, contract.ErrTypeActionRefused},
		{"unknown action", "postgres.drop_everything", nil, nil, contract.ErrTypeActionRefused},
		{"missing parameter", "check.http", map[string]any{}, nil, contract.ErrTypeActionRefused},
		{"wrong parameter type", "check.tcp", map[string]any{"address": 5432}, nil, contract.ErrTypeActionRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runAction(t, a, tc.action, tc.params)
			if tc.wantErrType != "" {
				if errType(err) != tc.wantErrType {
					t.Fatalf("error %v, want %s", err, tc.wantErrType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantOK != nil && res.Outputs["ok"] != tc.wantOK {
				t.Fatalf("ok = %v, want %v (%s)", res.Outputs["ok"], tc.wantOK, res.Summary)
			}
		})
	}
	// A failing allowed command is an error that may be retried, with its output.
	_, err = runAction(t, a, "exec", map[string]any{"command": "broken"})
	if err == nil || errType(err) != "" || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("failing command: %v", err)
	}
}

// Every declared action is carried out by RunAction, except those the recovery workflow runs itself
// (restore.asset starts a Restore workflow, notify uses the notification routes).
func TestEveryDeclaredActionHasAnImplementation(t *testing.T) {
	byWorkflow := map[string]bool{catalog.RestoreAsset.Name(): true, catalog.Notify.Name(): true}
	for _, spec := range catalog.All() {
		if _, ok := actionFuncs[spec.Name]; ok == byWorkflow[spec.Name] {
			t.Errorf("%s: implemented here %v, run by the workflow %v: want exactly one", spec.Name, ok, byWorkflow[spec.Name])
		}
	}
}

// A check.http step's status output is the answer's status code, so that `outputs.status == 418`
// holds.
func TestCheckHTTPReportsTheStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	res, err := runAction(t, &Actions{}, "check.http", map[string]any{"url": srv.URL})
	if err != nil || res.Outputs["status"] != float64(http.StatusTeapot) && res.Outputs["status"] != http.StatusTeapot {
		t.Fatalf("check.http outputs %v (%v), want status 418", res.Outputs, err)
	}
	if res.Outputs["ok"] != false {
		t.Fatalf("418 counted as ok: %v", res.Outputs)
	}
}

// TestMain checks, when every test of the package ran, that each action implemented here produced
// every output it declares in at least one of them, and none it does not declare.
func TestMain(m *testing.M) {
	seen := map[string]map[string]bool{}
	var mu sync.Mutex
	outputsSeen = func(action string, outputs map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if seen[action] == nil {
			seen[action] = map[string]bool{}
		}
		for k := range outputs {
			seen[action][k] = true
		}
	}
	code := m.Run()
	if code != 0 || flag.Lookup("test.run").Value.String() != "" || testing.Short() {
		os.Exit(code)
	}
	var missing []string
	for name, b := range actionFuncs {
		for _, o := range b.spec.Outputs {
			if !seen[name][o.Name] {
				missing = append(missing, name+"."+o.Name)
			}
		}
		for k := range seen[name] {
			if _, ok := b.spec.Output(k); !ok {
				missing = append(missing, name+"."+k+" (produced, not declared)")
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		fmt.Fprintf(os.Stderr, "FAIL: declared outputs no test saw produced: %s\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	os.Exit(code)
}

// An allow-listed command sees only the environment it is given, never the worker's credentials,
// and no secret value of the worker reaches the step's record through its output.
func TestExecGivesNoCredentialsAndRedactsSecrets(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "worker-credential")
	t.Setenv("LIFEBOAT_REPO_PASSWORD", "worker-repo-pass")
	t.Setenv("DEPLOY_TARGET", "staging")
	a := &Actions{
		Secrets:    secrets.Static{"db": "postgres://app:s3cr3t-pass@db1/orders"},
		CommandEnv: []string{"DEPLOY_TARGET"},
		Commands: map[string][]string{
			"env":  {"sh", "-c", `echo "${AWS_SECRET_ACCESS_KEY:-none} ${LIFEBOAT_REPO_PASSWORD:-none} ${DEPLOY_TARGET:-none} ${PATH:+path}"`},
			"leak": {"sh", "-c", "echo connecting to postgres://app:s3cr3t-pass@db1/orders"},
			"fail": {"sh", "-c", "echo password s3cr3t-pass refused >&2; exit 3"},
		},
	}
	res, err := runAction(t, a, "exec", map[string]any{"command": "env"})
	if err != nil || res.Summary != "none none staging path" {
		t.Fatalf("environment the command saw: %q (%v)", res.Summary, err)
	}
	res, err = runAction(t, a, "exec", map[string]any{"command": "leak"})
	if err != nil || strings.Contains(res.Summary, "s3cr3t") || !strings.Contains(res.Summary, "[redacted]") {
		t.Fatalf("output of a command that printed a secret: %q (%v)", res.Summary, err)
	}
	_, err = runAction(t, a, "exec", map[string]any{"command": "fail"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "password [redacted] refused") {
		t.Fatalf("error of a failing command that printed a secret: %v", err)
	}
}

// A command stopped by its step's timeout or a cancelled plan is killed with everything it started.
func TestExecStoppedKillsTheCommandsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	a := &Actions{Commands: map[string][]string{
		// The child ignores SIGTERM and keeps the output pipe open.
		"hang": {"sh", "-c", `trap "" TERM; (trap "" TERM; sleep 60) & echo $! > "$0"; wait`, pidFile},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.execCommand(ctx, catalog.ExecParams{Command: "hang"})
	if err == nil || !strings.Contains(err.Error(), "stopped") || time.Since(start) > 10*time.Second {
		t.Fatalf("stopped command: %v after %s", err, time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "the command's child to be gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("process %d still runs", pid)
		}
		return nil
	})
}

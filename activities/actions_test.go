package activities

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

func runAction(t *testing.T, a *Actions, action string, p map[string]any) (ActionResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.RunAction, ActionInput{Action: action, Params: p, Step: "test"})
	var res ActionResult
	if err == nil {
		_ = v.Get(&res)
	}
	return res, err
}

// A failover of a real primary/replica pair through the plan actions.
func TestPostgresFailoverActions(t *testing.T) {
	pg := pgtest.Start(t, pgtest.WithReplica())
	a := &Actions{Secrets: secrets.Static{"primary": pg.DSN("postgres"), "replica": pg.Replica.DSN("postgres")}}
	step := func(action, secret string, want map[string]any) ActionResult {
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
	step("postgres.fence", "primary", map[string]any{"fenced": true, "reachable": true})
	step("postgres.write_probe", "primary", map[string]any{"ok": false})
	if err := pg.Crash(); err != nil {
		t.Fatal(err)
	}
	step("postgres.replication_status", "primary", map[string]any{"role": "unreachable", "reachable": false})
	step("postgres.fence", "primary", map[string]any{"fenced": true, "reachable": false})
	promoted := step("postgres.promote", "replica", map[string]any{"promoted": true})
	t.Logf("promote: %s", promoted.Summary)
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
	if _, err := runAction(t, a, "aws.asg_set_capacity", map[string]any{"group": "web", "region": "eu-west-1", "desired": 3}); err != nil {
		t.Fatal(err)
	}
	// Outside the group's bounds: refused, not retried.
	_, err := runAction(t, a, "aws.asg_set_capacity", map[string]any{"group": "web", "region": "eu-west-1", "desired": 11})
	if errType(err) != ErrTypeActionRefused || !strings.Contains(err.Error(), "max 10") {
		t.Fatalf("capacity above max: %v", err)
	}
	// Without AWS access configured.
	if _, err := runAction(t, &Actions{}, "aws.ec2_start", map[string]any{"instance_id": "i-0abc", "region": "eu-west-1"}); errType(err) != ErrTypeActionRefused {
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
		{"command outside the allow-list", "exec", map[string]any{"command": "rm-rf"}, nil, ErrTypeActionRefused},
		{"unknown action", "postgres.drop_everything", nil, nil, ErrTypeActionRefused},
		{"missing parameter", "check.http", map[string]any{}, nil, ErrTypeActionRefused},
		{"wrong parameter type", "check.tcp", map[string]any{"address": 5432}, nil, ErrTypeActionRefused},
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

// Every action a plan may name is carried out by RunAction, except the two the plan runner does
// itself (restore.asset starts a Restore workflow, notify uses the notification routes), and every
// parameter the plan schema allows is one the action reads.
func TestActionsMatchThePlanSchema(t *testing.T) {
	specs := plan.DefaultActions()
	byRunner := map[string]bool{"restore.asset": true, "notify": true}
	for name := range specs {
		if _, ok := actionFuncs[name]; !ok && !byRunner[name] {
			t.Errorf("plan action %s has no implementation", name)
		}
	}
	for name := range actionFuncs {
		if _, ok := specs[name]; !ok {
			t.Errorf("action %s is not in the plan schema", name)
		}
	}
	src, err := os.ReadFile("actions.go")
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range specs {
		if byRunner[name] {
			continue
		}
		for param := range spec.Params {
			if !bytes.Contains(src, []byte(`"`+param+`"`)) {
				t.Errorf("%s: parameter %s is never read", name, param)
			}
		}
	}
}

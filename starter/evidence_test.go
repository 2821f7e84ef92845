package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const evidenceTaskQueue = "evidence-test"

// evidenceConfig keeps evidence beside the file and drills plan orders-drill on a schedule.
const evidenceConfig = `
secrets:
  evidence-key: ${EVIDENCE_KEY}
encryption:
  keys:
    - id: t1
      secret: ${TEST_KEY}
schedules:
  owner: evidence-test
recovery:
  plans_dir: plans
  drills:
    - plan: orders-drill
      schedule: {cron: "0 3 * * 1"}
      reason: weekly drill
evidence:
  location: evidence-store
  signing_key: evidence-key
  retention: {days: 30, last: 2}
`

// evidencePlan checks a port that listens, and a name the drill leaves out.
const evidencePlan = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders-drill}
spec:
  scenario: Orders database lost
  objectives: {rto: 10m}
  steps:
    - {id: reachable, action: check.tcp, with: {address: "%s"}}
    - {id: public-dns, needs: [reachable], action: check.dns, with: {name: orders.example.com}, drill: {skip: true, reason: not from drills}}
`

// A drill run by the CLI on a real worker leaves a signed record that lifeboat evidence lists,
// shows, verifies and exports; the drill schedule starts a drill the workflow accepts as the
// schedule's; and a record edited in storage fails lifeboat evidence verify, naming it.
func TestDrillEvidenceAgainstTemporal(t *testing.T) {
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	dir := t.TempDir()
	e := &recoveryEnv{t: t, config: filepath.Join(dir, "lifeboat.yaml")}
	if err := os.WriteFile(e.config, []byte(evidenceConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	plans := filepath.Join(dir, "plans")
	if err := os.Mkdir(plans, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plans, "orders-drill.yaml"), fmt.Appendf(nil, evidencePlan, ln.Addr()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":    srv.HostPort,
		"LIFEBOAT_TASK_QUEUE": evidenceTaskQueue,
		"TEST_KEY":            codec.GenerateKey(),
		"EVIDENCE_KEY":        audit.GenerateSigningKey(),
	})
	cfg, err := config.Load(e.config, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
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
	st, err := cfg.Evidence.Store(t.Context(), secrets.Static(cfg.Secrets), e.env)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, evidenceTaskQueue, worker.Options{})
	workflows.RegisterWorkflows(w)
	activities.Set{
		Plans:         &activities.Plans{Dir: cfg.Recovery.PlansDir},
		Identities:    &activities.Identities{},
		Actions:       &activities.Actions{},
		Notifications: &activities.Notifications{Logger: slog.New(slog.DiscardHandler)},
		Evidence: &activities.Evidence{Store: st, ConfigSHA256: "test-config", ScheduleRequester: config.ScheduleRequester(cfg.Schedules.Owner),
			DrilledPlans: cfg.DrilledPlans()},
	}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	out, _ := e.expect(exitOK, []string{"Drill of plan orders-drill succeeded", "evidence ", "(not proven) in "}, "drill", "orders-drill", "--requester", "alice")
	_ = out
	stdout, _ := e.expect(exitOK, []string{"drill", "orders-drill"}, "evidence", "list", "-o", "json")
	var listed []evidence.Listed
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("evidence list: %v\n%s", err, stdout)
	}
	id := listed[0].ID
	e.expect(exitOK, []string{"drill of orders-drill: NOT PROVEN", "1 of 2 checks not proven", "started by alice", "public-dns (check.dns)",
		"not proven: left out of drills: not from drills", "reachable (check.tcp)", "passed", "objective 10m0s: met"}, "evidence", "show", id)
	e.expect(exitOK, []string{"ok       " + id + " (not proven"}, "evidence", "verify")
	e.expect(exitOK, nil, "evidence", "list", "--kind", "verification", "--subject", "orders-drill", "--since", "1d")

	// The drill schedule, synced from recovery.drills, starts a drill as the schedule.
	e.expect(exitOK, []string{"drill-orders-drill", "create"}, "schedule", "sync")
	e.expect(exitOK, nil, "schedule", "trigger", workflows.DrillScheduleID("orders-drill"))
	var scheduled evidence.Verified
	wait.For(t, 45*time.Second, "the scheduled drill's evidence", func() error {
		list, err := st.List(context.Background(), evidence.Filter{Kind: evidence.KindDrill})
		if err != nil {
			return err
		}
		for _, l := range list {
			if l.ID == id {
				continue
			}
			keys, _ := cfg.Evidence.Keys(context.Background(), secrets.Static(cfg.Secrets))
			v, err := st.Verify(context.Background(), l.ID, keys)
			if err != nil {
				return err
			}
			scheduled = v
			return nil
		}
		return fmt.Errorf("%d drill records", len(list))
	})
	if by := scheduled.Record.StartedBy; by.Identity != "schedule:evidence-test" || by.Channel != "schedule" || by.Verified {
		t.Fatalf("scheduled drill started by %+v", by)
	}

	// Export: Markdown and HTML from one mapping; no overwrite without --force.
	report := filepath.Join(dir, "evidence.md")
	e.expect(exitOK, []string{"exported 2 records"}, "evidence", "export", "--since", "1d", "--format", "md", "--out", report)
	md, _ := os.ReadFile(report)
	for _, want := range []string{"## SOC 2 A1.3: Recovery plan testing", "## DORA Article 12", "no verification in the period", "| " + id + " | drill | orders-drill | not proven |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the report does not say %q:\n%s", want, md)
		}
	}
	e.expect(exitUsage, []string{"exists: give --force"}, "evidence", "export", "--since", "1d", "--format", "html", "--out", report)
	if again, _ := os.ReadFile(report); !bytes.Equal(again, md) {
		t.Fatal("the report was replaced without --force")
	}
	e.expect(exitOK, nil, "evidence", "export", "--since", "1d", "--format", "html", "--out", report, "--force")
	if html, _ := os.ReadFile(report); !strings.Contains(string(html), "<h2>ISO 27001:2022 A.5.30: ICT readiness for business continuity</h2>") {
		t.Errorf("html report:\n%s", html)
	}
	e.expect(exitOK, []string{"would delete 0 records"}, "evidence", "prune", "--dry-run")

	// Someone with write access to the store edits the record: verify names it and exits 3.
	path := filepath.Join(dir, "evidence-store", "evidence", id+".dsse.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env evidence.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	body, _ := base64.StdEncoding.DecodeString(env.Payload)
	env.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(body, []byte(`"outcome":"not proven"`), []byte(`"outcome":"passed"`), 1))
	edited, _ := json.Marshal(env)
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	e.expect(exitBadOutcome, []string{"FAILED   evidence: record " + id, "signature does not match the payload", "1 of 2 evidence records do not verify: " + id}, "evidence", "verify")
	e.expect(exitBadOutcome, []string{id, "does not verify"}, "evidence", "show", id)
	e.expect(exitOK, []string{"ok       " + scheduled.ID}, "evidence", "verify", scheduled.ID)
}

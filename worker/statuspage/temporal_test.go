package statuspage_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

const temporalTaskQueue = "statuspage-test"

// gatedPlan waits for bob's approval; alice starts it and cannot approve it herself.
const gatedPlan = `
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
    - id: approve
      approval: {approvers: [dba], timeout: 10m}
`

// startTemporal runs a dev server with Lifeboat's search attributes and a worker with the real
// Recovery and RPOWatchdog workflows: plans from a folder, two assets whose repositories are
// empty folders (orders-db within its RPO of an hour, warehouse outside its RPO of a second), and
// notifications that go to a discarded log. It returns the client and a function that stops the
// worker.
func startTemporal(t *testing.T) (client.Client, func()) {
	t.Helper()
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	discard := slog.New(slog.DiscardHandler)
	c := srv.Dial(t, client.Options{Logger: sdklog.NewStructuredLogger(discard)})

	dir := t.TempDir()
	plans := filepath.Join(dir, "plans")
	for _, d := range []string{plans, filepath.Join(dir, "repo-orders"), filepath.Join(dir, "repo-warehouse")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(plans, "orders-failover.yaml"), []byte(gatedPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	catalog := map[string]asset.Asset{
		"orders-db": {Name: "orders-db", RPO: units.Duration(time.Hour), Repository: &asset.Repository{Location: filepath.Join(dir, "repo-orders"), PasswordSecret: "repo-pass"}},
		"warehouse": {Name: "warehouse", RPO: units.Duration(time.Second), Repository: &asset.Repository{Location: filepath.Join(dir, "repo-warehouse"), PasswordSecret: "repo-pass"}},
	}
	w := worker.New(c, temporalTaskQueue, worker.Options{})
	workflows.RegisterWorkflows(w)
	activities.Set{
		Plans:         &activities.Plans{Dir: plans},
		Identities:    &activities.Identities{},
		Assets:        &activities.Assets{Catalog: catalog, Secrets: secrets.Static{"repo-pass": "not a real passphrase"}, Logger: discard},
		Notifications: &activities.Notifications{Logger: discard},
	}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			w.Stop()
		}
	}
	t.Cleanup(stop)
	return c, stop
}

func component(p statuspage.Page, name string) statuspage.ComponentView {
	for _, c := range p.Components {
		if c.Name == name {
			return c
		}
	}
	return statuspage.ComponentView{}
}

// TestTemporalSource runs the real Recovery and RPOWatchdog workflows on a dev server and reads
// the page from them: a failover waiting at its approval gate puts Checkout in major outage and is
// listed as active, a drill of the same plan is listed without changing the state, and the stale
// warehouse watchdog degrades Reports. Once the gates are decided, the failover is an incident and
// the drill is not. With the worker gone, the watchdogs' queries fail and their phase still tells.
func TestTemporalSource(t *testing.T) {
	c, stopWorker := startTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for _, a := range []string{"orders-db", "warehouse"} {
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WatchdogID(a), TaskQueue: temporalTaskQueue},
			workflows.RPOWatchdogWorkflow, workflows.RPOWatchdogInput{Asset: a}); err != nil {
			t.Fatal(err)
		}
	}
	// The rehearsal waits at its gate too, and never shows: it touches no service.
	for id, mode := range map[string]string{"recovery-orders-failover": workflows.ModeRecovery, "drill-orders-failover": workflows.ModeDrill,
		"rehearsal-orders-failover": workflows.ModeRehearsal} {
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalTaskQueue}, workflows.RecoveryWorkflow,
			workflows.RecoveryInput{Plan: "orders-failover", Mode: mode, Requester: "alice", Reason: "primary lost"}); err != nil {
			t.Fatal(err)
		}
	}

	cfg := statuspage.Config{
		Title: "Example Shop status",
		Components: []statuspage.Component{
			{Name: "Checkout", Plans: []string{"orders-failover"}, Assets: []string{"orders-db"}},
			{Name: "Reports", Assets: []string{"warehouse"}},
		},
		CacheTTL: units.Duration(time.Nanosecond),
	}
	src := &statuspage.TemporalSource{Client: func() client.Client { return c }}
	h := statuspage.NewHandler(cfg, src, statuspage.Options{})
	srv := serve(t, h)

	t.Run("recovery waiting at its gate", func(t *testing.T) {
		var p statuspage.Page
		wait.For(t, time.Minute, "the page shows the failover and the drill", func() error {
			p = getPage(t, srv.URL)
			checkout, reports := component(p, "Checkout"), component(p, "Reports")
			var phases []string
			for _, a := range p.Active {
				phases = append(phases, a.Kind+": "+a.Plan+": "+a.Phase)
			}
			switch {
			case !p.Live:
				return fmt.Errorf("not live: %s", p.Notice)
			case checkout.State != statuspage.MajorOutage || reports.State != statuspage.Degraded || p.Overall != statuspage.MajorOutage:
				return fmt.Errorf("states: %+v", p.Components)
			case strings.Join(phases, " | ") != "Recovery: orders-failover: Waiting for approval | Recovery exercise (drill): orders-failover: Waiting for approval" &&
				strings.Join(phases, " | ") != "Recovery exercise (drill): orders-failover: Waiting for approval | Recovery: orders-failover: Waiting for approval":
				return fmt.Errorf("active: %q", phases)
			}
			return nil
		})
		for _, want := range []string{"Recovery in progress (orders-failover): waiting for approval.", "A recovery exercise is running (orders-failover); the service is not affected."} {
			if !strings.Contains(strings.Join(component(p, "Checkout").Notes, " "), want) {
				t.Errorf("Checkout notes %q do not say %q", component(p, "Checkout").Notes, want)
			}
		}
		if notes := strings.Join(component(p, "Reports").Notes, " "); !strings.Contains(notes, "Backups of warehouse are behind schedule: none has succeeded yet (target: at most 1 second old).") {
			t.Errorf("Reports notes: %q", notes)
		}
		for _, a := range p.Active {
			if a.Objective != "10 minutes" || a.Progress != "0 of 1 steps done" || a.OverObjective || a.StartedAt.Time.IsZero() {
				t.Errorf("active recovery: %+v", a)
			}
		}
		_, body := get(t, srv.URL+"/status")
		for _, want := range []string{`class="banner state-major_outage"`, "Checkout is unavailable.", `<dd class="phase">Waiting for approval</dd>`, "<h3>Recovery: orders-failover</h3>"} {
			if !strings.Contains(body, want) {
				t.Errorf("/status does not show %s", want)
			}
		}
	})

	t.Run("recovery done", func(t *testing.T) {
		for _, id := range []string{"recovery-orders-failover", "drill-orders-failover"} {
			handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
				WorkflowID: id, UpdateName: approval.UpdateDecide, WaitForStage: client.WorkflowUpdateStageCompleted,
				Args: []any{approval.Decision{Gate: "approve", Approve: true, Identity: "bob", Channel: approval.ChannelAPI}},
			})
			if err == nil {
				err = handle.Get(ctx, nil)
			}
			if err != nil {
				t.Fatalf("approve %s: %v", id, err)
			}
			if err := c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
		var p statuspage.Page
		wait.For(t, time.Minute, "the failover moves to the incidents", func() error {
			p = getPage(t, srv.URL)
			if len(p.Active) != 0 || len(p.Incidents) == 0 || component(p, "Checkout").State != statuspage.Operational {
				return fmt.Errorf("active %+v, incidents %+v, components %+v", p.Active, p.Incidents, p.Components)
			}
			return nil
		})
		if len(p.Incidents) != 1 {
			t.Fatalf("incidents %+v, want only the failover: a drill is no incident", p.Incidents)
		}
		i := p.Incidents[0]
		if i.Plan != "orders-failover" || i.Result != "succeeded" || i.ResultLabel != "Recovered" || i.Duration == "" || i.EndedAt.Relative != "just now" || len(i.Components) != 1 {
			t.Errorf("incident %+v", i)
		}
		if p.Overall != statuspage.Degraded {
			t.Errorf("overall %s, want degraded: warehouse is still outside its RPO", p.Overall)
		}
	})

	t.Run("worker gone", func(t *testing.T) {
		stopWorker()
		src := &statuspage.TemporalSource{Client: func() client.Client { return c }, QueryTimeout: time.Second}
		snap, err := src.Snapshot(ctx, statuspage.Request{FinishedSince: time.Now().Add(-time.Hour), Assets: []string{"orders-db", "warehouse"}})
		if err != nil {
			t.Fatal(err)
		}
		w, o := snap.Watchdogs["warehouse"], snap.Watchdogs["orders-db"]
		if w.Status != nil || w.Problem == "" || !w.Stale || o.Stale || o.Problem == "" {
			t.Errorf("without a worker: warehouse %+v, orders-db %+v", w, o)
		}
		if len(snap.Finished) != 1 || snap.Finished[0].WorkflowID != "recovery-orders-failover" {
			t.Errorf("finished %+v", snap.Finished)
		}
	})
}

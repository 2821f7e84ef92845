package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// freePortRun returns the first of n consecutive ports that are free on loopback.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := repo.FreePort(t)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = portIsFree(p)
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

func portIsFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// drillStatus is what `lifeboat status -o json` says about a drill.
type drillStatus struct {
	Status string `json:"status"`
	State  struct {
		Status string `json:"status"`
		Steps  []struct {
			ID, Status, Error, Summary, Drill, Strategy string
		} `json:"steps"`
	} `json:"state"`
	PendingGates []struct {
		Gate       string   `json:"gate"`
		Requester  string   `json:"requester"`
		Approvers  []string `json:"approvers"`
		ApprovedBy []string `json:"approved_by"`
		Options    []string `json:"options"`
	} `json:"pending_gates"`
}

// TestEveryExamplePlanDrillsOnTheLocalStack is what a new user does after `make run`: drill each
// example plan with `lifeboat drill`, deciding every gate with `lifeboat approve` or `lifeboat
// decide` as one of the people the gate names. Every drill must succeed and give a report, and
// the example database — production, for these plans — must be as it was: not fenced, its replica
// still a standby, its rows intact; while the drill replica was promoted and the drill primary
// unfenced again.
func TestEveryExamplePlanDrillsOnTheLocalStack(t *testing.T) {
	repo.Integration(t, "the local stack with PostgreSQL")
	if localpg.BinDir() == "" {
		t.Fatal(localpg.ErrNoBinaries)
	}
	dataDir := t.TempDir()
	pgBase := freePortRun(t, 4)
	d := startDev(t, dataDir, [3]int{repo.FreePort(t), repo.FreePort(t), repo.FreePort(t)}, "--postgres-port", fmt.Sprint(pgBase))
	defer d.stop(t)
	lifeboat := func(args ...string) (string, string, int) { return runLifeboat(t, d.config, d.env, args...) }

	// The restores the plans rehearse need a backup to restore from.
	for _, asset := range []string{"orders-db", "media-db"} {
		if out, errOut, code := lifeboat("backup", "run", asset); code != 0 {
			t.Fatalf("lifeboat backup run %s: exit %d\n%s%s", asset, code, out, errOut)
		}
	}
	files, err := filepath.Glob(filepath.Join(repo.Root(t), "examples", "plans", "*.yaml"))
	if err != nil || len(files) != 9 {
		t.Fatalf("example plans: %v %v", files, err)
	}
	var wg sync.WaitGroup
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		wg.Go(func() {
			t.Run(name, func(t *testing.T) { drillExample(t, name, lifeboat) })
		})
	}
	wg.Wait()
	if t.Failed() {
		t.Logf("lifeboat dev:\n%s", d.proc.Tail())
		return
	}

	ctx := context.Background()
	dsn := func(port int, db string) string { return localpg.DSN("127.0.0.1", port, db) }
	var readOnly string
	var orders int
	if err := localpg.QueryRow(ctx, dsn(pgBase, "orders"), "SELECT current_setting('default_transaction_read_only'), (SELECT count(*) FROM orders)", &readOnly, &orders); err != nil {
		t.Fatal(err)
	}
	if readOnly != "off" || orders != 1000 {
		t.Errorf("example database after the drills: read-only %s, %d orders; want off and 1000", readOnly, orders)
	}
	for port, want := range map[int]bool{pgBase + 1: true, pgBase + 3: false} {
		var inRecovery bool
		if err := localpg.QueryRow(ctx, dsn(port, "postgres"), "SELECT pg_is_in_recovery()", &inRecovery); err != nil {
			t.Fatal(err)
		}
		if inRecovery != want {
			t.Errorf("server on port %d in recovery: %v, want %v (example replica stays a standby, drill replica is promoted)", port, inRecovery, want)
		}
	}
	if err := localpg.QueryRow(ctx, dsn(pgBase+2, "postgres"), "SELECT current_setting('default_transaction_read_only')", &readOnly); err != nil || readOnly != "off" {
		t.Errorf("drill primary after the drill's teardown: read-only %q (%v), want off", readOnly, err)
	}
	checkReadinessAfterDrills(t, d, lifeboat)
	log, err := os.ReadFile(filepath.Join(dataDir, "drill-commands.log"))
	if err != nil || !strings.Contains(string(log), " orders-maintenance-on-drill\n") || !strings.Contains(string(log), " rotate-db-password-drill\n") {
		t.Errorf("drill commands recorded: %v\n%s", err, log)
	}
}

// choices are the options drills pick at decisions whose first option would only wait,
// and the options that rehearse a restore.
var choices = map[string]string{"wait-or-break-glass": "break-glass", "which-snapshot": "latest", "repair-or-restore": "restore-latest"}

// drillExample drills one plan, deciding its gates as they open, and checks its report.
func drillExample(t *testing.T, name string, lifeboat func(...string) (string, string, int)) {
	out, errOut, code := lifeboat("drill", name, "--no-wait", "--requester", "erin", "--reason", "example drill")
	if code != 0 {
		t.Fatalf("lifeboat drill %s: exit %d\n%s%s", name, code, out, errOut)
	}
	id := "drill-" + name
	deadline := time.Now().Add(4 * time.Minute)
	var st drillStatus
	for {
		out, errOut, code := lifeboat("status", id, "-o", "json")
		if code != 0 {
			t.Fatalf("lifeboat status %s: exit %d\n%s%s", id, code, out, errOut)
		}
		st = drillStatus{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		if st.Status != "Running" {
			break
		}
		for _, g := range st.PendingGates {
			who := ""
			for _, a := range g.Approvers {
				if a != g.Requester && !slices.Contains(g.ApprovedBy, a) {
					who = a
					break
				}
			}
			if who == "" {
				t.Fatalf("gate %s of %s: nobody left to decide it: %+v", g.Gate, id, g)
			}
			args := []string{"approve", id, "--gate", g.Gate, "--as", who, "--reason", "drill"}
			if len(g.Options) > 0 {
				choice := g.Options[0]
				if c, ok := choices[g.Gate]; ok {
					choice = c
				}
				args = []string{"decide", id, "--gate", g.Gate, "--choice", choice, "--as", who, "--reason", "drill"}
			}
			if out, errOut, code := lifeboat(args...); code != 0 {
				t.Fatalf("lifeboat %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("drill %s still running after 4 minutes: %s", id, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	report, errOut, code := lifeboat("report", id)
	if code != 0 {
		t.Fatalf("lifeboat report %s: exit %d\n%s%s", id, code, report, errOut)
	}
	if st.Status != "Completed" || st.State.Status != "succeeded" {
		t.Fatalf("drill %s: workflow %s, plan %s: %+v\n%s", id, st.Status, st.State.Status, st.State.Steps, report)
	}
	for _, s := range st.State.Steps {
		if s.Status == "failed" {
			t.Errorf("drill %s: step %s failed: %s", id, s.ID, s.Error)
		}
	}
	if !strings.Contains(report, name) {
		t.Errorf("report of %s does not name the plan:\n%s", id, report)
	}
	// The restores of the latest snapshots are rehearsed for real; media-files, which the local
	// stack does not have, falls back to its manual strategy.
	for _, s := range st.State.Steps {
		switch s.ID {
		case "restore-latest", "restore-database":
			if s.Status != "succeeded" || s.Strategy != "latest-snapshot" || !strings.Contains(s.Summary, "rehearsed: restored") {
				t.Errorf("drill %s: step %s was not rehearsed: %+v", id, s.ID, s)
			}
		case "restore-files":
			if s.Status != "succeeded" || s.Strategy != "by-hand" {
				t.Errorf("drill %s: step %s: %+v, want its manual strategy", id, s.ID, s)
			}
		}
	}
}

// checkReadinessAfterDrills checks, once every example plan was drilled, that each drill left a
// signed evidence record that verifies, that readiness (the CLI and the worker's page) counts every
// plan as drilled with the RTO its drill measured, and that a record edited in the store fails
// verification and no longer counts.
func checkReadinessAfterDrills(t *testing.T, d *devStack, lifeboat func(...string) (string, string, int)) {
	t.Helper()
	if out, errOut, code := lifeboat("evidence", "verify"); code != 0 {
		t.Fatalf("lifeboat evidence verify: exit %d\n%s%s", code, out, errOut)
	}
	type planState struct {
		Name       string `json:"name"`
		State      string `json:"state"`
		LastPassed *struct {
			RTO int64 `json:"rto"`
		} `json:"last_passed"`
	}
	readiness := func() (map[string]planState, []string) {
		out, errOut, code := lifeboat("readiness", "-o", "json")
		if code != 0 && code != 3 {
			t.Fatalf("lifeboat readiness: exit %d\n%s%s", code, out, errOut)
		}
		var r struct {
			Plans    []planState `json:"plans"`
			Problems []string    `json:"problems"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("readiness -o json: %v\n%s", err, out)
		}
		m := map[string]planState{}
		for _, p := range r.Plans {
			m[p.Name] = p
		}
		return m, r.Problems
	}
	plans, problems := readiness()
	if len(plans) != 9 || len(problems) != 0 {
		t.Errorf("readiness: %d plans, problems %v", len(plans), problems)
	}
	for name, p := range plans {
		if p.State != "drilled" || p.LastPassed == nil || p.LastPassed.RTO <= 0 {
			t.Errorf("readiness of %s after its drill: %+v", name, p)
		}
	}
	page := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/readiness", d.httpPort))
	if !strings.Contains(page, `data-plan="primary-db-lost" data-state="drilled"`) {
		t.Errorf("the readiness page does not show primary-db-lost drilled:\n%s", page)
	}

	// An edited record: verification fails and names it, and the drill no longer counts.
	records, err := filepath.Glob(filepath.Join(d.dataDir, "evidence", "evidence", "*_drill_primary-db-lost_*"))
	if err != nil || len(records) != 1 {
		t.Fatalf("the drill record of primary-db-lost: %v %v", records, err)
	}
	b, err := os.ReadFile(records[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `"payload": "ey`, `"payload": "ez`, 1)
	if edited == string(b) {
		t.Fatalf("no payload to edit in %s", b)
	}
	if err := os.WriteFile(records[0], []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := lifeboat("evidence", "verify")
	if code == 0 || !strings.Contains(out+errOut, "primary-db-lost") {
		t.Errorf("lifeboat evidence verify after an edit: exit %d\n%s%s", code, out, errOut)
	}
	plans, problems = readiness()
	if p := plans["primary-db-lost"]; p.State != "never drilled" || len(problems) == 0 {
		t.Errorf("readiness of primary-db-lost with its record edited: %+v, problems %v", p, problems)
	}
}

// httpGet returns the body of a GET of url, failing the test on any error or a status other than 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, res.StatusCode, err, b)
	}
	return string(b)
}

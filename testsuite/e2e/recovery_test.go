package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const failoverPlanYAML = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders-failover, description: Promote the orders replica when the primary is lost}
spec:
  scenario: The orders primary database is lost
  objectives: {rto: 10s, rpo: 5s}
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  groups: [{id: dba, members: [alice, bob]}]
  steps:
    - id: check-primary
      action: postgres.replication_status
      with: {dsn_secret: orders-primary}
      impact: optional
    - id: check-replica
      action: postgres.replication_status
      with: {dsn_secret: orders-replica}
    - id: approve
      needs: [check-primary, check-replica]
      approval: {approvers: [dba], timeout: 10m}
    - id: fence
      needs: [approve]
      when: 'steps.check-primary.outputs.reachable == true'
      action: postgres.fence
      with: {dsn_secret: orders-primary}
      compensate: {action: postgres.unfence, with: {dsn_secret: orders-primary}}
    - id: promote
      needs: [approve]
      action: postgres.promote
      with: {dsn_secret: orders-replica, wait: 30s}
    - id: write-probe
      needs: [promote]
      action: postgres.write_probe
      with: {dsn_secret: orders-replica}
    - id: no-data-lost
      needs: [promote]
      action: postgres.sql_check
      with: {dsn_secret: orders-replica, query: "SELECT count(*) FROM orders", expect: "500"}
`

// killPostmaster ends a PostgreSQL server with SIGKILL, as a machine that dies would, and waits
// until it no longer answers.
func killPostmaster(t *testing.T, c *pgtest.Cluster) {
	t.Helper()
	f, err := os.Open(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		cancel()
		if err != nil {
			return
		}
		conn.Close(context.Background())
		if time.Now().After(deadline) {
			t.Fatal("the killed primary still answers")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailoverDrillOnRealPostgres is the real drill: a PostgreSQL primary with a streaming replica;
// the primary is killed with SIGKILL; the failover plan runs on the real dev server in a worker
// process; the approval is given through the real temporal CLI; the replica is promoted, takes
// writes and holds every committed row; RTO is measured against the plan's objective.
func TestFailoverDrillOnRealPostgres(t *testing.T) {
	t.Parallel()
	temporal := devserver.Start(t)
	pg := pgtest.Start(t, pgtest.WithReplica())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL);
		INSERT INTO orders (item) SELECT 'item-' || g FROM generate_series(1, 500) g`); err != nil {
		t.Fatal(err)
	}
	var lsn string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	// The replica has what was committed (synchronous replication is not configured, so wait).
	rconn, err := pgx.Connect(ctx, pg.Replica.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		if rconn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n) == nil && n == 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica did not catch up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rconn.Close(ctx)

	// Until it dies, the primary takes a small write every 20 ms, as a live service would: the
	// drill measures how much of that the promoted replica has.
	hconn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hconn.Exec(ctx, "CREATE TABLE heartbeat (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"); err != nil {
		t.Fatal(err)
	}
	// ackedAt[i] is when the primary acknowledged the commit of heartbeat i+1.
	writerDone := make(chan []time.Time)
	go func() {
		var ackedAt []time.Time
		for {
			if _, err := hconn.Exec(ctx, "INSERT INTO heartbeat DEFAULT VALUES"); err != nil {
				writerDone <- ackedAt
				return
			}
			ackedAt = append(ackedAt, time.Now())
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "orders-failover.yaml"), failoverPlanYAML)
	if _, err := plan.Parse([]byte(failoverPlanYAML)); err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: ${TEMPORAL_ADDRESS}
identity: trust-client
http:
  listen: %s
secrets:
  orders-primary: "%s&connect_timeout=2"
  orders-replica: %s
recovery:
  plans_dir: plans
log:
  format: text
`, httpAddr, pg.DSN("postgres"), pg.Replica.DSN("postgres")))
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporal.HostPort)
	worker := startWorker(t, configPath, env, "http://"+httpAddr)
	defer worker.Stop()
	c := temporal.Dial(t, client.Options{})

	incident := time.Now()
	killPostmaster(t, pg)
	ackedAt := <-writerDone

	temporalCLI := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", temporal.HostPort)...).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	started := time.Now()
	temporalCLI("workflow", "start", "--task-queue", workflows.DefaultTaskQueue, "--type", workflows.RecoveryWorkflow,
		"--workflow-id", "recovery-orders", "--input", fmt.Sprintf(`{"plan":"orders-failover","requester":"alice","reason":"primary lost","incident_at":%q}`, incident.UTC().Format(time.RFC3339Nano)))
	// Approve as soon as the gate is open, through the temporal CLI, as bob.
	for deadline := time.Now().Add(time.Minute); ; {
		out, err := exec.Command(repo.Bin(t, "temporal"), "workflow", "update", "execute", "--address", temporal.HostPort,
			"--workflow-id", "recovery-orders", "--name", "decide", "--input", `{"gate":"approve","approve":true,"identity":"bob","channel":"temporal"}`).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approval not taken: %v\n%s\n%s", err, out, worker.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var r workflows.RecoveryResult
	if err := c.GetWorkflow(ctx, "recovery-orders", "").Get(ctx, &r); err != nil {
		t.Fatalf("recovery: %v\n%s", err, worker.Tail())
	}
	wall := time.Since(started)
	byID := map[string]workflows.StepState{}
	for _, s := range r.Steps {
		byID[s.ID] = s
	}
	if byID["check-primary"].Outputs["reachable"] != false || byID["fence"].Status != plan.StatusSkipped {
		t.Fatalf("the dead primary: check %+v, fence %+v", byID["check-primary"], byID["fence"])
	}
	for _, id := range []string{"check-replica", "approve", "promote", "write-probe", "no-data-lost"} {
		if byID[id].Status != plan.StatusSucceeded {
			t.Fatalf("step %s: %+v", id, byID[id])
		}
	}
	if byID["write-probe"].Outputs["ok"] != true || byID["no-data-lost"].Outputs["ok"] != true {
		t.Fatalf("validation: %+v %+v", byID["write-probe"], byID["no-data-lost"])
	}
	if a := byID["approve"].Approval; a == nil || len(a.Decisions) != 1 || a.Decisions[0].Identity != "bob" || a.Decisions[0].Channel != "temporal" {
		t.Fatalf("approval record: %+v", a)
	}
	// The promoted replica is a primary that holds every row the old primary committed.
	nconn, err := pgx.Connect(ctx, pg.Replica.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close(ctx)
	var inRecovery bool
	var lost int64
	if err := nconn.QueryRow(ctx, "SELECT pg_is_in_recovery(), greatest(0, pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()))::bigint", lsn).Scan(&inRecovery, &lost); err != nil {
		// After promotion pg_last_wal_replay_lsn is the last replayed position; NULL means none.
		if err := nconn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			t.Fatal(err)
		}
	}
	if inRecovery {
		t.Fatal("the replica is still in recovery")
	}
	// The RPO is measured from the promoted replica's last replayed commit to the incident: the
	// newest heartbeat it holds is no later than that commit, and the commit no later than the kill.
	var kept int
	var newest time.Time
	if err := nconn.QueryRow(ctx, "SELECT count(*), max(at) FROM heartbeat").Scan(&kept, &newest); err != nil {
		t.Fatal(err)
	}
	if r.RPO == nil || r.RPOStep != "promote" || r.RecoveryPoint.Before(newest) || r.RecoveryPoint.After(incident) || !r.IncidentAt.Equal(incident.UTC().Truncate(time.Nanosecond)) {
		t.Fatalf("RPO %v from step %q: recovery point %s, incident %s; want a recovery point between the newest heartbeat kept (%s) and the kill (%s)",
			r.RPO, r.RPOStep, r.RecoveryPoint, r.IncidentAt, newest, incident)
	}
	t.Logf("RPO %s (objective %s, met %v): %d of %d acknowledged heartbeat writes kept (replication is asynchronous), newest from %s before the kill",
		r.RPO.Human(), r.Objectives.RPO.Human(), r.RPOMet != nil && *r.RPOMet, kept, len(ackedAt), incident.Sub(newest).Round(time.Millisecond))
	// Every write lost falls in the window: none was acknowledged before the recovery point.
	if kept > len(ackedAt) {
		t.Fatalf("%d heartbeats kept, but only %d were acknowledged", kept, len(ackedAt))
	}
	for i, at := range ackedAt[kept:] {
		if !at.After(r.RecoveryPoint) {
			t.Errorf("heartbeat %d, acknowledged at %s, is lost though it precedes the recovery point %s", kept+i+1, at, r.RecoveryPoint)
		}
	}
	t.Logf("RTO %s (objective %s, met %v): plan start to a validated promoted primary; wall time from the CLI's start %s; promote step %s; data lost behind the last commit: %d bytes of WAL",
		r.RTO.Human(), r.Objectives.RTO.Human(), r.RTOMet != nil && *r.RTOMet, wall.Round(time.Millisecond), byID["promote"].Duration.Human(), lost)
	if r.RTOMet == nil || !*r.RTOMet {
		t.Fatalf("RTO %s missed the 10s objective", r.RTO)
	}

	// The review, from the workflow's own record, through the CLI.
	lifeboat := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "lifeboat"), append([]string{"--config", configPath}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	md := lifeboat("report", "recovery-orders")
	for _, want := range []string{"orders-failover", "bob", "promote", "no-data-lost", "RTO", "RPO | objective 5s; achieved"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report does not mention %q:\n%s", want, md)
		}
	}
	htmlPath := filepath.Join(dir, "review.html")
	lifeboat("report", "recovery-orders", "--format", "html", "--out", htmlPath)
	if b, err := os.ReadFile(htmlPath); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("HTML report: %v", err)
	}
}

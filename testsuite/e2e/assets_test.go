package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// inbox is a webhook receiver that verifies signatures and keeps the messages.
type inbox struct {
	mu   sync.Mutex
	msgs []webhook.Payload
	bad  int
}

func newInbox(t *testing.T, secret string) (*inbox, string) {
	in := &inbox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		defer in.mu.Unlock()
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.HeaderTimestamp), string(body), r.Header.Get(webhook.HeaderSignature), time.Now(), time.Minute); err != nil {
			in.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		in.msgs = append(in.msgs, p)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL
}

func (in *inbox) find(event string) (webhook.Payload, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.msgs {
		if m.Event == event {
			return m, true
		}
	}
	return webhook.Payload{}, false
}

// startWorker runs lifeboat-worker with a configuration and waits until it is ready.
func startWorker(t *testing.T, configPath string, env []string, httpBase string) *repo.Process {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "lifeboat-worker"), "--config", configPath)
	cmd.Env = env
	proc := repo.StartProcess(t, "lifeboat-worker", cmd, syscall.SIGTERM)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(httpBase + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return proc
			}
		}
		select {
		case <-proc.Done():
			t.Fatalf("worker exited before it was ready: %v\n%s", proc.Err(), proc.Tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready after 60s:\n%s", proc.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitClosed waits for the newest workflow matching query to close and returns its ID and status.
func waitClosed(t *testing.T, c client.Client, query string, timeout time.Duration) (string, enumspb.WorkflowExecutionStatus) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err == nil {
			for _, e := range resp.GetExecutions() {
				if st := e.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					return e.GetExecution().GetWorkflowId(), st
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed workflow for %q after %s (last error %v)", query, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestScheduledBackupsVerifyAndRPOWatch runs the asset workflows on a real dev server with a real
// worker process: the schedules the worker made at start fire, a directory and a PostgreSQL
// database are backed up to MinIO, a restore drill started by the temporal CLI restores the
// database into a scratch database and passes its checks, and with the schedule paused the RPO
// watchdog alerts through a signed webhook.
func TestScheduledBackupsVerifyAndRPOWatch(t *testing.T) {
	t.Parallel() // most of it waits for the RPO to pass
	temporal := devserver.Start(t)
	pg := pgtest.Start(t)
	minio := miniotest.Start(t)
	minio.CreateBucket(t, "backups")
	ctx := context.Background()
	pg.CreateDatabase(t, "orders")
	conn, err := pgx.Connect(ctx, pg.DSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL);
		INSERT INTO orders (item) SELECT 'item-' || g FROM generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	site := t.TempDir()
	writeFile(t, filepath.Join(site, "index.html"), "<h1>shop</h1>")
	hooks, hookURL := newInbox(t, "hook-key")

	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	s3 := fmt.Sprintf("s3://backups/%%s?endpoint=%s&path_style=true&region=%s", minio.Endpoint, minio.Region)
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: ${TEMPORAL_ADDRESS}
identity: trust-client
http:
  listen: %s
worker:
  scratch_dir: %s
secrets:
  orders-dsn: %s
  repo-pass: e2e-passphrase
  hook-key: hook-key
notify:
  - name: ops
    log: true
    webhooks:
      - url: %s
        secret: hook-key
assets:
  - name: site
    source: {paths: {include: [%s]}}
    repository: {location: "%s", password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {last: 5}
    rpo: 2h
    notify: [ops]
  - name: orders
    source: {postgres: {dsn_secret: orders-dsn}}
    repository: {location: "%s", password_secret: repo-pass}
    schedule: {every: 1m}
    retention: {last: 5}
    rpo: 1m
    notify: [ops]
    verify:
      schedule: {cron: "0 3 * * *"}
      checks:
        - row_count: {table: orders, min_rows: 2000}
        - sql: {query: "SELECT max(item) FROM orders", expect: item-999}
log:
  format: text
`, httpAddr, t.TempDir(), pg.DSN("orders"), hookURL, site, fmt.Sprintf(s3, "site"), fmt.Sprintf(s3, "orders")))
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporal.HostPort,
		"AWS_ACCESS_KEY_ID="+minio.AccessKey, "AWS_SECRET_ACCESS_KEY="+minio.SecretKey)
	worker := startWorker(t, configPath, env, "http://"+httpAddr)
	defer worker.Stop()
	c := temporal.Dial(t, client.Options{})

	// The worker synced the schedules at start: trigger both backups as their schedules would fire.
	for _, asset := range []string{"site", "orders"} {
		h := c.ScheduleClient().GetHandle(ctx, workflows.BackupScheduleID(asset))
		desc, err := h.Describe(ctx)
		if err != nil {
			t.Fatalf("schedule of %s: %v\n%s", asset, err, worker.Tail())
		}
		if desc.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE || desc.Schedule.Policy.CatchupWindow != time.Hour {
			t.Fatalf("schedule policy %+v", desc.Schedule.Policy)
		}
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, asset := range []string{"site", "orders"} {
		id, status := waitClosed(t, c, fmt.Sprintf("LifeboatKind = 'backup' AND LifeboatAsset = '%s'", asset), 2*time.Minute)
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Fatalf("backup %s: %s\n%s", id, status, worker.Tail())
		}
		var r workflows.BackupResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &r); err != nil || r.Snapshot == nil || !strings.HasPrefix(r.Snapshot.Location, "s3://backups/"+asset) {
			t.Fatalf("backup %s: %+v %v", id, r, err)
		}
	}

	// A drill started the way the README shows, with the temporal CLI.
	out, err := exec.Command(repo.Bin(t, "temporal"), "workflow", "start", "--address", temporal.HostPort, "--task-queue", workflows.DefaultTaskQueue,
		"--type", workflows.VerifyWorkflow, "--workflow-id", "drill-orders", "--input", `{"asset":"orders","trigger":"e2e"}`).CombinedOutput()
	if err != nil {
		t.Fatalf("temporal workflow start: %v\n%s", err, out)
	}
	var ev workflows.Evidence
	if err := c.GetWorkflow(ctx, "drill-orders", "").Get(ctx, &ev); err != nil {
		t.Fatalf("drill: %v\n%s", err, worker.Tail())
	}
	if !ev.Passed || ev.Restore == nil || !strings.HasPrefix(ev.Restore.Database, "lifeboat_verify_orders_") || len(ev.Checks.Checks) != 2 || ev.Checks.Checks[0].Value != "2000" {
		t.Fatalf("evidence %+v", ev)
	}
	// The scratch database is gone.
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var scratch int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_verify_%'").Scan(&scratch); err != nil || scratch != 0 {
		t.Fatalf("%d scratch databases left (%v)", scratch, err)
	}
	// The watchdog keeps the drill as the last verified restore point.
	var status workflows.RPOStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := c.QueryWorkflow(ctx, workflows.WatchdogID("orders"), "", workflows.QueryStatus)
		if err == nil && v.Get(&status) == nil && status.LastVerified != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchdog status %+v, %v", status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status.LastVerified.Workflow != "drill-orders" || status.LastSnapshot == "" {
		t.Fatalf("watchdog status %+v", status)
	}

	// Pause the orders schedule: within a minute of the last backup the watchdog alerts.
	if err := c.ScheduleClient().GetHandle(ctx, workflows.BackupScheduleID("orders")).Pause(ctx, client.SchedulePauseOptions{Note: "e2e"}); err != nil {
		t.Fatal(err)
	}
	deadline = status.LastBackup.Add(time.Minute + 45*time.Second)
	for {
		if m, ok := hooks.find("rpo.stale"); ok {
			if m.Asset != "orders" || m.Severity != notify.Warning || !strings.Contains(m.Title, "outside its RPO") {
				t.Fatalf("alert %+v", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rpo.stale alert by %s (bad signatures: %d)\n%s", deadline.Format(time.RFC3339), hooks.bad, worker.Tail())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if hooks.bad != 0 {
		t.Fatalf("%d webhook deliveries with bad signatures", hooks.bad)
	}
}

// TestBackupResumesAfterTheWorkerIsKilled kills the worker with SIGKILL in the middle of a large
// backup, once the repository holds a checkpoint, and starts another: the retried activity
// completes the same backup and stores only what the first attempt had not.
func TestBackupResumesAfterTheWorkerIsKilled(t *testing.T) {
	t.Parallel()
	temporal := devserver.Start(t)
	src := t.TempDir()
	// 640 MiB of incompressible data in 20 files.
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 32<<20)
	for i := range 20 {
		_, _ = rng.Read(buf)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("part-%02d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repoDir := filepath.Join(t.TempDir(), "repo")
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: ${TEMPORAL_ADDRESS}
identity: trust-client
http:
  listen: %s
secrets:
  repo-pass: e2e-passphrase
schedules:
  sync_on_start: false
assets:
  - name: bulk
    source: {paths: {include: [%s]}}
    repository: {location: %s, password_secret: repo-pass}
    schedule: {every: 24h}
    retention: {last: 5}
    rpo: 48h
log:
  format: text
`, httpAddr, src, repoDir))
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporal.HostPort)
	worker := startWorker(t, configPath, env, "http://"+httpAddr)
	c := temporal.Dial(t, client.Options{})
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "backup-bulk-e2e", TaskQueue: workflows.DefaultTaskQueue},
		workflows.BackupWorkflow, workflows.BackupInput{Asset: "bulk", SkipRetention: true})
	if err != nil {
		t.Fatal(err)
	}
	// Kill it once a checkpoint index is written and the server holds a heartbeat with progress.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// A complete index file: not one still being written (".tmp-" in its name) when the kill comes.
		idx := 0
		entries, _ := os.ReadDir(filepath.Join(repoDir, "index"))
		for _, e := range entries {
			if !strings.Contains(e.Name(), ".tmp-") {
				idx++
			}
		}
		beat := false
		if desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), ""); err == nil {
			for _, pa := range desc.GetPendingActivities() {
				beat = beat || (pa.GetActivityType().GetName() == "BackupAsset" && pa.GetHeartbeatDetails() != nil)
			}
		}
		if idx > 0 && beat {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint within 2 minutes\n%s", worker.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := worker.Kill(); err != nil {
		t.Fatal(err)
	}
	storedAtKill := dirSize(t, filepath.Join(repoDir, "data"))

	worker = startWorker(t, configPath, env, "http://"+httpAddr)
	defer worker.Stop()
	var r workflows.BackupResult
	if err := run.Get(ctx, &r); err != nil {
		t.Fatalf("backup after the restart: %v\n%s", err, worker.Tail())
	}
	total := dirSize(t, filepath.Join(repoDir, "data"))
	if r.Resumed == nil || r.Resumed.BytesDone == 0 {
		t.Fatalf("the retry does not know it resumed: %+v\n%s", r, worker.Tail())
	}
	t.Logf("first attempt stored %d MiB before SIGKILL (its last heartbeat: %d MiB read); the retry stored %d MiB more; the repository holds %d MiB for a %d MiB snapshot",
		storedAtKill>>20, r.Resumed.BytesDone>>20, r.Snapshot.StoredAdded>>20, total>>20, r.Snapshot.Bytes>>20)
	if r.Snapshot.Bytes != 20*32<<20 || r.Snapshot.Files != 20 {
		t.Fatalf("snapshot %+v", r.Snapshot)
	}
	// What the first attempt checkpointed is not stored again: the retry added less than the whole.
	if r.Snapshot.StoredAdded >= r.Snapshot.Bytes || storedAtKill < 100<<20 {
		t.Fatalf("retry stored %d of %d bytes; %d stored before the kill", r.Snapshot.StoredAdded, r.Snapshot.Bytes, storedAtKill)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/testsuite/cluster"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// binDir holds lifeboat and lifeboat-worker, built for this run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lifeboat-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, pkg := range map[string]string{"lifeboat": "../../starter", "lifeboat-worker": "../../worker"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	repoPassword = "cluster-repo-passphrase"
	hookSecret   = "cluster-hook-secret"
	planName     = "site-lost"
)

// planYAML announces, waits for bob's approval, restores asset a1 into the target, tells everyone
// and sends the all-clear.
const planYAML = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: %s, description: Bring the site's files back from the last snapshot}
spec:
  scenario: The site's files are lost
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  steps:
    - id: announce
      notify: {to: [bob], message: restoring the site from its last snapshot}
    - id: approve
      needs: [announce]
      approval: {approvers: [bob], timeout: 30m}
    - id: restore
      needs: [approve]
      action: restore.asset
      with: {asset: a1, target_dir: %q}
    - id: tell
      needs: [restore]
      action: notify
      with: {message: the site's files are back}
    - id: all-clear
      needs: [tell]
      notify: {to: [alice, bob], message: all clear}
`

// What the tests read of the workflows' results, as a client outside Lifeboat sees them.
type (
	backupResult struct {
		Snapshot *struct {
			ID string `json:"id"`
		} `json:"snapshot"`
	}
	recoveryResult struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
)

// taskQueue is the task queue the workers poll: the default.
const taskQueue = "lifeboat"

// stack is the cluster, three Lifeboat workers sharing one configuration, and what they back up.
type stack struct {
	t       *testing.T
	cluster *cluster.Cluster
	client  client.Client
	config  string
	env     []string
	inbox   *chaos.Inbox
	repo    string            // the one repository every asset backs up to
	data    map[string]string // asset → its directory
	trees   map[string]chaos.Tree
	roots   string // restore root

	mu      sync.Mutex
	workers []*cluster.Worker
	started int
}

// TestCluster runs Lifeboat on a Temporal cluster of separate frontend, history, matching and
// worker processes on PostgreSQL with four history shards, with three Lifeboat workers: backups from
// several workers into one repository, a recovery plan approved with the temporal CLI, a drill,
// and faults — a worker SIGKILLed mid-backup and mid-plan, the history service restarted mid-plan.
// Every job completes, nothing is sent twice, and restores are byte-identical.
func TestCluster(t *testing.T) {
	s := startStack(t)
	t.Run("backups from three workers into one repository, one worker killed mid-backup", s.backups)
	t.Run("recovery plan approved with the temporal CLI, a worker killed and history restarted mid-plan", s.recovery)
	t.Run("drill", s.drill)
}

func startStack(t *testing.T) *stack {
	c := cluster.Start(t)
	dir := t.TempDir()
	s := &stack{t: t, cluster: c, client: c.Dial(t), repo: filepath.Join(dir, "repo"), roots: filepath.Join(dir, "restores"),
		data: map[string]string{}, trees: map[string]chaos.Tree{}}
	s.inbox = chaos.NewInbox(hookSecret, 0, 1)
	t.Cleanup(s.inbox.Close)
	plans := filepath.Join(dir, "plans")
	for _, d := range []string{plans, s.roots} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(plans, planName+".yaml"), []byte(fmt.Sprintf(planYAML, planName, filepath.Join(s.roots, "site"))), 0o644); err != nil {
		t.Fatal(err)
	}
	var assets strings.Builder
	for i, name := range []string{"a1", "a2", "a3"} {
		data := filepath.Join(dir, "data", name)
		// Big enough that a backup is still running when a worker is killed.
		if err := chaos.WriteDataset(data, uint64(i+1), chaos.Dataset{RandomFiles: 6, RandomSize: 8 << 20, SmallFiles: 300, SmallMax: 8 << 10, Symlinks: 5}); err != nil {
			t.Fatal(err)
		}
		tree, err := chaos.ReadTree(data)
		if err != nil {
			t.Fatal(err)
		}
		s.data[name], s.trees[name] = data, tree
		fmt.Fprintf(&assets, "  - name: %s\n    source: {paths: {include: [%s]}}\n    repository: {location: %q, password_secret: repo-pass}\n", name, data, s.repo)
		assets.WriteString("    schedule: {every: 24h}\n    retention: {last: 5}\n    rpo: 48h\n")
		assets.WriteString("    verify:\n      schedule: {every: 168h}\n      checks:\n        - {file: blob-00.bin}\n")
	}
	s.config = filepath.Join(dir, "lifeboat.yaml")
	config := fmt.Sprintf(`temporal:
  address: ${TEMPORAL_ADDRESS}
log:
  format: text
identity: trust-client
worker:
  shutdown_timeout: 5s
  # One activity at a time per worker: concurrent backups have to spread over the workers.
  max_concurrent_activities: 1
  scratch_dir: %[1]s
  restore_roots: [%[1]s]
schedules:
  sync_on_start: false
secrets:
  repo-pass: %[2]q
  hook-key: %[3]q
notify:
  - name: default
    webhooks:
      - {url: %[4]q, secret: hook-key, attempts: 5, timeout: 5s}
recovery:
  plans_dir: %[5]s
assets:
%[6]s`, s.roots, repoPassword, hookSecret, s.inbox.URL, plans, assets.String())
	if err := os.WriteFile(s.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"TEMPORAL_ADDRESS=" + c.Address(), "TEMPORAL_NAMESPACE=" + c.Namespace()}
	for range 3 {
		s.addWorker()
	}
	return s
}

// addWorker starts one more lifeboat-worker.
func (s *stack) addWorker() *cluster.Worker {
	s.mu.Lock()
	s.started++
	name := fmt.Sprintf("lifeboat-worker-%d", s.started)
	s.mu.Unlock()
	w := cluster.StartWorker(s.t, name, filepath.Join(binDir, "lifeboat-worker"), s.config, s.env...)
	s.mu.Lock()
	s.workers = append(s.workers, w)
	s.mu.Unlock()
	return w
}

// kill SIGKILLs the worker whose identity is identity and starts a replacement.
func (s *stack) kill(t *testing.T, identity string) {
	t.Helper()
	s.mu.Lock()
	var victim *cluster.Worker
	for i, w := range s.workers {
		if w.Identity() == identity {
			victim = w
			s.workers = slices.Delete(s.workers, i, i+1)
			break
		}
	}
	s.mu.Unlock()
	if victim == nil {
		t.Fatalf("no running worker has identity %q", identity)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s (%s)", victim.Name, identity)
	s.addWorker()
}

// lifeboat runs the CLI against the cluster.
func (s *stack) lifeboat(args ...string) (string, error) { return s.lifeboatEnv(nil, args...) }

// lifeboatEnv runs the CLI against the cluster with env added to its environment.
func (s *stack) lifeboatEnv(env []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), append([]string{"--config", s.config}, args...)...)
	cmd.Env = append(append(os.Environ(), s.env...), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lifeboat %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// temporalCLI runs the real temporal CLI against the cluster.
func (s *stack) temporalCLI(args ...string) (string, error) {
	cmd := exec.Command(repo.Bin(s.t, "temporal"), append(args, "--address", s.cluster.Address(), "--namespace", s.cluster.Namespace())...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("temporal %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// runningActivity waits until workflow id, or a child workflow of it, has a started pending
// activity of type activityType and returns the identity of the worker running it.
func (s *stack) runningActivity(t *testing.T, id, activityType string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if who := s.findActivity(id, activityType); who != "" {
			return who
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no %s activity started within 3 minutes", id, activityType)
	return ""
}

func (s *stack) findActivity(id, activityType string) string {
	d, err := s.client.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return ""
	}
	for _, a := range d.GetPendingActivities() {
		if a.GetActivityType().GetName() == activityType && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && a.GetLastWorkerIdentity() != "" {
			return a.GetLastWorkerIdentity()
		}
	}
	for _, c := range d.GetPendingChildren() {
		if who := s.findActivity(c.GetWorkflowId(), activityType); who != "" {
			return who
		}
	}
	return ""
}

// result waits for workflow id to end, riding out a restarting service, and decodes its result.
func (s *stack) result(t *testing.T, id string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		err := s.client.GetWorkflow(ctx, id, "").Get(ctx, into)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: no result: %v", id, err)
		}
		var failed *temporal.WorkflowExecutionError
		if errors.As(err, &failed) {
			t.Fatalf("%s failed: %v", id, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// identities lists the workers that started activities of workflow id, by activity type.
func (s *stack) identities(t *testing.T, id string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	types := map[int64]string{}
	it := s.client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			typ := types[a.GetScheduledEventId()]
			out[typ] = append(out[typ], a.GetIdentity())
		}
	}
	return out
}

func (s *stack) backups(t *testing.T) {
	ctx := context.Background()
	ids := map[string]string{}
	for _, asset := range []string{"a1", "a2", "a3"} {
		id := "cluster-backup-" + asset
		if _, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue},
			"Backup", map[string]any{"asset": asset, "trigger": "cluster-test", "skip_retention": true}); err != nil {
			t.Fatal(err)
		}
		ids[asset] = id
	}
	// Kill the worker running a2's backup while it writes.
	killed := s.runningActivity(t, ids["a2"], "BackupAsset")
	s.kill(t, killed)

	workersUsed := map[string]bool{}
	for _, asset := range []string{"a1", "a2", "a3"} {
		var r backupResult
		s.result(t, ids[asset], &r)
		if r.Snapshot == nil {
			t.Fatalf("backup of %s: no snapshot: %+v", asset, r)
		}
		// A history records only the attempt that ended the activity.
		for _, who := range s.identities(t, ids[asset])["BackupAsset"] {
			workersUsed[who] = true
			if asset == "a2" && who == killed {
				t.Errorf("a2's backup ended on %s, which was killed while running it", who)
			}
		}
	}
	if len(workersUsed) < 2 {
		t.Errorf("backups ended on %d worker (%v): want several workers writing to the one repository", len(workersUsed), workersUsed)
	}
	// The repository holds one snapshot per backup, none twice, and checks clean with every blob
	// read, although a writer died in the middle.
	repoEnv := []string{"LIFEBOAT_REPO=" + s.repo, "LIFEBOAT_REPO_PASSWORD=" + repoPassword}
	out, err := s.lifeboatEnv(repoEnv, "repo", "snapshots", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(out), &snaps); err != nil || len(snaps) != 3 {
		t.Fatalf("the repository holds %d snapshots, want 3 (%v):\n%s", len(snaps), err, out)
	}
	if out, err := s.lifeboatEnv(repoEnv, "repo", "check", "--read-data"); err != nil {
		t.Fatalf("repo check after a writer was killed: %v\n%s", err, out)
	}
	// Every snapshot in the one repository restores byte-identical, whichever worker wrote it.
	for _, asset := range []string{"a1", "a2", "a3"} {
		target := filepath.Join(s.roots, "check-"+asset)
		id := "cluster-restore-" + asset
		if _, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue},
			"Restore", map[string]any{"asset": asset, "target_dir": target, "requester": "cluster-test"}); err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		s.result(t, id, &r)
		s.sameTree(t, asset, target)
	}
}

// sameTree fails unless dir holds exactly what asset's data directory holds.
func (s *stack) sameTree(t *testing.T, asset, dir string) {
	t.Helper()
	got, err := chaos.ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.trees[asset].Diff(got, chaos.Compare{}, 10); len(d) > 0 {
		t.Fatalf("restore of %s into %s differs: %s", asset, dir, strings.Join(d, "; "))
	}
}

// started is what `lifeboat failover|drill --no-wait -o json` prints.
type started struct {
	WorkflowID string `json:"workflow_id"`
}

func (s *stack) startPlan(t *testing.T, verb string) string {
	t.Helper()
	out, err := s.lifeboat(verb, planName, "--requester", "alice", "--reason", "cluster test", "--no-wait", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st started
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.WorkflowID == "" {
		t.Fatalf("lifeboat %s printed %q: %v", verb, out, err)
	}
	return st.WorkflowID
}

// approveWithTemporalCLI decides the gate as the README shows, with the stock temporal CLI,
// trying again until the gate is open.
func (s *stack) approveWithTemporalCLI(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, err := s.temporalCLI("workflow", "update", "execute", "--workflow-id", id, "--name", "decide",
			"--input", `{"gate":"approve","approve":true,"identity":"bob"}`)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (s *stack) recovery(t *testing.T) {
	id := s.startPlan(t, "failover")
	// The announcement went out: kill the worker that sent it, which holds the run in its cache.
	deadline := time.Now().Add(2 * time.Minute)
	var announcer string
	for announcer == "" {
		for typ, who := range s.identities(t, id) {
			if strings.Contains(typ, "Notify") && len(who) > 0 {
				announcer = who[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing announced within 2 minutes", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.kill(t, announcer)
	// Restart the history service while the plan waits at its gate.
	if err := s.cluster.Restart(context.Background(), "history"); err != nil {
		t.Fatal(err)
	}
	// alice started the plan: the workflow refuses her approval.
	if out, err := s.temporalCLI("workflow", "update", "execute", "--workflow-id", id, "--name", "decide",
		"--input", `{"gate":"approve","approve":true,"identity":"alice"}`); err == nil {
		t.Fatalf("the requester approved her own plan:\n%s", out)
	}
	s.approveWithTemporalCLI(t, id)
	// Kill the worker running the restore step, mid-restore.
	s.kill(t, s.runningActivity(t, id, "RestoreAsset"))

	var res recoveryResult
	s.result(t, id, &res)
	if res.Status != "succeeded" {
		t.Fatalf("plan ended %s: %s", res.Status, res.Error)
	}
	s.sameTree(t, "a1", filepath.Join(s.roots, "site"))
	tally := chaos.TallyDeliveries(s.inbox.Deliveries())
	if twice := tally.Twice(); len(twice) > 0 {
		t.Fatalf("notifications sent twice: %s", strings.Join(twice, "; "))
	}
	var keys []string
	for k := range tally.Notifications {
		if strings.Contains(k, id) {
			keys = append(keys, k)
		}
	}
	if len(keys) < 3 {
		t.Fatalf("the plan's announcement, update and all-clear did not all arrive: %v", keys)
	}
}

func (s *stack) drill(t *testing.T) {
	target := filepath.Join(s.roots, "site")
	if err := os.RemoveAll(target); err != nil {
		t.Fatal(err)
	}
	id := s.startPlan(t, "drill")
	s.approveWithTemporalCLI(t, id)
	var res recoveryResult
	s.result(t, id, &res)
	if res.Status != "succeeded" {
		t.Fatalf("drill ended %s: %s", res.Status, res.Error)
	}
	// The drill rehearsed the restore in scratch space; the plan's real target was never written.
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the drill wrote the plan's production target %s: %v", target, err)
	}
}

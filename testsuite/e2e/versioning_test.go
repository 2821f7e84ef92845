package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// release is one running version of lifeboat-worker.
type release struct {
	version  string // the binary's version, which names its build
	proc     *repo.Process
	identity string // the worker identity its tasks are recorded with
}

// buildRelease builds lifeboat-worker as version into dir, as `make build` stamps it.
func buildRelease(t *testing.T, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, "lifeboat-worker-"+version)
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", bin, "../../worker").CombinedOutput()
	if err != nil {
		t.Fatalf("build lifeboat-worker %s: %v\n%s", version, err, out)
	}
	return bin
}

// upgradingDoc holds the bash blocks of docs/upgrading.md, each named by the
// "<!-- upgrading: NAME -->" line before it: the commands of a rollout, which need a deployment
// with two releases running and so are not run on the local stack.
type upgradingDoc struct {
	blocks map[string]string
	ran    map[string]bool
}

func readUpgradingDoc(t *testing.T) *upgradingDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo.Root(t), "docs", "upgrading.md"))
	if err != nil {
		t.Fatal(err)
	}
	d := &upgradingDoc{blocks: map[string]string{}, ran: map[string]bool{}}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		lang, start := m[1], i
		var body []string
		for i++; i < len(lines) && fence.FindStringSubmatch(lines[i]) == nil; i++ {
			body = append(body, lines[i])
		}
		if lang != "bash" {
			continue
		}
		name := ""
		for j := start - 1; j >= 0; j-- {
			if l := strings.TrimSpace(lines[j]); l != "" {
				name, _ = strings.CutPrefix(l, "<!-- upgrading: ")
				name, _ = strings.CutSuffix(name, " -->")
				if name == l {
					t.Fatalf("docs/upgrading.md:%d: a bash block without an <!-- upgrading: NAME --> line before it", start+1)
				}
				break
			}
		}
		if _, dup := d.blocks[name]; dup {
			t.Fatalf("docs/upgrading.md:%d: a second block named %q", start+1, name)
		}
		d.blocks[name] = strings.Join(body, "\n")
	}
	if len(d.blocks) == 0 {
		t.Fatal("docs/upgrading.md: no bash blocks: the extraction is broken")
	}
	return d
}

// run runs the block named name with bash, as documented, against the dev server, with OLD and NEW
// the build IDs of the running and the new release, and returns its output.
func (d *upgradingDoc) run(t *testing.T, name, hostPort, old, new string) (string, error) {
	t.Helper()
	script, ok := d.blocks[name]
	if !ok {
		t.Fatalf("docs/upgrading.md has no block named %q", name)
	}
	d.ran[name] = true
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(repo.Bin(t, "temporal"))+":"+os.Getenv("PATH"),
		"TEMPORAL_ADDRESS="+hostPort, "OLD="+old, "NEW="+new)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docs/upgrading.md block %q: %v\n%s", name, err, out)
	}
	return string(out), nil
}

// TestANewReleaseLeavesRunningWorkToFinish rolls a new release of lifeboat-worker onto a running
// deployment with the commands of docs/upgrading.md, run by bash with the real temporal CLI.
// Release 1.0.0 runs a recovery that waits at its approval gate and two health probes that keep
// trying; release 2.0.0 starts beside it, is ramped (the ramp taken away and given again) and made
// current; then the gate is approved.
// The recovery (AutoUpgrade) completes on 2.0.0, new work starts there (and on 1.0.0 while it is
// rolled back to), one probe (Pinned) ends on 1.0.0, the other is moved off 1.0.0 once its workers
// are gone, and 1.0.0 drains.
func TestANewReleaseLeavesRunningWorkToFinish(t *testing.T) {
	doc := readUpgradingDoc(t)
	// Drainage is checked every 3 minutes by default; every second here.
	temporal := devserver.Start(t, devserver.WithArgs(
		"--dynamic-config-value", `matching.wv.VersionDrainageStatusRefreshInterval="1s"`,
		"--dynamic-config-value", `matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"`,
	), devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword", "LifeboatAsset": "Keyword", "LifeboatPhase": "Keyword", "LifeboatResult": "Keyword", "LifeboatOwner": "Keyword",
	}))
	dir := t.TempDir()
	v1Bin, v2Bin := buildRelease(t, dir, "1.0.0"), buildRelease(t, dir, "2.0.0")
	t.Log("built")

	// The checks at /a and /b fail until the test flips them, keeping the probes that run them going.
	var aUp, bUp atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == "/a" && !aUp.Load()) || (r.URL.Path == "/b" && !bUp.Load()) {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer target.Close()
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	if err := os.Mkdir(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "orders-db-failover.yaml"), fmt.Sprintf(`
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders-db-failover}
spec:
  scenario: A recovery that waits for its go-ahead while a new release rolls out
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  steps:
    # A timeout over 5s makes each check an activity, whose history names the worker that ran it.
    - id: before
      action: check.tcp
      with: {address: "%[1]s", timeout: 30s}
    - id: go-ahead
      needs: [before]
      approval: {approvers: [alice, bob], timeout: 30m}
    - id: after
      needs: [go-ahead]
      action: check.tcp
      with: {address: "%[1]s", timeout: 30s}
`, open.Addr()))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: %s
identity: trust-client
worker:
  versioning:
    enabled: true
recovery:
  plans_dir: plans
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: a, kind: http, url: "%[2]s/a"}
    - {name: b, kind: http, url: "%[2]s/b"}
    - {name: up, kind: http, url: "%[2]s/up"}
log:
  format: text
`, temporal.HostPort, target.URL))

	host, _ := os.Hostname()
	startRelease := func(bin, version string) *release {
		httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
		cmd := exec.Command(bin, "--config", configPath)
		cmd.Env = append(os.Environ(), "LIFEBOAT_HTTP_LISTEN="+httpAddr)
		proc := repo.StartProcess(t, "lifeboat-worker "+version, cmd, syscall.SIGTERM)
		wait.For(t, time.Minute, "lifeboat-worker "+version+" ready", func() error {
			select {
			case <-proc.Done():
				t.Fatalf("lifeboat-worker %s exited: %v\n%s", version, proc.Err(), proc.Tail())
			default:
			}
			resp, err := http.Get("http://" + httpAddr + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("readyz: %s", resp.Status)
			}
			return nil
		})
		return &release{version: version, proc: proc, identity: fmt.Sprintf("lifeboat-worker@%s:%d", host, cmd.Process.Pid)}
	}
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", temporal.HostPort)...).CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	mustCLI := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mustDoc := func(name, old, new string) string {
		t.Helper()
		out, err := doc.run(t, name, temporal.HostPort, old, new)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// makeCurrent runs the documented command; a version is known once its workers have polled.
	makeCurrent := func(old, new string) {
		t.Helper()
		wait.For(t, time.Minute, "make "+new+" current", func() error {
			_, err := doc.run(t, "current", temporal.HostPort, old, new)
			return err
		})
	}
	routing := func() (current, ramping string, percent float64) {
		t.Helper()
		var d struct {
			RoutingConfig struct {
				Current string  `json:"currentVersionBuildID"`
				Ramping string  `json:"rampingVersionBuildID"`
				Percent float64 `json:"rampingVersionPercentage"`
			} `json:"routingConfig"`
		}
		if err := json.Unmarshal([]byte(mustCLI("worker", "deployment", "describe", "--name", "lifeboat", "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		return d.RoutingConfig.Current, d.RoutingConfig.Ramping, d.RoutingConfig.Percent
	}
	c := temporal.Dial(t, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	probe := func(id, check string) {
		mustCLI("workflow", "start", "--task-queue", "lifeboat", "--type", "HealthProbe", "--workflow-id", id,
			"--input", fmt.Sprintf(`{"target":%q,"checks":[{"name":%q}],"interval":"2s","success_threshold":1,"failure_threshold":100,"max_attempts":100}`, check, check))
	}
	healthy := func(id string) {
		t.Helper()
		var res workflows.HealthProbeResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil || !res.Healthy {
			t.Fatalf("probe %s: %+v, %v", id, res, err)
		}
	}
	// ranOn checks that every workflow task of id was completed by the build want, or by wantAfter
	// once after has passed, and that some were after it.
	ranOn := func(id, want string, after time.Time, wantAfter string) {
		t.Helper()
		late := 0
		for _, wt := range workflowTasks(ctx, t, c, id) {
			w := want
			if !after.IsZero() && wt.at.After(after) {
				w, late = wantAfter, late+1
			}
			if wt.build != w {
				t.Errorf("%s: workflow task completed at event %d by %s, want %s", id, wt.id, wt.build, w)
			}
		}
		if !after.IsZero() && late == 0 {
			t.Errorf("%s: no workflow task completed after %s", id, after.Format(time.RFC3339Nano))
		}
	}

	// Release 1.0.0 starts, is not current yet, says how to make it so, and is made current.
	v1 := startRelease(v1Bin, "1.0.0")
	wait.For(t, 30*time.Second, "1.0.0 says how to make it current", func() error {
		if want := "temporal worker deployment set-current-version --deployment-name lifeboat --build-id 1.0.0 --yes"; !strings.Contains(v1.proc.Tail(), want) {
			return fmt.Errorf("its log does not say %q", want)
		}
		return nil
	})
	makeCurrent("", "1.0.0")
	t.Log("1.0.0 current")

	// On 1.0.0: a recovery reaches its gate, and two probes keep trying.
	const recovery = "recovery-orders-db-failover"
	mustCLI("workflow", "start", "--task-queue", "lifeboat", "--type", "Recovery", "--workflow-id", recovery,
		"--input", `{"plan":"orders-db-failover","requester":"alice"}`)
	wait.For(t, time.Minute, "the recovery waits at its gate", func() error {
		d, err := c.DescribeWorkflowExecution(ctx, recovery, "")
		if err != nil {
			return err
		}
		if phase, _ := searchAttribute(d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["LifeboatPhase"]); phase != workflows.PhaseApproval {
			return fmt.Errorf("phase %q", phase)
		}
		return nil
	})
	probe("probe-finishing", "a")
	probe("probe-stranded", "b")
	for _, id := range []string{"probe-finishing", "probe-stranded"} {
		wait.For(t, time.Minute, id+" fails its first attempts", func() error {
			return historyHas(ctx, c, id, 1, enumspb.EVENT_TYPE_TIMER_FIRED)
		})
	}

	t.Log("probes running")
	// Release 2.0.0 starts beside it, polls, is ramped, then made current.
	v2 := startRelease(v2Bin, "2.0.0")
	wait.For(t, 30*time.Second, "both releases in the deployment", func() error {
		out, err := doc.run(t, "describe", temporal.HostPort, "1.0.0", "2.0.0")
		if err == nil && (!strings.Contains(out, "1.0.0") || !strings.Contains(out, "2.0.0")) {
			err = fmt.Errorf("describe does not list both versions:\n%s", out)
		}
		return err
	})
	// The server refuses to ramp a version that does not yet poll every task queue the current
	// one does: the worker registers its workflow and activity queues one after the other.
	wait.For(t, 30*time.Second, "2.0.0 polls every task queue 1.0.0 does", func() error {
		h := c.WorkerDeploymentClient().GetHandle("lifeboat")
		queues := func(build string) (map[string]bool, error) {
			d, err := h.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: build})
			if err != nil {
				return nil, err
			}
			m := map[string]bool{}
			for _, q := range d.Info.TaskQueuesInfos {
				m[fmt.Sprintf("%s (%v)", q.Name, q.Type)] = true
			}
			return m, nil
		}
		v1q, err := queues("1.0.0")
		if err != nil {
			return err
		}
		v2q, err := queues("2.0.0")
		if err != nil {
			return err
		}
		for q := range v1q {
			if !v2q[q] {
				return fmt.Errorf("2.0.0 does not poll %s yet", q)
			}
		}
		return nil
	})
	mustDoc("ramp", "1.0.0", "2.0.0")
	if current, ramping, percent := routing(); current != "1.0.0" || ramping != "2.0.0" || percent != 10 {
		t.Fatalf("after the ramp: current %q, ramping %q at %v%%", current, ramping, percent)
	}
	mustDoc("unramp", "1.0.0", "2.0.0")
	if current, _, percent := routing(); current != "1.0.0" || percent != 0 {
		t.Fatalf("after the ramp is taken away: current %q, ramping at %v%%", current, percent)
	}
	mustDoc("ramp", "1.0.0", "2.0.0")
	makeCurrent("1.0.0", "2.0.0")
	current2 := time.Now()
	t.Log("2.0.0 current")
	if current, _, percent := routing(); current != "2.0.0" || percent != 0 {
		t.Fatalf("after set-current-version: current %q, ramping at %v%%", current, percent)
	}

	// The gate is approved: the recovery goes on, on 2.0.0, and completes.
	mustCLI("workflow", "update", "execute", "--workflow-id", recovery, "--name", "decide",
		"--input", `{"gate":"go-ahead","approve":true,"identity":"bob"}`)
	var res workflows.RecoveryResult
	if err := c.GetWorkflow(ctx, recovery, "").Get(ctx, &res); err != nil {
		t.Fatalf("the recovery did not complete: %v\n1.0.0:\n%s\n2.0.0:\n%s", err, v1.proc.Tail(), v2.proc.Tail())
	}
	if res.Status != workflows.ResultSucceeded {
		t.Fatalf("the recovery ended %s: %+v", res.Status, res)
	}
	ranOn(recovery, "1.0.0", current2, "2.0.0")
	t.Log("recovery done")
	for step, want := range map[string]*release{"before": v1, "after": v2} {
		if got := activityIdentity(ctx, t, c, recovery, "step "+step); got != want.identity {
			t.Errorf("recovery: step %s ran on %s, want %s (release %s)", step, got, want.identity, want.version)
		}
	}
	if out := mustDoc("workflow", "1.0.0", "2.0.0"); !strings.Contains(out, "AutoUpgrade") || !strings.Contains(out, "2.0.0") {
		t.Errorf("the recovery's versioning info does not show it auto-upgraded to 2.0.0:\n%s", out)
	}

	// New work starts on 2.0.0; rolled back, on 1.0.0; then on 2.0.0 again.
	probe("probe-new", "up")
	healthy("probe-new")
	ranOn("probe-new", "2.0.0", time.Time{}, "")
	mustDoc("rollback", "1.0.0", "2.0.0")
	probe("probe-rolled-back", "up")
	healthy("probe-rolled-back")
	ranOn("probe-rolled-back", "1.0.0", time.Time{}, "")
	makeCurrent("1.0.0", "2.0.0")

	t.Log("rolled back and forth")
	// The probes started on 1.0.0 are pinned there: 1.0.0 drains only once they end.
	out := mustDoc("drainage", "1.0.0", "2.0.0")
	for _, want := range []string{"probe-finishing", "probe-stranded"} {
		if !strings.Contains(out, want) {
			t.Errorf("the drainage block does not list %s:\n%s", want, out)
		}
	}
	wait.For(t, time.Minute, "1.0.0 draining", func() error {
		// Just after the roll back and forth, the server can briefly answer that 1.0.0 is not found.
		if s, err := drainage(cli); err != nil || s != "draining" {
			return fmt.Errorf("drainage status %q: %v", s, err)
		}
		return nil
	})
	flipped := time.Now()
	aUp.Store(true)
	healthy("probe-finishing")
	ranOn("probe-finishing", "1.0.0", flipped, "1.0.0")
	t.Log("pinned probe done")

	// 1.0.0's workers stop before it has drained: the stranded probe is moved to 2.0.0.
	if err := v1.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	mustDoc("unpin", "1.0.0", "2.0.0")
	moved := time.Now()
	bUp.Store(true)
	healthy("probe-stranded")
	ranOn("probe-stranded", "1.0.0", moved, "2.0.0")
	t.Log("stranded probe done")
	wait.For(t, time.Minute, "1.0.0 drained", func() error {
		out, err := doc.run(t, "drainage", temporal.HostPort, "1.0.0", "2.0.0")
		if err == nil && !strings.Contains(out, "drained") {
			err = fmt.Errorf("not drained:\n%s", out)
		}
		return err
	})
	for name := range doc.blocks {
		if !doc.ran[name] {
			t.Errorf("docs/upgrading.md block %q is not run by this test", name)
		}
	}
}

// drainage returns the drainage status of version 1.0.0 of deployment lifeboat.
func drainage(cli func(args ...string) (string, error)) (string, error) {
	var v struct {
		DrainageInfo struct {
			DrainageStatus string `json:"drainageStatus"`
		} `json:"drainageInfo"`
	}
	out, err := cli("worker", "deployment", "describe-version", "--deployment-name", "lifeboat", "--build-id", "1.0.0", "-o", "json")
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return "", fmt.Errorf("describe-version: %v\n%s", err, out)
	}
	return v.DrainageInfo.DrainageStatus, nil
}

// searchAttribute decodes a keyword search attribute.
func searchAttribute(p interface{ GetData() []byte }) (string, error) {
	if p == nil || len(p.GetData()) == 0 {
		return "", nil
	}
	var s string
	err := json.Unmarshal(p.GetData(), &s)
	return s, err
}

// history returns a workflow's events.
func history(ctx context.Context, t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		events = append(events, e)
	}
	return events
}

// historyHas says whether a workflow's history has at least n events of type typ yet.
func historyHas(ctx context.Context, c client.Client, id string, n int, typ enumspb.EventType) error {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	seen := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return err
		}
		if e.GetEventType() == typ {
			seen++
		}
	}
	if seen < n {
		return fmt.Errorf("%d %s events, want %d", seen, typ, n)
	}
	return nil
}

// workflowTask is a completed workflow task: its event, when, and the build that completed it.
type workflowTask struct {
	id    int64
	at    time.Time
	build string
}

func workflowTasks(ctx context.Context, t *testing.T, c client.Client, id string) []workflowTask {
	t.Helper()
	var out []workflowTask
	for _, e := range history(ctx, t, c, id) {
		if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			out = append(out, workflowTask{id: e.GetEventId(), at: e.GetEventTime().AsTime(), build: a.GetDeploymentVersion().GetBuildId()})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s completed no workflow task", id)
	}
	return out
}

// activityIdentity returns the identity of the worker that started the activity whose summary
// begins with summary.
func activityIdentity(ctx context.Context, t *testing.T, c client.Client, id, summary string) string {
	t.Helper()
	events := history(ctx, t, c, id)
	for _, e := range events {
		if e.GetActivityTaskScheduledEventAttributes() == nil {
			continue
		}
		var s string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			_ = json.Unmarshal(p.GetData(), &s)
		}
		if !strings.HasPrefix(s, summary) {
			continue
		}
		for _, f := range events {
			if a := f.GetActivityTaskStartedEventAttributes(); a != nil && a.GetScheduledEventId() == e.GetEventId() {
				return a.GetIdentity()
			}
		}
	}
	t.Fatalf("%s has no started activity %q", id, summary)
	return ""
}

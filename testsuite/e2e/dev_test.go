package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// devStack is `lifeboat dev`, the local stack `make run` starts, on free ports.
type devStack struct {
	proc                           *repo.Process
	dataDir, config                string
	temporalPort, uiPort, httpPort int
	env                            []string
}

func startDev(t *testing.T, dataDir string, ports [3]int, args ...string) *devStack {
	t.Helper()
	d := &devStack{dataDir: dataDir, config: filepath.Join(repo.Root(t), "examples", "lifeboat.yaml"),
		temporalPort: ports[0], uiPort: ports[1], httpPort: ports[2]}
	d.env = append(os.Environ(), "LIFEBOAT_DATA_DIR="+dataDir, fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", d.temporalPort))
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", d.config, "dev",
		"--data-dir", dataDir, "--temporal", repo.Bin(t, "temporal"),
		"--temporal-port", fmt.Sprint(d.temporalPort), "--ui-port", fmt.Sprint(d.uiPort), "--http-port", fmt.Sprint(d.httpPort))
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = d.env
	d.proc = repo.StartProcess(t, "lifeboat dev", cmd, syscall.SIGINT)
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(d.proc.Tail(), "Lifeboat is running.") {
		select {
		case <-d.proc.Done():
			t.Fatalf("lifeboat dev exited before it was up: %v\n%s", d.proc.Err(), d.proc.Tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lifeboat dev not up after 2 minutes:\n%s", d.proc.Tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return d
}

func (d *devStack) temporal(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", fmt.Sprintf("127.0.0.1:%d", d.temporalPort))...).CombinedOutput()
	if err != nil {
		t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// uiGet reads the Web UI's API. The UI server's connection to the frontend may still be backing
// off from the start, so it retries for a while.
func (d *devStack) uiGet(t *testing.T, path string, v any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", d.uiPort, path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("Web UI GET %s: %v\n%s", path, err, b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Web UI GET %s: %s\n%s", path, resp.Status, b)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (d *devStack) stop(t *testing.T) {
	t.Helper()
	if err := d.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.proc.Err(); err != nil {
		t.Fatalf("lifeboat dev did not exit cleanly on Ctrl-C: %v\n%s", err, d.proc.Tail())
	}
}

// TestDevStackAsMakeRunStartsIt runs the local stack, starts a probe with the temporal CLI, finds it
// through the Web UI's API with its current details and an encrypted result, stops the stack with
// Ctrl-C and checks that the workflow survives a restart.
func TestDevStackAsMakeRunStartsIt(t *testing.T) {
	dataDir := t.TempDir()
	ports := [3]int{repo.FreePort(t), repo.FreePort(t), repo.FreePort(t)}
	d := startDev(t, dataDir, ports, "--postgres=false")

	// The checks examples/lifeboat.yaml configures, on the ports this stack runs on.
	input := `{"target":"local-stack","checks":[{"name":"worker-health"},{"name":"temporal-frontend"}],"interval":"200ms"}`
	d.temporal(t, "workflow", "start", "--type", "HealthProbe", "--task-queue", "lifeboat", "--workflow-id", "dev-probe", "--input", input)
	d.temporal(t, "workflow", "result", "--workflow-id", "dev-probe")

	// The Web UI serves the workflow, with the codec endpoint and token wired in.
	var settings struct {
		Codec struct{ Endpoint string } `json:"Codec"`
	}
	d.uiGet(t, "/api/v1/settings", &settings)
	token, err := os.ReadFile(filepath.Join(dataDir, "codec.token"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/codec/%s", d.httpPort, strings.TrimSpace(string(token))); settings.Codec.Endpoint != want {
		t.Fatalf("UI codec endpoint %q, want %q", settings.Codec.Endpoint, want)
	}
	var list struct {
		Executions []struct {
			Execution struct{ WorkflowID string } `json:"execution"`
		} `json:"executions"`
	}
	d.uiGet(t, "/api/v1/namespaces/default/workflows?query="+url.QueryEscape(`LifeboatKind="probe"`), &list)
	if len(list.Executions) != 1 || list.Executions[0].Execution.WorkflowID != "dev-probe" {
		t.Fatalf("Web UI lists %+v", list.Executions)
	}
	// The result is encrypted in history, and lifeboat, with the dev key, shows the current details.
	if out := d.temporal(t, "workflow", "show", "--workflow-id", "dev-probe", "--output", "json"); !strings.Contains(out, "YmluYXJ5L2VuY3J5cHRlZA==") {
		t.Fatalf("history holds no encrypted payload:\n%s", out)
	}
	statusCmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", d.config, "status", "dev-probe")
	statusCmd.Env = d.env
	status, err := statusCmd.CombinedOutput()
	if err != nil || !strings.Contains(string(status), "**Healthy: local-stack**") {
		t.Fatalf("lifeboat status: %v\n%s", err, status)
	}

	// The probe the banner suggests, by name, and the checks it may name.
	if !strings.Contains(d.proc.Tail(), "probe run --check worker-health --wait") {
		t.Fatalf("the banner does not suggest the probe:\n%s", d.proc.Tail())
	}
	probeCmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", d.config, "probe", "run", "--check", "worker-health", "--wait")
	probeCmd.Env = d.env
	if out, err := probeCmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "worker-health is healthy") {
		t.Fatalf("lifeboat probe run --check worker-health: %v\n%s", err, out)
	}
	listCmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", d.config, "probe", "list")
	listCmd.Env = d.env
	if out, err := listCmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "local-stack: worker-health, temporal-frontend") {
		t.Fatalf("lifeboat probe list: %v\n%s", err, out)
	}

	d.stop(t)
	if !strings.Contains(d.proc.Tail(), "Stopping") {
		t.Fatalf("no orderly stop:\n%s", d.proc.Tail())
	}

	// State lives in the data directory: after a restart the workflow is still there.
	again := startDev(t, dataDir, ports, "--postgres=false")
	if out := again.temporal(t, "workflow", "describe", "--workflow-id", "dev-probe"); !strings.Contains(out, "COMPLETED") {
		t.Fatalf("after a restart:\n%s", out)
	}
	again.stop(t)
}

package cluster_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// TestDevClusterAsMakeClusterStartsIt runs `lifeboat dev --cluster`, what `make cluster` starts,
// with the example configuration on free ports: two workers serve a probe started with the temporal
// CLI, Ctrl-C stops every process, and a second start finds the workflow in the cluster's
// PostgreSQL.
func TestDevClusterAsMakeClusterStartsIt(t *testing.T) {
	dataDir := t.TempDir()
	temporalPort, httpPort := repo.FreePort(t), repo.FreePort(t)
	// The cluster's own services take the ports after the frontend's, and the workers consecutive
	// HTTP ports: find runs of free ones.
	for !freeRun(temporalPort, 9) {
		temporalPort = repo.FreePort(t)
	}
	for !freeRun(httpPort, 2) {
		httpPort = repo.FreePort(t)
	}
	pgPort := repo.FreePort(t) - 4 // the cluster's database takes --postgres-port + 4
	address := fmt.Sprintf("127.0.0.1:%d", temporalPort)
	start := func() *repo.Process {
		cmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", filepath.Join(repo.Root(t), "examples", "lifeboat.yaml"), "dev",
			"--cluster", "--workers", "2", "--postgres=false", "--data-dir", dataDir,
			"--temporal-port", fmt.Sprint(temporalPort), "--http-port", fmt.Sprint(httpPort), "--postgres-port", fmt.Sprint(pgPort),
			"--worker", filepath.Join(binDir, "lifeboat-worker"))
		cmd.Env = append(os.Environ(), "LIFEBOAT_DATA_DIR="+dataDir, "TEMPORAL_ADDRESS="+address)
		cmd.Dir = repo.Root(t) // as make cluster runs it: the server and its SQL tool are in ./bin
		p := repo.StartProcess(t, "lifeboat dev --cluster", cmd, syscall.SIGINT)
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(p.Tail(), "Lifeboat is running on a Temporal cluster.") {
			select {
			case <-p.Done():
				t.Fatalf("lifeboat dev --cluster exited before it was up: %v\n%s", p.Err(), p.Tail())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("lifeboat dev --cluster not up after 3 minutes:\n%s", p.Tail())
			}
			time.Sleep(200 * time.Millisecond)
		}
		return p
	}
	temporal := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", address)...).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	dev := start()
	for _, w := range []string{"worker-1", "worker-2"} {
		if _, err := os.Stat(filepath.Join(dataDir, "cluster", w+".log")); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
	}
	input := `{"target":"local-stack","checks":[{"name":"worker-health"},{"name":"temporal-frontend"}],"interval":"200ms"}`
	temporal("workflow", "start", "--type", "HealthProbe", "--task-queue", "lifeboat", "--workflow-id", "cluster-probe", "--input", input)
	temporal("workflow", "result", "--workflow-id", "cluster-probe")
	if err := dev.Stop(); err != nil {
		t.Fatal(err)
	}
	// Every process stopped with it: the ports are free again.
	for _, p := range []int{temporalPort, httpPort, httpPort + 1, pgPort + 4} {
		if !freeRun(p, 1) {
			t.Fatalf("port %d still taken after lifeboat dev --cluster stopped", p)
		}
	}

	dev = start()
	defer dev.Stop()
	if out := temporal("workflow", "describe", "--workflow-id", "cluster-probe"); !strings.Contains(out, "COMPLETED") {
		t.Fatalf("after a restart the probe is not there as completed:\n%s", out)
	}
}

// TestDevWorkersNeedTheCluster: more than one worker beside the dev server is refused.
func TestDevWorkersNeedTheCluster(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", filepath.Join(repo.Root(t), "examples", "lifeboat.yaml"), "dev", "--workers", "2")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "--workers more than 1 needs --cluster") {
		t.Fatalf("lifeboat dev --workers 2: %v\n%s", err, out)
	}
}

// freeRun reports whether n ports from first on are free on 127.0.0.1.
func freeRun(first, n int) bool {
	for p := first; p < first+n; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

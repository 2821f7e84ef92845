package repo_test

import (
	"context"
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

func TestRootHoldsGoMod(t *testing.T) {
	root := repo.Root(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("Root() = %q has no go.mod: %v", root, err)
	}
}

func TestWaitTCPReachesListener(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on free port %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := repo.WaitTCP(ctx, addr); err != nil {
		t.Fatalf("WaitTCP(%s): %v", addr, err)
	}
}

func TestWaitTCPTimesOut(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := repo.WaitTCP(ctx, addr); err == nil {
		t.Fatalf("WaitTCP(%s) with nothing listening: want error, got nil", addr)
	}
}

func TestProcessTailAndStop(t *testing.T) {
	cmd := exec.Command("sh", "-c", `echo ready; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done`)
	p := repo.StartProcess(t, "sh", cmd, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Tail(), "ready") {
		if time.Now().After(deadline) {
			t.Fatalf("no output from process; tail: %q", p.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if !strings.Contains(p.Tail(), "bye") {
		t.Errorf("process did not see SIGTERM; tail: %q", p.Tail())
	}
}

package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Root returns the module root: the nearest folder at or above the working directory that holds
// go.mod. It fails the test when there is none.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("repo: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("repo: no go.mod found above the working directory: run the tests from inside the module")
		}
		dir = parent
	}
}

// Bin returns the path of a tool in the module's ./bin folder, failing the test with a hint to run
// `make tools` when it is missing.
func Bin(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(Root(t), "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("bin/%s not found: run `make tools`", name)
	}
	return path
}

// handedOut holds the ports FreePort has returned, so that it never returns one twice in a test
// binary (a server may not have bound the first yet when the second is picked).
var handedOut sync.Map

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that it has not
// FreePort picks a free loopback TCP port, never the same one twice in a test binary. It draws from
// 20000–32767, below Linux's ephemeral range, so that a port it hands out is not taken meanwhile by
// some other process's outgoing connection or bind to port 0 — test packages run in parallel.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12768)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("repo: no free loopback port found in 20000-32767")
	return 0
}

// WaitTCP polls addr until a TCP connection succeeds or ctx is done.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

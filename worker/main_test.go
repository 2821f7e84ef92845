package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// syncBuffer is a bytes.Buffer safe for the worker's logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestInvalidConfigExitsListingEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(`
temporal:
  address: nowhere
worker:
  task_queue: ""
  max_concurrent_activities: -1
http:
  listen: "0.0.0.0:8091"
encryption:
  keys:
    - id: k1
      secret: not-a-key
log:
  level: chatty
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	code := run(context.Background(), []string{"--config", path}, config.MapEnv(nil), io.Discard, &stderr)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
	}
	for _, want := range []string{"invalid configuration", "temporal.address", "worker.task_queue", "worker.max_concurrent_activities", "encryption.keys[0] (k1)", "log.level"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr.String())
		}
	}
}

func TestFlagsAndCheck(t *testing.T) {
	// Without an identity section the worker does not start: names as typed must be asked for.
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"--check", "--task-queue", "q"}, config.MapEnv(nil), &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "identity: required") {
		t.Fatalf("--check without identity: code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(path, []byte("identity: trust-client\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = syncBuffer{}, syncBuffer{}
	if code := run(context.Background(), []string{"--check", "--config", path, "--task-queue", "q"}, config.MapEnv(nil), &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "configuration is valid") {
		t.Fatalf("--check: code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code := run(context.Background(), []string{"--no-such-flag"}, config.MapEnv(nil), io.Discard, io.Discard); code != exitUsage {
		t.Fatalf("unknown flag: code %d", code)
	}
	if code := run(context.Background(), []string{"stray"}, config.MapEnv(nil), io.Discard, io.Discard); code != exitUsage {
		t.Fatalf("stray argument: code %d", code)
	}
}

// With versioning on, the build ID defaults to the binary's version; a binary built without one
// must be given a build ID, and --check says so with the other problems.
func TestCheckVersioningNeedsABuildID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(path, []byte("identity: trust-client\nworker:\n  versioning:\n    enabled: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(env map[string]string) (int, string) {
		var stdout, stderr syncBuffer
		code := run(context.Background(), []string{"--check", "--config", path}, config.MapEnv(env), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	defer func(v string) { version = v }(version)
	version = ""
	if code, out := check(nil); code != exitUsage || !strings.Contains(out, "worker.versioning.build_id: required: this binary has no version") {
		t.Fatalf("no version, no build ID: code %d\n%s", code, out)
	}
	if code, out := check(map[string]string{"LIFEBOAT_BUILD_ID": "v9.9.9"}); code != exitOK {
		t.Fatalf("LIFEBOAT_BUILD_ID: code %d\n%s", code, out)
	}
	version = "v1.4.0"
	if code, out := check(nil); code != exitOK {
		t.Fatalf("the binary's version: code %d\n%s", code, out)
	}
	cfg, _, err := loadConfig([]string{"--config", path}, config.MapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.Worker.DeploymentOptions(buildVersion())
	if err != nil || opts.Version.BuildID != "v1.4.0" || opts.Version.DeploymentName != "lifeboat" {
		t.Fatalf("deployment options %+v, %v; want lifeboat:v1.4.0", opts, err)
	}
}

// TestWorkerServesAndStopsCleanly runs the whole worker in-process against a real dev server: it
// registers the search attributes, becomes ready, runs a probe with encrypted payloads, exposes
// metrics and the codec endpoint, and stops cleanly when its context ends.
func TestWorkerServesAndStopsCleanly(t *testing.T) {
	srv := devserver.Start(t)
	key := codec.GenerateKey()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	env := config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":     srv.HostPort,
		"LIFEBOAT_HTTP_LISTEN": httpAddr,
		"LIFEBOAT_TASK_QUEUE":  "worker-test",
		"LIFEBOAT_CODEC_TOKEN": "tok",
		"TEST_KEY":             key,
	})
	cfgPath := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(cfgPath, []byte("identity: trust-client\nencryption:\n  keys:\n    - id: t1\n      secret: ${TEST_KEY}\n"+
		"probes:\n  allowed_hosts: [127.0.0.1]\n  checks:\n    - {name: worker-health, kind: http, url: \"http://${LIFEBOAT_HTTP_LISTEN}/healthz\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"--config", cfgPath}, env, io.Discard, &logs) }()

	base := "http://" + httpAddr
	waitFor(t, "readyz", func() error { return expectHTTP(base+"/readyz", http.StatusOK, "ready") }, exited, &logs)
	if err := expectHTTP(base+"/healthz", http.StatusOK, "ok"); err != nil {
		t.Fatal(err)
	}
	var hc syncBuffer
	if code := run(ctx, []string{"--config", cfgPath, "--healthcheck"}, env, &hc, &hc); code != exitOK || !strings.Contains(hc.String(), "ready") {
		t.Fatalf("--healthcheck on a ready worker: exit %d, %q", code, hc.String())
	}

	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := cfg.ClientOptions(env)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Dial(t, opts)
	wfRun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "worker-test"}, workflows.HealthProbeWorkflow, workflows.HealthProbeInput{
		Target: "worker", Checks: []probe.Check{{Name: "worker-health"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var result workflows.HealthProbeResult
	if err := wfRun.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if !result.Healthy {
		t.Fatalf("probe of the worker's own health endpoint: %+v", result)
	}

	metrics := get(t, base+"/metrics")
	for _, want := range []string{"lifeboat_build_info{", "lifeboat_worker_ready 1", `lifeboat_probe_attempts_total{`, `result="pass"`, "temporal_worker_start", "temporal_local_activity_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The codec endpoint refuses callers without the token.
	resp, err := http.Post(base+"/codec/decode", "application/json", strings.NewReader(`{"payloads":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("codec without token: %s", resp.Status)
	}

	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("exit code %d after cancel; logs:\n%s", code, logs.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatal("worker did not stop within 45s of its context ending")
	}
	if code := run(context.Background(), []string{"--config", cfgPath, "--healthcheck"}, env, io.Discard, io.Discard); code != exitFailure {
		t.Fatalf("--healthcheck on a stopped worker: exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(logs.String(), "worker stopped") {
		t.Fatalf("no clean stop in logs:\n%s", logs.String())
	}
}

func waitFor(t *testing.T, what string, check func() error, exited <-chan int, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			t.Fatalf("worker exited with %d before %s; logs:\n%s", code, what, logs.String())
		default:
		}
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v; logs:\n%s", what, err, logs.String())
}

func expectHTTP(url string, status int, body string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), body) {
		return fmt.Errorf("GET %s: %s %q", url, resp.Status, b)
	}
	return nil
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The HTTP server does not let a client hold a connection with a request that never finishes,
// headers that never end, or an idle connection, and refuses oversized headers.
func TestServerDropsSlowAndOversizedRequests(t *testing.T) {
	saved := limits
	limits = serverLimits{readHeader: 300 * time.Millisecond, read: 500 * time.Millisecond, write: time.Second, idle: 500 * time.Millisecond, maxHeader: 4 << 10}
	t.Cleanup(func() { limits = saved })
	cfg := config.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	m, err := newMetrics("test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(cfg, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.serve() }()
	t.Cleanup(func() { _ = s.http.Close() })
	addr := s.ln.Addr().String()

	// closedWithin sends what, then waits for the server to close the connection.
	closedWithin := func(name, what string, within time.Duration) string {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, what); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(within))
		b, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the connection is still open after %s", name, within)
		}
		return string(b)
	}
	closedWithin("a body that never comes", "POST /alerts/webhook HTTP/1.1\r\nHost: w\r\nContent-Length: 100\r\n\r\n", 3*time.Second)
	closedWithin("headers that never end", "GET /healthz HTTP/1.1\r\nHost: w\r\n", 3*time.Second)
	closedWithin("an idle connection", "GET /healthz HTTP/1.1\r\nHost: w\r\n\r\n", 3*time.Second)
	if got := closedWithin("oversized headers", "GET /healthz HTTP/1.1\r\nHost: w\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n", 3*time.Second); !strings.Contains(got, "431") {
		t.Errorf("oversized headers answered %q, want 431", got)
	}
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// binDir holds the binaries built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lifeboat-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, pkg := range map[string]string{"lifeboat": "../../starter", "lifeboat-worker": "../../worker"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// stack is a running dev server, PostgreSQL primary with a replica, and a lifeboat-worker process
// configured with an encryption key, a codec token, secrets for both databases and the checks
// probes may run.
type stack struct {
	temporal   *devserver.Server
	pg         *pgtest.Cluster
	worker     *repo.Process
	configPath string
	httpBase   string
	token      string
	env        []string
	// closed is the address of the configured check closed-port, where nothing listens.
	closed string
	// tattler is the server of the configured check tattler: it answers 503 with a body that must
	// never reach a report.
	tattler *httptest.Server
}

// Secrets and what targets say, which reports must never show.
const (
	// wrongDBPassword is the password in the secret of the check wrong-db.
	wrongDBPassword = "hunter2-e2e-db-password"
	// tattlerPassword is the password in the URL of the check tattler.
	tattlerPassword = "hunter2-e2e-url-password"
	// tattlerBody is what the tattler answers.
	tattlerBody = "stack trace: internal token tattled-e2e-9f3c"
)

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{temporal: devserver.Start(t), pg: pgtest.Start(t, pgtest.WithReplica()), token: "e2e-token", closed: closedPort(t)}
	s.tattler = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Debug", tattlerBody)
		http.Error(w, tattlerBody, http.StatusServiceUnavailable)
	}))
	t.Cleanup(s.tattler.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k1.key"), []byte(codec.GenerateKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	s.httpBase = "http://" + httpAddr
	s.configPath = filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, s.configPath, fmt.Sprintf(`
temporal:
  address: ${TEMPORAL_ADDRESS}
identity: trust-client
http:
  listen: %s
encryption:
  keys:
    - id: k1
      file: k1.key
secrets:
  orders-primary: %[2]s
  orders-replica: %[3]s
  wrong-db: postgres://postgres:%[7]s@127.0.0.1:%[4]d/no_such_db_e2e?sslmode=disable
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: primary, kind: postgres, dsn_secret: orders-primary, expect_role: primary}
    - {name: replica, kind: postgres, dsn_secret: orders-replica, expect_role: replica, max_replication_lag: 30s}
    - {name: db-port, kind: tcp, address: "127.0.0.1:%[4]d"}
    - {name: worker, kind: http, url: "http://%[1]s/healthz", body_contains: ok}
    - {name: closed-port, kind: tcp, address: "%[5]s"}
    - {name: writer, kind: postgres, dsn_secret: orders-primary, query: "CREATE TABLE stolen (x int)"}
    - {name: deleter, kind: postgres, dsn_secret: orders-primary, query: "DELETE FROM accounts"}
    - {name: wrong-db, kind: postgres, dsn_secret: wrong-db}
    - {name: missing-table, kind: postgres, dsn_secret: orders-primary, query: "SELECT secret_column FROM no_such_table_e2e"}
    - {name: tattler, kind: http, url: "http://probe:%[8]s@%[6]s/status?token=%[8]s"}
  targets:
    orders: [primary, replica, db-port, worker]
log:
  format: text
`, httpAddr, s.pg.DSN("postgres"), s.pg.Replica.DSN("postgres"), s.pg.Port, s.closed, s.tattler.Listener.Addr(), wrongDBPassword, tattlerPassword))
	s.env = append(os.Environ(), "TEMPORAL_ADDRESS="+s.temporal.HostPort, "LIFEBOAT_CODEC_TOKEN="+s.token)

	cmd := exec.Command(filepath.Join(binDir, "lifeboat-worker"), "--config", s.configPath)
	cmd.Env = s.env
	s.worker = repo.StartProcess(t, "lifeboat-worker", cmd, syscall.SIGTERM)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.httpBase + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.worker.Done():
			t.Fatalf("worker exited before it was ready: %v\n%s", s.worker.Err(), s.worker.Tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready after 60s:\n%s", s.worker.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// lifeboat runs the CLI and returns its stdout, stderr and exit code.
func (s *stack) lifeboat(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runLifeboat(t, s.configPath, s.env, args...)
}

// runLifeboat runs the CLI with --config and the environment env, and returns its stdout, stderr
// and exit code.
func runLifeboat(t *testing.T, config string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), append([]string{"--config", config}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run lifeboat: %v", err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// temporalCLI runs the real temporal CLI against the dev server.
func (s *stack) temporalCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", s.temporal.HostPort)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestProbeStartedByTheTemporalCLI starts a probe the way the README shows, with plain JSON from the
// temporal CLI, and checks that the worker accepts it, encrypts what it writes, and shows progress.
// The checks are the worker's configured ones: named alone, or one with its definition as configured.
func TestProbeStartedByTheTemporalCLI(t *testing.T) {
	s := startStack(t)
	input := fmt.Sprintf(`{
	  "target": "orders",
	  "checks": [
	    {"name": "primary"},
	    {"name": "replica"},
	    {"name": "db-port"},
	    {"name": "worker", "kind": "http", "url": "%s/healthz", "body_contains": "ok"}
	  ],
	  "interval": "500ms",
	  "success_threshold": 2
	}`, s.httpBase)
	s.temporalCLI(t, "workflow", "start", "--type", workflows.HealthProbeWorkflow, "--task-queue", "lifeboat",
		"--workflow-id", "e2e-cli-probe", "--static-summary", "Health probe of orders", "--input", input)

	// The result through the codec endpoint, as the README shows it.
	out := s.temporalCLI(t, "workflow", "result", "--workflow-id", "e2e-cli-probe", "--output", "json",
		"--codec-endpoint", s.httpBase+"/codec", "--codec-auth", "Bearer "+s.token)
	var res struct {
		Result workflows.HealthProbeResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, out)
	}
	if !res.Result.Healthy || len(res.Result.Checks) != 4 {
		t.Fatalf("probe result = %+v", res.Result)
	}
	for _, c := range res.Result.Checks {
		if c.Status != workflows.StatusHealthy || c.Attempts != 2 {
			t.Errorf("check %s: %s after %d attempts (%s %s)", c.Name, c.Status, c.Attempts, c.LastReason, c.Verdict)
		}
	}
	if got := res.Result.Checks[1].LastDetail; !strings.HasPrefix(got, "replica, lag") {
		t.Errorf("replica detail = %q", got)
	}
	if got := res.Result.Checks[0]; got.Kind != "postgres" || got.Target != "secret orders-primary" {
		t.Errorf("a check named alone is reported as %s %q, want the configured postgres check", got.Kind, got.Target)
	}

	// In history the CLI's input is plain JSON and the worker's result is encrypted.
	raw := s.temporal.Dial(t, client.Options{})
	ctx := context.Background()
	var inputEnc, resultEnc string
	it := raw.GetWorkflowHistory(ctx, "e2e-cli-probe", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			inputEnc = string(a.GetInput().GetPayloads()[0].GetMetadata()["encoding"])
		}
		if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			p := a.GetResult().GetPayloads()[0]
			resultEnc = string(p.GetMetadata()["encoding"])
			if bytes.Contains(p.GetData(), []byte("orders")) {
				t.Error("encrypted result contains plaintext")
			}
		}
	}
	if inputEnc != "json/plain" || resultEnc != codec.EncodingEncrypted {
		t.Fatalf("input encoding %q (want json/plain), result encoding %q (want %s)", inputEnc, resultEnc, codec.EncodingEncrypted)
	}

	// A client with the shared configuration reads the current details and finds the workflow by
	// its search attributes.
	cfg, err := config.Load(s.configPath, config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": s.temporal.HostPort}))
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := cfg.ClientOptions(config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := s.temporal.Dial(t, opts)
	v, err := c.QueryWorkflow(ctx, "e2e-cli-probe", "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.GetCurrentDetails(), "**Healthy: orders**: 4 of 4 checks decided") {
		t.Fatalf("current details = %q", md.GetCurrentDetails())
	}
	waitListed(t, c, `LifeboatKind = "probe" AND LifeboatAsset = "orders" AND LifeboatResult = "healthy"`, "e2e-cli-probe")
}

func waitListed(t *testing.T, c client.Client, query, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == id {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s not listed by %q", id, query)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLifeboatCLI drives the probe through lifeboat itself: exit codes, JSON output and status.
func TestLifeboatCLI(t *testing.T) {
	s := startStack(t)

	stdout, stderr, code := s.lifeboat(t, "probe", "run", "--check", "primary",
		"--id", "e2e-lifeboat-healthy", "--wait", "-o", "json")
	if code != 0 {
		t.Fatalf("healthy probe: exit %d\n%s%s", code, stdout, stderr)
	}
	var out struct {
		WorkflowID string                      `json:"workflow_id"`
		URL        string                      `json:"url"`
		Result     workflows.HealthProbeResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, stdout)
	}
	if out.WorkflowID != "e2e-lifeboat-healthy" || !out.Result.Healthy || !strings.Contains(out.URL, "/workflows/e2e-lifeboat-healthy/") {
		t.Fatalf("output = %+v", out)
	}

	closed := s.closed
	stdout, stderr, code = s.lifeboat(t, "probe", "run", "--target", "orders", "--check", "closed-port",
		"--failure-threshold", "2", "--interval", "200ms", "--wait")
	if code != 3 {
		t.Fatalf("unhealthy probe: exit %d, want 3\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "orders is unhealthy") || !strings.Contains(stdout, "failed 2 in a row: connection refused") || strings.Contains(stdout, closed+":") {
		t.Fatalf("unhealthy output:\n%s", stdout)
	}

	stdout, _, code = s.lifeboat(t, "status", "e2e-lifeboat-healthy")
	if code != 0 || !strings.Contains(stdout, "Completed") || !strings.Contains(stdout, "| primary | healthy | 1 |") {
		t.Fatalf("status: exit %d\n%s", code, stdout)
	}

	// Every check of a configured target.
	stdout, stderr, code = s.lifeboat(t, "probe", "run", "--target", "orders", "--interval", "200ms", "--wait")
	if code != 0 || !strings.Contains(stdout, "orders is healthy") || strings.Count(stdout, "  healthy ") != 4 {
		t.Fatalf("probe of target orders: exit %d\n%s%s", code, stdout, stderr)
	}

	_, stderr, code = s.lifeboat(t, "probe", "run", "--target", "x")
	if code != 2 || !strings.Contains(stderr, `--target "x" is not in probes.targets`) {
		t.Fatalf("probe of a target not configured: exit %d\n%s", code, stderr)
	}
	_, stderr, code = s.lifeboat(t, "status", "no-such-workflow")
	if code != 1 || !strings.Contains(stderr, `no workflow with id "no-such-workflow"`) {
		t.Fatalf("status of a missing workflow: exit %d\n%s", code, stderr)
	}
	_, stderr, code = s.lifeboat(t, "--address", closed, "status", "x")
	if code != 4 {
		t.Fatalf("unreachable Temporal: exit %d, want 4\n%s", code, stderr)
	}

	// The worker refuses what it does not configure, whatever the CLI's configuration says: a
	// name it does not know, a configured name with another definition. The probe fails (exit 3)
	// and names the configured checks.
	for name, input := range map[string]string{
		"unknown":   `{"target":"x","checks":[{"name":"payments"}]}`,
		"altered":   `{"target":"x","checks":[{"name":"primary","kind":"postgres","dsn_secret":"orders-primary","query":"DROP TABLE orders"}]}`,
		"unnamed":   `{"target":"x","checks":[{"kind":"http","url":"http://169.254.169.254/latest/meta-data/"}]}`,
		"other url": fmt.Sprintf(`{"target":"x","checks":[{"name":"worker","kind":"http","url":"%s/codec/decode","body_contains":"ok"}]}`, s.httpBase),
	} {
		file := filepath.Join(t.TempDir(), name+".json")
		writeFile(t, file, input)
		stdout, stderr, code = s.lifeboat(t, "probe", "run", "--file", file, "--wait")
		refusal := strings.Contains(stderr, "closed-port, db-port, deleter, missing-table, primary, replica, tattler, worker, writer, wrong-db") || strings.Contains(stderr, "differs from the check of that name")
		if code != 3 || !strings.Contains(stderr, "ProbeRefused") || !refusal {
			t.Fatalf("%s check: exit %d, want 3 and a refusal\n%s%s", name, code, stdout, stderr)
		}
	}
	// A configured query that writes fails, read-only, and writes nothing.
	stdout, stderr, code = s.lifeboat(t, "probe", "run", "--check", "writer", "--failure-threshold", "1", "--wait")
	if code != 3 || !strings.Contains(stdout, "query failed: it tried to write, and checks run read-only") {
		t.Fatalf("writing check: exit %d\n%s%s", code, stdout, stderr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var stolen *string
	err = conn.QueryRow(ctx, "SELECT to_regclass('stolen')::text").Scan(&stolen)
	conn.Close(ctx)
	if err != nil || stolen != nil {
		t.Fatalf("the writing check created its table: %v %v", stolen, err)
	}

	// SIGTERM stops the worker cleanly.
	if err := s.worker.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.worker.Err(); err != nil {
		t.Fatalf("worker exit after SIGTERM: %v\n%s", err, s.worker.Tail())
	}
	if !strings.Contains(s.worker.Tail(), "worker stopped") {
		t.Fatalf("worker did not log a clean stop:\n%s", s.worker.Tail())
	}
}

// TestWorkerBinaryRejectsInvalidConfig checks the exit code and that every problem is listed.
func TestWorkerBinaryRejectsInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "temporal:\n  address: nowhere\nhttp:\n  listen: bad\nlog:\n  format: xml\n"+
		"probes:\n  checks:\n    - {name: metadata, kind: http, url: \"http://169.254.169.254/latest/meta-data/\"}\n")
	cmd := exec.Command(filepath.Join(binDir, "lifeboat-worker"), "--config", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("exit = %v, want code 2\n%s", err, stderr.String())
	}
	for _, want := range []string{"temporal.address", "http.listen", "log.format", "probes.checks[0] (metadata).url: host 169.254.169.254:80 is not in probes.allowed_hosts"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not list %s:\n%s", want, stderr.String())
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// The probe fails closed: what the worker's configuration does not name, the worker does not run,
// and what it runs reports only what Lifeboat itself says. Every probe here is started with the raw
// temporal CLI, as anyone who can start a workflow could, against the real worker binary.

// canary is a TCP listener that counts the connections it accepts: a host no probe may reach.
type canary struct {
	addr  string
	conns atomic.Int64
}

func startCanary(t *testing.T) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	c := &canary{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			_ = conn.Close()
		}
	}()
	return c
}

// client dials Temporal with the worker's data converter, so results and failures read decrypted.
func (s *stack) client(t *testing.T) client.Client {
	t.Helper()
	cfg, err := config.Load(s.configPath, config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": s.temporal.HostPort}))
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := cfg.ClientOptions(config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s.temporal.Dial(t, opts)
}

// startProbeCLI starts a HealthProbe with input, given as plain JSON to the temporal CLI.
func (s *stack) startProbeCLI(t *testing.T, id, input string) {
	t.Helper()
	s.temporalCLI(t, "workflow", "start", "--type", workflows.HealthProbeWorkflow, "--task-queue", "lifeboat",
		"--workflow-id", id, "--input", input)
}

// probeResult waits for probe id and returns its result and error.
func probeResult(t *testing.T, c client.Client, id string) (workflows.HealthProbeResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.HealthProbeResult
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	if ctx.Err() != nil {
		t.Fatalf("probe %s did not finish in a minute", id)
	}
	return res, err
}

func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn
}

// TestProbeRefusesChecksTheWorkerDoesNotConfigure starts probes with the fields a caller once used
// to choose what the worker reaches — a URL, an address, a query — and names the worker does not
// configure. The worker refuses each (ProbeRefused, naming its configured checks), no connection
// reaches the host they name, and no SQL they carry runs.
func TestProbeRefusesChecksTheWorkerDoesNotConfigure(t *testing.T) {
	s := startStack(t)
	c := s.client(t)
	target := startCanary(t)
	db := pgConnect(t, s.pg.DSN("postgres"))
	ctx := context.Background()
	if _, err := db.Exec(ctx, "CREATE TABLE accounts (id int PRIMARY KEY); INSERT INTO accounts SELECT generate_series(1, 3)"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, check, want string
	}{
		{"a name not configured", `{"name": "payments"}`, `check "payments" is not configured on this worker`},
		{"a tcp address of the caller's", fmt.Sprintf(`{"kind": "tcp", "address": %q}`, target.addr), "has no name"},
		{"an http url of the caller's", fmt.Sprintf(`{"kind": "http", "url": "http://%s/latest/meta-data/"}`, target.addr), "has no name"},
		{"a configured name with another address", fmt.Sprintf(`{"name": "db-port", "kind": "tcp", "address": %q}`, target.addr), "differs from the check of that name"},
		{"a configured name with another url", fmt.Sprintf(`{"name": "worker", "kind": "http", "url": "http://%s/healthz", "body_contains": "ok"}`, target.addr), "differs from the check of that name"},
		{"sql of the caller's", `{"kind": "postgres", "dsn_secret": "orders-primary", "query": "DELETE FROM accounts"}`, "has no name"},
		// A name with fields but no kind is not even valid input: the workflow refuses it itself.
		{"a configured name with sql of the caller's", `{"name": "primary", "query": "DROP TABLE accounts"}`, "checks[0].kind: required"},
		{"a configured name with its definition and sql", `{"name": "primary", "kind": "postgres", "dsn_secret": "orders-primary", "expect_role": "primary", "query": "DELETE FROM accounts"}`, "differs from the check of that name"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("e2e-refused-%d", i)
			s.startProbeCLI(t, id, fmt.Sprintf(`{"target": "x", "checks": [%s], "interval": "100ms"}`, tt.check))
			res, err := probeResult(t, c, id)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || !strings.Contains(appErr.Message(), tt.want) {
				t.Fatalf("probe %s: result %+v, error %v; want a refusal saying %q", id, res, err, tt.want)
			}
			if appErr.Type() == workflows.ErrTypeInvalidInput {
				return
			}
			if appErr.Type() != "ProbeRefused" {
				t.Fatalf("probe %s: error type %q, want ProbeRefused", id, appErr.Type())
			}
			if !strings.Contains(appErr.Message(), "closed-port, db-port, deleter, missing-table, primary, replica, tattler, worker, writer, wrong-db") &&
				!strings.Contains(appErr.Message(), "as configured") {
				t.Errorf("the refusal says neither the configured checks nor how to run one: %s", appErr.Message())
			}
			// A failed workflow records no result; its status query tells what became of the check.
			v, err := c.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
			var st workflows.HealthProbeResult
			if err != nil || v.Get(&st) != nil {
				t.Fatalf("status query: %v", err)
			}
			if len(st.Checks) != 1 || st.Checks[0].Attempts != 0 || !strings.HasPrefix(st.Checks[0].Verdict, "refused by the worker") {
				t.Errorf("the refused check is reported as %+v", st.Checks)
			}
		})
	}
	if n := target.conns.Load(); n != 0 {
		t.Errorf("refused checks made %d connections to the host they named", n)
	}
	var rows int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM accounts").Scan(&rows); err != nil || rows != 3 {
		t.Errorf("accounts after refused SQL: %d rows, %v; want 3", rows, err)
	}
}

// TestProbeWritingChecksRunReadOnly runs configured checks whose queries write: each fails with the
// read-only reason, and the table is as it was.
func TestProbeWritingChecksRunReadOnly(t *testing.T) {
	s := startStack(t)
	c := s.client(t)
	db := pgConnect(t, s.pg.DSN("postgres"))
	ctx := context.Background()
	if _, err := db.Exec(ctx, "CREATE TABLE accounts (id int PRIMARY KEY); INSERT INTO accounts SELECT generate_series(1, 3)"); err != nil {
		t.Fatal(err)
	}

	s.startProbeCLI(t, "e2e-writers", `{"target": "orders", "checks": [{"name": "deleter"}, {"name": "writer"}], "interval": "100ms", "failure_threshold": 2}`)
	res, err := probeResult(t, c, "e2e-writers")
	if err != nil || res.Healthy || len(res.Checks) != 2 {
		t.Fatalf("probe: %+v, %v; want it unhealthy", res, err)
	}
	for _, r := range res.Checks {
		if r.Status != workflows.StatusUnhealthy || r.Attempts != 2 || r.LastReason != "query failed: it tried to write, and checks run read-only" {
			t.Errorf("check %s: %s after %d attempts, last reason %q", r.Name, r.Status, r.Attempts, r.LastReason)
		}
	}
	var rows int
	var stolen *string
	if err := db.QueryRow(ctx, "SELECT count(*), to_regclass('stolen')::text FROM accounts").Scan(&rows, &stolen); err != nil || rows != 3 || stolen != nil {
		t.Errorf("after the writing checks: accounts has %d rows (want 3), table stolen is %v (want none), %v", rows, stolen, err)
	}
}

// TestProbeReportsOnlyTheFixedVocabulary fails checks whose targets say things no report may
// repeat — a password in a connection string and in a URL, PostgreSQL's error text, a response
// body — and reads the whole history, decrypted, for any of it. The worker's log has the full
// errors.
func TestProbeReportsOnlyTheFixedVocabulary(t *testing.T) {
	s := startStack(t)
	c := s.client(t)

	s.startProbeCLI(t, "e2e-vocabulary", `{"target": "orders", "checks": [{"name": "wrong-db"}, {"name": "missing-table"}, {"name": "tattler"}, {"name": "closed-port"}],
	  "interval": "100ms", "failure_threshold": 1}`)
	res, err := probeResult(t, c, "e2e-vocabulary")
	if err != nil || res.Healthy || len(res.Checks) != 4 {
		t.Fatalf("probe: %+v, %v; want it unhealthy", res, err)
	}
	want := map[string]string{
		"wrong-db":      "connection failed: no such database",
		"missing-table": "query failed (SQLSTATE 42P01)",
		"tattler":       "HTTP 503, want 2xx or 3xx",
		"closed-port":   "connection refused",
	}
	for _, r := range res.Checks {
		if r.LastReason != want[r.Name] || r.Verdict != "failed 1 in a row: "+want[r.Name] {
			t.Errorf("check %s: reason %q, verdict %q; want %q", r.Name, r.LastReason, r.Verdict, want[r.Name])
		}
	}
	if got := res.Checks[2].Target; got != "http://probe:xxxxx@"+s.tattler.Listener.Addr().String()+"/status" {
		t.Errorf("tattler target = %q", got)
	}

	// Everything a user can read of the probe: its history raw and decrypted, and lifeboat's views.
	decoded := payloadText(t, s.temporalCLI(t, "workflow", "show", "--workflow-id", "e2e-vocabulary", "--output", "json",
		"--codec-endpoint", s.httpBase+"/codec", "--codec-auth", "Bearer "+s.token))
	if !strings.Contains(decoded, "query failed (SQLSTATE 42P01)") {
		t.Fatalf("the decoded history does not show the result, so it cannot be searched:\n%s", decoded)
	}
	views := map[string]string{
		"history":                 s.temporalCLI(t, "workflow", "show", "--workflow-id", "e2e-vocabulary", "--output", "json"),
		"decoded history":         decoded,
		"describe":                s.temporalCLI(t, "workflow", "describe", "--workflow-id", "e2e-vocabulary", "--output", "json", "--codec-endpoint", s.httpBase+"/codec", "--codec-auth", "Bearer "+s.token),
		"query":                   s.temporalCLI(t, "workflow", "query", "--workflow-id", "e2e-vocabulary", "--type", workflows.QueryStatus, "--codec-endpoint", s.httpBase+"/codec", "--codec-auth", "Bearer "+s.token),
		"lifeboat status":         "",
		"lifeboat status -o json": "",
	}
	stdout, stderr, code := s.lifeboat(t, "status", "e2e-vocabulary")
	views["lifeboat status"] = stdout + stderr
	if code != 0 || !strings.Contains(stdout, "connection failed: no such database") {
		t.Errorf("lifeboat status: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, _ = s.lifeboat(t, "status", "e2e-vocabulary", "-o", "json")
	views["lifeboat status -o json"] = stdout + stderr
	for view, text := range views {
		for _, secret := range []string{wrongDBPassword, tattlerPassword, "tattled-e2e", "no_such_db_e2e", "no_such_table_e2e", "secret_column", "does not exist", "dial tcp"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", view, secret, text)
			}
		}
	}

	// The worker's log has what the report leaves out.
	deadline := time.Now().Add(10 * time.Second)
	for _, full := range []string{`database \"no_such_db_e2e\" does not exist`, `relation \"no_such_table_e2e\" does not exist`} {
		for !strings.Contains(s.worker.Tail(), full) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(s.worker.Tail(), full) {
			t.Errorf("the worker's log lacks %s:\n%s", full, s.worker.Tail())
		}
	}
}

// TestProbeConfigRefusesHostsNotAllowed gives the worker a check that reaches a host outside
// probes.allowed_hosts: the worker does not start (exit 2, naming the check), lifeboat probe list
// refuses the configuration the same way, and nothing connects to the host.
func TestProbeConfigRefusesHostsNotAllowed(t *testing.T) {
	target := startCanary(t)
	_, port, _ := net.SplitHostPort(target.addr)
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	writeFile(t, path, fmt.Sprintf(`
temporal:
  address: 127.0.0.1:%d
identity: trust-client
http:
  listen: 127.0.0.1:%d
probes:
  allowed_hosts: [db.internal.example.com, "127.0.0.1:1"]
  checks:
    - {name: api, kind: http, url: "http://%[3]s/healthz"}
    - {name: api-port, kind: tcp, address: "127.0.0.1:%[4]s"}
    - {name: metadata, kind: http, url: "http://169.254.169.254/latest/meta-data/"}
`, repo.FreePort(t), repo.FreePort(t), target.addr, port))
	want := []string{
		fmt.Sprintf("probes.checks[0] (api).url: host %s is not in probes.allowed_hosts", target.addr),
		fmt.Sprintf("probes.checks[1] (api-port).address: host %s is not in probes.allowed_hosts", target.addr),
		"probes.checks[2] (metadata).url: host 169.254.169.254:80 is not in probes.allowed_hosts",
	}

	cmd := exec.Command(filepath.Join(binDir, "lifeboat-worker"), "--config", path)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("worker: %v, want exit 2\n%s", err, out)
	}
	_, stderr, code := runLifeboat(t, path, nil, "probe", "list")
	if code != 2 {
		t.Fatalf("probe list: exit %d, want 2\n%s", code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("the worker does not say %q:\n%s", w, out)
		}
		if !strings.Contains(stderr, w) {
			t.Errorf("probe list does not say %q:\n%s", w, stderr)
		}
	}
	if n := target.conns.Load(); n != 0 {
		t.Errorf("%d connections reached the host not allowed", n)
	}
}

// payloadText is the JSON output of the temporal CLI with every base64 string in it (payload data
// and metadata) decoded as well, so that text inside payloads can be searched.
func payloadText(t *testing.T, out string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("temporal CLI output is not JSON: %v\n%s", err, out)
	}
	var b strings.Builder
	b.WriteString(out)
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if d, err := base64.StdEncoding.DecodeString(v); err == nil {
				b.WriteString("\n")
				b.Write(d)
			}
		}
	}
	walk(v)
	return b.String()
}

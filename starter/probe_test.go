package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const probeConfig = `
secrets:
  orders-primary: postgres://probe@127.0.0.1:1/orders
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: api, kind: http, url: "http://probe:s3cret@127.0.0.1:1/healthz"}
    - {name: orders-primary, kind: postgres, dsn_secret: orders-primary, expect_role: primary}
    - {name: orders-port, kind: tcp, address: "127.0.0.1:1", optional: true}
  targets:
    orders: [orders-primary, orders-port]
`

func writeProbeConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(path, []byte(probeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Names are checked against --config before anything starts; names that pass get as far as
// Temporal (unreachable here: exit 4).
func TestProbeRunNamesConfiguredChecks(t *testing.T) {
	cfg := writeProbeConfig(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a check not configured", []string{"--check", "payments"}, exitUsage, `--check "payments" is not configured (probes.checks); the configured checks are api, orders-port, orders-primary`},
		{"a target not configured", []string{"--target", "payments"}, exitUsage, `--target "payments" is not in probes.targets of the configuration; the configured targets are orders`},
		{"a configured check", []string{"--check", "api"}, exitUnreachable, "connect to temporal"},
		{"a configured target", []string{"--target", "orders"}, exitUnreachable, "connect to temporal"},
		{"checks of a target named", []string{"--target", "orders", "--check", "api", "--check", "orders-primary"}, exitUnreachable, "connect to temporal"},
		{"two checks need a target", []string{"--check", "api", "--check", "orders-primary"}, exitUsage, "target: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", append([]string{"--config", cfg, "probe", "run"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

func TestProbeList(t *testing.T) {
	cfg := writeProbeConfig(t)
	stdout, stderr, code := runCLI(t, "", "--config", cfg, "probe", "list")
	if code != exitOK {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, want := range []string{"CHECK           KIND      HOST", "api             http      127.0.0.1:1 ", "orders-primary  postgres  secret orders-primary",
		"orders-port     tcp       127.0.0.1:1            yes", "orders: orders-primary, orders-port"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list does not show %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "s3cret") || strings.Contains(stdout, "healthz") || strings.Contains(stdout, "postgres://") {
		t.Errorf("list shows more than a host:\n%s", stdout)
	}
	stdout, _, code = runCLI(t, "", "--config", cfg, "probe", "list", "-o", "json")
	var out struct {
		Checks []struct {
			Name, Kind, Host string
			DSNSecret        string `json:"dsn_secret"`
			Optional         bool
		}
		Targets      map[string][]string `json:"targets"`
		AllowedHosts []string            `json:"allowed_hosts"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &out) != nil || len(out.Checks) != 3 || out.Checks[0].Host != "127.0.0.1:1" || out.Checks[1].DSNSecret != "orders-primary" || !out.Checks[2].Optional || len(out.Targets["orders"]) != 2 || out.AllowedHosts[0] != "127.0.0.1" {
		t.Fatalf("list -o json: code %d\n%s", code, stdout)
	}
	stdout, _, code = runCLI(t, "", "probe", "list")
	if code != exitOK || !strings.Contains(stdout, "No checks configured") {
		t.Fatalf("list without checks: code %d\n%s", code, stdout)
	}

	// The section is validated as the worker validates it: every problem, exit 2.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: metadata, kind: http, url: "http://169.254.169.254/latest/meta-data/"}
    - {name: orders, kind: postgres, dsn_secret: orders-primary}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, "", "--config", bad, "probe", "list")
	for _, want := range []string{"probes.checks[0] (metadata).url: host 169.254.169.254:80 is not in probes.allowed_hosts", `probes.checks[1] (orders).dsn_secret: secret "orders-primary" is not in secrets`} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("list of an invalid section: code %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}

// The Web UI's summary and details describe checks given by name alone as the configuration
// knows them.
func TestProbeSummaryDescribesConfiguredChecks(t *testing.T) {
	configured := map[string]probe.Check{
		"api": {Name: "api", Kind: probe.HTTP, URL: "http://probe:s3cret@127.0.0.1:1/healthz"},
		"db":  {Name: "db", Kind: probe.Postgres, DSNSecret: "orders"},
	}
	in := workflows.HealthProbeInput{Target: "orders", Checks: []probe.Check{{Name: "api"}, {Name: "db"}, {Name: "elsewhere"}}}
	if got := probeSummary(in, configured); got != "Health probe of orders: 3 checks (http, postgres)" {
		t.Errorf("summary = %q", got)
	}
	details := probeDetails(in, configured)
	for _, want := range []string{"| api | http | 127.0.0.1:1 |", "| db | postgres | secret orders |", "| elsewhere |  | as configured on the worker |"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	if strings.Contains(details, "s3cret") {
		t.Errorf("details show a URL's password:\n%s", details)
	}
}

// probeEnv is a dev server and a worker that runs the real HealthProbe workflow and ProbeCheck
// activity with the checks of the CLI's configuration: api, an HTTP server of the test's that
// counts the connections it gets, and down, a port nothing listens on.
type probeEnv struct {
	config string
	env    config.Env
	client client.Client
	// api is the HTTP server's address; conns counts the connections it accepted.
	api   string
	conns atomic.Int64
}

func startProbeEnv(t *testing.T) *probeEnv {
	t.Helper()
	e := &probeEnv{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	e.api = srv.Listener.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	dev := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	e.config = filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(e.config, fmt.Appendf(nil, `
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: api, kind: http, url: "http://probe:s3cret@%s/healthz?token=s3cret", body_contains: ok}
    - {name: down, kind: tcp, address: %q}
  targets:
    web: [api]
`, e.api, closed), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": dev.HostPort, "LIFEBOAT_TASK_QUEUE": "probe-cli-test"})
	cfg, err := config.Load(e.config, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.client = dev.Dial(t, client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	w := worker.New(e.client, "probe-cli-test", worker.Options{})
	workflows.RegisterWorkflows(w)
	activities.Set{Probes: &activities.Probes{Prober: &probe.Prober{}, Checks: cfg.Probes.ByName(), Logger: slog.New(slog.DiscardHandler)}}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return e
}

func (e *probeEnv) lifeboat(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = run(ctx, append([]string{"--config", e.config}, args...), e.env, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// Every flag of probe run, against the real workflow and activity on a dev server: what each
// flag sets reaches the workflow, and what the worker refuses never reaches the host it names.
func TestProbeRunFlagsAgainstTemporal(t *testing.T) {
	e := startProbeEnv(t)
	ctx := context.Background()

	// --target with --check labels the probe; --id, --interval and both thresholds reach the
	// workflow; --wait -o json prints the result.
	stdout, stderr, code := e.lifeboat(t, "", "probe", "run", "--target", "web", "--check", "api", "--id", "probe-flags",
		"--interval", "100ms", "--success-threshold", "2", "--failure-threshold", "4", "--wait", "-o", "json")
	var out struct {
		WorkflowID string                      `json:"workflow_id"`
		Result     workflows.HealthProbeResult `json:"result"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &out) != nil {
		t.Fatalf("probe run: code %d\n%s%s", code, stdout, stderr)
	}
	r := out.Result
	if out.WorkflowID != "probe-flags" || r.Target != "web" || !r.Healthy || len(r.Checks) != 1 || r.Checks[0].Name != "api" || r.Checks[0].Kind != "http" ||
		r.Checks[0].Attempts != 2 || r.Checks[0].Verdict != "passed 2 in a row" || r.Checks[0].Target != "http://probe:xxxxx@"+e.api+"/healthz" {
		t.Fatalf("probe run -o json = %+v", out)
	}
	if n := e.conns.Load(); n != 2 {
		t.Errorf("the api check connected %d times, want 2 (--success-threshold 2)", n)
	}
	desc, err := e.client.DescribeWorkflow(ctx, "probe-flags", "")
	if err != nil {
		t.Fatal(err)
	}
	summary, _ := desc.GetStaticSummary()
	details, _ := desc.GetStaticDetails()
	if summary != "Health probe of web: 1 checks (http)" || !strings.Contains(details, "| api | http | "+e.api+" |") || strings.Contains(details, "s3cret") {
		t.Errorf("static summary %q, details:\n%s", summary, details)
	}
	v, err := e.client.QueryWorkflow(ctx, "probe-flags", "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if want := "(healthy after 2 passes in a row, unhealthy after 4 failures, every 100ms)"; !strings.Contains(md.GetCurrentDetails(), want) {
		t.Errorf("current details lack %q:\n%s", want, md.GetCurrentDetails())
	}

	// --target alone runs the checks probes.targets lists under it; -w waits, in text.
	stdout, stderr, code = e.lifeboat(t, "", "probe", "run", "--target", "web", "--interval", "100ms", "-w")
	if code != exitOK || !strings.Contains(stdout, "Started HealthProbe workflow probe-web-") || !strings.Contains(stdout, "web is healthy") ||
		!strings.Contains(stdout, "healthy   api: passed 1 in a row; 1 attempts, last HTTP 200") {
		t.Fatalf("probe run --target web: code %d\n%s%s", code, stdout, stderr)
	}

	// --check alone, without --wait: the ID is made of the check's name.
	stdout, stderr, code = e.lifeboat(t, "", "probe", "run", "--check", "api", "-o", "json")
	if code != exitOK || json.Unmarshal([]byte(stdout), &out) != nil || !strings.HasPrefix(out.WorkflowID, "probe-api-") {
		t.Fatalf("probe run --check api: code %d\n%s%s", code, stdout, stderr)
	}

	// --file (-f) gives the input; --target and the flags override it. An unhealthy probe exits 3.
	file := filepath.Join(t.TempDir(), "probe.json")
	if err := os.WriteFile(file, []byte(`{"target": "edge", "checks": [{"name": "down"}], "interval": "5s", "failure_threshold": 9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = e.lifeboat(t, "", "probe", "run", "-f", file, "--target", "gateway", "--interval", "100ms", "--failure-threshold", "2", "--wait")
	if code != exitBadOutcome || !strings.Contains(stdout, "gateway is unhealthy") || !strings.Contains(stdout, "down: failed 2 in a row: connection refused; 2 attempts") {
		t.Fatalf("probe run -f: code %d\n%s%s", code, stdout, stderr)
	}

	// --file - reads stdin. A check of the caller's own, at the very host a configured check
	// reaches, is refused by the worker: the probe fails (exit 3) and nothing connects.
	before := e.conns.Load()
	_, stderr, code = e.lifeboat(t, fmt.Sprintf(`{"target": "x", "checks": [{"kind": "tcp", "address": %q}]}`, e.api), "probe", "run", "--file", "-", "--wait")
	if code != exitBadOutcome || !strings.Contains(stderr, "ProbeRefused") || !strings.Contains(stderr, "name one of the checks configured on this worker (api, down)") {
		t.Fatalf("probe of a check not configured: code %d\n%s", code, stderr)
	}
	if n := e.conns.Load() - before; n != 0 {
		t.Errorf("the refused check made %d connections", n)
	}
}

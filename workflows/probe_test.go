package workflows

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/log"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/stretchr/testify/mock"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func newProbeEnv(t *testing.T, probes *activities.Probes) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := s.NewTestWorkflowEnvironment()
	slowMachine(env)
	RegisterWorkflows(env)
	activities.Set{Probes: probes}.Register(env)
	return env
}

func probeResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) HealthProbeResult {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var r HealthProbeResult
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// configured is the worker's configured checks, by name, as activities.Probes takes them.
func configured(checks ...probe.Check) map[string]probe.Check {
	m := map[string]probe.Check{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func TestHealthProbeAgainstRealTargets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	api := probe.Check{Name: "api", Kind: probe.HTTP, URL: srv.URL, BodyContains: "ok"}
	port := probe.Check{Name: "db-port", Kind: probe.TCP, Address: closedPort(t)}
	env := newProbeEnv(t, &activities.Probes{Prober: &probe.Prober{}, Checks: configured(api, port)})
	env.ExecuteWorkflow(HealthProbeWorkflow, HealthProbeInput{
		Target: "orders",
		// One check with its definition as configured, one by its name alone.
		Checks:   []probe.Check{api, {Name: "db-port"}},
		Interval: units.Duration(time.Minute), // skipped by the test clock
	})
	r := probeResult(t, env)
	if r.Healthy || r.Status != StatusUnhealthy {
		t.Fatalf("probe = %s, want unhealthy", r.Status)
	}
	apiReport, portReport := r.Checks[0], r.Checks[1]
	if apiReport.Status != StatusHealthy || apiReport.Attempts != 1 || apiReport.LastDetail != "HTTP 200" {
		t.Fatalf("api check = %+v", apiReport)
	}
	if portReport.Status != StatusUnhealthy || portReport.Attempts != 3 || portReport.Verdict != "failed 3 in a row: connection refused" {
		t.Fatalf("port check = %+v", portReport)
	}
	// The check named alone is reported as the worker configures it.
	if portReport.Kind != "tcp" || portReport.Target != port.Address || strings.Contains(portReport.LastReason, port.Address) {
		t.Fatalf("port check = %+v, want kind and target from the worker and a reason without the address", portReport)
	}
	if !r.FinishedAt.After(r.StartedAt) || r.FinishedAt.Sub(r.StartedAt) < 2*time.Minute {
		t.Fatalf("probe took %s of workflow time, want the two waits between attempts", r.FinishedAt.Sub(r.StartedAt))
	}
}

// scripted returns attempt outcomes from a script per check name; "p" passes, "f" fails.
func scripted(t *testing.T, env *testsuite.TestWorkflowEnvironment, scripts map[string]string) {
	var mu sync.Mutex // local activities run concurrently
	calls := map[string]int{}
	var a *activities.Probes
	env.OnActivity(a.ProbeCheck, mockAny, mockAny).Return(
		func(_ context.Context, in contract.ProbeCheckInput) (contract.ProbeCheckResult, error) {
			name := in.Check.DisplayName()
			script := scripts[name]
			mu.Lock()
			n := calls[name]
			calls[name]++
			mu.Unlock()
			if n >= len(script) {
				t.Errorf("check %q attempted %d times, script has %d", name, n+1, len(script))
				return contract.ProbeCheckResult{}, errors.New("script exhausted")
			}
			if script[n] == 'p' {
				return contract.ProbeCheckResult{Outcome: probe.Outcome{OK: true, Detail: "fine", Latency: units.Duration(time.Millisecond)}}, nil
			}
			return contract.ProbeCheckResult{Outcome: probe.Outcome{Reason: "refused", Latency: units.Duration(time.Millisecond)}}, nil
		})
}

const mockAny = mock.Anything

func TestHealthProbeThresholds(t *testing.T) {
	tests := []struct {
		name        string
		in          HealthProbeInput
		scripts     map[string]string
		wantStatus  map[string]string
		wantVerdict map[string]string
		wantHealthy bool
	}{
		{
			name:        "recovers after a blip",
			in:          HealthProbeInput{SuccessThreshold: 2, FailureThreshold: 3},
			scripts:     map[string]string{"a": "fpp"},
			wantStatus:  map[string]string{"a": StatusHealthy},
			wantVerdict: map[string]string{"a": "passed 2 in a row"},
			wantHealthy: true,
		},
		{
			name:        "a pass resets the failure count",
			in:          HealthProbeInput{SuccessThreshold: 3, FailureThreshold: 2},
			scripts:     map[string]string{"a": "fpff"},
			wantStatus:  map[string]string{"a": StatusUnhealthy},
			wantVerdict: map[string]string{"a": "failed 2 in a row: refused"},
		},
		{
			name:        "flapping hits max attempts",
			in:          HealthProbeInput{SuccessThreshold: 2, FailureThreshold: 2, MaxAttempts: 5},
			scripts:     map[string]string{"a": "pfpfp"},
			wantStatus:  map[string]string{"a": StatusUnhealthy},
			wantVerdict: map[string]string{"a": "flapping: no threshold reached in 5 attempts (3 passed, 2 failed)"},
		},
		{
			name:        "optional check does not decide health",
			in:          HealthProbeInput{Checks: []probe.Check{{Name: "b", Kind: probe.TCP, Address: "h:2", Optional: true}}},
			scripts:     map[string]string{"a": "p", "b": "fff"},
			wantStatus:  map[string]string{"a": StatusHealthy, "b": StatusUnhealthy},
			wantHealthy: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newProbeEnv(t, &activities.Probes{})
			scripted(t, env, tt.scripts)
			in := tt.in
			in.Target = "svc"
			in.Checks = append([]probe.Check{{Name: "a", Kind: probe.TCP, Address: "h:1"}}, in.Checks...)
			env.ExecuteWorkflow(HealthProbe, in)
			r := probeResult(t, env)
			if r.Healthy != tt.wantHealthy {
				t.Errorf("healthy = %v, want %v", r.Healthy, tt.wantHealthy)
			}
			for _, c := range r.Checks {
				if c.Status != tt.wantStatus[c.Name] {
					t.Errorf("check %s status = %s, want %s", c.Name, c.Status, tt.wantStatus[c.Name])
				}
				if want, ok := tt.wantVerdict[c.Name]; ok && c.Verdict != want {
					t.Errorf("check %s verdict = %q, want %q", c.Name, c.Verdict, want)
				}
				if c.Attempts != len(tt.scripts[c.Name]) {
					t.Errorf("check %s attempts = %d, want %d", c.Name, c.Attempts, len(tt.scripts[c.Name]))
				}
			}
		})
	}
}

func TestHealthProbeStatusQueryWhileRunning(t *testing.T) {
	env := newProbeEnv(t, &activities.Probes{})
	scripted(t, env, map[string]string{"a": "fff"})
	var mid HealthProbeResult
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(&mid); err != nil {
			t.Error(err)
		}
	}, 7*time.Second) // after the second attempt, with the default 5s interval
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "svc", Checks: []probe.Check{{Name: "a", Kind: probe.TCP, Address: "h:1"}}})
	probeResult(t, env)
	if mid.Status != StatusProbing || mid.Checks[0].Status != StatusPending || mid.Checks[0].Attempts != 2 || mid.Checks[0].LastReason != "refused" {
		t.Fatalf("status mid-probe = %+v", mid)
	}
}

func TestHealthProbeMisconfiguredCheckFailsTheWorkflow(t *testing.T) {
	checks := []probe.Check{
		{Name: "pg", Kind: probe.Postgres, DSNSecret: "orders-db"},
		{Name: "never-up", Kind: probe.TCP, Address: closedPort(t)},
	}
	env := newProbeEnv(t, &activities.Probes{Prober: &probe.Prober{Secrets: secrets.Static{}}, Checks: configured(checks...)})
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "db", Checks: checks})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeProbeMisconfigured || appErr.NonRetryable() == false {
		t.Fatalf("error = %v, want a non-retryable %s", err, contract.ErrTypeProbeMisconfigured)
	}
	if !strings.Contains(appErr.Error(), `check "pg" is misconfigured`) || !strings.Contains(appErr.Error(), `secret "orders-db"`) {
		t.Fatalf("error does not say what is wrong: %v", appErr)
	}
}

func TestHealthProbeRejectsInvalidInputListingEveryProblem(t *testing.T) {
	env := newProbeEnv(t, &activities.Probes{})
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{
		Checks: []probe.Check{
			{Name: "x", Kind: probe.HTTP},
			{Name: "x", Kind: probe.TCP, Address: "h:1"},
		},
		Interval:    units.Duration(time.Millisecond),
		MaxAttempts: 1000,
	})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, ErrTypeInvalidInput)
	}
	for _, want := range []string{"target: required", "checks[0].url: required", `checks[1].name: "x" is also the name of checks[0]`, "interval: 1ms", "max_attempts: 1000"} {
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("error %q does not mention %q", appErr.Error(), want)
		}
	}
}

func TestHealthProbeKeepsCurrentDetailsAndSearchAttributes(t *testing.T) {
	env := newProbeEnv(t, &activities.Probes{})
	scripted(t, env, map[string]string{"api": "p"})
	var upserts []string
	env.OnUpsertTypedSearchAttributes(mockAny).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		for k, v := range sa.GetUntypedValues() {
			upserts = append(upserts, k.GetName()+"="+v.(string))
		}
	}).Return(nil)
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "orders", Checks: []probe.Check{{Name: "api", Kind: probe.TCP, Address: "h:1"}}})
	probeResult(t, env)
	joined := strings.Join(upserts, ",")
	for _, want := range []string{"LifeboatKind=probe", "LifeboatAsset=orders", "LifeboatPhase=done", "LifeboatResult=healthy"} {
		if !strings.Contains(joined, want) {
			t.Errorf("search attribute upserts %s lack %s", joined, want)
		}
	}
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.GetCurrentDetails(), "**Healthy: orders**") || !strings.Contains(md.GetCurrentDetails(), "| api | healthy | 1 |") {
		t.Fatalf("current details = %q", md.GetCurrentDetails())
	}
}

// The worker runs only the checks it configures: a check it does not know, or one whose
// definition differs from the configured one, fails the probe before anything is attempted, with
// a non-retryable ProbeRefused that names the configured checks.
func TestHealthProbeRefusesChecksTheWorkerDoesNotConfigure(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
	}))
	defer srv.Close()
	api := probe.Check{Name: "api", Kind: probe.HTTP, URL: srv.URL + "/healthz"}
	pg := probe.Check{Name: "orders-primary", Kind: probe.Postgres, DSNSecret: "orders-primary", Query: "SELECT 1"}
	tests := []struct {
		name  string
		check probe.Check
		want  string
	}{
		{"a name not configured", probe.Check{Name: "payments"}, `check "payments" is not configured on this worker: name one of its configured checks (api, orders-primary)`},
		{"a new check with a configured name", probe.Check{Name: "api", Kind: probe.HTTP, URL: srv.URL + "/admin/reset"}, `check "api" differs from the check of that name configured on this worker: give only its name ({"name": "api"})`},
		{"configured SQL altered", probe.Check{Name: "orders-primary", Kind: probe.Postgres, DSNSecret: "orders-primary", Query: "DROP TABLE orders"}, `check "orders-primary" differs`},
		{"configured check made optional", probe.Check{Name: "api", Kind: probe.HTTP, URL: api.URL, Optional: true}, `check "api" differs`},
		{"an unnamed check", probe.Check{Kind: probe.TCP, Address: "169.254.169.254:80"}, "has no name: name one of the checks configured on this worker (api, orders-primary)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newProbeEnv(t, &activities.Probes{Prober: &probe.Prober{}, Checks: configured(api, pg)})
			env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "svc", Checks: []probe.Check{tt.check}})
			var appErr *temporal.ApplicationError
			if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeProbeRefused || !appErr.NonRetryable() {
				t.Fatalf("error = %v, want a non-retryable %s", err, contract.ErrTypeProbeRefused)
			}
			if !strings.Contains(appErr.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", appErr.Error(), tt.want)
			}
		})
	}
	if _, ok := hits.Load("/admin/reset"); ok {
		t.Fatal("the altered check reached its URL")
	}
	// None configured at all: the error says where checks are configured.
	env := newProbeEnv(t, &activities.Probes{Prober: &probe.Prober{}})
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "svc", Checks: []probe.Check{{Name: "api"}}})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "which has no checks configured: add it to probes.checks") {
		t.Fatalf("error = %v", err)
	}
}

// A check named alone passes the workflow's validation, and its attempts get the longest timeout a
// configured check may have; the configured check's optional flag decides the probe's health.
func TestHealthProbeByNameAlone(t *testing.T) {
	if err := (HealthProbeInput{Target: "svc", Checks: []probe.Check{{Name: "a"}, {Name: "b"}}}).Validate(); err != nil {
		t.Fatalf("checks named alone: %v", err)
	}
	if got := probeAttemptOptions(probe.Check{Name: "a"}, 1).StartToCloseTimeout; got != probe.MaxTimeout+5*time.Second {
		t.Fatalf("attempt timeout of a check named alone = %s", got)
	}
	optional := probe.Check{Name: "db-port", Kind: probe.TCP, Address: closedPort(t), Optional: true}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	env := newProbeEnv(t, &activities.Probes{Prober: &probe.Prober{}, Checks: configured(optional, probe.Check{Name: "api", Kind: probe.HTTP, URL: srv.URL})})
	env.ExecuteWorkflow(HealthProbe, HealthProbeInput{Target: "svc", Checks: []probe.Check{{Name: "api"}, {Name: "db-port"}}})
	r := probeResult(t, env)
	if !r.Healthy || !r.Checks[1].Optional || r.Checks[1].Status != StatusUnhealthy || r.Checks[0].Kind != "http" {
		t.Fatalf("probe = %+v, want healthy with the optional db-port unhealthy", r)
	}
}

package intake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// recordingTemporal stands in for Temporal where a test needs to see exactly which calls the
// handler makes, or make them fail: it records every call, and a workflow exists once it has been
// signalled with start. The integration test runs the same handler against a real server.
type recordingTemporal struct {
	mu      sync.Mutex
	starts  []startCall
	signals []signalCall
	running map[string]bool
	// err, when set, is returned by every call.
	err error
}

type startCall struct {
	id    string
	event workflows.AlertEvent
	opts  client.StartWorkflowOptions
	wf    any
	input workflows.AlertInput
}

type signalCall struct {
	id    string
	event workflows.AlertEvent
}

var _ Temporal = (*recordingTemporal)(nil)

func (f *recordingTemporal) SignalWithStartWorkflow(_ context.Context, id, signal string, arg any, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if signal != workflows.SignalAlert || len(args) != 1 {
		return nil, errors.New("unexpected signal or arguments")
	}
	f.starts = append(f.starts, startCall{id: id, event: arg.(workflows.AlertEvent), opts: opts, wf: wf, input: args[0].(workflows.AlertInput)})
	if f.running == nil {
		f.running = map[string]bool{}
	}
	f.running[id] = true
	return nil, nil
}

func (f *recordingTemporal) SignalWorkflow(_ context.Context, id, _ string, signal string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if !f.running[id] {
		return serviceerror.NewNotFound("workflow not found for ID: " + id)
	}
	f.signals = append(f.signals, signalCall{id: id, event: arg.(workflows.AlertEvent)})
	return nil
}

func (f *recordingTemporal) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts) + len(f.signals)
}

const (
	testToken         = "am-token-7f3a"
	testPassword      = "am-password-91c2"
	testWebhookSecret = "webhook-key-c0ffee"
)

var testSecrets = secrets.Static{"am-token": testToken, "am-password": testPassword, "intake-key": testWebhookSecret}

func testConfig() Config {
	return Config{
		Alertmanager: AlertmanagerConfig{TokenSecret: "am-token", Username: "alertmanager", PasswordSecret: "am-password"},
		Webhook:      WebhookConfig{Secret: "intake-key"},
		QuietPeriod:  units.Duration(2 * time.Hour),
		Rules: []Rule{
			{Name: "orders-down", Match: map[string]string{"alertname": "OrdersPrimaryDown"}, MatchRE: map[string]string{"severity": "critical|page"}, Plan: "orders-failover"},
			{Name: "any-critical", MatchRE: map[string]string{"severity": "critical"}, Plan: "generic", Mode: workflows.ModeDrill, QuietPeriod: units.Duration(10 * time.Minute)},
		},
	}
}

// testServer serves a handler for cfg, backed by t, at an httptest server.
type testServer struct {
	*httptest.Server
	temporal *recordingTemporal
	observed map[string]int
	mu       sync.Mutex
	now      time.Time
}

func newTestServer(t *testing.T, cfg Config, tweak func(*Options)) *testServer {
	t.Helper()
	s := &testServer{temporal: &recordingTemporal{}, observed: map[string]int{}, now: time.Now()}
	opts := Options{
		Config: cfg, TaskQueue: "lifeboat-test", Secrets: testSecrets.Secret,
		Logger:  slog.New(slog.DiscardHandler),
		Observe: func(endpoint, outcome string) { s.mu.Lock(); s.observed[endpoint+" "+outcome]++; s.mu.Unlock() },
		Now:     func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now },
	}
	if tweak != nil {
		tweak(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.SetClient(s.temporal)
	mux := http.NewServeMux()
	h.Register(mux)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// post sends body to path with the headers and returns the status and decoded response.
func (s *testServer) post(t *testing.T, path string, body []byte, header http.Header) (int, Response, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out Response
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func groupFixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/alertmanager-group.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAlertmanagerAuthentication(t *testing.T) {
	body := groupFixture(t)
	tokenOnly := testConfig()
	tokenOnly.Alertmanager.Username, tokenOnly.Alertmanager.PasswordSecret = "", ""
	for _, tc := range []struct {
		name   string
		cfg    Config
		header http.Header
		want   int
	}{
		{"no credentials", testConfig(), nil, http.StatusUnauthorized},
		{"wrong token", testConfig(), bearer("am-token-7f3b"), http.StatusUnauthorized},
		{"token prefix", testConfig(), bearer(testToken[:5]), http.StatusUnauthorized},
		{"empty bearer", testConfig(), http.Header{"Authorization": {"Bearer "}}, http.StatusUnauthorized},
		{"unknown scheme", testConfig(), http.Header{"Authorization": {"Token " + testToken}}, http.StatusUnauthorized},
		{"right token", testConfig(), bearer(testToken), http.StatusOK},
		{"right token, lower-case scheme", testConfig(), http.Header{"Authorization": {"bearer " + testToken}}, http.StatusOK},
		{"basic auth", testConfig(), basic("alertmanager", testPassword), http.StatusOK},
		{"basic auth, wrong password", testConfig(), basic("alertmanager", testToken), http.StatusUnauthorized},
		{"basic auth, wrong user", testConfig(), basic("prometheus", testPassword), http.StatusUnauthorized},
		{"basic auth where only a token is configured", tokenOnly, basic("alertmanager", testPassword), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.cfg, nil)
			code, resp, header := s.post(t, PathAlertmanager, body, tc.header)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %+v", code, tc.want, resp)
			}
			if code == http.StatusUnauthorized {
				if s.temporal.calls() != 0 {
					t.Errorf("an unauthenticated request reached Temporal")
				}
				if header.Get("WWW-Authenticate") == "" || resp.Error == "" {
					t.Errorf("401 without WWW-Authenticate or error: %v %+v", header, resp)
				}
				if strings.Contains(resp.Error, testToken) || strings.Contains(resp.Error, testPassword) {
					t.Errorf("error quotes a secret: %q", resp.Error)
				}
			}
		})
	}
}

// TestAlertmanagerGroup: of three alerts, one firing alert matches two rules and goes to the first;
// a resolved one matches the second rule but has no workflow and is ignored; one matches nothing.
func TestAlertmanagerGroup(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	code, resp, _ := s.post(t, PathAlertmanager, groupFixture(t), bearer(testToken))
	if code != http.StatusOK {
		t.Fatalf("status %d: %+v", code, resp)
	}
	want := []Result{
		{Fingerprint: "8d4c1e2f0a9b7c65", Status: "firing", Name: "OrdersPrimaryDown", Rule: "orders-down", WorkflowID: "alert-orders-down-8d4c1e2f0a9b7c65", Outcome: OutcomeDelivered},
		{Fingerprint: "51f0c7a2d3e4b5a6", Status: "resolved", Name: "DiskAlmostFull", Rule: "any-critical", WorkflowID: "alert-any-critical-51f0c7a2d3e4b5a6", Outcome: OutcomeNoWorkflow},
		{Fingerprint: "0c1d2e3f4a5b6c7d", Status: "firing", Name: "HighLatency", Outcome: OutcomeNoRule},
	}
	if len(resp.Alerts) != len(want) {
		t.Fatalf("results %+v, want %+v", resp.Alerts, want)
	}
	for i := range want {
		if resp.Alerts[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, resp.Alerts[i], want[i])
		}
	}
	if len(s.temporal.starts) != 1 || len(s.temporal.signals) != 0 {
		t.Fatalf("%d starts, %d signals; want one start", len(s.temporal.starts), len(s.temporal.signals))
	}
	st := s.temporal.starts[0]
	if st.id != "alert-orders-down-8d4c1e2f0a9b7c65" || st.opts.ID != st.id || st.wf != workflows.AlertWorkflow || st.opts.TaskQueue != "lifeboat-test" {
		t.Errorf("started %q (%v) as %v on %q", st.id, st.opts.ID, st.wf, st.opts.TaskQueue)
	}
	if st.opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING || st.opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE {
		t.Errorf("conflict policy %v, reuse policy %v", st.opts.WorkflowIDConflictPolicy, st.opts.WorkflowIDReusePolicy)
	}
	wantIn := workflows.AlertInput{Rule: "orders-down", Fingerprint: "8d4c1e2f0a9b7c65", Plan: "orders-failover", Mode: workflows.ModeRecovery, QuietPeriod: units.Duration(2 * time.Hour)}
	if st.input.Rule != wantIn.Rule || st.input.Fingerprint != wantIn.Fingerprint || st.input.Plan != wantIn.Plan || st.input.Mode != wantIn.Mode || st.input.QuietPeriod != wantIn.QuietPeriod {
		t.Errorf("input %+v, want %+v", st.input, wantIn)
	}
	ev := st.event
	if ev.Status != "firing" || ev.Name != "OrdersPrimaryDown" || ev.Source != "alertmanager/lifeboat" || ev.Rule != "orders-down" ||
		!ev.StartsAt.Equal(time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)) || !ev.EndsAt.IsZero() || ev.Summary() != "orders primary unreachable for 2m" || ev.ReceivedAt.IsZero() {
		t.Errorf("event %+v", ev)
	}
	for _, k := range []string{"alertmanager delivered", "alertmanager " + OutcomeNoWorkflow, "alertmanager " + OutcomeNoRule} {
		if s.observed[k] != 1 {
			t.Errorf("observed %v: want one %q", s.observed, k)
		}
	}

	// Alertmanager sends the group again at its group interval, now with the first alert resolved:
	// the resolution reaches the running workflow as a signal.
	var p AlertmanagerPayload
	if err := json.Unmarshal(groupFixture(t), &p); err != nil {
		t.Fatal(err)
	}
	p.Alerts[0].Status, p.Alerts[0].EndsAt = "resolved", time.Date(2026, 3, 14, 9, 20, 0, 0, time.UTC)
	b, _ := json.Marshal(p)
	code, resp, _ = s.post(t, PathAlertmanager, b, bearer(testToken))
	if code != http.StatusOK || resp.Alerts[0].Outcome != OutcomeDelivered {
		t.Fatalf("status %d, results %+v", code, resp.Alerts)
	}
	if len(s.temporal.starts) != 1 || len(s.temporal.signals) != 1 || s.temporal.signals[0].event.Status != "resolved" || !s.temporal.signals[0].event.EndsAt.Equal(p.Alerts[0].EndsAt) {
		t.Errorf("after the resolution: %d starts, signals %+v", len(s.temporal.starts), s.temporal.signals)
	}
}

func TestAlertmanagerRefusesBadRequests(t *testing.T) {
	var p AlertmanagerPayload
	if err := json.Unmarshal(groupFixture(t), &p); err != nil {
		t.Fatal(err)
	}
	encode := func(change func(*AlertmanagerPayload)) []byte {
		q := p
		q.Alerts = append([]AlertmanagerAlert(nil), p.Alerts...)
		change(&q)
		b, _ := json.Marshal(q)
		return b
	}
	for _, tc := range []struct {
		name    string
		body    []byte
		want    int
		mention string
	}{
		{"not JSON", []byte(`{"version": "4", "alerts": [`), http.StatusBadRequest, "not an Alertmanager webhook payload"},
		{"wrong types", []byte(`{"version": "4", "alerts": {"status": "firing"}}`), http.StatusBadRequest, "not an Alertmanager webhook payload"},
		{"version 3", encode(func(q *AlertmanagerPayload) { q.Version = "3" }), http.StatusBadRequest, `version "3"`},
		{"unknown status", encode(func(q *AlertmanagerPayload) { q.Alerts[1].Status = "pending" }), http.StatusBadRequest, `alerts[1]: status "pending"`},
		{"no labels", encode(func(q *AlertmanagerPayload) { q.Alerts[2].Labels = nil }), http.StatusBadRequest, "alerts[2]: no labels"},
		{"too large", bytes.Repeat([]byte(" "), 5000), http.StatusRequestEntityTooLarge, "larger than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, testConfig(), func(o *Options) { o.MaxBodyBytes = 4096 })
			code, resp, _ := s.post(t, PathAlertmanager, tc.body, bearer(testToken))
			if code != tc.want || !strings.Contains(resp.Error, tc.mention) {
				t.Errorf("status %d, error %q; want %d mentioning %q", code, resp.Error, tc.want, tc.mention)
			}
			if s.temporal.calls() != 0 {
				t.Errorf("a refused request reached Temporal")
			}
		})
	}
}

// TestTemporalUnavailable: when Temporal does not take an alert, Alertmanager is told to retry.
func TestTemporalUnavailable(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	s.temporal.err = serviceerror.NewUnavailable("connection refused")
	code, resp, header := s.post(t, PathAlertmanager, groupFixture(t), bearer(testToken))
	if code != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", code, header.Get("Retry-After"))
	}
	if resp.Alerts[0].Outcome != OutcomeFailed || !strings.Contains(resp.Alerts[0].Error, "connection refused") || resp.Alerts[2].Outcome != OutcomeNoRule {
		t.Errorf("results %+v", resp.Alerts)
	}

	// Before the worker has connected to Temporal.
	h, err := New(Options{Config: testConfig(), TaskQueue: "q", Secrets: testSecrets.Secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, PathAlertmanager, bytes.NewReader(groupFixture(t)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not connected to Temporal") {
		t.Errorf("before connecting: %d %s", rec.Code, rec.Body)
	}
}

// signed returns the headers that sign body at time at with key.
func signed(key string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	return http.Header{webhook.HeaderTimestamp: {ts}, webhook.HeaderSignature: {webhook.Sign([]byte(key), ts, body)}}
}

func webhookBody(t *testing.T, a WebhookAlert) []byte {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var firingWebhook = WebhookAlert{
	Fingerprint: "grafana:orders:1", Status: "firing", Source: "grafana",
	Labels:      map[string]string{"alertname": "OrdersPrimaryDown", "severity": "page"},
	Annotations: map[string]string{"summary": "orders primary unreachable"},
	StartsAt:    time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
}

func TestWebhookSignatures(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	body := webhookBody(t, firingWebhook)
	now := s.now

	wrongKey := signed("not-the-key", now, body)
	tampered := signed(testWebhookSecret, now, body)
	stale := signed(testWebhookSecret, now.Add(-6*time.Minute), body)
	future := signed(testWebhookSecret, now.Add(6*time.Minute), body)
	for _, tc := range []struct {
		name    string
		body    []byte
		header  http.Header
		mention string
	}{
		{"unsigned", body, nil, "headers required"},
		{"wrong key", body, wrongKey, "does not match"},
		{"body changed after signing", bytes.Replace(body, []byte("firing"), []byte("resolved"), 1), tampered, "does not match"},
		{"stale timestamp", body, stale, "more than the tolerance"},
		{"timestamp in the future", body, future, "more than the tolerance"},
		{"not a signature", body, http.Header{webhook.HeaderTimestamp: {"1"}, webhook.HeaderSignature: {"md5=abc"}}, "sha256="},
	} {
		code, resp, _ := s.post(t, PathWebhook, tc.body, tc.header)
		if code != http.StatusUnauthorized || !strings.Contains(resp.Error, tc.mention) {
			t.Errorf("%s: status %d, error %q; want 401 mentioning %q", tc.name, code, resp.Error, tc.mention)
		}
	}
	if s.temporal.calls() != 0 {
		t.Fatalf("a badly signed request reached Temporal")
	}

	good := signed(testWebhookSecret, now, body)
	code, resp, _ := s.post(t, PathWebhook, body, good)
	if code != http.StatusOK || len(resp.Alerts) != 1 || resp.Alerts[0].Outcome != OutcomeDelivered || resp.Alerts[0].Rule != "orders-down" {
		t.Fatalf("signed request: %d %+v", code, resp)
	}
	if ev := s.temporal.starts[0].event; ev.Source != "webhook/grafana" || ev.Fingerprint != "grafana:orders:1" {
		t.Errorf("event %+v", ev)
	}

	// The same request again, as captured, and with the signature's hex in upper case: replays.
	for _, h := range []http.Header{good, {webhook.HeaderTimestamp: good[webhook.HeaderTimestamp], webhook.HeaderSignature: {"sha256=" + strings.ToUpper(strings.TrimPrefix(good.Get(webhook.HeaderSignature), "sha256="))}}} {
		code, resp, _ = s.post(t, PathWebhook, body, h)
		if code != http.StatusConflict || !strings.Contains(resp.Error, "already received") {
			t.Errorf("replay: status %d, error %q; want 409", code, resp.Error)
		}
	}
	if n := len(s.temporal.starts); n != 1 {
		t.Errorf("replays reached Temporal: %d starts", n)
	}

	// The sender signs each request anew: a repeat a second later is accepted.
	code, _, _ = s.post(t, PathWebhook, body, signed(testWebhookSecret, now.Add(time.Second), body))
	if code != http.StatusOK || len(s.temporal.starts) != 2 {
		t.Errorf("re-signed repeat: status %d, %d starts", code, len(s.temporal.starts))
	}
	if s.observed["webhook replayed"] != 2 || s.observed["webhook unauthorized"] != 6 {
		t.Errorf("observed %v", s.observed)
	}
}

// TestWebhookRetryAfterFailure: a request Temporal did not take is not remembered as seen, so the
// sender's retry of the very same request goes through.
func TestWebhookRetryAfterFailure(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	body := webhookBody(t, firingWebhook)
	h := signed(testWebhookSecret, s.now, body)
	s.temporal.err = serviceerror.NewUnavailable("frontend restarting")
	if code, _, _ := s.post(t, PathWebhook, body, h); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", code)
	}
	s.temporal.mu.Lock()
	s.temporal.err = nil
	s.temporal.mu.Unlock()
	if code, resp, _ := s.post(t, PathWebhook, body, h); code != http.StatusOK {
		t.Fatalf("retry: status %d %+v, want 200", code, resp)
	}
	if code, _, _ := s.post(t, PathWebhook, body, h); code != http.StatusConflict {
		t.Fatalf("replay after success: status %d, want 409", code)
	}
}

func TestWebhookBodies(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	post := func(body []byte) (int, Response) {
		code, resp, _ := s.post(t, PathWebhook, body, signed(testWebhookSecret, s.now, body))
		return code, resp
	}
	for _, tc := range []struct {
		name, body, mention string
	}{
		{"not JSON", `{"status": "firing", `, "not a webhook alert"},
		{"misspelt field", `{"stauts": "firing", "labels": {"alertname": "X"}}`, `unknown field "stauts"`},
		{"no status", `{"labels": {"alertname": "X"}}`, `status "" is neither firing nor resolved`},
		{"no labels", `{"status": "firing"}`, "no labels"},
	} {
		if code, resp := post([]byte(tc.body)); code != http.StatusBadRequest || !strings.Contains(resp.Error, tc.mention) {
			t.Errorf("%s: status %d, error %q; want 400 mentioning %q", tc.name, code, resp.Error, tc.mention)
		}
	}

	// Without a fingerprint, the alert is known by its labels; an id that cannot go into a
	// workflow ID is hashed.
	a := firingWebhook
	a.Fingerprint = ""
	_, r1 := post(webhookBody(t, a))
	a.Labels = map[string]string{"severity": "page", "alertname": "OrdersPrimaryDown"}
	a.Annotations = map[string]string{"summary": "still down"}
	_, r2 := post(webhookBody(t, a))
	if r1.Alerts[0].Fingerprint != r2.Alerts[0].Fingerprint || len(r1.Alerts[0].Fingerprint) != 16 {
		t.Errorf("fingerprints from labels: %q and %q, want the same 16 hex digits", r1.Alerts[0].Fingerprint, r2.Alerts[0].Fingerprint)
	}
	for _, id := range []string{"incident 42 / orders", "INC-42"} {
		a.ID = id
		_, r := post(webhookBody(t, a))
		if fp := r.Alerts[0].Fingerprint; len(fp) != 16 || fp == r1.Alerts[0].Fingerprint || strings.ContainsAny(fp, " /-") {
			t.Errorf("fingerprint of id %q: %q", a.ID, fp)
		}
	}
	a.ID = "INC.42"
	if _, r := post(webhookBody(t, a)); r.Alerts[0].Fingerprint != "INC.42" {
		t.Errorf("plain id %q became %q", a.ID, r.Alerts[0].Fingerprint)
	}

	// Oversized labels are matched in full but carried cut.
	a = firingWebhook
	a.Fingerprint = "big"
	a.Labels = map[string]string{"alertname": "OrdersPrimaryDown", "severity": "critical", "detail": strings.Repeat("x", 5000)}
	if code, _ := post(webhookBody(t, a)); code != http.StatusOK {
		t.Fatalf("big labels: status %d", code)
	}
	last := s.temporal.starts[len(s.temporal.starts)-1].event
	if v := last.Labels["detail"]; len(v) > MaxLabelValueLen || !strings.HasSuffix(v, "…") {
		t.Errorf("label of %d bytes carried", len(v))
	}
}

func TestEndpointsNeedCredentials(t *testing.T) {
	cfg := testConfig()
	cfg.Alertmanager = AlertmanagerConfig{}
	s := newTestServer(t, cfg, nil)
	resp, err := s.Client().Post(s.URL+PathAlertmanager, "application/json", bytes.NewReader(groupFixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("Alertmanager endpoint without credentials: %d, want 404 (not served)", resp.StatusCode)
	}
}

func TestNewReportsMissingSecrets(t *testing.T) {
	_, err := New(Options{Config: testConfig(), TaskQueue: "q", Secrets: secrets.Static{"am-token": testToken, "intake-key": ""}.Secret})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`intake.alertmanager.password_secret: secret "am-password"`, `intake.webhook.secret: secret "intake-key" is empty`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestIntakeOff: without an intake section, New succeeds and serves nothing, so the worker can
// always build the handler.
func TestIntakeOff(t *testing.T) {
	h, err := New(Options{TaskQueue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	for _, path := range []string{PathAlertmanager, PathWebhook} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
}

// An unsigned or stale request is refused from its headers alone: the worker does not wait for,
// or read, the body of a request it will refuse anyway.
func TestWebhookRefusesBeforeReadingTheBody(t *testing.T) {
	s := newTestServer(t, testConfig(), nil)
	stale := signed(testWebhookSecret, s.now.Add(-time.Hour), []byte("{}"))
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"unsigned", ""},
		{"stale", fmt.Sprintf("%s: %s\r\n%s: %s\r\n", webhook.HeaderTimestamp, stale.Get(webhook.HeaderTimestamp), webhook.HeaderSignature, stale.Get(webhook.HeaderSignature))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A body of 1 MiB is announced and never sent.
			fmt.Fprintf(conn, "POST /alerts/webhook HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", 1<<20, tc.header)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("answered %s, want 401", resp.Status)
			}
		})
	}
}

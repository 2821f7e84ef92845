package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Secret values the failing plan's worker holds: the password in its DSN, and its database user,
// which the PostgreSQL driver quotes when it cannot connect.
const (
	webuiPassword = "hunter2-webui-7Qx"
	webuiDBUser   = "svc_orders_7f3a"
)

const webuiGatePlan = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: webui-gate}
spec:
  scenario: The orders primary is lost
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
    - {id: carol, name: Carol, channels: {email: carol@example.com}}
  groups: [{id: dba, members: [alice, bob, carol]}]
  roles: {approvers: [dba]}
  steps:
    - id: approve-failover
      approval: {approvers: [approvers], quorum: 2, timeout: 2h}
`

const webuiFailPlan = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: webui-fail}
spec:
  scenario: The orders primary is lost
  steps:
    - id: promote-replica
      action: postgres.promote
      with: {dsn_secret: orders-replica}
      retry: {attempts: 1}
`

// webuiStack is a dev server with its Web UI, and a Lifeboat worker in this process that encrypts
// payloads and serves the codec endpoint the UI decodes with.
type webuiStack struct {
	srv     *devserver.Server
	uiBase  string
	client  client.Client // with the worker's data converter
	raw     client.Client // without: sees history as stored
	dc      converter.DataConverter
	queue   string
	secrets []string
}

// startWebUIStack starts the stack; encryptMessages sets encryption.encrypt_failure_messages.
func startWebUIStack(t *testing.T, encryptMessages bool) *webuiStack {
	t.Helper()
	uiPort := repo.FreePort(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	const token = "webui-codec-token"
	srv := devserver.Start(t, devserver.WithUI(uiPort), devserver.WithArgs("--ui-codec-endpoint", "http://"+httpAddr+"/codec/"+token))
	closedPort := repo.FreePort(t) // nothing listens there: the promote cannot connect
	dsn := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=2", webuiDBUser, webuiPassword, closedPort)
	env := config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":     srv.HostPort,
		"LIFEBOAT_HTTP_LISTEN": httpAddr,
		"LIFEBOAT_TASK_QUEUE":  "webui-test",
		"LIFEBOAT_CODEC_TOKEN": token,
		"TEST_KEY":             codec.GenerateKey(),
		"ORDERS_REPLICA_DSN":   dsn,
		"ORDERS_DB_USER":       webuiDBUser,
	})
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plans"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"webui-gate.yaml": webuiGatePlan, "webui-fail.yaml": webuiFailPlan} {
		if err := os.WriteFile(filepath.Join(dir, "plans", name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "lifeboat.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`identity:
  mode: trust-client
  people:
    - {id: alice, name: Alice}
    - {id: bob, name: Bob}
    - {id: carol, name: Carol}
  groups:
    - {id: dba, members: [alice, bob, carol]}
encryption:
  keys:
    - id: t1
      secret: ${TEST_KEY}
  encrypt_failure_messages: %[2]v
http:
  codec:
    allow_origins: ["http://127.0.0.1:%[1]d", "http://localhost:%[1]d"]
secrets:
  orders-replica: ${ORDERS_REPLICA_DSN}
  orders-db-user: ${ORDERS_DB_USER}
recovery:
  plans_dir: plans
`, uiPort, encryptMessages)), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"--config", cfgPath}, env, io.Discard, &logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			t.Errorf("worker did not stop within 45s")
		}
	})
	waitFor(t, "readyz", func() error { return expectHTTP("http://"+httpAddr+"/readyz", http.StatusOK, "ready") }, exited, &logs)

	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatal(err)
	}
	opts, encrypted, err := cfg.ClientOptions(env)
	if err != nil || !encrypted {
		t.Fatalf("client options: encrypted %v, %v", encrypted, err)
	}
	return &webuiStack{
		srv: srv, uiBase: fmt.Sprintf("http://127.0.0.1:%d", uiPort),
		client: srv.Dial(t, opts), raw: srv.Dial(t, client.Options{}), dc: opts.DataConverter, queue: "webui-test",
		secrets: []string{webuiPassword, webuiDBUser, dsn},
	}
}

// startRecovery starts plan as the CLI does: with a one-line summary and the kind and plan search
// attributes.
func (s *webuiStack) startRecovery(t *testing.T, id, plan string) client.WorkflowRun {
	t.Helper()
	run, err := s.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: id, TaskQueue: s.queue,
		StaticSummary: "Recovery " + plan + ", started by alice: primary unreachable",
	}, workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: plan, Requester: "alice", Reason: "primary unreachable"})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// waitPhase waits until the workflow's LifeboatPhase is phase, as the Web UI's list shows it.
func (s *webuiStack) waitPhase(t *testing.T, id, phase string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last, status := "", enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	for time.Now().Before(deadline) {
		desc, err := s.client.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			status = desc.GetWorkflowExecutionInfo().GetStatus()
			if last = searchattr.Keyword(desc.GetWorkflowExecutionInfo().GetSearchAttributes(), workflows.PhaseKey.GetName()); last == phase {
				return
			}
			if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	err := s.client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil)
	t.Fatalf("%s: phase %q, status %s, want %q; outcome: %v", id, last, status, phase, err)
}

// The Web UI's workflow page asks DescribeWorkflowExecution for the summary and the metadata query
// for handler descriptions and current details. A waiting gate answers what it waits for, who may
// answer and how; the list shows it as awaiting approval.
func TestWebUIDescribesAWaitingGate(t *testing.T) {
	s := startWebUIStack(t, false)
	const id = "recovery-webui-gate"
	run := s.startRecovery(t, id, "webui-gate")
	s.waitPhase(t, id, workflows.PhaseApproval)

	desc, err := s.client.DescribeWorkflowExecution(context.Background(), id, run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	var summary string
	if p := desc.GetExecutionConfig().GetUserMetadata().GetSummary(); p == nil {
		t.Error("no static summary: the list view shows nothing but the type")
	} else if err := s.dc.FromPayload(p, &summary); err != nil || !strings.HasPrefix(summary, "Recovery webui-gate") {
		t.Errorf("summary %q, %v", summary, err)
	}

	v, err := s.client.QueryWorkflow(context.Background(), id, run.GetRunID(), "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	descs := map[string]string{}
	for _, d := range md.GetDefinition().GetQueryDefinitions() {
		descs["query:"+d.GetName()] = d.GetDescription()
	}
	for _, d := range md.GetDefinition().GetSignalDefinitions() {
		descs["signal:"+d.GetName()] = d.GetDescription()
	}
	for _, d := range md.GetDefinition().GetUpdateDefinitions() {
		descs["update:"+d.GetName()] = d.GetDescription()
	}
	for _, name := range []string{"query:status", "query:approvals", "update:decide", "signal:decide", "update:acknowledge", "signal:acknowledge", "signal:alert"} {
		if strings.TrimSpace(descs[name]) == "" {
			t.Errorf("%s has no description (handlers: %v)", name, descs)
		}
	}
	if d := descs["update:decide"]; !strings.Contains(d, "lifeboat approve") {
		t.Errorf("the decide update's description does not say how to send it: %q", d)
	}
	details := md.GetCurrentDetails()
	for _, want := range []string{"Waiting for a decision at gate `approve-failover`", "May answer: bob, carol\n", "Needs: 2 approval(s)",
		"then it gives up, not approved", "`lifeboat approve " + id + " --gate approve-failover`",
		"`temporal workflow update execute --workflow-id " + id + " --name " + approval.UpdateDecide} {
		if !strings.Contains(details, want) {
			t.Errorf("current details lack %q:\n%s", want, details)
		}
	}

	// Approving as the details say closes the gate, and the phase is cleared.
	for _, who := range []string{"bob", "carol"} {
		h, err := s.client.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: approval.UpdateDecide,
			WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{approval.Decision{Gate: "approve-failover", Approve: true, Identity: who}}})
		if err == nil {
			err = h.Get(context.Background(), nil)
		}
		if err != nil {
			t.Fatalf("%s approves: %v", who, err)
		}
	}
	if err := run.Get(context.Background(), nil); err != nil {
		t.Fatalf("recovery after approval: %v", err)
	}
}

// A failing recovery with encryption on: no secret value is anywhere in its history as stored —
// events, failures, local-activity markers — and its failure messages are readable there,
// redacted; with encrypt_failure_messages, they are nowhere in plain text, markers included.
func TestFailureHistoryIsReadableAndHoldsNoSecret(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypt_failure_messages=%v", encrypted), func(t *testing.T) {
			s := startWebUIStack(t, encrypted)
			const id = "recovery-webui-fail"
			run := s.startRecovery(t, id, "webui-fail")
			if err := run.Get(context.Background(), nil); err == nil {
				t.Fatal("the recovery succeeded; it cannot reach its database")
			}
			checkRawHistory(t, s, id, run.GetRunID(), encrypted)
		})
	}
}

// checkRawHistory reads a run's history undecoded and checks that no secret appears in it, that
// every failure message is readable (not "Encoded failure") and redacted — or, encrypted, nowhere
// in plain text — that stack traces are not stored in plain text, and that the local activities'
// markers carry the failure as the workflow's does.
func checkRawHistory(t *testing.T, s *webuiStack, id, runID string, encrypted bool) {
	t.Helper()
	it := s.raw.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var markers, failures int
	redacted := false
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		text := prototext.Format(ev)
		if encrypted && strings.Contains(text, "failed to connect") {
			t.Errorf("event %d (%s) holds a failure message in plain text:\n%s", ev.GetEventId(), ev.GetEventType(), text)
		}
		for _, secret := range s.secrets {
			if strings.Contains(text, secret) {
				t.Errorf("event %d (%s) holds a secret value in plain text:\n%s", ev.GetEventId(), ev.GetEventType(), text)
			}
		}
		var fs []*failurepb.Failure
		if m := ev.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "LocalActivity" {
			markers++
			for name, p := range m.GetDetails() {
				for _, pl := range p.GetPayloads() {
					if enc := string(pl.GetMetadata()["encoding"]); enc != codec.EncodingEncrypted {
						t.Errorf("event %d: local-activity marker detail %s is stored as %s, not encrypted", ev.GetEventId(), name, enc)
					}
				}
			}
			fs = append(fs, m.GetFailure())
		}
		fs = append(fs, ev.GetWorkflowExecutionFailedEventAttributes().GetFailure(), ev.GetActivityTaskFailedEventAttributes().GetFailure(),
			ev.GetWorkflowTaskFailedEventAttributes().GetFailure())
		for _, f := range fs {
			for cur := f; cur != nil; cur = cur.GetCause() {
				failures++
				switch readable := cur.GetMessage() != "" && cur.GetMessage() != "Encoded failure"; {
				case encrypted && readable:
					t.Errorf("event %d (%s): failure message %q is stored in plain text", ev.GetEventId(), ev.GetEventType(), cur.GetMessage())
				case !encrypted && !readable:
					t.Errorf("event %d (%s): failure message %q is not readable", ev.GetEventId(), ev.GetEventType(), cur.GetMessage())
				}
				if cur.GetStackTrace() != "" {
					t.Errorf("event %d: a stack trace is stored in plain text", ev.GetEventId())
				}
				if strings.Contains(cur.GetMessage(), "[redacted]") {
					redacted = true
				}
				t.Logf("event %d (%s): failure %q", ev.GetEventId(), ev.GetEventType(), cur.GetMessage())
			}
		}
	}
	if markers == 0 || failures == 0 {
		t.Fatalf("the history has %d local-activity markers and %d failures: the check saw nothing", markers, failures)
	}
	if !redacted && !encrypted {
		t.Error("no failure message was redacted: the driver's message names the database user, which is a secret here")
	}
}

// chromiumBin finds headless Chromium ($CHROMIUM or chromium on the PATH); without one the test is
// skipped, except in CI, where it fails.
func chromiumBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium binary found ($CHROMIUM, chromium on the PATH): install it with `apt-get install -y chromium`"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + "; CI is set, so the browser test must run")
	}
	t.Skip(msg)
	return ""
}

// browser is headless Chromium driven over the DevTools protocol: the Web UI is a single-page
// application that keeps polling, so a page is read once its scripts have rendered what a test
// waits for, not at a fixed moment.
type browser struct {
	conn *websocket.Conn
	next int
}

// startBrowser runs headless Chromium on a blank page and connects to it; both end with the test.
func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--no-first-run", "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "about:blank")
	cmd.WaitDelay = 5 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				found <- strings.TrimSpace(url)
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start its DevTools endpoint within 60s")
	}
	// The page target's endpoint, from the browser's /json/list.
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + u.Host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			conn, _, err := websocket.DefaultDialer.Dial(tg.WebSocketDebuggerURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			return &browser{conn: conn}
		}
	}
	t.Fatalf("chromium has no page target: %+v", targets)
	return nil
}

// call sends a DevTools command and returns its result.
func (b *browser) call(t *testing.T, method string, params any, result any) {
	t.Helper()
	b.next++
	id := b.next
	if err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = b.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		if err := b.conn.ReadJSON(&msg); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if msg.ID != id {
			continue // an event
		}
		if msg.Error != nil {
			t.Fatalf("%s: %s", method, msg.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(msg.Result, result); err != nil {
				t.Fatalf("%s: %v", method, err)
			}
		}
		return
	}
}

// text opens url and returns the page's visible text once it contains every one of wants, or, after
// a minute, as it then is. Each time it looks, it first clicks the buttons and tabs labelled open
// (such as "User Metadata"), as a person would to see what they hold.
func (b *browser) text(t *testing.T, url string, open []string, wants ...string) string {
	t.Helper()
	b.call(t, "Page.navigate", map[string]any{"url": url}, nil)
	labels, err := json.Marshal(append([]string{}, open...))
	if err != nil {
		t.Fatal(err)
	}
	script := `(() => {
		const labels = ` + string(labels) + `;
		for (const el of document.querySelectorAll('button, [role="tab"], summary, a')) {
			const label = (el.innerText || '').trim();
			if (labels.includes(label) && el.getAttribute('aria-selected') !== 'true' && el.getAttribute('aria-expanded') !== 'true' && !el.dataset.lifeboatOpened) {
				el.dataset.lifeboatOpened = '1';
				el.click();
			}
		}
		// Markdown (summaries, current details) is rendered in frames of its own.
		let text = document.body ? document.body.innerText : '';
		for (const frame of document.querySelectorAll('iframe')) {
			try { text += '\n' + frame.contentDocument.body.innerText; } catch (e) {}
		}
		return text;
	})()`
	deadline := time.Now().Add(60 * time.Second)
	var text string
	for {
		var res struct {
			Result struct {
				Value string `json:"value"`
			} `json:"result"`
		}
		b.call(t, "Runtime.evaluate", map[string]any{"expression": script, "returnByValue": true}, &res)
		text = res.Result.Value
		all := true
		for _, w := range wants {
			all = all && strings.Contains(text, w)
		}
		if all || time.Now().After(deadline) {
			return text
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The Web UI, opened on a waiting recovery, shows its summary and who may answer its gate, and on a
// failed one, its failure message, readable and redacted.
func TestWebUIPagesShowDetailsAndFailures(t *testing.T) {
	bin := chromiumBin(t)
	s := startWebUIStack(t, false)
	gate := s.startRecovery(t, "recovery-webui-page-gate", "webui-gate")
	s.waitPhase(t, gate.GetID(), workflows.PhaseApproval)
	failed := s.startRecovery(t, "recovery-webui-page-fail", "webui-fail")
	if err := failed.Get(context.Background(), nil); err == nil {
		t.Fatal("the recovery succeeded; it cannot reach its database")
	}
	// The current details are under the page's User Metadata tab, rendered from Markdown.
	wantGate := []string{"Recovery webui-gate, started by alice", "May answer: bob, carol", "Needs: 2 approval(s)",
		"lifeboat approve " + gate.GetID() + " --gate approve-failover",
		"temporal workflow update execute --workflow-id " + gate.GetID() + " --name decide"}
	page := startBrowser(t, bin).text(t, s.uiBase+"/namespaces/default/workflows/"+gate.GetID()+"/"+gate.GetRunID()+"/history",
		[]string{"User Metadata"}, wantGate...)
	for _, w := range wantGate {
		if !strings.Contains(page, w) {
			t.Errorf("the waiting recovery's page does not show %q; it shows:\n%s", w, page)
			break
		}
	}
	wantFailure := []string{"Failure Message", "failed to connect to `user=[redacted] database=orders`"}
	page = startBrowser(t, bin).text(t, s.uiBase+"/namespaces/default/workflows/"+failed.GetID()+"/"+failed.GetRunID()+"/history", nil, wantFailure...)
	for _, w := range wantFailure {
		if !strings.Contains(page, w) {
			t.Errorf("the failed recovery's page does not show %q; it shows:\n%s", w, page)
			break
		}
	}
	for _, bad := range append([]string{"Encoded failure"}, s.secrets...) {
		if strings.Contains(page, bad) {
			t.Errorf("the failed recovery's page shows %q", bad)
		}
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// The Slack workspace the fake stands for.
const (
	slackTeam     = "T0LIFEBOAT"
	slackChannel  = "C123"
	slackBotToken = "xoxb-e2e-bot-token"
	slackSigning  = "e2e-signing-secret"
)

// slackCall is one authenticated request the fake Slack received.
type slackCall struct {
	// Method is the Web API method (chat.postMessage, chat.update, ...), or "response_url".
	Method string
	// Path is the request's path.
	Path string
	// Body is the request's JSON object. A form-encoded call is turned into one: each field a string,
	// except blocks, which Slack takes as JSON; the token field is left out.
	Body map[string]json.RawMessage
	// TS is the ts the fake gave a message it posted.
	TS string
}

// str returns the string field name of the body, or "".
func (c slackCall) str(name string) string {
	var s string
	_ = json.Unmarshal(c.Body[name], &s)
	return s
}

// slackBlock is the part of a Block Kit block the test reads.
type slackBlock struct {
	Type     string          `json:"type"`
	BlockID  string          `json:"block_id"`
	Elements json.RawMessage `json:"elements"`
}

// slackButton is a button of an actions block.
type slackButton struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style"`
	Text     struct {
		Text string `json:"text"`
	} `json:"text"`
	// BlockID is the block_id of the actions block that holds it.
	BlockID string `json:"-"`
}

// blocks returns the call's Block Kit blocks.
func (c slackCall) blocks(t *testing.T) []slackBlock {
	t.Helper()
	var blocks []slackBlock
	if raw := c.Body["blocks"]; raw != nil {
		if err := json.Unmarshal(raw, &blocks); err != nil {
			t.Fatalf("%s: blocks are not Block Kit: %v\n%s", c.Method, err, raw)
		}
	}
	return blocks
}

// buttons returns the buttons of the call's actions blocks.
func (c slackCall) buttons(t *testing.T) []slackButton {
	t.Helper()
	var buttons []slackButton
	for _, b := range c.blocks(t) {
		if b.Type != "actions" {
			continue
		}
		var elems []slackButton
		if err := json.Unmarshal(b.Elements, &elems); err != nil {
			t.Fatalf("actions block %s: %v", b.BlockID, err)
		}
		for _, e := range elems {
			if e.Type == "button" {
				e.BlockID = b.BlockID
				buttons = append(buttons, e)
			}
		}
	}
	return buttons
}

// texts returns every text the call's blocks show.
func (c slackCall) texts(t *testing.T) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["text"].(string); ok {
				out = append(out, s)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var blocks any
	_ = json.Unmarshal(c.Body["blocks"], &blocks)
	walk(blocks)
	return out
}

// fakeSlack answers the Slack Web API methods Lifeboat calls, as Slack does: the token comes as
// "Authorization: Bearer" or as the token field of a form (Slack takes either); a wrong one gets
// {"ok":false,"error":"invalid_auth"} with status 200. It also takes the POSTs to the
// response_url of the clicks it hands out. Every authenticated request is recorded.
type fakeSlack struct {
	srv *httptest.Server

	mu      sync.Mutex
	calls   []slackCall
	refused []string // methods called without the bot token
	seq     int      // for message timestamps and response URLs
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// apiURL is what the worker's api_url settings point at.
func (f *fakeSlack) apiURL() string { return f.srv.URL + "/api/" }

// responseURL hands out a new response_url for a click, as Slack puts one in each payload.
func (f *fakeSlack) responseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("%s/actions/%s/%d/e2e%04d", f.srv.URL, slackTeam, 4000000+f.seq, f.seq)
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || err != nil {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	call := slackCall{Path: r.URL.Path, Body: map[string]json.RawMessage{}}
	token, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	switch ct {
	case "application/json":
		if err := json.Unmarshal(raw, &call.Body); err != nil {
			http.Error(w, "invalid JSON", http.StatusBadRequest)
			return
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			http.Error(w, "invalid form", http.StatusBadRequest)
			return
		}
		for k := range form {
			v := form.Get(k)
			switch {
			case k == "token":
				if !hasBearer {
					token = v
				}
			case k == "blocks" && json.Valid([]byte(v)):
				call.Body[k] = json.RawMessage(v)
			default:
				call.Body[k], _ = json.Marshal(v)
			}
		}
	default:
		http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")

	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/actions/") {
		// A response_url needs no token: its path is the secret.
		call.Method = "response_url"
		f.calls = append(f.calls, call)
		fmt.Fprint(w, `{"ok":true}`)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if token != slackBotToken {
		f.refused = append(f.refused, method)
		code := "invalid_auth"
		if token == "" {
			code = "not_authed"
		}
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
		return
	}
	call.Method = method
	answer := map[string]any{"ok": true}
	switch method {
	case "chat.postMessage":
		f.seq++
		ts := fmt.Sprintf("1700000000.%06d", 100+f.seq)
		answer["channel"], answer["ts"], call.TS = call.str("channel"), ts, ts
		answer["message"] = map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "B0LIFEBOAT",
			"text": call.str("text"), "ts": ts, "blocks": call.Body["blocks"]}
	case "chat.update":
		answer["channel"], answer["ts"], answer["text"] = call.str("channel"), call.str("ts"), call.str("text")
	case "chat.postEphemeral":
		f.seq++
		answer["message_ts"] = fmt.Sprintf("1700000000.%06d", 100+f.seq)
	case "views.open":
		f.seq++
		answer["view"] = map[string]any{"id": fmt.Sprintf("V%08d", f.seq), "type": "modal", "team_id": slackTeam}
	default:
		answer = map[string]any{"ok": false, "error": "unknown_method"}
	}
	f.calls = append(f.calls, call)
	_ = json.NewEncoder(w).Encode(answer)
}

// recorded returns a copy of the calls so far.
func (f *fakeSlack) recorded() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall(nil), f.calls...)
}

// wait returns the first call that match accepts, waiting up to timeout for it.
func (f *fakeSlack) wait(t *testing.T, timeout time.Duration, what string, match func(slackCall) bool, tail func() string) slackCall {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range f.recorded() {
			if match(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Slack did not receive %s within %s; it received:\n%s\n%s", what, timeout, f.describe(), tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe lists the calls received, for failure messages.
func (f *fakeSlack) describe() string {
	var b strings.Builder
	for _, c := range f.recorded() {
		body, _ := json.Marshal(c.Body)
		fmt.Fprintf(&b, "  %s %s\n", c.Method, body)
	}
	return b.String()
}

// slackClick is what Slack sends the worker when someone clicks a button of a message.
type slackClick struct {
	user        string // Slack user ID
	button      slackButton
	message     slackCall // the chat.postMessage that posted the message, with its ts
	ts          string    // the message's ts
	actionTS    string
	responseURL string
}

// body is the request body, as Slack sends it: a form with the block_actions payload as JSON.
func (c slackClick) body(t *testing.T) []byte {
	t.Helper()
	channel := c.message.str("channel")
	payload := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": c.user, "username": strings.ToLower(c.user), "name": strings.ToLower(c.user), "team_id": slackTeam},
		"api_app_id": "A0LIFEBOAT",
		"token":      "legacy-verification-token",
		"container":  map[string]any{"type": "message", "message_ts": c.ts, "channel_id": channel, "is_ephemeral": false},
		"trigger_id": "7000000000001.1700000000001." + strings.ToLower(c.user),
		"team":       map[string]any{"id": slackTeam, "domain": "lifeboat-e2e"},
		"enterprise": nil,
		"channel":    map[string]any{"id": channel, "name": "dr-war-room"},
		"message": map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "B0LIFEBOAT", "user": "U0LIFEBOAT",
			"text": c.message.str("text"), "ts": c.ts, "blocks": c.message.Body["blocks"]},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": c.responseURL,
		"actions": []any{map[string]any{
			"type": "button", "action_id": c.button.ActionID, "block_id": c.button.BlockID,
			"text":  map[string]any{"type": "plain_text", "text": c.button.Text.Text, "emoji": true},
			"value": c.button.Value, "style": c.button.Style, "action_ts": c.actionTS,
		}},
		"is_enterprise_install": false,
	}
	js, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(js)}}.Encode())
}

// postInteraction POSTs body to the worker's /slack/interactions with Slack's signature headers,
// signed with secret at timestamp, and returns the status and how long the answer took.
func postInteraction(t *testing.T, base string, body []byte, timestamp string, secret []byte) (int, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/slack/interactions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set(slack.HeaderTimestamp, timestamp)
	req.Header.Set(slack.HeaderSignature, slack.Sign(secret, timestamp, body))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// slackOutcomes reads lifeboat_slack_interactions_total from the worker's /metrics, by outcome.
func slackOutcomes(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "lifeboat_slack_interactions_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(line, "} ")
		_, outcome, _ := strings.Cut(labels, `outcome="`)
		outcome, _, _ = strings.Cut(outcome, `"`)
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out[outcome] = n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// listenTCP accepts and closes TCP connections until the test ends, for check.tcp to find.
func listenTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

const slackPlanYAML = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders-slack-failover, description: Fail orders over once someone approves in Slack}
spec:
  scenario: The orders service is lost
  objectives: {rto: 5m}
  people:
    - {id: alice, name: Alice, channels: {slack: U0ALICE}}
    - {id: bob, name: Bob, channels: {slack: U0BOB}}
  steps:
    - id: check-standby
      action: check.tcp
      with: {address: "%s", timeout: 2s}
    - id: approve
      needs: [check-standby]
      approval: {approvers: [alice, bob], timeout: 10m}
    - id: check-after
      needs: [approve]
      action: check.tcp
      with: {address: "%s", timeout: 2s}
`

// TestSlackApprovalDrivesARecovery decides a recovery's approval gate from Slack, at the protocol
// level: the worker posts the request to a fake Slack Web API, the test clicks its buttons as Slack
// would (signed block_actions payloads to /slack/interactions) — a forged click, a click by someone
// who is not an approver, the approval, the same approval delivered again and an exact replay —
// and the recovery finishes with one decision, shown on the original message and in the metrics.
func TestSlackApprovalDrivesARecovery(t *testing.T) {
	t.Parallel()
	planYAML := fmt.Sprintf(slackPlanYAML, listenTCP(t), listenTCP(t))
	if _, err := plan.Parse([]byte(planYAML)); err != nil {
		t.Fatal(err)
	}
	temporal := devserver.Start(t)
	fake := newFakeSlack(t)

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "orders-slack-failover.yaml"), planYAML)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	base := "http://" + httpAddr
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: ${TEMPORAL_ADDRESS}
identity: trust-client
http:
  listen: %s
secrets:
  slack-bot: ${E2E_SLACK_BOT_TOKEN}
  slack-signing: ${E2E_SLACK_SIGNING_SECRET}
recovery:
  plans_dir: plans
notify:
  - name: default
    slack:
      - channel: %s
        token: slack-bot
        api_url: %s
slack:
  transport: http
  signing_secret: slack-signing
  bot_token: slack-bot
  users: {U0ALICE: alice, U0BOB: bob, U0MALLORY: mallory}
  teams: [%s]
  api_url: %s
log:
  format: text
`, httpAddr, slackChannel, fake.apiURL(), slackTeam, fake.apiURL()))
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporal.HostPort,
		"E2E_SLACK_BOT_TOKEN="+slackBotToken, "E2E_SLACK_SIGNING_SECRET="+slackSigning)
	worker := startWorker(t, configPath, env, base)
	defer worker.Stop()
	c := temporal.Dial(t, client.Options{})
	ctx := context.Background()

	// carol starts the failover with the CLI.
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", configPath,
		"failover", "orders-slack-failover", "--requester", "carol", "--reason", "orders primary lost", "--no-wait", "-o", "json")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lifeboat failover: %v\n%s", err, out)
	}
	var started struct {
		WorkflowID string `json:"workflow_id"`
	}
	if err := json.Unmarshal(out, &started); err != nil || started.WorkflowID == "" {
		t.Fatalf("lifeboat failover -o json: %v\n%s", err, out)
	}

	// The gate's request reaches the channel with its buttons.
	request := fake.wait(t, 30*time.Second, "the approval request with buttons", func(c slackCall) bool {
		return c.Method == "chat.postMessage" && c.str("thread_ts") == "" && strings.Contains(string(c.Body["blocks"]), slacknotify.GateBlock+"approve")
	}, worker.Tail)
	if request.str("channel") != slackChannel {
		t.Fatalf("request posted to %q, want %s", request.str("channel"), slackChannel)
	}
	requestTS := request.TS
	var approve, reject slackButton
	for _, b := range request.buttons(t) {
		switch b.Text.Text {
		case "Approve":
			approve = b
		case "Reject":
			reject = b
		}
	}
	if approve.ActionID != slacknotify.ActionApprove || reject.ActionID != slacknotify.ActionReject || approve.BlockID != slacknotify.GateBlock+"approve" {
		t.Fatalf("buttons: approve %+v, reject %+v", approve, reject)
	}
	var value slacknotify.Button
	if err := json.Unmarshal([]byte(approve.Value), &value); err != nil || value.WorkflowID != started.WorkflowID || value.Gate != "approve" || value.RunID == "" {
		t.Fatalf("Approve button's value %q: %+v %v", approve.Value, value, err)
	}

	// People take a moment to click: by then the worker has reported the delivery, so the workflow
	// knows the message and its later notice can update it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		desc, err := c.DescribeWorkflowExecution(ctx, started.WorkflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.GetPendingActivities()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request's delivery is still pending: %v\n%s", desc.GetPendingActivities(), worker.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}

	now := time.Now()
	stamp := strconv.FormatInt(now.Unix(), 10)
	click := func(user, actionTS string) slackClick {
		return slackClick{user: user, button: approve, message: request, ts: requestTS, actionTS: actionTS, responseURL: fake.responseURL()}
	}

	// A forged click: bob's approval, signed with another secret. Refused before anything happens.
	before := len(fake.recorded())
	forged := click("U0BOB", fmt.Sprintf("%d.000001", now.Unix()))
	if code, _ := postInteraction(t, base, forged.body(t), stamp, []byte("not-the-signing-secret")); code != http.StatusUnauthorized {
		t.Fatalf("forged click: status %d, want 401", code)
	}
	if after := len(fake.recorded()); after != before {
		t.Fatalf("a forged click reached Slack: %d calls before, %d after\n%s", before, after, fake.describe())
	}

	// mallory is a known Slack user but not an approver: refused, and told so privately.
	mallory := click("U0MALLORY", fmt.Sprintf("%d.000002", now.Unix()))
	if code, took := postInteraction(t, base, mallory.body(t), stamp, []byte(slackSigning)); code != http.StatusOK || took > 3*time.Second {
		t.Fatalf("mallory's click: status %d after %s, want 200 within 3s", code, took)
	}
	told := fake.wait(t, 10*time.Second, "mallory's refusal on her response_url", func(c slackCall) bool {
		return c.Method == "response_url" && c.Path == strings.TrimPrefix(mallory.responseURL, fake.srv.URL)
	}, worker.Tail)
	if told.str("response_type") != "ephemeral" || string(told.Body["replace_original"]) == "true" || !strings.Contains(told.str("text"), "not an approver") {
		t.Fatalf("mallory was told %s", told.Body)
	}
	for _, c := range fake.recorded() {
		if c.Method == "chat.update" {
			t.Fatalf("a refused click updated the message: %s", c.Body)
		}
	}

	// bob approves; Slack gets its answer within 3 seconds.
	bob := click("U0BOB", fmt.Sprintf("%d.000003", now.Unix()))
	bobBody := bob.body(t)
	code, took := postInteraction(t, base, bobBody, stamp, []byte(slackSigning))
	if code != http.StatusOK || took > 3*time.Second {
		t.Fatalf("bob's click: status %d after %s, want 200 within 3s", code, took)
	}
	t.Logf("bob's approval answered in %s", took.Round(time.Millisecond))
	// The same click delivered again, signed anew (as a retrying proxy would): one decision.
	again := strconv.FormatInt(now.Unix()+1, 10)
	if code, took := postInteraction(t, base, bobBody, again, []byte(slackSigning)); code != http.StatusOK || took > 3*time.Second {
		t.Fatalf("bob's click again: status %d after %s, want 200 within 3s", code, took)
	}
	// The very same request again: a replay, refused.
	if code, _ := postInteraction(t, base, bobBody, stamp, []byte(slackSigning)); code != http.StatusUnauthorized {
		t.Fatalf("replayed click: status %d, want 401", code)
	}

	var r workflows.RecoveryResult
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.GetWorkflow(wctx, started.WorkflowID, "").Get(wctx, &r); err != nil {
		t.Fatalf("recovery: %v\n%s", err, worker.Tail())
	}
	byID := map[string]workflows.StepState{}
	for _, s := range r.Steps {
		byID[s.ID] = s
	}
	for _, id := range []string{"check-standby", "approve", "check-after"} {
		if byID[id].Status != plan.StatusSucceeded {
			t.Fatalf("step %s: %+v", id, byID[id])
		}
	}
	a := byID["approve"].Approval
	if a == nil || !a.Approved || len(a.Decisions) != 1 || a.Decisions[0].Identity != "bob" || a.Decisions[0].Channel != approval.ChannelSlack || !a.Decisions[0].Approve {
		t.Fatalf("approval record: %+v", a)
	}

	// The original message shows bob's decision, without the gate's buttons.
	update := fake.wait(t, 10*time.Second, "an update of the request showing bob's approval", func(c slackCall) bool {
		if c.Method != "chat.update" || c.str("ts") != requestTS || c.str("channel") != slackChannel {
			return false
		}
		for _, b := range c.blocks(t) {
			if b.BlockID == slack.StatusBlockID {
				return true
			}
		}
		return false
	}, worker.Tail)
	if texts := strings.Join(update.texts(t), "\n"); !strings.Contains(texts, "*bob* approved") || !strings.Contains(texts, "Gate *approve* approved: 1 of 1 approvals") {
		t.Fatalf("the updated message does not show bob's approval:\n%s", texts)
	}
	for _, b := range update.buttons(t) {
		if b.BlockID == approve.BlockID {
			t.Fatalf("the closed gate's buttons are still there: %+v", b)
		}
	}
	// The workflow's own notice of the decision replaces the message and goes to its thread.
	fake.wait(t, 10*time.Second, "the approval.decided notice in place of the request", func(c slackCall) bool {
		return c.Method == "chat.update" && c.str("ts") == requestTS && strings.Contains(c.str("text"), "approved by bob")
	}, worker.Tail)
	fake.wait(t, 10*time.Second, "the approval.decided notice in the request's thread", func(c slackCall) bool {
		return c.Method == "chat.postMessage" && c.str("thread_ts") == requestTS && strings.Contains(c.str("text"), "approved by bob")
	}, worker.Tail)
	for _, c := range fake.recorded() {
		if c.Method == "chat.postMessage" && c.str("thread_ts") == "" && c.TS != requestTS {
			t.Errorf("a second message about the incident: %s", c.Body)
		}
		if c.Method == "views.open" || c.Method == "chat.postEphemeral" {
			t.Errorf("unexpected %s: %s", c.Method, c.Body)
		}
		if c.Method == "response_url" && c.Path != told.Path {
			t.Errorf("someone other than mallory was told something: %s", c.Body)
		}
	}

	// Each interaction counted once, under its outcome.
	want := map[string]float64{slack.OutcomeForged: 1, slack.OutcomeNotApprover: 1, slack.OutcomeRecorded: 1,
		slack.OutcomeDuplicate: 1, slack.OutcomeReplayed: 1}
	if got := slackOutcomes(t, base); !maps.Equal(got, want) {
		t.Errorf("lifeboat_slack_interactions_total = %v, want %v", got, want)
	}
	fake.mu.Lock()
	refused := fake.refused
	fake.mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("Slack calls without the bot token: %v", refused)
	}
}

package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

const (
	testSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	testBotToken = "xoxb-test-bot"
	testAppToken = "xapp-test-app"
	testTeam     = "T0LIFEBOAT"
	testChannel  = "C0DRROOM"
	testTS       = "1773480413.000100"
)

// testUsers are the Slack users the tests map to identities; U0MALLORY is not mapped.
var testUsers = map[string]string{
	"U0ALICE": "alice@example.com",
	"U0CAROL": "carol@example.com",
	"U0BOB":   "bob@example.com",
	"U0DAVE":  "dave@example.com",
}

// apiCall is one request the fake Slack received.
type apiCall struct {
	path  string // "/api/chat.update", "/response/1"
	auth  string // the token, from the Authorization header or the form
	form  url.Values
	json  map[string]any
	raw   []byte
	ctype string
}

// fakeSlack is Slack's Web API (views.open, chat.update, chat.postEphemeral, chat.postMessage,
// apps.connections.open) and response_url endpoint, recording each call. A call with a wrong token
// gets invalid_auth. fail, when set, answers instead when it returns true.
type fakeSlack struct {
	*httptest.Server
	wsURL string                                       // what apps.connections.open answers
	ws    func(w http.ResponseWriter, r *http.Request) // serves /ws, the Socket Mode websocket
	fail  func(c apiCall, w http.ResponseWriter) bool

	mu    sync.Mutex
	calls []apiCall
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" && f.ws != nil {
		f.ws(w, r)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	c := apiCall{path: r.URL.Path, raw: raw, ctype: r.Header.Get("Content-Type")}
	c.auth, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasPrefix(c.ctype, "application/x-www-form-urlencoded") {
		c.form, _ = url.ParseQuery(string(raw))
		if tok := c.form.Get("token"); tok != "" {
			c.auth = tok
		}
	} else if len(raw) > 0 {
		_ = json.Unmarshal(raw, &c.json)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil && fail(c, w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	method := strings.TrimPrefix(c.path, "/api/")
	switch {
	case strings.HasPrefix(c.path, "/response/"):
		_, _ = io.WriteString(w, "ok")
	case method == "apps.connections.open" && c.auth == testAppToken:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": f.wsURL})
	case method == "apps.connections.open" || c.auth != testBotToken:
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
	case method == "views.open":
		_, _ = io.WriteString(w, `{"ok":true,"view":{"id":"V0REJECT"}}`)
	case method == "chat.update", method == "chat.postMessage":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": c.form.Get("channel"), "ts": c.form.Get("ts")})
	case method == "chat.postEphemeral":
		_, _ = io.WriteString(w, `{"ok":true,"message_ts":"1773480999.000001"}`)
	default:
		_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

// callsTo returns the calls whose path starts with prefix.
func (f *fakeSlack) callsTo(prefix string) []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apiCall
	for _, c := range f.calls {
		if strings.HasPrefix(c.path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// decideCall is one call the fake Decider received.
type decideCall struct {
	run      Run
	d        approval.Decision
	updateID string
}

// fakeDecider records its calls and answers with answer's result (nil: an open gate with one
// approval per call).
type fakeDecider struct {
	answer func(ctx context.Context, c decideCall) (approval.GateState, error)

	mu    sync.Mutex
	calls []decideCall
}

func (f *fakeDecider) Decide(ctx context.Context, run Run, d approval.Decision, id string) (approval.GateState, error) {
	c := decideCall{run, d, id}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()
	if f.answer != nil {
		return f.answer(ctx, c)
	}
	return approval.GateState{Gate: d.Gate, Approvals: n, Quorum: 2, Open: n < 2, Approved: n >= 2}, nil
}

func (f *fakeDecider) recorded() []decideCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]decideCall(nil), f.calls...)
}

// outcomes counts what the Outcome hook received.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) add(outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[outcome]++
}

func (o *outcomes) get() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is an Interactions with its HTTP handler, over a fake Slack and a fake or real Decider.
type rig struct {
	t        testing.TB
	slack    *fakeSlack
	decider  Decider
	outcomes *outcomes
	logs     *syncBuffer
	i        *Interactions
	h        *Handler
	now      time.Time
}

func newRig(t testing.TB, d Decider, opts ...func(*Settings)) *rig {
	t.Helper()
	r := &rig{t: t, slack: newFakeSlack(t), decider: d, outcomes: &outcomes{}, logs: &syncBuffer{}, now: time.Now()}
	s := Settings{
		Users:    testUsers,
		Decider:  d,
		BotToken: notify.StaticSecret([]byte(testBotToken)),
		APIURL:   r.slack.URL + "/api/",
		Logger:   slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Outcome:  r.outcomes.add,
	}
	for _, opt := range opts {
		opt(&s)
	}
	i, err := NewInteractions(s)
	if err != nil {
		t.Fatal(err)
	}
	r.i = i
	r.h = NewHandler(i, notify.StaticSecret([]byte(testSecret)), WithClock(func() time.Time { return r.now }))
	t.Cleanup(func() { _ = i.Close(context.Background()) })
	return r
}

// settle waits for the work Interactions does after answering.
func (r *rig) settle() { r.i.wg.Wait() }

// signed returns a request carrying body, signed at ts with secret.
func signed(secret string, ts time.Time, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set(HeaderTimestamp, stamp)
	req.Header.Set(HeaderSignature, Sign([]byte(secret), stamp, []byte(body)))
	return req
}

// formBody returns the form body Slack sends for payload.
func formBody(t testing.TB, payload any) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(b)}}.Encode()
}

// serve sends req to the handler and returns the response.
func (r *rig) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// post signs payload now and sends it.
func (r *rig) post(payload any) *httptest.ResponseRecorder {
	return r.serve(signed(testSecret, r.now, formBody(r.t, payload)))
}

// gateMessage is the approval message the notifier posts for gate, with options for a decision.
func gateMessage(workflowID, gate string, options ...string) notify.Message {
	return notify.Message{
		Event: "approval.requested", Severity: notify.Warning,
		Title: "Promote the replica of orders-db?", Text: "The primary is unreachable.",
		Time:     time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
		Approval: &notify.ApprovalRef{WorkflowID: workflowID, RunID: "", Gate: gate, Options: options},
	}
}

// click is a button click on a message.
type click struct {
	user, team string
	action     string // action_id
	value      notify.SlackButton
	actionTS   string
	message    notify.Message
	ts         string // the message's ts
	response   string // response_url
}

// payload returns the block_actions payload Slack sends for c.
func (c click) payload(t testing.TB) map[string]any {
	t.Helper()
	team := c.team
	if team == "" {
		team = testTeam
	}
	ts := c.ts
	if ts == "" {
		ts = testTS
	}
	value, err := json.Marshal(c.value)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := json.Marshal(notify.SlackBlocks(c.message))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"type":         "block_actions",
		"api_app_id":   "A0LIFEBOAT",
		"team":         map[string]any{"id": team, "domain": "lifeboat"},
		"user":         map[string]any{"id": c.user, "username": strings.ToLower(c.user), "name": strings.ToLower(c.user), "team_id": team},
		"trigger_id":   "4242.4242.trigger",
		"response_url": c.response,
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": testChannel, "is_ephemeral": false},
		"channel":      map[string]any{"id": testChannel, "name": "dr-war-room"},
		"message": map[string]any{"type": "message", "text": "approval", "ts": ts, "bot_id": "B0LIFEBOAT",
			"blocks": json.RawMessage(blocks)},
		"state": map[string]any{"values": map[string]any{}},
		"actions": []map[string]any{{
			"type": "button", "action_id": c.action, "block_id": notify.SlackGateBlock + c.value.Gate,
			"text": map[string]any{"type": "plain_text", "text": "Approve"}, "value": string(value), "action_ts": c.actionTS,
		}},
	}
}

// submission returns the view_submission payload of the rejection dialog, with its metadata.
func submission(user, viewID, meta, reason string) map[string]any {
	return map[string]any{
		"type":       "view_submission",
		"api_app_id": "A0LIFEBOAT",
		"team":       map[string]any{"id": testTeam, "domain": "lifeboat"},
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "team_id": testTeam},
		"trigger_id": "4243.4243.trigger",
		"view": map[string]any{
			"id": viewID, "type": "modal", "callback_id": RejectCallbackID, "private_metadata": meta, "hash": "1773480500.abc",
			"state": map[string]any{"values": map[string]any{
				ReasonBlockID: map[string]any{ReasonActionID: map[string]any{"type": "plain_text_input", "value": reason}},
			}},
		},
	}
}

// updatedBlocks returns the blocks of a chat.update call, decoded.
func updatedBlocks(t testing.TB, c apiCall) []goslack.Block {
	t.Helper()
	var b goslack.Blocks
	if err := json.Unmarshal([]byte(c.form.Get("blocks")), &b); err != nil {
		t.Fatalf("chat.update blocks: %v\n%s", err, c.form.Get("blocks"))
	}
	return b.BlockSet
}

// status returns the status block's lines, headline first, and whether the gate's buttons remain.
func status(blocks []goslack.Block, gate string) (lines []string, buttons bool) {
	for _, b := range blocks {
		if b.ID() == notify.SlackGateBlock+gate {
			buttons = true
		}
		if ctx, ok := b.(*goslack.ContextBlock); ok && ctx.BlockID == StatusBlockID {
			for _, e := range ctx.ContextElements.Elements {
				if tb, ok := e.(*goslack.TextBlockObject); ok {
					lines = append(lines, tb.Text)
				}
			}
		}
	}
	return lines, buttons
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

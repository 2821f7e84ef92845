package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const testSlackToken = "xoxb-test-token"

// slackRequest is one request the fake Slack Web API received.
type slackRequest struct {
	method string // "chat.postMessage"
	auth   string
	body   slackChatRequestIn
	raw    []byte
}

// slackChatRequestIn decodes a chat request with its blocks as raw JSON.
type slackChatRequestIn struct {
	Channel  string            `json:"channel"`
	TS       string            `json:"ts"`
	ThreadTS string            `json:"thread_ts"`
	Text     string            `json:"text"`
	Blocks   []json.RawMessage `json:"blocks"`
}

// fakeSlackAPI is a Slack Web API for chat.postMessage and chat.update. It checks the bearer token
// (invalid_auth otherwise) and answers the nth call (from 1) with respond's answer when respond
// is set and returns true.
type fakeSlackAPI struct {
	*httptest.Server
	respond func(n int, method string, w http.ResponseWriter) bool

	mu   sync.Mutex
	reqs []slackRequest
	next int
}

func newFakeSlackAPI(t *testing.T, respond func(n int, method string, w http.ResponseWriter) bool) *fakeSlackAPI {
	t.Helper()
	f := &fakeSlackAPI{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlackAPI) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	var body slackChatRequestIn
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.reqs = append(f.reqs, slackRequest{method: method, auth: r.Header.Get("Authorization"), body: body, raw: raw})
	n := len(f.reqs)
	f.next++
	ts := fmt.Sprintf("1773480413.%06d", f.next)
	f.mu.Unlock()
	if f.respond != nil && f.respond(n, method, w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Header.Get("Authorization") != "Bearer "+testSlackToken:
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
	case r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_request"}`)
	case method == "chat.postMessage":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0DRROOM", "ts": ts})
	case method == "chat.update":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": body.Channel, "ts": body.TS})
	default:
		_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *fakeSlackAPI) requests() []slackRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackRequest(nil), f.reqs...)
}

// slackError answers with {"ok":false,"error":code}, with an HTTP status and Retry-After when set.
func slackError(w http.ResponseWriter, status int, retryAfter, code string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
}

func newTestSlack(api *fakeSlackAPI, opts ...Option) *Notifier {
	opts = append([]Option{WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)
	return New(Config{Channel: "#dr-war-room", TokenRef: "slack-bot", APIURL: api.URL + "/api/"},
		notify.StaticSecret([]byte(testSlackToken)), opts...)
}

func approvalMessage() notify.Message {
	m := notifytest.Message()
	m.Event, m.Severity, m.Level = "approval.requested", notify.Warning, 0
	m.Title = "Promote orders-db replica in eu-west-1?"
	m.Text = "The primary has been unreachable for 6 minutes. Promoting the replica loses at most 40 s of writes."
	m.Plan = "orders-failover"
	m.Fields = map[string]string{"replica lag": "38s", "requested by": "bob@example.com"}
	m.Link = "http://localhost:8233/namespaces/default/workflows/recover-orders/run-1"
	m.Approval = &notify.ApprovalRef{WorkflowID: "recover-orders", RunID: "run-1", Gate: "promote",
		Approvers: []string{"alice@example.com", "carol@example.com"}}
	return m
}

func decisionMessage() notify.Message {
	m := approvalMessage()
	m.Title = "How should orders-db recover?"
	m.Approval = &notify.ApprovalRef{WorkflowID: "recover-orders", RunID: "run-1", Gate: "strategy",
		Options: []string{"failover", "restore-in-place", "wait <5 min & retry"}}
	return m
}

// TestSlackBlocksGolden pins the chat.postMessage body of each kind of message; run with -update
// after a deliberate change and look at the result in Slack's Block Kit Builder.
func TestSlackBlocksGolden(t *testing.T) {
	tests := []struct {
		file string
		m    notify.Message
	}{
		{"alert.json", notifytest.Message()},
		{"approval.json", approvalMessage()},
		{"decision.json", decisionMessage()},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			api := newFakeSlackAPI(t, nil)
			if _, err := newTestSlack(api).NotifyRef(context.Background(), tt.m); err != nil {
				t.Fatal(err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, api.requests()[0].raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			indented.WriteByte('\n')
			notifytest.Golden(t, filepath.Join("testdata", tt.file), indented.Bytes(), *update)
		})
	}
}

// buttons returns the action_id and value of every button in blocks.
func buttons(t *testing.T, blocks []json.RawMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, raw := range blocks {
		var b struct {
			Type     string `json:"type"`
			BlockID  string `json:"block_id"`
			Elements []struct {
				Type     string `json:"type"`
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
				URL      string `json:"url"`
			} `json:"elements"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Elements {
			if e.Type == "button" {
				out[e.ActionID] = e.Value + e.URL
			}
		}
	}
	return out
}

func TestSlackButtons(t *testing.T) {
	tests := []struct {
		name string
		m    notify.Message
		want map[string]Button // by action_id; the link button is checked apart
	}{
		{"alert has only the link", notifytest.Message(), map[string]Button{}},
		{"approve/reject gate", approvalMessage(), map[string]Button{
			ActionApprove: {WorkflowID: "recover-orders", RunID: "run-1", Gate: "promote"},
			ActionReject:  {WorkflowID: "recover-orders", RunID: "run-1", Gate: "promote"},
		}},
		{"decision gate", decisionMessage(), map[string]Button{
			ActionChoose + "0": {WorkflowID: "recover-orders", RunID: "run-1", Gate: "strategy", Choice: "failover"},
			ActionChoose + "1": {WorkflowID: "recover-orders", RunID: "run-1", Gate: "strategy", Choice: "restore-in-place"},
			ActionChoose + "2": {WorkflowID: "recover-orders", RunID: "run-1", Gate: "strategy", Choice: "wait <5 min & retry"},
			ActionReject:       {WorkflowID: "recover-orders", RunID: "run-1", Gate: "strategy"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlackAPI(t, nil)
			if _, err := newTestSlack(api).NotifyRef(context.Background(), tt.m); err != nil {
				t.Fatal(err)
			}
			got := buttons(t, api.requests()[0].body.Blocks)
			if got[ActionLink] != tt.m.Link {
				t.Errorf("link button opens %q, want %q", got[ActionLink], tt.m.Link)
			}
			delete(got, ActionLink)
			if len(got) != len(tt.want) {
				t.Fatalf("buttons %v, want %v", got, tt.want)
			}
			for id, want := range tt.want {
				b, err := ParseButton(got[id])
				if err != nil {
					t.Fatalf("button %s: %v", id, err)
				}
				if b != want {
					t.Errorf("button %s = %+v, want %+v", id, b, want)
				}
			}
		})
	}
}

func TestSlackButtonsThatDoNotFit(t *testing.T) {
	m := approvalMessage()
	m.Approval.WorkflowID = strings.Repeat("w", MaxButtonValue)
	api := newFakeSlackAPI(t, nil)
	if _, err := newTestSlack(api).NotifyRef(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	req := api.requests()[0]
	got := buttons(t, req.body.Blocks)
	delete(got, ActionLink)
	if len(got) != 0 {
		t.Fatalf("buttons %v on a gate whose value is too long", got)
	}
	if !strings.Contains(string(req.raw), "lifeboat approve") {
		t.Fatalf("no word about deciding with the CLI instead: %s", req.raw)
	}
}

func TestParseButton(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     string
	}{
		{"approve", `{"workflow_id":"w","run_id":"r","gate":"g"}`, ""},
		{"choice", `{"workflow_id":"w","gate":"g","choice":"failover"}`, ""},
		{"not JSON", `approve`, "invalid character"},
		{"unknown field", `{"workflow_id":"w","gate":"g","aprove":true}`, "unknown field"},
		{"no gate", `{"workflow_id":"w"}`, "required"},
		{"too long", `{"workflow_id":"` + strings.Repeat("w", MaxButtonValue) + `","gate":"g"}`, "at most 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseButton(tt.value)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ParseButton(%q) = %v, want error containing %q", tt.value, err, tt.wantErr)
			}
		})
	}
}

func TestSlackPostsAndReturnsRef(t *testing.T) {
	api := newFakeSlackAPI(t, nil)
	s := newTestSlack(api)
	ref, err := s.NotifyRef(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	if ref != "C0DRROOM:1773480413.000001" {
		t.Fatalf("ref = %q, want the channel ID Slack answered and the message ts", ref)
	}
	req := api.requests()[0]
	if req.method != "chat.postMessage" || req.auth != "Bearer "+testSlackToken || req.body.Channel != "#dr-war-room" || req.body.ThreadTS != "" {
		t.Fatalf("request %s auth %q body %+v: want a top-level chat.postMessage to #dr-war-room with the bot token", req.method, req.auth, req.body)
	}
	if want := ":rotating_light: Backup of orders-db failed"; req.body.Text != want {
		t.Fatalf("text = %q, want %q", req.body.Text, want)
	}
}

func TestSlackUpdatesInPlaceAndRepliesInThread(t *testing.T) {
	api := newFakeSlackAPI(t, nil)
	s := newTestSlack(api)
	m := approvalMessage()
	m.Event, m.Title, m.Approval = "approval.granted", "Approved by alice@example.com and carol@example.com", nil
	m.Refs = map[string]string{s.Name(): "C0DRROOM:1773400000.000100", "webhook https://example.com": "x"}
	ctx, attempts := notify.WithAttemptCount(context.Background())
	ref, err := s.NotifyRef(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "C0DRROOM:1773400000.000100" {
		t.Fatalf("ref = %q, want the original message's", ref)
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d calls, want chat.update then chat.postMessage", len(reqs))
	}
	upd, reply := reqs[0], reqs[1]
	if upd.method != "chat.update" || upd.body.Channel != "C0DRROOM" || upd.body.TS != "1773400000.000100" || !strings.Contains(string(upd.raw), "Approved by alice") {
		t.Errorf("first call %s %+v: want chat.update of the original message with the new content", upd.method, upd.body)
	}
	if reply.method != "chat.postMessage" || reply.body.Channel != "C0DRROOM" || reply.body.ThreadTS != "1773400000.000100" {
		t.Errorf("second call %s %+v: want a reply in the original message's thread", reply.method, reply.body)
	}
	if n := attempts(); n != 2 {
		t.Errorf("%d attempts counted, want 2 (one per call)", n)
	}
}

func TestSlackThreadReplyLeavesOutTheGateButtons(t *testing.T) {
	api := newFakeSlackAPI(t, nil)
	s := newTestSlack(api)
	m := approvalMessage()
	m.Level = 1 // a reminder
	m.Refs = map[string]string{s.Name(): "C0DRROOM:1773400000.000100"}
	if _, err := s.NotifyRef(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	if b := buttons(t, reqs[0].body.Blocks); b[ActionApprove] == "" {
		t.Errorf("updated message has no Approve button: %v", b)
	}
	if b := buttons(t, reqs[1].body.Blocks); b[ActionApprove] != "" || b[ActionReject] != "" || b[ActionLink] == "" {
		t.Errorf("thread reply buttons %v: want the link only, the gate is decided on the message itself", b)
	}
}

func TestSlackPostsAnewWhenTheMessageIsGone(t *testing.T) {
	api := newFakeSlackAPI(t, func(n int, method string, w http.ResponseWriter) bool {
		if method == "chat.update" {
			slackError(w, http.StatusOK, "", "message_not_found")
			return true
		}
		return false
	})
	s := newTestSlack(api)
	m := notifytest.Message()
	m.Refs = map[string]string{s.Name(): "C0DRROOM:1773400000.000100"}
	ref, err := s.NotifyRef(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	if len(reqs) != 2 || reqs[1].method != "chat.postMessage" || reqs[1].body.ThreadTS != "" || reqs[1].body.Channel != "#dr-war-room" {
		t.Fatalf("calls %+v: want chat.update, then a new top-level message", reqs)
	}
	if ref != "C0DRROOM:1773480413.000002" {
		t.Fatalf("ref = %q, want the new message's", ref)
	}
}

func TestSlackReportsAFailedThreadReplyWithTheRef(t *testing.T) {
	api := newFakeSlackAPI(t, func(n int, method string, w http.ResponseWriter) bool {
		if method == "chat.postMessage" {
			slackError(w, http.StatusOK, "", "msg_too_long")
			return true
		}
		return false
	})
	s := newTestSlack(api)
	m := notifytest.Message()
	m.Refs = map[string]string{s.Name(): "C0DRROOM:1773400000.000100"}
	ref, err := s.NotifyRef(context.Background(), m)
	if ref != "C0DRROOM:1773400000.000100" || err == nil || !strings.Contains(err.Error(), "msg_too_long") || !notify.IsPermanent(err) {
		t.Fatalf("NotifyRef = %q, %v: want the updated message's ref and the reply's permanent error", ref, err)
	}
}

func TestSlackRetries(t *testing.T) {
	// answers returns a respond func answering the nth call with steps[n-1] (status, Retry-After,
	// error code), or success once they run out.
	type step struct {
		status     int
		retryAfter string
		code       string
	}
	answers := func(steps ...step) func(int, string, http.ResponseWriter) bool {
		return func(n int, _ string, w http.ResponseWriter) bool {
			if n > len(steps) {
				return false
			}
			s := steps[n-1]
			if s.code == "" {
				w.WriteHeader(s.status)
				_, _ = io.WriteString(w, "<html>upstream error</html>")
				return true
			}
			slackError(w, s.status, s.retryAfter, s.code)
			return true
		}
	}
	tests := []struct {
		name          string
		respond       func(int, string, http.ResponseWriter) bool
		token         string
		wantTries     int
		wantErr       string
		wantPermanent bool
		minElapsed    time.Duration
	}{
		{name: "429 ratelimited waits for Retry-After", respond: answers(step{429, "1", "ratelimited"}), wantTries: 2, minElapsed: time.Second},
		{name: "500 then success", respond: answers(step{500, "", ""}), wantTries: 2},
		{name: "503 every time", respond: answers(step{503, "", ""}, step{503, "", ""}, step{503, "", ""}), wantTries: 3, wantErr: "attempt 3 of 3: 503 Service Unavailable"},
		{name: "internal_error then success", respond: answers(step{200, "", "internal_error"}), wantTries: 2},
		{name: "invalid_auth is permanent", token: "xoxb-revoked", wantTries: 1, wantErr: "chat.postMessage: attempt 1 of 3: api error invalid_auth", wantPermanent: true},
		{name: "channel_not_found is permanent", respond: answers(step{200, "", "channel_not_found"}), wantTries: 1, wantErr: "channel_not_found", wantPermanent: true},
		{name: "not_in_channel is permanent", respond: answers(step{200, "", "not_in_channel"}), wantTries: 1, wantErr: "not_in_channel", wantPermanent: true},
		{name: "is_archived is permanent", respond: answers(step{200, "", "is_archived"}), wantTries: 1, wantErr: "is_archived", wantPermanent: true},
		{name: "404 is permanent", respond: answers(step{404, "", ""}), wantTries: 1, wantErr: "404 Not Found", wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlackAPI(t, tt.respond)
			token := testSlackToken
			if tt.token != "" {
				token = tt.token
			}
			s := New(Config{Channel: "C0DRROOM", TokenRef: "slack-bot", APIURL: api.URL + "/api"},
				notify.StaticSecret([]byte(token)), WithBackoff(time.Millisecond, 5*time.Second))
			ctx, attempts := notify.WithAttemptCount(context.Background())
			start := time.Now()
			err := s.Notify(ctx, notifytest.Message())
			elapsed := time.Since(start)
			if got := len(api.requests()); got != tt.wantTries || attempts() != tt.wantTries {
				t.Errorf("%d requests, %d attempts counted, want %d", got, attempts(), tt.wantTries)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && notify.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, notify.IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q quotes the token", err)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tt.minElapsed)
			}
		})
	}
}

func TestSlackFailsWithoutSending(t *testing.T) {
	api := newFakeSlackAPI(t, nil)
	base := Config{Channel: "C0DRROOM", TokenRef: "slack-bot", APIURL: api.URL + "/api/"}
	tests := []struct {
		name          string
		cfg           Config
		token         notify.SecretFunc
		m             notify.Message
		wantErr       string
		wantPermanent bool
	}{
		{"invalid message", base, notify.StaticSecret([]byte(testSlackToken)), notify.Message{Event: "x", Severity: "loud", Title: "t"}, "invalid message", true},
		{"empty token", base, notify.StaticSecret(nil), notifytest.Message(), "bot token is empty", true},
		{"token lookup fails", base, func(context.Context) ([]byte, error) { return nil, errors.New("vault sealed") }, notifytest.Message(), "vault sealed", false},
		{"no token func", base, nil, notifytest.Message(), "no bot token", true},
		{"bad api url", Config{Channel: "C0DRROOM", TokenRef: "t", APIURL: "ftp://slack"}, notify.StaticSecret([]byte(testSlackToken)), notifytest.Message(), "api_url", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(tt.cfg, tt.token).Notify(context.Background(), tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || notify.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("Notify = %v (permanent %v), want an error containing %q, permanent %v", err, notify.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestContract(t *testing.T) {
	api := newFakeSlackAPI(t, nil)
	s := newTestSlack(api)
	if s.Name() != "slack #dr-war-room" {
		t.Fatalf("Name() = %q", s.Name())
	}
	notifytest.Contract(t, s, func() int { return len(api.requests()) }, testSlackToken)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Notify(ctx, notifytest.Message()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify with a cancelled context = %v", err)
	}
}

func TestSlackConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"valid", Config{Channel: "#dr-war-room", TokenRef: "slack-bot"}, nil},
		{"empty", Config{}, []string{"n.channel: required", "n.token: required"}},
		{"everything wrong", Config{Channel: "dr war room", TokenRef: "t", APIURL: "slack.com/api", Timeout: -1, Attempts: 11},
			[]string{"n.channel: \"dr war room\" contains white space", "n.api_url:", "n.timeout:", "n.attempts: 11 is not between 1 and 10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("n")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Validate =\n%v\nwant %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestEscapeWithin(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a<b>&c", 100, "a&lt;b&gt;&amp;c"},
		{"&&&&", 12, "&amp;…"},
		{"plain text", 8, "plain…"},
	}
	for _, tt := range tests {
		if got := escapeWithin(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("escapeWithin(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
)

// The fake workspace: the app's secrets, and where Lifeboat's message was posted.
const (
	Secret   = "8f742231b10e8888abcd99yyyzzz85a5" // the signing secret
	BotToken = "xoxb-test-bot"
	AppToken = "xapp-test-app"
	Team     = "T0LIFEBOAT"
	Channel  = "C0DRROOM"
	TS       = "1773480413.000100" // the message's ts
)

// Users returns the Slack users of the fake workspace mapped to Lifeboat identities, for
// Settings.Users: U0ALICE, U0CAROL, U0BOB and U0DAVE. U0MALLORY is not mapped.
func Users() map[string]string {
	return map[string]string{
		"U0ALICE": "alice@example.com",
		"U0CAROL": "carol@example.com",
		"U0BOB":   "bob@example.com",
		"U0DAVE":  "dave@example.com",
	}
}

// SignedRequest returns the request Slack sends to the Request URL with body, signed at ts with
// secret as Slack documents: X-Slack-Signature is "v0=" and the hex HMAC-SHA256 of
// "v0:{timestamp}:{body}". It is computed here, apart from the code under test.
func SignedRequest(secret string, ts time.Time, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":" + body))
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req
}

// FormBody returns the form body Slack sends for an interaction payload.
func FormBody(t testing.TB, payload any) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(b)}}.Encode()
}

// GateMessage is the approval message the notifier posts for gate, with options for a decision.
func GateMessage(workflowID, gate string, options ...string) notify.Message {
	return notify.Message{
		Event: "approval.requested", Severity: notify.Warning,
		Title: "Promote the replica of orders-db?", Text: "The primary is unreachable.",
		Time:     time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
		Approval: &notify.ApprovalRef{WorkflowID: workflowID, RunID: "", Gate: gate, Options: options},
	}
}

// Click is someone clicking a button of a Lifeboat message.
type Click struct {
	User        string
	Team        string // Team when empty
	Action      string // the button's action_id
	Value       slacknotify.Button
	ActionTS    string
	Message     notify.Message // the message clicked, as the notifier rendered it
	TS          string         // the message's ts; TS when empty
	ResponseURL string
}

// Payload returns the block_actions payload Slack sends for c.
func (c Click) Payload(t testing.TB) map[string]any {
	t.Helper()
	team := c.Team
	if team == "" {
		team = Team
	}
	ts := c.TS
	if ts == "" {
		ts = TS
	}
	value, err := json.Marshal(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := json.Marshal(slacknotify.Blocks(c.Message))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"type":         "block_actions",
		"api_app_id":   "A0LIFEBOAT",
		"team":         map[string]any{"id": team, "domain": "lifeboat"},
		"user":         map[string]any{"id": c.User, "username": strings.ToLower(c.User), "name": strings.ToLower(c.User), "team_id": team},
		"trigger_id":   "4242.4242.trigger",
		"response_url": c.ResponseURL,
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": Channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": Channel, "name": "dr-war-room"},
		"message": map[string]any{"type": "message", "text": "approval", "ts": ts, "bot_id": "B0LIFEBOAT",
			"blocks": json.RawMessage(blocks)},
		"state": map[string]any{"values": map[string]any{}},
		"actions": []map[string]any{{
			"type": "button", "action_id": c.Action, "block_id": slacknotify.GateBlock + c.Value.Gate,
			"text": map[string]any{"type": "plain_text", "text": "Approve"}, "value": string(value), "action_ts": c.ActionTS,
		}},
	}
}

// Submission is someone submitting a dialog (a modal view) with one plain-text input.
type Submission struct {
	User       string
	ViewID     string
	CallbackID string
	Metadata   string // the view's private_metadata
	// BlockID and ActionID name the input; Value is what was typed in it.
	BlockID, ActionID, Value string
}

// Payload returns the view_submission payload Slack sends for s.
func (s Submission) Payload() map[string]any {
	return map[string]any{
		"type":       "view_submission",
		"api_app_id": "A0LIFEBOAT",
		"team":       map[string]any{"id": Team, "domain": "lifeboat"},
		"user":       map[string]any{"id": s.User, "username": strings.ToLower(s.User), "team_id": Team},
		"trigger_id": "4243.4243.trigger",
		"view": map[string]any{
			"id": s.ViewID, "type": "modal", "callback_id": s.CallbackID, "private_metadata": s.Metadata, "hash": "1773480500.abc",
			"state": map[string]any{"values": map[string]any{
				s.BlockID: map[string]any{s.ActionID: map[string]any{"type": "plain_text_input", "value": s.Value}},
			}},
		},
	}
}

// ContextLines returns the text elements of the context block blockID, in order.
func ContextLines(blocks []goslack.Block, blockID string) []string {
	var lines []string
	for _, b := range blocks {
		if ctx, ok := b.(*goslack.ContextBlock); ok && ctx.BlockID == blockID {
			for _, e := range ctx.ContextElements.Elements {
				if tb, ok := e.(*goslack.TextBlockObject); ok {
					lines = append(lines, tb.Text)
				}
			}
		}
	}
	return lines
}

// HasBlock reports whether blocks hold one with blockID.
func HasBlock(blocks []goslack.Block, blockID string) bool {
	for _, b := range blocks {
		if b.ID() == blockID {
			return true
		}
	}
	return false
}

// Outcomes counts what the Settings.Outcome hook receives. It is safe for concurrent use.
type Outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts outcome; it is the hook.
func (o *Outcomes) Add(outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[outcome]++
}

// Counts returns how many times each outcome was added.
func (o *Outcomes) Counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.n))
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

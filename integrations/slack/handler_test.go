package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// approveClick is alice approving gate promote of recover-orders.
func approveClick(r *rig) slacktest.Click {
	return slacktest.Click{
		User: "U0ALICE", Action: slacknotify.ActionApprove,
		Value:    slacknotify.Button{WorkflowID: "recover-orders", Gate: "promote"},
		ActionTS: "1773480500.000001", Message: slacktest.GateMessage("recover-orders", "promote"),
		ResponseURL: r.slack.URL + "/response/alice",
	}
}

// TestHandlerRefuses sends every kind of bad request and checks that each is refused with its
// status, counted with its outcome and logged, and that no decision is sent.
func TestHandlerRefuses(t *testing.T) {
	tests := []struct {
		name        string
		request     func(r *rig) *http.Request
		wantStatus  int
		wantOutcome string
		wantTold    string // part of what the user is told privately, if anything
	}{
		{
			name: "GET",
			request: func(r *rig) *http.Request {
				return httptest.NewRequest(http.MethodGet, "/slack/interactions", nil)
			},
			wantStatus: http.StatusMethodNotAllowed,
		},
		{
			name: "no signature headers",
			request: func(r *rig) *http.Request {
				req := slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, approveClick(r).Payload(t)))
				req.Header.Del(HeaderSignature)
				req.Header.Del(HeaderTimestamp)
				return req
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnsigned,
		},
		{
			name: "signature not v0",
			request: func(r *rig) *http.Request {
				req := slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, approveClick(r).Payload(t)))
				req.Header.Set(HeaderSignature, "sha256="+strings.Repeat("0", 64))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnsigned,
		},
		{
			name: "signed with another secret",
			request: func(r *rig) *http.Request {
				return slacktest.SignedRequest("not-the-secret", r.now, slacktest.FormBody(t, approveClick(r).Payload(t)))
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeForged,
		},
		{
			name: "body changed after signing",
			request: func(r *rig) *http.Request {
				req := slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, approveClick(r).Payload(t)))
				c := approveClick(r)
				c.User = "U0CAROL"
				forged := slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, c.Payload(t)))
				forged.Header = req.Header
				return forged
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeForged,
		},
		{
			name: "timestamp changed after signing",
			request: func(r *rig) *http.Request {
				req := slacktest.SignedRequest(slacktest.Secret, r.now.Add(-time.Minute), slacktest.FormBody(t, approveClick(r).Payload(t)))
				req.Header.Set(HeaderTimestamp, strconv.FormatInt(r.now.Unix(), 10))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeForged,
		},
		{
			name: "stale: signed 6 minutes ago",
			request: func(r *rig) *http.Request {
				return slacktest.SignedRequest(slacktest.Secret, r.now.Add(-6*time.Minute), slacktest.FormBody(t, approveClick(r).Payload(t)))
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeStale,
		},
		{
			name: "future: signed 6 minutes ahead",
			request: func(r *rig) *http.Request {
				return slacktest.SignedRequest(slacktest.Secret, r.now.Add(6*time.Minute), slacktest.FormBody(t, approveClick(r).Payload(t)))
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeStale,
		},
		{
			name: "oversized body",
			request: func(r *rig) *http.Request {
				p := approveClick(r).Payload(t)
				p["message"].(map[string]any)["text"] = strings.Repeat("x", DefaultMaxBody)
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, p))
			},
			wantStatus: http.StatusRequestEntityTooLarge, wantOutcome: OutcomeTooLarge,
		},
		{
			name: "JSON body instead of a form",
			request: func(r *rig) *http.Request {
				req := slacktest.SignedRequest(slacktest.Secret, r.now, mustJSON(t, approveClick(r).Payload(t)))
				req.Header.Set("Content-Type", "application/json")
				return req
			},
			wantStatus: http.StatusBadRequest, wantOutcome: OutcomeMalformed,
		},
		{
			name: "form without payload",
			request: func(r *rig) *http.Request {
				return slacktest.SignedRequest(slacktest.Secret, r.now, "command=%2Fapprove")
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: OutcomeMalformed,
		},
		{
			name: "payload not JSON",
			request: func(r *rig) *http.Request {
				return slacktest.SignedRequest(slacktest.Secret, r.now, "payload=%7Bnot+json")
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: OutcomeMalformed,
		},
		{
			name: "button value not JSON",
			request: func(r *rig) *http.Request {
				p := approveClick(r).Payload(t)
				p["actions"].([]map[string]any)[0]["value"] = "approve please"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, p))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeMalformed, wantTold: "could not read this button",
		},
		{
			name: "approve action with a choice",
			request: func(r *rig) *http.Request {
				c := approveClick(r)
				c.Value.Choice = "failover"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, c.Payload(t)))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeMalformed, wantTold: "could not read this button",
		},
		{
			name: "unknown user",
			request: func(r *rig) *http.Request {
				c := approveClick(r)
				c.User = "U0MALLORY"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, c.Payload(t)))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeUnknownUser, wantTold: "U0MALLORY) is not linked to a Lifeboat identity",
		},
		{
			name: "unknown action",
			request: func(r *rig) *http.Request {
				c := approveClick(r)
				c.Action = "someone_elses_button"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, c.Payload(t)))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeUnknownAction,
		},
		{
			name: "unknown interaction type",
			request: func(r *rig) *http.Request {
				p := approveClick(r).Payload(t)
				p["type"] = "shortcut"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, p))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeUnknownAction,
		},
		{
			name: "someone else's dialog",
			request: func(r *rig) *http.Request {
				p := submission("U0ALICE", "V1", "{}", "because")
				p["view"].(map[string]any)["callback_id"] = "other_app_dialog"
				return slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(t, p))
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomeUnknownAction,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := &fakeDecider{}
			r := newRig(t, dec)
			rec := r.serve(tt.request(r))
			r.settle()
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.wantStatus)
			}
			if n := len(dec.recorded()); n != 0 {
				t.Fatalf("%d decisions sent, want none", n)
			}
			got := r.outcomes.Counts()
			if tt.wantOutcome == "" {
				if len(got) != 0 {
					t.Fatalf("outcomes %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[tt.wantOutcome] != 1 {
				t.Fatalf("outcomes %v, want one %s", got, tt.wantOutcome)
			}
			if tt.wantOutcome != OutcomeIgnored && !strings.Contains(r.logs.String(), "outcome="+tt.wantOutcome) {
				t.Errorf("refusal not logged:\n%s", r.logs.String())
			}
			told := r.slack.CallsTo("/response/")
			switch {
			case tt.wantTold == "" && len(told) != 0:
				t.Errorf("user told %s, want nothing", told[0].Raw)
			case tt.wantTold != "" && (len(told) != 1 || !strings.Contains(string(told[0].Raw), tt.wantTold)):
				t.Errorf("user told %v, want one ephemeral message containing %q", told, tt.wantTold)
			case tt.wantTold != "" && !strings.Contains(string(told[0].Raw), `"response_type":"ephemeral"`):
				t.Errorf("refusal %s is not ephemeral", told[0].Raw)
			}
			if n := len(r.slack.CallsTo("/api/chat.update")); n != 0 {
				t.Errorf("message updated %d times after a refusal", n)
			}
		})
	}
}

func TestHandlerRefusesReplay(t *testing.T) {
	r := newRig(t, &fakeDecider{})
	body := slacktest.FormBody(t, approveClick(r).Payload(t))
	first := slacktest.SignedRequest(slacktest.Secret, r.now, body)
	again := slacktest.SignedRequest(slacktest.Secret, r.now, body)
	if rec := r.serve(first); rec.Code != http.StatusOK {
		t.Fatalf("first delivery: %d", rec.Code)
	}
	if rec := r.serve(again); rec.Code != http.StatusUnauthorized {
		t.Fatalf("replay: status %d, want 401", rec.Code)
	}
	r.settle()
	if got := r.outcomes.Counts(); got[OutcomeRecorded] != 1 || got[OutcomeReplayed] != 1 {
		t.Fatalf("outcomes %v, want one recorded and one replayed", got)
	}
	if !strings.Contains(r.logs.String(), "already received") {
		t.Fatalf("replay not logged:\n%s", r.logs.String())
	}
}

func TestHandlerUnknownTeam(t *testing.T) {
	dec := &fakeDecider{}
	r := newRig(t, dec, func(s *Settings) { s.Teams = []string{slacktest.Team} })
	c := approveClick(r)
	c.Team = "T0ELSEWHERE"
	if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	r.settle()
	if got := r.outcomes.Counts(); got[OutcomeUnknownTeam] != 1 || len(dec.recorded()) != 0 {
		t.Fatalf("outcomes %v, %d decisions: want the click refused", got, len(dec.recorded()))
	}
}

func TestHandlerIgnoresTheLinkButton(t *testing.T) {
	dec := &fakeDecider{}
	r := newRig(t, dec)
	c := approveClick(r)
	c.Action, c.User = slacknotify.ActionLink, "U0MALLORY"
	if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	r.settle()
	if got := r.outcomes.Counts(); got[OutcomeIgnored] != 1 || len(r.slack.CallsTo("/")) != 0 || len(dec.recorded()) != 0 {
		t.Fatalf("outcomes %v: want the link click ignored, nothing sent", got)
	}
}

// TestApproveUpdatesTheMessage approves a quorum-2 gate twice and checks the decisions sent and
// the message after each: waiting with the buttons, then approved without them.
func TestApproveUpdatesTheMessage(t *testing.T) {
	dec := &fakeDecider{}
	r := newRig(t, dec)
	c := approveClick(r)
	start := time.Now()
	if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("answer %d %q, want an empty 200", rec.Code, rec.Body.String())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("answered in %s", d)
	}
	r.settle()
	calls := dec.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d decisions, want 1", len(calls))
	}
	want := approval.Decision{Gate: "promote", Approve: true, Identity: "alice@example.com", Channel: approval.ChannelSlack}
	if calls[0].d != want || calls[0].run != (Run{WorkflowID: "recover-orders"}) || !strings.HasPrefix(calls[0].updateID, "slack-") {
		t.Fatalf("decision %+v, want %+v on recover-orders with a slack- update ID", calls[0], want)
	}
	updates := r.slack.CallsTo("/api/chat.update")
	if len(updates) != 1 {
		t.Fatalf("%d chat.update calls, want 1", len(updates))
	}
	u := updates[0]
	if u.Form.Get("channel") != slacktest.Channel || u.Form.Get("ts") != slacktest.TS || u.Auth != slacktest.BotToken {
		t.Fatalf("chat.update of %s/%s with token %q, want the clicked message with the bot token", u.Form.Get("channel"), u.Form.Get("ts"), u.Auth)
	}
	lines, buttons := status(u.Blocks(t), "promote")
	if !buttons || len(lines) != 2 || !strings.Contains(lines[0], "waiting: 1 of 2 approvals") || !strings.Contains(lines[1], "*alice@example.com* approved") {
		t.Fatalf("status %q, buttons %v: want waiting 1 of 2, alice approved, buttons kept", lines, buttons)
	}
	if !strings.Contains(u.Form.Get("blocks"), "Promote the replica") {
		t.Fatalf("the update lost the message's content: %s", u.Form.Get("blocks"))
	}

	// Carol approves on the message as alice's update left it.
	c2 := approveClick(r)
	c2.User, c2.ActionTS = "U0CAROL", "1773480600.000002"
	p := c2.Payload(t)
	p["message"].(map[string]any)["blocks"] = json.RawMessage(u.Form.Get("blocks"))
	if rec := r.post(p); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	r.settle()
	updates = r.slack.CallsTo("/api/chat.update")
	lines, buttons = status(updates[len(updates)-1].Blocks(t), "promote")
	if buttons || len(lines) != 3 || !strings.Contains(lines[0], "approved: 2 of 2") || !strings.Contains(lines[2], "carol@example.com") {
		t.Fatalf("status %q, buttons %v: want approved 2 of 2, both approvals, no buttons", lines, buttons)
	}
	if got := r.outcomes.Counts(); got[OutcomeRecorded] != 2 {
		t.Fatalf("outcomes %v", got)
	}
}

func TestChoose(t *testing.T) {
	dec := &fakeDecider{}
	r := newRig(t, dec)
	c := slacktest.Click{
		User: "U0CAROL", Action: slacknotify.ActionChoose + "1",
		Value:    slacknotify.Button{WorkflowID: "recover-orders", RunID: "run-7", Gate: "strategy", Choice: "restore-in-place"},
		ActionTS: "1773480500.000009", Message: slacktest.GateMessage("recover-orders", "strategy", "failover", "restore-in-place"),
	}
	if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	r.settle()
	calls := dec.recorded()
	want := approval.Decision{Gate: "strategy", Approve: true, Identity: "carol@example.com", Channel: approval.ChannelSlack, Choice: "restore-in-place"}
	if len(calls) != 1 || calls[0].d != want || calls[0].run.RunID != "run-7" {
		t.Fatalf("decisions %+v, want %+v on run-7", calls, want)
	}
	lines, _ := status(r.slack.CallsTo("/api/chat.update")[0].Blocks(t), "strategy")
	if len(lines) != 2 || !strings.Contains(lines[1], "chose *restore-in-place*") {
		t.Fatalf("status %q", lines)
	}
}

// TestRejectWithDialog clicks Reject, checks the dialog opened, submits it with a reason and
// checks the rejection sent and the message closed.
func TestRejectWithDialog(t *testing.T) {
	dec := &fakeDecider{answer: func(_ context.Context, c decideCall) (approval.GateState, error) {
		return approval.GateState{Gate: c.d.Gate, Quorum: 2}, nil
	}}
	r := newRig(t, dec)
	c := approveClick(r)
	c.Action = slacknotify.ActionReject
	if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	r.settle()
	if n := len(dec.recorded()); n != 0 {
		t.Fatalf("%d decisions sent before the reason was given", n)
	}
	opened := r.slack.CallsTo("/api/views.open")
	if len(opened) != 1 || opened[0].Auth != slacktest.BotToken || opened[0].JSON["trigger_id"] != "4242.4242.trigger" {
		t.Fatalf("views.open calls %+v: want one with the click's trigger_id and the bot token", opened)
	}
	view := opened[0].JSON["view"].(map[string]any)
	meta, _ := view["private_metadata"].(string)
	if view["callback_id"] != RejectCallbackID || !strings.Contains(meta, `"gate":"promote"`) {
		t.Fatalf("dialog %v", view)
	}
	if got := r.outcomes.Counts(); got[OutcomeModalOpened] != 1 {
		t.Fatalf("outcomes %v", got)
	}

	rec := r.post(submission("U0ALICE", "V0REJECT", meta, "  replica is 2 hours behind  "))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("answer %d %q: want an empty 200, which closes the dialog", rec.Code, rec.Body.String())
	}
	r.settle()
	calls := dec.recorded()
	want := approval.Decision{Gate: "promote", Approve: false, Identity: "alice@example.com", Channel: approval.ChannelSlack, Reason: "replica is 2 hours behind"}
	if len(calls) != 1 || calls[0].d != want || calls[0].run.WorkflowID != "recover-orders" {
		t.Fatalf("decisions %+v, want %+v", calls, want)
	}
	updates := r.slack.CallsTo("/api/chat.update")
	if len(updates) != 1 || updates[0].Form.Get("ts") != slacktest.TS {
		t.Fatalf("chat.update calls %d, want one of the clicked message", len(updates))
	}
	lines, buttons := status(updates[0].Blocks(t), "promote")
	if buttons || len(lines) != 2 || !strings.Contains(lines[0], "rejected") || !strings.Contains(lines[1], "replica is 2 hours behind") {
		t.Fatalf("status %q, buttons %v: want rejected with the reason, no buttons", lines, buttons)
	}
}

func TestRejectDialogRefusals(t *testing.T) {
	meta, err := encodeRejectMeta(rejectMeta{WorkflowID: "recover-orders", Gate: "promote", Channel: slacktest.Channel, TS: slacktest.TS}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		user, meta  string
		reason      string
		refuse      error
		wantOutcome string
		wantError   string
	}{
		{"not an approver", "U0DAVE", meta, "no", &RefusedError{Kind: RefusedNotApprover, Reason: `gate "promote": "dave@example.com" is not an approver (approvers: alice@example.com)`},
			OutcomeNotApprover, "not an approver"},
		{"decided already", "U0ALICE", meta, "no", &RefusedError{Kind: RefusedDuplicate, Reason: `gate "promote": "alice@example.com" already decided`},
			OutcomeDuplicate, "already recorded"},
		{"unknown user", "U0MALLORY", meta, "no", nil, OutcomeUnknownUser, "not linked"},
		{"empty reason", "U0ALICE", meta, "   ", nil, OutcomeRefused, "Say why"},
		{"damaged metadata", "U0ALICE", `{"gate":"promote"}`, "no", nil, OutcomeMalformed, "could not read this dialog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := &fakeDecider{answer: func(context.Context, decideCall) (approval.GateState, error) {
				return approval.GateState{}, tt.refuse
			}}
			r := newRig(t, dec)
			rec := r.post(submission(tt.user, "V0REJECT", tt.meta, tt.reason))
			r.settle()
			var answer struct {
				ResponseAction string            `json:"response_action"`
				Errors         map[string]string `json:"errors"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("answer %d %q: want a view submission response", rec.Code, rec.Body.String())
			}
			if answer.ResponseAction != "errors" || !strings.Contains(answer.Errors[ReasonBlockID], tt.wantError) {
				t.Fatalf("answer %+v, want the dialog kept open with %q under the reason", answer, tt.wantError)
			}
			if got := r.outcomes.Counts(); got[tt.wantOutcome] != 1 || len(got) != 1 {
				t.Fatalf("outcomes %v, want one %s", got, tt.wantOutcome)
			}
			if n := len(r.slack.CallsTo("/api/chat")); n != 0 {
				t.Fatalf("%d chat calls after a refusal shown in the dialog", n)
			}
		})
	}
}

// TestGateRefusalsAreToldPrivately checks what a person whose click the gate refuses is told, and
// that it is counted and logged as its kind.
func TestGateRefusalsAreToldPrivately(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantOutcome string
		wantTold    string
	}{
		{"not an approver", &RefusedError{Kind: RefusedNotApprover, Reason: `gate "promote": "alice@example.com" is not an approver (approvers: carol@example.com)`},
			OutcomeNotApprover, "You (alice@example.com) are not an approver of gate *promote*"},
		{"self-approval", &RefusedError{Kind: RefusedSelfApproval, Reason: `gate "promote": "alice@example.com" requested it and cannot approve its own request`},
			OutcomeSelfApproval, "cannot approve your own request"},
		{"already decided", &RefusedError{Kind: RefusedDuplicate, Reason: `gate "promote": "alice@example.com" already decided`},
			OutcomeDuplicate, "was already recorded"},
		{"closed", &RefusedError{Kind: RefusedClosed, Reason: `gate "promote" is closed: approved`}, OutcomeClosed, "no longer open"},
		{"other", &RefusedError{Kind: RefusedOther, Reason: `gate "promote": "failover" was chosen already; approve that choice or reject`},
			OutcomeRefused, "was chosen already"},
		{"workflow finished", ErrNotRunning, OutcomeClosed, "is no longer running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, &fakeDecider{answer: func(context.Context, decideCall) (approval.GateState, error) {
				return approval.GateState{}, tt.err
			}})
			if rec := r.post(approveClick(r).Payload(t)); rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			r.settle()
			if got := r.outcomes.Counts(); got[tt.wantOutcome] != 1 || len(got) != 1 {
				t.Fatalf("outcomes %v, want one %s", got, tt.wantOutcome)
			}
			told := r.slack.CallsTo("/response/alice")
			if len(told) != 1 || !strings.Contains(string(told[0].Raw), tt.wantTold) || !strings.Contains(string(told[0].Raw), `"response_type":"ephemeral"`) {
				t.Fatalf("told %v, want one ephemeral message containing %q", told, tt.wantTold)
			}
			if n := len(r.slack.CallsTo("/api/chat.update")); n != 0 {
				t.Fatalf("message updated after a refusal")
			}
			if !strings.Contains(r.logs.String(), "slack decision refused") {
				t.Fatalf("refusal not logged:\n%s", r.logs.String())
			}
		})
	}
}

// TestSlowDecisionFinishesInTheBackground has the workflow take longer than the decide timeout:
// Slack is answered in time, and the decision is finished, once, with the same Update ID.
func TestSlowDecisionFinishesInTheBackground(t *testing.T) {
	release := make(chan struct{})
	dec := &fakeDecider{answer: func(ctx context.Context, c decideCall) (approval.GateState, error) {
		select {
		case <-release:
			return approval.GateState{Gate: c.d.Gate, Approvals: 1, Quorum: 1, Approved: true}, nil
		case <-ctx.Done():
			return approval.GateState{}, ctx.Err()
		}
	}}
	r := newRig(t, dec, func(s *Settings) { s.DecideTimeout = 100 * time.Millisecond })
	start := time.Now()
	if rec := r.post(approveClick(r).Payload(t)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("answered after %s", d)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	r.settle()
	calls := dec.recorded()
	if len(calls) < 2 || calls[0].updateID != calls[len(calls)-1].updateID {
		t.Fatalf("calls %+v: want the decision repeated with the same Update ID", calls)
	}
	if got := r.outcomes.Counts(); got[OutcomeRecorded] != 1 || len(got) != 1 {
		t.Fatalf("outcomes %v, want one recorded", got)
	}
	if len(r.slack.CallsTo("/api/chat.update")) != 1 {
		t.Fatal("message not updated")
	}
}

// TestSameClickTwice delivers one click twice (signed anew, as a retry would be): the same Update
// ID goes to the gate both times, and the second is counted as a duplicate.
func TestSameClickTwice(t *testing.T) {
	dec := &fakeDecider{answer: func(_ context.Context, c decideCall) (approval.GateState, error) {
		return approval.GateState{Gate: c.d.Gate, Approvals: 1, Quorum: 2, Open: true}, nil
	}}
	r := newRig(t, dec)
	body := slacktest.FormBody(t, approveClick(r).Payload(t))
	r.serve(slacktest.SignedRequest(slacktest.Secret, r.now, body))
	r.serve(slacktest.SignedRequest(slacktest.Secret, r.now.Add(time.Second), body))
	r.settle()
	calls := dec.recorded()
	if len(calls) != 2 || calls[0].updateID != calls[1].updateID {
		t.Fatalf("calls %+v: want two with the same Update ID", calls)
	}
	other := approveClick(r)
	other.ActionTS = "1773480777.000001"
	r.post(other.Payload(t))
	r.settle()
	if calls = dec.recorded(); calls[2].updateID == calls[0].updateID {
		t.Fatal("another click got the same Update ID")
	}
	if got := r.outcomes.Counts(); got[OutcomeRecorded] != 2 || got[OutcomeDuplicate] != 1 {
		t.Fatalf("outcomes %v, want 2 recorded and 1 duplicate", got)
	}
}

func TestDecisionErrorIsToldAndLogged(t *testing.T) {
	dec := &fakeDecider{answer: func(context.Context, decideCall) (approval.GateState, error) {
		return approval.GateState{}, plainError("temporal: connection refused")
	}}
	r := newRig(t, dec, func(s *Settings) { s.FinishTimeout = 600 * time.Millisecond })
	r.post(approveClick(r).Payload(t))
	r.settle()
	if got := r.outcomes.Counts(); got[OutcomeError] != 1 || len(got) != 1 {
		t.Fatalf("outcomes %v, want one error", got)
	}
	if n := len(dec.recorded()); n < 2 {
		t.Fatalf("%d tries, want the decision tried again", n)
	}
	told := r.slack.CallsTo("/response/alice")
	if len(told) != 1 || !strings.Contains(string(told[0].Raw), "could not reach the workflow") {
		t.Fatalf("told %v", told)
	}
	if !strings.Contains(r.logs.String(), "connection refused") {
		t.Fatalf("error not logged:\n%s", r.logs.String())
	}
}

// plainError is an error with a fixed text.
type plainError string

func (e plainError) Error() string { return string(e) }

func TestDialogThatCannotOpen(t *testing.T) {
	r := newRig(t, &fakeDecider{})
	r.slack.Fail = func(c slacktest.Call, w http.ResponseWriter) bool {
		if c.Path == "/api/views.open" {
			_, _ = w.Write([]byte(`{"ok":false,"error":"expired_trigger_id"}`))
			return true
		}
		return false
	}
	c := approveClick(r)
	c.Action = slacknotify.ActionReject
	r.post(c.Payload(t))
	r.settle()
	told := r.slack.CallsTo("/response/alice")
	if got := r.outcomes.Counts(); got[OutcomeError] != 1 || len(told) != 1 || !strings.Contains(string(told[0].Raw), "lifeboat reject recover-orders --gate promote") {
		t.Fatalf("outcomes %v, told %v: want an error and the CLI command to use", got, told)
	}
}

func TestRejectMetaKeepsWhatFits(t *testing.T) {
	small := slacknotify.Blocks(slacktest.GateMessage("recover-orders", "promote"))
	// Text that does not compress: the message no longer fits in the metadata.
	big := slacktest.GateMessage("recover-orders", "promote")
	var noise strings.Builder
	for n := uint64(1); noise.Len() < 2900; n = n*6364136223846793005 + 1442695040888963407 {
		noise.WriteString(strconv.FormatUint(n, 36))
	}
	big.Text = noise.String()
	tests := []struct {
		name        string
		meta        rejectMeta
		blocks      []goslack.Block
		wantBlocks  bool
		wantRespURL bool
	}{
		{"everything fits", rejectMeta{WorkflowID: strings.Repeat("w", 1000), Gate: "g", ResponseURL: "https://hooks.slack.com/actions/T/1/x"}, small, true, true},
		{"a large message is left out", rejectMeta{WorkflowID: "w", Gate: "g", ResponseURL: "https://hooks.slack.com/actions/T/1/x"}, slacknotify.Blocks(big), false, true},
		{"and then the response URL", rejectMeta{WorkflowID: strings.Repeat("w", 1900), Gate: "g", ResponseURL: "https://hooks.slack.com/" + strings.Repeat("x", 1200)}, small, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := encodeRejectMeta(tt.meta, "text", tt.blocks)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > maxPrivateMetadata {
				t.Fatalf("%d characters", len(s))
			}
			m, text, got, err := decodeRejectMeta(s)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == len(tt.blocks) && text == "text") != tt.wantBlocks || (m.ResponseURL != "") != tt.wantRespURL || m.WorkflowID != tt.meta.WorkflowID {
				t.Fatalf("decoded %d blocks, text %q, response_url %q", len(got), text, m.ResponseURL)
			}
		})
	}
}

func TestUpdatesOfOneMessageDoNotGoBack(t *testing.T) {
	// An update for an older state arriving last must not undo a newer one.
	r := newRig(t, &fakeDecider{})
	j := job{d: approval.Decision{Gate: "promote", Approve: true, Identity: "carol@example.com"},
		origin: origin{channel: slacktest.Channel, ts: slacktest.TS, blocks: slacknotify.Blocks(slacktest.GateMessage("w", "promote"))}}
	r.i.showDecision(context.Background(), j, approval.GateState{Gate: "promote", Approvals: 2, Quorum: 2, Approved: true})
	j.d.Identity = "alice@example.com"
	r.i.showDecision(context.Background(), j, approval.GateState{Gate: "promote", Approvals: 1, Quorum: 2, Open: true})
	updates := r.slack.CallsTo("/api/chat.update")
	lines, buttons := status(updates[len(updates)-1].Blocks(t), "promote")
	if buttons || !strings.Contains(lines[0], "approved: 2 of 2") || len(lines) != 3 {
		t.Fatalf("last update shows %q, buttons %v: want the newer state with both decisions", lines, buttons)
	}
}

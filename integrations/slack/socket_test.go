package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// TestSocketMode runs the Socket Mode transport against a fake Slack: apps.connections.open hands
// out a websocket URL, and the websocket says hello, then sends a click and a dialog submission.
// Each must be acknowledged with its envelope ID, the click decided, and the refused submission
// answered with the dialog's errors.
func TestSocketMode(t *testing.T) {
	dec := &fakeDecider{answer: func(_ context.Context, c decideCall) (approval.GateState, error) {
		if !c.d.Approve {
			return approval.GateState{}, &RefusedError{Kind: RefusedNotApprover, Reason: `gate "promote": "carol@example.com" is not an approver (approvers: alice@example.com)`}
		}
		return approval.GateState{Gate: c.d.Gate, Approvals: 1, Quorum: 2, Open: true}, nil
	}}
	r := newRig(t, dec)
	r.slack.WSURL = "ws" + strings.TrimPrefix(r.slack.URL, "http") + "/ws"

	click := approveClick(r)
	meta, err := encodeRejectMeta(rejectMeta{WorkflowID: "recover-orders", Gate: "promote"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	envelopes := []map[string]any{
		{"envelope_id": "env-click", "type": "interactive", "accepts_response_payload": false, "payload": click.Payload(t)},
		{"envelope_id": "env-dialog", "type": "interactive", "accepts_response_payload": true, "payload": submission("U0CAROL", "V0REJECT", meta, "no")},
	}
	acks := make(chan map[string]any, len(envelopes))
	serverErr := make(chan error, 1)
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // the client sends Origin: https://api.slack.com
	r.slack.WS = func(w http.ResponseWriter, req *http.Request) {
		conn, err := upgrader.Upgrade(w, req, nil)
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1,
			"connection_info": map[string]any{"app_id": "A0LIFEBOAT"}}); err != nil {
			serverErr <- err
			return
		}
		for _, env := range envelopes {
			if err := conn.WriteJSON(env); err != nil {
				serverErr <- err
				return
			}
		}
		for range envelopes {
			var ack map[string]any
			if err := conn.ReadJSON(&ack); err != nil {
				serverErr <- err
				return
			}
			acks <- ack
		}
		// Keep the connection until the client goes.
		_, _, _ = conn.ReadMessage()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := NewSocket(r.i, notify.StaticSecret([]byte(slacktest.AppToken)))
	runErr := make(chan error, 1)
	go func() { runErr <- sock.Run(ctx) }()

	got := map[string]map[string]any{}
	for len(got) < len(envelopes) {
		select {
		case ack := <-acks:
			id, _ := ack["envelope_id"].(string)
			got[id] = ack
		case err := <-serverErr:
			t.Fatalf("websocket: %v", err)
		case err := <-runErr:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("acknowledged %v, want %d envelopes", got, len(envelopes))
		}
	}
	if ack := got["env-click"]; ack == nil || ack["payload"] != nil {
		t.Errorf("click ack %v, want one without payload", ack)
	}
	payload, _ := json.Marshal(got["env-dialog"]["payload"])
	if !strings.Contains(string(payload), `"response_action":"errors"`) || !strings.Contains(string(payload), "not an approver") {
		t.Errorf("dialog ack payload %s, want the dialog's errors", payload)
	}

	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	r.settle()
	calls := dec.recorded()
	byIdentity := map[string]bool{}
	for _, c := range calls {
		byIdentity[c.d.Identity] = c.d.Approve
	}
	if len(calls) != 2 || byIdentity["alice@example.com"] != true || byIdentity["carol@example.com"] != false {
		t.Fatalf("decisions %+v, want alice's approval and carol's rejection", calls)
	}
	if n := len(r.slack.CallsTo("/api/chat.update")); n != 1 {
		t.Fatalf("%d message updates, want 1", n)
	}
	opened := r.slack.CallsTo("/api/apps.connections.open")
	if len(opened) == 0 || opened[0].Auth != slacktest.AppToken {
		t.Fatalf("apps.connections.open calls %+v: want one with the app-level token", opened)
	}
}

func TestSocketModeRefusedToken(t *testing.T) {
	r := newRig(t, &fakeDecider{})
	sock := NewSocket(r.i, notify.StaticSecret([]byte("xapp-revoked")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sock.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("Run = %v, want invalid_auth", err)
	}
}

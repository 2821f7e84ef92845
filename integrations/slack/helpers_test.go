package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

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

// rig is an Interactions with its HTTP handler, over a fake Slack and a fake Decider.
type rig struct {
	t        testing.TB
	slack    *slacktest.Server
	outcomes *slacktest.Outcomes
	logs     *syncBuffer
	i        *Interactions
	h        *Handler
	now      time.Time
}

func newRig(t testing.TB, d Decider, opts ...func(*Settings)) *rig {
	t.Helper()
	r := &rig{t: t, slack: slacktest.NewServer(t), outcomes: &slacktest.Outcomes{}, logs: &syncBuffer{}, now: time.Now()}
	s := Settings{
		Users:    slacktest.Users(),
		Decider:  d,
		BotToken: notify.StaticSecret([]byte(slacktest.BotToken)),
		APIURL:   r.slack.URL + "/api/",
		Logger:   slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Outcome:  r.outcomes.Add,
	}
	for _, opt := range opts {
		opt(&s)
	}
	i, err := NewInteractions(s)
	if err != nil {
		t.Fatal(err)
	}
	r.i = i
	r.h = NewHandler(i, notify.StaticSecret([]byte(slacktest.Secret)), WithClock(func() time.Time { return r.now }))
	t.Cleanup(func() { _ = i.Close(context.Background()) })
	return r
}

// settle waits for the work Interactions does after answering.
func (r *rig) settle() { r.i.wg.Wait() }

// serve sends req to the handler and returns the response.
func (r *rig) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// post signs payload now and sends it.
func (r *rig) post(payload any) *httptest.ResponseRecorder {
	return r.serve(slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(r.t, payload)))
}

// submission returns the view_submission payload of the rejection dialog, with its metadata.
func submission(user, viewID, meta, reason string) map[string]any {
	return slacktest.Submission{User: user, ViewID: viewID, CallbackID: RejectCallbackID, Metadata: meta,
		BlockID: ReasonBlockID, ActionID: ReasonActionID, Value: reason}.Payload()
}

// status returns the status block's lines, headline first, and whether the gate's buttons remain.
func status(blocks []goslack.Block, gate string) (lines []string, buttons bool) {
	return slacktest.ContextLines(blocks, StatusBlockID), slacktest.HasBlock(blocks, slacknotify.GateBlock+gate)
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

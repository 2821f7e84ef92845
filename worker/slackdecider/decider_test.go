package slackdecider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	slacknotify "github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

const gateTaskQueue = "slack-gates"

// gateInput opens one gate.
type gateInput struct {
	Gate      string   `json:"gate"`
	Requester string   `json:"requester"`
	Approvers []string `json:"approvers,omitempty"`
	Quorum    int      `json:"quorum,omitempty"`
	Options   []string `json:"options,omitempty"`
}

// gateWorkflow opens one gate with workflows/approval and returns how it closed.
func gateWorkflow(ctx workflow.Context, in gateInput) (approval.Outcome, error) {
	g, err := approval.New(ctx)
	if err != nil {
		return approval.Outcome{}, err
	}
	out, err := g.Await(ctx, approval.Request{
		Gate: in.Gate, Title: "Promote the replica of orders-db?", Requester: in.Requester,
		Approvers: in.Approvers, Quorum: in.Quorum, Options: in.Options,
	})
	if err != nil {
		return out, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return out, err
	}
	return out, nil
}

// temporalEnv is a dev server with a worker running gateWorkflow.
type temporalEnv struct {
	c client.Client
}

func startTemporal(t *testing.T) *temporalEnv {
	t.Helper()
	srv := devserver.Start(t, devserver.InMemory())
	quiet := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c := srv.Dial(t, client.Options{Logger: quiet})
	w := worker.New(c, gateTaskQueue, worker.Options{})
	w.RegisterWorkflow(gateWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &temporalEnv{c: c}
}

// start starts gateWorkflow as id and waits until its gate is open, as it is by the time the
// notifier posts the message.
func (e *temporalEnv) start(t testing.TB, id string, in gateInput) client.WorkflowRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: gateTaskQueue, WorkflowExecutionTimeout: 5 * time.Minute,
	}, gateWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var st approval.State
		v, err := e.c.QueryWorkflow(ctx, id, run.GetRunID(), approval.QueryApprovals)
		if err == nil {
			err = v.Get(&st)
		}
		if err == nil && len(st.Pending) == 1 {
			return run
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gate of %s not open: %v", id, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// outcome waits for a gate workflow's result.
func outcome(t testing.TB, run client.WorkflowRun) approval.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out approval.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("workflow %s: %v", run.GetID(), err)
	}
	return out
}

// identities returns who decided, in order.
func identities(out approval.Outcome) []string {
	var ids []string
	for _, d := range out.Decisions {
		ids = append(ids, d.Identity)
	}
	return ids
}

// rig is slack's Interactions and HTTP handler over a fake Slack, deciding with a Decider.
type rig struct {
	t        testing.TB
	slack    *slacktest.Server
	outcomes *slacktest.Outcomes
	i        *slack.Interactions
	h        *slack.Handler
	now      time.Time
}

func newRig(t testing.TB, d slack.Decider, opts ...func(*slack.Settings)) *rig {
	t.Helper()
	r := &rig{t: t, slack: slacktest.NewServer(t), outcomes: &slacktest.Outcomes{}, now: time.Now()}
	s := slack.Settings{Users: slacktest.Users(), Decider: d, Outcome: r.outcomes.Add, Logger: slog.New(slog.DiscardHandler),
		BotToken: notify.StaticSecret([]byte(slacktest.BotToken)), APIURL: r.slack.URL + "/api/"}
	for _, opt := range opts {
		opt(&s)
	}
	i, err := slack.NewInteractions(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i.Close(context.Background()) })
	r.i, r.h = i, slack.NewHandler(i, notify.StaticSecret([]byte(slacktest.Secret)), slack.WithClock(func() time.Time { return r.now }))
	return r
}

// settle waits for the work Interactions does after answering Slack. Close is the public way to
// wait for it; a click after Close does that work before it is answered, so every later settle
// also sees everything its clicks did.
func (r *rig) settle() {
	if err := r.i.Close(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// post signs payload now and sends it to the handler.
func (r *rig) post(payload any) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, slacktest.SignedRequest(slacktest.Secret, r.now, slacktest.FormBody(r.t, payload)))
	return rec
}

// submission returns the view_submission payload of the rejection dialog, with its metadata.
func submission(user, viewID, meta, reason string) map[string]any {
	return slacktest.Submission{User: user, ViewID: viewID, CallbackID: slack.RejectCallbackID, Metadata: meta,
		BlockID: slack.ReasonBlockID, ActionID: slack.ReasonActionID, Value: reason}.Payload()
}

// status returns the status block's lines, headline first, and whether the gate's buttons remain.
func status(blocks []goslack.Block, gate string) (lines []string, buttons bool) {
	return slacktest.ContextLines(blocks, slack.StatusBlockID), slacktest.HasBlock(blocks, slacknotify.GateBlock+gate)
}

// TestTemporal drives real gates on a Temporal dev server through the HTTP handler.
func TestTemporal(t *testing.T) {
	env := startTemporal(t)
	decider := Decider{Client: env.c}

	t.Run("Decide", func(t *testing.T) {
		ctx := context.Background()
		run := env.start(t, "slack-decide", gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: []string{"alice@example.com", "carol@example.com"}, Quorum: 2})
		target := slack.Run{WorkflowID: run.GetID(), RunID: run.GetRunID()}
		decision := func(identity string) approval.Decision {
			return approval.Decision{Gate: "promote", Approve: true, Identity: identity, Channel: approval.ChannelSlack}
		}
		refusal := func(err error) slack.RefusedError {
			t.Helper()
			var refused *slack.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error %v, want a *slack.RefusedError", err)
			}
			return *refused
		}

		want := slack.RefusedError{Kind: slack.RefusedNotApprover, Reason: `gate "promote": "dave@example.com" is not an approver (approvers: alice@example.com, carol@example.com)`}
		if _, err := decider.Decide(ctx, target, decision("dave@example.com"), "decide-dave"); refusal(err) != want {
			t.Errorf("dave: %v, want %+v", err, want)
		}
		first, err := decider.Decide(ctx, target, decision("alice@example.com"), "decide-alice")
		if want := (approval.GateState{Gate: "promote", Approvals: 1, Quorum: 2, Open: true}); err != nil || first != want {
			t.Fatalf("alice: %+v, %v; want %+v", first, err, want)
		}
		if again, err := decider.Decide(ctx, target, decision("alice@example.com"), "decide-alice"); err != nil || again != first {
			t.Errorf("alice again, same Update ID: %+v, %v; want the first answer %+v", again, err, first)
		}
		if _, err := decider.Decide(ctx, target, decision("alice@example.com"), "decide-alice-2"); refusal(err).Kind != slack.RefusedDuplicate {
			t.Errorf("alice again, another Update ID: %v, want a duplicate", err)
		}
		if st, err := decider.Decide(ctx, target, decision("carol@example.com"), "decide-carol"); err != nil || !st.Approved {
			t.Fatalf("carol: %+v, %v; want approved", st, err)
		}
		outcome(t, run)
		if _, err := decider.Decide(ctx, target, decision("carol@example.com"), "decide-late"); !errors.Is(err, slack.ErrNotRunning) {
			t.Errorf("after the end: %v, want ErrNotRunning", err)
		}
		if _, err := decider.Decide(ctx, slack.Run{WorkflowID: "slack-no-such-workflow"}, decision("alice@example.com"), "decide-nowhere"); !errors.Is(err, slack.ErrNotRunning) {
			t.Errorf("no such workflow: %v, want ErrNotRunning", err)
		}
	})

	t.Run("quorum of two, with refusals", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-quorum", gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: []string{"alice@example.com", "carol@example.com"}, Quorum: 2})
		clickAs := func(user, actionTS string) {
			t.Helper()
			c := slacktest.Click{User: user, Action: slacknotify.ActionApprove,
				Value:    slacknotify.Button{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"},
				ActionTS: actionTS, Message: slacktest.GateMessage(run.GetID(), "promote"),
				ResponseURL: r.slack.URL + "/response/" + user}
			if rec := r.post(c.Payload(t)); rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d", user, rec.Code)
			}
			r.settle()
		}
		clickAs("U0ALICE", "1773480500.000001")
		clickAs("U0DAVE", "1773480500.000002")  // not an approver
		clickAs("U0BOB", "1773480500.000003")   // the requester, not an approver either
		clickAs("U0ALICE", "1773480500.000004") // a second click: decided already
		clickAs("U0CAROL", "1773480500.000005")
		out := outcome(t, run)
		if !out.Approved || !slices.Equal(identities(out), []string{"alice@example.com", "carol@example.com"}) {
			t.Fatalf("outcome %+v, want approved by alice then carol", out)
		}
		for _, d := range out.Decisions {
			if d.Channel != approval.ChannelSlack {
				t.Errorf("decision %+v: channel %q, want slack", d, d.Channel)
			}
		}
		got := r.outcomes.Counts()
		want := map[string]int{slack.OutcomeRecorded: 2, slack.OutcomeNotApprover: 2, slack.OutcomeDuplicate: 1}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("outcome %s: %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
		if told := r.slack.CallsTo("/response/U0DAVE"); len(told) != 1 || !strings.Contains(string(told[0].Raw), "not an approver") {
			t.Errorf("dave told %v", told)
		}
		if told := r.slack.CallsTo("/response/U0ALICE"); len(told) != 1 || !strings.Contains(string(told[0].Raw), "already recorded") {
			t.Errorf("alice's second click told %v", told)
		}
		updates := r.slack.CallsTo("/api/chat.update")
		lines, buttons := status(updates[len(updates)-1].Blocks(t), "promote")
		if buttons || len(lines) != 3 || !strings.Contains(lines[0], "approved: 2 of 2") {
			t.Errorf("last update shows %q, buttons %v", lines, buttons)
		}

		// The workflow has finished: a click now is refused as closed.
		clickAs("U0CAROL", "1773480500.000006")
		if got := r.outcomes.Counts(); got[slack.OutcomeClosed] != 1 {
			t.Errorf("click after the end: outcomes %v, want one closed", got)
		}
	})

	t.Run("self-approval", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-self", gateInput{Gate: "promote", Requester: "bob@example.com"})
		c := slacktest.Click{User: "U0BOB", Action: slacknotify.ActionApprove,
			Value:    slacknotify.Button{WorkflowID: run.GetID(), Gate: "promote"},
			ActionTS: "1773480600.000001", Message: slacktest.GateMessage(run.GetID(), "promote"), ResponseURL: r.slack.URL + "/response/bob"}
		r.post(c.Payload(t))
		r.settle()
		if got := r.outcomes.Counts(); got[slack.OutcomeSelfApproval] != 1 {
			t.Fatalf("outcomes %v, want self_approval", got)
		}
		c.User, c.ActionTS = "U0CAROL", "1773480600.000002"
		r.post(c.Payload(t))
		r.settle()
		if out := outcome(t, run); !out.Approved || !slices.Equal(identities(out), []string{"carol@example.com"}) {
			t.Fatalf("outcome %+v, want approved by carol alone", out)
		}
	})

	t.Run("reject through the dialog", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-reject", gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: []string{"alice@example.com", "carol@example.com"}, Quorum: 2})
		c := slacktest.Click{User: "U0CAROL", Action: slacknotify.ActionReject,
			Value:    slacknotify.Button{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"},
			ActionTS: "1773480700.000001", Message: slacktest.GateMessage(run.GetID(), "promote"), ResponseURL: r.slack.URL + "/response/carol"}
		r.post(c.Payload(t))
		r.settle()
		opened := r.slack.CallsTo("/api/views.open")
		if len(opened) != 1 {
			t.Fatalf("views.open calls: %d", len(opened))
		}
		meta := opened[0].JSON["view"].(map[string]any)["private_metadata"].(string)
		if rec := r.post(submission("U0CAROL", "V0REJECT", meta, "the replica is 2 hours behind")); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
		r.settle()
		out := outcome(t, run)
		if out.Approved || out.RejectedBy == nil || out.RejectedBy.Identity != "carol@example.com" || out.RejectedBy.Reason != "the replica is 2 hours behind" {
			t.Fatalf("outcome %+v, want rejected by carol with her reason", out)
		}
		updates := r.slack.CallsTo("/api/chat.update")
		if len(updates) != 1 {
			t.Fatalf("%d message updates", len(updates))
		}
		if lines, buttons := status(updates[0].Blocks(t), "promote"); buttons || !strings.Contains(lines[0], "rejected") {
			t.Fatalf("update shows %q, buttons %v", lines, buttons)
		}
	})

	t.Run("choose an option", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-choose", gateInput{Gate: "strategy", Requester: "bob@example.com", Options: []string{"failover", "restore-in-place"}})
		c := slacktest.Click{User: "U0ALICE", Action: slacknotify.ActionChoose + "0",
			Value:    slacknotify.Button{WorkflowID: run.GetID(), Gate: "strategy", Choice: "failover"},
			ActionTS: "1773480800.000001", Message: slacktest.GateMessage(run.GetID(), "strategy", "failover", "restore-in-place")}
		r.post(c.Payload(t))
		r.settle()
		if out := outcome(t, run); !out.Approved || out.Choice != "failover" {
			t.Fatalf("outcome %+v, want failover chosen", out)
		}
	})

	t.Run("load", func(t *testing.T) {
		if testing.Short() {
			t.Skip("load test: 1,000 clicks against 50 workflows")
		}
		loadTest(t, env, decider)
	})
}

// loadTest sends 1,000 signed clicks to 50 gates of quorum 5, concurrently: 5 approvals and 3
// second clicks per gate, each click delivered 2 or 3 times (signed again, as a retry would be,
// and once more as an exact replay). Every approval must be recorded exactly once.
func loadTest(t *testing.T, env *temporalEnv, decider slack.Decider) {
	const (
		workflows = 50
		quorum    = 5
		approvers = 8
	)
	users := map[string]string{}
	var approverIDs []string
	for u := 1; u <= approvers; u++ {
		users[fmt.Sprintf("U0USER%d", u)] = fmt.Sprintf("user%d@example.com", u)
		approverIDs = append(approverIDs, fmt.Sprintf("user%d@example.com", u))
	}
	r := newRig(t, decider, func(s *slack.Settings) { s.Users = users })
	srv := httptest.NewServer(r.h)
	defer srv.Close()

	runs := make([]client.WorkflowRun, workflows)
	for w := range runs {
		runs[w] = env.start(t, fmt.Sprintf("slack-load-%02d", w), gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: approverIDs, Quorum: quorum})
	}

	type delivery struct {
		body   string
		signed time.Time
		replay bool
	}
	var deliveries []delivery
	replays := 0
	for w, run := range runs {
		var clicks []slacktest.Click
		for u := 1; u <= quorum; u++ {
			clicks = append(clicks, slacktest.Click{User: fmt.Sprintf("U0USER%d", u), ActionTS: fmt.Sprintf("1773481%03d.%06d", w, u)})
		}
		for u := 1; u <= 3; u++ { // the same people clicking a second time
			clicks = append(clicks, slacktest.Click{User: fmt.Sprintf("U0USER%d", u), ActionTS: fmt.Sprintf("1773482%03d.%06d", w, u)})
		}
		for n, c := range clicks {
			c.Action = slacknotify.ActionApprove
			c.Value = slacknotify.Button{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"}
			c.Message = slacktest.GateMessage(run.GetID(), "promote")
			c.TS = fmt.Sprintf("1773480%03d.000001", w)
			body := slacktest.FormBody(t, c.Payload(t))
			deliveries = append(deliveries, delivery{body: body, signed: r.now}, delivery{body: body, signed: r.now.Add(time.Second)})
			if n%2 == 1 {
				deliveries = append(deliveries, delivery{body: body, signed: r.now, replay: true})
				replays++
			}
		}
	}
	if len(deliveries) != 1000 {
		t.Fatalf("%d deliveries, want 1,000", len(deliveries))
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan delivery)
	statuses := make(chan int, len(deliveries))
	for range 32 {
		wg.Go(func() {
			for d := range next {
				req := slacktest.SignedRequest(slacktest.Secret, d.signed, d.body)
				req.RequestURI, req.URL.Scheme, req.URL.Host = "", "http", strings.TrimPrefix(srv.URL, "http://")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Errorf("POST: %v", err)
					continue
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		})
	}
	for _, d := range deliveries {
		next <- d
	}
	close(next)
	wg.Wait()
	answered := time.Since(start)
	close(statuses)
	codes := map[int]int{}
	for c := range statuses {
		codes[c]++
	}
	for w, run := range runs {
		out := outcome(t, run)
		got := identities(out)
		slices.Sort(got)
		if !out.Approved || !slices.Equal(got, approverIDs[:quorum]) {
			t.Errorf("workflow %d: approved %v by %v, want approved by %v, each once", w, out.Approved, got, approverIDs[:quorum])
		}
	}
	decided := time.Since(start)
	if err := r.i.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r.outcomes.Counts()
	t.Logf("%d clicks to %d workflows: answered in %s (%.0f clicks/s), every gate closed after %s; HTTP statuses %v; outcomes %v",
		len(deliveries), workflows, answered.Round(time.Millisecond), float64(len(deliveries))/answered.Seconds(),
		decided.Round(time.Millisecond), codes, got)

	if codes[http.StatusOK] != len(deliveries)-replays || codes[http.StatusUnauthorized] != replays {
		t.Errorf("statuses %v, want %d 200 and %d 401 (the exact replays)", codes, len(deliveries)-replays, replays)
	}
	if got[slack.OutcomeRecorded] != workflows*quorum {
		t.Errorf("%d recorded, want exactly %d: one per approval", got[slack.OutcomeRecorded], workflows*quorum)
	}
	if got[slack.OutcomeReplayed] != replays || got[slack.OutcomeError] != 0 {
		t.Errorf("outcomes %v: want %d replayed and no errors", got, replays)
	}
	total := 0
	for k, v := range got {
		total += v
		if !slices.Contains([]string{slack.OutcomeRecorded, slack.OutcomeReplayed, slack.OutcomeDuplicate, slack.OutcomeClosed}, k) {
			t.Errorf("unexpected outcome %s × %d", k, v)
		}
	}
	if total != len(deliveries) {
		t.Errorf("%d outcomes for %d deliveries, want one each", total, len(deliveries))
	}
}

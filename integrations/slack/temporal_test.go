package slack

import (
	"context"
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

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
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

// TestTemporal drives real gates on a Temporal dev server through the HTTP handler.
func TestTemporal(t *testing.T) {
	env := startTemporal(t)
	decider := TemporalDecider{Client: env.c}

	t.Run("quorum of two, with refusals", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-quorum", gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: []string{"alice@example.com", "carol@example.com"}, Quorum: 2})
		clickAs := func(user, actionTS string) {
			t.Helper()
			c := click{user: user, action: notify.SlackActionApprove,
				value:    notify.SlackButton{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"},
				actionTS: actionTS, message: gateMessage(run.GetID(), "promote"),
				response: r.slack.URL + "/response/" + user}
			if rec := r.post(c.payload(t)); rec.Code != http.StatusOK {
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
		got := r.outcomes.get()
		want := map[string]int{OutcomeRecorded: 2, OutcomeNotApprover: 2, OutcomeDuplicate: 1}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("outcome %s: %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
		if told := r.slack.callsTo("/response/U0DAVE"); len(told) != 1 || !strings.Contains(string(told[0].raw), "not an approver") {
			t.Errorf("dave told %v", told)
		}
		if told := r.slack.callsTo("/response/U0ALICE"); len(told) != 1 || !strings.Contains(string(told[0].raw), "already recorded") {
			t.Errorf("alice's second click told %v", told)
		}
		updates := r.slack.callsTo("/api/chat.update")
		lines, buttons := status(updatedBlocks(t, updates[len(updates)-1]), "promote")
		if buttons || len(lines) != 3 || !strings.Contains(lines[0], "approved: 2 of 2") {
			t.Errorf("last update shows %q, buttons %v", lines, buttons)
		}

		// The workflow has finished: a click now is refused as closed.
		clickAs("U0CAROL", "1773480500.000006")
		if got := r.outcomes.get(); got[OutcomeClosed] != 1 {
			t.Errorf("click after the end: outcomes %v, want one closed", got)
		}
	})

	t.Run("self-approval", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-self", gateInput{Gate: "promote", Requester: "bob@example.com"})
		c := click{user: "U0BOB", action: notify.SlackActionApprove,
			value:    notify.SlackButton{WorkflowID: run.GetID(), Gate: "promote"},
			actionTS: "1773480600.000001", message: gateMessage(run.GetID(), "promote"), response: r.slack.URL + "/response/bob"}
		r.post(c.payload(t))
		r.settle()
		if got := r.outcomes.get(); got[OutcomeSelfApproval] != 1 {
			t.Fatalf("outcomes %v, want self_approval", got)
		}
		c.user, c.actionTS = "U0CAROL", "1773480600.000002"
		r.post(c.payload(t))
		r.settle()
		if out := outcome(t, run); !out.Approved || !slices.Equal(identities(out), []string{"carol@example.com"}) {
			t.Fatalf("outcome %+v, want approved by carol alone", out)
		}
	})

	t.Run("reject through the dialog", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-reject", gateInput{Gate: "promote", Requester: "bob@example.com",
			Approvers: []string{"alice@example.com", "carol@example.com"}, Quorum: 2})
		c := click{user: "U0CAROL", action: notify.SlackActionReject,
			value:    notify.SlackButton{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"},
			actionTS: "1773480700.000001", message: gateMessage(run.GetID(), "promote"), response: r.slack.URL + "/response/carol"}
		r.post(c.payload(t))
		r.settle()
		opened := r.slack.callsTo("/api/views.open")
		if len(opened) != 1 {
			t.Fatalf("views.open calls: %d", len(opened))
		}
		meta := opened[0].json["view"].(map[string]any)["private_metadata"].(string)
		if rec := r.post(submission("U0CAROL", "V0REJECT", meta, "the replica is 2 hours behind")); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
		r.settle()
		out := outcome(t, run)
		if out.Approved || out.RejectedBy == nil || out.RejectedBy.Identity != "carol@example.com" || out.RejectedBy.Reason != "the replica is 2 hours behind" {
			t.Fatalf("outcome %+v, want rejected by carol with her reason", out)
		}
		updates := r.slack.callsTo("/api/chat.update")
		if len(updates) != 1 {
			t.Fatalf("%d message updates", len(updates))
		}
		if lines, buttons := status(updatedBlocks(t, updates[0]), "promote"); buttons || !strings.Contains(lines[0], "rejected") {
			t.Fatalf("update shows %q, buttons %v", lines, buttons)
		}
	})

	t.Run("choose an option", func(t *testing.T) {
		r := newRig(t, decider)
		run := env.start(t, "slack-choose", gateInput{Gate: "strategy", Requester: "bob@example.com", Options: []string{"failover", "restore-in-place"}})
		c := click{user: "U0ALICE", action: notify.SlackActionChoose + "0",
			value:    notify.SlackButton{WorkflowID: run.GetID(), Gate: "strategy", Choice: "failover"},
			actionTS: "1773480800.000001", message: gateMessage(run.GetID(), "strategy", "failover", "restore-in-place")}
		r.post(c.payload(t))
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
func loadTest(t *testing.T, env *temporalEnv, decider Decider) {
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
	r := newRig(t, decider, func(s *Settings) { s.Users = users })
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
		var clicks []click
		for u := 1; u <= quorum; u++ {
			clicks = append(clicks, click{user: fmt.Sprintf("U0USER%d", u), actionTS: fmt.Sprintf("1773481%03d.%06d", w, u)})
		}
		for u := 1; u <= 3; u++ { // the same people clicking a second time
			clicks = append(clicks, click{user: fmt.Sprintf("U0USER%d", u), actionTS: fmt.Sprintf("1773482%03d.%06d", w, u)})
		}
		for n, c := range clicks {
			c.action = notify.SlackActionApprove
			c.value = notify.SlackButton{WorkflowID: run.GetID(), RunID: run.GetRunID(), Gate: "promote"}
			c.message = gateMessage(run.GetID(), "promote")
			c.ts = fmt.Sprintf("1773480%03d.000001", w)
			body := formBody(t, c.payload(t))
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
				req := signed(testSecret, d.signed, d.body)
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
	got := r.outcomes.get()
	t.Logf("%d clicks to %d workflows: answered in %s (%.0f clicks/s), every gate closed after %s; HTTP statuses %v; outcomes %v",
		len(deliveries), workflows, answered.Round(time.Millisecond), float64(len(deliveries))/answered.Seconds(),
		decided.Round(time.Millisecond), codes, got)

	if codes[http.StatusOK] != len(deliveries)-replays || codes[http.StatusUnauthorized] != replays {
		t.Errorf("statuses %v, want %d 200 and %d 401 (the exact replays)", codes, len(deliveries)-replays, replays)
	}
	if got[OutcomeRecorded] != workflows*quorum {
		t.Errorf("%d recorded, want exactly %d: one per approval", got[OutcomeRecorded], workflows*quorum)
	}
	if got[OutcomeReplayed] != replays || got[OutcomeError] != 0 {
		t.Errorf("outcomes %v: want %d replayed and no errors", got, replays)
	}
	total := 0
	for k, v := range got {
		total += v
		if !slices.Contains([]string{OutcomeRecorded, OutcomeReplayed, OutcomeDuplicate, OutcomeClosed}, k) {
			t.Errorf("unexpected outcome %s × %d", k, v)
		}
	}
	if total != len(deliveries) {
		t.Errorf("%d outcomes for %d deliveries, want one each", total, len(deliveries))
	}
}

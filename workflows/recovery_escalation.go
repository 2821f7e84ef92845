package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// escalation is one escalation under way: of a gate or a stuck step (Step its ID) or of a missed
// RTO (Step empty), notifying under DedupKey since Since.
type escalation struct {
	Step     string
	Since    time.Time
	DedupKey string
	Title    string
}

// handleAcknowledgements takes acknowledgements by signal and by Update (which refuses one without an
// identity or for a step the plan does not have).
func (r *runner) handleAcknowledgements(ctx workflow.Context) error {
	ch := workflow.GetSignalChannelWithOptions(ctx, SignalAcknowledge, workflow.SignalChannelOptions{Description: acknowledgeDescription})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a Acknowledgement
			if !ch.Receive(ctx, &a) {
				return
			}
			a, err := r.checkAcknowledgement(ctx, a)
			if err != nil {
				workflow.GetLogger(ctx).Warn("acknowledgement refused", "identity", a.Identity, "error", err)
				continue
			}
			r.acknowledge(ctx, a)
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, func(ctx workflow.Context, a Acknowledgement) (Acknowledgement, error) {
		a, err := r.checkAcknowledgement(ctx, a)
		if err != nil {
			return a, err
		}
		return r.acknowledge(ctx, a), nil
	}, workflow.UpdateHandlerOptions{Description: acknowledgeDescription, Validator: func(ctx workflow.Context, a Acknowledgement) error {
		_, err := r.checkAcknowledgement(ctx, a)
		return err
	}})
}

// checkAcknowledgement returns a with the person it is from, or why it is refused. In runs that
// establish identities, only the people an escalation paged (or the gate's approvers) may
// acknowledge a step, and only the incident commander may silence the whole run.
func (r *runner) checkAcknowledgement(ctx workflow.Context, a Acknowledgement) (Acknowledgement, error) {
	a.Verified = false
	if strings.TrimSpace(a.Identity) == "" && (r.ids == nil || a.Assertion == "") {
		return a, errors.New("acknowledgement: identity required: say who is on it")
	}
	if a.Step != "" && r.specs[a.Step] == nil {
		return a, fmt.Errorf("acknowledgement: plan %s has no step %q", r.in.Plan, a.Step)
	}
	if r.ids == nil {
		return a, nil
	}
	info := workflow.GetInfo(ctx).WorkflowExecution
	who, err := r.ids.establish(ctx, a.Identity, a.Assertion, identity.Expect{Act: identity.ActAcknowledge, Workflow: info.ID, Run: info.RunID, Gate: a.Step})
	if err != nil {
		return a, fmt.Errorf("acknowledgement refused: %w", err)
	}
	if who.AssertionID != "" && r.ids.used[who.AssertionID] {
		return a, errors.New("acknowledgement refused: this assertion was used already; get a new one")
	}
	if r.ids.configured {
		if err := r.mayAcknowledge(who.Person, a.Step); err != nil {
			return a, fmt.Errorf("acknowledgement refused: %w", err)
		}
	}
	a.Identity, a.Verified = who.Person, who.Verified
	if who.AssertionID != "" {
		a.Assertion = "jti:" + who.AssertionID // kept to refuse its reuse; the token itself is not
	}
	return a, nil
}

// mayAcknowledge says whether person may acknowledge step's escalations (step empty: silence
// every escalation of the run).
func (r *runner) mayAcknowledge(person, step string) error {
	commanders := r.role("incident_commander")
	if slices.Contains(commanders, person) {
		return nil
	}
	if step == "" {
		if len(commanders) == 0 && person == r.st.Requester {
			return nil
		}
		who := strings.Join(commanders, ", ")
		if who == "" {
			who = r.st.Requester + ", who started the run"
		}
		return fmt.Errorf("%s may not silence every escalation of this run: only the incident commander may (%s)", person, who)
	}
	if slices.Contains(r.paged[step], person) || slices.Contains(r.askedBy(step), person) {
		return nil
	}
	paged := strings.Join(append(slices.Clone(r.paged[step]), r.askedBy(step)...), ", ")
	if paged == "" {
		paged = "nobody yet"
	}
	return fmt.Errorf("%s was not paged for step %s (paged or asked: %s)", person, step, paged)
}

// page records that an escalation of step notified people.
func (r *runner) page(step string, people []string) {
	if r.paged == nil {
		r.paged = map[string][]string{}
	}
	for _, p := range people {
		if !slices.Contains(r.paged[step], p) {
			r.paged[step] = append(r.paged[step], p)
		}
	}
}

// askedBy are the people a step's gate asks: its approvers, deciders or assignees.
func (r *runner) askedBy(step string) []string {
	s := r.specs[step]
	if s == nil || r.p == nil {
		return nil
	}
	switch {
	case s.Approval != nil:
		return r.people(s.Approval.Approvers)
	case s.Decision != nil:
		return r.people(s.Decision.Deciders)
	case s.Manual != nil:
		return r.people(s.Manual.Assignees)
	}
	return nil
}

// role returns the people a plan role names; nil when the plan has no such role.
func (r *runner) role(name string) []string {
	if r.p == nil || r.p.Spec.Roles[name] == nil {
		return nil
	}
	return r.people([]string{name})
}

// mayStart refuses a run its starter may not start: where the plan names executors or an incident
// commander, only they may start it (a plan run by another plan was checked by its parent).
func (r *runner) mayStart(ctx workflow.Context) error {
	if r.ids == nil || !r.ids.configured || workflow.GetInfo(ctx).ParentWorkflowExecution != nil {
		return nil
	}
	if r.startedBySchedule() {
		return nil // a drill schedule, which establishSchedule admitted for this plan
	}
	allowed := append(r.role("executors"), r.role("incident_commander")...)
	if len(allowed) == 0 || slices.Contains(allowed, r.st.Requester) {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("start refused: %s may not start plan %s: only its executors and incident commander may (%s)",
		r.st.Requester, r.p.Metadata.Name, strings.Join(allowed, ", ")), ErrTypeIdentityRefused, nil)
}

// acknowledge records a, and stops the escalations it covers, telling their channels (PagerDuty
// acknowledges the incident of the same dedup key).
func (r *runner) acknowledge(ctx workflow.Context, a Acknowledgement) Acknowledgement {
	a.Identity, a.Time = strings.TrimSpace(a.Identity), workflow.Now(ctx)
	if id, ok := strings.CutPrefix(a.Assertion, "jti:"); ok && r.ids != nil {
		r.ids.used[id] = true
	}
	a.Assertion = ""
	r.st.Acknowledgements = append(r.st.Acknowledgements, a)
	entry := contract.AppendAuditInput{Kind: contract.AuditKindAcknowledgement, Actor: a.Identity, Channel: string(a.Channel), Verified: a.Verified,
		Subject: r.in.Plan + "/" + a.Step, Time: a.Time, Details: map[string]string{"note": a.Note}}
	if a.Step == "" {
		entry.Kind, entry.Subject = contract.AuditKindSilence, r.in.Plan
	}
	r.audit.append(ctx, entry)
	for _, key := range sortedEscalations(r.escalations) {
		e := r.escalations[key]
		if a.Step != "" && a.Step != e.Step {
			continue
		}
		delete(r.escalations, key)
		workflow.Go(ctx, func(ctx workflow.Context) {
			_ = r.alert(ctx, notify.Message{Event: "escalation.acknowledged", Severity: notify.Info,
				Title:    fmt.Sprintf("%s acknowledged: %s", a.Identity, e.Title),
				Text:     a.Note,
				Fields:   map[string]string{"by": a.Identity, "channel": string(a.Channel)},
				DedupKey: e.DedupKey})
		})
	}
	return a
}

// sortedEscalations returns the dedup keys of m in order, so that they are visited the same way on
// every replay.
func sortedEscalations(m map[string]*escalation) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore
	for k := range m { // the keys are sorted below
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// silenced reports whether an acknowledgement covering step (empty: the run) came after since, so
// that an escalation begun at since stops.
func (r *runner) silenced(step string, since time.Time) bool {
	for _, a := range r.st.Acknowledgements {
		if (a.Step == "" || a.Step == step) && !a.Time.Before(since) {
			return true
		}
	}
	return false
}

// escalate notifies one level of an escalation unless an acknowledgement silenced it, and reports
// whether it did.
func (r *runner) escalate(ctx workflow.Context, step string, since time.Time, m notify.Message) bool {
	if r.silenced(step, since) {
		return false
	}
	if r.escalations == nil {
		r.escalations = map[string]*escalation{}
	}
	if _, ok := r.escalations[m.DedupKey]; !ok {
		r.escalations[m.DedupKey] = &escalation{Step: step, Since: since, DedupKey: m.DedupKey, Title: m.Title}
	}
	_ = r.alert(ctx, m)
	return true
}

// endEscalation resolves an escalation whose cause ended (the gate was decided, the step finished,
// the plan ended), so that channels that keep incidents open (PagerDuty) close them.
func (r *runner) endEscalation(ctx workflow.Context, dedupKey, how string) {
	e, ok := r.escalations[dedupKey]
	if !ok {
		return
	}
	delete(r.escalations, dedupKey)
	_ = r.alert(ctx, notify.Message{Event: "escalation.resolved", Severity: notify.Info,
		Title: fmt.Sprintf("%s: %s", how, e.Title), DedupKey: dedupKey})
}

// watchRTO alerts when the plan is still running as its RTO passes, then escalates through the
// plan's escalation policy until the plan ends or someone acknowledges the run.
func (r *runner) watchRTO(ctx workflow.Context, rto time.Duration) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		if err := workflow.NewTimerWithOptions(ctx, rto, workflow.TimerOptions{Summary: "RTO " + units.Duration(rto).Human()}).Get(ctx, nil); err != nil {
			return
		}
		if r.st.Status != StepRunning {
			return
		}
		missed := workflow.Now(ctx)
		m := notify.Message{Event: "plan.rto_missed", Severity: notify.Critical, Plan: r.p.Metadata.Name,
			Title:    fmt.Sprintf("%s has run past its RTO of %s", r.p.Metadata.Name, units.Duration(rto).Human()),
			Text:     "Steps still running: " + strings.Join(r.running(), ", "),
			DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/rto"}
		if !r.escalate(ctx, "", missed, m) {
			return
		}
		esc := r.p.Spec.Escalation
		if esc == nil || len(esc.Levels) == 0 {
			return
		}
		r.escalateByLevels(ctx, esc, "", missed, "RTO missed", func() bool { return r.st.Status == StepRunning }, func(ctx workflow.Context) notify.Message {
			m.Title = fmt.Sprintf("%s has run %s past its RTO of %s", r.p.Metadata.Name, units.Duration(workflow.Now(ctx).Sub(missed)).Human(), units.Duration(rto).Human())
			m.Text = "Steps still running: " + strings.Join(r.running(), ", ")
			return m
		})
	})
}

// escalateByLevels notifies the levels of esc one after another, each when its time has come since
// since, until the wait is cancelled, still turns false, or an acknowledgement of step (empty: the
// run) silences it. message is the notice, to which each level adds its number and people.
func (r *runner) escalateByLevels(ctx workflow.Context, esc *plan.Escalation, step string, since time.Time, what string, still func() bool, message func(workflow.Context) notify.Message) {
	for i, at := range escalationOffsets(esc) {
		if err := workflow.NewTimerWithOptions(ctx, max(since.Add(at).Sub(workflow.Now(ctx)), time.Millisecond),
			workflow.TimerOptions{Summary: fmt.Sprintf("%s: escalation level %d", what, i+1)}).Get(ctx, nil); err != nil || !still() {
			return
		}
		level := esc.Levels[i%len(esc.Levels)]
		r.page(step, r.people(level.Notify))
		m := message(ctx)
		m.Level, m.Fields = i+1, map[string]string{"to": strings.Join(r.people(level.Notify), ", "), "level": fmt.Sprint(i + 1)}
		if !r.escalate(ctx, step, since, m) {
			return
		}
	}
}

func (r *runner) running() []string {
	var out []string
	for _, s := range r.st.Steps {
		if s.Status == StepRunning {
			out = append(out, s.ID)
		}
	}
	return out
}

// policy is the escalation policy of a step: its own, or the plan's.
func (r *runner) policy(s *plan.Step) *plan.Escalation {
	if s.Escalation != nil && len(s.Escalation.Levels) > 0 {
		return s.Escalation
	}
	if e := r.p.Spec.Escalation; e != nil && len(e.Levels) > 0 {
		return e
	}
	return nil
}

// escalationOffsets are the times, from the start of a wait, at which a policy's levels fire: level i
// of round k at k × (the last level's after) + after_i, for 1 + repeat rounds.
func escalationOffsets(esc *plan.Escalation) []time.Duration {
	period := esc.Levels[len(esc.Levels)-1].After.D()
	var out []time.Duration
	for k := 0; k <= esc.Repeat && len(out) < approval.MaxReminders; k++ {
		for _, l := range esc.Levels {
			if len(out) == approval.MaxReminders {
				break
			}
			out = append(out, time.Duration(k)*period+l.After.D())
		}
	}
	return out
}

// watchStuck escalates while an action step runs past its policy's levels; stop ends the watch.
func (r *runner) watchStuck(ctx workflow.Context, s *plan.Step, id string) (stop func()) {
	esc := r.policy(s)
	if esc == nil {
		return func() {}
	}
	wctx, cancel := workflow.WithCancel(ctx)
	started := workflow.Now(ctx)
	dedup := workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id + "/stuck"
	workflow.Go(wctx, func(ctx workflow.Context) {
		r.escalateByLevels(ctx, esc, id, started, "step "+id, func() bool { return true }, func(ctx workflow.Context) notify.Message {
			return notify.Message{Event: "step.stuck", Severity: notify.Critical, Plan: r.p.Metadata.Name,
				Title:    fmt.Sprintf("%s: step %s has run for %s", r.p.Metadata.Name, id, units.Duration(workflow.Now(ctx).Sub(started)).Human()),
				Text:     "The step's action has not finished; check what it waits on.",
				DedupKey: dedup}
		})
	})
	return func() {
		cancel()
		r.endEscalation(ctx, dedup, "step "+id+" ended")
	}
}

// Descriptions the Web UI and `temporal workflow metadata` show for the Recovery workflow's handlers.
const (
	recoveryStatusDescription = "The run so far: every step's status, result and timing, open gates, escalations, alerts and the RTO. `lifeboat status <workflow-id>` reads it."
	acknowledgeDescription    = "Say you are on it: stops the escalations begun so far, of one step (step) or of the whole run. " +
		`Input {"identity":"<you>","step":"<step>","note":"…"}; lifeboat ack <workflow-id> --step <step> sends it. Acknowledging does not approve a gate.`
)

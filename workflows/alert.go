package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// AlertWorkflow is the Alert workflow's type name.
const AlertWorkflow = "Alert"

// SignalAlert carries an AlertEvent: the alert intake sends it to an alert's Alert workflow, and
// the Alert workflow forwards each firing and resolved transition to the recovery it started or
// joined, so that the recovery's record can show what the alert did meanwhile.
const SignalAlert = "alert"

// alertSignalDescription is what the Web UI shows for SignalAlert on an Alert workflow.
const alertSignalDescription = "An alert firing or resolved, sent by the alert intake (POST /alerts): a firing alert starts or joins the recovery its rule names, a resolved one starts the quiet period."

// Alert statuses, as the sources report them.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert workflow defaults and limits.
const (
	// DefaultAlertQuietPeriod is how long an alert must stay resolved before its Alert workflow
	// completes, unless its rule says otherwise.
	DefaultAlertQuietPeriod = time.Hour
	// DefaultAlertEventsPerRun is how many events one run of an Alert workflow takes before it
	// continues as new, to keep its history short: an alert that keeps firing is re-sent every
	// repeat interval.
	DefaultAlertEventsPerRun = 500
	// MaxAlertTransitions is how many transitions AlertStatus lists; older ones are counted only.
	MaxAlertTransitions = 100
)

// AlertWorkflowID is the workflow ID of an alert's Alert workflow: one per rule and alert
// fingerprint, so that every notification of the same alert reaches the same workflow.
func AlertWorkflowID(rule, fingerprint string) string { return "alert-" + rule + "-" + fingerprint }

// RecoveryWorkflowID is the workflow ID of a plan's Recovery workflow in the given mode:
// recovery-PLAN, drill-PLAN or rehearsal-PLAN. Temporal runs one workflow per ID at a time, so one
// recovery, one drill and one rehearsal of a plan at most.
func RecoveryWorkflowID(mode, plan string) string { return RecoveryKind(mode) + "-" + plan }

// RecoveryKind is the LifeboatKind of a Recovery workflow in the given mode: recovery, drill or
// rehearsal.
func RecoveryKind(mode string) string {
	switch mode {
	case ModeDrill:
		return "drill"
	case ModeRehearsal:
		return "rehearsal"
	}
	return "recovery"
}

// AlertEvent is one notification of an alert, as the intake received it: the signal SignalAlert's
// payload. Labels and annotations are bounded by the intake.
type AlertEvent struct {
	// Status is AlertFiring or AlertResolved.
	Status string `json:"status"`
	// Fingerprint identifies the alert: the same for every notification of it.
	Fingerprint string `json:"fingerprint"`
	// Name is the alertname label, when there is one.
	Name        string            `json:"name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the alert started firing and EndsAt, for a resolved alert, when it stopped,
	// as the source reports them.
	StartsAt     time.Time `json:"starts_at,omitzero"`
	EndsAt       time.Time `json:"ends_at,omitzero"`
	GeneratorURL string    `json:"generator_url,omitempty"`
	// Source says where it came from: "alertmanager/RECEIVER" or "webhook/SOURCE".
	Source string `json:"source"`
	// ReceivedAt is when the intake received it.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Rule is the intake rule the alert matched.
	Rule string `json:"rule"`
	// AlertWorkflow is the ID of the Alert workflow that forwarded the event to a recovery; empty
	// on the way from the intake to the Alert workflow.
	AlertWorkflow string `json:"alert_workflow,omitempty"`
}

// Summary is the alert's summary annotation, or its description when it has no summary.
func (e AlertEvent) Summary() string {
	if s := strings.TrimSpace(e.Annotations["summary"]); s != "" {
		return s
	}
	return strings.TrimSpace(e.Annotations["description"])
}

// AlertInput starts (or continues) an alert's workflow. Rule, Plan, Mode and QuietPeriod come from
// the intake rule that matched; State is the record carried across continue-as-new.
type AlertInput struct {
	Rule        string `json:"rule"`
	Fingerprint string `json:"fingerprint"`
	Plan        string `json:"plan"`
	// Mode is recovery (default) or drill.
	Mode string `json:"mode,omitempty"`
	// QuietPeriod is how long the alert must stay resolved before the workflow completes
	// (DefaultAlertQuietPeriod when zero).
	QuietPeriod units.Duration `json:"quiet_period,omitempty"`
	// EventsPerRun is how many events a run takes before continuing as new
	// (DefaultAlertEventsPerRun when zero).
	EventsPerRun int `json:"events_per_run,omitempty"`
	// State is the record so far; nil when the workflow starts.
	State *AlertStatus `json:"state,omitempty"`
}

// AlertTransition is one change of an alert's status.
type AlertTransition struct {
	Status string `json:"status"`
	// At is when the Alert workflow received it; AlertTime is when the source says it happened
	// (StartsAt of a firing alert, EndsAt of a resolved one).
	At        time.Time `json:"at"`
	AlertTime time.Time `json:"alert_time,omitzero"`
	Source    string    `json:"source,omitempty"`
	// Forwarded reports whether the recovery received it as a signal.
	Forwarded bool `json:"forwarded"`
}

// AlertRecovery is the recovery an alert started or joined.
type AlertRecovery struct {
	WorkflowID string `json:"workflow_id"`
	// RunID is the run the alert started; empty when it joined one that was already running.
	RunID string `json:"run_id,omitempty"`
	// Started is true when the alert started the recovery, false when one was already running
	// (started from the CLI or by another alert) and the alert joined it.
	Started bool      `json:"started"`
	At      time.Time `json:"at"`
	// Outcome is succeeded, failed, canceled, terminated or timed out once the Alert workflow saw
	// the recovery end; empty while it runs, or when the Alert workflow cannot follow it (it joined
	// a run it did not start, or continued as new since).
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`
	// SignalError is why the last transition could not be forwarded, such as a recovery that has
	// ended.
	SignalError string `json:"signal_error,omitempty"`
}

// AlertStatus is an alert's record: the status query's answer and the workflow's result.
type AlertStatus struct {
	Rule        string `json:"rule"`
	Fingerprint string `json:"fingerprint"`
	Plan        string `json:"plan"`
	Mode        string `json:"mode"`
	// Name is the alertname; Summary its summary annotation; Labels the labels of the latest
	// event.
	Name    string            `json:"name,omitempty"`
	Summary string            `json:"summary,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Status is firing or resolved; empty until the first event.
	Status        string    `json:"status"`
	StartedAt     time.Time `json:"started_at"`
	FirstFiringAt time.Time `json:"first_firing_at,omitzero"`
	LastEventAt   time.Time `json:"last_event_at,omitzero"`
	ResolvedAt    time.Time `json:"resolved_at,omitzero"`
	// QuietUntil is when the workflow completes unless the alert fires again; zero while firing.
	QuietUntil  time.Time      `json:"quiet_until,omitzero"`
	QuietPeriod units.Duration `json:"quiet_period"`
	// Recovery is the recovery the alert started or joined; nil until it first fired.
	Recovery *AlertRecovery `json:"recovery,omitempty"`
	// Transitions are the newest changes of status, oldest first; TransitionCount counts them all.
	Transitions     []AlertTransition `json:"transitions,omitempty"`
	TransitionCount int               `json:"transition_count"`
	// Events counts every event received; Repeats those that repeated the current status (a
	// source re-sends a firing alert every repeat interval); Stale those of an earlier firing that
	// arrived after it was resolved, which are ignored.
	Events  int `json:"events"`
	Repeats int `json:"repeats"`
	Stale   int `json:"stale,omitempty"`
	// Runs counts the workflow's runs: it continues as new every EventsPerRun events.
	Runs int `json:"runs"`
	// ClosedAt is when the quiet period ended and the workflow completed.
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// EpisodeStartsAt is the StartsAt of the current or last firing, as the source reported it:
	// a late copy of an earlier firing or resolution is recognized by it and ignored.
	EpisodeStartsAt time.Time `json:"episode_starts_at,omitzero"`
}

// Alert follows one alert of a rule, identified by its fingerprint, from its first firing until it
// has stayed resolved for the rule's quiet period. The intake starts it with SignalWithStart and
// signals it (SignalAlert) with every notification of the alert, so repeated and flapping
// notifications all land here. On the first firing it starts the rule's plan as a Recovery child
// workflow (ID recovery-PLAN or drill-PLAN, abandoned when the Alert workflow ends); when one is
// already running — from the CLI or another alert — it joins that one instead of starting a
// second. It starts or joins once in its lifetime, and forwards every firing and resolved
// transition to that recovery. The status query answers with its AlertStatus; it continues as new
// with that record every EventsPerRun events.
func Alert(ctx workflow.Context, in AlertInput) (AlertStatus, error) {
	if in.Mode == "" {
		in.Mode = ModeRecovery
	}
	var problems []string
	if strings.TrimSpace(in.Rule) == "" {
		problems = append(problems, "rule: required")
	}
	if strings.TrimSpace(in.Fingerprint) == "" {
		problems = append(problems, "fingerprint: required")
	}
	if strings.TrimSpace(in.Plan) == "" {
		problems = append(problems, "plan: required")
	}
	if in.Mode != ModeRecovery && in.Mode != ModeDrill {
		problems = append(problems, fmt.Sprintf("mode: %q is neither recovery nor drill", in.Mode))
	}
	if len(problems) > 0 {
		return AlertStatus{}, temporal.NewNonRetryableApplicationError("invalid alert input: "+strings.Join(problems, "; "), ErrTypeInvalidInput, nil)
	}
	if in.State == nil && workflow.GetVersion(ctx, versionAlertRuleFromConfiguration, workflow.DefaultVersion, 1) == 1 {
		if err := ruleFromConfiguration(ctx, in); err != nil {
			return AlertStatus{}, err
		}
	}
	quiet := in.QuietPeriod.Or(DefaultAlertQuietPeriod)
	perRun := in.EventsPerRun
	if perRun <= 0 {
		perRun = DefaultAlertEventsPerRun
	}
	a := &alertRun{in: in, quiet: quiet}
	if in.State != nil {
		a.st = *in.State
	} else {
		now := workflow.Now(ctx)
		a.st = AlertStatus{Rule: in.Rule, Fingerprint: in.Fingerprint, Plan: in.Plan, Mode: in.Mode, StartedAt: now,
			QuietPeriod: units.Duration(quiet), QuietUntil: now.Add(quiet)}
	}
	a.st.Runs++
	st := &a.st
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (AlertStatus, error) { return a.status(), nil },
		workflow.QueryHandlerOptions{Description: "The alert as last seen: firing or resolved, the intake rule, and the recovery it started, if any."}); err != nil {
		return *st, err
	}
	if err := setKindAndAsset(ctx, "alert", in.Plan); err != nil {
		return *st, err
	}
	a.details(ctx)

	events := workflow.GetSignalChannelWithOptions(ctx, SignalAlert, workflow.SignalChannelOptions{Description: alertSignalDescription})
	for handled := 0; ; {
		if handled >= perRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		if st.Status != AlertFiring && !workflow.Now(ctx).Before(st.QuietUntil) {
			// Quiet for long enough, unless events are still queued.
			n, err := a.drain(ctx, events)
			if err != nil {
				return *st, err
			}
			handled += n
			if n > 0 {
				continue
			}
			st.ClosedAt = workflow.Now(ctx)
			finish(ctx, AlertResolved)
			a.details(ctx)
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return *st, err
			}
			return a.status(), nil
		}

		sel := workflow.NewSelector(ctx)
		var got *AlertEvent
		sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
			var ev AlertEvent
			c.Receive(ctx, &ev)
			got = &ev
		})
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		if st.Status != AlertFiring {
			wait := st.QuietUntil.Sub(workflow.Now(ctx))
			timer := workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: "quiet period: completes unless the alert fires again"})
			sel.AddFuture(timer, func(workflow.Future) {})
		}
		if a.child != nil {
			sel.AddFuture(a.child, func(f workflow.Future) {
				a.recoveryEnded(f.Get(ctx, nil))
				a.child = nil
				a.details(ctx)
			})
		}
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		cancelTimer()
		if ctx.Err() != nil {
			return a.status(), ctx.Err()
		}
		if got != nil {
			handled++
			if err := a.handle(ctx, *got); err != nil {
				return a.status(), err
			}
		}
	}

	// Take what is already queued, then carry the record into a fresh history.
	if _, err := a.drain(ctx, events); err != nil {
		return *st, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *st, err
	}
	next := in
	state := a.status()
	next.State = &state
	return state, workflow.NewContinueAsNewError(ctx, AlertWorkflow, next)
}

// alertRun is one run of an Alert workflow.
type alertRun struct {
	in    AlertInput
	quiet time.Duration
	st    AlertStatus
	// child is the recovery this run started, until it ends.
	child workflow.ChildWorkflowFuture
}

// status is a copy of the record, safe to return from a query.
func (a *alertRun) status() AlertStatus {
	out := a.st
	out.Transitions = append([]AlertTransition(nil), a.st.Transitions...)
	if a.st.Recovery != nil {
		rec := *a.st.Recovery
		out.Recovery = &rec
	}
	return out
}

// drain handles the events already queued, without waiting; it returns how many there were.
func (a *alertRun) drain(ctx workflow.Context, events workflow.ReceiveChannel) (int, error) {
	n := 0
	for {
		var ev AlertEvent
		if !events.ReceiveAsync(&ev) {
			return n, nil
		}
		n++
		if err := a.handle(ctx, ev); err != nil {
			return n, err
		}
	}
}

// handle applies one event: a change of status is recorded and forwarded to the recovery, which
// the first firing starts (or joins); a repeat is counted.
func (a *alertRun) handle(ctx workflow.Context, ev AlertEvent) error {
	st := &a.st
	now := workflow.Now(ctx)
	st.Events++
	st.LastEventAt = now
	if ev.Name != "" {
		st.Name = ev.Name
	}
	if s := ev.Summary(); s != "" {
		st.Summary = s
	}
	if len(ev.Labels) > 0 {
		st.Labels = ev.Labels
	}
	log := workflow.GetLogger(ctx)
	switch ev.Status {
	case AlertFiring:
		if st.Status == AlertFiring {
			st.Repeats++
			return nil
		}
		if st.Status == AlertResolved && sameTime(ev.StartsAt, st.EpisodeStartsAt) {
			// A late copy of the firing that was already resolved.
			st.Stale++
			log.Info("stale firing ignored", "starts_at", ev.StartsAt)
			return nil
		}
		st.Status = AlertFiring
		st.ResolvedAt, st.QuietUntil = time.Time{}, time.Time{}
		st.EpisodeStartsAt = ev.StartsAt
		if st.FirstFiringAt.IsZero() {
			st.FirstFiringAt = now
		}
		phase(ctx, AlertFiring)
		if st.Recovery == nil {
			if err := a.startRecovery(ctx, ev); err != nil {
				return err
			}
		}
		a.transition(ctx, ev, now, ev.StartsAt)
	case AlertResolved:
		if st.Status != AlertFiring {
			st.Repeats++
			return nil
		}
		if !ev.StartsAt.IsZero() && !st.EpisodeStartsAt.IsZero() && ev.StartsAt.Before(st.EpisodeStartsAt) {
			// The end of an earlier firing, arriving after the current one began.
			st.Stale++
			log.Info("stale resolution ignored", "starts_at", ev.StartsAt, "current_starts_at", st.EpisodeStartsAt)
			return nil
		}
		st.Status = AlertResolved
		st.ResolvedAt, st.QuietUntil = now, now.Add(a.quiet)
		phase(ctx, AlertResolved)
		a.transition(ctx, ev, now, ev.EndsAt)
	default:
		log.Warn("alert event with an unknown status ignored", "status", ev.Status)
		return nil
	}
	a.details(ctx)
	return nil
}

// sameTime reports whether two times are set and equal.
func sameTime(a, b time.Time) bool { return !a.IsZero() && a.Equal(b) }

// transition records a change of status, received at at, and forwards it to the recovery.
func (a *alertRun) transition(ctx workflow.Context, ev AlertEvent, at, alertTime time.Time) {
	st := &a.st
	tr := AlertTransition{Status: ev.Status, At: at, AlertTime: alertTime, Source: ev.Source}
	if rec := st.Recovery; rec != nil {
		ev.Rule = a.in.Rule
		ev.AlertWorkflow = workflow.GetInfo(ctx).WorkflowExecution.ID
		err := workflow.SignalExternalWorkflow(ctx, rec.WorkflowID, rec.RunID, SignalAlert, ev).Get(ctx, nil)
		if err != nil {
			rec.SignalError = err.Error()
			workflow.GetLogger(ctx).Warn("alert transition not forwarded to the recovery", "recovery", rec.WorkflowID, "status", ev.Status, "error", err)
		} else {
			tr.Forwarded = true
			rec.SignalError = ""
		}
	}
	st.TransitionCount++
	st.Transitions = append(st.Transitions, tr)
	if len(st.Transitions) > MaxAlertTransitions {
		st.Transitions = st.Transitions[len(st.Transitions)-MaxAlertTransitions:]
	}
}

// startRecovery starts the rule's plan as a child workflow, or joins the run of that plan already
// going on. Any other failure to start is returned: it fails the Alert workflow, so that the next
// notification of the alert starts a new one that tries again.
func (a *alertRun) startRecovery(ctx workflow.Context, ev AlertEvent) error {
	in := RecoveryInput{Plan: a.in.Plan, Mode: a.in.Mode, Requester: "alert:" + a.in.Rule, Reason: alertReason(ev)}
	// The incident began when the alert started firing, as its source says, if that is not in
	// the future by the workflow's clock.
	if !ev.StartsAt.IsZero() && !ev.StartsAt.After(workflow.Now(ctx)) {
		in.IncidentAt = ev.StartsAt
	}
	id := RecoveryWorkflowID(in.Mode, in.Plan)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// The recovery goes on when the alert is over: only people (or its plan) end it.
		ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         alertRecoverySummary(in, ev),
		StaticDetails:         alertRecoveryDetails(in, ev, workflow.GetInfo(ctx).WorkflowExecution.ID),
		TypedSearchAttributes: temporal.NewSearchAttributes(KindKey.ValueSet(RecoveryKind(in.Mode)), AssetKey.ValueSet(in.Plan)),
	})
	f := workflow.ExecuteChildWorkflow(cctx, RecoveryWorkflow, in)
	var exec workflow.Execution
	err := f.GetChildWorkflowExecution().Get(ctx, &exec)
	now := workflow.Now(ctx)
	switch {
	case err == nil:
		a.st.Recovery = &AlertRecovery{WorkflowID: id, RunID: exec.RunID, Started: true, At: now}
		a.child = f
		workflow.GetLogger(ctx).Info("recovery started", "recovery", id, "run", exec.RunID)
	case alreadyRunning(err):
		a.st.Recovery = &AlertRecovery{WorkflowID: id, Started: false, At: now}
		workflow.GetLogger(ctx).Info("recovery already running: joined it", "recovery", id)
	default:
		return fmt.Errorf("start %s of plan %s as %s: %w", in.Mode, in.Plan, id, err)
	}
	return nil
}

// alreadyRunning reports whether a child could not start because a workflow with its ID runs.
// The server reports it as ChildWorkflowExecutionAlreadyStartedError; the SDK's test environment
// as WorkflowExecutionAlreadyStarted.
func alreadyRunning(err error) bool {
	var child *temporal.ChildWorkflowExecutionAlreadyStartedError
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &child) || errors.As(err, &started)
}

// recoveryEnded records how the recovery this run started ended.
func (a *alertRun) recoveryEnded(err error) {
	rec := a.st.Recovery
	if rec == nil {
		return
	}
	var (
		canceled   *temporal.CanceledError
		terminated *temporal.TerminatedError
		timeout    *temporal.TimeoutError
	)
	switch {
	case err == nil:
		rec.Outcome = "succeeded"
	case errors.As(err, &canceled):
		rec.Outcome = "canceled"
	case errors.As(err, &terminated):
		rec.Outcome = "terminated"
	case errors.As(err, &timeout):
		rec.Outcome = "timed out"
	default:
		rec.Outcome, rec.Error = "failed", errMessage(err)
	}
}

// alertReason is the recovery's reason: the alert's name and summary.
func alertReason(ev AlertEvent) string {
	reason := "alert " + cmp.Or(ev.Name, ev.Fingerprint)
	if s := ev.Summary(); s != "" {
		reason += ": " + s
	}
	return truncate(oneLine(reason), approval.MaxReasonLen)
}

// alertRecoverySummary is the recovery's one-line title in the Web UI.
func alertRecoverySummary(in RecoveryInput, ev AlertEvent) string {
	title := "Recovery"
	if in.Mode == ModeDrill {
		title = "Drill"
	}
	return truncate(fmt.Sprintf("%s: %s (alert %s), started by %s", title, in.Plan, cmp.Or(ev.Name, ev.Fingerprint), in.Requester), 200)
}

// alertRecoveryDetails is the Markdown the Web UI shows under the recovery's summary.
func alertRecoveryDetails(in RecoveryInput, ev AlertEvent, alertWorkflow string) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Reason:** %s\n\n", in.Reason))
	b.WriteString(fmt.Sprintf("Plan `%s` in %s mode, started by alert rule `%s` when the alert fired (from %s).\n", in.Plan, in.Mode, ev.Rule, ev.Source))
	b.WriteString(fmt.Sprintf("The alert's workflow `%s` forwards its changes as `%s` signals.\n", alertWorkflow, SignalAlert))
	if ev.GeneratorURL != "" {
		b.WriteString(fmt.Sprintf("\nSource: %s\n", ev.GeneratorURL))
	}
	return b.String()
}

// details shows the alert's state in the Web UI.
func (a *alertRun) details(ctx workflow.Context) {
	st := &a.st
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Alert %s** (rule `%s`): **%s**", cmp.Or(st.Name, st.Fingerprint), st.Rule, cmp.Or(st.Status, "waiting for the first event")))
	if st.Summary != "" {
		b.WriteString(" — " + oneLine(st.Summary))
	}
	b.WriteString("\n\n")
	if rec := st.Recovery; rec != nil {
		how := "started"
		if !rec.Started {
			how = "joined (it was already running)"
		}
		b.WriteString(fmt.Sprintf("Recovery `%s` %s at %s", rec.WorkflowID, how, rec.At.UTC().Format(time.RFC3339)))
		if rec.Outcome != "" {
			b.WriteString(", " + rec.Outcome)
		}
		b.WriteString("\n\n")
	}
	b.WriteString(fmt.Sprintf("%d transitions, %d repeats", st.TransitionCount, st.Repeats))
	switch {
	case !st.ClosedAt.IsZero():
		b.WriteString(fmt.Sprintf("; closed at %s after %s resolved\n", st.ClosedAt.UTC().Format(time.RFC3339), units.Duration(a.quiet).Human()))
	case st.Status != AlertFiring:
		b.WriteString(fmt.Sprintf("; completes at %s unless it fires again\n", st.QuietUntil.UTC().Format(time.RFC3339)))
	default:
		b.WriteString("\n")
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// oneLine keeps a text on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate shortens s to at most n bytes, ending with "…" when it was cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-len("…")], "") + "…"
}

// AlertNote is an alert's transition as a recovery records it.
type AlertNote struct {
	Status string `json:"status"`
	Name   string `json:"name,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Summary is the alert's summary annotation.
	Summary string `json:"summary,omitempty"`
	Source  string `json:"source,omitempty"`
	// AlertWorkflow is the Alert workflow that forwarded it.
	AlertWorkflow string `json:"alert_workflow,omitempty"`
	// At is when the recovery received it; AlertTime when the source says it happened.
	At        time.Time `json:"at"`
	AlertTime time.Time `json:"alert_time,omitzero"`
}

// MaxAlertNotes is how many alert transitions a recovery's record keeps; older ones are dropped.
const MaxAlertNotes = 50

// followAlerts receives the alert transitions that Alert workflows signal (SignalAlert) on a
// coroutine of its own and appends each to notes, keeping the newest MaxAlertNotes. The Recovery
// workflow calls it once, with the field of its record that lists them. It adds no command to
// the history, so running recoveries replay unchanged.
func followAlerts(ctx workflow.Context, notes *[]AlertNote) {
	ch := workflow.GetSignalChannelWithOptions(ctx, SignalAlert, workflow.SignalChannelOptions{
		Description: "An alert firing or resolved, sent by the Alert workflow that started this recovery; it is listed in the status query's alerts."})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ev AlertEvent
			if !ch.Receive(ctx, &ev) {
				return
			}
			n := AlertNote{Status: ev.Status, Name: ev.Name, Rule: ev.Rule, Summary: truncate(oneLine(ev.Summary()), 500),
				Source: ev.Source, AlertWorkflow: ev.AlertWorkflow, At: workflow.Now(ctx), AlertTime: ev.StartsAt}
			if ev.Status == AlertResolved {
				n.AlertTime = ev.EndsAt
			}
			*notes = append(*notes, n)
			if len(*notes) > MaxAlertNotes {
				*notes = (*notes)[len(*notes)-MaxAlertNotes:]
			}
			workflow.GetLogger(ctx).Info("alert transition recorded", "status", ev.Status, "alert", ev.Name, "rule", ev.Rule)
		}
	})
}

// versionAlertRuleFromConfiguration marks runs that take their plan and mode only from the intake
// rule of the worker's configuration: an Alert workflow started by hand cannot name its own.
const versionAlertRuleFromConfiguration = "alert-rule-from-configuration"

// ruleFromConfiguration refuses an alert whose rule the worker does not have, or whose plan or
// mode is not the rule's: the recovery an alert starts runs as its child, trusted as the worker's
// own, so what it starts comes from the configuration alone.
func ruleFromConfiguration(ctx workflow.Context, in AlertInput) error {
	var rule contract.LoadAlertRuleResult
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("find intake rule "+in.Rule)),
		contract.LoadAlertRule, contract.LoadAlertRuleInput{Rule: in.Rule}).Get(ctx, &rule); err != nil {
		return err
	}
	mode := cmp.Or(rule.Mode, ModeRecovery)
	switch {
	case !rule.Found:
		known := strings.Join(rule.Rules, ", ")
		if known == "" {
			known = "none"
		}
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("start refused: this worker has no intake rule %q (rules: %s): alerts start only the plans intake.rules names",
			in.Rule, known), ErrTypeIdentityRefused, nil)
	case rule.Plan != in.Plan || mode != in.Mode:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("start refused: intake rule %q starts plan %s in %s mode, not %s in %s mode",
			in.Rule, rule.Plan, mode, in.Plan, in.Mode), ErrTypeIdentityRefused, nil)
	}
	return nil
}

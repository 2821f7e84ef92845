package approval

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Gates holds a workflow run's approval gates and answers the decide Update, the decide signal
// and the approvals query for all of them. Gate names are unique within the run: a gate that
// closed cannot be opened again, and a continued-as-new run starts with no gates, so callers
// carry the outcomes they need in their input.
type Gates struct {
	// authenticate, when set, establishes who a decision is from (see Enforce).
	authenticate Authenticator
	// strict refuses decisions for gates not open yet, instead of holding them.
	strict bool

	// observer is told of what is recorded and refused (see Observe).
	observer Observer
	// changed is called when a gate opens, records an approval, escalates or closes (see OnChange).
	changed func(ctx workflow.Context)

	gates          []*gate // in the order they opened
	byName         map[string]*gate
	decisions      []Decision
	held           []Decision
	refused        []Refusal
	refusedDropped int
}

type gate struct {
	req        Request
	openedAt   time.Time
	expiresAt  time.Time // zero without a timeout
	approvedBy []string
	decided    map[string]bool
	outcome    Outcome
	closed     bool
	closedHow  string // approved, rejected by …, expired (…), canceled
}

// New registers the decide Update (with its validator), the decide signal and the approvals query
// for the workflow run. Call it once per run, first thing in the workflow, so that a decision
// sent right after the start finds its handler. The decide signal channel is then read by Gates
// alone, on a coroutine of its own.
func New(ctx workflow.Context) (*Gates, error) {
	g := &Gates{byName: map[string]*gate{}}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryApprovals, func() (State, error) { return g.State(), nil },
		workflow.QueryHandlerOptions{Description: QueryApprovalsDescription}); err != nil {
		return nil, fmt.Errorf("approval: register query %s: %w", QueryApprovals, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, g.decideUpdate,
		workflow.UpdateHandlerOptions{Validator: g.validateUpdate, Description: UpdateDecideDescription}); err != nil {
		return nil, fmt.Errorf("approval: register update %s: %w", UpdateDecide, err)
	}
	signals := workflow.GetSignalChannelWithOptions(ctx, SignalDecide, workflow.SignalChannelOptions{Description: SignalDecideDescription})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// Generic JSON, so that a malformed signal is listed as refused rather than dropped.
			var raw any
			if more := signals.Receive(ctx, &raw); !more {
				return
			}
			g.decideSignal(ctx, raw)
		}
	})
	return g, nil
}

// Authenticator establishes who decides: it returns d with Identity set to the person it is
// from (and Verified set when a signature proved it), or why it is refused. gate is the gate the
// decision is for. It runs in the Update's validator and again in its handler, so it must be
// deterministic: read only workflow state and workflow.Now.
type Authenticator func(ctx workflow.Context, gate string, d Decision) (Decision, error)

// Enforce makes every gate establish who decides through auth, and refuses decisions sent before
// their gate opens (a signal is no longer held until then). Call it before the first gate opens.
func (g *Gates) Enforce(auth Authenticator) {
	g.authenticate, g.strict = auth, true
}

// Await opens the gate req describes and blocks until it closes: approved by a quorum of distinct
// identities, rejected by one, or expired under req.OnExpiry. Reminders and the expiry run on
// durable timers, cancelled once the gate is decided. When ctx is cancelled first, the gate closes
// as canceled and Await returns the ctx's *temporal.CanceledError. A request that cannot open a
// gate (see Request.Validate, or a gate name already used in this run) returns a non-retryable
// error of type ErrTypeInvalidRequest.
func (g *Gates) Await(ctx workflow.Context, req Request) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{Gate: req.Gate}, temporal.NewNonRetryableApplicationError("approval: invalid request: "+err.Error(), ErrTypeInvalidRequest, nil)
	}
	req = req.withDefaults()
	if _, dup := g.byName[req.Gate]; dup {
		return Outcome{Gate: req.Gate}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("approval: invalid request: gate: %q was already opened in this workflow run", req.Gate), ErrTypeInvalidRequest, nil)
	}
	now := workflow.Now(ctx)
	gt := &gate{req: req, openedAt: now, decided: map[string]bool{}, outcome: Outcome{Gate: req.Gate}}
	if req.Timeout > 0 {
		gt.expiresAt = now.Add(req.Timeout)
	}
	g.gates = append(g.gates, gt)
	g.byName[req.Gate] = gt
	workflow.GetLogger(ctx).Info("approval gate opened", "gate", req.Gate, "title", req.Title, "requester", req.Requester, "quorum", req.Quorum, "timeout", req.Timeout)
	g.releaseHeld(ctx, gt)
	g.notifyChanged(ctx)
	defer g.notifyChanged(ctx)

	remindAt := req.reminderOffsets()
	level := 0
	closed := func() bool { return gt.closed }
	for !gt.closed {
		if err := ctx.Err(); err != nil {
			return g.cancel(ctx, gt, err)
		}
		// The next wake-up: a reminder due before the expiry, else the expiry, else none.
		var wake time.Time
		var summary string
		reminder := false
		if level < len(remindAt) && !gt.outcome.Escalated {
			if at := gt.openedAt.Add(remindAt[level]); gt.expiresAt.IsZero() || at.Before(gt.expiresAt) {
				wake, reminder, summary = at, true, fmt.Sprintf("approval %s: reminder %d", req.Gate, level+1)
			}
		}
		if wake.IsZero() && !gt.expiresAt.IsZero() && !gt.outcome.Expired {
			wake, summary = gt.expiresAt, fmt.Sprintf("approval %s: expiry (%s)", req.Gate, req.OnExpiry)
		}
		if wake.IsZero() {
			if err := workflow.Await(ctx, closed); err != nil {
				return g.cancel(ctx, gt, err)
			}
			break
		}
		if wait := wake.Sub(workflow.Now(ctx)); wait > 0 {
			// Not AwaitWithOptions: by default it leaves its timer running once the condition holds.
			timerCtx, cancelTimer := workflow.WithCancel(ctx)
			timer := workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: summary})
			err := workflow.Await(ctx, func() bool { return gt.closed || timer.IsReady() })
			cancelTimer()
			if err != nil {
				return g.cancel(ctx, gt, err)
			}
			if gt.closed {
				break
			}
		}
		now := workflow.Now(ctx)
		if reminder {
			level++
			req.Remind(ctx, Reminder{Level: level, Waited: now.Sub(gt.openedAt), Gate: gt.pending()})
			// Reminders that fell due while Remind ran are skipped, not sent in a burst.
			now = workflow.Now(ctx)
			for level < len(remindAt) && !gt.openedAt.Add(remindAt[level]).After(now) {
				level++
			}
			continue
		}
		gt.outcome.Expired = true
		switch req.OnExpiry {
		case ExpireProceed:
			gt.outcome.Approved = true
			gt.outcome.Choice = req.DefaultChoice
			gt.close(now, "expired (proceed)")
		case ExpireEscalate:
			gt.outcome.Escalated = true
			g.notifyChanged(ctx)
			level++
			workflow.GetLogger(ctx).Warn("approval gate expired, escalating", "gate", req.Gate, "level", level)
			req.Remind(ctx, Reminder{Level: level, Escalation: true, Waited: now.Sub(gt.openedAt), Gate: gt.pending()})
			continue
		default:
			gt.close(now, "expired (abort)")
		}
		workflow.GetLogger(ctx).Info("approval gate expired", "gate", req.Gate, "policy", req.OnExpiry)
	}
	return gt.outcomeCopy(), nil
}

// Pending returns the open gates, in the order they opened.
func (g *Gates) Pending() []PendingGate {
	out := []PendingGate{}
	for _, gt := range g.gates {
		if !gt.closed {
			out = append(out, gt.pending())
		}
	}
	return out
}

// Decisions returns every recorded decision, on every gate, in order.
func (g *Gates) Decisions() []Decision { return append([]Decision{}, g.decisions...) }

// Refused returns the most recent refused signals, oldest first.
func (g *Gates) Refused() []Refusal { return append([]Refusal{}, g.refused...) }

// State returns what QueryApprovals answers.
func (g *Gates) State() State {
	s := State{
		Pending:        g.Pending(),
		Decisions:      g.Decisions(),
		Held:           slices.Clone(g.held),
		Refused:        slices.Clone(g.refused),
		RefusedDropped: g.refusedDropped,
	}
	for _, gt := range g.gates {
		if gt.closed {
			s.Closed = append(s.Closed, gt.outcomeCopy())
		}
	}
	return s
}

// validateUpdate refuses a decision the Update handler would not record; it changes nothing.
func (g *Gates) validateUpdate(ctx workflow.Context, d Decision) error {
	if _, _, err := g.check(ctx, d.normalize()); err != nil && !recordedRefusal(err) {
		return refusedError(err)
	}
	return nil
}

// recordedRefusal says whether a refusal is recorded in the run (listed in State.Refused, told to
// the observer, in the history as the Update's failure) rather than rejected unseen by the
// validator: someone deciding who may not (not an approver, the requester, twice) or whose
// identity does not hold. Malformed decisions and decisions for a gate that is not open, or
// closed, leave no trace: a client waiting for a gate asks again and again.
func recordedRefusal(err error) bool {
	switch RefusalKindOf(err) {
	case RefusedNotApprover, RefusedSelfApproval, RefusedDuplicate, RefusedIdentity:
		return true
	}
	return false
}

// decideUpdate records a decision. It checks again: another decision accepted in the same
// workflow task may have closed the gate, or come from the same identity, since validation. A
// refusal that passed the validator (recordedRefusal) is listed as refused, then returned.
func (g *Gates) decideUpdate(ctx workflow.Context, d Decision) (GateState, error) {
	gt, d, err := g.check(ctx, d.normalize())
	if err != nil {
		if recordedRefusal(err) {
			d.Time = workflow.Now(ctx)
			g.refuse(ctx, d, err)
		}
		return GateState{}, refusedError(err)
	}
	d.Time = workflow.Now(ctx)
	g.record(ctx, gt, d, d.Time)
	return gt.state(), nil
}

// decideSignal applies the Update's rules to a signalled decision. A decision naming a gate that
// has not opened yet is held until it opens; any other refusal is listed in State.Refused.
func (g *Gates) decideSignal(ctx workflow.Context, raw any) {
	now := workflow.Now(ctx)
	d, err := decodeDecision(raw)
	d = d.normalize()
	d.Time = now
	if err == nil {
		err = d.validate()
	}
	if err != nil {
		g.refuse(ctx, d, err)
		return
	}
	gt, err := g.resolve(d.Gate)
	var notOpened notOpenedError
	if errors.As(err, &notOpened) && !g.strict {
		if len(g.held) >= MaxHeld {
			g.refuse(ctx, d, fmt.Errorf("%w, and %d decisions are already held for gates not yet open", err, MaxHeld))
			return
		}
		g.held = append(g.held, d)
		workflow.GetLogger(ctx).Info("approval decision held until its gate opens", "gate", d.Gate, "identity", d.Identity)
		return
	}
	if err == nil && g.authenticate != nil {
		d, err = g.authenticate(ctx, gt.req.Gate, d)
	}
	if err == nil {
		err = gt.admits(d)
	}
	if err != nil {
		g.refuse(ctx, d, err)
		return
	}
	g.record(ctx, gt, d, now)
}

// releaseHeld applies, or refuses, the held decisions for a gate that just opened, in arrival order.
func (g *Gates) releaseHeld(ctx workflow.Context, gt *gate) {
	var kept []Decision
	now := workflow.Now(ctx)
	for _, d := range g.held {
		if d.Gate != gt.req.Gate {
			kept = append(kept, d)
			continue
		}
		if err := gt.admits(d); err != nil {
			g.refuse(ctx, d, err)
			continue
		}
		g.record(ctx, gt, d, now)
	}
	g.held = kept
}

// check returns the gate a decision is for and the decision as authenticated, or why it cannot be
// recorded.
func (g *Gates) check(ctx workflow.Context, d Decision) (*gate, Decision, error) {
	if err := d.validate(); err != nil {
		return nil, d, err
	}
	gt, err := g.resolve(d.Gate)
	if err != nil {
		return nil, d, err
	}
	if g.authenticate != nil {
		if d, err = g.authenticate(ctx, gt.req.Gate, d); err != nil {
			return nil, d, err
		}
	}
	return gt, d, gt.admits(d)
}

// resolve finds the gate a decision names; an empty name means the only open gate.
func (g *Gates) resolve(name string) (*gate, error) {
	var open []string
	for _, gt := range g.gates {
		if !gt.closed {
			open = append(open, gt.req.Gate)
		}
	}
	if name == "" {
		switch len(open) {
		case 0:
			return nil, &RefusalError{Kind: RefusedNotOpen, Msg: "gate: no gate is open"}
		case 1:
			return g.byName[open[0]], nil
		default:
			return nil, fmt.Errorf("gate: required: %d gates are open (%s), name one", len(open), strings.Join(open, ", "))
		}
	}
	gt, ok := g.byName[name]
	if !ok {
		return nil, notOpenedError{gate: name, open: open}
	}
	return gt, nil
}

// notOpenedError is a decision for a gate that has not opened (and may never).
type notOpenedError struct {
	gate string
	open []string
}

func (e notOpenedError) refusal() RefusalKind { return RefusedNotOpen }

func (e notOpenedError) Error() string {
	if len(e.open) == 0 {
		return fmt.Sprintf("gate %q is not open: no gate is open", e.gate)
	}
	return fmt.Sprintf("gate %q is not open (open: %s)", e.gate, strings.Join(e.open, ", "))
}

// Observer is told of every decision the gates record and every signalled decision they refuse,
// on the workflow's coroutine that handled it: it must not block (start a coroutine to wait).
type Observer struct {
	Decided func(ctx workflow.Context, d Decision)
	Refused func(ctx workflow.Context, r Refusal)
}

// Observe sets who is told of decisions and refusals, such as the run's audit ledger.
func (g *Gates) Observe(o Observer) { g.observer = o }

// OnChange sets f to be called, on the workflow coroutine that made the change, whenever a gate
// opens, records an approval, escalates or closes, so that the workflow can show who is asked
// (see Details) in its current details. f must not block.
func (g *Gates) OnChange(f func(ctx workflow.Context)) { g.changed = f }

func (g *Gates) notifyChanged(ctx workflow.Context) {
	if g.changed != nil {
		g.changed(ctx)
	}
}

// record records an admitted decision and closes the gate when it is decided.
func (g *Gates) record(ctx workflow.Context, gt *gate, d Decision, now time.Time) {
	d.Gate = gt.req.Gate
	if g.observer.Decided != nil {
		defer g.observer.Decided(ctx, d)
	}
	defer g.notifyChanged(ctx)
	gt.decided[d.Identity] = true
	gt.outcome.Decisions = append(gt.outcome.Decisions, d)
	g.decisions = append(g.decisions, d)
	log := workflow.GetLogger(ctx)
	if !d.Approve {
		by := d
		gt.outcome.RejectedBy = &by
		gt.close(now, "rejected by "+d.Identity)
		log.Info("approval gate rejected", "gate", d.Gate, "identity", d.Identity, "channel", d.Channel, "reason", d.Reason)
		return
	}
	gt.approvedBy = append(gt.approvedBy, d.Identity)
	if d.Choice != "" {
		gt.outcome.Choice = d.Choice
	}
	log.Info("approval recorded", "gate", d.Gate, "identity", d.Identity, "channel", d.Channel, "approvals", len(gt.approvedBy), "quorum", gt.req.Quorum)
	if len(gt.approvedBy) >= gt.req.Quorum {
		gt.outcome.Approved = true
		gt.close(now, "approved")
	}
}

// refuse lists a decision that was not recorded.
func (g *Gates) refuse(ctx workflow.Context, d Decision, err error) {
	workflow.GetLogger(ctx).Warn("approval decision refused", "gate", d.Gate, "identity", d.Identity, "error", err.Error())
	g.refused = append(g.refused, Refusal{Decision: d, Error: err.Error()})
	if g.observer.Refused != nil {
		g.observer.Refused(ctx, g.refused[len(g.refused)-1])
	}
	if n := len(g.refused) - MaxRefused; n > 0 {
		g.refused = slices.Delete(g.refused, 0, n)
		g.refusedDropped += n
	}
}

// cancel closes a gate whose Await was cancelled.
func (g *Gates) cancel(ctx workflow.Context, gt *gate, err error) (Outcome, error) {
	gt.outcome.Canceled = true
	gt.close(workflow.Now(ctx), "canceled")
	workflow.GetLogger(ctx).Info("approval gate canceled", "gate", gt.req.Gate)
	return gt.outcomeCopy(), err
}

// admits returns why d cannot be recorded on the gate, or nil.
func (gt *gate) admits(d Decision) error {
	name := gt.req.Gate
	refuse := func(kind RefusalKind, format string, args ...any) error {
		return &RefusalError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
	}
	if gt.closed {
		return refuse(RefusedClosed, "gate %q is closed: %s", name, gt.closedHow)
	}
	if len(gt.req.Approvers) > 0 && !slices.Contains(gt.req.Approvers, d.Identity) {
		return refuse(RefusedNotApprover, "gate %q: %q is not an approver (approvers: %s)", name, d.Identity, strings.Join(gt.req.Approvers, ", "))
	}
	if d.Approve && d.Identity == gt.req.Requester {
		return refuse(RefusedSelfApproval, "gate %q: %q requested it and cannot approve its own request", name, d.Identity)
	}
	if gt.decided[d.Identity] {
		return refuse(RefusedDuplicate, "gate %q: %q already decided", name, d.Identity)
	}
	switch opts := gt.req.Options; {
	case len(opts) == 0 && d.Choice != "":
		return fmt.Errorf("gate %q offers no options to choose from", name)
	case len(opts) > 0 && d.Approve && !slices.Contains(opts, d.Choice):
		return fmt.Errorf("gate %q: choice: pick one of %s", name, strings.Join(opts, ", "))
	case len(opts) > 0 && d.Approve && gt.outcome.Choice != "" && d.Choice != gt.outcome.Choice:
		return fmt.Errorf("gate %q: %q was chosen already; approve that choice or reject", name, gt.outcome.Choice)
	}
	return nil
}

func (gt *gate) close(at time.Time, how string) {
	gt.closed, gt.closedHow = true, how
	gt.outcome.Waited = at.Sub(gt.openedAt)
}

func (gt *gate) pending() PendingGate {
	return PendingGate{
		Gate:       gt.req.Gate,
		Title:      gt.req.Title,
		Requester:  gt.req.Requester,
		Approvers:  slices.Clone(gt.req.Approvers),
		Quorum:     gt.req.Quorum,
		ApprovedBy: slices.Clone(gt.approvedBy),
		OpenedAt:   gt.openedAt,
		ExpiresAt:  gt.expiresAt,
		OnExpiry:   gt.req.OnExpiry,
		Escalated:  gt.outcome.Escalated,
		Options:    slices.Clone(gt.req.Options),
	}
}

func (gt *gate) state() GateState {
	return GateState{Gate: gt.req.Gate, Approvals: len(gt.approvedBy), Quorum: gt.req.Quorum, Open: !gt.closed, Approved: gt.closed && gt.outcome.Approved}
}

func (gt *gate) outcomeCopy() Outcome {
	o := gt.outcome
	o.Decisions = append([]Decision{}, o.Decisions...)
	if o.RejectedBy != nil {
		by := *o.RejectedBy
		o.RejectedBy = &by
	}
	return o
}

// refusedError is the error a refused Update returns to its caller: ErrTypeDecisionRefused, with
// the Refusal (why, as a RefusalKind) as its details.
func refusedError(err error) error {
	return temporal.NewApplicationErrorWithOptions("approval refused: "+err.Error(), ErrTypeDecisionRefused,
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{RefusalDetails{Kind: RefusalKindOf(err), Reason: err.Error()}}})
}

// RefusalKind says why a gate refused a decision.
type RefusalKind string

// The reasons a gate refuses a decision.
const (
	RefusedDuplicate    RefusalKind = "duplicate"     // the identity already decided this gate
	RefusedNotApprover  RefusalKind = "not_approver"  // the identity is not one of the gate's approvers
	RefusedSelfApproval RefusalKind = "self_approval" // the identity requested the gate
	RefusedClosed       RefusalKind = "closed"        // the gate closed already
	RefusedNotOpen      RefusalKind = "not_open"      // no gate of that name is open: not yet, or not in this run
	RefusedIdentity     RefusalKind = "identity"      // who decides could not be established (see Gates.Enforce)
	RefusedOther        RefusalKind = "other"         // anything else, such as a choice the gate does not offer
)

// RefusalError is a decision a gate refused, and why.
type RefusalError struct {
	Kind RefusalKind
	Msg  string
}

func (e *RefusalError) Error() string { return e.Msg }

// RefusalDetails are the details of a refused Update's error (ErrTypeDecisionRefused): callers
// read them with ApplicationError.Details instead of parsing the message.
type RefusalDetails struct {
	Kind   RefusalKind `json:"kind"`
	Reason string      `json:"reason"`
}

// RefusalKindOf is why err refused a decision: its RefusalError's kind, RefusedOther otherwise.
func RefusalKindOf(err error) RefusalKind {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Kind
	}
	var n notOpenedError
	if errors.As(err, &n) {
		return n.refusal()
	}
	return RefusedOther
}

// RefusalOf reads the refusal an Update's error carries, as a client receives it: ok is false when
// err is no refusal. A refusal without details (from an older worker) is RefusedOther, with the
// error's message as its reason.
func RefusalOf(err error) (r RefusalDetails, ok bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeDecisionRefused {
		return RefusalDetails{}, false
	}
	r = RefusalDetails{Kind: RefusedOther, Reason: strings.TrimPrefix(appErr.Message(), "approval refused: ")}
	var details RefusalDetails
	if appErr.HasDetails() && appErr.Details(&details) == nil {
		if details.Kind != "" {
			r.Kind = details.Kind
		}
		if details.Reason != "" {
			r.Reason = details.Reason
		}
	}
	return r, true
}

// decodeDecision reads a signal's payload, decoded as generic JSON, strictly: a misspelt field is
// an error the refused list shows, not a silent default (an "aprove" that would read as a
// rejection). encoding/json is not used because workflowcheck cannot prove it deterministic.
func decodeDecision(v any) (Decision, error) {
	var d Decision
	if v == nil {
		return d, errors.New(`empty signal: send a decision as JSON, such as {"gate":"restore-in-place","approve":true,"identity":"alice"}`)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return d, fmt.Errorf("malformed decision: a JSON object is needed, not %s", jsonKind(v))
	}
	var problems []string
	str := func(key string, x any) string {
		s, ok := x.(string)
		if !ok && x != nil {
			problems = append(problems, fmt.Sprintf("%s: a string is needed, not %s", key, jsonKind(x)))
		}
		return s
	}
	for _, k := range workflow.DeterministicKeys(m) {
		x := m[k]
		switch k {
		case "gate":
			d.Gate = str(k, x)
		case "identity":
			d.Identity = str(k, x)
		case "channel":
			d.Channel = Channel(str(k, x))
		case "reason":
			d.Reason = str(k, x)
		case "choice":
			d.Choice = str(k, x)
		case "assertion":
			d.Assertion = str(k, x)
		case "verified":
			// Set by the workflow; a value sent in is ignored.
		case "approve":
			b, ok := x.(bool)
			if !ok && x != nil {
				problems = append(problems, fmt.Sprintf("approve: true or false is needed, not %s", jsonKind(x)))
			}
			d.Approve = b
		case "time":
			// Set by the workflow.
		default:
			problems = append(problems, fmt.Sprintf("unknown field %q", k))
		}
	}
	if len(problems) > 0 {
		return d, errors.New("malformed decision: " + strings.Join(problems, "; "))
	}
	return d, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int, int64, uint64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

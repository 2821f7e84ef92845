package approval

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Names of the handlers New registers, as given to `temporal workflow update execute --name`,
// `temporal workflow signal --name` and `temporal workflow query --type`.
const (
	// UpdateDecide records a Decision; its validator refuses a bad one without writing history,
	// and it returns the gate's GateState.
	UpdateDecide = "decide"
	// SignalDecide is the Update's twin for tools that can only signal, such as
	// `temporal workflow signal --name decide --input '{"gate":"restore-in-place","approve":true,"identity":"alice"}'`.
	// The rules are the same; a refused signal is listed in State.Refused, since it cannot be
	// answered.
	SignalDecide = "decide"
	// QueryApprovals answers with the State: open gates, closed gates, decisions and refusals.
	QueryApprovals = "approvals"
)

// TemporalCommand is the stock temporal CLI's command that approves gate of workflowID (gate ""
// for the only open one), for messages and hints. The codec flags let the CLI encrypt the input and
// read the result: without them it cannot decode the gate's answer or its refusal.
func TemporalCommand(workflowID, gate string) string {
	return TemporalDecideCommand(workflowID, gate, "", false)
}

// Application error types.
const (
	// ErrTypeDecisionRefused is the type of the error a refused Update returns.
	ErrTypeDecisionRefused = "DecisionRefused"
	// ErrTypeInvalidRequest is the type of the non-retryable error Await returns for a Request it
	// cannot open.
	ErrTypeInvalidRequest = "InvalidApprovalRequest"
)

// Limits that keep the gates' state, and so the query answer and the history, small.
const (
	MaxIdentityLen = 200
	MaxReasonLen   = 2000
	MaxChannelLen  = 50
	MaxGateLen     = 200
	// MaxReminders bounds len(RemindEvery) + RemindRepeat.
	MaxReminders = 100
	// MaxHeld is how many signalled decisions for gates not yet open are held; later ones are refused.
	MaxHeld = 20
	// MaxRefused is how many refused signals State.Refused keeps; older ones are dropped and counted.
	MaxRefused = 100
)

// Channel says how a decision reached the workflow. Free text is allowed; these are the usual ones.
type Channel string

// Channels Lifeboat itself uses.
const (
	ChannelCLI      Channel = "cli"
	ChannelSlack    Channel = "slack"
	ChannelAPI      Channel = "api"
	ChannelTemporal Channel = "temporal"
)

// Decision is one identity's approval or rejection of a gate. Without an Authenticator (see
// Gates.Enforce) the gate trusts Identity as given; with one, the decision counts for the person the
// Authenticator establishes, from its Assertion or, in trust-client mode, from Identity.
type Decision struct {
	// Gate names the gate; it may be empty when exactly one gate is open.
	Gate    string `json:"gate"`
	Approve bool   `json:"approve"`
	// Identity is who decides (required). Surrounding spaces are trimmed; otherwise it is compared
	// exactly.
	Identity string  `json:"identity"`
	Channel  Channel `json:"channel,omitempty"`
	// Reason is required when rejecting.
	Reason string `json:"reason,omitempty"`
	// Choice is the option picked, on a gate that offers options (a decision); required when
	// approving such a gate.
	Choice string `json:"choice,omitempty"`
	// Assertion is a signed token (from lifeboat token, or the worker for Slack) saying who decides
	// what on which gate of which workflow; a deployment that verifies identities requires it.
	Assertion string `json:"assertion,omitempty"`
	// Verified is set by the workflow when the Assertion was verified; a value sent in is overwritten.
	Verified bool `json:"verified,omitempty"`
	// Time is set by the workflow when it receives the decision; a value sent in is overwritten.
	Time time.Time `json:"time"`
}

// MaxAssertionLen bounds Decision.Assertion.
const MaxAssertionLen = 4096

// normalize trims the fields a person types.
func (d Decision) normalize() Decision {
	d.Gate = strings.TrimSpace(d.Gate)
	d.Identity = strings.TrimSpace(d.Identity)
	d.Channel = Channel(strings.TrimSpace(string(d.Channel)))
	d.Reason = strings.TrimSpace(d.Reason)
	d.Choice = strings.TrimSpace(d.Choice)
	d.Assertion = strings.TrimSpace(d.Assertion)
	d.Verified = false
	return d
}

// validate checks what can be checked without knowing the gate.
func (d Decision) validate() error {
	var problems []string
	switch {
	case d.Identity == "" && d.Assertion == "":
		problems = append(problems, "identity: required: say who decides")
	case len(d.Identity) > MaxIdentityLen:
		problems = append(problems, fmt.Sprintf("identity: %d bytes, at most %d", len(d.Identity), MaxIdentityLen))
	}
	switch {
	case !d.Approve && d.Reason == "":
		problems = append(problems, "reason: required when rejecting")
	case len(d.Reason) > MaxReasonLen:
		problems = append(problems, fmt.Sprintf("reason: %d bytes, at most %d", len(d.Reason), MaxReasonLen))
	}
	if len(d.Channel) > MaxChannelLen {
		problems = append(problems, fmt.Sprintf("channel: %d bytes, at most %d", len(d.Channel), MaxChannelLen))
	}
	if len(d.Choice) > MaxGateLen {
		problems = append(problems, fmt.Sprintf("choice: %d bytes, at most %d", len(d.Choice), MaxGateLen))
	}
	if len(d.Assertion) > MaxAssertionLen {
		problems = append(problems, fmt.Sprintf("assertion: %d bytes, at most %d", len(d.Assertion), MaxAssertionLen))
	}
	if len(d.Gate) > MaxGateLen {
		problems = append(problems, fmt.Sprintf("gate: %d bytes, at most %d", len(d.Gate), MaxGateLen))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ExpiryPolicy says what a gate's timeout means.
type ExpiryPolicy string

// Expiry policies.
const (
	// ExpireAbort (the default) closes the gate unapproved: silence is a no.
	ExpireAbort ExpiryPolicy = "abort"
	// ExpireProceed closes the gate approved: silence is consent, for steps that only wanted a
	// chance to be stopped.
	ExpireProceed ExpiryPolicy = "proceed"
	// ExpireEscalate calls Remind once more with Escalation set and keeps the gate open, without a
	// timeout, until it is decided.
	ExpireEscalate ExpiryPolicy = "escalate"
)

// Request opens a gate.
type Request struct {
	// Gate names the gate, unique within the workflow run, such as "restore-in-place".
	Gate string `json:"gate"`
	// Title says what is being approved, for the people asked.
	Title string `json:"title"`
	// Requester is the identity that asks (a person, or the schedule or plan that started the
	// workflow). It cannot approve its own request; it may reject it if it is allowed to decide.
	Requester string `json:"requester"`
	// Approvers are the identities allowed to decide; empty means anyone except the requester may
	// approve.
	Approvers []string `json:"approvers,omitempty"`
	// Quorum is how many distinct identities must approve (default 1).
	Quorum int `json:"quorum,omitempty"`
	// Timeout is how long the gate waits for a decision; 0 waits forever.
	Timeout time.Duration `json:"timeout,omitempty"`
	// OnExpiry is what the timeout means (default ExpireAbort). Setting it requires a Timeout.
	OnExpiry ExpiryPolicy `json:"on_expiry,omitempty"`
	// RemindEvery are the waits, from the gate's opening, between reminders: RemindEvery[0] before
	// the first, RemindEvery[1] between the first and the second, and so on; the last wait is then
	// repeated RemindRepeat more times. Reminders due at or after the timeout are not sent.
	RemindEvery  []time.Duration `json:"remind_every,omitempty"`
	RemindRepeat int             `json:"remind_repeat,omitempty"`
	// Remind is called, in workflow code on the coroutine that called Await, each time a reminder
	// is due, and once more with Escalation set when the gate expires under ExpireEscalate. It
	// notifies or escalates, typically by running an activity; it should not wait for people. A
	// decision that arrives meanwhile is recorded at once, and Await returns after Remind does.
	Remind func(ctx workflow.Context, r Reminder) `json:"-"`
	// Options, when set, make the gate a decision: approving means picking one of them (Decision.
	// Choice), and every approval of a quorum must pick the same. DefaultChoice is what ExpireProceed
	// picks.
	Options       []string `json:"options,omitempty"`
	DefaultChoice string   `json:"default_choice,omitempty"`
}

// Reminder tells Remind why it is called.
type Reminder struct {
	// Level is the reminder's place in the schedule, from 1; the escalation's is one more than the
	// last reminder's. Reminders that fell due while an earlier Remind still ran are skipped.
	Level int
	// Escalation is set on the call made when the gate expired under ExpireEscalate; it is the last.
	Escalation bool
	// Waited is how long the gate has been open.
	Waited time.Duration
	// Gate is the gate's state, with the approvals so far.
	Gate PendingGate
}

func (r Request) withDefaults() Request {
	r.Gate = strings.TrimSpace(r.Gate)
	r.Requester = strings.TrimSpace(r.Requester)
	r.Approvers = slices.Clone(r.Approvers)
	for i, a := range r.Approvers {
		r.Approvers[i] = strings.TrimSpace(a)
	}
	if r.Quorum == 0 {
		r.Quorum = 1
	}
	if r.OnExpiry == "" && r.Timeout > 0 {
		r.OnExpiry = ExpireAbort
	}
	r.RemindEvery = slices.Clone(r.RemindEvery)
	return r
}

// Validate returns every problem with the request, joined, or nil.
func (r Request) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	gate := strings.TrimSpace(r.Gate)
	switch {
	case gate == "":
		bad("gate: required: name the gate, such as restore-in-place")
	case len(gate) > MaxGateLen:
		bad("gate: %d bytes, at most %d", len(gate), MaxGateLen)
	}
	switch requester := strings.TrimSpace(r.Requester); {
	case requester == "":
		bad("requester: required: name who asks, so that it cannot approve its own request")
	case len(requester) > MaxIdentityLen:
		bad("requester: %d bytes, at most %d", len(requester), MaxIdentityLen)
	}
	seen := map[string]int{}
	eligible := 0
	for i, a := range r.Approvers {
		a = strings.TrimSpace(a)
		if a == "" {
			bad("approvers[%d]: empty", i)
			continue
		}
		if j, dup := seen[a]; dup {
			bad("approvers[%d]: %q is also approvers[%d]", i, a, j)
			continue
		}
		seen[a] = i
		if a != strings.TrimSpace(r.Requester) {
			eligible++
		}
	}
	switch {
	case r.Quorum < 0:
		bad("quorum: %d is negative", r.Quorum)
	case len(r.Approvers) > 0 && max(r.Quorum, 1) > eligible:
		bad("quorum: %d approvals needed but only %d approvers other than the requester", max(r.Quorum, 1), eligible)
	}
	if r.Timeout < 0 {
		bad("timeout: %s is negative", r.Timeout)
	}
	if n := len(r.Options); n == 1 || n > 10 {
		bad("options: %d options, a decision needs 2 to 10", n)
	}
	seenOpt := map[string]bool{}
	for i, o := range r.Options {
		if strings.TrimSpace(o) == "" || seenOpt[o] {
			bad("options[%d]: %q is empty or repeated", i, o)
		}
		seenOpt[o] = true
	}
	if r.DefaultChoice != "" && !seenOpt[r.DefaultChoice] {
		bad("default_choice: %q is not one of the options", r.DefaultChoice)
	}
	if len(r.Options) > 0 && r.OnExpiry == ExpireProceed && r.DefaultChoice == "" {
		bad("default_choice: required for a decision that proceeds when it expires")
	}
	switch r.OnExpiry {
	case "", ExpireAbort, ExpireProceed, ExpireEscalate:
		if r.OnExpiry != "" && r.Timeout == 0 {
			bad("on_expiry: %s is set but the gate has no timeout", r.OnExpiry)
		}
	default:
		bad("on_expiry: %q is not abort, proceed or escalate", r.OnExpiry)
	}
	if r.OnExpiry == ExpireEscalate && r.Remind == nil {
		bad("on_expiry: escalate needs Remind, which is how the caller escalates")
	}
	for i, d := range r.RemindEvery {
		if d <= 0 {
			bad("remind_every[%d]: %s is not positive", i, d)
		}
	}
	switch {
	case r.RemindRepeat < 0:
		bad("remind_repeat: %d is negative", r.RemindRepeat)
	case r.RemindRepeat > 0 && len(r.RemindEvery) == 0:
		bad("remind_repeat: %d but remind_every is empty", r.RemindRepeat)
	case len(r.RemindEvery)+r.RemindRepeat > MaxReminders:
		bad("remind_every, remind_repeat: %d reminders, at most %d", len(r.RemindEvery)+r.RemindRepeat, MaxReminders)
	}
	if len(r.RemindEvery) > 0 && r.Remind == nil {
		bad("remind_every: set but Remind is nil")
	}
	return errors.Join(errs...)
}

// reminderOffsets returns when each reminder is due, from the gate's opening.
func (r Request) reminderOffsets() []time.Duration {
	if len(r.RemindEvery) == 0 {
		return nil
	}
	offsets := make([]time.Duration, 0, len(r.RemindEvery)+r.RemindRepeat)
	var at time.Duration
	for _, d := range r.RemindEvery {
		at += d
		offsets = append(offsets, at)
	}
	last := r.RemindEvery[len(r.RemindEvery)-1]
	for range r.RemindRepeat {
		at += last
		offsets = append(offsets, at)
	}
	return offsets
}

// Outcome is how a gate closed.
type Outcome struct {
	Gate string `json:"gate"`
	// Approved is true when a quorum approved, or when the gate expired under ExpireProceed.
	Approved bool `json:"approved"`
	// Expired is true when the timeout passed without a decision. Under ExpireEscalate the gate
	// then stayed open, so Approved and RejectedBy still report the decision that closed it.
	Expired bool `json:"expired"`
	// Escalated is true when the gate expired under ExpireEscalate.
	Escalated bool `json:"escalated"`
	// Canceled is true when the workflow was cancelled while the gate was open.
	Canceled bool `json:"canceled,omitempty"`
	// Choice is the option picked, on a gate that offers options and closed approved.
	Choice string `json:"choice,omitempty"`
	// Decisions are the ones recorded on this gate, in order.
	Decisions  []Decision `json:"decisions"`
	RejectedBy *Decision  `json:"rejected_by,omitempty"`
	// Waited is how long the gate was open.
	Waited time.Duration `json:"waited"`
}

// PendingGate is an open gate, as the query shows it.
type PendingGate struct {
	Gate      string   `json:"gate"`
	Title     string   `json:"title"`
	Requester string   `json:"requester"`
	Approvers []string `json:"approvers,omitempty"`
	Quorum    int      `json:"quorum"`
	// ApprovedBy are the identities that approved so far, in order.
	ApprovedBy []string     `json:"approved_by,omitempty"`
	OpenedAt   time.Time    `json:"opened_at"`
	ExpiresAt  time.Time    `json:"expires_at,omitzero"`
	OnExpiry   ExpiryPolicy `json:"on_expiry,omitempty"`
	// Escalated is set once the gate expired under ExpireEscalate; it then waits without a timeout.
	Escalated bool `json:"escalated,omitempty"`
	// Options are the choices of a decision gate.
	Options []string `json:"options,omitempty"`
}

// GateState is what the Update returns: the gate's state after the decision.
type GateState struct {
	Gate      string `json:"gate"`
	Approvals int    `json:"approvals"`
	Quorum    int    `json:"quorum"`
	Open      bool   `json:"open"`
	// Approved is true once the gate closed approved.
	Approved bool `json:"approved"`
}

// Refusal is a signalled decision that was not recorded, and why.
type Refusal struct {
	Decision
	Error string `json:"error"`
}

// State is the answer to QueryApprovals.
type State struct {
	// Pending are the open gates, in the order they opened.
	Pending []PendingGate `json:"pending"`
	// Closed are the gates that closed, in the order they opened.
	Closed []Outcome `json:"closed,omitempty"`
	// Decisions are every recorded decision, on every gate, in order.
	Decisions []Decision `json:"decisions"`
	// Held are signalled decisions for gates that have not opened yet; each is applied, or refused,
	// when its gate opens.
	Held []Decision `json:"held,omitempty"`
	// Refused are the most recent refused signals; RefusedDropped counts older ones no longer kept.
	Refused        []Refusal `json:"refused,omitempty"`
	RefusedDropped int       `json:"refused_dropped,omitempty"`
}

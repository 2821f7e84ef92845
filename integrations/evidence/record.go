package evidence

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Kinds of evidence records (Record.Kind).
const (
	// KindDrill is a recovery plan run in drill mode.
	KindDrill = "drill"
	// KindVerification is a restore drill of one asset (a Verify workflow).
	KindVerification = "verification"
)

// Kinds lists the record kinds, for help texts and errors.
var Kinds = []string{KindDrill, KindVerification}

// Outcomes of a record (Record.Outcome).
const (
	// OutcomePassed: the run succeeded, every check ran and passed, every objective was met.
	OutcomePassed = "passed"
	// OutcomeFailed: the run failed or was cancelled, a check failed or an objective was missed.
	OutcomeFailed = "failed"
	// OutcomeNotProven: nothing failed, but something that had to be shown was not: a check was
	// skipped, no check ran, or an objective was not measured. Never read as a pass.
	OutcomeNotProven = "not proven"
)

// Results of one check (Check.Result).
const (
	CheckPassed    = "passed"
	CheckFailed    = "failed"
	CheckNotProven = "not proven" // the check was skipped or never ran
)

// Starters' channels (Starter.Channel) besides those of verified identities (key, slack, oidc).
const (
	// ChannelSchedule: a Temporal Schedule of the worker's configuration started the run.
	ChannelSchedule = "schedule"
)

// Trust modes (Record.Trust).
const (
	TrustVerified    = "verified"
	TrustClient      = "trust-client"
	TrustUnspecified = "none" // the worker had no identity directory: names were taken as typed
)

// Record is the evidence of one drill or verification: what ran, under which plan and
// configuration, who started it, what every step and check did and how the run measured against
// its objectives. It is what a DSSE envelope's payload holds.
type Record struct {
	// Version is the record format, 1.
	Version int `json:"version"`
	// Kind is KindDrill or KindVerification.
	Kind string `json:"kind"`
	// Subject is the plan (drill) or asset (verification).
	Subject string `json:"subject"`
	// PlanSHA256 is the SHA-256 of the plan file the drill ran (the version the audit ledger's
	// plan-change entries name); ConfigSHA256 is the version of the worker's configuration (the
	// one its config-change entries name).
	PlanSHA256   string `json:"plan_sha256,omitempty"`
	ConfigSHA256 string `json:"config_sha256,omitempty"`
	// PlanConfigSHA256 is the version of the parts of the configuration the plan uses (its
	// recovery section, and the services and assets it recovers): readiness counts the drill
	// for the plan only while it has not changed.
	PlanConfigSHA256 string `json:"plan_config_sha256,omitempty"`
	// Workflow and Run are the Temporal workflow ID and run ID.
	Workflow string `json:"workflow"`
	Run      string `json:"run"`
	// StartedBy is who or what started the run.
	StartedBy Starter `json:"started_by"`
	// Trust is how identities were established: TrustVerified, TrustClient (names taken as typed)
	// or TrustUnspecified; TrustWarning says what that means for this record.
	Trust        string `json:"trust"`
	TrustWarning string `json:"trust_warning,omitempty"`
	// StartedAt and FinishedAt are the run's, in UTC.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Status is how the run ended: succeeded, failed or canceled; Error why it did not succeed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Steps are the drill's steps (a verification has none).
	Steps []Step `json:"steps,omitempty"`
	// Checks are what was checked, and with which result.
	Checks []Check `json:"checks"`
	// RTO and RPO are the measured times against the objectives.
	RTO Measure `json:"rto"`
	RPO Measure `json:"rpo"`
	// Outcome is OutcomePassed, OutcomeFailed or OutcomeNotProven, as Evaluate decides it; Reasons
	// say why it is not a pass.
	Outcome string   `json:"outcome"`
	Reasons []string `json:"reasons,omitempty"`
}

// Starter is who or what started a run.
type Starter struct {
	// Identity is the person's ID as the run established it, or "schedule:<owner>".
	Identity string `json:"identity"`
	// Channel is how they were authenticated (key, slack, oidc), ChannelSchedule, parent, or empty
	// when the name was taken as typed.
	Channel string `json:"channel,omitempty"`
	// Verified is true when a signed assertion proved the identity.
	Verified bool `json:"verified"`
}

// Step is one step of a drill.
type Step struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Action string `json:"action,omitempty"`
	// Status is succeeded, failed, skipped, not run or compensated.
	Status string `json:"status"`
	// Drill is which targets the step ran against: isolated, skipped, plan targets, rehearsed.
	Drill     string `json:"drill,omitempty"`
	DrillNote string `json:"drill_note,omitempty"`
	// Compensation is the outcome of undoing the step.
	Compensation string `json:"compensation,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Check is one check and its result.
type Check struct {
	Name string `json:"name"`
	// Result is CheckPassed, CheckFailed or CheckNotProven.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Measure is a measured time against its objective.
type Measure struct {
	// Objective is zero when the plan sets none.
	Objective units.Duration `json:"objective,omitempty"`
	// Measured is nil when nothing measured it.
	Measured *units.Duration `json:"measured,omitempty"`
	// Met compares them; nil when either is missing.
	Met *bool `json:"met,omitempty"`
}

// Counts are a record's checks by result.
type Counts struct {
	Passed, Failed, NotProven int
}

// Counts counts the record's checks by result.
func (r Record) Counts() Counts {
	var c Counts
	for _, ch := range r.Checks {
		switch ch.Result {
		case CheckPassed:
			c.Passed++
		case CheckFailed:
			c.Failed++
		default:
			c.NotProven++
		}
	}
	return c
}

// Evaluate sets Outcome and Reasons from the status, the checks and the measures: failed when the
// run did not succeed, a check failed or an objective was missed; otherwise not proven when a
// check was skipped, no check ran, or an objective was set and not measured; otherwise passed.
func (r *Record) Evaluate() {
	var failed, unproven []string
	if r.Status != "succeeded" {
		failed = append(failed, "the run "+r.Status)
	}
	c := r.Counts()
	if c.Failed > 0 {
		failed = append(failed, fmt.Sprintf("%d of %d checks failed", c.Failed, len(r.Checks)))
	}
	if c.NotProven > 0 {
		unproven = append(unproven, fmt.Sprintf("%d of %d checks not proven (skipped or not run)", c.NotProven, len(r.Checks)))
	}
	if len(r.Checks) == 0 {
		unproven = append(unproven, "no check ran")
	}
	for _, m := range []struct {
		name string
		m    Measure
	}{{"RTO", r.RTO}, {"RPO", r.RPO}} {
		switch {
		case m.m.Met != nil && !*m.m.Met:
			failed = append(failed, fmt.Sprintf("%s %s missed its objective of %s", m.name, *m.m.Measured, m.m.Objective))
		case m.m.Objective > 0 && m.m.Measured == nil:
			unproven = append(unproven, m.name+" objective set but not measured")
		}
	}
	switch {
	case len(failed) > 0:
		r.Outcome, r.Reasons = OutcomeFailed, append(failed, unproven...)
	case len(unproven) > 0:
		r.Outcome, r.Reasons = OutcomeNotProven, unproven
	default:
		r.Outcome, r.Reasons = OutcomePassed, nil
	}
}

// NewMeasure returns a measure of an objective (zero: none) and a measured time (nil: none).
func NewMeasure(objective units.Duration, measured *units.Duration) Measure {
	m := Measure{Objective: objective, Measured: measured}
	if objective > 0 && measured != nil {
		met := *measured <= objective
		m.Met = &met
	}
	return m
}

// ErrInvalid is returned (wrapped) for a record that cannot be stored as given. Retrying does not
// help.
var ErrInvalid = errors.New("invalid evidence record")

// Validate reports what keeps the record from being stored.
func (r Record) Validate() error {
	var errs []error
	if r.Kind != KindDrill && r.Kind != KindVerification {
		errs = append(errs, fmt.Errorf("kind %q is neither %s", r.Kind, strings.Join(Kinds, " nor ")))
	}
	if strings.TrimSpace(r.Subject) == "" || !utf8.ValidString(r.Subject) {
		errs = append(errs, errors.New("subject: required"))
	}
	if r.Run == "" || r.Workflow == "" {
		errs = append(errs, errors.New("workflow and run: required"))
	}
	if r.StartedAt.IsZero() {
		errs = append(errs, errors.New("started_at: required"))
	}
	if r.Outcome == "" {
		errs = append(errs, errors.New("outcome: required (Evaluate sets it)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

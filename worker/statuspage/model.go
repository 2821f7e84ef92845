package statuspage

import (
	"context"
	"time"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// State is a component's condition, as the public reads it.
type State string

// The states, from best to worst (see rank).
const (
	Operational   State = "operational"
	Maintenance   State = "maintenance"
	Degraded      State = "degraded"
	PartialOutage State = "partial_outage"
	MajorOutage   State = "major_outage"
	// Unknown is shown only before the page has read Temporal once; it cannot be configured.
	Unknown State = "unknown"
)

// rank orders states for "the worst of": maintenance is planned work, so it outranks only
// operational and the unknown.
func (s State) rank() int {
	switch s {
	case Operational:
		return 0
	case Unknown:
		return 1
	case Maintenance:
		return 2
	case Degraded:
		return 3
	case PartialOutage:
		return 4
	case MajorOutage:
		return 5
	}
	return -1
}

// valid reports whether s may be configured in an override.
func (s State) valid() bool { return s != Unknown && s.rank() >= 0 }

// Label is the state in plain words.
func (s State) Label() string {
	switch s {
	case Operational:
		return "Operational"
	case Maintenance:
		return "Under maintenance"
	case Degraded:
		return "Degraded"
	case PartialOutage:
		return "Partial outage"
	case MajorOutage:
		return "Major outage"
	}
	return "Status unknown"
}

// worst returns the worse of two states.
func worst(a, b State) State {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

func stateNames() []string {
	return []string{string(Operational), string(Degraded), string(PartialOutage), string(MajorOutage), string(Maintenance)}
}

// Request says what a Source should read.
type Request struct {
	// FinishedSince bounds the finished recoveries returned: those closed after it.
	FinishedSince time.Time
	// Assets are the assets whose RPO watchdogs the page needs.
	Assets []string
}

// Source reads the state the page is derived from.
type Source interface {
	// Snapshot reads the running recoveries and drills, the recoveries (not drills) that finished
	// after req.FinishedSince, and the RPO watchdogs of req.Assets. It returns an error only when it
	// could read nothing useful (Temporal is unreachable); a detail it could not read, such as one
	// workflow's query, is left out of that item and said in its Problem.
	Snapshot(ctx context.Context, req Request) (Snapshot, error)
}

// Snapshot is the state of recoveries and watchdogs at one moment.
type Snapshot struct {
	// At is when the state was read.
	At time.Time `json:"at"`
	// Running are the recoveries and drills that are running, in no particular order.
	Running []RunningRecovery `json:"running"`
	// Finished are the recoveries, not drills, that ended after the requested time.
	Finished []FinishedRecovery `json:"finished"`
	// Watchdogs are the RPO watchdogs found for the requested assets, by asset; an asset without a
	// running watchdog is missing.
	Watchdogs map[string]Watchdog `json:"watchdogs"`
}

// RunningRecovery is a Recovery workflow that has not ended.
type RunningRecovery struct {
	// WorkflowID is the workflow's ID, such as recovery-orders-failover.
	WorkflowID string `json:"workflow_id"`
	// Plan is the plan it runs (its LifeboatAsset search attribute).
	Plan string `json:"plan"`
	// Drill is true for a drill (LifeboatKind drill, or mode drill).
	Drill bool `json:"drill"`
	// StartedAt is when the workflow started.
	StartedAt time.Time `json:"started_at"`
	// Parent is the workflow ID of the plan that runs this one as a step; empty for a plan an
	// operator started.
	Parent string `json:"parent,omitempty"`
	// State is the answer to the status query; nil when the query failed (see Problem).
	State *workflows.RecoveryResult `json:"state,omitempty"`
	// Problem says why State is missing.
	Problem string `json:"problem,omitempty"`
	// rehearsal is set when the status query says the run is a rehearsal, which the page leaves out.
	rehearsal bool
}

// FinishedRecovery is a Recovery workflow that has ended.
type FinishedRecovery struct {
	// WorkflowID, Plan and Parent are as in RunningRecovery.
	WorkflowID string `json:"workflow_id"`
	Plan       string `json:"plan"`
	Parent     string `json:"parent,omitempty"`
	// StartedAt and ClosedAt are when the workflow started and ended.
	StartedAt time.Time `json:"started_at"`
	ClosedAt  time.Time `json:"closed_at"`
	// Result is succeeded, failed, canceled (the LifeboatResult search attribute), or the
	// workflow's close status in lower case (terminated, timed_out) when the plan could not say.
	Result string `json:"result"`
}

// Watchdog is an asset's RPO watchdog as found.
type Watchdog struct {
	// Asset is the asset it watches.
	Asset string `json:"asset"`
	// Stale is true when the asset's last good backup is older than its RPO.
	Stale bool `json:"stale"`
	// Status is the answer to the status query; nil when the query failed, in which case Stale
	// comes from the watchdog's LifeboatPhase search attribute.
	Status *workflows.RPOStatus `json:"status,omitempty"`
	// Problem says why Status is missing.
	Problem string `json:"problem,omitempty"`
}

// Moment is a time as the page shows it: in UTC and relative to when the page was built.
type Moment struct {
	Time time.Time `json:"time"`
	// UTC is "2025-06-01 14:05 UTC".
	UTC string `json:"utc"`
	// Relative is "5 minutes ago" or "in 2 hours".
	Relative string `json:"relative"`
}

// Page is everything /status shows, and what /status.json returns.
type Page struct {
	// Title heads the page.
	Title string `json:"title"`
	// Overall is the worst state of any component.
	Overall State `json:"overall"`
	// OverallLabel says it in words ("All systems operational").
	OverallLabel string `json:"overall_label"`
	// Summary says the overall state in a sentence.
	Summary string `json:"summary"`
	// AsOf is when the state shown was read from Temporal; zero before the first reading.
	AsOf Moment `json:"as_of"`
	// Live is false when Temporal could not be read just now and the page shows an older reading.
	Live bool `json:"live"`
	// Notice explains a page that is not live.
	Notice string `json:"notice,omitempty"`
	// Components are the configured components with their states, in the configured order.
	Components []ComponentView `json:"components"`
	// Active are the recoveries and drills running now, oldest first.
	Active []ActiveRecovery `json:"active"`
	// Incidents are the recoveries that ended within the incident window, newest first.
	Incidents []Incident `json:"incidents"`
	// Planned are the maintenance overrides that have not begun yet, soonest first.
	Planned []PlannedMaintenance `json:"planned"`
	// IncidentDays is the incident window in days, for the section's heading.
	IncidentDays int `json:"incident_days"`
	// RefreshSeconds is how often an open page asks for /status.json.
	RefreshSeconds int `json:"refresh_seconds"`
	// Generated is when the page was built.
	Generated time.Time `json:"generated"`
}

// ComponentView is one component's state on the page.
type ComponentView struct {
	// Name and Description are as configured.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// State is the derived or overridden state; Label says it in words.
	State State  `json:"state"`
	Label string `json:"label"`
	// Notes say why the component is in its state, one sentence each.
	Notes []string `json:"notes"`
}

// ActiveRecovery is a running recovery or drill as the page shows it.
type ActiveRecovery struct {
	// Plan is the plan's name.
	Plan string `json:"plan"`
	// Mode is "recovery" or "drill"; Kind says it in words ("Recovery", "Recovery exercise").
	Mode string `json:"mode"`
	Kind string `json:"kind"`
	// Components are the names of the components it concerns.
	Components []string `json:"components"`
	// Phase says what is happening now ("Waiting for approval", "Promoting the replica").
	Phase string `json:"phase"`
	// Progress is "3 of 7 steps done", empty when unknown.
	Progress string `json:"progress,omitempty"`
	// StartedAt is when it started.
	StartedAt Moment `json:"started_at"`
	// Elapsed is the time since it started ("12 minutes").
	Elapsed string `json:"elapsed"`
	// Objective is the plan's recovery time objective ("1 hour"), empty when it has none.
	Objective string `json:"objective,omitempty"`
	// OverObjective is true once it has run longer than its objective.
	OverObjective bool `json:"over_objective"`
	// Timeline lists the last steps that ended, oldest first.
	Timeline []TimelineEntry `json:"timeline"`
}

// TimelineEntry is one finished step of an active recovery.
type TimelineEntry struct {
	// At is when the step ended.
	At Moment `json:"at"`
	// Text is what the step did ("Promote the replica").
	Text string `json:"text"`
	// Outcome is "done", "failed" or "undone".
	Outcome string `json:"outcome"`
}

// Incident is a finished recovery.
type Incident struct {
	// Plan is the plan's name; Components the names of the components that list it.
	Plan       string   `json:"plan"`
	Components []string `json:"components"`
	// Result is succeeded, failed, canceled or terminated; ResultLabel says it in words and State
	// gives its colour (operational for a recovery that succeeded, major_outage for one that failed).
	Result      string `json:"result"`
	ResultLabel string `json:"result_label"`
	State       State  `json:"state"`
	// StartedAt and EndedAt are when the recovery started and ended.
	StartedAt Moment `json:"started_at"`
	EndedAt   Moment `json:"ended_at"`
	// Duration is how long the recovery took ("42 minutes").
	Duration string `json:"duration"`
}

// PlannedMaintenance is a maintenance override that has not begun.
type PlannedMaintenance struct {
	// Component names the component; Message is the override's message.
	Component string `json:"component"`
	Message   string `json:"message,omitempty"`
	// From is when the maintenance begins.
	From Moment `json:"from"`
	// Until is zero when the maintenance has no set end.
	Until Moment `json:"until,omitzero"`
}

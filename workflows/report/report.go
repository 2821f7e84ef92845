package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Run is what a report covers: the record of one run of a Recovery workflow and what it sent.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	// Result is the workflow's result, its failure's details or, while it runs, its status query's
	// answer; a Status of "running" makes the report say the run is in progress.
	Result workflows.RecoveryResult `json:"result"`
	// Notifications are the messages the run sent, in the order it sent them, each with how its
	// delivery went.
	Notifications []Notification `json:"notifications"`
}

// Notification is a message a run sent and what became of it.
type Notification struct {
	notify.Message
	// Deliveries are the channels' answers, when the Notify activity completed.
	Deliveries []notify.Delivery `json:"deliveries,omitempty"`
	// Error is why the Notify activity failed: no channel took the message.
	Error string `json:"delivery_error,omitempty"`
	// Pending is true while the Notify activity has not ended.
	Pending bool `json:"pending,omitempty"`
}

// Refused reports whether no channel, or not every channel, took the message.
func (n Notification) Refused() bool {
	if n.Error != "" {
		return true
	}
	for _, d := range n.Deliveries {
		if d.Err != "" {
			return true
		}
	}
	return false
}

// Delivery says in a few words what became of the message: which channels took it, which did not
// and why.
func (n Notification) Delivery() string {
	switch {
	case n.Pending:
		return "pending"
	case n.Error != "":
		return "NOT DELIVERED: " + n.Error
	}
	var took, refused []string
	for _, d := range n.Deliveries {
		if d.Err == "" {
			took = append(took, d.Notifier)
		} else {
			refused = append(refused, d.Notifier+": "+d.Err)
		}
	}
	switch {
	case len(refused) == 0 && len(took) == 0:
		return "delivered"
	case len(refused) == 0:
		return "delivered: " + strings.Join(took, ", ")
	case len(took) == 0:
		return "NOT DELIVERED: " + strings.Join(refused, "; ")
	}
	return "delivered: " + strings.Join(took, ", ") + "; NOT to " + strings.Join(refused, "; ")
}

// Options change what a report shows beyond the run itself.
type Options struct {
	// Lessons is the "lessons learned" section as Markdown, written after the run; empty shows a
	// prompt to write it.
	Lessons []byte
	// Now is when the report is made. It ends the timeline of a run still in progress; when zero,
	// such a timeline ends at the latest time the record holds.
	Now time.Time
}

// Statuses a report shows besides the steps' own.
const statusRunning = "running"

// view is what both formats show, computed once from a Run.
type view struct {
	Title      string // "Drill report: orders-db-failover"
	Plan       string
	Mode       string
	Status     string // as shown: "in progress" for running
	StatusKey  string // one of the status classes, for colors
	Requester  string
	Reason     string
	WorkflowID string
	RunID      string
	SHA256     string

	Started  string
	Finished string
	Duration string
	RTO      string
	RTOKey   string // met, missed or ""
	RPO      string
	Error    string

	Steps         []stepView
	Gates         []gateView
	Compensations []compView
	Decisions     []decisionView
	// Identities says how the run established who took part; Ledger whether its acts reached the
	// audit ledger.
	Identities    string
	Ledger        string
	Notifications []noteView
	Lessons       string // Markdown, as written; empty when not written
	Chart         chart

	// Rehearsal says, for a rehearsal, that nothing was carried out; Answers and People are its
	// decision latencies, per answer and per person.
	Rehearsal string
	Answers   []answerView
	People    []personView
}

// rehearsalNotice heads the report of a rehearsal.
const rehearsalNotice = "This was a rehearsal: no action was carried out. Every action step and every compensation was simulated, " +
	"recorded as what it would have done; gates, decisions, manual steps, waits, escalations and notifications were real."

type answerView struct {
	Gate     string
	Type     string
	Identity string
	Answer   string
	Time     string
	Latency  string
}

type personView struct {
	Identity string
	Answers  int
	Median   string
	Max      string
}

type stepView struct {
	N         int
	ID        string
	Type      string // "action postgres.promote", "approval"
	Critical  bool
	Status    string
	StatusKey string
	Gate      bool
	Started   bool
	Offset    string // "+1m5s", or "" when the step never started
	Took      string
	Result    string
	start     time.Duration
	end       time.Duration
}

type gateView struct {
	Step      string
	Type      string
	Waited    string
	Outcome   string
	Decisions []decisionView
}

type decisionView struct {
	Gate     string
	Identity string
	Decision string // approve, reject or "choose X"
	Channel  string
	Time     string
	Reason   string
	// Verified is "yes" when the identity was verified, "no" when taken as typed.
	Verified string
	// Ledger names the act's audit ledger entry ("#12 3f9a0c1d2e4b"), or says why there is none.
	Ledger string
	at     time.Time
}

type compView struct {
	Step     string
	Outcome  string
	Failed   bool
	finished time.Time
}

type noteView struct {
	Time     string
	Event    string
	Severity string
	Title    string
	Delivery string
	Failed   bool // no channel, or not every channel, took it
}

func build(run Run, opts Options) view {
	r := run.Result
	v := view{
		Plan: r.Plan, Mode: cmp.Or(r.Mode, workflows.ModeRecovery), Requester: r.Requester, Reason: r.Reason,
		WorkflowID: run.WorkflowID, RunID: run.RunID, SHA256: r.PlanSHA256, Error: r.Error,
		Status: statusLabel(r.Status), StatusKey: statusKey(r.Status),
	}
	kind := "Recovery"
	switch v.Mode {
	case workflows.ModeDrill:
		kind = "Drill"
	case workflows.ModeRehearsal:
		kind = "Rehearsal"
	}
	v.Title = kind + " report: " + cmp.Or(r.Plan, "(unnamed plan)")

	day := r.StartedAt.UTC()
	end := runEnd(r, opts.Now)
	v.Started = stamp(r.StartedAt)
	switch {
	case !r.FinishedAt.IsZero():
		v.Finished = stamp(r.FinishedAt)
		v.Duration = human(r.FinishedAt.Sub(r.StartedAt))
	case r.Status == statusRunning && !opts.Now.IsZero() && !r.StartedAt.IsZero():
		v.Finished = "in progress"
		v.Duration = human(opts.Now.Sub(r.StartedAt)) + " so far (at " + stamp(opts.Now) + ")"
	case r.Status == statusRunning:
		v.Finished, v.Duration = "in progress", "in progress"
	default:
		v.Finished, v.Duration = "unknown", "unknown"
	}
	v.RTO, v.RTOKey = rtoSentence(r, opts.Now)
	v.RPO = rpoSentence(r, day)

	v.Steps = steps(r, end)
	for _, s := range v.Steps {
		st := stepByID(r, s.ID)
		if st.Approval != nil {
			g := gateView{Step: s.ID, Type: string(st.Type), Outcome: gateOutcome(st), Waited: human(st.Approval.Waited)}
			for _, d := range st.Approval.Decisions {
				g.Decisions = append(g.Decisions, decision(s.ID, d, day))
			}
			v.Gates = append(v.Gates, g)
			v.Decisions = append(v.Decisions, g.Decisions...)
		}
		if st.Compensation != "" {
			v.Compensations = append(v.Compensations, compView{Step: s.ID, Outcome: st.Compensation,
				Failed: strings.HasPrefix(st.Compensation, "failed"), finished: st.FinishedAt})
		}
	}
	for _, a := range r.Acknowledgements {
		v.Decisions = append(v.Decisions, decisionView{Gate: cmp.Or(a.Step, everyEscalation), Identity: a.Identity, Decision: "acknowledge",
			Channel: string(a.Channel), Time: clock(a.Time, day), Reason: a.Note, Verified: yesNo(a.Verified), at: a.Time})
	}
	for _, rf := range r.Refused {
		d := decision(rf.Gate, rf.Decision, day)
		d.Decision, d.Reason = refusedPrefix+d.Decision, rf.Error
		v.Decisions = append(v.Decisions, d)
	}
	slices.SortStableFunc(v.Decisions, func(a, b decisionView) int { return a.at.Compare(b.at) })
	v.Identities, v.Ledger = identities(r), linkLedger(r, v.Decisions)
	// Compensation runs newest first: in reverse order of the steps' ends.
	slices.SortStableFunc(v.Compensations, func(a, b compView) int { return b.finished.Compare(a.finished) })
	for _, m := range run.Notifications {
		v.Notifications = append(v.Notifications, noteView{Time: clock(m.Time, day), Event: m.Event, Severity: string(m.Severity), Title: m.Title,
			Delivery: m.Delivery(), Failed: m.Refused()})
	}
	if v.Mode == workflows.ModeRehearsal {
		v.Rehearsal = rehearsalNotice
		l := r.DecisionLatencies()
		for _, a := range l.Answers {
			v.Answers = append(v.Answers, answerView{Gate: a.Step, Type: string(a.Type), Identity: a.Identity, Answer: a.Answer,
				Time: clock(a.At, day), Latency: a.Latency.Human()})
		}
		for _, p := range l.People {
			v.People = append(v.People, personView{Identity: p.Identity, Answers: p.Answers, Median: p.Median.Human(), Max: p.Max.Human()})
		}
	}
	v.Lessons = strings.TrimSpace(string(opts.Lessons))
	v.Chart = newChart(v.Steps, r.Objectives.RTO.D(), end.Sub(r.StartedAt))
	return v
}

func stepByID(r workflows.RecoveryResult, id string) workflows.StepState {
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	return workflows.StepState{}
}

// runEnd is when the run's timeline ends: its finish, now while it runs, or the latest time recorded.
func runEnd(r workflows.RecoveryResult, now time.Time) time.Time {
	if !r.FinishedAt.IsZero() {
		return r.FinishedAt
	}
	if r.Status == statusRunning && !now.IsZero() {
		return now
	}
	end := r.StartedAt
	for _, s := range r.Steps {
		for _, t := range []time.Time{s.StartedAt, s.FinishedAt} {
			if t.After(end) {
				end = t
			}
		}
	}
	return end
}

// steps lists the steps in the order they started, then those that never started in plan order.
func steps(r workflows.RecoveryResult, end time.Time) []stepView {
	ordered := slices.Clone(r.Steps)
	slices.SortStableFunc(ordered, func(a, b workflows.StepState) int {
		switch {
		case a.StartedAt.IsZero() && b.StartedAt.IsZero():
			return 0
		case a.StartedAt.IsZero():
			return 1
		case b.StartedAt.IsZero():
			return -1
		}
		return a.StartedAt.Compare(b.StartedAt)
	})
	out := make([]stepView, 0, len(ordered))
	for i, s := range ordered {
		sv := stepView{N: i + 1, ID: s.ID, Type: string(s.Type), Critical: s.Critical, Status: s.Status, StatusKey: statusKey(s.Status),
			Gate: isGate(s.Type), Started: !s.StartedAt.IsZero(), Result: stepResult(s)}
		if s.Action != "" {
			sv.Type += " " + s.Action
		}
		if sv.Started {
			sv.start = s.StartedAt.Sub(r.StartedAt)
			finished := s.FinishedAt
			if finished.IsZero() {
				finished = end
			}
			sv.end = max(finished.Sub(r.StartedAt), sv.start)
			sv.Offset = "+" + human(sv.start)
			switch {
			case s.FinishedAt.IsZero() && s.Status == statusRunning:
				sv.Took = human(sv.end-sv.start) + " so far"
			case s.FinishedAt.IsZero():
				sv.Took = ""
			default:
				sv.Took = human(cmp.Or(s.Duration.D(), s.FinishedAt.Sub(s.StartedAt)))
			}
		}
		out = append(out, sv)
	}
	return out
}

func isGate(t plan.StepType) bool {
	return t == plan.TypeApproval || t == plan.TypeDecision || t == plan.TypeManual || t == plan.TypeWait
}

func stepResult(s workflows.StepState) string {
	var parts []string
	if s.Summary != "" {
		parts = append(parts, s.Summary)
	}
	if s.Error != "" && s.Error != s.Summary {
		parts = append(parts, "error: "+s.Error)
	}
	if s.Compensation != "" {
		parts = append(parts, "undone: "+s.Compensation)
	}
	switch s.Drill {
	case workflows.DrillIsolated:
		parts = append(parts, "ran against its drill targets")
	case workflows.DrillOwn:
		switch s.DrillNote {
		case "":
			parts = append(parts, "ran against the plan's own targets: no drill targets given")
		case "read-only":
			parts = append(parts, "ran against the plan's own targets, read-only")
		default:
			parts = append(parts, "ran against the plan's own targets, as its plan says: "+s.DrillNote)
		}
	}
	return strings.Join(parts, "; ")
}

func gateOutcome(s workflows.StepState) string {
	o := s.Approval
	var out string
	switch {
	case o.Canceled:
		out = "stopped while waiting"
	case o.Approved && o.Choice != "" && o.Expired:
		out = "nobody decided in time; proceeded with the default, " + o.Choice
	case o.Approved && o.Choice != "":
		out = "chose " + o.Choice
	case o.Approved && o.Expired && !o.Escalated:
		out = "nobody decided in time; proceeded"
	case o.Approved:
		out = "approved by " + strings.Join(approvers(*o), ", ")
	case o.RejectedBy != nil:
		out = "rejected by " + o.RejectedBy.Identity
		if o.RejectedBy.Reason != "" {
			out += ": " + o.RejectedBy.Reason
		}
	case o.Expired:
		out = "nobody decided in time"
	default:
		out = "no decision"
	}
	if o.Escalated {
		out += " (escalated after its timeout)"
	}
	return out
}

func approvers(o approval.Outcome) []string {
	var out []string
	for _, d := range o.Decisions {
		if d.Approve {
			out = append(out, d.Identity)
		}
	}
	return out
}

func decision(gate string, d approval.Decision, day time.Time) decisionView {
	what := "reject"
	switch {
	case d.Approve && d.Choice != "":
		what = "choose " + d.Choice
	case d.Approve:
		what = "approve"
	}
	return decisionView{Gate: gate, Identity: d.Identity, Decision: what, Channel: string(d.Channel), Time: clock(d.Time, day), Reason: d.Reason,
		Verified: yesNo(d.Verified), at: d.Time}
}

// refusedPrefix marks a decision the gate refused: it is listed, not counted.
const refusedPrefix = "REFUSED "

// everyEscalation stands for the gate of an acknowledgement of the whole run.
const everyEscalation = "(every escalation)"

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// identities says how the run established who took part.
func identities(r workflows.RecoveryResult) string {
	switch id := r.Identity; {
	case id == nil:
		return ""
	case id.Warning != "":
		return "Not verified: " + id.Warning + "."
	case id.StartVerified:
		return "Verified: the start and every decision carried a signed assertion the run checked."
	case id.StartChannel == "parent":
		return "Verified: started by another Lifeboat workflow; every decision carried a signed assertion the run checked."
	}
	return "Mode " + r.Identity.Mode + "."
}

// linkLedger fills in each decision's and acknowledgement's audit ledger entry, and says what the
// ledger holds of the run.
func linkLedger(r workflows.RecoveryResult, decisions []decisionView) string {
	if len(r.Audit) == 0 {
		if r.Identity == nil {
			return ""
		}
		return "No audit ledger entries: the worker keeps no ledger."
	}
	used := make([]bool, len(r.Audit))
	for i := range decisions {
		d := &decisions[i]
		kind, subject := contract.AuditKindDecision, r.Plan+"/"+d.Gate
		switch {
		case d.Decision == "acknowledge" && d.Gate == everyEscalation:
			kind, subject = contract.AuditKindSilence, r.Plan
		case d.Decision == "acknowledge":
			kind = contract.AuditKindAcknowledgement
		case strings.HasPrefix(d.Decision, refusedPrefix):
			kind = contract.AuditKindRefusal
		}
		for j, a := range r.Audit {
			if used[j] || a.Kind != kind || a.Actor != d.Identity || a.Subject != subject {
				continue
			}
			used[j] = true
			if a.Error != "" {
				d.Ledger = "not recorded: " + a.Error
			} else {
				d.Ledger = fmt.Sprintf("#%d %s", a.Seq, shortHash(a.Hash))
			}
			break
		}
	}
	missing := 0
	for _, a := range r.Audit {
		if a.Error != "" {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Sprintf("%d of %d acts of this run are not in the audit ledger: it could not be written.", missing, len(r.Audit))
	}
	return fmt.Sprintf("%d acts of this run are in the audit ledger (lifeboat audit verify checks them).", len(r.Audit))
}

func shortHash(h string) string {
	if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[i+1:]
	}
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// rtoSentence compares the time to recover with the objective, and says which class shows it.
func rtoSentence(r workflows.RecoveryResult, now time.Time) (string, string) {
	obj := r.Objectives.RTO.D()
	achieved := r.RTO.D()
	if obj == 0 {
		if achieved > 0 {
			return fmt.Sprintf("%s achieved; the plan sets no objective", human(achieved)), ""
		}
		return "the plan sets no objective", ""
	}
	if r.RTOMet != nil {
		if *r.RTOMet {
			return fmt.Sprintf("met: %s against an objective of %s, %s to spare", human(achieved), human(obj), human(obj-achieved)), "met"
		}
		return fmt.Sprintf("missed: %s against an objective of %s, %s over", human(achieved), human(obj), human(achieved-obj)), "missed"
	}
	switch r.Status {
	case statusRunning:
		if now.IsZero() || r.StartedAt.IsZero() {
			return fmt.Sprintf("in progress; objective %s", human(obj)), ""
		}
		elapsed := now.Sub(r.StartedAt)
		if elapsed > obj {
			return fmt.Sprintf("missed: still in progress after %s, %s past the objective of %s", human(elapsed), human(elapsed-obj), human(obj)), "missed"
		}
		return fmt.Sprintf("in progress: %s elapsed of an objective of %s, %s left", human(elapsed), human(obj), human(obj-elapsed)), ""
	}
	if achieved > 0 {
		return fmt.Sprintf("not met: the plan did not succeed (its last step ended after %s; objective %s)", human(achieved), human(obj)), "missed"
	}
	return fmt.Sprintf("not met: the plan did not succeed (objective %s)", human(obj)), "missed"
}

// rpoSentence compares the data-loss window measured with the objective, and says where it comes
// from.
func rpoSentence(r workflows.RecoveryResult, day time.Time) string {
	obj := r.Objectives.RPO.D()
	o := "no objective set"
	if obj > 0 {
		o = "objective " + human(obj)
	}
	if r.RPO == nil {
		return o + "; achieved: not measured (no step reported a recovery point)"
	}
	achieved := r.RPO.D()
	a := "achieved " + human(achieved)
	switch {
	case obj == 0:
	case achieved <= obj:
		a += " (met, " + human(obj-achieved) + " to spare)"
	default:
		a += " (missed, " + human(achieved-obj) + " over)"
	}
	return fmt.Sprintf("%s; %s: the newest data recovered is from %s (step %s), the incident began at %s", o, a,
		clock(r.RecoveryPoint, day), r.RPOStep, clock(r.IncidentAt, day))
}

func statusLabel(s string) string {
	switch s {
	case statusRunning:
		return "in progress"
	case "":
		return "unknown"
	}
	return s
}

// statusKey maps a status to one of a fixed set of names, for colors and CSS classes.
func statusKey(s string) string {
	switch s {
	case plan.StatusSucceeded:
		return "succeeded"
	case plan.StatusFailed, "terminated", "timed out":
		return "failed"
	case workflows.StepCompensated:
		return "compensated"
	case statusRunning:
		return "running"
	case "canceled":
		return "canceled"
	case plan.StatusSkipped, workflows.StepNotRun:
		return "skipped"
	}
	return "pending"
}

// human renders a duration for people, as the rest of Lifeboat does.
func human(d time.Duration) string { return units.Duration(max(d, 0)).Human() }

// stamp is a full UTC time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// clock is a UTC time of day, with the date when it is not the run's first day.
func clock(t, day time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if y, m, d := t.Date(); y == day.Year() && m == day.Month() && d == day.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

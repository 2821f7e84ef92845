package workflows

import (
	"cmp"
	"fmt"
	"maps"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// sendsMessages reports whether the run announces gates and sends updates. It is looked up when first
// needed, so that runs that send none record no version marker.
func (r *runner) sendsMessages(ctx workflow.Context) bool {
	if !r.versioned {
		r.versioned = true
		r.messages = r.version(ctx, "stakeholder-messages") >= 1
	}
	return r.messages
}

func (r *runner) alert(ctx workflow.Context, m notify.Message) error {
	m, m.Time = r.marked(m), workflow.Now(ctx)
	if m.Plan == "" && r.p != nil {
		m.Plan = r.p.Metadata.Name
	}
	if refs := r.refs[m.DedupKey]; len(refs) > 0 && m.DedupKey != "" {
		m.Refs = maps.Clone(refs)
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var res contract.NotifyResult
	r.sending++
	defer func() { r.sending-- }()
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, notifyOptions(m.Title)), contract.Notify, contract.NotifyInput{Message: m}).Get(dctx, &res)
	for _, d := range res.Deliveries {
		if d.Ref == "" || m.DedupKey == "" {
			continue
		}
		if r.refs == nil {
			r.refs = map[string]map[string]string{}
		}
		if r.refs[m.DedupKey] == nil {
			r.refs[m.DedupKey] = map[string]string{}
		}
		if _, known := r.refs[m.DedupKey][d.Notifier]; !known {
			r.refs[m.DedupKey][d.Notifier] = d.Ref
		}
	}
	return err
}

// finalReport tells how the run ended: the stakeholders of a recovery (spec.updates), and for a
// drill the drill report, which always goes out.
func (r *runner) finalReport(ctx workflow.Context, title string) {
	if r.in.Mode != ModeDrill && r.p.Spec.Updates == nil || !r.sendsMessages(ctx) {
		return
	}
	st := r.st
	sev := notify.Info
	if st.Status != plan.StatusSucceeded || (st.RTOMet != nil && !*st.RTOMet) || (st.RPOMet != nil && !*st.RPOMet) {
		sev = notify.Warning
	}
	text := "RTO " + st.RTO.Human()
	if st.RTOMet != nil {
		text += map[bool]string{true: " (objective met)", false: " (objective MISSED)"}[*st.RTOMet]
	}
	if st.RPO != nil {
		text += ", RPO " + st.RPO.Human()
		if st.RPOMet != nil {
			text += map[bool]string{true: " (objective met)", false: " (objective MISSED)"}[*st.RPOMet]
		}
	}
	if st.Error != "" {
		text += ". " + st.Error
	}
	if st.Evidence != nil {
		text += ". " + st.Evidence.Line()
	}
	text += fmt.Sprintf(". The full review: lifeboat report %s", workflow.GetInfo(ctx).WorkflowExecution.ID)
	if r.in.Mode != ModeDrill {
		r.update(ctx, "recovery."+map[bool]string{true: "completed", false: "failed"}[st.Status == plan.StatusSucceeded], title+" "+st.Status, text, sev)
		return
	}
	var to []string
	if u := r.p.Spec.Updates; u != nil {
		to = u.To
	}
	r.inform(ctx, to, "drill.report", title+" "+st.Status, text, sev)
}

// update tells the plan's stakeholders (spec.updates) how the run goes; plans without updates send
// none.
func (r *runner) update(ctx workflow.Context, event, title, text string, sev notify.Severity) {
	if u := r.p.Spec.Updates; u != nil {
		r.inform(ctx, u.To, event, title, text, sev)
	}
}

// inform tells people (to: people, groups or roles, named in the message) how the run goes, with
// its progress and objectives as fields.
func (r *runner) inform(ctx workflow.Context, to []string, event, title, text string, sev notify.Severity) {
	if !r.sendsMessages(ctx) {
		return
	}
	st := r.st
	fields := map[string]string{"to": strings.Join(r.people(to), ", "), "mode": st.Mode, "requested by": st.Requester}
	if st.RTO > 0 || st.Status != StepRunning {
		fields["RTO"] = st.RTO.Human()
	} else {
		fields["elapsed"] = units.Duration(workflow.Now(ctx).Sub(st.StartedAt)).Human()
	}
	if rto := st.Objectives.RTO; rto > 0 {
		fields["RTO objective"] = rto.Human()
	}
	if st.RPO != nil {
		fields["RPO"] = st.RPO.Human()
	}
	counts := map[string]int{}
	for _, s := range st.Steps {
		counts[s.Status]++
	}
	fields["steps"] = fmt.Sprintf("%d of %d done, %d running", counts[plan.StatusSucceeded]+counts[plan.StatusSkipped]+counts[StepCompensated], len(st.Steps), counts[StepRunning])
	_ = r.alert(ctx, notify.Message{Event: event, Severity: sev, Title: title, Text: text, Fields: fields,
		DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID})
}

// keepUpdating sends a progress update every spec.updates.every while the plan runs.
func (r *runner) keepUpdating(ctx workflow.Context) {
	u := r.p.Spec.Updates
	if u == nil || u.Every <= 0 {
		return
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			if err := workflow.NewTimerWithOptions(ctx, u.Every.D(), workflow.TimerOptions{Summary: "stakeholder update"}).Get(ctx, nil); err != nil || r.st.Status != StepRunning {
				return
			}
			running := r.running()
			r.update(ctx, "recovery.progress", fmt.Sprintf("%s %s: still running after %s", strings.ToUpper(r.st.Mode[:1])+r.st.Mode[1:], r.p.Metadata.Name,
				units.Duration(workflow.Now(ctx).Sub(r.st.StartedAt)).Human()), "Running: "+cmp.Or(strings.Join(running, ", "), "nothing (waiting)"), notify.Info)
		}
	})
}

// details shows the plan's progress in the Web UI: a table of steps.
func (r *runner) details(ctx workflow.Context) {
	var b strings.Builder
	st := r.st
	b.WriteString(fmt.Sprintf("**%s %s** (%s, started by %s): %s", strings.ToUpper(st.Mode[:1])+st.Mode[1:], st.Plan, r.p.Spec.Scenario, st.Requester, st.Status))
	if rto := st.Objectives.RTO; rto > 0 {
		b.WriteString(", RTO objective " + rto.Human())
		if st.RTO > 0 {
			b.WriteString(", achieved " + st.RTO.Human())
		}
	}
	b.WriteString("\n\n")
	// A big plan shows its counts and the steps that need attention, not thousands of rows.
	shown := st.Steps
	if len(shown) > maxDetailRows {
		// Counted in an array, not a map: a plan of 10,000 steps is counted at every step's end.
		statuses := [...]string{StepPending, StepRunning, plan.StatusSucceeded, plan.StatusFailed, plan.StatusSkipped, StepNotRun, StepCompensated}
		var counts [len(statuses)]int
		shown = nil
		for i := range st.Steps {
			s := &st.Steps[i] // not a copy of each step's record
			for j, k := range statuses {
				if s.Status == k {
					counts[j]++
					break
				}
			}
			if s.Status == StepRunning || s.Status == plan.StatusFailed {
				shown = append(shown, *s)
			}
		}
		for i, k := range statuses {
			if counts[i] > 0 {
				b.WriteString(fmt.Sprintf("%d %s · ", counts[i], k))
			}
		}
		b.WriteString(fmt.Sprintf("%d steps\n\n", len(st.Steps)))
		shown = shown[:min(len(shown), maxDetailRows)]
	}
	b.WriteString("| step | type | status | took | result |\n|---|---|---|---|---|\n")
	for _, s := range shown {
		result := s.Summary
		if s.Error != "" {
			result = s.Error
		}
		if s.Compensation != "" {
			result += " — undone: " + s.Compensation
		}
		took := ""
		if s.Duration > 0 {
			took = s.Duration.Human()
		}
		b.WriteString(fmt.Sprintf("| %s | %s | %s | %s | %s |\n", mdCell(s.ID), s.Type, s.Status, took, mdCell(result)))
	}
	if r.gates != nil {
		if waiting := approval.Details(workflow.GetInfo(ctx).WorkflowExecution.ID, r.gates.Pending(), r.ids.requireAssertions()); waiting != "" {
			b.WriteString("\n" + waiting)
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

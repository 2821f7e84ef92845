package runbook

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Options change what a runbook shows.
type Options struct {
	// Directory is the worker's identity directory, when known: the people of the plan it lists
	// (by ID) are shown with the directory's contact details too.
	Directory *identity.Directory
	// SVGName is where a Markdown runbook finds its step graph, a file beside it; empty embeds
	// the graph's SVG in the Markdown as a fenced code block. HTML always embeds it.
	SVGName string
}

// view is the runbook, in words, that both formats write.
type view struct {
	Name, Description, Scenario string
	Labels                      string
	RTO, RPO                    string
	Shape                       string // "13 steps in 8 waves"
	People                      []personView
	Groups                      []groupView
	Roles                       []roleView
	Escalation                  []string
	Updates                     []string
	Steps                       []stepView
	SVG                         string
	DirectoryUsed               bool
}

// personView is a person with every way to reach them.
type personView struct {
	ID, Name string
	// Slack, Email, Phone and PagerDuty are the plan's channels, with the directory's where it
	// knows the person and says something else.
	Slack, Email, Phone, PagerDuty string
	InDirectory                    bool
	Groups, Roles                  string
}

type groupView struct {
	ID      string
	Members string
}

type roleView struct {
	Name   string
	Refs   string
	People string
}

// stepView is one step, in the order the plan runs them.
type stepView struct {
	N                 int
	ID, Type, Summary string
	Description       string
	// Text is what the step hands people: a manual step's instructions, a notification's message.
	Text string
	Wave int
	// Facts are what the step does and how, as labelled lines.
	Facts []fact
	// Params are an action's parameters, for a table.
	Params []param
	// Branches are a decision's options and what each leads to.
	Branches []branch
	// Strategies are a strategies step's ways, in the order they are tried.
	Strategies []strategyView
}

// fact is a labelled line; Code marks text to show as code (a condition).
type fact struct {
	Label, Text string
	Code        bool
}

type param struct{ Name, Value, Doc string }

type branch struct {
	Option      string
	Default     bool
	Runs, Skips string
}

type strategyView struct {
	N            int
	Name, What   string
	Description  string
	Facts        []fact
	Params       []param
	Instructions string
}

// build turns the plan into its view. The plan is one that validates: Order and Levels succeed.
func build(p *plan.Plan, opts Options) (view, error) {
	order, err := p.Order()
	if err != nil {
		return view{}, fmt.Errorf("plan %s: %w", p.Metadata.Name, err)
	}
	levels, err := p.Levels()
	if err != nil {
		return view{}, fmt.Errorf("plan %s: %w", p.Metadata.Name, err)
	}
	wave := map[string]int{}
	for i, ids := range levels {
		for _, id := range ids {
			wave[id] = i + 1
		}
	}
	v := view{
		Name: p.Metadata.Name, Description: oneLine(p.Metadata.Description), Scenario: oneLine(p.Spec.Scenario),
		RTO: objective(p.Spec.Objectives.RTO), RPO: objective(p.Spec.Objectives.RPO),
		Shape:         fmt.Sprintf("%s in %s", count(len(order), "step"), count(len(levels), "wave")),
		DirectoryUsed: opts.Directory != nil,
	}
	labels := make([]string, 0, len(p.Metadata.Labels))
	for k, val := range p.Metadata.Labels {
		labels = append(labels, k+"="+val)
	}
	slices.Sort(labels)
	v.Labels = strings.Join(labels, ", ")
	v.People = people(p, opts.Directory)
	for _, g := range p.Spec.Groups {
		v.Groups = append(v.Groups, groupView{ID: g.ID, Members: names(p.Resolve(g.ID))})
	}
	for _, name := range sortedKeys(p.Spec.Roles) {
		v.Roles = append(v.Roles, roleView{Name: name, Refs: strings.Join(p.Spec.Roles[name], ", "), People: names(p.Resolve(name))})
	}
	if e := p.Spec.Escalation; e != nil {
		v.Escalation = escalation(p, e)
	}
	if u := p.Spec.Updates; u != nil {
		v.Updates = append(v.Updates, "To "+refs(p, u.To)+".")
		v.Updates = append(v.Updates, "When the plan starts, when it waits for a decision, when it undoes steps, and when it ends.")
		if u.Every > 0 {
			v.Updates = append(v.Updates, "Every "+u.Every.Human()+" while it runs.")
		}
	}
	branches := decisionBranches(p)
	for i, id := range order {
		s := p.Step(id)
		v.Steps = append(v.Steps, stepFor(p, s, i+1, wave[id], branches[id]))
	}
	v.SVG = string(SVG(p))
	return v, nil
}

// people lists the plan's people with their channels, groups and roles.
func people(p *plan.Plan, dir *identity.Directory) []personView {
	groupsOf := map[string][]string{}
	for _, g := range p.Spec.Groups {
		for _, m := range g.Members {
			groupsOf[m] = append(groupsOf[m], g.ID)
		}
	}
	rolesOf := map[string][]string{}
	for _, name := range sortedKeys(p.Spec.Roles) {
		for _, person := range p.Resolve(name) {
			rolesOf[person.ID] = append(rolesOf[person.ID], name)
		}
	}
	out := make([]personView, 0, len(p.Spec.People))
	for _, person := range p.Spec.People {
		c := person.Channels
		pv := personView{ID: person.ID, Name: person.Name, Slack: c.Slack, Email: c.Email, Phone: c.SMS, PagerDuty: c.PagerDuty,
			Groups: strings.Join(groupsOf[person.ID], ", "), Roles: strings.Join(rolesOf[person.ID], ", ")}
		if dir != nil {
			if d, ok := dir.Person(person.ID); ok {
				pv.InDirectory = true
				pv.Slack = withDirectory(pv.Slack, d.Slack)
				pv.Email = withDirectory(pv.Email, d.Email)
				pv.Phone = withDirectory(pv.Phone, d.Phone)
				pv.PagerDuty = withDirectory(pv.PagerDuty, d.PagerDuty)
			}
		}
		out = append(out, pv)
	}
	return out
}

// withDirectory is a channel as the plan gives it, with the directory's value when it differs.
func withDirectory(planValue, dirValue string) string {
	switch {
	case dirValue == "" || strings.EqualFold(planValue, dirValue):
		return planValue
	case planValue == "":
		return dirValue + " (directory)"
	}
	return planValue + "; " + dirValue + " (directory)"
}

func escalation(p *plan.Plan, e *plan.Escalation) []string {
	out := make([]string, 0, len(e.Levels)+1)
	for _, l := range e.Levels {
		out = append(out, fmt.Sprintf("After %s: notify %s.", l.After.Human(), refs(p, l.Notify)))
	}
	if e.Repeat > 0 {
		again := "once more"
		if e.Repeat > 1 {
			again = fmt.Sprintf("%d more times", e.Repeat)
		}
		out = append(out, "Then the levels run again, "+again+".")
	}
	return out
}

// stepFor describes one step.
func stepFor(p *plan.Plan, s *plan.Step, n, wave int, branches []branch) stepView {
	sv := stepView{N: n, ID: s.ID, Type: string(s.Type), Description: oneLine(s.Description), Wave: wave, Branches: branches}
	add := func(label, text string) {
		if text != "" {
			sv.Facts = append(sv.Facts, fact{Label: label, Text: text})
		}
	}
	switch s.Type {
	case plan.TypeAction:
		spec, _ := catalog.Lookup(s.Action)
		sv.Summary = "Runs " + s.Action + ": " + strings.TrimSuffix(spec.Doc, ".")
		sv.Params = params(spec, s.With)
		add("Timeout", timeoutText(s.Timeout, spec))
		add("Retries", retryText(s.Retry, spec))
		add("In a drill", drillText(s, spec))
		add("Undone by", compensation(s, spec))
	case plan.TypeApproval:
		a := s.Approval
		quorum := max(a.Quorum, 1)
		sv.Summary = fmt.Sprintf("Waits until %d of the approvers approve.", quorum)
		add("Approvers", refs(p, a.Approvers))
		add("Quorum", fmt.Sprintf("%d", quorum))
		expiry := a.OnExpiry
		if expiry == "" {
			expiry = plan.ExpiryReject
		}
		if a.Timeout > 0 {
			then := "the approval is rejected and the step fails"
			if expiry == plan.ExpiryEscalate {
				then = "the escalation policy runs and the gate keeps waiting"
			}
			add("Timeout", a.Timeout.Human()+", then "+then)
		} else {
			add("Timeout", "none: the gate waits until it is decided")
		}
	case plan.TypeDecision:
		d := s.Decision
		sv.Summary = "Asks the deciders: " + oneLine(d.Question)
		add("Deciders", refs(p, d.Deciders))
		add("Options", strings.Join(d.Options, ", "))
		switch {
		case d.Timeout > 0 && d.Default != "":
			add("Timeout", d.Timeout.Human()+", then "+d.Default+" is chosen")
		case d.Timeout > 0:
			add("Timeout", d.Timeout.Human()+", then the step fails")
		default:
			add("Timeout", "none: the decision waits until it is taken")
		}
	case plan.TypeManual:
		m := s.Manual
		sv.Summary = "Work by hand, following these instructions; an assignee marks it done."
		sv.Text = oneLine(m.Instructions)
		add("Assignees", refs(p, m.Assignees))
		add("Timeout", manualTimeout(m.Timeout))
	case plan.TypeWait:
		sv.Summary = "Waits " + s.Wait.Duration.Human() + "."
	case plan.TypeNotify:
		sv.Summary = "Tells " + refs(p, s.Notify.To) + ":"
		sv.Text = oneLine(s.Notify.Message)
	case plan.TypePlan:
		sv.Summary = "Runs the plan " + s.Plan.Name + " as a child, with its own steps and gates."
		if s.Timeout > 0 {
			add("Timeout", s.Timeout.Human())
		}
	case plan.TypeStrategies:
		sv.Summary = fmt.Sprintf("Tries %s in order until one succeeds; the step fails when the last one does.", count(len(s.Strategies), "way"))
		for i, st := range s.Strategies {
			sv.Strategies = append(sv.Strategies, strategyFor(p, s, i, st))
		}
	}
	if len(s.Needs) == 0 {
		add("Needs", "nothing: it starts when the plan does")
	} else {
		add("Needs", strings.Join(s.Needs, ", "))
	}
	if s.When != "" {
		sv.Facts = append(sv.Facts, fact{Label: "Runs when", Text: oneLine(s.When), Code: true})
	}
	if s.Critical() {
		add("Impact", "critical: if it fails, the plan stops and undoes the steps that ran")
	} else {
		add("Impact", "optional: if it fails, the plan goes on")
	}
	if s.Escalation != nil {
		add("Escalation", strings.Join(escalation(p, s.Escalation), " "))
	}
	return sv
}

func strategyFor(p *plan.Plan, s *plan.Step, i int, st plan.Strategy) strategyView {
	sub := s.StrategyStep(i)
	sv := strategyView{N: i + 1, Name: st.Name, Description: oneLine(st.Description)}
	add := func(label, text string) {
		if text != "" {
			sv.Facts = append(sv.Facts, fact{Label: label, Text: text})
		}
	}
	switch sub.EffectiveType() {
	case plan.TypeAction:
		spec, _ := catalog.Lookup(st.Action)
		sv.What = "Runs " + st.Action + ": " + strings.TrimSuffix(spec.Doc, ".")
		sv.Params = params(spec, st.With)
		add("Timeout", timeoutText(st.Timeout, spec))
		add("Retries", retryText(st.Retry, spec))
		add("In a drill", drillText(&sub, spec))
		add("Undone by", compensation(&sub, spec))
	case plan.TypePlan:
		sv.What = "Runs the plan " + st.Plan.Name + " as a child."
		if st.Timeout > 0 {
			add("Timeout", st.Timeout.Human())
		}
	case plan.TypeManual:
		sv.What = "By hand, following these instructions; an assignee marks it done."
		sv.Instructions = oneLine(st.Manual.Instructions)
		add("Assignees", refs(p, st.Manual.Assignees))
		add("Timeout", manualTimeout(st.Manual.Timeout))
	}
	return sv
}

// params lists an action's parameters as the step sets them, then those left at their default,
// each with what it means (from the action's declaration).
func params(spec catalog.Spec, with map[string]any) []param {
	var out []param
	for _, k := range sortedKeys(with) {
		doc := ""
		if ps, ok := spec.Param(k); ok {
			doc = ps.Doc
		}
		out = append(out, param{Name: k, Value: value(with[k]), Doc: doc})
	}
	for _, ps := range spec.Params {
		if _, set := with[ps.Name]; !set && ps.Default != "" {
			out = append(out, param{Name: ps.Name, Value: ps.Default + " (default)", Doc: ps.Doc})
		}
	}
	return out
}

func value(v any) string {
	if s, ok := v.(string); ok {
		return oneLine(s)
	}
	return fmt.Sprint(v)
}

func timeoutText(t units.Duration, spec catalog.Spec) string {
	switch {
	case t > 0:
		return t.Human() + " per attempt"
	case spec.Timeout > 0:
		return units.Duration(spec.Timeout).Human() + " per attempt (the action's default)"
	}
	return ""
}

func retryText(r *plan.Retry, spec catalog.Spec) string {
	attempts, backoff, dflt := spec.Retry.Attempts, spec.Retry.Backoff, " (the action's default)"
	if r != nil {
		attempts, dflt = r.Attempts, ""
		if r.Backoff > 0 {
			backoff = r.Backoff.D()
		}
	}
	limit := max(time.Minute, backoff)
	switch {
	case attempts <= 1:
		return "none: one attempt" + dflt
	case backoff <= 0:
		backoff = time.Second
	}
	switch {
	case attempts == 2:
		return fmt.Sprintf("2 attempts in all; the retry after %s%s", units.Duration(backoff).Human(), dflt)
	case backoff >= limit:
		return fmt.Sprintf("%s in all, %s apart%s", count(attempts, "attempt"), units.Duration(backoff).Human(), dflt)
	}
	return fmt.Sprintf("%s in all; the first retry after %s, each pause doubling up to %s%s",
		count(attempts, "attempt"), units.Duration(backoff).Human(), units.Duration(limit).Human(), dflt)
}

// drillText says what an action step does in a drill.
func drillText(s *plan.Step, spec catalog.Spec) string {
	d := s.Drill
	switch {
	case d == nil && spec.Effect == catalog.ReadOnly:
		return "runs as it is (it only reads)"
	case d == nil && spec.Rehearsal != "":
		return "rehearsed: " + strings.TrimSuffix(spec.Rehearsal, ".")
	case d == nil:
		return "no drill rule"
	case d.Skip:
		return "skipped" + reason(d.Reason)
	case d.SameTargets:
		return "runs on the plan's own targets" + reason(d.Reason)
	}
	return "runs with " + assignments(s.DrillWith(spec)) + reason(d.Reason)
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + oneLine(r)
}

// compensation says what undoes an action step, and how in a drill.
func compensation(s *plan.Step, spec catalog.Spec) string {
	c := s.Compensate
	if c == nil {
		return ""
	}
	text := c.Action
	if len(c.With) > 0 {
		text += " with " + assignments(c.With)
	}
	if c.Timeout > 0 {
		text += ", timeout " + c.Timeout.Human()
	}
	if d := s.Drill; d != nil && !d.Skip && !d.SameTargets && (len(d.With) > 0 || len(d.CompensateWith) > 0) {
		text += "; in a drill with " + assignments(s.DrillCompensationWith(spec))
	}
	return text + " — if a later critical step fails"
}

func assignments(with map[string]any) string {
	out := make([]string, 0, len(with))
	for _, k := range sortedKeys(with) {
		out = append(out, k+" = "+value(with[k]))
	}
	return strings.Join(out, ", ")
}

func manualTimeout(t units.Duration) string {
	if t == 0 {
		return "none: the step waits until it is marked done"
	}
	return t.Human() + ", then the step fails"
}

// refs names references with the people they stand for: "deciders (Erin Costa, Carol Schmidt)".
func refs(p *plan.Plan, list []string) string {
	out := make([]string, len(list))
	for i, r := range list {
		resolved := p.Resolve(r)
		if len(resolved) == 1 && resolved[0].ID == r {
			out[i] = resolved[0].Name + " (" + r + ")"
			continue
		}
		out[i] = r + " (" + names(resolved) + ")"
	}
	return strings.Join(out, ", ")
}

func names(list []plan.Person) string {
	out := make([]string, len(list))
	for i, person := range list {
		out[i] = person.Name
	}
	return strings.Join(out, ", ")
}

func objective(d units.Duration) string {
	if d == 0 {
		return "not set"
	}
	return d.Human()
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneLine folds text onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

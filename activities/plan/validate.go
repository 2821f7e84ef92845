package plan

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a plan, at a path such as "spec.steps[3] (promote).needs".
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) Error() string { return p.Path + ": " + p.Message }

// Problems is every problem with a plan, in the order of the plan's fields.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

var (
	namePattern   = stepIDPattern
	rolePattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	e164Pattern   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

const idRule = "use 1-63 lower-case letters, digits and '-', starting with a letter or digit"

// Validate returns every problem with the plan as Problems, or nil.
func (p *Plan) Validate() error {
	v := &validator{p: p}
	v.validate()
	if len(v.problems) == 0 {
		return nil
	}
	v.problems.sort()
	return v.problems
}

// sort puts the problems of each step together, in the order of the steps, after the problems
// outside steps; it keeps the order of problems in one place.
func (ps Problems) sort() {
	step := func(p Problem) int {
		rest, ok := strings.CutPrefix(p.Path, "spec.steps[")
		if !ok {
			return -1
		}
		n, _, _ := strings.Cut(rest, "]")
		i, err := strconv.Atoi(n)
		if err != nil {
			return -1
		}
		return i
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return step(a) - step(b) })
}

type validator struct {
	p        *Plan
	problems Problems
	// refKinds maps the names of people, groups and roles to "person", "group" or "role".
	refKinds map[string]string
	graph    *graph
	// ancestors is computed on first use by needs.
	ancestors     [][]uint64
	ancestorsDone bool
}

func (v *validator) bad(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func stepPath(i int, s Step) string {
	if s.ID == "" {
		return fmt.Sprintf("spec.steps[%d]", i)
	}
	return fmt.Sprintf("spec.steps[%d] (%s)", i, s.ID)
}

func (v *validator) validate() {
	p := v.p
	if p.APIVersion != APIVersion {
		v.bad("apiVersion", "%q: want %s", p.APIVersion, APIVersion)
	}
	if p.Kind != Kind {
		v.bad("kind", "%q: want %s", p.Kind, Kind)
	}
	if !namePattern.MatchString(p.Metadata.Name) {
		v.bad("metadata.name", "%q: %s", p.Metadata.Name, idRule)
	}
	for _, k := range sortedKeys(p.Metadata.Labels) {
		if k == "" || len(k) > 63 {
			v.bad("metadata.labels", "%q: a label key has 1-63 characters", k)
		}
	}
	if strings.TrimSpace(p.Spec.Scenario) == "" {
		v.bad("spec.scenario", "required: the event the plan answers, in a sentence")
	}
	v.people()
	if p.Spec.Escalation != nil {
		v.escalation("spec.escalation", p.Spec.Escalation)
	}
	if u := p.Spec.Updates; u != nil {
		v.refs("spec.updates.to", u.To, "person, group or role")
		if u.Every != 0 && u.Every.D() < time.Minute {
			v.bad("spec.updates.every", "%s: at least 1m (or leave it out to send only phase changes)", u.Every)
		}
	}
	switch n := len(p.Spec.Steps); {
	case n == 0:
		v.bad("spec.steps", "required: at least one step")
	case n > MaxSteps:
		v.bad("spec.steps", "%d steps: the limit is %d", n, MaxSteps)
		return
	}
	v.graph = newGraph(p.Spec.Steps)
	for i := range p.Spec.Steps {
		v.step(i)
	}
	for _, c := range v.graph.cycles() {
		v.bad(stepPath(c[0], p.Spec.Steps[c[0]])+".needs", "cycle: %s (each step needs the next)", strings.Join(v.graph.names(c), " -> "))
	}
}

// people checks people, groups and roles, and records their names.
func (v *validator) people() {
	s := v.p.Spec
	v.refKinds = map[string]string{}
	paths := map[string]string{}
	claim := func(path, field, name, kind string) {
		if prev, dup := paths[name]; dup {
			v.bad(path+field, "%q is also the id of %s: people, groups and roles share one namespace", name, prev)
			return
		}
		paths[name] = path
		v.refKinds[name] = kind
	}
	for i, person := range s.People {
		path := fmt.Sprintf("spec.people[%d]", i)
		if person.ID != "" {
			path += " (" + person.ID + ")"
		}
		if !namePattern.MatchString(person.ID) {
			v.bad(path+".id", "%q: %s", person.ID, idRule)
		} else {
			claim(path, ".id", person.ID, "person")
		}
		if strings.TrimSpace(person.Name) == "" {
			v.bad(path+".name", "required")
		}
		c := person.Channels
		if c == (Channels{}) {
			v.bad(path+".channels", "required: at least one of slack, email, sms, pagerduty")
		}
		if c.Email != "" && (!strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \t\n<>")) {
			v.bad(path+".channels.email", "%q is not an email address", c.Email)
		}
		if c.SMS != "" && !e164Pattern.MatchString(c.SMS) {
			v.bad(path+".channels.sms", "%q: write the number in E.164 form, such as +15555550100", c.SMS)
		}
	}
	for i, g := range s.Groups {
		path := fmt.Sprintf("spec.groups[%d]", i)
		if g.ID != "" {
			path += " (" + g.ID + ")"
		}
		if !namePattern.MatchString(g.ID) {
			v.bad(path+".id", "%q: %s", g.ID, idRule)
		} else {
			claim(path, ".id", g.ID, "group")
		}
	}
	for _, name := range sortedKeys(s.Roles) {
		path := "spec.roles." + name
		if !rolePattern.MatchString(name) {
			v.bad(path, "%q is not a role name: use 1-63 lower-case letters, digits, '_' and '-', starting with a letter", name)
		} else {
			claim(path, "", name, "role")
		}
	}
	// Members, once every name is known.
	for i, g := range s.Groups {
		path := fmt.Sprintf("spec.groups[%d]", i)
		if g.ID != "" {
			path += " (" + g.ID + ")"
		}
		if len(g.Members) == 0 {
			v.bad(path+".members", "required: at least one person")
		}
		for _, m := range g.Members {
			if kind := v.refKinds[m]; kind != "person" {
				v.bad(path+".members", "%s: a group's members are people", v.describe(m))
			}
		}
	}
	for _, name := range sortedKeys(s.Roles) {
		path := "spec.roles." + name
		if len(s.Roles[name]) == 0 {
			v.bad(path, "required: at least one person or group")
		}
		for _, m := range s.Roles[name] {
			if kind := v.refKinds[m]; kind != "person" && kind != "group" {
				v.bad(path, "%s: a role lists people and groups", v.describe(m))
			}
		}
	}
}

// describe names what a reference is, for errors about references of the wrong kind.
func (v *validator) describe(ref string) string {
	if kind, ok := v.refKinds[ref]; ok {
		return fmt.Sprintf("%q is a %s", ref, kind)
	}
	return fmt.Sprintf("unknown person or group %q", ref)
}

// refs checks references to people, groups or roles; empty lists are an error when required.
func (v *validator) refs(path string, refs []string, what string) {
	if len(refs) == 0 {
		v.bad(path, "required: at least one %s", what)
	}
	for _, r := range refs {
		if _, ok := v.refKinds[r]; !ok {
			v.bad(path, "unknown person, group or role %q", r)
		}
	}
}

func (v *validator) escalation(path string, e *Escalation) {
	if len(e.Levels) == 0 {
		v.bad(path+".levels", "required: at least one level")
	}
	for i, l := range e.Levels {
		lp := fmt.Sprintf("%s.levels[%d]", path, i)
		switch {
		case l.After <= 0:
			v.bad(lp+".after", "required: how long to wait before this level")
		case i > 0 && l.After <= e.Levels[i-1].After:
			v.bad(lp+".after", "%s is not after the previous level's %s", l.After, e.Levels[i-1].After)
		}
		v.refs(lp+".notify", l.Notify, "person, group or role to notify")
	}
	if e.Repeat < 0 || e.Repeat > 100 {
		v.bad(path+".repeat", "%d: use 0 to 100", e.Repeat)
	}
}

var blockNames = map[StepType]string{TypeAction: "action", TypeApproval: "approval", TypeDecision: "decision",
	TypeManual: "manual", TypeWait: "wait", TypeNotify: "notify", TypePlan: "plan", TypeStrategies: "strategies"}

func typeList() string {
	names := make([]string, len(stepTypes))
	for i, t := range stepTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func (v *validator) step(i int) {
	s := v.p.Spec.Steps[i]
	path := stepPath(i, s)
	if !stepIDPattern.MatchString(s.ID) {
		v.bad(path+".id", "%q: %s", s.ID, idRule)
	} else if first := v.graph.index[s.ID]; first != i {
		v.bad(path+".id", "also the id of spec.steps[%d]", first)
	}
	typ := s.EffectiveType()
	switch {
	case s.Type == "" && len(s.typesSet()) == 0:
		v.bad(path+".type", "required: set action, or type and its block (%s)", typeList())
	case s.Type == "":
		v.bad(path+".type", "required when several of action, approval, decision, manual, wait, notify, plan and strategies are set")
	case !contains(stepTypes, s.Type):
		v.bad(path+".type", "unknown type %q: use one of %s", s.Type, typeList())
		typ = ""
	}
	if typ != "" {
		if !s.hasBlock(typ) {
			v.bad(path+"."+blockNames[typ], "required for a step of type %s", typ)
		}
		for _, other := range s.typesSet() {
			if other != typ {
				v.bad(path+"."+blockNames[other], "only for steps of type %s, and this one is of type %s", other, typ)
			}
		}
		if typ != TypeAction {
			if s.With != nil {
				v.bad(path+".with", "only for action steps")
			}
			if s.Retry != nil {
				v.bad(path+".retry", "only for action steps")
			}
			if s.Compensate != nil {
				v.bad(path+".compensate", "only for action steps")
			}
			if s.Drill != nil && len(s.Drill.With) > 0 {
				v.bad(path+".drill.with", "only for action steps; other steps can only be skipped in drills (drill.skip)")
			}
		}
		switch typ {
		case TypeApproval, TypeDecision, TypeManual:
			if s.Timeout != 0 {
				v.bad(path+".timeout", "set the gate's own timeout (%s.timeout)", blockNames[typ])
			}
		case TypeWait:
			if s.Timeout != 0 {
				v.bad(path+".timeout", "a wait step lasts wait.duration")
			}
		case TypeStrategies:
			if s.Timeout != 0 {
				v.bad(path+".timeout", "give each strategy its own timeout")
			}
			v.strategies(path, s)
		}
	}
	switch s.Impact {
	case "", ImpactCritical, ImpactOptional:
	default:
		v.bad(path+".impact", "unknown impact %q: use critical or optional", s.Impact)
	}
	for j, n := range s.Needs {
		switch _, known := v.graph.index[n]; {
		case n == s.ID:
			v.bad(path+".needs", "a step cannot need itself")
		case !known:
			v.bad(path+".needs", "unknown step %q", n)
		case slices.Index(s.Needs, n) < j:
			v.bad(path+".needs", "%q is listed twice", n)
		}
	}
	if s.Escalation != nil {
		v.escalation(path+".escalation", s.Escalation)
	}
	v.blocks(path, s)
	v.condition(i, path)
}

// strategies checks a strategies step's list: at least two, named uniquely, each an action, a child
// plan or a manual procedure — that one only last, since nothing after it would run — and each
// checked as a step of its own.
func (v *validator) strategies(path string, s Step) {
	if len(s.Strategies) < 2 {
		v.bad(path+".strategies", "%d given: give at least two (one is a plain step)", len(s.Strategies))
	}
	for j, st := range s.Strategies {
		sp := strategyPath(path, j, st)
		switch {
		case !namePattern.MatchString(st.Name):
			v.bad(sp+".name", "%q: %s", st.Name, idRule)
		case slices.IndexFunc(s.Strategies, func(o Strategy) bool { return o.Name == st.Name }) < j:
			v.bad(sp+".name", "%q is the name of an earlier strategy", st.Name)
		}
		sub := s.StrategyStep(j)
		set := sub.typesSet()
		switch {
		case len(set) != 1:
			v.bad(sp, "set exactly one of action, plan and manual")
			continue
		case set[0] != TypeAction && set[0] != TypePlan && set[0] != TypeManual:
			v.bad(sp, "a strategy is an action, a plan or a manual procedure")
			continue
		case set[0] == TypeManual && j < len(s.Strategies)-1:
			v.bad(sp+".manual", "only the last strategy can be a manual procedure: the ones after it would never run")
		case set[0] == TypeManual && st.Timeout != 0:
			v.bad(sp+".timeout", "set the manual procedure's own timeout (manual.timeout)")
		}
		if set[0] != TypeAction {
			if st.With != nil || st.Retry != nil || st.Compensate != nil {
				v.bad(sp, "with, retry and compensate are only for action strategies")
			}
			if st.Drill != nil && len(st.Drill.With) > 0 {
				v.bad(sp+".drill.with", "only for action strategies; others can only be skipped in drills (drill.skip)")
			}
		}
		v.blocks(sp, sub)
	}
}

// blocks checks a step's (or strategy's) type-specific fields.
func (v *validator) blocks(path string, s Step) {
	if s.Action != "" && !actionPattern.MatchString(s.Action) {
		v.bad(path+".action", "%q is not an action name (such as postgres.promote)", s.Action)
	}
	if r := s.Retry; r != nil && (r.Attempts < 1 || r.Attempts > 100) {
		v.bad(path+".retry.attempts", "%d: use 1 (no retry) to 100", r.Attempts)
	}
	if c := s.Compensate; c != nil && !actionPattern.MatchString(c.Action) {
		v.bad(path+".compensate.action", "%q is not an action name (such as postgres.fence)", c.Action)
	}
	if d := s.Drill; d != nil {
		chosen := 0
		for _, set := range []bool{len(d.With) > 0, d.Skip, d.SameTargets} {
			if set {
				chosen++
			}
		}
		switch {
		case chosen > 1:
			v.bad(path+".drill", "choose one of with (the drill's targets), skip and same_targets")
		case chosen == 0:
			v.bad(path+".drill", "empty: set with (the drill's targets), skip: true or same_targets: true")
		case (d.Skip || d.SameTargets) && strings.TrimSpace(d.Reason) == "":
			v.bad(path+".drill.reason", "required with skip or same_targets: say why, for the drill's record")
		case len(d.With) > 0 && d.Reason != "":
			v.bad(path+".drill.reason", "only with skip or same_targets")
		}
	}
	if a := s.Approval; a != nil {
		v.refs(path+".approval.approvers", a.Approvers, "person, group or role")
		people := map[string]bool{}
		for _, ref := range a.Approvers {
			for _, person := range v.p.Resolve(ref) {
				people[person.ID] = true
			}
		}
		switch {
		case a.Quorum < 0:
			v.bad(path+".approval.quorum", "%d: use 1 or more", a.Quorum)
		case a.Quorum > len(people):
			v.bad(path+".approval.quorum", "%d approvals needed, but the approvers are %s", a.Quorum, countPeople(len(people)))
		}
		switch a.OnExpiry {
		case "", ExpiryReject:
		case ExpiryEscalate:
			if a.Timeout == 0 {
				v.bad(path+".approval.on_expiry", "escalate needs approval.timeout")
			}
			if s.Escalation == nil && v.p.Spec.Escalation == nil {
				v.bad(path+".approval.on_expiry", "escalate needs an escalation policy (spec.escalation or the step's escalation)")
			}
		default:
			v.bad(path+".approval.on_expiry", "unknown %q: use reject or escalate", a.OnExpiry)
		}
	}
	if d := s.Decision; d != nil {
		if strings.TrimSpace(d.Question) == "" {
			v.bad(path+".decision.question", "required")
		}
		if n := len(d.Options); n < 2 || n > 10 {
			v.bad(path+".decision.options", "%d given: give 2 to 10 options", n)
		}
		for j, o := range d.Options {
			switch {
			case strings.TrimSpace(o) == "":
				v.bad(path+".decision.options", "an option is empty")
			case slices.Index(d.Options, o) < j:
				v.bad(path+".decision.options", "%q is listed twice", o)
			}
		}
		v.refs(path+".decision.deciders", d.Deciders, "person, group or role")
		if d.Default != "" && !contains(d.Options, d.Default) {
			v.bad(path+".decision.default", "%q is not one of the options", d.Default)
		}
	}
	if m := s.Manual; m != nil {
		if strings.TrimSpace(m.Instructions) == "" {
			v.bad(path+".manual.instructions", "required")
		}
		v.refs(path+".manual.assignees", m.Assignees, "person, group or role")
	}
	if w := s.Wait; w != nil && w.Duration <= 0 {
		v.bad(path+".wait.duration", "required: how long to wait")
	}
	if n := s.Notify; n != nil {
		v.refs(path+".notify.to", n.To, "person, group or role")
		if strings.TrimSpace(n.Message) == "" {
			v.bad(path+".notify.message", "required")
		}
	}
	if c := s.Plan; c != nil {
		switch {
		case !namePattern.MatchString(c.Name):
			v.bad(path+".plan.name", "%q: %s", c.Name, idRule)
		case c.Name == v.p.Metadata.Name:
			v.bad(path+".plan.name", "a plan cannot run itself")
		}
	}
}

// condition checks a step's when: that it parses, and that it refers only to steps the step needs,
// directly or not, and to their results as they exist.
func (v *validator) condition(i int, path string) {
	s := v.p.Spec.Steps[i]
	e, err := s.Condition()
	if err != nil {
		v.bad(path+".when", "%v", err)
		return
	}
	if e == nil {
		return
	}
	for _, r := range e.refCols() {
		j, ok := v.graph.index[r.ref.Step]
		if !ok {
			v.bad(path+".when", "column %d: %s: unknown step %q", r.col, r.ref, r.ref.Step)
			continue
		}
		if !v.needs(i, j) {
			v.bad(path+".when", "column %d: %s: %s does not need %s, directly or through other steps: add it to needs", r.col, r.ref, s.ID, r.ref.Step)
			continue
		}
		target := v.p.Spec.Steps[j]
		switch typ := target.EffectiveType(); {
		case r.ref.Field == FieldChoice && typ != TypeDecision:
			v.bad(path+".when", "column %d: %s: %s is not a decision step", r.col, r.ref, target.ID)
		case r.ref.Field == FieldOutputs && typ != TypeAction && typ != TypePlan && typ != TypeStrategies:
			v.bad(path+".when", "column %d: %s: only action, plan and strategies steps have outputs, and %s is %s step", r.col, r.ref, target.ID, article(string(typ)))
		}
	}
	for _, c := range e.comparisons() {
		switch c.ref.Field {
		case FieldChoice:
			j, ok := v.graph.index[c.ref.Step]
			if !ok || v.p.Spec.Steps[j].Decision == nil || c.lit.Kind() != StringKind {
				continue
			}
			target := v.p.Spec.Steps[j]
			if !contains(target.Decision.Options, c.lit.Str()) {
				v.bad(path+".when", "column %d: %s is not an option of %s (%s)", c.col, c.lit, target.ID, strings.Join(target.Decision.Options, ", "))
			}
		case FieldStatus:
			if c.lit.Kind() == StringKind && !contains(statuses, c.lit.Str()) {
				v.bad(path+".when", "column %d: %s is not a status: use %s", c.col, c.lit, strings.Join(statuses, ", "))
			}
		}
	}
}

// needs reports whether step i needs step j, directly or through other steps.
func (v *validator) needs(i, j int) bool {
	if !v.ancestorsDone {
		v.ancestors, v.ancestorsDone = v.graph.ancestors(), true
	}
	if v.ancestors != nil {
		return v.ancestors[i][j/64]&(1<<(j%64)) != 0
	}
	// The steps form a cycle: search.
	seen := map[int]bool{}
	queue := []int{i}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, w := range v.graph.needs[x] {
			if w == j {
				return true
			}
			if !seen[w] {
				seen[w] = true
				queue = append(queue, w)
			}
		}
	}
	return false
}

// ancestors returns, for each step, the set of steps it needs directly or through other steps, as
// a bit set; it is nil when the steps form a cycle.
func (g *graph) ancestors() [][]uint64 {
	order, ok := g.order()
	if !ok {
		return nil
	}
	words := (len(g.ids) + 63) / 64
	sets := make([][]uint64, len(g.ids))
	backing := make([]uint64, words*len(g.ids))
	for _, i := range order {
		set := backing[i*words : (i+1)*words : (i+1)*words]
		for _, j := range g.needs[i] {
			set[j/64] |= 1 << (j % 64)
			for w, bits := range sets[j] {
				set[w] |= bits
			}
		}
		sets[i] = set
	}
	return sets
}

// Resolve returns the people a reference stands for: the person, a group's members, or a role's
// people and groups' members, without repeats, in the order they are listed. It is nil for an
// unknown reference.
func (p *Plan) Resolve(ref string) []Person {
	var out []Person
	seen := map[string]bool{}
	addPerson := func(id string) {
		if seen[id] {
			return
		}
		for _, person := range p.Spec.People {
			if person.ID == id {
				seen[id] = true
				out = append(out, person)
				return
			}
		}
	}
	addGroup := func(id string) bool {
		for _, g := range p.Spec.Groups {
			if g.ID == id {
				for _, m := range g.Members {
					addPerson(m)
				}
				return true
			}
		}
		return false
	}
	if members, ok := p.Spec.Roles[ref]; ok {
		for _, m := range members {
			if !addGroup(m) {
				addPerson(m)
			}
		}
		return out
	}
	if !addGroup(ref) {
		addPerson(ref)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// article puts "a" or "an" before a word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

func countPeople(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// The versions of the format this package reads.
const (
	APIVersion = "lifeboat.dev/v1"
	Kind       = "RecoveryPlan"
)

// Limits on a plan's size.
const (
	MaxSteps     = 10000
	MaxPlanBytes = 16 << 20
)

// Plan is a recovery plan: what it is for (Metadata, Spec.Scenario), what it must achieve
// (Spec.Objectives), who takes part (Spec.People, Spec.Groups, Spec.Roles) and what is done
// (Spec.Steps).
type Plan struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata names and describes a plan.
type Metadata struct {
	// Name identifies the plan: 1-63 lower-case letters, digits and '-'.
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Spec is what the plan does.
type Spec struct {
	// Scenario is the event the plan answers, in a sentence.
	Scenario   string     `yaml:"scenario" json:"scenario"`
	Objectives Objectives `yaml:"objectives,omitempty" json:"objectives,omitzero"`
	// Recovers names what the plan brings back: services and assets of the worker's
	// configuration. Readiness and the SLA count the plan for them; validation against the
	// configuration checks that they exist.
	Recovers Recovers `yaml:"recovers,omitempty" json:"recovers,omitzero"`
	People   []Person `yaml:"people,omitempty" json:"people,omitempty"`
	Groups   []Group  `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Roles maps a role name to people and groups.
	Roles map[string][]string `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Escalation is the default policy for gates and steps that take too long.
	Escalation *Escalation `yaml:"escalation,omitempty" json:"escalation,omitempty"`
	// Updates are the stakeholder updates a run sends; without them, a run notifies only those it
	// asks to decide and those its escalations reach.
	Updates *Updates `yaml:"updates,omitempty" json:"updates,omitempty"`
	Steps   []Step   `yaml:"steps" json:"steps"`
}

// Updates keep stakeholders informed while a plan runs: a message when it starts, at each phase
// change (waiting for a decision, undoing steps) and when it ends, and every Every while it runs.
type Updates struct {
	// To are the people, groups or roles the updates are for, named in each message.
	To []string `yaml:"to" json:"to"`
	// Every is the cadence of progress updates during a long run (at least 1m); 0 sends only the
	// phase changes.
	Every units.Duration `yaml:"every,omitempty" json:"every,omitempty"`
}

// Objectives are the recovery time and point objectives the plan is meant to meet.
type Objectives struct {
	RTO units.Duration `yaml:"rto,omitempty" json:"rto,omitempty"`
	RPO units.Duration `yaml:"rpo,omitempty" json:"rpo,omitempty"`
}

// Recovers are the services and assets a plan recovers, by their names in the configuration.
type Recovers struct {
	Services []string `yaml:"services,omitempty" json:"services,omitempty"`
	Assets   []string `yaml:"assets,omitempty" json:"assets,omitempty"`
}

// Person is someone the plan can ask or tell something.
type Person struct {
	ID       string   `yaml:"id" json:"id"`
	Name     string   `yaml:"name" json:"name"`
	Channels Channels `yaml:"channels" json:"channels"`
}

// Channels are the ways to reach a person; at least one is set.
type Channels struct {
	// Slack is a Slack member ID (U012AB3CD).
	Slack string `yaml:"slack,omitempty" json:"slack,omitempty"`
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// SMS is a phone number in E.164 form (+15555550100).
	SMS string `yaml:"sms,omitempty" json:"sms,omitempty"`
	// PagerDuty is a PagerDuty user ID.
	PagerDuty string `yaml:"pagerduty,omitempty" json:"pagerduty,omitempty"`
}

// Group is a named set of people.
type Group struct {
	ID      string   `yaml:"id" json:"id"`
	Members []string `yaml:"members" json:"members"`
}

// Escalation says whom to tell, and when, while a gate waits or a step runs too long.
type Escalation struct {
	Levels []EscalationLevel `yaml:"levels" json:"levels"`
	// Repeat is how many more times the levels run after the last one.
	Repeat int `yaml:"repeat,omitempty" json:"repeat,omitempty"`
}

// EscalationLevel notifies people, groups or roles once After has passed.
type EscalationLevel struct {
	After  units.Duration `yaml:"after" json:"after"`
	Notify []string       `yaml:"notify" json:"notify"`
}

// StepType is what a step does.
type StepType string

// The step types.
const (
	TypeAction   StepType = "action"   // run an action on the worker
	TypeApproval StepType = "approval" // wait for a quorum of approvers
	TypeDecision StepType = "decision" // ask deciders to pick one of several options
	TypeManual   StepType = "manual"   // wait for someone to do something by hand and say so
	TypeWait     StepType = "wait"     // wait for a duration
	TypeNotify   StepType = "notify"   // tell people something
	TypePlan     StepType = "plan"     // run another plan as a child
	// TypeStrategies tries ways of recovering in order until one succeeds.
	TypeStrategies StepType = "strategies"
)

var stepTypes = []StepType{TypeAction, TypeApproval, TypeDecision, TypeManual, TypeWait, TypeNotify, TypePlan, TypeStrategies}

// Impact says what a step's failure means for the plan.
type Impact string

// The impacts.
const (
	// ImpactCritical stops the plan when the step fails (after compensating what ran).
	ImpactCritical Impact = "critical"
	// ImpactOptional lets the plan go on when the step fails; steps may test its status.
	ImpactOptional Impact = "optional"
)

// Step is one thing the plan does. Type says which of the type-specific fields is set: Action (with
// With, Retry and Compensate), Approval, Decision, Manual, Wait, Notify or Plan.
type Step struct {
	ID          string `yaml:"id" json:"id"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Type may be left out when exactly one type-specific field is set; Parse fills it in.
	Type  StepType `yaml:"type,omitempty" json:"type,omitempty"`
	Needs []string `yaml:"needs,omitempty" json:"needs,omitempty"`
	// When is a condition (see ParseExpr); the step is skipped when it is false.
	When    string         `yaml:"when,omitempty" json:"when,omitempty"`
	Timeout units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Impact is critical unless set; Parse fills it in.
	Impact Impact `yaml:"impact,omitempty" json:"impact,omitempty"`
	// Escalation overrides the plan's escalation policy for this step.
	Escalation *Escalation `yaml:"escalation,omitempty" json:"escalation,omitempty"`

	Action     string         `yaml:"action,omitempty" json:"action,omitempty"`
	With       map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	Retry      *Retry         `yaml:"retry,omitempty" json:"retry,omitempty"`
	Compensate *Compensation  `yaml:"compensate,omitempty" json:"compensate,omitempty"`
	// Drill says what the step does in a drill: its isolated targets, or that it is skipped.
	Drill *DrillOverride `yaml:"drill,omitempty" json:"drill,omitempty"`

	Approval *Approval  `yaml:"approval,omitempty" json:"approval,omitempty"`
	Decision *Decision  `yaml:"decision,omitempty" json:"decision,omitempty"`
	Manual   *Manual    `yaml:"manual,omitempty" json:"manual,omitempty"`
	Wait     *Wait      `yaml:"wait,omitempty" json:"wait,omitempty"`
	Notify   *Notify    `yaml:"notify,omitempty" json:"notify,omitempty"`
	Plan     *ChildPlan `yaml:"plan,omitempty" json:"plan,omitempty"`
	// Strategies are ways of carrying the step out, tried in order until one succeeds.
	Strategies []Strategy `yaml:"strategies,omitempty" json:"strategies,omitempty"`
}

// Strategy is one way of carrying out a strategies step: an action, a child plan or — last — a
// manual procedure. When one fails, the next runs; the step fails when the last one does.
type Strategy struct {
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description,omitempty" json:"description,omitempty"`
	Timeout     units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`

	Action     string         `yaml:"action,omitempty" json:"action,omitempty"`
	With       map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	Retry      *Retry         `yaml:"retry,omitempty" json:"retry,omitempty"`
	Compensate *Compensation  `yaml:"compensate,omitempty" json:"compensate,omitempty"`
	Drill      *DrillOverride `yaml:"drill,omitempty" json:"drill,omitempty"`

	Manual *Manual    `yaml:"manual,omitempty" json:"manual,omitempty"`
	Plan   *ChildPlan `yaml:"plan,omitempty" json:"plan,omitempty"`
}

// StrategyStep is strategy i of a strategies step as a step of its own, which the plan runs,
// validates and undoes as it does steps: its ID is the step's and the strategy's names joined by a
// dot, and it has the step's impact and escalation.
func (s Step) StrategyStep(i int) Step {
	st := s.Strategies[i]
	return Step{ID: s.ID + "." + st.Name, Description: st.Description, Timeout: st.Timeout, Impact: s.Impact, Escalation: s.Escalation,
		Action: st.Action, With: st.With, Retry: st.Retry, Compensate: st.Compensate, Drill: st.Drill, Manual: st.Manual, Plan: st.Plan}
}

// Retry is how often an action is attempted, and the pause between attempts.
type Retry struct {
	// Attempts counts the first one: 1 means no retry.
	Attempts int            `yaml:"attempts" json:"attempts"`
	Backoff  units.Duration `yaml:"backoff,omitempty" json:"backoff,omitempty"`
}

// Compensation is the action that undoes a step when a later critical step fails.
type Compensation struct {
	Action  string         `yaml:"action" json:"action"`
	With    map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	Timeout units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// DrillOverride is how an action step runs in a drill, so that a drill exercises the plan against
// isolated targets (a drill replica, a scratch DNS record) instead of production.
type DrillOverride struct {
	// With is merged over the step's with (and its compensation's) in a drill: a key set here
	// replaces the step's own.
	With map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	// CompensateWith, when set, is merged over the compensation's with in a drill instead of With:
	// for a compensation whose targets are not the action's (exec's command, for one).
	CompensateWith map[string]any `yaml:"compensate_with,omitempty" json:"compensate_with,omitempty"`
	// Skip leaves the step out of drills: it counts as skipped, but the steps that need it still
	// run, as after a step that succeeded without outputs; a condition on its status sees skipped.
	Skip bool `yaml:"skip,omitempty" json:"skip,omitempty"`
	// SameTargets runs the step in drills on the plan's own targets, knowingly: for an action
	// that changes something harmless to change again, or targets that exist only for drills.
	SameTargets bool `yaml:"same_targets,omitempty" json:"same_targets,omitempty"`
	// Reason says why the step is skipped or runs on its own targets, for the record and report.
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
}

// DrillWith is the parameters of the step's action in a drill: its with, with the keys of
// drill.with that the action (spec) takes set over it. Without drill.with it is with itself.
func (s *Step) DrillWith(spec ActionSpec) map[string]any {
	if s.Drill == nil || len(s.Drill.With) == 0 {
		return s.With
	}
	return overlay(s.With, s.Drill.With, spec)
}

// DrillCompensationWith is the parameters of the step's compensation (spec) in a drill:
// drill.compensate_with set over its with when given, else the keys of drill.with it takes.
func (s *Step) DrillCompensationWith(spec ActionSpec) map[string]any {
	c, d := s.Compensate, s.Drill
	switch {
	case d == nil:
		return c.With
	case len(d.CompensateWith) > 0:
		return overlay(c.With, d.CompensateWith, ActionSpec{})
	case len(d.With) > 0:
		return overlay(c.With, d.With, spec)
	}
	return c.With
}

// overlay is with with over's keys set over it; only those spec takes when spec names an action.
func overlay(with, over map[string]any, spec ActionSpec) map[string]any {
	out := make(map[string]any, len(with)+len(over))
	//workflowcheck:ignore
	for k, v := range with {
		out[k] = v
	}
	//workflowcheck:ignore
	for k, v := range over {
		if _, takes := spec.Param(k); takes || spec.Name == "" {
			out[k] = v
		}
	}
	return out
}

// Expiry is what an approval gate does when its timeout passes.
type Expiry string

// The expiries.
const (
	// ExpiryReject fails the gate.
	ExpiryReject Expiry = "reject"
	// ExpiryEscalate runs the escalation policy and keeps waiting.
	ExpiryEscalate Expiry = "escalate"
)

// Approval waits for Quorum distinct people among Approvers to approve.
type Approval struct {
	Approvers []string       `yaml:"approvers" json:"approvers"`
	Quorum    int            `yaml:"quorum,omitempty" json:"quorum,omitempty"`
	Timeout   units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// OnExpiry is reject unless set.
	OnExpiry Expiry `yaml:"on_expiry,omitempty" json:"on_expiry,omitempty"`
}

// Decision asks Deciders to pick one of Options; later steps test steps.<id>.choice.
type Decision struct {
	Question string         `yaml:"question" json:"question"`
	Options  []string       `yaml:"options" json:"options"`
	Deciders []string       `yaml:"deciders" json:"deciders"`
	Timeout  units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Default is chosen when the timeout passes; without it the step fails.
	Default string `yaml:"default,omitempty" json:"default,omitempty"`
}

// Manual is work done by hand: the step waits until an assignee marks it done.
type Manual struct {
	Instructions string         `yaml:"instructions" json:"instructions"`
	Assignees    []string       `yaml:"assignees" json:"assignees"`
	Timeout      units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Wait pauses the plan, to let replication catch up or caches expire.
type Wait struct {
	Duration units.Duration `yaml:"duration" json:"duration"`
}

// Notify tells people, groups or roles something.
type Notify struct {
	To      []string `yaml:"to" json:"to"`
	Message string   `yaml:"message" json:"message"`
}

// ChildPlan runs another plan, by name, as part of this one.
type ChildPlan struct {
	Name string `yaml:"name" json:"name"`
}

// EffectiveType is the step's type, inferred when Type is empty: the type whose field is set, when
// exactly one is. It is empty when the type cannot be inferred.
func (s Step) EffectiveType() StepType {
	if s.Type != "" {
		return s.Type
	}
	set := s.typesSet()
	if len(set) == 1 {
		return set[0]
	}
	return ""
}

// typesSet lists the types whose fields are set, in stepTypes order.
func (s Step) typesSet() []StepType {
	var set []StepType
	for _, t := range stepTypes {
		if s.hasBlock(t) {
			set = append(set, t)
		}
	}
	return set
}

func (s Step) hasBlock(t StepType) bool {
	switch t {
	case TypeAction:
		return s.Action != ""
	case TypeApproval:
		return s.Approval != nil
	case TypeDecision:
		return s.Decision != nil
	case TypeStrategies:
		return len(s.Strategies) > 0
	case TypeManual:
		return s.Manual != nil
	case TypeWait:
		return s.Wait != nil
	case TypeNotify:
		return s.Notify != nil
	case TypePlan:
		return s.Plan != nil
	}
	return false
}

// Critical reports whether the step's failure stops the plan.
func (s Step) Critical() bool { return s.Impact != ImpactOptional }

// Condition parses the step's when condition; it is nil when there is none.
func (s Step) Condition() (*Expr, error) {
	if strings.TrimSpace(s.When) == "" {
		return nil, nil
	}
	return ParseExpr(s.When)
}

// Step returns the step with the given id, or nil.
func (p *Plan) Step(id string) *Step {
	for i := range p.Spec.Steps {
		if p.Spec.Steps[i].ID == id {
			return &p.Spec.Steps[i]
		}
	}
	return nil
}

var supportedVersions = []string{APIVersion}

// Parse reads a plan from YAML and validates it. Unknown fields are errors naming their line; a plan
// of another apiVersion or kind is refused before its fields are read. Parse fills in each step's
// type (when inferred) and impact. The error lists every problem; the plan is nil when there is any.
func Parse(b []byte) (*Plan, error) {
	p, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Decode reads a plan from YAML without validating it, and fills in each step's type (when it can
// be inferred) and impact.
func Decode(b []byte) (*Plan, error) {
	if len(b) > MaxPlanBytes {
		return nil, fmt.Errorf("plan is %d bytes: the limit is %d", len(b), MaxPlanBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("plan is empty")
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return nil, yamlError(b, err)
	}
	switch {
	case head.APIVersion == "":
		return nil, fmt.Errorf("apiVersion: required (%s)", strings.Join(supportedVersions, ", "))
	case !contains(supportedVersions, head.APIVersion):
		return nil, fmt.Errorf("apiVersion: unsupported version %q: this version of lifeboat reads %s", head.APIVersion, strings.Join(supportedVersions, ", "))
	case head.Kind != Kind:
		return nil, fmt.Errorf("kind: %q is not a plan: want %s", head.Kind, Kind)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, yamlError(b, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, errors.New("more than one YAML document: write one plan per file")
	}
	for i := range p.Spec.Steps {
		s := &p.Spec.Steps[i]
		if s.Type == "" {
			s.Type = s.EffectiveType()
		}
		if s.Impact == "" {
			s.Impact = ImpactCritical
		}
	}
	return &p, nil
}

var (
	unknownField   = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	quotedDuration = regexp.MustCompile(`invalid duration "((?:[^"\\]|\\.)*)"`)
)

// yamlError lists a decoding error's problems, one per line, in the package's words, and adds the
// line to errors yaml.v3 reports without one (values a field's own decoder refuses).
func yamlError(b []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("line %s: unknown field %q", m[1], m[2])
			}
			errs = append(errs, errors.New(e))
		}
		return errors.Join(errs...)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := quotedDuration.FindStringSubmatch(msg); m != nil {
		var root yaml.Node
		if yaml.Unmarshal(b, &root) == nil {
			if line := findScalar(&root, strings.ReplaceAll(m[1], `\"`, `"`)); line > 0 {
				return fmt.Errorf("line %d: %s", line, msg)
			}
		}
	}
	return errors.New(msg)
}

// findScalar returns the line of the first mapping value equal to v, or 0.
func findScalar(n *yaml.Node, v string) int {
	if n.Kind == yaml.ScalarNode && n.Value == v {
		return n.Line
	}
	for _, c := range n.Content {
		if line := findScalar(c, v); line > 0 {
			return line
		}
	}
	return 0
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// FileSHA256 is a plan's version: the SHA-256 of its file's bytes, in hex. Recovery records, the
// audit ledger's plan-change entries and evidence records all name a plan's version by it.
func FileSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Package catalog declares the actions recovery plans may use, each one once: its parameters (a
// struct whose tags give their names, types, defaults, enums and documentation), the outputs it
// produces, whether it changes anything, how it runs, its default timeout and retry, the action
// that undoes it, and what a drill needs of it. Plan validation, the plan JSON Schema, `lifeboat
// plan actions`, docs/actions.md and the worker's dispatch are all derived from these declarations.
//
// The package links no vendor SDK: workflows read it to validate and schedule steps, activities to
// carry them out.
package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Type is the type of a parameter or an output.
type Type string

// The types of parameters and outputs.
const (
	String   Type = "string"
	Int      Type = "int"
	Number   Type = "number" // outputs only: a measure with a fraction, such as seconds of lag
	Bool     Type = "bool"
	Duration Type = "duration" // a string such as "30s" or "2m"
	Secret   Type = "secret"   // the name of a worker secret, never its value
	Time     Type = "time"     // outputs only: an RFC 3339 time
)

// SecretName is the Go type of a secret parameter: the name of a secret in the worker's
// configuration.
type SecretName string

// Effect says whether an action changes anything outside Lifeboat.
type Effect string

// The effects.
const (
	// ReadOnly actions look and report: they run in drills as they are.
	ReadOnly Effect = "read-only"
	// Mutating actions change a system: in a drill they need isolated targets, or to be skipped, or
	// a stated reason to act on the plan's own targets.
	Mutating Effect = "mutating"
)

// Class is how the workflow runs an action.
type Class string

// The execution classes.
const (
	// Local actions are short (one request, one statement) and run as local activities, in the
	// workflow's own worker, without a task queue round trip.
	Local Class = "local activity"
	// Activity actions wait on something outside (a cloud API, a command) and run as activities
	// that heartbeat, on any worker.
	Activity Class = "activity"
	// Child actions run as child workflows with their own record and gates.
	Child Class = "child workflow"
)

// Param is one parameter of an action, as the plan gives it in with:.
type Param struct {
	Name     string   `json:"name"`
	Type     Type     `json:"type"`
	Required bool     `json:"required,omitempty"`
	Default  string   `json:"default,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	// Min is the least value of an int parameter, when it has one.
	Min *int64 `json:"min,omitempty"`
	// Target marks a parameter that names what the action acts on (a server, a record, an
	// instance): a drill's drill.with replaces at least one of them.
	Target bool `json:"target,omitempty"`
	// DrillMust is the value a parameter must have in a drill, when the other values reach what the
	// drill must not touch (restore.asset's in_place must be false).
	DrillMust string `json:"drill_must,omitempty"`
	Doc       string `json:"doc"`

	field int
}

// Output is a value an action reports, which later steps' conditions can test
// (steps.<id>.outputs.<name>).
type Output struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	Doc  string `json:"doc"`
}

// Retry is an action's default retry policy: attempts (the first counts) and the wait before the
// second, doubling after.
type Retry struct {
	Attempts int           `json:"attempts"`
	Backoff  time.Duration `json:"backoff"`
}

// MarshalJSON writes the backoff as a duration ("2s").
func (r Retry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Attempts int    `json:"attempts"`
		Backoff  string `json:"backoff,omitempty"`
	}{r.Attempts, durationText(r.Backoff)})
}

// MarshalJSON writes the timeout as a duration ("2m").
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	return json.Marshal(struct {
		plain
		Timeout string `json:"timeout"`
	}{plain(s), durationText(s.Timeout)})
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return units.Duration(d).Human()
}

// Spec is one action's declaration.
type Spec struct {
	Name    string   `json:"name"`
	Doc     string   `json:"doc"`
	Params  []Param  `json:"params"`
	Outputs []Output `json:"outputs"`
	Effect  Effect   `json:"effect"`
	Class   Class    `json:"class"`
	// Timeout is the default time one attempt may take; a step's timeout: overrides it.
	Timeout time.Duration `json:"timeout"`
	// BoundBy names the duration parameter that bounds one attempt, when the action bounds itself
	// (a check's own timeout): see AttemptBound.
	BoundBy string `json:"bound_by,omitempty"`
	// Retry is the default retry policy; a step's retry: overrides it.
	Retry Retry `json:"retry"`
	// Undo is the action that undoes this one (a step's compensate:), when there is one.
	Undo string `json:"undo,omitempty"`
	// Rehearsal, when set, says what a drill does instead with a step of this action that has no
	// drill block: something that cannot reach the step's targets by construction.
	Rehearsal string `json:"rehearsal,omitempty"`

	params reflect.Type
}

// LocalAttemptLimit is the longest an attempt of an action of the local class may take to run as a
// local activity, which holds its workflow's task: the workflow answers no query (`lifeboat
// status`, the Web UI's current details) until the attempt ends. Longer ones run as activities.
const LocalAttemptLimit = 5 * time.Second

// AttemptBound is how long one attempt with the parameters with can run at most, when the action
// bounds itself (BoundBy): that parameter's value, or its default. False for an action that does
// not, or a value that is not a duration (which validation reports).
func (s Spec) AttemptBound(with map[string]any) (time.Duration, bool) {
	p, ok := s.Param(s.BoundBy)
	if s.BoundBy == "" || !ok || p.Type != Duration {
		return 0, false
	}
	raw, set := with[p.Name]
	if !set || raw == nil {
		if p.Default == "" {
			return 0, false
		}
		raw = defaultValue(p)
	}
	v, msg := convert(p, raw)
	if msg != "" {
		return 0, false
	}
	return v.(time.Duration), true
}

// Param returns the parameter called name.
func (s Spec) Param(name string) (Param, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// ParamNames lists the parameters' names, in declaration order.
func (s Spec) ParamNames() []string {
	out := make([]string, len(s.Params))
	for i, p := range s.Params {
		out[i] = p.Name
	}
	return out
}

// Output returns the output called name.
func (s Spec) Output(name string) (Output, bool) {
	for _, o := range s.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// OutputNames lists the outputs' names, in declaration order.
func (s Spec) OutputNames() []string {
	out := make([]string, len(s.Outputs))
	for i, o := range s.Outputs {
		out[i] = o.Name
	}
	return out
}

// Targets lists the parameters that name what the action acts on.
func (s Spec) Targets() []string {
	var out []string
	for _, p := range s.Params {
		if p.Target {
			out = append(out, p.Name)
		}
	}
	return out
}

// DrillRule says, in a sentence, what a drill needs of a step running this action.
func (s Spec) DrillRule() string {
	if s.Effect == ReadOnly {
		return "runs in drills as it is (read-only)"
	}
	rule := "needs drill.skip or drill.same_targets, each with a reason"
	if t := s.Targets(); len(t) > 0 {
		rule = "needs drill.with setting " + orList(t) + " to an isolated target, drill.skip or drill.same_targets, each with a reason"
	}
	if s.Rehearsal != "" {
		rule = "is rehearsed when it has no drill block: " + s.Rehearsal + "; a drill block " + rule
	}
	for _, p := range s.Params {
		if p.DrillMust != "" {
			rule += "; " + p.Name + " must be " + p.DrillMust + " in a drill"
		}
	}
	return rule
}

func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Action is the handle of a declared action whose parameters are P.
type Action[P any] struct{ spec *Spec }

// Spec is the action's declaration.
func (a Action[P]) Spec() Spec { return *a.spec }

// Name is the action's name, as plans write it.
func (a Action[P]) Name() string { return a.spec.Name }

// Decode reads a step's with: parameters (as YAML or JSON decoded them) into P, with defaults
// applied. Its error names the parameter and what is wrong.
func (a Action[P]) Decode(with map[string]any) (P, error) {
	var p P
	v := reflect.ValueOf(&p).Elem()
	s := a.spec
	for _, k := range sortedKeys(with) {
		if _, ok := s.Param(k); !ok {
			return p, fmt.Errorf("%s has no parameter %q (it has %s)", s.Name, k, listOrNone(s.ParamNames()))
		}
	}
	for _, ps := range s.Params {
		raw, set := with[ps.Name]
		if !set || raw == nil {
			if ps.Required {
				return p, fmt.Errorf("%s: parameter %s is required", s.Name, ps.Name)
			}
			if ps.Default == "" {
				continue
			}
			raw = defaultValue(ps)
		}
		val, msg := convert(ps, raw)
		if msg != "" {
			return p, fmt.Errorf("%s: parameter %s: %s", s.Name, ps.Name, msg)
		}
		v.Field(ps.field).Set(reflect.ValueOf(val).Convert(v.Field(ps.field).Type()))
	}
	return p, nil
}

// Check returns what is wrong with a parameter's value, as YAML or JSON decodes it, or "".
func (p Param) Check(v any) string {
	_, msg := convert(p, v)
	return msg
}

// defaultValue is a parameter's default as a plan would write it.
func defaultValue(p Param) any {
	switch p.Type {
	case Int:
		n, _ := strconv.ParseInt(p.Default, 10, 64)
		return n
	case Bool:
		return p.Default == "true"
	}
	return p.Default
}

var secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// convert checks a value against its parameter and returns it as the parameter's Go type (string,
// int64, bool, time.Duration, SecretName), or what is wrong with it.
func convert(p Param, v any) (any, string) {
	var out any
	switch p.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("want a string, not %s (quote it)", describe(v))
		}
		out = s
	case Int:
		n, ok := wholeNumber(v)
		if !ok {
			return nil, fmt.Sprintf("want a whole number, not %s", describe(v))
		}
		if p.Min != nil && n < *p.Min {
			return nil, fmt.Sprintf("want at least %d, not %d", *p.Min, n)
		}
		out = n
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Sprintf("want true or false, not %s", describe(v))
		}
		out = b
	case Duration:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("want a duration such as \"30s\", not %s", describe(v))
		}
		var d units.Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return nil, err.Error()
		}
		out = d.D()
	case Secret:
		s, ok := v.(string)
		if !ok || !secretNamePattern.MatchString(s) {
			return nil, fmt.Sprintf("want the name of a worker secret, not %s: plans name secrets, never hold their values", describe(v))
		}
		out = SecretName(s)
	default:
		return nil, fmt.Sprintf("the action declares an unknown parameter type %q", p.Type)
	}
	if len(p.Enum) > 0 && !slices.Contains(p.Enum, fmt.Sprint(out)) {
		return nil, fmt.Sprintf("want one of %s, not %s", strings.Join(p.Enum, ", "), describe(v))
	}
	return out, ""
}

func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(v) > 40 {
			return "a longer string"
		}
		return fmt.Sprintf("%q", v)
	case bool, int, int64, uint64, float64, json.Number:
		return fmt.Sprintf("%v", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// registry holds every declared action by name.
var registry = map[string]*Spec{}

// All returns every declared action, by name.
func All() []Spec {
	out := make([]Spec, 0, len(registry))
	for _, name := range sortedKeys(registry) {
		out = append(out, *registry[name])
	}
	return out
}

// Lookup returns the action called name.
func Lookup(name string) (Spec, bool) {
	s, ok := registry[name]
	if !ok {
		return Spec{}, false
	}
	return *s, true
}

// Names lists the declared actions' names, sorted.
func Names() []string { return sortedKeys(registry) }

// ParamsType is the Go type of an action's parameters (for tests that check every one is read).
func (s Spec) ParamsType() reflect.Type { return s.params }

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[SecretName]()
)

// declare registers an action whose parameters are the fields of P, tagged
//
//	param:"name[,required][,target]" doc:"…" [default:"…"] [enum:"a,b"] [min:"0"] [drill:"false"]
//
// It panics on a mistake in a declaration, when the program starts.
func declare[P any](s Spec) Action[P] {
	t := reflect.TypeFor[P]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("catalog: %s: parameters must be a struct, not %s", s.Name, t))
	}
	if _, dup := registry[s.Name]; dup {
		panic("catalog: " + s.Name + " declared twice")
	}
	if s.Effect != ReadOnly && s.Effect != Mutating {
		panic("catalog: " + s.Name + ": effect must be read-only or mutating")
	}
	if s.Timeout <= 0 || s.Retry.Attempts < 1 {
		panic("catalog: " + s.Name + ": needs a default timeout and at least one attempt")
	}
	s.params = t
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("param")
		if !ok {
			panic(fmt.Sprintf("catalog: %s: field %s has no param tag", s.Name, f.Name))
		}
		parts := strings.Split(tag, ",")
		p := Param{Name: parts[0], Doc: f.Tag.Get("doc"), Default: f.Tag.Get("default"), DrillMust: f.Tag.Get("drill"), field: i}
		for _, opt := range parts[1:] {
			switch opt {
			case "required":
				p.Required = true
			case "target":
				p.Target = true
			default:
				panic(fmt.Sprintf("catalog: %s.%s: unknown option %q", s.Name, p.Name, opt))
			}
		}
		if e := f.Tag.Get("enum"); e != "" {
			p.Enum = strings.Split(e, ",")
		}
		if m := f.Tag.Get("min"); m != "" {
			n, err := strconv.ParseInt(m, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("catalog: %s.%s: min %q", s.Name, p.Name, m))
			}
			p.Min = &n
		}
		switch {
		case f.Type == durationType:
			p.Type = Duration
		case f.Type == secretType:
			p.Type = Secret
		case f.Type.Kind() == reflect.String:
			p.Type = String
		case f.Type.Kind() == reflect.Int64:
			p.Type = Int
		case f.Type.Kind() == reflect.Bool:
			p.Type = Bool
		default:
			panic(fmt.Sprintf("catalog: %s.%s: unsupported field type %s", s.Name, p.Name, f.Type))
		}
		if p.Doc == "" {
			panic(fmt.Sprintf("catalog: %s.%s: no doc", s.Name, p.Name))
		}
		if p.Default != "" {
			if p.Required {
				panic(fmt.Sprintf("catalog: %s.%s: a required parameter has no default", s.Name, p.Name))
			}
			if msg := p.Check(defaultValue(p)); msg != "" {
				panic(fmt.Sprintf("catalog: %s.%s: default: %s", s.Name, p.Name, msg))
			}
		}
		s.Params = append(s.Params, p)
	}
	if p, ok := s.Param(s.BoundBy); s.BoundBy != "" && (!ok || p.Type != Duration || p.Default == "") {
		panic(fmt.Sprintf("catalog: %s: bound_by %q is not a duration parameter with a default", s.Name, s.BoundBy))
	}
	for _, o := range s.Outputs {
		if o.Doc == "" || o.Type == "" {
			panic(fmt.Sprintf("catalog: %s: output %s needs a type and a doc", s.Name, o.Name))
		}
	}
	registry[s.Name] = &s
	return Action[P]{spec: registry[s.Name]}
}

package catalog

import (
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Markdown is docs/actions.md: every action with its parameters, outputs, effect, execution,
// defaults, compensation and drill rule. A test keeps the file equal to it.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Actions

<!-- Generated from the declarations in activities/catalog: change them, then run
     go test ./activities/catalog -run TestActionsDoc -update -->

The actions a recovery plan's steps may name (` + "`action:`" + `, with their parameters in ` + "`with:`" + `).
Validation (` + "`lifeboat plan validate`" + `), the worker, the JSON Schema and ` + "`lifeboat plan actions`" + ` all
read the same declarations, so this page lists exactly what they accept.

- **Effect**: a *read-only* action runs in drills as it is. A *mutating* one needs, in its step,
  ` + "`drill.with`" + ` replacing at least one of its targets (marked ◎) with an isolated one, ` + "`drill.skip`" + `, or
  ` + "`drill.same_targets`" + ` — the last two with a ` + "`reason`" + `. A plan that breaks this fails validation, and a drill
  of it is refused when it starts.
- **Runs as**: a *local activity* runs in the workflow's worker without a task queue round trip, and
  holds the workflow's task while it runs (` + "`lifeboat status`" + ` waits for it), so an action of that class
  runs as one only while an attempt is bounded to ` + localLimit + `: by the step's ` + "`timeout:`" + `, or by the
  action's own timeout where it has one; otherwise, and for the *activity* class, it runs as an
  activity, which heartbeats and may run on any worker; a *child workflow* has its own record.
- **Timeout** and **retry** are the defaults; a step's ` + "`timeout:`" + ` and ` + "`retry:`" + ` override them.
- **Outputs** are what later steps' conditions test: ` + "`steps.<id>.outputs.<name>`" + `. A condition on an
  output the action does not declare is a validation error.

`)
	b.WriteString("| Action | Effect | Runs as |\n|---|---|---|\n")
	for _, s := range All() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", s.Name, anchor(s.Name), s.Effect, s.Class)
	}
	for _, s := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", s.Name, s.Doc)
		fmt.Fprintf(&b, "- Effect: %s. In a drill it %s.\n", s.Effect, s.DrillRule())
		fmt.Fprintf(&b, "- Runs as: %s; timeout %s; %s.\n", runsAs(s), units.Duration(s.Timeout).Human(), retryText(s.Retry))
		if s.Undo != "" {
			fmt.Fprintf(&b, "- Undone by: [`%s`](#%s) (as the step's `compensate:`).\n", s.Undo, anchor(s.Undo))
		}
		b.WriteString("\n| Parameter | Type | | Description |\n|---|---|---|---|\n")
		for _, p := range s.Params {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, p.Type, paramFlags(p), paramDoc(p))
		}
		b.WriteString("\n| Output | Type | Description |\n|---|---|---|\n")
		for _, o := range s.Outputs {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", o.Name, o.Type, o.Doc)
		}
	}
	return b.String()
}

// Text writes one action's documentation for the terminal (lifeboat plan actions NAME).
func Text(w io.Writer, s Spec) {
	fmt.Fprintf(w, "%s — %s\n\n", s.Name, s.Doc)
	fmt.Fprintf(w, "Effect:   %s; in a drill it %s\n", s.Effect, s.DrillRule())
	fmt.Fprintf(w, "Runs as:  %s, timeout %s, %s\n", runsAs(s), units.Duration(s.Timeout).Human(), retryText(s.Retry))
	if s.Undo != "" {
		fmt.Fprintf(w, "Undone by: %s\n", s.Undo)
	}
	fmt.Fprintln(w, "\nParameters (with:):")
	for _, p := range s.Params {
		fmt.Fprintf(w, "  %-20s %-8s %s\n", p.Name, p.Type, strings.TrimSpace(paramFlags(p)+" "+paramDoc(p)))
	}
	fmt.Fprintln(w, "\nOutputs (steps.<id>.outputs.<name>):")
	for _, o := range s.Outputs {
		fmt.Fprintf(w, "  %-20s %-8s %s\n", o.Name, o.Type, o.Doc)
	}
}

// localLimit is LocalAttemptLimit as the documentation writes it.
var localLimit = units.Duration(LocalAttemptLimit).Human()

// runsAs says how a step of the action runs: for the local class, when it is a local activity.
func runsAs(s Spec) string {
	if s.Class != Local {
		return string(s.Class)
	}
	if p, ok := s.Param(s.BoundBy); ok {
		return fmt.Sprintf("%s while its %s (default %s) or the step's timeout: is %s or less, otherwise activity", s.Class, p.Name, p.Default, localLimit)
	}
	return fmt.Sprintf("%s when the step's timeout: is %s or less, otherwise activity", s.Class, localLimit)
}

func paramFlags(p Param) string {
	var f []string
	if p.Required {
		f = append(f, "required")
	}
	if p.Target {
		f = append(f, "◎ target")
	}
	return strings.Join(f, ", ")
}

func paramDoc(p Param) string {
	d := p.Doc
	if p.Default != "" {
		d += "; default " + p.Default
	}
	if len(p.Enum) > 0 {
		d += "; one of " + strings.Join(p.Enum, ", ")
	}
	if p.Min != nil {
		d += fmt.Sprintf("; at least %d", *p.Min)
	}
	if p.DrillMust != "" {
		d += "; must be " + p.DrillMust + " in a drill"
	}
	return d
}

func retryText(r Retry) string {
	if r.Attempts <= 1 {
		return "not retried"
	}
	return fmt.Sprintf("%d attempts, %s apart at first, doubling", r.Attempts, units.Duration(r.Backoff).Human())
}

func anchor(name string) string { return strings.ReplaceAll(name, ".", "") }

// SchemaDefs are the JSON Schema definitions docs/plan-schema.json takes from the declarations:
// "action" (the names), "with.NAME" (each action's parameters) and "actionCall", which a step,
// strategy or compensation that names an action applies to its with. A test keeps the file's
// definitions equal to these.
func SchemaDefs() map[string]any {
	defs := map[string]any{}
	var names []any
	var calls []any
	for _, s := range All() {
		names = append(names, s.Name)
		props := map[string]any{}
		var required []any
		for _, p := range s.Params {
			ps := map[string]any{"description": paramDoc(p)}
			switch p.Type {
			case String:
				ps["type"] = "string"
			case Int:
				ps["type"] = "integer"
				if p.Min != nil {
					ps["minimum"] = *p.Min
				}
			case Bool:
				ps["type"] = "boolean"
			case Duration:
				ps["$ref"] = "#/$defs/duration"
			case Secret:
				ps["type"] = "string"
				ps["pattern"] = secretNamePattern.String()
			}
			if len(p.Enum) > 0 {
				enum := make([]any, len(p.Enum))
				for i, e := range p.Enum {
					enum[i] = e
				}
				ps["enum"] = enum
			}
			props[p.Name] = ps
			if p.Required {
				required = append(required, p.Name)
			}
		}
		with := map[string]any{"type": "object", "additionalProperties": false, "properties": props,
			"description": s.Name + "'s parameters: " + s.Doc}
		if len(required) > 0 {
			with["required"] = required
		}
		defs["with."+s.Name] = with
		calls = append(calls, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"action": map[string]any{"const": s.Name}}, "required": []any{"action"}},
			"then": map[string]any{"properties": map[string]any{"with": map[string]any{"$ref": "#/$defs/with." + s.Name}}},
		})
	}
	defs["action"] = map[string]any{"enum": names, "description": "An action's name: see docs/actions.md."}
	defs["actionCall"] = map[string]any{"description": "Checks with against the parameters of the action named.", "allOf": calls}
	return defs
}

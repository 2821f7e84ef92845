package plan

import (
	"encoding/json"
	"slices"
	"strings"
)

// ChangeOp is what happened to a part of a plan.
type ChangeOp string

// The operations.
const (
	Added   ChangeOp = "added"
	Removed ChangeOp = "removed"
	Changed ChangeOp = "changed"
)

// Change is one difference between two plans. Path names the part, with people, groups and steps by
// id ("spec.steps[promote].when"); Old and New are its values as compact JSON (or, for a whole
// person, group or step, a summary), empty on the side where the part does not exist.
type Change struct {
	Op   ChangeOp `json:"op"`
	Path string   `json:"path"`
	Old  string   `json:"old,omitempty"`
	New  string   `json:"new,omitempty"`
}

func (c Change) String() string {
	switch c.Op {
	case Added:
		return "+ " + c.Path + ": " + c.New
	case Removed:
		return "- " + c.Path + ": " + c.Old
	}
	return "~ " + c.Path + ": " + c.Old + " -> " + c.New
}

// sections orders changes by the part of the plan they are in.
var sections = []string{"apiVersion", "kind", "metadata", "spec.scenario", "spec.objectives", "spec.people", "spec.groups",
	"spec.roles", "spec.escalation", "spec"}

func section(path string) int {
	for i, s := range sections {
		if path == s || strings.HasPrefix(path, s+".") || strings.HasPrefix(path, s+"[") {
			return i
		}
	}
	return len(sections)
}

// Diff returns the differences from a to b: metadata, objectives, people, groups, roles and
// escalation first, by path; then each step added, removed or changed (with one change per field),
// steps in b's order followed by the steps only a has, in a's order.
func Diff(a, b *Plan) []Change {
	fa, sa := flattenPlan(a)
	fb, sb := flattenPlan(b)
	changes := diffMaps(fa, fb)
	slices.SortStableFunc(changes, func(x, y Change) int {
		if d := section(x.Path) - section(y.Path); d != 0 {
			return d
		}
		return strings.Compare(x.Path, y.Path)
	})

	rank := map[string]int{}
	for i, id := range stepOrder(b) {
		rank[id] = i
	}
	for i, id := range stepOrder(a) {
		if _, ok := rank[id]; !ok {
			rank[id] = len(b.Spec.Steps) + i
		}
	}
	var stepChanges []Change
	for _, id := range sortedKeys(rank) {
		path := "spec.steps[" + id + "]"
		sta, inA := sa[id]
		stb, inB := sb[id]
		switch {
		case !inA:
			stepChanges = append(stepChanges, Change{Op: Added, Path: path, New: summarize(b.Step(id))})
		case !inB:
			stepChanges = append(stepChanges, Change{Op: Removed, Path: path, Old: summarize(a.Step(id))})
		default:
			fsa, fsb := map[string]string{}, map[string]string{}
			flatten(path, sta, fsa)
			flatten(path, stb, fsb)
			c := diffMaps(fsa, fsb)
			slices.SortFunc(c, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
			stepChanges = append(stepChanges, c...)
		}
	}
	slices.SortStableFunc(stepChanges, func(x, y Change) int { return rank[stepOf(x.Path)] - rank[stepOf(y.Path)] })
	return append(changes, stepChanges...)
}

func stepOf(path string) string {
	rest := strings.TrimPrefix(path, "spec.steps[")
	id, _, _ := strings.Cut(rest, "]")
	return id
}

// stepOrder is the plan's step order, or its declaration order when it has none.
func stepOrder(p *Plan) []string {
	if order, err := p.Order(); err == nil {
		return order
	}
	ids := make([]string, len(p.Spec.Steps))
	for i, s := range p.Spec.Steps {
		ids[i] = s.ID
	}
	return ids
}

func summarize(s *Step) string {
	if s == nil {
		return ""
	}
	out := string(s.EffectiveType())
	if s.Action != "" {
		out += " " + s.Action
	}
	if len(s.Needs) > 0 {
		out += ", needs " + strings.Join(s.Needs, ", ")
	}
	return out
}

// flattenPlan returns the plan's parts as paths and compact JSON values, without its steps, and its
// steps as decoded JSON by id.
func flattenPlan(p *Plan) (map[string]string, map[string]any) {
	b, _ := json.Marshal(p)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	spec, _ := doc["spec"].(map[string]any)
	steps := map[string]any{}
	flat := map[string]string{}
	if spec != nil {
		if list, ok := spec["steps"].([]any); ok {
			for _, s := range list {
				if m, ok := s.(map[string]any); ok {
					if id, _ := m["id"].(string); id != "" {
						delete(m, "id")
						if _, dup := steps[id]; !dup {
							steps[id] = m
						}
					}
				}
			}
		}
		delete(spec, "steps")
		for _, key := range []string{"people", "groups"} {
			list, _ := spec[key].([]any)
			for _, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					continue
				}
				id, _ := m["id"].(string)
				delete(m, "id")
				flat["spec."+key+"["+id+"]"] = compact(m)
			}
			delete(spec, key)
		}
	}
	flatten("", doc, flat)
	return flat, steps
}

// flatten writes v's leaves under prefix: mappings become dotted paths; lists and scalars are
// written as compact JSON.
func flatten(prefix string, v any, out map[string]string) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = compact(v)
		return
	}
	for _, k := range sortedKeys(m) {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, m[k], out)
	}
}

func compact(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "?"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// diffMaps compares flattened values; people and groups (whole values under "[id]") are compared
// field by field.
func diffMaps(a, b map[string]string) []Change {
	var out []Change
	keys := sortedKeys(a)
	for _, k := range sortedKeys(b) {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		va, inA := a[k]
		vb, inB := b[k]
		switch {
		case !inA:
			out = append(out, Change{Op: Added, Path: k, New: vb})
		case !inB:
			out = append(out, Change{Op: Removed, Path: k, Old: va})
		case va != vb:
			if strings.HasSuffix(k, "]") {
				out = append(out, diffEntity(k, va, vb)...)
				continue
			}
			out = append(out, Change{Op: Changed, Path: k, Old: va, New: vb})
		}
	}
	return out
}

// diffEntity compares a person or group present in both plans, field by field.
func diffEntity(path, a, b string) []Change {
	var ma, mb any
	_ = json.Unmarshal([]byte(a), &ma)
	_ = json.Unmarshal([]byte(b), &mb)
	fa, fb := map[string]string{}, map[string]string{}
	flatten(path, ma, fa)
	flatten(path, mb, fb)
	return diffMaps(fa, fb)
}

package runbook

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"slices"
	"unicode/utf8"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// Dimensions of the step graph, in SVG user units (about a pixel at 100%).
const (
	nodeW, nodeH = 190, 46
	gapX, gapY   = 28, 70
	margin       = 20
)

// node is a step placed in the graph.
type node struct {
	step   *plan.Step
	row, x int     // x: the left edge
	col    float64 // the centre, once placed
}

// SVG draws the plan's steps as a graph, top to bottom: one row per wave of steps that can run
// together (plan.Levels), an arrow from each step to the steps that need it, and decision
// branches labelled with the options that lead to them. Arrows into a step that runs only when
// its condition holds are dashed; gates (approvals, decisions, manual steps) have dashed borders.
// It is a standalone SVG document, which HTML can also embed; an invalid plan draws nothing.
func SVG(p *plan.Plan) []byte {
	levels, err := p.Levels()
	if err != nil {
		return nil
	}
	order, _ := p.Order()
	widest := 0
	for _, ids := range levels {
		widest = max(widest, len(ids))
	}
	width := 2*margin + widest*(nodeW+gapX) - gapX
	height := 2*margin + len(levels)*(nodeH+gapY) - gapY
	nodes := map[string]*node{}
	for r, ids := range levels {
		row := make([]*node, len(ids))
		for i, id := range ids {
			row[i] = &node{step: p.Step(id), row: r}
		}
		// Put each step under the steps it needs (their mean position), to shorten and uncross
		// arrows; steps that need nothing earlier keep their declaration order.
		if r > 0 {
			for i, n := range row {
				sum, k := 0.0, 0
				for _, need := range n.step.Needs {
					if m, ok := nodes[need]; ok {
						sum += m.col
						k++
					}
				}
				n.col = float64(i * (nodeW + gapX))
				if k > 0 {
					n.col = sum / float64(k)
				}
			}
			slices.SortStableFunc(row, func(a, b *node) int { return cmp.Compare(a.col, b.col) })
		}
		left := (width - (len(row)*(nodeW+gapX) - gapX)) / 2
		for i, n := range row {
			n.x = left + i*(nodeW+gapX)
			n.col = float64(n.x + nodeW/2)
			nodes[n.step.ID] = n
		}
	}
	labels := edgeLabels(p, order)

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="rb-graph" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`+"\n",
		width, height, width, height, esc("Step graph of plan "+p.Metadata.Name))
	b.WriteString(`<style>
.rb-graph text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; fill: #1a1a1a; }
.rb-graph .rb-node { fill: #f4f6f8; stroke: #444; stroke-width: 1.2; }
.rb-graph .rb-gate { fill: #fff8e6; stroke-dasharray: 5 3; }
.rb-graph .rb-id { font-size: 13px; font-weight: 600; }
.rb-graph .rb-what { font-size: 11px; fill: #444; }
.rb-graph .rb-edge { fill: none; stroke: #555; stroke-width: 1.3; }
.rb-graph .rb-cond { stroke-dasharray: 6 4; }
.rb-graph .rb-label { font-size: 11px; font-style: italic; fill: #7a3b00; }
.rb-graph .rb-label-bg { fill: #fff; stroke: #d9a066; stroke-width: .8; }
</style>
<defs><marker id="rb-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
`)
	top := func(n *node) int { return margin + n.row*(nodeH+gapY) }
	// Arrows first, so that boxes and labels are drawn over them.
	var labelled []string
	for _, id := range order {
		s := nodes[id]
		for _, need := range s.step.Needs {
			from, ok := nodes[need]
			if !ok || from == s {
				continue
			}
			x1, y1 := float64(from.x+nodeW/2), float64(top(from)+nodeH)
			x2, y2 := float64(s.x+nodeW/2), float64(top(s))
			dy := (y2 - y1) / 2
			class := "rb-edge"
			if s.step.When != "" {
				class += " rb-cond"
			}
			fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" d="M%s,%s C%s,%s %s,%s %s,%s" marker-end="url(#rb-arrow)"/>`+"\n",
				class, esc(need), esc(id), num(x1), num(y1), num(x1), num(y1+dy), num(x2), num(y2-dy), num(x2), num(y2))
			if l := labels[id][need]; l != "" {
				// In the gap below the decision: where the curve is gapY/2 below its start.
				t := solveT(y1, y1+dy, y2-dy, y2, y1+float64(gapY)/2)
				lx, ly := bezier(x1, x1, x2, x2, t), bezier(y1, y1+dy, y2-dy, y2, t)
				w := float64(utf8.RuneCountInString(l))*6.2 + 8
				labelled = append(labelled, fmt.Sprintf(`<g class="rb-branch" data-from="%s" data-to="%s"><rect class="rb-label-bg" x="%s" y="%s" width="%s" height="16" rx="3"/><text class="rb-label" x="%s" y="%s" text-anchor="middle">%s</text></g>`,
					esc(need), esc(id), num(lx-w/2), num(ly-8), num(w), num(lx), num(ly+4), esc(l)))
			}
		}
	}
	for _, id := range order {
		n := nodes[id]
		s := n.step
		y := top(n)
		class := "rb-node"
		if s.Type == plan.TypeApproval || s.Type == plan.TypeDecision || s.Type == plan.TypeManual {
			class += " rb-gate"
		}
		fmt.Fprintf(&b, `<g class="rb-step" data-step="%s"><title>%s</title>`, esc(id), esc(id+": "+graphWhat(s)))
		if s.Type == plan.TypeDecision {
			x0, x1, cy, in := n.x, n.x+nodeW, y+nodeH/2, 14
			fmt.Fprintf(&b, `<polygon class="%s" points="%d,%d %d,%d %d,%d %d,%d %d,%d %d,%d"/>`, class,
				x0, cy, x0+in, y, x1-in, y, x1, cy, x1-in, y+nodeH, x0+in, y+nodeH)
		} else {
			fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="%d" height="%d" rx="5"/>`, class, n.x, y, nodeW, nodeH)
		}
		fmt.Fprintf(&b, `<text class="rb-id" x="%d" y="%d" text-anchor="middle">%s</text>`, n.x+nodeW/2, y+19, esc(fit(id, 24)))
		fmt.Fprintf(&b, `<text class="rb-what" x="%d" y="%d" text-anchor="middle">%s</text></g>`+"\n", n.x+nodeW/2, y+36, esc(fit(graphWhat(s), 30)))
	}
	for _, l := range labelled {
		b.WriteString(l + "\n")
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// graphWhat is the second line of a step's box: what kind of step it is.
func graphWhat(s *plan.Step) string {
	switch s.Type {
	case plan.TypeAction:
		return s.Action
	case plan.TypePlan:
		return "plan " + s.Plan.Name
	case plan.TypeWait:
		return "wait " + s.Wait.Duration.Human()
	case plan.TypeStrategies:
		return fmt.Sprintf("strategies (%d)", len(s.Strategies))
	}
	return string(s.Type)
}

// bezier is a coordinate of a cubic Bézier curve at t.
func bezier(p0, p1, p2, p3, t float64) float64 {
	u := 1 - t
	return u*u*u*p0 + 3*u*u*t*p1 + 3*u*t*t*p2 + t*t*t*p3
}

// solveT finds where a curve whose coordinate grows from p0 to p3 reaches v.
func solveT(p0, p1, p2, p3, v float64) float64 {
	lo, hi := 0.0, 1.0
	for range 40 {
		mid := (lo + hi) / 2
		if bezier(p0, p1, p2, p3, mid) < v {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// fit shortens s to n characters, with an ellipsis.
func fit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func num(f float64) string { return fmt.Sprintf("%.1f", f) }

// esc escapes text for XML and HTML alike.
func esc(s string) string { return html.EscapeString(s) }

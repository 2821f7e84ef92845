package plan

import (
	"container/heap"
	"fmt"
	"strings"
)

// CycleError is a set of steps that need each other; Path is one cycle through them, starting and
// ending with the same step.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string { return "cycle: " + strings.Join(e.Path, " -> ") }

// graph is the steps' needs as indices into the plan's steps.
type graph struct {
	ids   []string
	index map[string]int // first step with each id
	needs [][]int        // known needs other than the step itself, without repeats
	// problem is the first duplicate id or need naming no step, if any.
	problem string
}

func newGraph(steps []Step) *graph {
	g := &graph{ids: make([]string, len(steps)), index: make(map[string]int, len(steps)), needs: make([][]int, len(steps))}
	for i, s := range steps {
		g.ids[i] = s.ID
		if _, dup := g.index[s.ID]; !dup {
			g.index[s.ID] = i
		} else if g.problem == "" {
			g.problem = fmt.Sprintf("two steps have the id %q", s.ID)
		}
	}
	for i, s := range steps {
		for _, n := range s.Needs {
			j, ok := g.index[n]
			switch {
			case !ok:
				if g.problem == "" {
					g.problem = fmt.Sprintf("step %q needs unknown step %q", s.ID, n)
				}
			case j != i && !contains(g.needs[i], j):
				g.needs[i] = append(g.needs[i], j)
			}
		}
	}
	return g
}

type minHeap []int

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// order is a topological order of step indices, taking the earliest declared step among those
// ready; ok is false when there is a cycle.
func (g *graph) order() (order []int, ok bool) {
	n := len(g.ids)
	pending := make([]int, n)
	dependents := make([][]int, n)
	for i, needs := range g.needs {
		pending[i] = len(needs)
		for _, j := range needs {
			dependents[j] = append(dependents[j], i)
		}
	}
	ready := &minHeap{}
	for i := range n {
		if pending[i] == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	order = make([]int, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, d := range dependents[i] {
			if pending[d]--; pending[d] == 0 {
				heap.Push(ready, d)
			}
		}
	}
	return order, len(order) == n
}

// cycles returns one cycle through each set of steps that need each other, in the order of each
// set's earliest declared step. Each cycle starts and ends with that step.
func (g *graph) cycles() [][]int {
	// Tarjan's strongly connected components, iteratively, so that long chains cannot exhaust the
	// stack.
	n := len(g.ids)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var sccs [][]int
	next := 0
	type frame struct{ v, edge int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.edge < len(g.needs[f.v]) {
				w := g.needs[f.v][f.edge]
				f.edge++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				parent := call[len(call)-1].v
				low[parent] = min(low[parent], low[v])
			}
			if low[v] == index[v] {
				var scc []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					scc = append(scc, w)
					if w == v {
						break
					}
				}
				if len(scc) > 1 {
					sccs = append(sccs, scc)
				}
			}
		}
	}
	var out [][]int
	for _, scc := range sccs {
		in := make(map[int]bool, len(scc))
		start := scc[0]
		for _, v := range scc {
			in[v] = true
			start = min(start, v)
		}
		out = append(out, g.cycleFrom(start, in))
	}
	// Sort by starting step; the sets are few.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j][0] < out[j-1][0]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// cycleFrom finds the shortest cycle from start back to itself within the component in, following
// needs in declaration order.
func (g *graph) cycleFrom(start int, in map[int]bool) []int {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.needs[v] {
			if !in[w] {
				continue
			}
			if w == start {
				path := []int{start}
				for x := v; x != start; x = prev[x] {
					path = append(path, x)
				}
				path = append(path, start)
				// path is start <- ... <- v <- start backwards along needs; reverse so that
				// each step needs the next.
				for i, j := 1, len(path)-2; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := prev[w]; !seen {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start}
}

func (g *graph) err() error {
	if g.problem != "" {
		return fmt.Errorf("%s", g.problem)
	}
	if c := g.cycles(); len(c) > 0 {
		return &CycleError{Path: g.names(c[0])}
	}
	return nil
}

func (g *graph) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, v := range idx {
		out[i] = g.ids[v]
	}
	return out
}

// Order returns the step ids in an order that puts every step after the steps it needs; among the
// steps ready at any point, the one declared first comes first. It fails when a step needs an unknown
// step or steps need each other (*CycleError).
func (p *Plan) Order() ([]string, error) {
	g := newGraph(p.Spec.Steps)
	order, ok := g.order()
	if g.problem != "" || !ok {
		return nil, g.err()
	}
	return g.names(order), nil
}

// Levels returns the steps in waves: the first holds the steps that need none, and each later one
// the steps whose needs are all in earlier waves, as soon as they are. Steps in a wave can run in
// parallel; each wave lists its steps in declaration order.
func (p *Plan) Levels() ([][]string, error) {
	g := newGraph(p.Spec.Steps)
	order, ok := g.order()
	if g.problem != "" || !ok {
		return nil, g.err()
	}
	level := make([]int, len(order))
	depth := 0
	for _, i := range order {
		for _, j := range g.needs[i] {
			level[i] = max(level[i], level[j]+1)
		}
		depth = max(depth, level[i]+1)
	}
	waves := make([][]string, depth)
	for i, id := range g.ids {
		waves[level[i]] = append(waves[level[i]], id)
	}
	return waves, nil
}

package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Trial is the outcome of one trial of a scenario.
type Trial struct {
	Scenario string
	Index    int
	Seed     uint64
	Passed   bool
	// Reason says why the trial failed.
	Reason string
	// Reuploaded is how many bytes an interrupted attempt stored that its retry stored again
	// (packs in no index); negative when not measured.
	Reuploaded int64
	// Resume is how long the work took to go on after the fault (the kill, to the next attempt's
	// first heartbeat); zero when not measured.
	Resume time.Duration
	// Hit says whether the fault interrupted the step it aimed at (a kill that came after the step
	// had finished still makes a valid trial).
	Hit bool
	// Notes are figures worth reporting about the trial.
	Notes []string
	// Counts are added up over the scenario's trials and printed under the table: "repeated
	// deliveries dropped" → 3.
	Counts map[string]int
	// Dir is the trial's directory when it was kept.
	Dir string
}

// Summary is the trial's line in a running log: outcome, whether the fault hit, and its figures.
func (t Trial) Summary() string {
	var b strings.Builder
	if t.Passed {
		b.WriteString("passed")
	} else {
		b.WriteString("FAILED")
	}
	fmt.Fprintf(&b, ", seed %d, hit %t", t.Seed, t.Hit)
	if t.Resume > 0 {
		fmt.Fprintf(&b, ", resumed after %s", seconds(t.Resume))
	}
	if t.Reuploaded >= 0 {
		fmt.Fprintf(&b, ", re-uploaded %s", units.Bytes(t.Reuploaded))
	}
	return b.String()
}

// Results collects trials and prints them as a table. It is safe for concurrent use.
type Results struct {
	mu     sync.Mutex
	trials []Trial
	order  []string
	notes  map[string][]string
}

// Add records a trial.
func (r *Results) Add(t Trial) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.order, t.Scenario) {
		r.order = append(r.order, t.Scenario)
	}
	r.trials = append(r.trials, t)
}

// Note records a figure about a scenario as a whole.
func (r *Results) Note(scenario, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notes == nil {
		r.notes = map[string][]string{}
	}
	if !slices.Contains(r.order, scenario) {
		r.order = append(r.order, scenario)
	}
	r.notes[scenario] = append(r.notes[scenario], fmt.Sprintf(format, args...))
}

// Failed returns the trials that failed.
func (r *Results) Failed() []Trial {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Trial
	for _, t := range r.trials {
		if !t.Passed {
			out = append(out, t)
		}
	}
	return out
}

// Table prints one line per scenario — trials, passed, bytes re-uploaded (total over the trials),
// time to resume (median and maximum), and faults that hit their step — then each scenario's notes
// and every failure with its seed and reason.
func (r *Results) Table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %6s %7s %18s %30s %5s\n", "scenario", "trials", "passed", "bytes re-uploaded", "time to resume (median / max)", "hit")
	for _, sc := range r.order {
		var n, passed, hit int
		var bytes int64
		measured := false
		var resumes []time.Duration
		for _, t := range r.trials {
			if t.Scenario != sc {
				continue
			}
			n++
			if t.Passed {
				passed++
			}
			if t.Hit {
				hit++
			}
			if t.Reuploaded >= 0 {
				bytes += t.Reuploaded
				measured = true
			}
			if t.Resume > 0 {
				resumes = append(resumes, t.Resume)
			}
		}
		if n == 0 {
			continue
		}
		reup := "-"
		if measured {
			reup = units.Bytes(bytes)
		}
		resume := "-"
		if len(resumes) > 0 {
			slices.Sort(resumes)
			resume = fmt.Sprintf("%s / %s", seconds(median(resumes)), seconds(resumes[len(resumes)-1]))
		}
		fmt.Fprintf(&b, "%-18s %6d %7d %18s %30s %5s\n", sc, n, passed, reup, resume, fmt.Sprintf("%d", hit))
	}
	for _, sc := range r.order {
		for _, note := range r.notes[sc] {
			fmt.Fprintf(&b, "  %s: %s\n", sc, note)
		}
		totals := map[string]int{}
		for _, t := range r.trials {
			if t.Scenario == sc {
				for k, n := range t.Counts {
					totals[k] += n
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(totals)) {
			fmt.Fprintf(&b, "  %s: %s: %d\n", sc, k, totals[k])
		}
	}
	for _, t := range r.trials {
		if !t.Passed {
			fmt.Fprintf(&b, "FAILED %s trial %d (seed %d): %s\n", t.Scenario, t.Index, t.Seed, t.Reason)
			if t.Dir != "" {
				fmt.Fprintf(&b, "  kept in %s\n", t.Dir)
			}
		}
	}
	return b.String()
}

func median(d []time.Duration) time.Duration {
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

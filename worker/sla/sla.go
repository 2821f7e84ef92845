package sla

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// Year is the period availability is counted over: 365 days, 525,600 minutes.
const Year = 365 * 24 * time.Hour

// ErrUnknownService is returned by Compute for a service the configuration does not have.
var ErrUnknownService = errors.New("unknown service")

// Drills gives the RTOs that drills measured.
type Drills interface {
	// LatestRTO returns the RTO measured by the latest successful drill of the plan named plan and
	// when that drill ended; ok is false when no successful drill of the plan is known.
	LatestRTO(plan string) (rto time.Duration, at time.Time, ok bool)
}

// NoDrills is a Drills that knows of no drill: every estimate uses the plans' objective RTOs.
type NoDrills struct{}

// LatestRTO always returns ok false.
func (NoDrills) LatestRTO(string) (time.Duration, time.Time, bool) { return 0, time.Time{}, false }

var _ Drills = NoDrills{}

// Result is a service's availability, computed from its components and dependencies.
type Result struct {
	// Service is the service asked about, with its components and, recursively, its dependencies.
	Service Node `json:"service"`
	// Availability is the composite availability: the service's own components and every service
	// it depends on, directly or not, each counted once, in series.
	Availability config.Percent `json:"availability"`
	// Downtime is the expected downtime a year at that availability.
	Downtime Downtime `json:"downtime_per_year"`
	// Objective compares the availability with the service's objective; nil when it has none.
	Objective *Objective `json:"objective,omitempty"`
	// Limiting is the component with the largest share of the unavailability; nil when nothing
	// is ever down.
	Limiting *Limit `json:"limiting,omitempty"`
	// Estimate is the expected downtime a year from the RTOs drills measured.
	Estimate Estimate `json:"drill_estimate"`
}

// Downtime is a length of downtime a year, in the units people read.
type Downtime struct {
	Duration units.Duration `json:"duration"`
	Minutes  float64        `json:"minutes"`
	Hours    float64        `json:"hours"`
}

// downtime is the downtime a year of an unavailability u (a fraction).
func downtime(u float64) Downtime {
	d := time.Duration(u * float64(Year)).Round(time.Second)
	return Downtime{
		Duration: units.Duration(d),
		Minutes:  math.Round(u*Year.Minutes()*100) / 100,
		Hours:    math.Round(u*Year.Hours()*1000) / 1000,
	}
}

// String writes the downtime as "5h25m51s (325.86 min)".
func (d Downtime) String() string {
	return fmt.Sprintf("%s (%s min)", d.Duration.Human(), trimFloat(d.Minutes, 2))
}

// Node is a service in the result tree.
type Node struct {
	Name string `json:"name"`
	// Own is the availability of the service's own components in series.
	Own config.Percent `json:"own_availability"`
	// Availability is Own times the own availability of every service it depends on, directly or
	// not, each counted once.
	Availability config.Percent `json:"availability"`
	// Downtime is the expected downtime a year at Availability.
	Downtime   Downtime    `json:"downtime_per_year"`
	Components []Component `json:"components,omitempty"`
	DependsOn  []Node      `json:"depends_on,omitempty"`
	// CountedAbove marks a dependency that appears earlier in the tree: it is shown, and counted, there.
	CountedAbove bool `json:"counted_above,omitempty"`
}

// Component is a component or a redundant member in the result tree.
type Component struct {
	Name     string `json:"name"`
	Asset    string `json:"asset,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Plan     string `json:"plan,omitempty"`
	// Availability is the component's configured availability, or for a redundant group
	// Parallel less the failover time.
	Availability    config.Percent `json:"availability"`
	Downtime        Downtime       `json:"downtime_per_year"`
	FailuresPerYear float64        `json:"failures_per_year,omitempty"`
	// Members are a redundant group's members, in parallel.
	Members []Component `json:"members,omitempty"`
	// Parallel is a group's availability from its members alone: 1 − Π(1 − Aᵢ).
	Parallel config.Percent `json:"parallel_availability,omitempty"`
	// Failover is how long a group's switch to another member takes, and FailoverLoss what
	// FailuresPerYear of them cost a year.
	Failover     units.Duration `json:"failover,omitempty"`
	FailoverLoss units.Duration `json:"failover_loss_per_year,omitempty"`

	u, parallelU, lossU float64 // unavailabilities as fractions
}

// Objective is a service's availability objective against its computed availability.
type Objective struct {
	Availability config.Percent `json:"availability"`
	// Allowed is the downtime a year the objective allows.
	Allowed Downtime `json:"allowed_downtime_per_year"`
	Met     bool     `json:"met"`
	// Margin is Allowed less the expected downtime: negative when the objective is missed.
	Margin units.Duration `json:"margin"`
}

// Limit names the component that limits the service's availability most.
type Limit struct {
	Service   string `json:"service"`
	Component string `json:"component"`
	// Share is the component's part of the sum of the unavailabilities of everything in series,
	// as a percentage.
	Share    float64  `json:"share_percent"`
	Downtime Downtime `json:"downtime_per_year"`
	// Why says what makes it limit the service.
	Why string `json:"why"`
}

// Estimate is the expected downtime a year from the RTOs drills measured: Σ failures_per_year ×
// RTO over the components that have a plan and failures_per_year.
type Estimate struct {
	Downtime Downtime `json:"downtime_per_year"`
	// Complete is false when some component's RTO is unknown: no drill measured it and its plan
	// has no RTO objective. Its failures are then not counted.
	Complete bool `json:"complete"`
	// Measured is true when every RTO counted was measured by a drill.
	Measured bool          `json:"measured"`
	Rows     []EstimateRow `json:"components"`
	// WithinObjective compares Downtime with the downtime the objective allows; nil without one.
	WithinObjective *bool `json:"within_objective,omitempty"`
}

// Sources of an EstimateRow's RTO.
const (
	SourceMeasured  = "measured"  // the plan's latest successful drill
	SourceObjective = "objective" // not measured: the plan's objective RTO
	SourceNone      = "none"      // neither
)

// EstimateRow is one component's part of the drill estimate.
type EstimateRow struct {
	Service         string         `json:"service"`
	Component       string         `json:"component"`
	Plan            string         `json:"plan"`
	FailuresPerYear float64        `json:"failures_per_year"`
	RTO             units.Duration `json:"rto,omitempty"`
	Source          string         `json:"source"`
	MeasuredAt      time.Time      `json:"measured_at,omitzero"`
	Downtime        units.Duration `json:"downtime_per_year"`
	// Note says where the RTO comes from, or why there is none.
	Note string `json:"note"`
}

// Compute returns the availability of the service called name among services. plans (by name)
// give the objective RTOs the drill estimate falls back on; drills the measured ones. A dependency
// that several services share is computed and counted once. It returns ErrUnknownService for a
// name not in services, and an error for a dependency that is missing or forms a cycle (which
// configuration validation refuses).
func Compute(services []config.Service, plans map[string]*plan.Plan, name string, drills Drills) (Result, error) {
	byName := map[string]config.Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	if _, ok := byName[name]; !ok {
		known := make([]string, 0, len(services))
		for _, s := range services {
			known = append(known, s.Name)
		}
		if len(known) == 0 {
			return Result{}, fmt.Errorf("service %q: %w (the configuration has no services)", name, ErrUnknownService)
		}
		return Result{}, fmt.Errorf("service %q: %w (known: %s)", name, ErrUnknownService, strings.Join(known, ", "))
	}
	if drills == nil {
		drills = NoDrills{}
	}
	c := computer{byName: byName, own: map[string]Node{}, ownU: map[string]float64{}}
	// order is every service in the tree, the asked one first, each once.
	var order []string
	root, err := c.node(name, map[string]bool{}, map[string]bool{}, &order)
	if err != nil {
		return Result{}, err
	}
	r := Result{Service: root}
	avail := 1.0
	type part struct {
		service string
		comp    Component
	}
	var parts []part
	for _, s := range order {
		avail *= 1 - c.ownU[s]
		for _, comp := range c.own[s].Components {
			parts = append(parts, part{s, comp})
		}
	}
	u := 1 - avail
	r.Availability = percent(avail)
	r.Downtime = downtime(u)

	svc := byName[name]
	if o := svc.Objectives.Availability; o > 0 {
		allowedU := 1 - o.Fraction()
		r.Objective = &Objective{
			Availability: o,
			Allowed:      downtime(allowedU),
			Met:          avail >= o.Fraction()-1e-12,
			Margin:       units.Duration(time.Duration((allowedU - u) * float64(Year)).Round(time.Second)),
		}
	}

	var sum float64
	best := -1
	for i, p := range parts {
		sum += p.comp.u
		if best < 0 || p.comp.u > parts[best].comp.u {
			best = i
		}
	}
	if best >= 0 && sum > 0 {
		p := parts[best]
		r.Limiting = &Limit{
			Service:   p.service,
			Component: p.comp.Name,
			Share:     math.Round(p.comp.u/sum*1000) / 10,
			Downtime:  p.comp.Downtime,
			Why:       why(p.comp),
		}
	}

	r.Estimate = estimate(byName, order, plans, drills)
	if r.Objective != nil {
		within := r.Estimate.Downtime.Duration <= r.Objective.Allowed.Duration
		r.Estimate.WithinObjective = &within
	}
	return r, nil
}

// computer computes each service's own availability once.
type computer struct {
	byName map[string]config.Service
	own    map[string]Node    // services computed, without dependencies
	ownU   map[string]float64 // their own unavailability
}

// node returns the tree of service name. onPath holds the services above it (a cycle check);
// shown the services already in the tree, which are marked CountedAbove when they appear again.
// order collects the services in the order they are first shown.
func (c *computer) node(name string, onPath, shown map[string]bool, order *[]string) (Node, error) {
	s, ok := c.byName[name]
	if !ok {
		return Node{}, fmt.Errorf("service %q: %w", name, ErrUnknownService)
	}
	if onPath[name] {
		return Node{}, fmt.Errorf("service %q depends on itself through depends_on", name)
	}
	own, ok := c.own[name]
	if !ok {
		own = Node{Name: name}
		a := 1.0
		for _, comp := range s.Components {
			cr := component(comp)
			own.Components = append(own.Components, cr)
			a *= 1 - cr.u
		}
		own.Own = percent(a)
		c.own[name] = own
		c.ownU[name] = 1 - a
	}
	n := own
	if shown[name] {
		a := c.composite(name)
		return Node{Name: name, Own: own.Own, Availability: percent(a), Downtime: downtime(1 - a), CountedAbove: true}, nil
	}
	shown[name] = true
	*order = append(*order, name)
	onPath[name] = true
	defer delete(onPath, name)
	for _, d := range s.DependsOn {
		dn, err := c.node(d, onPath, shown, order)
		if err != nil {
			return Node{}, fmt.Errorf("service %q: depends_on: %w", name, err)
		}
		n.DependsOn = append(n.DependsOn, dn)
	}
	a := c.composite(name)
	n.Availability, n.Downtime = percent(a), downtime(1-a)
	return n, nil
}

// composite is the availability of a computed service and of every service it depends on,
// directly or not, each counted once.
func (c *computer) composite(name string) float64 {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range c.byName[n].DependsOn {
			walk(d)
		}
	}
	walk(name)
	a := 1.0
	for n := range seen {
		a *= 1 - c.ownU[n]
	}
	return a
}

// component computes a component: a leaf's configured availability, or a group's members in
// parallel less its failover time.
func component(c config.Component) Component {
	r := Component{Name: c.Name, Asset: c.Asset, Endpoint: c.Endpoint, Plan: c.Plan, FailuresPerYear: c.FailuresPerYear}
	if len(c.Redundant) == 0 {
		r.u = 1 - c.Availability.Fraction()
	} else {
		r.parallelU = 1.0
		for _, m := range c.Redundant {
			mr := component(m)
			r.Members = append(r.Members, mr)
			r.parallelU *= mr.u
		}
		r.Failover = c.Failover
		r.lossU = c.FailuresPerYear * c.Failover.D().Seconds() / Year.Seconds()
		r.FailoverLoss = units.Duration(time.Duration(c.FailuresPerYear * float64(c.Failover)).Round(time.Second))
		r.Parallel = percent(1 - r.parallelU)
		r.u = min(r.parallelU+r.lossU, 1)
	}
	r.Availability = percent(1 - r.u)
	r.Downtime = downtime(r.u)
	return r
}

// why says what makes c limit its service.
func why(c Component) string {
	if len(c.Members) == 0 {
		return fmt.Sprintf("its own availability of %s allows %s of downtime a year, and it has no redundant member", c.Availability, c.Downtime.Duration.Human())
	}
	if c.lossU >= c.parallelU {
		return fmt.Sprintf("its failovers, %s a year of %s each, lose %s a year: more than all its members being down at once (%s)",
			trimFloat(c.FailuresPerYear, 2), c.Failover.Human(), c.FailoverLoss.Human(), downtime(c.parallelU).Duration.Human())
	}
	return fmt.Sprintf("all its members are down at once %s a year (their availabilities in parallel give %s), more than its failovers lose (%s)",
		downtime(c.parallelU).Duration.Human(), c.Parallel, c.FailoverLoss.Human())
}

// estimate sums failures_per_year × RTO over the components, and redundant members, of the
// services in order that have a plan and failures_per_year.
func estimate(byName map[string]config.Service, order []string, plans map[string]*plan.Plan, drills Drills) Estimate {
	e := Estimate{Complete: true, Measured: true, Rows: []EstimateRow{}}
	var total time.Duration
	for _, s := range order {
		for _, c := range byName[s].AllComponents() {
			if c.Plan == "" || c.FailuresPerYear <= 0 {
				continue
			}
			row := EstimateRow{Service: s, Component: c.Name, Plan: c.Plan, FailuresPerYear: c.FailuresPerYear}
			if rto, at, ok := drills.LatestRTO(c.Plan); ok {
				row.RTO, row.Source, row.MeasuredAt = units.Duration(rto), SourceMeasured, at
				row.Note = "measured by the drill of " + at.UTC().Format(time.RFC3339)
			} else if p := plans[c.Plan]; p != nil && p.Spec.Objectives.RTO > 0 {
				row.RTO, row.Source = p.Spec.Objectives.RTO, SourceObjective
				row.Note = "not measured: the plan's objective RTO"
				e.Measured = false
			} else {
				row.Source = SourceNone
				row.Note = "not measured, and the plan has no RTO objective: not counted"
				e.Complete, e.Measured = false, false
			}
			d := time.Duration(c.FailuresPerYear * float64(row.RTO)).Round(time.Second)
			row.Downtime = units.Duration(d)
			total += d
			e.Rows = append(e.Rows, row)
		}
	}
	if len(e.Rows) == 0 {
		e.Measured = false
	}
	e.Downtime = downtime(total.Seconds() / Year.Seconds())
	return e
}

// percent turns a fraction into a percentage, to 6 decimals.
func percent(f float64) config.Percent {
	return config.Percent(math.Round(f*1e8) / 1e6)
}

// trimFloat writes f with at most prec decimals and no trailing zeros.
func trimFloat(f float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, f)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

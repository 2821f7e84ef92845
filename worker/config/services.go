package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Service is something users depend on, made of components (assets, endpoints and the plans that
// recover them), with its own objectives. `lifeboat readiness` and `lifeboat sla` read services.
type Service struct {
	// Name identifies the service: 1-63 lower-case letters, digits and '-'.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Owners are the people or groups of the identity directory who answer for the service.
	Owners []string `yaml:"owners,omitempty" json:"owners,omitempty"`
	// Objectives are what the service must achieve: RTO, RPO and availability.
	Objectives ServiceObjectives `yaml:"objectives,omitempty" json:"objectives,omitzero"`
	// DependsOn are other services this one needs to serve: each counts in series.
	DependsOn []string `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	// Components are what the service is made of. All of them are needed (in series); a component
	// with redundant members is up while any member is.
	Components []Component `yaml:"components" json:"components"`
}

// ServiceObjectives are a service's objectives.
type ServiceObjectives struct {
	RTO units.Duration `yaml:"rto,omitempty" json:"rto,omitempty"`
	RPO units.Duration `yaml:"rpo,omitempty" json:"rpo,omitempty"`
	// Availability is the share of the time the service is to be up, as a percentage (99.9).
	Availability Percent `yaml:"availability,omitempty" json:"availability,omitempty"`
}

// Component is a part of a service: an asset, an endpoint (a configured probe check), or a group
// of redundant members. Plan names the recovery plan that brings it back.
type Component struct {
	// Name identifies the component within its service.
	Name string `yaml:"name" json:"name"`
	// Asset is the name of a configured asset this component's data lives in.
	Asset string `yaml:"asset,omitempty" json:"asset,omitempty"`
	// Endpoint is the name of a configured probe check that tells whether the component is up.
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// Plan is the recovery plan (by name) that recovers the component or fails it over.
	Plan string `yaml:"plan,omitempty" json:"plan,omitempty"`
	// Availability is the component's own availability as a percentage (its provider's SLA or
	// what it has measured). Required for a component without redundant members.
	Availability Percent `yaml:"availability,omitempty" json:"availability,omitempty"`
	// FailuresPerYear is how often the component is expected to fail: with the measured RTO of its
	// plan it gives the expected downtime a year, and for a redundant group it is how often the
	// active member fails over.
	FailuresPerYear float64 `yaml:"failures_per_year,omitempty" json:"failures_per_year,omitempty"`
	// Redundant are members of which any one serves: the component is down only while all are.
	Redundant []Component `yaml:"redundant,omitempty" json:"redundant,omitempty"`
	// Failover is how long switching to another member takes; each of the FailuresPerYear costs it.
	Failover units.Duration `yaml:"failover,omitempty" json:"failover,omitempty"`
}

// Percent is a percentage between 0 and 100, written as 99.95 or "99.95%".
type Percent float64

// Fraction is the percentage as a fraction of one.
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// String writes the percentage with as many decimals as it has, up to five.
func (p Percent) String() string {
	return strconv.FormatFloat(math.Round(float64(p)*1e5)/1e5, 'f', -1, 64) + "%"
}

// UnmarshalYAML reads 99.95 or "99.95%".
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(n.Value), "%"))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return fmt.Errorf("line %d: %q is not a percentage between 0 and 100", n.Line, n.Value)
	}
	*p = Percent(v)
	return nil
}

// serviceName is what a service or component may be called.
var serviceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ServiceByName returns the service called name.
func (c Config) ServiceByName(name string) (Service, bool) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// validateServices returns every problem with the services section: names, that the assets,
// endpoints, owners and services it names exist, that components have what their availability
// needs, and that dependencies form no cycle. Plans are checked against the plans directory by
// CheckPlans.
func (c Config) validateServices() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	assets := map[string]bool{}
	for _, a := range c.Assets {
		assets[a.Name] = true
	}
	checks := map[string]bool{}
	for _, ch := range c.Probes.Checks {
		checks[ch.Name] = true
	}
	names := map[string]bool{}
	for _, s := range c.Services {
		names[s.Name] = true
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		path := fmt.Sprintf("services[%d]", i)
		if s.Name != "" {
			path += " (" + s.Name + ")"
		}
		switch {
		case !serviceName.MatchString(s.Name):
			bad(path+".name", "%q: use 1-63 lower-case letters, digits and '-'", s.Name)
		case seen[s.Name]:
			bad(path+".name", "%q is given twice", s.Name)
		}
		seen[s.Name] = true
		for _, o := range s.Owners {
			_, isGroup := c.Identity.Group(o)
			if _, err := c.Identity.Resolve(o); err != nil && !isGroup {
				bad(path+".owners", "%q is neither a person nor a group of the identity directory", o)
			}
		}
		for _, d := range s.DependsOn {
			if !names[d] {
				bad(path+".depends_on", "service %q is not in services", d)
			}
			if d == s.Name {
				bad(path+".depends_on", "a service cannot depend on itself")
			}
		}
		if len(s.Components) == 0 {
			bad(path+".components", "name at least one component")
		}
		compSeen := map[string]bool{}
		var walk func(cs []Component, path string, inGroup bool)
		walk = func(cs []Component, path string, inGroup bool) {
			for j, comp := range cs {
				p := fmt.Sprintf("%s[%d]", path, j)
				if comp.Name != "" {
					p += " (" + comp.Name + ")"
				}
				switch {
				case !serviceName.MatchString(comp.Name):
					bad(p+".name", "%q: use 1-63 lower-case letters, digits and '-'", comp.Name)
				case compSeen[comp.Name]:
					bad(p+".name", "%q is given twice in this service", comp.Name)
				}
				compSeen[comp.Name] = true
				if comp.Asset != "" && !assets[comp.Asset] {
					bad(p+".asset", "asset %q is not in assets", comp.Asset)
				}
				if comp.Endpoint != "" && !checks[comp.Endpoint] {
					bad(p+".endpoint", "check %q is not in probes.checks", comp.Endpoint)
				}
				if comp.FailuresPerYear < 0 || math.IsNaN(comp.FailuresPerYear) || math.IsInf(comp.FailuresPerYear, 0) {
					bad(p+".failures_per_year", "%v: give a number of failures a year, 0 or more", comp.FailuresPerYear)
				}
				if len(comp.Redundant) > 0 {
					if inGroup {
						bad(p+".redundant", "a redundant member cannot have redundant members of its own: list them all in one group")
					}
					if len(comp.Redundant) < 2 {
						bad(p+".redundant", "name at least two members (one member is not redundancy)")
					}
					if comp.Availability != 0 {
						bad(p+".availability", "a redundant group's availability follows from its members': give it on each member")
					}
					if comp.Failover > 0 && comp.FailuresPerYear == 0 {
						bad(p+".failures_per_year", "required with failover: how often the active member fails, and so how often the failover time is lost")
					}
					walk(comp.Redundant, p+".redundant", true)
					continue
				}
				if comp.Failover != 0 {
					bad(p+".failover", "only a group with redundant members fails over")
				}
				if comp.Availability <= 0 {
					bad(p+".availability", "required: the component's availability as a percentage, such as 99.9")
				}
			}
		}
		walk(s.Components, path+".components", false)
	}
	if cycle := serviceCycle(c.Services); cycle != nil {
		bad("services", "depends_on forms a cycle: %s", strings.Join(cycle, " → "))
	}
	return errors.Join(errs...)
}

// serviceCycle returns a dependency cycle among services, or nil.
func serviceCycle(services []Service) []string {
	deps := map[string][]string{}
	for _, s := range services {
		deps[s.Name] = s.DependsOn
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		switch state[n] {
		case visiting:
			i := slices.Index(stack, n)
			return append(slices.Clone(stack[i:]), n)
		case done:
			return nil
		}
		state[n] = visiting
		stack = append(stack, n)
		for _, d := range deps[n] {
			if d == n {
				continue
			}
			if c := visit(d); c != nil {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if c := visit(n); c != nil {
			return c
		}
	}
	return nil
}

// PlanFile is a plan as read from recovery.plans_dir, with the SHA-256 of its file's bytes (the
// version drills and the audit ledger record).
type PlanFile struct {
	*plan.Plan
	File   string
	SHA256 string
}

// Plans reads the plans of recovery.plans_dir, by name. A file that does not parse or validate is
// returned in the error, naming the file; the others are still returned.
func (c Config) Plans() (map[string]PlanFile, error) {
	out := map[string]PlanFile{}
	if c.Recovery.PlansDir == "" {
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(c.Recovery.PlansDir, "*.y*ml"))
	if err != nil {
		return out, fmt.Errorf("recovery.plans_dir: %w", err)
	}
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("recovery.plans_dir: %w", err))
			continue
		}
		p, err := plan.Parse(b)
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("plan %s: %w", filepath.Base(f), err))
			continue
		}
		if other, ok := out[p.Metadata.Name]; ok {
			errs = append(errs, fmt.Errorf("plan %s: the name %q is taken by %s", filepath.Base(f), p.Metadata.Name, other.File))
			continue
		}
		out[p.Metadata.Name] = PlanFile{Plan: p, File: filepath.Base(f), SHA256: plan.FileSHA256(b)}
	}
	return out, errors.Join(errs...)
}

// PlanConfigVersion is the SHA-256 of the parts of the configuration a plan's runs depend on: the
// recovery section (commands, their environment, drill skips) and the services and assets the plan
// says it recovers. A drill counts for the plan as it is now only if this has not changed since.
func (c Config) PlanConfigVersion(p *plan.Plan) string {
	rec := c.Recovery
	rec.PlansDir = ""
	v := struct {
		Recovery Recovery      `json:"recovery"`
		Services []Service     `json:"services"`
		Assets   []asset.Asset `json:"assets"`
	}{Recovery: rec}
	for _, s := range c.Services {
		if slices.Contains(p.Spec.Recovers.Services, s.Name) {
			v.Services = append(v.Services, s)
		}
	}
	for _, a := range c.Assets {
		if slices.Contains(p.Spec.Recovers.Assets, a.Name) {
			v.Assets = append(v.Assets, a)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Every field marshals; a failure would be a programming error, and an empty version
		// makes readiness ask for a drill rather than vouch for one.
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CheckPlans returns every problem between the services and assets of the configuration and the
// plans: a plan that says it recovers a service or asset the configuration does not have, and a
// component whose plan is not among plans.
func (c Config) CheckPlans(plans map[string]PlanFile) error {
	var errs []error
	assets := map[string]bool{}
	for _, a := range c.Assets {
		assets[a.Name] = true
	}
	services := map[string]bool{}
	for _, s := range c.Services {
		services[s.Name] = true
	}
	names := make([]string, 0, len(plans))
	for n := range plans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := plans[n].Spec.Recovers
		for _, s := range r.Services {
			if !services[s] {
				errs = append(errs, fmt.Errorf("plan %s: spec.recovers.services: service %q is not in the configuration's services", n, s))
			}
		}
		for _, a := range r.Assets {
			if !assets[a] {
				errs = append(errs, fmt.Errorf("plan %s: spec.recovers.assets: asset %q is not in the configuration's assets", n, a))
			}
		}
	}
	for i, s := range c.Services {
		for _, comp := range s.AllComponents() {
			if _, ok := plans[comp.Plan]; comp.Plan != "" && !ok {
				errs = append(errs, fmt.Errorf("services[%d] (%s) component %s: plan %q is not in recovery.plans_dir", i, s.Name, comp.Name, comp.Plan))
			}
		}
	}
	return errors.Join(errs...)
}

// AllComponents returns the service's components and their redundant members, depth first.
func (s Service) AllComponents() []Component {
	var out []Component
	var walk func([]Component)
	walk = func(cs []Component) {
		for _, c := range cs {
			out = append(out, c)
			walk(c.Redundant)
		}
	}
	walk(s.Components)
	return out
}

// PlansFor returns the names of the plans that recover the service: those its components name and
// those that say they recover it (spec.recovers.services), sorted.
func (s Service) PlansFor(plans map[string]PlanFile) []string {
	set := map[string]bool{}
	for _, c := range s.AllComponents() {
		if c.Plan != "" {
			set[c.Plan] = true
		}
	}
	for n, p := range plans {
		if slices.Contains(p.Spec.Recovers.Services, s.Name) {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Readiness configures `lifeboat readiness` and the worker's readiness page.
type Readiness struct {
	// DrillInterval is how often each plan is to be drilled: a plan whose last passing drill is
	// older is overdue (default 2160h, 90 days).
	DrillInterval units.Duration `yaml:"drill_interval"`
	// Window is how far back RPO compliance is shown (default 720h, 30 days; at most 8784h).
	Window units.Duration `yaml:"window"`
}

// Validate returns every problem with the section.
func (r Readiness) Validate() error {
	var errs []error
	if d := r.DrillInterval.D(); d != 0 && d < time.Hour {
		errs = append(errs, fmt.Errorf("readiness.drill_interval: %s: at least 1h", r.DrillInterval))
	}
	if w := r.Window.D(); w != 0 && (w < 24*time.Hour || w > 366*24*time.Hour) {
		errs = append(errs, fmt.Errorf("readiness.window: %s: between 24h and 8784h (a year)", r.Window))
	}
	return errors.Join(errs...)
}

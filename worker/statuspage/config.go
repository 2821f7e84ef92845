package statuspage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Defaults of Config's tunables.
const (
	DefaultTitle          = "Service status"
	DefaultIncidentWindow = 14 * 24 * time.Hour
	DefaultCacheTTL       = 5 * time.Second
	DefaultRefresh        = 15 * time.Second
	// MaxIncidents is the most finished recoveries the page lists.
	MaxIncidents = 50
)

// Config is the status_page section of the worker's configuration: what the public sees and what
// each part of it is made of. The page is served when at least one component is configured.
type Config struct {
	// Title heads the page (default "Service status").
	Title string `yaml:"title" json:"title,omitempty"`
	// Components are the parts of the service the page reports on, shown in this order.
	Components []Component `yaml:"components" json:"components"`
	// DrillsAsMaintenance shows a component as under maintenance while a drill of one of its plans
	// runs. Off (the default), a drill leaves the component operational, with a note.
	DrillsAsMaintenance bool `yaml:"drills_as_maintenance" json:"drills_as_maintenance,omitempty"`
	// Overrides set a component's state by hand, for planned maintenance or to correct what the page
	// derives. An override in force replaces the derived state, whether better or worse.
	Overrides []Override `yaml:"overrides" json:"overrides,omitempty"`
	// IncidentWindow is how far back finished recoveries are listed (default 336h, 14 days).
	IncidentWindow units.Duration `yaml:"incident_window" json:"incident_window,omitempty"`
	// CacheTTL is how long one reading of Temporal serves every visitor (default 5s).
	CacheTTL units.Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty"`
	// Refresh is how often an open page updates itself (default 15s).
	Refresh units.Duration `yaml:"refresh" json:"refresh,omitempty"`
}

// Component is one part of the service as the public knows it ("Checkout", "Customer database").
type Component struct {
	// Name is shown on the page, and overrides refer to the component by it.
	Name string `yaml:"name" json:"name"`
	// Description is one line under the name, for the public.
	Description string `yaml:"description" json:"description,omitempty"`
	// Assets are the protected assets (by name) whose backups the component depends on: when an
	// asset's RPO watchdog finds its last good backup too old, the component is degraded.
	Assets []string `yaml:"assets" json:"assets,omitempty"`
	// Plans are the recovery plans (by metadata.name) that restore the component: while one runs as
	// a recovery, the component is in outage. Only recoveries and drills of listed plans appear on
	// the page.
	Plans []string `yaml:"plans" json:"plans,omitempty"`
	// RecoveryState is the component's state while a recovery of one of its plans runs:
	// major_outage (the default) or partial_outage.
	RecoveryState State `yaml:"recovery_state" json:"recovery_state,omitempty"`
}

// Override sets a component's state by hand between From and Until.
type Override struct {
	// Component names the component (its name).
	Component string `yaml:"component" json:"component"`
	// State replaces the derived state: operational, degraded, partial_outage, major_outage or
	// maintenance.
	State State `yaml:"state" json:"state"`
	// Message says why, in words for the public; it is shown next to the component.
	Message string `yaml:"message" json:"message,omitempty"`
	// From is when the override begins (default: at once). Until it begins, a maintenance override
	// is listed as planned.
	From time.Time `yaml:"from" json:"from,omitzero"`
	// Until is when the override ends (default: never; remove it from the file).
	Until time.Time `yaml:"until" json:"until,omitzero"`
}

// activeAt reports whether the override is in force at t.
func (o Override) activeAt(t time.Time) bool {
	return !t.Before(o.From) && (o.Until.IsZero() || t.Before(o.Until))
}

// WithDefaults returns c with every unset tunable at its default.
func (c Config) WithDefaults() Config {
	if strings.TrimSpace(c.Title) == "" {
		c.Title = DefaultTitle
	}
	if c.IncidentWindow == 0 {
		c.IncidentWindow = units.Duration(DefaultIncidentWindow)
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = units.Duration(DefaultCacheTTL)
	}
	if c.Refresh == 0 {
		c.Refresh = units.Duration(DefaultRefresh)
	}
	c.Components = slices.Clone(c.Components)
	for i := range c.Components {
		if c.Components[i].RecoveryState == "" {
			c.Components[i].RecoveryState = MajorOutage
		}
	}
	return c
}

// Enabled reports whether the page has anything to show: at least one component.
func (c Config) Enabled() bool { return len(c.Components) > 0 }

// Validate reports every problem in the section, each prefixed with its path under status_page.
// assets are the names of the configured assets, which components may list; plans are not checked,
// since they are read from the plans directory when they run.
func (c Config) Validate(assets []string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("status_page.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	names := map[string]bool{}
	for i, comp := range c.Components {
		path := fmt.Sprintf("components[%d]", i)
		name := strings.TrimSpace(comp.Name)
		switch {
		case name == "":
			bad(path+".name", "required: the name the public knows the component by")
		case names[name]:
			bad(path+".name", "%q is used by another component", name)
		}
		names[name] = true
		if len(comp.Assets) == 0 && len(comp.Plans) == 0 {
			bad(path, "%s lists no assets and no plans: nothing could ever change its state", describe(name))
		}
		for j, a := range comp.Assets {
			if !slices.Contains(assets, a) {
				bad(fmt.Sprintf("%s.assets[%d]", path, j), "%q is not a configured asset (assets: %s)", a, listOrNone(assets))
			}
		}
		for j, p := range comp.Plans {
			if strings.TrimSpace(p) == "" {
				bad(fmt.Sprintf("%s.plans[%d]", path, j), "empty plan name")
			}
		}
		switch comp.RecoveryState {
		case "", MajorOutage, PartialOutage:
		default:
			bad(path+".recovery_state", "%q: want major_outage or partial_outage", comp.RecoveryState)
		}
	}
	for i, o := range c.Overrides {
		path := fmt.Sprintf("overrides[%d]", i)
		if !names[strings.TrimSpace(o.Component)] {
			bad(path+".component", "%q is not a component of the page (components: %s)", o.Component, listOrNone(componentNames(c.Components)))
		}
		if !o.State.valid() {
			bad(path+".state", "%q: want one of %s", o.State, strings.Join(stateNames(), ", "))
		}
		if !o.Until.IsZero() && !o.Until.After(o.From) {
			bad(path+".until", "%s is not after from (%s)", o.Until.UTC().Format(time.RFC3339), o.From.UTC().Format(time.RFC3339))
		}
	}
	for field, d := range map[string]units.Duration{"incident_window": c.IncidentWindow, "cache_ttl": c.CacheTTL, "refresh": c.Refresh} {
		if d < 0 {
			bad(field, "%s: must not be negative", d)
		}
	}
	if c.Refresh != 0 && c.Refresh.D() < time.Second {
		bad("refresh", "%s: at least 1s, or visitors would hammer the worker", c.Refresh)
	}
	return errors.Join(errs...)
}

func describe(name string) string {
	if name == "" {
		return "the component"
	}
	return fmt.Sprintf("component %q", name)
}

func componentNames(cs []Component) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

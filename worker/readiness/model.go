// Package readiness answers "could we recover, how fast, and can we prove it?" for each configured
// service: its plans, their last drill measured against the objectives, whether a plan changed since
// it was drilled, drills overdue, each asset's last verified restore and RPO compliance over time,
// and the gaps — assets no plan recovers, plans never drilled, services nobody owns. `lifeboat
// readiness` prints it; the worker serves it as a page at /readiness.
package readiness

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// Defaults of the policy.
const (
	DefaultDrillInterval = 90 * 24 * time.Hour
	DefaultWindow        = 30 * 24 * time.Hour
)

// Plan states, from best to worst.
const (
	StateDrilled           = "drilled"            // drilled within the interval, as it is now
	StateNeedsVerification = "needs verification" // the plan or its configuration changed since its last drill
	StateOverdue           = "overdue"            // the last passing drill is older than the interval
	StateLastFailed        = "last drill failed"  // drilled since, but the newest drill failed
	StateNeverDrilled      = "never drilled"
)

// Gap kinds.
const (
	GapAssetWithoutPlan    = "asset without a plan"
	GapPlanNeverDrilled    = "plan never drilled"
	GapServiceWithoutOwner = "service without an owner"
	GapServiceWithoutPlan  = "service without a plan"
	GapAssetNotVerified    = "asset never restore-verified"
	GapConfiguration       = "configuration"
)

// Drill is one drill of a plan, as its evidence records it.
type Drill struct {
	// ID names the evidence record.
	ID string `json:"id"`
	// Workflow is the drill's workflow ID.
	Workflow string `json:"workflow,omitempty"`
	Plan     string `json:"plan"`
	// PlanSHA256 is the plan file's hash when it ran; ConfigSHA256 that of the configuration the
	// plan uses (PlanConfigVersion).
	PlanSHA256   string    `json:"plan_sha256"`
	ConfigSHA256 string    `json:"config_sha256,omitempty"`
	Started      time.Time `json:"started"`
	Ended        time.Time `json:"ended"`
	// Passed: every step succeeded and no check failed. Proven: and nothing was left unproven
	// (a check skipped, an objective not measured); NotProven says what was.
	Passed    bool     `json:"passed"`
	Proven    bool     `json:"proven"`
	NotProven []string `json:"not_proven,omitempty"`
	// RTO and RPO are what the drill measured; zero when it did not measure one.
	RTO time.Duration `json:"rto,omitempty"`
	RPO time.Duration `json:"rpo,omitempty"`
	// Verified says whether the record's signature verified.
	Verified bool `json:"verified"`
}

// Protection is an asset's protection as its RPO watchdog knows it.
type Protection struct {
	LastBackup    time.Time     `json:"last_backup,omitzero"`
	WatchingSince time.Time     `json:"watching_since,omitzero"`
	RPO           time.Duration `json:"rpo"`
	// LastVerified is when the newest restore drill that passed ran, and the snapshot it restored.
	LastVerified         time.Time `json:"last_verified,omitzero"`
	LastVerifiedSnapshot time.Time `json:"last_verified_snapshot,omitzero"`
	// Breaches are the periods outside the RPO, the last open while it lasts.
	Breaches []Period `json:"breaches,omitempty"`
	// Error says why the protection is unknown (no watchdog runs, Temporal unreachable).
	Error string `json:"error,omitempty"`
}

// Period is a span of time; To empty while it lasts.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// Inputs are what readiness is computed from.
type Inputs struct {
	Now time.Time
	// Config gives the services, assets and the identity directory.
	Config config.Config
	// Plans by name, with their current versions; PlanErrors are plans that could not be read.
	Plans map[string]config.PlanFile
	// Versions are the plans' current versions (PlanVersions).
	Versions   map[string]PlanVersion
	PlanErrors []string
	// Drills are every drill the evidence holds, in any order; DrillsError says why they could not
	// be read.
	Drills      []Drill
	DrillsError string
	// Protection of each asset, by name.
	Protection map[string]Protection
}

// PlanVersion is what a drill must have run to count for the plan as it is now.
type PlanVersion struct {
	PlanSHA256   string `json:"plan_sha256"`
	ConfigSHA256 string `json:"config_sha256"`
}

// Policy says how often plans are to be drilled and how far back compliance is shown.
type Policy struct {
	DrillInterval time.Duration `json:"drill_interval"`
	Window        time.Duration `json:"window"`
}

// Report is the readiness of every service, plan and asset.
type Report struct {
	GeneratedAt time.Time          `json:"generated_at"`
	Policy      Policy             `json:"policy"`
	Summary     Summary            `json:"summary"`
	Services    []ServiceReadiness `json:"services"`
	Plans       []PlanReadiness    `json:"plans"`
	Assets      []AssetReadiness   `json:"assets"`
	Gaps        []Gap              `json:"gaps"`
	// Problems are what kept readiness from being complete (unreadable plans or evidence).
	Problems []string `json:"problems,omitempty"`
}

// Summary counts.
type Summary struct {
	Services int `json:"services"`
	// Ready services have every plan drilled as it is now, within the interval, meeting the
	// objectives, and every asset inside its RPO.
	Ready int `json:"ready"`
	Plans int `json:"plans"`
	// Drilled plans are in StateDrilled.
	Drilled int `json:"drilled"`
	Gaps    int `json:"gaps"`
}

// ServiceReadiness is one service.
type ServiceReadiness struct {
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	Owners       []string      `json:"owners,omitempty"`
	RTO          time.Duration `json:"rto_objective,omitempty"`
	RPO          time.Duration `json:"rpo_objective,omitempty"`
	Availability float64       `json:"availability_objective,omitempty"`
	Plans        []string      `json:"plans"`
	Assets       []string      `json:"assets"`
	// Ready: see Summary.Ready. Attention lists why it is not.
	Ready     bool     `json:"ready"`
	Attention []string `json:"attention,omitempty"`
	// MeasuredRTO is the longest RTO the last passing drills of its plans measured: the scenario
	// that takes longest to recover from, compared with the service's RTO objective.
	MeasuredRTO time.Duration `json:"measured_rto,omitempty"`
	RTOMet      *bool         `json:"rto_met,omitempty"`
}

// PlanReadiness is one plan.
type PlanReadiness struct {
	Name     string        `json:"name"`
	Services []string      `json:"services,omitempty"`
	RTO      time.Duration `json:"rto_objective,omitempty"`
	RPO      time.Duration `json:"rpo_objective,omitempty"`
	State    string        `json:"state"`
	Reasons  []string      `json:"reasons,omitempty"`
	// LastPassed is the newest passing drill; LastDrill the newest drill of any outcome.
	LastPassed *Drill `json:"last_passed,omitempty"`
	LastDrill  *Drill `json:"last_drill,omitempty"`
	// RTOMet and RPOMet compare LastPassed's measures with the objectives (nil: nothing to compare).
	RTOMet *bool `json:"rto_met,omitempty"`
	RPOMet *bool `json:"rpo_met,omitempty"`
	// Due is when the next drill is due (zero: now).
	Due time.Time `json:"due,omitzero"`
}

// AssetReadiness is one asset.
type AssetReadiness struct {
	Name       string        `json:"name"`
	RPO        time.Duration `json:"rpo"`
	Plans      []string      `json:"plans,omitempty"`
	LastBackup time.Time     `json:"last_backup,omitzero"`
	// InRPO: the last backup is younger than the RPO now.
	InRPO        bool      `json:"in_rpo"`
	LastVerified time.Time `json:"last_verified,omitzero"`
	// Compliance is the share of the watched part of the window spent inside the RPO (0-1), and
	// Days the same for each day of the window, oldest first.
	Compliance float64       `json:"compliance"`
	Watched    time.Duration `json:"watched"`
	Days       []Day         `json:"days"`
	Error      string        `json:"error,omitempty"`
}

// Day is one day of an asset's RPO compliance.
type Day struct {
	Start time.Time `json:"start"`
	// Watched is how much of the day the watchdog watched; Compliance the share of that inside
	// the RPO (0-1).
	Watched    time.Duration `json:"watched"`
	Compliance float64       `json:"compliance"`
}

// Gap is something readiness cannot vouch for.
type Gap struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Detail  string `json:"detail,omitempty"`
}

// Compute derives the report from in under policy p (zero fields take the defaults).
func Compute(in Inputs, p Policy) Report {
	p.DrillInterval = cmp.Or(p.DrillInterval, DefaultDrillInterval)
	p.Window = cmp.Or(p.Window, DefaultWindow)
	now := in.Now
	r := Report{GeneratedAt: now, Policy: p, Services: []ServiceReadiness{}, Plans: []PlanReadiness{}, Assets: []AssetReadiness{}, Gaps: []Gap{}}
	r.Problems = append(r.Problems, in.PlanErrors...)
	if in.DrillsError != "" {
		r.Problems = append(r.Problems, "drills: "+in.DrillsError)
	}
	gap := func(kind, subject, detail string) {
		r.Gaps = append(r.Gaps, Gap{Kind: kind, Subject: subject, Detail: detail})
	}
	if err := in.Config.CheckPlans(in.Plans); err != nil {
		for _, e := range splitErr(err) {
			gap(GapConfiguration, "plans", e)
		}
	}

	drills := map[string][]Drill{}
	for _, d := range in.Drills {
		drills[d.Plan] = append(drills[d.Plan], d)
	}
	planServices := map[string][]string{}
	assetPlans := map[string][]string{}
	for _, s := range in.Config.Services {
		for _, n := range s.PlansFor(in.Plans) {
			planServices[n] = append(planServices[n], s.Name)
		}
	}
	names := sortedKeys(in.Plans)
	plans := map[string]PlanReadiness{}
	for _, n := range names {
		pl := in.Plans[n]
		for _, a := range pl.Spec.Recovers.Assets {
			assetPlans[a] = append(assetPlans[a], n)
		}
		pr := planReadiness(n, pl, in.Versions[n], drills[n], now, p)
		pr.Services = planServices[n]
		if pr.State == StateNeverDrilled {
			gap(GapPlanNeverDrilled, n, "no drill of this plan is in the evidence")
		}
		plans[n] = pr
		r.Plans = append(r.Plans, pr)
	}
	for _, s := range in.Config.Services {
		for _, c := range s.AllComponents() {
			if c.Asset != "" && c.Plan != "" && !slices.Contains(assetPlans[c.Asset], c.Plan) {
				assetPlans[c.Asset] = append(assetPlans[c.Asset], c.Plan)
			}
		}
	}

	assets := map[string]AssetReadiness{}
	for _, a := range in.Config.Assets {
		pr, ok := in.Protection[a.Name]
		if !ok {
			pr.Error = "its protection was not read"
		}
		ar := assetReadiness(a.Name, a.RPO.D(), pr, now, p.Window)
		ar.Plans = slices.Sorted(slices.Values(assetPlans[a.Name]))
		if len(ar.Plans) == 0 {
			gap(GapAssetWithoutPlan, a.Name, "no plan says it recovers this asset (spec.recovers.assets) and no service component names a plan for it")
		}
		if a.Verify != nil && ar.LastVerified.IsZero() && ar.Error == "" {
			gap(GapAssetNotVerified, a.Name, "no restore drill of this asset has passed yet")
		}
		assets[a.Name] = ar
		r.Assets = append(r.Assets, ar)
	}

	for _, s := range in.Config.Services {
		sr := ServiceReadiness{Name: s.Name, Description: s.Description, Owners: s.Owners, RTO: s.Objectives.RTO.D(), RPO: s.Objectives.RPO.D(),
			Availability: float64(s.Objectives.Availability), Plans: s.PlansFor(in.Plans), Assets: []string{}}
		if sr.Plans == nil {
			sr.Plans = []string{}
		}
		for _, c := range s.AllComponents() {
			if c.Asset != "" && !slices.Contains(sr.Assets, c.Asset) {
				sr.Assets = append(sr.Assets, c.Asset)
			}
		}
		for _, n := range sr.Plans {
			for _, a := range in.Plans[n].Spec.Recovers.Assets {
				if !slices.Contains(sr.Assets, a) {
					sr.Assets = append(sr.Assets, a)
				}
			}
		}
		sort.Strings(sr.Assets)
		if len(s.Owners) == 0 {
			gap(GapServiceWithoutOwner, s.Name, "nobody answers for this service: set owners")
			sr.Attention = append(sr.Attention, "no owner")
		}
		if len(sr.Plans) == 0 {
			gap(GapServiceWithoutPlan, s.Name, "no plan recovers this service")
			sr.Attention = append(sr.Attention, "no plan recovers it")
		}
		for _, n := range sr.Plans {
			pr, ok := plans[n]
			if !ok {
				sr.Attention = append(sr.Attention, "plan "+n+" is missing")
				continue
			}
			if pr.State != StateDrilled {
				sr.Attention = append(sr.Attention, "plan "+n+": "+pr.State)
			}
			if pr.RTOMet != nil && !*pr.RTOMet {
				sr.Attention = append(sr.Attention, "plan "+n+": its last drill missed the plan's RTO")
			}
			if pr.RPOMet != nil && !*pr.RPOMet {
				sr.Attention = append(sr.Attention, "plan "+n+": its last drill missed the plan's RPO")
			}
			if pr.LastPassed != nil && pr.LastPassed.RTO > sr.MeasuredRTO {
				sr.MeasuredRTO = pr.LastPassed.RTO
			}
		}
		if sr.RTO > 0 && sr.MeasuredRTO > 0 {
			met := sr.MeasuredRTO <= sr.RTO
			sr.RTOMet = &met
			if !met {
				sr.Attention = append(sr.Attention, "a drill of its plans took longer than the service's RTO")
			}
		}
		for _, a := range sr.Assets {
			ar, ok := assets[a]
			switch {
			case !ok:
			case ar.Error != "":
				sr.Attention = append(sr.Attention, "asset "+a+": protection unknown")
			case !ar.InRPO:
				sr.Attention = append(sr.Attention, "asset "+a+": outside its RPO")
			case sr.RPO > 0 && ar.RPO > sr.RPO:
				sr.Attention = append(sr.Attention, "asset "+a+": its RPO is longer than the service's")
			}
		}
		sr.Ready = len(sr.Attention) == 0
		r.Services = append(r.Services, sr)
	}

	r.Summary = Summary{Services: len(r.Services), Plans: len(r.Plans), Gaps: len(r.Gaps)}
	for _, s := range r.Services {
		if s.Ready {
			r.Summary.Ready++
		}
	}
	for _, pr := range r.Plans {
		if pr.State == StateDrilled {
			r.Summary.Drilled++
		}
	}
	return r
}

// planReadiness judges one plan by its drills.
func planReadiness(name string, pl config.PlanFile, v PlanVersion, drills []Drill, now time.Time, p Policy) PlanReadiness {
	pr := PlanReadiness{Name: name, RTO: pl.Spec.Objectives.RTO.D(), RPO: pl.Spec.Objectives.RPO.D()}
	slices.SortFunc(drills, func(a, b Drill) int { return a.Ended.Compare(b.Ended) })
	for i := range drills {
		d := drills[i]
		if !d.Verified {
			continue // an unverifiable record proves nothing
		}
		pr.LastDrill = &d
		if d.Passed {
			pr.LastPassed = &d
		}
	}
	if pr.LastPassed == nil {
		pr.State = StateNeverDrilled
		if pr.LastDrill != nil {
			pr.State = StateLastFailed
			pr.Reasons = append(pr.Reasons, "no drill of this plan has passed")
		}
		return pr
	}
	lp := pr.LastPassed
	pr.Due = lp.Ended.Add(p.DrillInterval)
	pr.State = StateDrilled
	if lp.RTO > 0 && pr.RTO > 0 {
		met := lp.RTO <= pr.RTO
		pr.RTOMet = &met
	}
	if lp.RPO > 0 && pr.RPO > 0 {
		met := lp.RPO <= pr.RPO
		pr.RPOMet = &met
	}
	if !lp.Proven {
		why := "a check was skipped"
		if len(lp.NotProven) > 0 {
			why = strings.Join(lp.NotProven, "; ")
		}
		pr.Reasons = append(pr.Reasons, "its last passing drill did not prove everything: "+why)
	}
	switch {
	case pr.LastDrill != lp && !pr.LastDrill.Passed:
		pr.State = StateLastFailed
		pr.Reasons = append(pr.Reasons, "the newest drill failed")
	case v.PlanSHA256 != "" && lp.PlanSHA256 != v.PlanSHA256:
		pr.State = StateNeedsVerification
		pr.Reasons = append(pr.Reasons, "the plan changed since its last passing drill")
	case v.ConfigSHA256 != "" && lp.ConfigSHA256 != "" && lp.ConfigSHA256 != v.ConfigSHA256:
		pr.State = StateNeedsVerification
		pr.Reasons = append(pr.Reasons, "the configuration the plan uses changed since its last passing drill")
	case !now.Before(pr.Due):
		pr.State = StateOverdue
		pr.Reasons = append(pr.Reasons, "its last passing drill is older than the drill interval")
	}
	return pr
}

// assetReadiness derives an asset's compliance over the window ending at now from its protection.
func assetReadiness(name string, rpo time.Duration, pr Protection, now time.Time, window time.Duration) AssetReadiness {
	ar := AssetReadiness{Name: name, RPO: rpo, LastBackup: pr.LastBackup, LastVerified: pr.LastVerified, Error: pr.Error, Days: []Day{}}
	if pr.Error != "" {
		return ar
	}
	base := pr.LastBackup
	if base.IsZero() {
		base = pr.WatchingSince
	}
	ar.InRPO = !base.IsZero() && now.Sub(base) < rpo
	// Breaches as the watchdog recorded them, and the current one if it has not woken yet.
	breaches := slices.Clone(pr.Breaches)
	if open := len(breaches) > 0 && breaches[len(breaches)-1].To.IsZero(); !ar.InRPO && !base.IsZero() && !open {
		breaches = append(breaches, Period{From: base.Add(rpo)})
	}
	start := now.Add(-window).Truncate(24 * time.Hour)
	for day := start; day.Before(now); day = day.Add(24 * time.Hour) {
		end := minTime(day.Add(24*time.Hour), now)
		watched, outside := coverage(day, end, pr.WatchingSince, breaches, now)
		d := Day{Start: day, Watched: watched}
		if watched > 0 {
			d.Compliance = 1 - float64(outside)/float64(watched)
		}
		ar.Days = append(ar.Days, d)
		ar.Watched += watched
		ar.Compliance += float64(watched - outside)
	}
	if ar.Watched > 0 {
		ar.Compliance /= float64(ar.Watched)
	}
	return ar
}

// coverage returns how much of [from, to) was watched (after since) and how much of that was inside
// a breach.
func coverage(from, to, since time.Time, breaches []Period, now time.Time) (watched, outside time.Duration) {
	if !since.IsZero() && since.After(from) {
		from = since
	}
	if since.IsZero() || !to.After(from) {
		return 0, 0
	}
	watched = to.Sub(from)
	for _, b := range breaches {
		bEnd := b.To
		if bEnd.IsZero() {
			bEnd = now
		}
		lo, hi := maxTime(b.From, from), minTime(bEnd, to)
		if hi.After(lo) {
			outside += hi.Sub(lo)
		}
	}
	return watched, min(outside, watched)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// splitErr lists a joined error's parts.
func splitErr(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// PlanVersions returns the current version of each plan: its file's hash and that of the
// configuration it uses.
func PlanVersions(cfg config.Config, plans map[string]config.PlanFile) map[string]PlanVersion {
	out := make(map[string]PlanVersion, len(plans))
	for n, p := range plans {
		out[n] = PlanVersion{PlanSHA256: p.SHA256, ConfigSHA256: cfg.PlanConfigVersion(p.Plan)}
	}
	return out
}

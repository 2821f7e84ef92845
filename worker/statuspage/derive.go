package statuspage

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Build derives the page from the configuration and a snapshot, at now.
//
// snap is the latest reading that succeeded, nil before the first; readErr is the error of the
// reading just attempted, nil when snap is that reading. With an error the page is not live: it
// shows snap "as of" its time, or the state as unknown when there is no snap. The error itself is
// not shown — it may name internal hosts — only that the live state could not be read.
//
// A component's state is the worst of:
//   - its RecoveryState (major_outage unless configured) while a recovery of one of its plans runs;
//   - maintenance while a drill of one of its plans runs, if cfg.DrillsAsMaintenance (otherwise the
//     drill adds only a note);
//   - degraded while the RPO watchdog of one of its assets finds the last good backup too old;
//   - operational otherwise (unknown before the first reading).
//
// Then an override in force replaces that state, better or worse; of several, the last listed wins.
// The overall state is the worst component's.
func Build(cfg Config, snap *Snapshot, readErr error, now time.Time) Page {
	cfg = cfg.WithDefaults()
	p := Page{
		Title:          cfg.Title,
		Live:           snap != nil && readErr == nil,
		Components:     []ComponentView{},
		Active:         []ActiveRecovery{},
		Incidents:      []Incident{},
		Planned:        []PlannedMaintenance{},
		IncidentDays:   int(cfg.IncidentWindow.D().Round(24*time.Hour) / (24 * time.Hour)),
		RefreshSeconds: max(int(cfg.Refresh.D()/time.Second), 1),
		Generated:      now.UTC(),
	}
	if p.IncidentDays < 1 {
		p.IncidentDays = 1
	}
	switch {
	case snap == nil:
		p.Notice = "The current status cannot be read yet. This page updates itself as soon as it can."
	case readErr != nil:
		p.AsOf = moment(snap.At, now)
		p.Notice = fmt.Sprintf("The current status cannot be read right now. This page shows the status as of %s (%s) and updates itself as soon as it can.", p.AsOf.UTC, p.AsOf.Relative)
	default:
		p.AsOf = moment(snap.At, now)
	}

	componentsOf := map[string][]string{} // plan → names of the components it restores
	for _, c := range cfg.Components {
		for _, pl := range c.Plans {
			if !slices.Contains(componentsOf[pl], c.Name) {
				componentsOf[pl] = append(componentsOf[pl], c.Name)
			}
		}
	}
	var running []RunningRecovery
	if snap != nil {
		running = slices.Clone(snap.Running)
		slices.SortStableFunc(running, func(a, b RunningRecovery) int { return a.StartedAt.Compare(b.StartedAt) })
	}

	p.Overall = Operational
	for _, c := range cfg.Components {
		v := component(cfg, c, snap, running, now)
		p.Components = append(p.Components, v)
		p.Overall = worst(p.Overall, v.State)
	}
	p.OverallLabel, p.Summary = overallWords(p.Overall, p.Components)

	// A plan run as a step of another shown plan appears as that plan's step, not on its own.
	shownIDs := map[string]bool{}
	for _, r := range running {
		if len(componentsOf[r.Plan]) > 0 {
			shownIDs[r.WorkflowID] = true
		}
	}
	for _, r := range running {
		if len(componentsOf[r.Plan]) == 0 || (r.Parent != "" && shownIDs[r.Parent]) {
			continue
		}
		p.Active = append(p.Active, active(r, componentsOf[r.Plan], now))
	}

	if snap != nil {
		since := now.Add(-cfg.IncidentWindow.D())
		finishedIDs := map[string]bool{}
		for _, f := range snap.Finished {
			if len(componentsOf[f.Plan]) > 0 {
				finishedIDs[f.WorkflowID] = true
			}
		}
		for _, f := range snap.Finished {
			if len(componentsOf[f.Plan]) == 0 || (f.Parent != "" && finishedIDs[f.Parent]) || f.ClosedAt.Before(since) {
				continue
			}
			label, state := resultWords(f.Result)
			p.Incidents = append(p.Incidents, Incident{
				Plan: f.Plan, Components: componentsOf[f.Plan], Result: f.Result, ResultLabel: label, State: state,
				StartedAt: moment(f.StartedAt, now), EndedAt: moment(f.ClosedAt, now), Duration: humanDuration(f.ClosedAt.Sub(f.StartedAt)),
			})
		}
		slices.SortStableFunc(p.Incidents, func(a, b Incident) int { return b.EndedAt.Time.Compare(a.EndedAt.Time) })
		if len(p.Incidents) > MaxIncidents {
			p.Incidents = p.Incidents[:MaxIncidents]
		}
	}

	for _, o := range cfg.Overrides {
		if o.State != Maintenance || !o.From.After(now) {
			continue
		}
		p.Planned = append(p.Planned, PlannedMaintenance{Component: o.Component, Message: o.Message, From: moment(o.From, now), Until: moment(o.Until, now)})
	}
	slices.SortStableFunc(p.Planned, func(a, b PlannedMaintenance) int { return a.From.Time.Compare(b.From.Time) })
	return p
}

// component derives one component's state and notes.
func component(cfg Config, c Component, snap *Snapshot, running []RunningRecovery, now time.Time) ComponentView {
	v := ComponentView{Name: c.Name, Description: c.Description, State: Operational, Notes: []string{}}
	if snap == nil {
		v.State = Unknown
	} else {
		for _, r := range running {
			if !slices.Contains(c.Plans, r.Plan) {
				continue
			}
			what := strings.ToLower(phase(r.State))
			switch {
			case !r.Drill:
				v.State = worst(v.State, c.RecoveryState)
				v.Notes = append(v.Notes, fmt.Sprintf("Recovery in progress (%s): %s.", r.Plan, what))
			case cfg.DrillsAsMaintenance:
				v.State = worst(v.State, Maintenance)
				v.Notes = append(v.Notes, fmt.Sprintf("Planned recovery exercise in progress (%s): %s.", r.Plan, what))
			default:
				v.Notes = append(v.Notes, fmt.Sprintf("A recovery exercise is running (%s); the service is not affected.", r.Plan))
			}
		}
		for _, a := range c.Assets {
			w, ok := snap.Watchdogs[a]
			switch {
			case !ok:
				v.Notes = append(v.Notes, fmt.Sprintf("Backup monitoring of %s is not running.", a))
			case w.Stale:
				v.State = worst(v.State, Degraded)
				v.Notes = append(v.Notes, staleNote(w, now))
			}
		}
	}
	for _, o := range cfg.Overrides {
		if o.Component != c.Name || !o.activeAt(now) {
			continue
		}
		v.State = o.State
		note := strings.TrimSpace(o.Message)
		if note == "" {
			note = o.State.Label() + "."
		}
		if !o.Until.IsZero() {
			until := moment(o.Until, now)
			note += fmt.Sprintf(" Until %s (%s).", until.UTC, until.Relative)
		}
		v.Notes = append([]string{note}, v.Notes...)
	}
	v.Label = v.State.Label()
	return v
}

// staleNote says how far behind an asset's backups are.
func staleNote(w Watchdog, now time.Time) string {
	st := w.Status
	switch {
	case st == nil:
		return fmt.Sprintf("Backups of %s are behind schedule.", w.Asset)
	case st.LastBackup.IsZero():
		return fmt.Sprintf("Backups of %s are behind schedule: none has succeeded yet (target: at most %s old).", w.Asset, humanDuration(st.RPO.D()))
	}
	return fmt.Sprintf("Backups of %s are behind schedule: the last good backup is %s old (target: at most %s).",
		w.Asset, humanDuration(now.Sub(st.LastBackup)), humanDuration(st.RPO.D()))
}

// overallWords heads the page: a label and a sentence naming the components in the worst state.
func overallWords(overall State, comps []ComponentView) (label, summary string) {
	var names []string
	for _, c := range comps {
		if c.State == overall {
			names = append(names, c.Name)
		}
	}
	list := joinNames(names)
	switch overall {
	case Operational:
		return "All systems operational", "Everything is working normally."
	case Maintenance:
		return "Maintenance in progress", "Planned maintenance is under way on " + list + "."
	case Degraded:
		return "Degraded service", list + " " + isAre(names) + " running with reduced protection or performance."
	case PartialOutage:
		return "Partial outage", list + " " + isAre(names) + " partly unavailable. We are working on it."
	case MajorOutage:
		return "Major outage", list + " " + isAre(names) + " unavailable. We are working on it."
	}
	return "Status unknown", "The current status is not known yet."
}

func isAre(names []string) string {
	if len(names) == 1 {
		return "is"
	}
	return "are"
}

// joinNames is "A", "A and B" or "A, B and C".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return "some systems"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// active is a running recovery as the page shows it.
func active(r RunningRecovery, components []string, now time.Time) ActiveRecovery {
	started := r.StartedAt
	if r.State != nil && !r.State.StartedAt.IsZero() {
		started = r.State.StartedAt
	}
	a := ActiveRecovery{
		Plan: r.Plan, Mode: "recovery", Kind: "Recovery", Components: components, Phase: phase(r.State), Progress: progress(r.State),
		StartedAt: moment(started, now), Elapsed: humanDuration(now.Sub(started)), Timeline: timeline(r.State, now),
	}
	if r.Drill {
		a.Mode, a.Kind = "drill", "Recovery exercise (drill)"
	}
	if r.State != nil {
		if rto := r.State.Objectives.RTO.D(); rto > 0 {
			a.Objective = humanDuration(rto)
			a.OverObjective = now.Sub(started) > rto
		}
	}
	return a
}

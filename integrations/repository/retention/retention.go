package retention

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// DefaultGroupBy is the grouping used when Policy.GroupBy is empty: each source on each host keeps its own
// snapshots, so one database's backups never push out another's.
const DefaultGroupBy = "source,host"

// GroupByNone puts every snapshot into one group. It must be asked for by name: an empty GroupBy means
// DefaultGroupBy, because one group across sources lets a busy source's snapshots crowd out a quiet one's.
const GroupByNone = "none"

// ErrKeepsNothing is returned (wrapped) by Validate and Apply for a policy with no keep rule, which would
// remove every snapshot. Set Policy.AllowRemoveAll to mean that.
var ErrKeepsNothing = errors.New("policy keeps nothing")

// Snapshot is what a retention decision needs to know about a snapshot.
type Snapshot struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags,omitempty"`
}

// Policy says which snapshots to keep. Every rule is applied to each group (see GroupBy) on its own, and a
// snapshot is kept when at least one rule keeps it; all others are removed. Zero disables a rule.
//
// The count rules mirror restic's forget --keep-* flags. Hourly, Daily, Weekly, Monthly and Yearly walk
// the group from newest to oldest and keep the newest snapshot of each distinct hour, day, ISO week,
// month or year until that many buckets have been kept. Unlike restic ≥ 0.17, a rule whose buckets are
// not all filled does not additionally keep the group's oldest snapshot.
//
// The duration rules are measured back from the newest snapshot in the group, not from the current time
// (restic's semantics): a source whose backups stopped a month ago keeps its last month of snapshots
// instead of losing them one by one as the clock runs on, and Apply needs no clock.
type Policy struct {
	// Last keeps the Last newest snapshots.
	Last int
	// Hourly, Daily, Weekly, Monthly and Yearly keep the newest snapshot of that many distinct hours,
	// days, ISO weeks (Monday to Sunday, as in "2026-W01"), months and years.
	Hourly, Daily, Weekly, Monthly, Yearly int

	// Within keeps every snapshot whose time is at or after the newest snapshot's time minus Within.
	Within time.Duration
	// WithinHourly, WithinDaily, WithinWeekly, WithinMonthly and WithinYearly keep the newest snapshot of
	// every hour, day, ISO week, month or year that has a snapshot in the same window as Within.
	WithinHourly, WithinDaily, WithinWeekly, WithinMonthly, WithinYearly time.Duration

	// KeepTags keeps every snapshot that carries any of these tags.
	KeepTags []string

	// GroupBy is a comma-separated list of source, host and tags (the snapshot's set of tags, in any
	// order), or GroupByNone. Empty means DefaultGroupBy.
	GroupBy string

	// AllowRemoveAll lets a policy without any keep rule through Validate, so that Apply removes every
	// snapshot. Without it such a policy is an error wrapping ErrKeepsNothing.
	AllowRemoveAll bool
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot Snapshot `json:"snapshot"`
	// Keep is true when Reasons is not empty.
	Keep bool `json:"keep"`
	// Reasons lists every rule that keeps the snapshot, in the order the rules are listed in Policy:
	// "last 3", "hourly 2026-11-20 14:00 UTC", "daily 2026-11-20", "weekly 2026-W47", "monthly 2026-11",
	// "yearly 2026", "within 30d", "daily 2026-11-20 within 90d", "tag keep-forever".
	Reasons []string `json:"reasons,omitempty"`
}

// Group is the decisions for one group of snapshots, newest first; equal times are ordered by ID.
type Group struct {
	// Key names the group by the GroupBy fields in the order source, host, tags:
	// "source=orders-db host=db1", "tags=daily,prod", or "all" for GroupByNone. Values that are empty or
	// contain spaces, quotes, '=' or ',' are quoted; a snapshot without tags shows as "tags=".
	Key       string     `json:"key"`
	Decisions []Decision `json:"decisions"`
}

// Kept returns the group's kept snapshots, newest first.
func (g Group) Kept() []Snapshot { return g.filter(true) }

// Removed returns the group's removed snapshots, newest first.
func (g Group) Removed() []Snapshot { return g.filter(false) }

func (g Group) filter(keep bool) []Snapshot {
	var out []Snapshot
	for _, d := range g.Decisions {
		if d.Keep == keep {
			out = append(out, d.Snapshot)
		}
	}
	return out
}

// Validate reports every problem with p: negative counts or durations, an empty tag, an unknown or
// repeated group-by key, and a policy that keeps nothing (ErrKeepsNothing) unless AllowRemoveAll is set.
// Field names in messages are those of restic's flags without "keep-": "daily", "within-weekly".
func (p Policy) Validate() error {
	var errs []error
	for _, r := range p.countRules() {
		if r.n < 0 {
			errs = append(errs, fmt.Errorf("retention: %s must not be negative, got %d", r.name, r.n))
		}
	}
	for _, r := range p.durationRules() {
		if r.d < 0 {
			errs = append(errs, fmt.Errorf("retention: %s must not be negative, got %s", r.name, r.d))
		}
	}
	for _, t := range p.KeepTags {
		if t == "" {
			errs = append(errs, errors.New("retention: keep-tags: empty tag"))
			break
		}
	}
	if _, err := parseGroupBy(p.GroupBy); err != nil {
		errs = append(errs, err)
	}
	if !p.keepsSomething() && !p.AllowRemoveAll {
		errs = append(errs, fmt.Errorf("retention: %w: set at least one of last, hourly, daily, weekly, "+
			"monthly, yearly, within, within-hourly, within-daily, within-weekly, within-monthly, "+
			"within-yearly or keep-tags, or allow removing every snapshot", ErrKeepsNothing))
	}
	return errors.Join(errs...)
}

// String describes p in a sentence: "keep 7 daily, 4 weekly, 12 monthly snapshots per source and host".
func (p Policy) String() string {
	var counts []string
	for _, r := range p.countRules() {
		if r.n <= 0 {
			continue
		}
		if r.period == nil {
			counts = append(counts, fmt.Sprintf("the last %d", r.n))
		} else {
			counts = append(counts, fmt.Sprintf("%d %s", r.n, r.name))
		}
	}
	var clauses []string
	if len(counts) > 0 {
		clauses = append(clauses, strings.Join(counts, ", ")+" snapshots")
	}
	for _, r := range p.durationRules() {
		if r.d <= 0 {
			continue
		}
		if r.period == nil {
			clauses = append(clauses, fmt.Sprintf("all snapshots within %s of the newest", formatDuration(r.d)))
		} else {
			clauses = append(clauses, fmt.Sprintf("%s snapshots within %s of the newest", r.period.name, formatDuration(r.d)))
		}
	}
	if tags := p.keepTags(); len(tags) > 0 {
		clauses = append(clauses, "snapshots tagged "+strings.Join(tags, " or "))
	}

	scope := "grouped by invalid " + strconv.Quote(p.GroupBy)
	if g, err := parseGroupBy(p.GroupBy); err == nil {
		scope = g.describe()
	}
	if len(clauses) == 0 {
		if p.AllowRemoveAll {
			return "keep nothing: remove every snapshot " + scope
		}
		return "keep nothing " + scope
	}
	return "keep " + strings.Join(clauses, "; ") + " " + scope
}

// Apply groups snaps by p.GroupBy and decides for each snapshot whether p keeps it. Buckets (days, ISO
// weeks, ...) are computed in loc, so the same instant can fall on different days in different zones.
// Groups are sorted by Key; an empty snaps gives no groups. Apply returns Validate's error for an invalid
// policy, and an error for a nil loc or a snapshot whose ID is empty or repeated. It does not modify snaps.
func Apply(snaps []Snapshot, p Policy, loc *time.Location) ([]Group, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if loc == nil {
		return nil, errors.New("retention: nil location: pass time.UTC or time.Local explicitly")
	}
	g, _ := parseGroupBy(p.GroupBy) // Validate checked it.
	seen := make(map[string]bool, len(snaps))
	byKey := make(map[string][]Snapshot)
	for i, s := range snaps {
		if s.ID == "" {
			return nil, fmt.Errorf("retention: snapshot %d (%s) has no id", i, s.Time.Format(time.RFC3339))
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("retention: duplicate snapshot id %q", s.ID)
		}
		seen[s.ID] = true
		k := g.key(s)
		byKey[k] = append(byKey[k], s)
	}
	groups := make([]Group, 0, len(byKey))
	for k, list := range byKey {
		groups = append(groups, Group{Key: k, Decisions: p.decide(list, loc)})
	}
	slices.SortFunc(groups, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	return groups, nil
}

// decide applies p to one group's snapshots.
func (p Policy) decide(list []Snapshot, loc *time.Location) []Decision {
	ds := make([]Decision, len(list))
	for i, s := range list {
		ds[i].Snapshot = s
	}
	slices.SortFunc(ds, func(a, b Decision) int {
		if c := b.Snapshot.Time.Compare(a.Snapshot.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Snapshot.ID, b.Snapshot.ID)
	})
	keep := func(d *Decision, reason string) {
		d.Keep = true
		d.Reasons = append(d.Reasons, reason)
	}

	for _, r := range p.countRules() {
		if r.n <= 0 {
			continue
		}
		if r.period == nil { // last
			for i := range min(r.n, len(ds)) {
				keep(&ds[i], fmt.Sprintf("last %d", r.n))
			}
			continue
		}
		var prev string
		left := r.n
		for i := range ds {
			if left == 0 {
				break
			}
			key, label := r.period.bucket(ds[i].Snapshot.Time.In(loc))
			if i > 0 && key == prev {
				continue
			}
			prev = key
			left--
			keep(&ds[i], r.name+" "+label)
		}
	}

	for _, r := range p.durationRules() {
		if r.d <= 0 || len(ds) == 0 {
			continue
		}
		cutoff := ds[0].Snapshot.Time.Add(-r.d)
		within := "within " + formatDuration(r.d)
		var prev string
		for i := range ds {
			if ds[i].Snapshot.Time.Before(cutoff) {
				break
			}
			if r.period == nil {
				keep(&ds[i], within)
				continue
			}
			key, label := r.period.bucket(ds[i].Snapshot.Time.In(loc))
			if i > 0 && key == prev {
				continue
			}
			prev = key
			keep(&ds[i], r.period.name+" "+label+" "+within)
		}
	}

	if tags := p.keepTags(); len(tags) > 0 {
		for i := range ds {
			for _, t := range tags {
				if slices.Contains(ds[i].Snapshot.Tags, t) {
					keep(&ds[i], "tag "+t)
				}
			}
		}
	}
	return ds
}

// period is a calendar bucket: key identifies the bucket, label names it in reasons.
type period struct {
	name   string
	bucket func(t time.Time) (key, label string)
}

var (
	hourly = &period{"hourly", func(t time.Time) (string, string) {
		// The offset tells apart the two 01:00 hours of a night when clocks go back.
		return t.Format("2006-01-02 15 -0700"), t.Format("2006-01-02 15:00 MST")
	}}
	daily = &period{"daily", func(t time.Time) (string, string) {
		s := t.Format("2006-01-02")
		return s, s
	}}
	weekly = &period{"weekly", func(t time.Time) (string, string) {
		y, w := t.ISOWeek()
		s := fmt.Sprintf("%04d-W%02d", y, w)
		return s, s
	}}
	monthly = &period{"monthly", func(t time.Time) (string, string) {
		s := t.Format("2006-01")
		return s, s
	}}
	yearly = &period{"yearly", func(t time.Time) (string, string) {
		s := t.Format("2006")
		return s, s
	}}
)

type countRule struct {
	name   string
	n      int
	period *period // nil for last
}

type durationRule struct {
	name   string
	d      time.Duration
	period *period // nil for within
}

// countRules lists the count rules in the order their reasons appear.
func (p Policy) countRules() []countRule {
	return []countRule{
		{"last", p.Last, nil},
		{"hourly", p.Hourly, hourly},
		{"daily", p.Daily, daily},
		{"weekly", p.Weekly, weekly},
		{"monthly", p.Monthly, monthly},
		{"yearly", p.Yearly, yearly},
	}
}

// durationRules lists the duration rules in the order their reasons appear.
func (p Policy) durationRules() []durationRule {
	return []durationRule{
		{"within", p.Within, nil},
		{"within-hourly", p.WithinHourly, hourly},
		{"within-daily", p.WithinDaily, daily},
		{"within-weekly", p.WithinWeekly, weekly},
		{"within-monthly", p.WithinMonthly, monthly},
		{"within-yearly", p.WithinYearly, yearly},
	}
}

// keepTags returns KeepTags without empty or repeated entries, in their order.
func (p Policy) keepTags() []string {
	var out []string
	for _, t := range p.KeepTags {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (p Policy) keepsSomething() bool {
	for _, r := range p.countRules() {
		if r.n > 0 {
			return true
		}
	}
	for _, r := range p.durationRules() {
		if r.d > 0 {
			return true
		}
	}
	return len(p.keepTags()) > 0
}

// grouping is a parsed GroupBy.
type grouping struct{ source, host, tags bool }

func parseGroupBy(s string) (grouping, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		s = DefaultGroupBy
	case GroupByNone:
		return grouping{}, nil
	}
	var g grouping
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		var field *bool
		switch k {
		case "source":
			field = &g.source
		case "host":
			field = &g.host
		case "tags":
			field = &g.tags
		case "":
			return grouping{}, fmt.Errorf("retention: group-by %q: empty key", s)
		default:
			return grouping{}, fmt.Errorf("retention: group-by %q: unknown key %q (want source, host or tags, "+
				"comma-separated, or %s alone)", s, k, GroupByNone)
		}
		if *field {
			return grouping{}, fmt.Errorf("retention: group-by %q: key %q repeated", s, k)
		}
		*field = true
	}
	return g, nil
}

func (g grouping) key(s Snapshot) string {
	var parts []string
	if g.source {
		parts = append(parts, "source="+quote(s.Source))
	}
	if g.host {
		parts = append(parts, "host="+quote(s.Hostname))
	}
	if g.tags {
		tags := slices.Clone(s.Tags)
		slices.Sort(tags)
		tags = slices.Compact(tags)
		for i, t := range tags {
			tags[i] = quote(t)
		}
		parts = append(parts, "tags="+strings.Join(tags, ","))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

func (g grouping) describe() string {
	var by []string
	if g.source {
		by = append(by, "source")
	}
	if g.host {
		by = append(by, "host")
	}
	if g.tags {
		by = append(by, "tag set")
	}
	switch len(by) {
	case 0:
		return "across all snapshots"
	case 1:
		return "per " + by[0]
	default:
		return "per " + strings.Join(by[:len(by)-1], ", ") + " and " + by[len(by)-1]
	}
}

// quote returns s as is when it reads unambiguously in a group key, or Go-quoted otherwise.
func quote(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return r == '"' || r == '=' || r == ',' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return strconv.Quote(s)
	}
	return s
}

// formatDuration writes d in days, hours, minutes and seconds: 720h is "30d", 36h is "1d12h".
func formatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

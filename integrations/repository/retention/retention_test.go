package retention

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York for the daylight-saving case, on machines without a zone database.
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// at is a snapshot of orders-db on db1 taken at an RFC 3339 time.
func at(id, t string, tags ...string) Snapshot {
	tm, err := time.Parse(time.RFC3339, t)
	if err != nil {
		panic(err)
	}
	return Snapshot{ID: id, Time: tm, Source: "orders-db", Hostname: "db1", Tags: tags}
}

// month is a snapshot of orders-db at 00:00, 06:00, 12:00 and 18:00 UTC on every day of the month,
// named "MMDD-HH".
func month(year int, m time.Month) []Snapshot {
	var out []Snapshot
	for d := time.Date(year, m, 1, 0, 0, 0, 0, time.UTC); d.Month() == m; d = d.AddDate(0, 0, 1) {
		for _, h := range []int{0, 6, 12, 18} {
			t := d.Add(time.Duration(h) * time.Hour)
			out = append(out, Snapshot{
				ID: fmt.Sprintf("%02d%02d-%02d", int(t.Month()), t.Day(), h), Time: t,
				Source: "orders-db", Hostname: "db1",
			})
		}
	}
	return out
}

// kept renders a group's kept snapshots as "ID: reason, reason", newest first.
func kept(g Group) []string {
	var out []string
	for _, d := range g.Decisions {
		if d.Keep {
			out = append(out, d.Snapshot.ID+": "+strings.Join(d.Reasons, ", "))
		}
	}
	return out
}

func TestApply(t *testing.T) {
	utcPlus2 := time.FixedZone("UTC+2", 2*60*60)
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		snaps  []Snapshot
		policy Policy
		loc    *time.Location // UTC when nil
		want   []string       // kept snapshots, newest first; all others must be removed
	}{
		{
			name: "last keeps the newest N",
			snaps: []Snapshot{
				at("a", "2026-11-20T01:00:00Z"), at("e", "2026-11-20T05:00:00Z"), at("c", "2026-11-20T03:00:00Z"),
				at("b", "2026-11-20T02:00:00Z"), at("d", "2026-11-20T04:00:00Z"),
			},
			policy: Policy{Last: 3},
			want:   []string{"e: last 3", "d: last 3", "c: last 3"},
		},
		{
			name:   "last larger than the group keeps all",
			snaps:  []Snapshot{at("a", "2026-11-20T01:00:00Z"), at("b", "2026-11-20T02:00:00Z")},
			policy: Policy{Last: 10},
			want:   []string{"b: last 10", "a: last 10"},
		},
		{
			name: "hourly keeps the newest of each hour",
			snaps: []Snapshot{
				at("1000", "2026-11-20T10:00:00Z"), at("1030", "2026-11-20T10:30:00Z"),
				at("1100", "2026-11-20T11:00:00Z"), at("1145", "2026-11-20T11:45:00Z"),
				at("1200", "2026-11-20T12:00:00Z"),
			},
			policy: Policy{Hourly: 2},
			want:   []string{"1200: hourly 2026-11-20 12:00 UTC", "1145: hourly 2026-11-20 11:00 UTC"},
		},
		{
			name:   "daily across a month of four snapshots a day keeps the newest of each of the last days",
			snaps:  month(2026, time.November),
			policy: Policy{Daily: 5},
			want: []string{
				"1130-18: daily 2026-11-30", "1129-18: daily 2026-11-29", "1128-18: daily 2026-11-28",
				"1127-18: daily 2026-11-27", "1126-18: daily 2026-11-26",
			},
		},
		{
			name: "daily skips days without snapshots",
			snaps: []Snapshot{
				at("mon", "2026-11-16T12:00:00Z"), at("tue", "2026-11-17T12:00:00Z"),
				at("fri", "2026-11-20T12:00:00Z"),
			},
			policy: Policy{Daily: 2},
			want:   []string{"fri: daily 2026-11-20", "tue: daily 2026-11-17"},
		},
		{
			// Monday 29 December 2025 starts ISO week 1 of 2026; Sunday 28 December ends 2025-W52.
			name: "weekly across the ISO year boundary",
			snaps: []Snapshot{
				at("dec21", "2025-12-21T12:00:00Z"), at("dec27", "2025-12-27T12:00:00Z"),
				at("dec28", "2025-12-28T12:00:00Z"), at("dec29", "2025-12-29T12:00:00Z"),
				at("dec31", "2025-12-31T12:00:00Z"), at("jan01", "2026-01-01T12:00:00Z"),
				at("jan04", "2026-01-04T12:00:00Z"), at("jan05", "2026-01-05T12:00:00Z"),
			},
			policy: Policy{Weekly: 3},
			want:   []string{"jan05: weekly 2026-W02", "jan04: weekly 2026-W01", "dec28: weekly 2025-W52"},
		},
		{
			name: "monthly keeps the newest of each month",
			snaps: []Snapshot{
				at("aug15", "2026-08-15T00:00:00Z"), at("sep01", "2026-09-01T00:00:00Z"),
				at("sep15", "2026-09-15T00:00:00Z"), at("oct01", "2026-10-01T00:00:00Z"),
				at("oct31", "2026-10-31T23:59:00Z"), at("nov01", "2026-11-01T00:00:00Z"),
			},
			policy: Policy{Monthly: 3},
			want:   []string{"nov01: monthly 2026-11", "oct31: monthly 2026-10", "sep15: monthly 2026-09"},
		},
		{
			name: "yearly keeps the newest of each year",
			snaps: []Snapshot{
				at("2022", "2022-06-01T00:00:00Z"), at("2023a", "2023-01-01T00:00:00Z"),
				at("2023b", "2023-12-31T00:00:00Z"), at("2025", "2025-03-01T00:00:00Z"),
				at("2026a", "2026-01-01T00:00:00Z"), at("2026b", "2026-11-20T00:00:00Z"),
			},
			policy: Policy{Yearly: 3},
			want:   []string{"2026b: yearly 2026", "2025: yearly 2025", "2023b: yearly 2023"},
		},
		{
			name:   "overlapping rules list every reason",
			snaps:  month(2026, time.November),
			policy: Policy{Last: 2, Daily: 3, Weekly: 2, Monthly: 1, Yearly: 1},
			want: []string{
				"1130-18: last 2, daily 2026-11-30, weekly 2026-W49, monthly 2026-11, yearly 2026",
				"1130-12: last 2",
				"1129-18: daily 2026-11-29, weekly 2026-W48",
				"1128-18: daily 2026-11-28",
			},
		},
		{
			// The snapshots are years old: Within counts back from the newest, not from now.
			name: "within keeps snapshots at or after the newest minus the duration",
			snaps: []Snapshot{
				at("old", "2020-03-01T11:59:59Z"), at("edge", "2020-03-01T12:00:00Z"),
				at("mid", "2020-03-02T08:00:00Z"), at("new", "2020-03-03T12:00:00Z"),
			},
			policy: Policy{Within: 48 * time.Hour},
			want:   []string{"new: within 2d", "mid: within 2d", "edge: within 2d"},
		},
		{
			name:   "within-daily keeps one a day inside the window",
			snaps:  month(2026, time.November),
			policy: Policy{WithinDaily: 36 * time.Hour},
			want: []string{
				"1130-18: daily 2026-11-30 within 1d12h",
				"1129-18: daily 2026-11-29 within 1d12h",
			},
		},
		{
			name: "keep-tags keeps tagged snapshots of any age",
			snaps: []Snapshot{
				at("ancient", "2019-01-01T00:00:00Z", "keep-forever", "legal-hold"),
				at("tagged", "2025-01-01T00:00:00Z", "legal-hold"),
				at("other-tag", "2025-06-01T00:00:00Z", "nightly"),
				at("newest", "2026-11-20T00:00:00Z", "nightly"),
			},
			policy: Policy{Last: 1, KeepTags: []string{"keep-forever", "legal-hold"}},
			want: []string{
				"newest: last 1",
				"tagged: tag legal-hold",
				"ancient: tag keep-forever, tag legal-hold",
			},
		},
		{
			name: "equal times are ordered by ID",
			snaps: []Snapshot{
				at("b", "2026-11-20T12:00:00Z"), at("c", "2026-11-20T12:00:00Z"), at("a", "2026-11-20T12:00:00Z"),
			},
			policy: Policy{Last: 1, Daily: 1},
			want:   []string{"a: last 1, daily 2026-11-20"},
		},
		{
			name:   "23:30 UTC and noon UTC are the same day in UTC",
			snaps:  []Snapshot{at("noon", "2026-11-20T12:00:00Z"), at("late", "2026-11-20T23:30:00Z")},
			policy: Policy{Daily: 2},
			loc:    time.UTC,
			want:   []string{"late: daily 2026-11-20"},
		},
		{
			name:   "23:30 UTC is the next day in UTC+2",
			snaps:  []Snapshot{at("noon", "2026-11-20T12:00:00Z"), at("late", "2026-11-20T23:30:00Z")},
			policy: Policy{Daily: 2},
			loc:    utcPlus2,
			want:   []string{"late: daily 2026-11-21", "noon: daily 2026-11-20"},
		},
		{
			// On 1 November 2026 New York's clocks go back from 02:00 EDT to 01:00 EST.
			name: "hourly tells apart the two 01:00 hours when clocks go back",
			snaps: []Snapshot{
				at("edt", "2026-11-01T05:30:00Z"), at("est", "2026-11-01T06:30:00Z"),
			},
			policy: Policy{Hourly: 2},
			loc:    newYork,
			want:   []string{"est: hourly 2026-11-01 01:00 EST", "edt: hourly 2026-11-01 01:00 EDT"},
		},
		{
			name:   "allow-remove-all removes every snapshot",
			snaps:  []Snapshot{at("a", "2026-11-20T01:00:00Z"), at("b", "2026-11-20T02:00:00Z")},
			policy: Policy{AllowRemoveAll: true},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := tt.loc
			if loc == nil {
				loc = time.UTC
			}
			groups, err := Apply(tt.snaps, tt.policy, loc)
			if err != nil {
				t.Fatal(err)
			}
			if len(groups) != 1 {
				t.Fatalf("got %d groups, want 1", len(groups))
			}
			if got := kept(groups[0]); !slices.Equal(got, tt.want) {
				t.Errorf("kept:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if got, want := len(groups[0].Kept())+len(groups[0].Removed()), len(tt.snaps); got != want {
				t.Errorf("kept+removed = %d, want %d", got, want)
			}
		})
	}
}

func TestApplyGroups(t *testing.T) {
	snaps := []Snapshot{
		{ID: "o1", Time: time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC), Source: "orders-db", Hostname: "db1", Tags: []string{"a", "b"}},
		{ID: "o2", Time: time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC), Source: "orders-db", Hostname: "db1", Tags: []string{"b", "a"}},
		{ID: "o3", Time: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), Source: "orders-db", Hostname: "db2"},
		{ID: "b1", Time: time.Date(2026, 11, 19, 1, 0, 0, 0, time.UTC), Source: "billing-db", Hostname: "db1"},
		{ID: "b2", Time: time.Date(2026, 11, 19, 2, 0, 0, 0, time.UTC), Source: "billing-db", Hostname: "db1", Tags: []string{"a"}},
	}
	tests := []struct {
		name    string
		groupBy string
		want    map[string][]string // group key → kept IDs, newest first
	}{
		{
			name:    "default groups by source and host, so sources do not affect each other",
			groupBy: "",
			want: map[string][]string{
				"source=billing-db host=db1": {"b2"},
				"source=orders-db host=db1":  {"o2"},
				"source=orders-db host=db2":  {"o3"},
			},
		},
		{
			name:    "host and source in either order",
			groupBy: " host , source ",
			want: map[string][]string{
				"source=billing-db host=db1": {"b2"},
				"source=orders-db host=db1":  {"o2"},
				"source=orders-db host=db2":  {"o3"},
			},
		},
		{
			name:    "source",
			groupBy: "source",
			want:    map[string][]string{"source=billing-db": {"b2"}, "source=orders-db": {"o3"}},
		},
		{
			name:    "host",
			groupBy: "host",
			want:    map[string][]string{"host=db1": {"o2"}, "host=db2": {"o3"}},
		},
		{
			name:    "tag sets ignore order",
			groupBy: "source,host,tags",
			want: map[string][]string{
				"source=billing-db host=db1 tags=":   {"b1"},
				"source=billing-db host=db1 tags=a":  {"b2"},
				"source=orders-db host=db1 tags=a,b": {"o2"},
				"source=orders-db host=db2 tags=":    {"o3"},
			},
		},
		{
			name:    "none is one group",
			groupBy: "none",
			want:    map[string][]string{"all": {"o3"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, err := Apply(snaps, Policy{Last: 1, GroupBy: tt.groupBy}, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			var keys []string
			for _, g := range groups {
				keys = append(keys, g.Key)
				for _, s := range g.Kept() {
					got[g.Key] = append(got[g.Key], s.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("kept per group = %v, want %v", got, tt.want)
			}
			if !slices.IsSorted(keys) {
				t.Errorf("group keys not sorted: %q", keys)
			}
		})
	}
}

func TestGroupKeyQuotesAmbiguousValues(t *testing.T) {
	g := grouping{source: true, host: true, tags: true}
	tests := []struct {
		name string
		snap Snapshot
		want string
	}{
		{"plain", Snapshot{Source: "orders-db", Hostname: "db1", Tags: []string{"x", "x"}}, "source=orders-db host=db1 tags=x"},
		{"empty values", Snapshot{Tags: []string{""}}, `source="" host="" tags=""`},
		{"space and comma", Snapshot{Source: "my db", Hostname: "h=1", Tags: []string{"a,b"}}, `source="my db" host="h=1" tags="a,b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.key(tt.snap); got != tt.want {
				t.Errorf("key = %s, want %s", got, tt.want)
			}
		})
	}
	// One tag "a,b" and two tags "a" and "b" must not share a group.
	if a, b := g.key(Snapshot{Tags: []string{"a,b"}}), g.key(Snapshot{Tags: []string{"a", "b"}}); a == b {
		t.Errorf("tags [a,b] and [a b] share key %s", a)
	}
}

func TestBuckets(t *testing.T) {
	tests := []struct {
		name   string
		period *period
		time   string
		want   string
	}{
		{"hour", hourly, "2026-11-20T14:59:59Z", "2026-11-20 14:00 UTC"},
		{"day", daily, "2026-11-20T23:59:59Z", "2026-11-20"},
		{"Sunday 28 December 2025 is in the last week of 2025", weekly, "2025-12-28T12:00:00Z", "2025-W52"},
		{"Monday 29 December 2025 is in week 1 of 2026", weekly, "2025-12-29T00:00:00Z", "2026-W01"},
		{"1 January 2021 is in week 53 of 2020", weekly, "2021-01-01T00:00:00Z", "2020-W53"},
		{"month", monthly, "2026-02-28T00:00:00Z", "2026-02"},
		{"year", yearly, "2026-12-31T23:59:59Z", "2026"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, err := time.Parse(time.RFC3339, tt.time)
			if err != nil {
				t.Fatal(err)
			}
			if _, got := tt.period.bucket(tm); got != tt.want {
				t.Errorf("%s bucket of %s = %s, want %s", tt.period.name, tt.time, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantErr []string // each must appear in the error; none means valid
	}{
		{name: "daily", policy: Policy{Daily: 7}},
		{name: "within only", policy: Policy{Within: time.Hour}},
		{name: "within-weekly only", policy: Policy{WithinWeekly: 30 * 24 * time.Hour}},
		{name: "keep-tags only", policy: Policy{KeepTags: []string{"keep-forever"}}},
		{name: "empty but allowed to remove all", policy: Policy{AllowRemoveAll: true}},
		{name: "every group-by key", policy: Policy{Last: 1, GroupBy: "tags,host,source"}},
		{
			name:    "empty policy keeps nothing",
			policy:  Policy{},
			wantErr: []string{"policy keeps nothing: set at least one of last, hourly, daily"},
		},
		{
			name:    "empty keep-tags entries keep nothing",
			policy:  Policy{KeepTags: []string{""}},
			wantErr: []string{"keep-tags: empty tag", "policy keeps nothing"},
		},
		{name: "negative last", policy: Policy{Last: -1, Daily: 1}, wantErr: []string{"last must not be negative, got -1"}},
		{name: "negative yearly", policy: Policy{Yearly: -2, Daily: 1}, wantErr: []string{"yearly must not be negative, got -2"}},
		{name: "negative within", policy: Policy{Within: -time.Hour, Daily: 1}, wantErr: []string{"within must not be negative, got -1h0m0s"}},
		{name: "negative within-daily", policy: Policy{WithinDaily: -time.Hour, Daily: 1}, wantErr: []string{"within-daily must not be negative"}},
		{name: "negative only keeps nothing", policy: Policy{Daily: -1}, wantErr: []string{"daily must not be negative", "policy keeps nothing"}},
		{name: "unknown group-by key", policy: Policy{Daily: 1, GroupBy: "source,path"}, wantErr: []string{`unknown key "path"`}},
		{name: "repeated group-by key", policy: Policy{Daily: 1, GroupBy: "host,host"}, wantErr: []string{`key "host" repeated`}},
		{name: "empty group-by key", policy: Policy{Daily: 1, GroupBy: "source,"}, wantErr: []string{"empty key"}},
		{name: "none with other keys", policy: Policy{Daily: 1, GroupBy: "none,source"}, wantErr: []string{`unknown key "none"`}},
		{
			name:    "every problem at once",
			policy:  Policy{Hourly: -1, Monthly: -3, GroupBy: "disk"},
			wantErr: []string{"hourly must not be negative", "monthly must not be negative", `unknown key "disk"`, "policy keeps nothing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
			if slices.ContainsFunc(tt.wantErr, func(s string) bool { return strings.Contains(s, "keeps nothing") }) &&
				!errors.Is(err, ErrKeepsNothing) {
				t.Errorf("errors.Is(%v, ErrKeepsNothing) = false", err)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	ok := at("a", "2026-11-20T01:00:00Z")
	tests := []struct {
		name    string
		snaps   []Snapshot
		policy  Policy
		loc     *time.Location
		wantErr string
	}{
		{name: "empty policy", snaps: []Snapshot{ok}, policy: Policy{}, loc: time.UTC, wantErr: "policy keeps nothing"},
		{name: "negative count", snaps: []Snapshot{ok}, policy: Policy{Daily: -7}, loc: time.UTC, wantErr: "daily must not be negative"},
		{name: "unknown group-by", snaps: []Snapshot{ok}, policy: Policy{Daily: 7, GroupBy: "paths"}, loc: time.UTC, wantErr: `unknown key "paths"`},
		{name: "nil location", snaps: []Snapshot{ok}, policy: Policy{Daily: 7}, wantErr: "nil location"},
		{name: "snapshot without id", snaps: []Snapshot{ok, at("", "2026-11-20T02:00:00Z")}, policy: Policy{Daily: 7}, loc: time.UTC, wantErr: "snapshot 1 (2026-11-20T02:00:00Z) has no id"},
		{name: "duplicate id", snaps: []Snapshot{ok, ok}, policy: Policy{Daily: 7}, loc: time.UTC, wantErr: `duplicate snapshot id "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, err := Apply(tt.snaps, tt.policy, tt.loc)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Apply() error = %v, want it to contain %q", err, tt.wantErr)
			}
			if groups != nil {
				t.Errorf("Apply() returned %d groups with an error", len(groups))
			}
		})
	}
}

func TestApplyNoSnapshots(t *testing.T) {
	groups, err := Apply(nil, Policy{Daily: 7}, time.UTC)
	if err != nil || len(groups) != 0 {
		t.Fatalf("Apply(nil) = %v, %v; want no groups and no error", groups, err)
	}
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"counts", Policy{Daily: 7, Weekly: 4, Monthly: 12}, "keep 7 daily, 4 weekly, 12 monthly snapshots per source and host"},
		{"last only", Policy{Last: 3, GroupBy: "source"}, "keep the last 3 snapshots per source"},
		{
			"everything",
			Policy{
				Last: 2, Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 5,
				Within: 30 * 24 * time.Hour, WithinDaily: 90 * 24 * time.Hour,
				KeepTags: []string{"keep-forever", "legal-hold", "keep-forever"},
				GroupBy:  "source,host,tags",
			},
			"keep the last 2, 24 hourly, 7 daily, 4 weekly, 12 monthly, 5 yearly snapshots; " +
				"all snapshots within 30d of the newest; daily snapshots within 90d of the newest; " +
				"snapshots tagged keep-forever or legal-hold per source, host and tag set",
		},
		{"within mixed units", Policy{Within: 36*time.Hour + 90*time.Second, GroupBy: "host"}, "keep all snapshots within 1d12h1m30s of the newest per host"},
		{"one group", Policy{KeepTags: []string{"pin"}, GroupBy: "none"}, "keep snapshots tagged pin across all snapshots"},
		{"empty", Policy{}, "keep nothing per source and host"},
		{"remove all", Policy{AllowRemoveAll: true, GroupBy: "none"}, "keep nothing: remove every snapshot across all snapshots"},
		{"invalid group-by", Policy{Daily: 1, GroupBy: "disk"}, `keep 1 daily snapshots grouped by invalid "disk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.String(); got != tt.want {
				t.Errorf("String() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

// TestApplyProperties checks, over random snapshots and policies, that every snapshot gets exactly one
// decision, that a snapshot is kept exactly when it has a reason, that no count rule keeps more than its
// count, and that the input order does not change the result.
func TestApplyProperties(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("UTC+2", 2*60*60), time.FixedZone("UTC-9:30", -(9*60+30)*60)}
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 42))
		snaps := make([]Snapshot, r.IntN(80))
		for i := range snaps {
			var tags []string
			if r.IntN(10) == 0 {
				tags = append(tags, "keep")
			}
			if r.IntN(3) == 0 {
				tags = append(tags, "nightly")
			}
			snaps[i] = Snapshot{
				ID: fmt.Sprintf("s%03d", i),
				// Whole hours, so that equal times are common and the tie-break is exercised.
				Time:     start.Add(time.Duration(r.IntN(3*365*24)) * time.Hour),
				Source:   []string{"orders-db", "billing-db"}[r.IntN(2)],
				Hostname: []string{"db1", "db2"}[r.IntN(2)],
				Tags:     tags,
			}
		}
		p := Policy{
			Last: r.IntN(4), Hourly: r.IntN(4), Daily: r.IntN(8), Weekly: r.IntN(5), Monthly: r.IntN(13), Yearly: r.IntN(3),
			GroupBy: []string{"", "source", "host", "source,host,tags", "none"}[r.IntN(5)],
		}
		if r.IntN(3) == 0 {
			p.Within = time.Duration(r.IntN(60*24)) * time.Hour
		}
		if r.IntN(4) == 0 {
			p.WithinDaily = time.Duration(r.IntN(60*24)) * time.Hour
		}
		if r.IntN(3) == 0 {
			p.KeepTags = []string{"keep"}
		}
		p.AllowRemoveAll = !p.keepsSomething()
		loc := zones[r.IntN(len(zones))]

		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			groups, err := Apply(snaps, p, loc)
			if err != nil {
				t.Fatal(err)
			}
			decided := map[string]int{}
			for _, g := range groups {
				perRule := map[string]int{}
				extra := 0 // kept by within, within-daily or a tag, which have no count
				keptN := 0
				for i, d := range g.Decisions {
					decided[d.Snapshot.ID]++
					if d.Keep != (len(d.Reasons) > 0) {
						t.Errorf("%s: Keep = %v with reasons %q", d.Snapshot.ID, d.Keep, d.Reasons)
					}
					if i > 0 {
						prev := g.Decisions[i-1].Snapshot
						if prev.Time.Before(d.Snapshot.Time) || prev.Time.Equal(d.Snapshot.Time) && prev.ID > d.Snapshot.ID {
							t.Errorf("group %s: %s before %s, want newest first", g.Key, prev.ID, d.Snapshot.ID)
						}
					}
					if !d.Keep {
						continue
					}
					keptN++
					uncounted := false
					for _, reason := range d.Reasons {
						if strings.HasPrefix(reason, "tag ") || strings.Contains(reason, "within ") {
							uncounted = true
							continue
						}
						perRule[strings.Fields(reason)[0]]++
					}
					if uncounted {
						extra++
					}
				}
				limits := map[string]int{"last": p.Last, "hourly": p.Hourly, "daily": p.Daily, "weekly": p.Weekly, "monthly": p.Monthly, "yearly": p.Yearly}
				for rule, n := range perRule {
					if n > limits[rule] {
						t.Errorf("group %s: rule %s kept %d, more than %d", g.Key, rule, n, limits[rule])
					}
				}
				if limit := p.Last + p.Hourly + p.Daily + p.Weekly + p.Monthly + p.Yearly + extra; keptN > limit {
					t.Errorf("group %s: kept %d, more than %d", g.Key, keptN, limit)
				}
			}
			for _, s := range snaps {
				if decided[s.ID] != 1 {
					t.Errorf("%s decided %d times, want once", s.ID, decided[s.ID])
				}
			}
			if len(decided) != len(snaps) {
				t.Errorf("%d decisions for %d snapshots", len(decided), len(snaps))
			}

			shuffled := slices.Clone(snaps)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			again, err := Apply(shuffled, p, loc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(groups, again) {
				t.Error("shuffling the input changed the decisions")
			}
		})
	}
}

// TestGoldenMonth renders every decision for a month of four snapshots a day under a typical policy.
// Run with -update to rewrite testdata/month.golden after an intended change, and read the diff.
func TestGoldenMonth(t *testing.T) {
	snaps := month(2026, time.November)
	snaps[17].Tags = []string{"before-migration"} // 1105-06
	p := Policy{Last: 2, Daily: 7, Weekly: 4, Monthly: 2, KeepTags: []string{"before-migration"}}
	groups, err := Apply(snaps, p, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", p)
	for _, g := range groups {
		fmt.Fprintf(&b, "# group %s: keep %d, remove %d\n", g.Key, len(g.Kept()), len(g.Removed()))
		for _, d := range g.Decisions {
			verdict := "remove"
			if d.Keep {
				verdict = "keep  "
			}
			line := fmt.Sprintf("%s %s %s %s", verdict, d.Snapshot.Time.Format("2006-01-02 15:04"), d.Snapshot.ID, strings.Join(d.Reasons, ", "))
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	}
	path := filepath.Join("testdata", "month.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("decisions differ from %s; rerun with -update and read the diff:\n%s", path, got)
	}
}

func TestGroupJSON(t *testing.T) {
	groups, err := Apply([]Snapshot{at("a", "2026-11-20T01:00:00Z", "pin")}, Policy{Last: 1}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"key":"source=orders-db host=db1","decisions":[{"snapshot":{"id":"a","time":"2026-11-20T01:00:00Z",` +
		`"source":"orders-db","hostname":"db1","tags":["pin"]},"keep":true,"reasons":["last 1"]}]}]`
	if string(b) != want {
		t.Errorf("JSON =\n  %s\nwant\n  %s", b, want)
	}
}

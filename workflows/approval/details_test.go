package approval

import (
	"strings"
	"testing"
	"time"
)

func TestDetailsSayWhoMayAnswerAndHow(t *testing.T) {
	opened := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		gate     PendingGate
		verified bool
		want     []string
		not      []string
	}{
		{
			name: "approvers, quorum and a deadline",
			gate: PendingGate{Gate: "approve-failover", Title: "Fail over | promote", Requester: "alice", Approvers: []string{"alice", "bob", "carol"},
				Quorum: 2, ApprovedBy: []string{"bob"}, OpenedAt: opened, ExpiresAt: opened.Add(time.Hour), OnExpiry: ExpireEscalate},
			want: []string{"gate `approve-failover`**: Fail over \\| promote", "May answer: bob, carol\n", "Needs: 2 approval(s) (so far: bob)",
				"Deadline: 2026-12-07T13:00:00Z, then it escalates and keeps waiting",
				"`lifeboat approve wf-1 --gate approve-failover`", "`lifeboat reject wf-1 --gate approve-failover --reason \"…\"`",
				`--input '{"gate":"approve-failover","approve":true,"identity":"<you>"}'`},
			not: []string{"May answer: alice", "assertion"},
		},
		{
			name: "anyone but the requester, no deadline",
			gate: PendingGate{Gate: "restore-in-place", Requester: "alice", Quorum: 1, OpenedAt: opened},
			want: []string{"May answer: anyone except alice, who asked", "Deadline: none; it waits until someone decides"},
		},
		{
			name:     "a decision, verified",
			gate:     PendingGate{Gate: "repair-or-restore", Requester: "plan", Quorum: 1, OpenedAt: opened, Options: []string{"repair", "restore"}},
			verified: true,
			want: []string{"`lifeboat decide wf-1 --gate repair-or-restore --choice <repair|restore>`",
				`--input '{"gate":"repair-or-restore","approve":true,"choice":"<repair|restore>","assertion":"<token>"}'`,
				"`lifeboat token decide wf-1 --gate repair-or-restore --approve`"},
			not: []string{"lifeboat approve", `"identity"`},
		},
		{
			name: "escalated",
			gate: PendingGate{Gate: "g", Requester: "a", Quorum: 1, OpenedAt: opened, ExpiresAt: opened.Add(time.Hour), OnExpiry: ExpireEscalate, Escalated: true},
			want: []string{"Deadline: passed; escalated, and it waits until someone decides"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Details("wf-1", []PendingGate{tc.gate}, tc.verified)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("unexpected %q in:\n%s", n, got)
				}
			}
		})
	}
	if got := Details("wf-1", nil, false); got != "" {
		t.Errorf("no open gate: %q", got)
	}
}

func TestTemporalCommandIsTheDecideCommandWithoutChoice(t *testing.T) {
	if a, b := TemporalCommand("wf", "g"), TemporalDecideCommand("wf", "g", "", false); a != b {
		t.Fatalf("%s\n%s", a, b)
	}
	if got := TemporalCommand("wf", ""); !strings.Contains(got, `--input '{"approve":true,"identity":"<you>"}'`) {
		t.Fatalf("without a gate: %s", got)
	}
}

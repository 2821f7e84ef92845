package report

import (
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// at is t0 plus a duration written as "4m12s".
func ptr[T any](v T) *T { return &v }

func at(d string) time.Time {
	dd, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return t0.Add(dd)
}

func ran(s workflows.StepState, from, to string) workflows.StepState {
	s.StartedAt, s.FinishedAt = at(from), at(to)
	s.Duration = units.Duration(s.FinishedAt.Sub(s.StartedAt))
	return s
}

func yes(b bool) *bool { return &b }

const lessonsMD = `## What went well

- The replica was **0.4s** behind, so no data was lost.
- Approvals came in over Slack within 4 minutes.

## What went wrong

The status page update waited 3 minutes for someone to pick it up.
It was not clear who owned it.

## Action items

1. Make support-leads the assignees of ` + "`tell-support`" + `.
2. Page the DBA on-call directly <b>before</b> asking for approval.

` + "```" + `
lifeboat plan validate orders-db-failover.yaml
` + "```" + `
`

// succeededRecovery is a recovery that met its RTO, with two approvals, a decision and a manual
// step, and text that must be escaped.
func succeededRecovery() (Run, Options) {
	approve := approval.Outcome{Gate: "approve-failover", Approved: true, Waited: 4*time.Minute + 10*time.Second, Decisions: []approval.Decision{
		{Gate: "approve-failover", Approve: true, Identity: "alice", Channel: approval.ChannelSlack, Reason: "primary confirmed lost | disk gone", Time: at("2m30s"), Verified: true},
		{Gate: "approve-failover", Approve: true, Identity: "carol", Channel: approval.ChannelCLI, Time: at("4m12s"), Verified: true},
	}}
	decide := approval.Outcome{Gate: "repair-or-restore", Approved: true, Choice: "restore", Waited: time.Minute + 48*time.Second, Decisions: []approval.Decision{
		{Gate: "repair-or-restore", Approve: true, Identity: "alice", Channel: approval.ChannelSlack, Choice: "restore", Reason: "the primary's volume is unrecoverable", Time: at("6m"), Verified: true},
	}}
	manual := approval.Outcome{Gate: "tell-support", Approved: true, Waited: 3*time.Minute + 26*time.Second, Decisions: []approval.Decision{
		{Gate: "tell-support", Approve: true, Identity: "dave", Channel: approval.ChannelSlack, Reason: "status page updated", Time: at("9m30s"), Verified: true},
	}}
	r := workflows.RecoveryResult{
		Plan: "orders-db-failover", PlanSHA256: "9f2c4e0b7d1a3c5e8f6a2b4d0c1e3f5a7b9d2c4e6f8a0b1c3d5e7f9a2b4c6d8e",
		Mode: workflows.ModeRecovery, Requester: "alice", Reason: "orders primary unreachable since 08:52 (INC-4312)",
		Status: plan.StatusSucceeded, Objectives: plan.Objectives{RTO: units.Duration(15 * time.Minute), RPO: units.Duration(5 * time.Minute)},
		StartedAt: t0, FinishedAt: at("9m31s"), RTO: units.Duration(9*time.Minute + 30*time.Second), RTOMet: yes(true),
		IncidentAt: at("-8m"), RecoveryPoint: at("-8m30s"), RPOStep: "promote", RPO: ptr(units.Duration(30 * time.Second)), RPOMet: yes(true),
		Acknowledgements: []workflows.Acknowledgement{{Identity: "bob", Channel: approval.ChannelCLI, Step: "approve-failover", Note: "paging carol", Time: at("3m"), Verified: true}},
		Identity:         &workflows.IdentityRecord{Mode: "verified", StartVerified: true, StartChannel: "key"},
		Audit: []workflows.AuditRecord{
			{Kind: "start", Actor: "alice", Subject: "orders-db-failover", Time: t0, Seq: 41, Hash: "sha256:5be0c2a9d41f7e3b"},
			{Kind: "decision", Actor: "alice", Subject: "orders-db-failover/approve-failover", Time: at("2m30s"), Seq: 42, Hash: "sha256:a17c9e02b6d3f481"},
			{Kind: "acknowledgement", Actor: "bob", Subject: "orders-db-failover/approve-failover", Time: at("3m"), Seq: 43, Hash: "sha256:0d93b7e1c5a2f668"},
			{Kind: "decision", Actor: "carol", Subject: "orders-db-failover/approve-failover", Time: at("4m12s"), Seq: 45, Hash: "sha256:e6f1a3c70b9d2254"},
			{Kind: "decision", Actor: "alice", Subject: "orders-db-failover/repair-or-restore", Time: at("6m"), Seq: 46, Hash: "sha256:3c8e5d0f1a7b9e42"},
			{Kind: "decision", Actor: "dave", Subject: "orders-db-failover/tell-support", Time: at("9m30s"), Seq: 48, Hash: "sha256:9b2d4f6a8c0e1357"},
		},
		Steps: []workflows.StepState{
			ran(workflows.StepState{ID: "check-primary", Type: plan.TypeAction, Action: "postgres.replication_status", Status: plan.StatusSucceeded,
				Summary: "dial tcp 10.0.0.5:5432: connect: connection refused", Outputs: map[string]any{"role": "unreachable", "reachable": false}}, "0s", "2s"),
			ran(workflows.StepState{ID: "check-replica", Type: plan.TypeAction, Action: "postgres.replication_status", Critical: true, Status: plan.StatusSucceeded,
				Summary: "replica, timeline 3, lag 0 bytes / 0.4s"}, "0s", "1500ms"),
			ran(workflows.StepState{ID: "approve-failover", Type: plan.TypeApproval, Critical: true, Status: plan.StatusSucceeded,
				Summary: "approved by alice, carol", Approval: &approve}, "2s", "4m12s"),
			ran(workflows.StepState{ID: "repair-or-restore", Type: plan.TypeDecision, Critical: true, Status: plan.StatusSucceeded,
				Summary: "chose restore", Choice: "restore", Approval: &decide}, "4m12s", "6m"),
			ran(workflows.StepState{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Critical: true, Status: plan.StatusSucceeded,
				Summary: "promoted orders-replica <script>alert('x')</script>"}, "6m", "6m3s"),
			ran(workflows.StepState{ID: "write-probe", Type: plan.TypeAction, Action: "postgres.write_probe", Critical: true, Status: plan.StatusSucceeded,
				Summary: "wrote and read back a probe row in 12ms"}, "6m3s", "6m4s"),
			ran(workflows.StepState{ID: "tell-support", Type: plan.TypeManual, Critical: true, Status: plan.StatusSucceeded,
				Summary: "approved by dave", Approval: &manual}, "6m3s", "9m30s"),
		},
	}
	notes := []Notification{
		{Message: notify.Message{Event: "approval.requested", Severity: notify.Warning, Title: "orders-db-failover: approve-failover needs 2 approvals", Time: at("2s")}, Deliveries: slackDelivered},
		{Message: notify.Message{Event: "approval.requested", Severity: notify.Warning, Title: "orders-db-failover: Repair the primary in place, or promote the replica?", Time: at("4m12s")}, Deliveries: slackDelivered},
		{Message: notify.Message{Event: "plan.notice", Severity: notify.Info, Title: "orders-db-failover: orders now write to the replica", Time: at("6m4s")}, Deliveries: slackDelivered},
	}
	return Run{WorkflowID: "recovery-orders-db-failover-20260314T090000Z", RunID: "0195e2b4-7c1a-7d3e-9f10-2a4b6c8d0e12", Result: r, Notifications: notes},
		Options{Lessons: []byte(lessonsMD)}
}

// failedRecovery is a recovery whose critical step failed: the steps before it were undone, one
// of them unsuccessfully, and the steps after it did not run.
func failedRecovery() (Run, Options) {
	approve := approval.Outcome{Gate: "approve", Approved: true, Waited: 90 * time.Second, Decisions: []approval.Decision{
		{Gate: "approve", Approve: true, Identity: "bob", Channel: approval.ChannelAPI, Time: at("1m32s")},
	}}
	r := workflows.RecoveryResult{
		Plan: "payments-region-failover", PlanSHA256: "2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d1e3f5a7b9c1d3e5f7a9b1c",
		Mode: workflows.ModeRecovery, Requester: "pagerduty:PD-8841", Reason: "eu-west-1 outage",
		Status: plan.StatusFailed, Objectives: plan.Objectives{RTO: units.Duration(30 * time.Minute)},
		StartedAt: t0, FinishedAt: at("7m40s"), RTO: units.Duration(7 * time.Minute),
		Error:    "step switch-dns failed: route53: change orders.example.com: Throttling: rate exceeded",
		Identity: &workflows.IdentityRecord{Mode: "trust-client", Warning: "identities were taken as typed (identity mode trust-client): anyone who can reach Temporal could have acted under any name"},
		Refused: []approval.Refusal{{Decision: approval.Decision{Gate: "approve", Approve: true, Identity: "mallory", Channel: approval.ChannelCLI, Time: at("40s")},
			Error: `gate "approve": "mallory" is not an approver (approvers: bob, carol)`}},
		Steps: []workflows.StepState{
			ran(workflows.StepState{ID: "check-standby", Type: plan.TypeAction, Action: "check.http", Critical: true, Status: plan.StatusSucceeded,
				Summary: "https://standby.example.com/healthz: 200 in 84ms"}, "0s", "2s"),
			ran(workflows.StepState{ID: "approve", Type: plan.TypeApproval, Critical: true, Status: plan.StatusSucceeded,
				Summary: "approved by bob", Approval: &approve}, "2s", "1m32s"),
			ran(workflows.StepState{ID: "promote-replica", Type: plan.TypeAction, Action: "aws.rds_promote_read_replica", Critical: true, Status: workflows.StepCompensated,
				Summary: "payments-eu-central-1 is now a standalone instance", Compensation: "postgres.fence: fenced payments-eu-central-1"}, "1m32s", "5m10s"),
			ran(workflows.StepState{ID: "scale-up", Type: plan.TypeAction, Action: "aws.asg_set_capacity", Critical: true, Status: plan.StatusSucceeded,
				Summary: "payments-api desired 12 (was 2)", Compensation: "failed: aws: autoscaling group payments-api not found"}, "5m10s", "6m"),
			{ID: "restore-from-backup", Type: plan.TypeAction, Action: "postgres.restore", Status: plan.StatusSkipped,
				Summary: `condition steps.promote-replica.status == "failed" is false`},
			ran(workflows.StepState{ID: "switch-dns", Type: plan.TypeAction, Action: "aws.route53_upsert", Critical: true, Status: plan.StatusFailed,
				Error: "route53: change orders.example.com: Throttling: rate exceeded"}, "6m", "7m"),
			{ID: "verify-traffic", Type: plan.TypeAction, Action: "check.http", Critical: true, Status: workflows.StepNotRun},
			{ID: "announce", Type: plan.TypeNotify, Status: workflows.StepNotRun},
		},
	}
	notes := []Notification{
		{Message: notify.Message{Event: "approval.requested", Severity: notify.Warning, Title: "payments-region-failover: approve needs 1 approval", Time: at("2s")}, Deliveries: []notify.Delivery{
			{Notifier: "slack #payments", Route: "default", Attempts: 1},
			{Notifier: "pagerduty payments", Route: "default", Attempts: 3, Err: "pagerduty: HTTP 503"}}},
		{Message: notify.Message{Event: "plan.failed", Severity: notify.Critical, Title: "payments-region-failover failed at switch-dns", Time: at("7m40s")},
			Error: "no channel took the message: slack #payments: not_in_channel"},
	}
	return Run{WorkflowID: "recovery-payments-region-failover-20260314T090000Z", RunID: "0195e2c0-11aa-7bbb-8ccc-0d1e2f3a4b5c", Result: r, Notifications: notes}, Options{}
}

// missedDrill is a drill that succeeded but missed its RTO: a gate escalated, a decision expired
// to its default, and the drill undid what it did.
func missedDrill() (Run, Options) {
	approve := approval.Outcome{Gate: "approve-failover", Approved: true, Expired: true, Escalated: true, Waited: 5*time.Minute + 30*time.Second, Decisions: []approval.Decision{
		{Gate: "approve-failover", Approve: true, Identity: "alice", Channel: approval.ChannelSlack, Time: at("3m")},
		{Gate: "approve-failover", Approve: true, Identity: "bob", Channel: approval.ChannelTemporal, Reason: "drill: go ahead", Time: at("5m35s")},
	}}
	decide := approval.Outcome{Gate: "repair-or-restore", Approved: true, Expired: true, Choice: "restore", Waited: time.Minute}
	r := workflows.RecoveryResult{
		Plan: "orders-db-failover", PlanSHA256: "9f2c4e0b7d1a3c5e8f6a2b4d0c1e3f5a7b9d2c4e6f8a0b1c3d5e7f9a2b4c6d8e",
		Mode: workflows.ModeDrill, Requester: "schedule:quarterly-drill", Reason: "quarterly failover drill",
		Status: plan.StatusSucceeded, Objectives: plan.Objectives{RTO: units.Duration(5 * time.Minute), RPO: units.Duration(time.Minute)},
		StartedAt: t0, FinishedAt: at("7m31s"), RTO: units.Duration(7*time.Minute + 20*time.Second), RTOMet: yes(false),
		Steps: []workflows.StepState{
			ran(workflows.StepState{ID: "check-replica", Type: plan.TypeAction, Action: "postgres.replication_status", Critical: true, Status: plan.StatusSucceeded,
				Summary: "replica, timeline 3, lag 128 bytes / 0.9s"}, "0s", "5s"),
			ran(workflows.StepState{ID: "approve-failover", Type: plan.TypeApproval, Critical: true, Status: plan.StatusSucceeded,
				Summary: "approved by alice, bob", Approval: &approve}, "5s", "5m35s"),
			ran(workflows.StepState{ID: "repair-or-restore", Type: plan.TypeDecision, Critical: true, Status: plan.StatusSucceeded,
				Summary: "chose restore", Choice: "restore", Approval: &decide}, "5m35s", "6m35s"),
			ran(workflows.StepState{ID: "settle", Type: plan.TypeWait, Critical: true, Status: plan.StatusSucceeded}, "6m35s", "7m5s"),
			ran(workflows.StepState{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Critical: true, Status: workflows.StepCompensated,
				Summary: "promoted orders-replica", Compensation: "postgres.fence: fenced orders-replica"}, "7m5s", "7m20s"),
		},
	}
	notes := []Notification{
		{Message: notify.Message{Event: "approval.escalated", Severity: notify.Critical, Level: 1, Title: "orders-db-failover: step approve-failover still waits for a decision", Time: at("4m5s")}, Deliveries: slackDelivered},
		{Message: notify.Message{Event: "plan.rto_missed", Severity: notify.Critical, Title: "orders-db-failover has run past its RTO of 5m", Time: at("5m")}, Deliveries: slackDelivered},
	}
	return Run{WorkflowID: "drill-orders-db-failover-20260314T090000Z", RunID: "0195e2d1-5e6f-7a8b-9c0d-1e2f3a4b5c6d", Result: r, Notifications: notes}, Options{}
}

// runningRecovery is a recovery still waiting at a gate.
func runningRecovery() (Run, Options) {
	r := workflows.RecoveryResult{
		Plan: "orders-db-failover", Mode: workflows.ModeRecovery, Requester: "alice", Status: "running",
		Objectives: plan.Objectives{RTO: units.Duration(15 * time.Minute)}, StartedAt: t0,
		Steps: []workflows.StepState{
			ran(workflows.StepState{ID: "check-replica", Type: plan.TypeAction, Action: "postgres.replication_status", Status: plan.StatusSucceeded}, "0s", "2s"),
			{ID: "approve-failover", Type: plan.TypeApproval, Status: "running", StartedAt: at("2s")},
			{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Status: workflows.StepPending},
		},
	}
	return Run{WorkflowID: "recovery-orders", Result: r}, Options{Now: at("4m")}
}

// slackDelivered is a message Slack took.
var slackDelivered = []notify.Delivery{{Notifier: "slack #dr-war-room", Route: "default", Attempts: 1}}

// rehearsal is a tabletop rehearsal: its actions simulated, its gates answered by people.
func rehearsal() (Run, Options) {
	approve := approval.Outcome{Gate: "approve-failover", Approved: true, Waited: 4 * time.Minute, Decisions: []approval.Decision{
		{Gate: "approve-failover", Approve: true, Identity: "bob", Channel: approval.ChannelCLI, Time: at("1m5s")},
		{Gate: "approve-failover", Approve: true, Identity: "carol", Channel: approval.ChannelSlack, Time: at("4m5s")},
	}}
	decide := approval.Outcome{Gate: "repair-or-restore", Approved: true, Choice: "restore", Waited: 90 * time.Second, Decisions: []approval.Decision{
		{Gate: "repair-or-restore", Approve: true, Choice: "restore", Identity: "carol", Channel: approval.ChannelCLI, Time: at("5m35s")},
	}}
	promote := workflows.SimulatedAction{Action: "postgres.promote", Params: []workflows.SimulatedParam{
		{Name: "dsn_secret", Value: "orders-replica", Secret: true, Target: true}, {Name: "wait", Value: "60s", Default: true}},
		Targets: []string{"dsn_secret secret orders-replica"}}
	r := workflows.RecoveryResult{
		Plan: "orders-db-failover", PlanSHA256: "9f2c4e0b7d1a3c5e8f6a2b4d0c1e3f5a7b9d2c4e6f8a0b1c3d5e7f9a2b4c6d8e",
		Mode: workflows.ModeRehearsal, Requester: "erin", Reason: "quarterly tabletop",
		Status: plan.StatusSucceeded, Objectives: plan.Objectives{RTO: units.Duration(15 * time.Minute)},
		StartedAt: t0, FinishedAt: at("5m35s"), RTO: units.Duration(5*time.Minute + 35*time.Second), RTOMet: yes(true),
		Steps: []workflows.StepState{
			ran(workflows.StepState{ID: "check-replica", Type: plan.TypeAction, Action: "postgres.replication_status", Critical: true, Status: plan.StatusSucceeded,
				Summary: "rehearsed: would run postgres.replication_status with dsn_secret=secret orders-replica; would reach dsn_secret secret orders-replica"}, "0s", "5s"),
			ran(workflows.StepState{ID: "approve-failover", Type: plan.TypeApproval, Critical: true, Status: plan.StatusSucceeded, GateOpenedAt: at("5s"),
				Summary: "approved by bob, carol", Approval: &approve}, "5s", "4m5s"),
			ran(workflows.StepState{ID: "repair-or-restore", Type: plan.TypeDecision, Critical: true, Status: plan.StatusSucceeded, GateOpenedAt: at("4m5s"),
				Summary: "chose restore", Choice: "restore", Approval: &decide}, "4m5s", "5m35s"),
			ran(workflows.StepState{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Critical: true, Status: plan.StatusSucceeded,
				Summary: "rehearsed: " + promote.String(), Simulated: &promote}, "5m35s", "5m35s"),
		},
	}
	notes := []Notification{
		{Message: notify.Message{Event: "approval.requested", Severity: notify.Warning, Title: "[rehearsal] orders-db-failover: step approve-failover needs a decision", Time: at("5s")}, Deliveries: slackDelivered},
	}
	return Run{WorkflowID: "rehearsal-orders-db-failover", RunID: "0195e2d1-5e6f-7a8b-9c0d-1e2f3a4b5c6e", Result: r, Notifications: notes}, Options{}
}

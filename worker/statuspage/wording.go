package statuspage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// wording is how a kind of step reads on the page: doing while it runs, done in the timeline.
type wording struct{ doing, done string }

// actionWords says what each action of the worker does, in words for people outside engineering.
var actionWords = map[string]wording{
	"postgres.replication_status":     {"Checking database replication", "Check database replication"},
	"postgres.fence":                  {"Stopping writes to the old database", "Stop writes to the old database"},
	"postgres.unfence":                {"Allowing writes to the database again", "Allow writes to the database again"},
	"postgres.promote":                {"Promoting the replica", "Promote the replica"},
	"postgres.write_probe":            {"Checking that the database accepts writes", "Check that the database accepts writes"},
	"postgres.sql_check":              {"Checking the database", "Check the database"},
	"aws.route53_upsert":              {"Switching traffic over (DNS)", "Switch traffic over (DNS)"},
	"aws.rds_promote_read_replica":    {"Promoting the replica", "Promote the replica"},
	"aws.rds_failover_global_cluster": {"Moving the database to another region", "Move the database to another region"},
	"aws.ec2_start":                   {"Starting servers", "Start servers"},
	"aws.ec2_stop":                    {"Stopping servers", "Stop servers"},
	"aws.asg_set_capacity":            {"Scaling servers", "Scale servers"},
	"check.http":                      {"Running health checks", "Run health checks"},
	"check.tcp":                       {"Running health checks", "Run health checks"},
	"check.dns":                       {"Running health checks", "Run health checks"},
	"restore.asset":                   {"Restoring data from backup", "Restore data from backup"},
	"exec":                            {"Running a recovery command", "Run a recovery command"},
	"notify":                          {"Notifying the team", "Notify the team"},
}

// typeWords says what steps other than actions do.
var typeWords = map[plan.StepType]wording{
	plan.TypeApproval: {"Waiting for approval", "Approval"},
	plan.TypeDecision: {"Waiting for a decision", "Decision"},
	plan.TypeManual:   {"Waiting for a manual step", "Manual step"},
	plan.TypeWait:     {"Waiting before the next step", "Wait"},
	plan.TypeNotify:   {"Notifying the team", "Notify the team"},
	plan.TypePlan:     {"Running a part of the plan", "Part of the plan"},
}

// words returns how a step reads; unknown actions read as their step ID, de-hyphenated.
func words(s workflows.StepState) wording {
	if s.Type == plan.TypeAction || s.Type == "" {
		if w, ok := actionWords[s.Action]; ok {
			return w
		}
		title := humanID(s.ID)
		return wording{doing: "Working on: " + strings.ToLower(title[:1]) + title[1:], done: title}
	}
	if w, ok := typeWords[s.Type]; ok {
		return w
	}
	return wording{doing: "Working on the recovery", done: humanID(s.ID)}
}

// humanID turns a step ID such as "promote-replica" into "Promote replica".
func humanID(id string) string {
	s := strings.TrimSpace(strings.NewReplacer("-", " ", "_", " ", ".", " ").Replace(id))
	if s == "" {
		return "Step"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// phase says what a running recovery is doing now, from its running steps.
func phase(st *workflows.RecoveryResult) string {
	if st == nil {
		return "In progress"
	}
	if len(st.Steps) == 0 {
		return "Starting"
	}
	var doing []string
	for _, s := range st.Steps {
		if s.Status != workflows.StepRunning {
			continue
		}
		if w := words(s).doing; !slices.Contains(doing, w) {
			doing = append(doing, w)
		}
	}
	switch {
	case len(doing) == 0:
		for _, s := range st.Steps {
			if s.Status == workflows.StepPending {
				return "Preparing the next step"
			}
		}
		return "Finishing up"
	case len(doing) > 2:
		return fmt.Sprintf("%s, %s and %d more", doing[0], doing[1], len(doing)-2)
	}
	return strings.Join(doing, "; ")
}

// progress is "3 of 7 steps done", counting skipped steps as done.
func progress(st *workflows.RecoveryResult) string {
	if st == nil || len(st.Steps)+st.Omitted == 0 {
		return ""
	}
	done := st.Omitted
	for _, s := range st.Steps {
		switch s.Status {
		case workflows.StepPending, workflows.StepRunning:
		default:
			done++
		}
	}
	return fmt.Sprintf("%d of %d steps done", done, len(st.Steps)+st.Omitted)
}

// maxTimeline is how many finished steps an active recovery lists.
const maxTimeline = 8

// timeline lists the last steps that ended, oldest first. Skipped steps are left out.
func timeline(st *workflows.RecoveryResult, now time.Time) []TimelineEntry {
	if st == nil {
		return []TimelineEntry{}
	}
	var ended []workflows.StepState
	for _, s := range st.Steps {
		if s.FinishedAt.IsZero() {
			continue
		}
		switch s.Status {
		case plan.StatusSucceeded, plan.StatusFailed, workflows.StepCompensated:
			ended = append(ended, s)
		}
	}
	slices.SortStableFunc(ended, func(a, b workflows.StepState) int { return a.FinishedAt.Compare(b.FinishedAt) })
	if len(ended) > maxTimeline {
		ended = ended[len(ended)-maxTimeline:]
	}
	out := make([]TimelineEntry, 0, len(ended))
	for _, s := range ended {
		outcome := "done"
		switch s.Status {
		case plan.StatusFailed:
			outcome = "failed"
		case workflows.StepCompensated:
			outcome = "undone"
		}
		out = append(out, TimelineEntry{At: moment(s.FinishedAt, now), Text: words(s).done, Outcome: outcome})
	}
	return out
}

// resultWords says how a finished recovery ended, and the state whose colour goes with it: green
// for a recovery that succeeded, red for one that failed, grey for one stopped.
func resultWords(result string) (string, State) {
	switch result {
	case plan.StatusSucceeded:
		return "Recovered", Operational
	case plan.StatusFailed:
		return "Recovery failed", MajorOutage
	case "canceled":
		return "Recovery stopped", Unknown
	case "terminated":
		return "Recovery ended by an operator", Unknown
	case "timed_out":
		return "Recovery timed out", MajorOutage
	}
	return "Ended", Unknown
}

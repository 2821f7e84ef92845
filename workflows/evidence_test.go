package workflows

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// drillEvidencePlan has a check the worker leaves out of drills, and one that runs.
const drillEvidencePlan = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: orders}
spec:
  scenario: Orders database lost
  objectives: {rto: 1h}
  steps:
    - {id: reachable, action: check.tcp, with: {address: "db:5432"}}
    - {id: public-dns, needs: [reachable], action: check.dns, with: {name: orders.example.com}, drill: {skip: true, reason: resolver not reachable from drills}}
`

func evidenceStore(t *testing.T, b storage.Backend) (*evidence.Store, *audit.Signer) {
	t.Helper()
	seed := sha256.Sum256([]byte("evidence"))
	s, err := audit.NewSigner(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	st, err := evidence.New(evidence.Config{Backend: b, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}

// A drill writes a signed record in which a check left out of the drill is not proven, and the
// drill's outcome is therefore "not proven", never a pass.
func TestDrillWritesEvidenceWithSkippedChecksNotProven(t *testing.T) {
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, s := evidenceStore(t, b)
	e, _ := newRecoveryEnv(t, drillEvidencePlan)
	e.RegisterActivity(&activities.Evidence{Store: st, ConfigSHA256: "c0ffee"})
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "orders", Requester: "alice", Mode: ModeDrill})
	r := recoveryResult(t, e)
	if err := e.GetWorkflowError(); err != nil || r.Status != "succeeded" {
		t.Fatalf("drill: %s, %v", r.Status, err)
	}
	if r.Evidence == nil || r.Evidence.Error != "" || r.Evidence.Outcome != evidence.OutcomeNotProven {
		t.Fatalf("evidence: %+v", r.Evidence)
	}
	v, err := st.Verify(t.Context(), r.Evidence.ID, audit.Keys(s.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	rec := v.Record
	if rec.Kind != evidence.KindDrill || rec.Subject != "orders" || rec.PlanSHA256 != "abc" || rec.ConfigSHA256 != "c0ffee" ||
		rec.StartedBy.Identity != "alice" || rec.Trust != evidence.TrustUnspecified || rec.TrustWarning == "" {
		t.Fatalf("record: %+v", rec)
	}
	if rec.Outcome != evidence.OutcomeNotProven || !strings.Contains(strings.Join(rec.Reasons, ";"), "1 of 2 checks not proven") {
		t.Fatalf("outcome %q, reasons %v", rec.Outcome, rec.Reasons)
	}
	got := map[string]string{}
	for _, c := range rec.Checks {
		got[c.Name] = c.Result + " " + c.Detail
	}
	if got["reachable (check.tcp)"] != "passed " || got["public-dns (check.dns)"] != "not proven left out of drills: resolver not reachable from drills" {
		t.Fatalf("checks: %q", got)
	}
	if len(rec.Steps) != 2 || rec.Steps[1].Drill != DrillSkipped || rec.Steps[0].Drill != DrillOwn {
		t.Fatalf("steps: %+v", rec.Steps)
	}
	if rec.RTO.Met == nil || !*rec.RTO.Met {
		t.Fatalf("RTO: %+v", rec.RTO)
	}

	// A recovery of the same plan writes no evidence.
	e, _ = newRecoveryEnv(t, drillEvidencePlan)
	e.RegisterActivity(&activities.Evidence{Store: st})
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "orders", Requester: "alice"})
	if r := recoveryResult(t, e); r.Evidence != nil {
		t.Fatalf("a recovery wrote evidence: %+v", r.Evidence)
	}
}

// refusingBackend refuses every write.
type refusingBackend struct{ storage.Backend }

func (refusingBackend) Create(context.Context, string, io.Reader, int64) error {
	return errors.New("bucket is read-only")
}

// Evidence that cannot be written does not fail the drill; its result says so.
func TestEvidenceNotWrittenDoesNotFailTheDrill(t *testing.T) {
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := evidenceStore(t, refusingBackend{b})
	e, _ := newRecoveryEnv(t, drillEvidencePlan)
	e.RegisterActivity(&activities.Evidence{Store: st})
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "orders", Requester: "alice", Mode: ModeDrill})
	r := recoveryResult(t, e)
	if err := e.GetWorkflowError(); err != nil || r.Status != "succeeded" {
		t.Fatalf("drill: %s, %v", r.Status, err)
	}
	if r.Evidence == nil || !strings.Contains(r.Evidence.Line(), "evidence not written: ") || !strings.Contains(r.Evidence.Error, "bucket is read-only") {
		t.Fatalf("evidence: %+v", r.Evidence)
	}
	var report string
	for _, m := range e.alerts {
		if strings.Contains(m.Text, "evidence not written") {
			report = m.Text
		}
	}
	if report == "" {
		t.Fatalf("no message says the evidence was not written: %+v", e.alerts)
	}
}

// A schedule is accepted as the starter of a drill only as the configuration's drill schedule,
// of a plan it drills, in drill mode, in a run the server says that schedule started — also where
// every person must prove who they are.
func TestScheduleStartsOnlyTheDrillsTheConfigurationSchedules(t *testing.T) {
	verified := &identity.Directory{Mode: identity.Verified, People: []identity.Person{{ID: "alice"}}}
	cases := []struct {
		name        string
		requester   string
		mode        string
		scheduledBy string
		plans       []string
		refusal     string
	}{
		{"the configured drill", "schedule:prod", ModeDrill, "drill-orders", []string{"orders"}, ""},
		{"a recovery", "schedule:prod", ModeRecovery, "drill-orders", []string{"orders"}, "may only start drills"},
		{"a plan not drilled on schedules", "schedule:prod", ModeDrill, "drill-orders", []string{"billing"}, "not among recovery.drills"},
		{"another owner", "schedule:staging", ModeDrill, "drill-orders", []string{"orders"}, "not this deployment's drill schedule"},
		{"no drills configured", "schedule:prod", ModeDrill, "drill-orders", nil, "schedules no drills"},
		{"not started by the schedule", "schedule:prod", ModeDrill, "", []string{"orders"}, "records no start by schedule drill-orders"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newRecoveryEnvWith(t, drillEvidencePlan, verified)
			ev := &activities.Evidence{DrilledPlans: c.plans}
			if c.plans != nil {
				ev.ScheduleRequester = "schedule:prod"
			}
			e.RegisterActivity(ev)
			e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "drill-orders-2026-12-07T03:00:00Z"})
			if c.scheduledBy != "" {
				if err := e.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledByKey.ValueSet(c.scheduledBy))); err != nil {
					t.Fatal(err)
				}
			}
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "orders", Requester: c.requester, Mode: c.mode})
			err := e.GetWorkflowError()
			r := recoveryResult(t, e)
			if c.refusal == "" {
				if err != nil || r.Requester != "schedule:prod" || r.Identity == nil || r.Identity.StartChannel != "schedule" || r.Identity.StartVerified {
					t.Fatalf("%v: %+v", err, r.Identity)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrTypeIdentityRefused || !strings.Contains(err.Error(), c.refusal) {
				t.Fatalf("%v, want a refusal saying %q", err, c.refusal)
			}
		})
	}
}

// A restore verification writes a verification record with every check's result; a failed check
// fails the record.
func TestVerificationWritesEvidence(t *testing.T) {
	src := t.TempDir()
	sum := writeSite(t, src, "<h1>orders</h1>")
	assets, as := realAssets(t, src)
	as.Offsite = nil
	as.Verify = &asset.Verify{Schedule: asset.Schedule{Every: units.Duration(24 * time.Hour)}, Checks: []asset.Check{{File: "index.html", SHA256: sum}}}
	assets.Catalog[as.Name] = as
	e := newAssetEnv(t, assets)
	e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "site"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, s := evidenceStore(t, b)
	keys := audit.Keys(s.PublicKey())

	e = newAssetEnv(t, assets)
	e.RegisterActivity(&activities.Evidence{Store: st})
	e.ExecuteWorkflow(VerifyWorkflow, VerifyInput{Asset: "site", Trigger: "schedule verify-site"})
	var ev Evidence
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	_ = e.GetWorkflowResult(&ev)
	if ev.Record == nil || ev.Record.Error != "" || ev.Record.Outcome != evidence.OutcomePassed {
		t.Fatalf("record: %+v", ev.Record)
	}
	v, err := st.Verify(t.Context(), ev.Record.ID, keys)
	if err != nil {
		t.Fatal(err)
	}
	rec := v.Record
	if rec.Kind != evidence.KindVerification || rec.Subject != "site" || rec.StartedBy.Channel != evidence.ChannelSchedule ||
		len(rec.Checks) != 1 || rec.Checks[0].Result != evidence.CheckPassed || rec.RPO.Met == nil || !*rec.RPO.Met || rec.RTO.Measured == nil {
		t.Fatalf("record: %+v", rec)
	}

	as.Verify.Checks[0].SHA256 = strings.Repeat("0", 64)
	assets.Catalog[as.Name] = as
	// A store of its own: in the test environment every run has the same run ID, and a second
	// verification within the same second would take the first one's record name.
	b2, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, s = evidenceStore(t, b2)
	keys = audit.Keys(s.PublicKey())
	e = newAssetEnv(t, assets)
	e.RegisterActivity(&activities.Evidence{Store: st})
	e.ExecuteWorkflow(VerifyWorkflow, VerifyInput{Asset: "site", Trigger: "alice"})
	var appErr *temporal.ApplicationError
	if err := e.GetWorkflowError(); !errors.As(err, &appErr) {
		t.Fatalf("failed verification: %v", err)
	}
	_ = appErr.Details(&ev)
	if ev.Record == nil || ev.Record.Outcome != evidence.OutcomeFailed {
		t.Fatalf("record of the failed verification: %+v", ev.Record)
	}
	if v, err := st.Verify(t.Context(), ev.Record.ID, keys); err != nil || v.Record.Checks[0].Result != evidence.CheckFailed {
		t.Fatalf("stored: %+v, %v", v.Record, err)
	}
}

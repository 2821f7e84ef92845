package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// AuditRecord links something that happened in a run to its entry in the worker's audit ledger.
type AuditRecord struct {
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	// Seq and Hash name the ledger entry (`lifeboat audit verify` checks it).
	Seq  uint64 `json:"seq,omitempty"`
	Hash string `json:"hash,omitempty"`
	// Error says why the entry could not be appended.
	Error string `json:"error,omitempty"`
}

// maxAuditWait is how long a run that ends waits for its last ledger entries: a ledger that cannot
// be written does not hold a recovery's result back, and the record says which entries are missing.
const maxAuditWait = 2 * time.Minute

// auditOptions appends a ledger entry: a few quick retries, since a storage error usually passes;
// the run never waits on them for its steps.
var auditOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second, MaximumAttempts: 6,
		NonRetryableErrorTypes: []string{contract.ErrTypeAuditEntryInvalid, contract.ErrTypeAuditLedgerDamaged}},
	Summary: "audit ledger",
}

// auditLog appends a run's starts, decisions, refusals, acknowledgements and overrides to the
// worker's audit ledger, each on a coroutine of its own, and lists them in the run's record. A nil
// auditLog (runs from before the ledger) records nothing.
type auditLog struct {
	records *[]AuditRecord
	pending int
}

func newAuditLog(records *[]AuditRecord) *auditLog { return &auditLog{records: records} }

// append records in the ledger without waiting for it.
func (l *auditLog) append(ctx workflow.Context, in contract.AppendAuditInput) {
	if l == nil {
		return
	}
	if in.Time.IsZero() {
		in.Time = workflow.Now(ctx)
	}
	l.pending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { l.pending-- }()
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		var res contract.AppendAuditResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, auditOptions), contract.AppendAudit, in).Get(ctx, &res)
		if err == nil && res.Skipped {
			return // the worker keeps no ledger
		}
		rec := AuditRecord{Kind: in.Kind, Actor: in.Actor, Subject: in.Subject, Time: in.Time, Seq: res.Seq, Hash: res.Hash}
		if err != nil {
			rec.Error = err.Error()
			workflow.GetLogger(ctx).Error("audit ledger entry not appended", "kind", in.Kind, "actor", in.Actor, "error", err)
		}
		*l.records = append(*l.records, rec)
	})
}

// appendNow records in the ledger and waits for it: for a run that ends at once, such as a refused
// start.
func (l *auditLog) appendNow(ctx workflow.Context, in contract.AppendAuditInput) {
	l.append(ctx, in)
	l.drain(ctx)
}

// drain waits, for a while, for the entries on their way.
func (l *auditLog) drain(ctx workflow.Context) {
	if l == nil || l.pending == 0 {
		return
	}
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if ok, _ := workflow.AwaitWithTimeout(ctx, maxAuditWait, func() bool { return l.pending == 0 }); !ok {
		workflow.GetLogger(ctx).Warn("run ends with audit ledger entries not appended", "entries", l.pending)
	}
}

// observeGates records every decision and refused decision of the run's gates in the ledger (when
// there is one), and tells refused of every refusal (when not nil), such as the run's record.
func (l *auditLog) observeGates(g *approval.Gates, subject func(gate string) string, refused func(approval.Refusal)) {
	var o approval.Observer
	if l != nil {
		o.Decided = func(ctx workflow.Context, d approval.Decision) {
			l.append(ctx, decisionEntry(contract.AuditKindDecision, d, subject(d.Gate), ""))
		}
	}
	if l != nil || refused != nil {
		o.Refused = func(ctx workflow.Context, r approval.Refusal) {
			if refused != nil {
				refused(r)
			}
			if l != nil {
				l.append(ctx, decisionEntry(contract.AuditKindRefusal, r.Decision, subject(r.Gate), r.Error))
			}
		}
	}
	g.Observe(o)
}

func decisionEntry(kind string, d approval.Decision, subject, refusal string) contract.AppendAuditInput {
	details := map[string]string{"gate": d.Gate, "decision": "reject"}
	if d.Approve {
		details["decision"] = "approve"
	}
	if d.Choice != "" {
		details["choice"] = d.Choice
	}
	if d.Reason != "" {
		details["reason"] = d.Reason
	}
	if refusal != "" {
		details["refused"] = refusal
	}
	return contract.AppendAuditInput{Kind: kind, Actor: d.Identity, Channel: string(d.Channel), Verified: d.Verified,
		Subject: subject, Time: d.Time, Details: details}
}

// startRefusal is the ledger entry of a refused start.
func startRefusal(requester, subject, mode string, err error) contract.AppendAuditInput {
	return contract.AppendAuditInput{Kind: contract.AuditKindRefusal, Actor: requester, Subject: subject,
		Details: map[string]string{"act": "start", "mode": mode, "refused": err.Error()}}
}

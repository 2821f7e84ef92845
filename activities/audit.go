package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
)

// Audit records events in the audit ledger.
type Audit struct {
	// Ledger is nil when the worker has no ledger configured: AppendAudit then records nothing.
	Ledger *audit.Ledger
}

// AppendAudit appends an entry to the ledger, once however often it is retried: without an ID of
// its own the entry gets one from the calling activity (workflow ID, run ID, activity ID). An
// entry the ledger refuses, and a ledger whose end cannot be read, are non-retryable errors
// (AuditEntryInvalid, AuditLedgerDamaged); storage errors are retried. Without a ledger the result
// is Skipped.
func (a *Audit) AppendAudit(ctx context.Context, in contract.AppendAuditInput) (contract.AppendAuditResult, error) {
	if a.Ledger == nil {
		return contract.AppendAuditResult{Skipped: true}, nil
	}
	e := audit.Entry{
		ID: in.ID, Time: in.Time, Kind: in.Kind, Actor: in.Actor, Channel: in.Channel, Verified: in.Verified,
		Workflow: in.Workflow, Run: in.Run, Subject: in.Subject, Details: in.Details,
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		if e.Workflow == "" && e.Run == "" {
			e.Workflow, e.Run = info.WorkflowExecution.ID, info.WorkflowExecution.RunID
		}
		if e.ID == "" {
			e.ID = info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID
			if len(e.ID) > audit.MaxIDLength {
				sum := sha256.Sum256([]byte(e.ID))
				e.ID = hex.EncodeToString(sum[:])
			}
		}
	}
	stored, existed, err := a.Ledger.Append(ctx, e)
	switch {
	case errors.Is(err, audit.ErrInvalid):
		return contract.AppendAuditResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeAuditEntryInvalid, err)
	case errors.Is(err, audit.ErrDamaged):
		return contract.AppendAuditResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeAuditLedgerDamaged, err)
	case err != nil:
		// Also when the entry was appended but the head was not moved: the retry finds the entry
		// by its ID and moves the head.
		return contract.AppendAuditResult{}, err
	}
	return contract.AppendAuditResult{Seq: stored.Seq, Hash: stored.Hash, Time: stored.Time, Existing: existed}, nil
}

package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
)

// Evidence writes the signed evidence of drills and verifications, and tells workflows which
// drills the configuration schedules.
type Evidence struct {
	// Store is nil when the worker keeps no evidence: WriteEvidence then writes nothing.
	Store *evidence.Store
	// ConfigSHA256 is the version of the worker's configuration, recorded in every record.
	ConfigSHA256 string
	// PlanConfigVersion returns the version of the parts of the configuration a plan uses,
	// recorded in every drill's record; nil records none.
	PlanConfigVersion func(plan string) string
	// ScheduleRequester is the identity drill schedules start drills as, and DrilledPlans the
	// plans they drill; both empty when the configuration schedules no drills.
	ScheduleRequester string
	DrilledPlans      []string
}

// WriteEvidence signs and stores a record, once however often it is retried: the record's name
// is derived from its run, and a retry that finds its own record succeeds with Existing. A record
// the store refuses, and another record under its name, are non-retryable errors
// (EvidenceInvalid, EvidenceConflict); storage errors are retried. Without a store the result is
// Skipped.
func (e *Evidence) WriteEvidence(ctx context.Context, in contract.WriteEvidenceInput) (contract.WriteEvidenceResult, error) {
	if e.Store == nil {
		return contract.WriteEvidenceResult{Skipped: true}, nil
	}
	rec := in.Record
	rec.ConfigSHA256 = e.ConfigSHA256
	if rec.Kind == evidence.KindDrill && e.PlanConfigVersion != nil {
		rec.PlanConfigSHA256 = e.PlanConfigVersion(rec.Subject)
	}
	id, existed, err := e.Store.Write(ctx, rec)
	switch {
	case errors.Is(err, evidence.ErrInvalid):
		return contract.WriteEvidenceResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeEvidenceInvalid, err)
	case errors.Is(err, evidence.ErrConflict):
		return contract.WriteEvidenceResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeEvidenceConflict, err)
	case err != nil:
		return contract.WriteEvidenceResult{}, err
	}
	return contract.WriteEvidenceResult{ID: id, Location: e.Store.Location(), Existing: existed}, nil
}

// LoadDrillSchedules returns the identity drill schedules start drills as and the plans they
// drill, from the worker's configuration: a workflow accepts that identity only for those plans,
// in drill mode, and never takes either from its input.
func (e *Evidence) LoadDrillSchedules(context.Context, contract.LoadDrillSchedulesInput) (contract.LoadDrillSchedulesResult, error) {
	if e.ScheduleRequester == "" || len(e.DrilledPlans) == 0 {
		return contract.LoadDrillSchedulesResult{}, nil
	}
	return contract.LoadDrillSchedulesResult{Requester: e.ScheduleRequester, Plans: append([]string(nil), e.DrilledPlans...)}, nil
}

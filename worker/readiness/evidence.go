package readiness

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
)

// EvidenceDrills reads drills from the evidence store: every drill record, each verified against
// Keys. A record that does not verify is returned unverified, and so proves nothing.
type EvidenceDrills struct {
	Store *evidence.Store
	Keys  map[string]ed25519.PublicKey
}

// Drills lists and verifies every drill record.
func (e EvidenceDrills) Drills(ctx context.Context) ([]Drill, error) {
	list, err := e.Store.List(ctx, evidence.Filter{Kind: evidence.KindDrill})
	if err != nil {
		return nil, err
	}
	out := make([]Drill, 0, len(list))
	var errs []error
	var forged []string
	for _, l := range list {
		v, err := e.Store.Verify(ctx, l.ID, e.Keys)
		if err != nil {
			if errors.Is(err, evidence.ErrUnverified) {
				forged = append(forged, l.ID)
			} else {
				errs = append(errs, err)
			}
			out = append(out, Drill{ID: l.ID, Plan: l.Subject, Started: l.Time})
			continue
		}
		out = append(out, drillOf(l.ID, v.Record))
	}
	if len(forged) > 0 {
		errs = append(errs, fmt.Errorf("%d drill records do not verify and count for nothing (lifeboat evidence verify): %s", len(forged), strings.Join(forged, ", ")))
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// drillOf is a verified drill record as readiness counts it.
func drillOf(id string, r evidence.Record) Drill {
	d := Drill{ID: id, Workflow: r.Workflow, Plan: r.Subject, PlanSHA256: r.PlanSHA256, ConfigSHA256: r.PlanConfigSHA256,
		Started: r.StartedAt, Ended: r.FinishedAt, Verified: true, Proven: r.Outcome == evidence.OutcomePassed}
	if !d.Proven {
		d.NotProven = r.Reasons
	}
	d.Passed = r.Status == "succeeded"
	for _, c := range r.Checks {
		if c.Result == evidence.CheckFailed {
			d.Passed = false
		}
	}
	if m := r.RTO.Measured; m != nil {
		d.RTO = m.D()
	}
	if m := r.RPO.Measured; m != nil {
		d.RPO = m.D()
	}
	return d
}

// LatestDrills answers, per plan, the RTO its latest passing, verified drill measured.
type LatestDrills []Drill

// LatestRTO returns the RTO of the plan's latest passing drill whose record verified and that
// measured one, and when it ended.
func (l LatestDrills) LatestRTO(plan string) (rto time.Duration, at time.Time, ok bool) {
	for _, d := range l {
		if d.Plan == plan && d.Verified && d.Passed && d.RTO > 0 && d.Ended.After(at) {
			rto, at, ok = d.RTO, d.Ended, true
		}
	}
	return rto, at, ok
}

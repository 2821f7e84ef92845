package activities

import (
	"context"
	"errors"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// Probes runs health-check attempts.
type Probes struct {
	Prober *probe.Prober
}

// ProbeCheck makes one attempt at a check. A target that is down is a result with OK false; an error
// means the check could not be attempted, and is non-retryable when the check is misconfigured.
func (p *Probes) ProbeCheck(ctx context.Context, in contract.ProbeCheckInput) (contract.ProbeCheckResult, error) {
	out, err := p.Prober.Run(ctx, in.Check)
	if errors.Is(err, probe.ErrMisconfigured) {
		return contract.ProbeCheckResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeProbeMisconfigured, err)
	}
	if err != nil {
		return contract.ProbeCheckResult{}, err
	}
	result := "fail"
	if out.OK {
		result = "pass"
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": string(in.Check.Kind), "result": result}).
		Counter("lifeboat_probe_attempts").Inc(1)
	return contract.ProbeCheckResult{Outcome: out}, nil
}

package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// ErrTypeProbeMisconfigured is the application error type of a check that cannot be attempted at all.
const ErrTypeProbeMisconfigured = "ProbeMisconfigured"

// Probes runs health-check attempts.
type Probes struct {
	Prober *probe.Prober
}

// ProbeCheckInput asks for one attempt at one check.
type ProbeCheckInput struct {
	// Target names what the probe as a whole looks at; it labels metrics.
	Target string      `json:"target"`
	Check  probe.Check `json:"check"`
}

// ProbeCheckResult is the outcome of the attempt.
type ProbeCheckResult struct {
	probe.Outcome
}

// ProbeCheck makes one attempt at a check. A target that is down is a result with OK false; an error
// means the check could not be attempted, and is non-retryable when the check is misconfigured.
func (p *Probes) ProbeCheck(ctx context.Context, in ProbeCheckInput) (ProbeCheckResult, error) {
	out, err := p.Prober.Run(ctx, in.Check)
	if errors.Is(err, probe.ErrMisconfigured) {
		return ProbeCheckResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeProbeMisconfigured, err)
	}
	if err != nil {
		return ProbeCheckResult{}, err
	}
	result := "fail"
	if out.OK {
		result = "pass"
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": string(in.Check.Kind), "result": result}).
		Counter("lifeboat_probe_attempts").Inc(1)
	return ProbeCheckResult{Outcome: out}, nil
}

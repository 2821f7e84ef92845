package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// probeAttemptOptions runs one check attempt as a local activity: attempts are short, and the probe's
// own thresholds decide what a failed attempt means, so infrastructure retries are few and quick.
func probeAttemptOptions(c probe.Check, attempt int) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		// The prober enforces the check's timeout itself; the grace covers connection set-up and
		// reporting back.
		StartToCloseTimeout: c.Timeout.Or(probe.DefaultTimeout) + 5*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{activities.ErrTypeProbeMisconfigured},
		},
		Summary: c.DisplayName() + " attempt " + strconv.Itoa(attempt),
	}
}

package workflows

import (
	"strconv"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// probeAttemptOptions runs one check attempt as a local activity: attempts are short, and the probe's
// own thresholds decide what a failed attempt means, so infrastructure retries are few and quick.
func probeAttemptOptions(c probe.Check, attempt int) workflow.LocalActivityOptions {
	// The prober enforces the check's timeout itself; the grace covers connection set-up and
	// reporting back. A check given by name alone has the timeout the worker configures, at most
	// probe.MaxTimeout.
	timeout := c.Timeout.Or(probe.DefaultTimeout)
	if c.IsReference() {
		timeout = probe.MaxTimeout
	}
	return workflow.LocalActivityOptions{
		StartToCloseTimeout: timeout + 5*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{contract.ErrTypeProbeMisconfigured, contract.ErrTypeProbeRefused},
		},
		Summary: c.DisplayName() + " attempt " + strconv.Itoa(attempt),
	}
}

// nonRetryableAssetErrors are the asset activities' errors that retrying cannot fix. A locked
// repository is among them: the workflow waits for the other holder on a timer of its own, so the
// wait shows as such and does not use up the retries meant for failures.
var nonRetryableAssetErrors = []string{
	contract.ErrTypeAssetNotFound, contract.ErrTypeAssetMisconfigured, contract.ErrTypeNoSnapshot, contract.ErrTypeLocked,
}

// shortStepOptions runs a short step (load an asset, resolve a snapshot, signal) as a local
// activity.
func shortStepOptions(summary string) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 10,
			NonRetryableErrorTypes: nonRetryableAssetErrors,
		},
		Summary: summary,
	}
}

// AssetHeartbeatTimeout is how long a backup, copy or restore may go without a heartbeat before the
// server declares its worker gone and retries it elsewhere. The activities heartbeat every second
// (every two while a step reports nothing), and the SDK sends at most one every 0.8 × this timeout;
// with the first retry a second later, a step whose worker died goes on elsewhere within about 12 s.
const AssetHeartbeatTimeout = 10 * time.Second

// HeartbeatEvery is how often workers send the heartbeats of long steps to the server, which is
// how often their progress is current for `lifeboat` and the Web UI.
const HeartbeatEvery = 2 * time.Second

// MaxAssetStep bounds one attempt of a backup, copy or restore: generous, since a multi-terabyte
// first backup may take days; a dead worker is noticed by the heartbeat timeout instead.
const MaxAssetStep = 7 * 24 * time.Hour

// longStepOptions runs a backup, copy, retention, restore or check: regular activities that
// heartbeat and resume where an interrupted attempt stopped. Failures retry for about an hour
// before the workflow reports them; the first retry comes at once, since the usual cause is a worker
// that died.
func longStepOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: MaxAssetStep,
		HeartbeatTimeout:    AssetHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 4, MaximumInterval: 5 * time.Minute, MaximumAttempts: 15,
			NonRetryableErrorTypes: nonRetryableAssetErrors,
		},
		Summary: summary,
	}
}

// checkStepOptions runs validation checks and scratch clean-up: no heartbeats, bounded time.
func checkStepOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: nonRetryableAssetErrors,
		},
		Summary: summary,
	}
}

// notifyOptions delivers an alert: retried for a quarter of an hour while no channel takes it.
func notifyOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 15 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:                "notify: " + summary,
	}
}

// lockWait is how long a workflow waits before trying again for a repository another job holds.
const lockWait = 30 * time.Second

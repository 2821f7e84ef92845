package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Helpers shared by the asset workflows: backup, restore, verify and the RPO watchdog.

// Results of asset workflows, as the LifeboatResult search attribute shows them.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultPassed    = "passed"
	ResultRejected  = "rejected"
)

// loadAsset reads the asset's definition from the worker's configuration.
func loadAsset(ctx workflow.Context, name string) (asset.Asset, error) {
	if strings.TrimSpace(name) == "" {
		return asset.Asset{}, temporal.NewNonRetryableApplicationError("asset: required: name an asset of the worker's configuration", ErrTypeInvalidInput, nil)
	}
	var out contract.LoadAssetResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load asset "+name)), contract.LoadAsset,
		contract.LoadAssetInput{Asset: name}).Get(ctx, &out)
	return out.Asset, err
}

// setKindAndAsset sets the kind and asset search attributes unless the starter already did.
func setKindAndAsset(ctx workflow.Context, kind, assetName string, more ...temporal.SearchAttributeUpdate) error {
	sa := workflow.GetTypedSearchAttributes(ctx)
	updates := more
	if v, _ := sa.GetKeyword(KindKey); v != kind {
		updates = append(updates, KindKey.ValueSet(kind))
	}
	if v, _ := sa.GetKeyword(AssetKey); v != assetName {
		updates = append(updates, AssetKey.ValueSet(assetName))
	}
	if len(updates) == 0 {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// phase records a workflow's phase in the search attributes, so operators can filter on it.
func phase(ctx workflow.Context, p string) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueSet(p)); err != nil {
		workflow.GetLogger(ctx).Warn("phase not recorded", "phase", p, "error", err)
	}
}

// finish records the final phase and result.
func finish(ctx workflow.Context, result string) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueSet("done"), ResultKey.ValueSet(result)); err != nil {
		workflow.GetLogger(ctx).Warn("result not recorded", "result", result, "error", err)
	}
}

// alert sends a message through the asset's notification routes. It runs on a disconnected
// context, so a cancelled workflow still reports; a failure to notify is logged and returned.
func alert(ctx workflow.Context, as asset.Asset, m notify.Message) error {
	if m.Time.IsZero() {
		m.Time = workflow.Now(ctx)
	}
	if m.Asset == "" {
		m.Asset = as.Name
	}
	if m.Link == "" {
		m.Link = workflowLink(ctx)
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, notifyOptions(m.Title))
	err := workflow.ExecuteActivity(dctx, contract.Notify, contract.NotifyInput{Routes: as.Notify, Message: m}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("alert not delivered", "event", m.Event, "asset", as.Name, "error", err)
	}
	return err
}

// workflowLink names the workflow the way an operator finds it: namespace and workflow ID.
func workflowLink(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	return "temporal://" + info.Namespace + "/workflows/" + info.WorkflowExecution.ID
}

// isErrType reports whether err is an application error of the given type.
func isErrType(err error, t string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == t
}

// errMessage is an error's innermost useful message (an activity's application error, not the
// wrappers around it).
func errMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// followProgress applies each progress report the workflow's long activities signal, on a coroutine
// of its own.
func followProgress(ctx workflow.Context, apply func(ctx workflow.Context, p contract.OpProgress)) {
	reports := workflow.GetSignalChannelWithOptions(ctx, contract.SignalProgress, workflow.SignalChannelOptions{
		Description: "Progress of a running step (bytes, files, rate), sent by the worker; shown in the status query and the current details."})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p contract.OpProgress
			if !reports.Receive(ctx, &p) {
				return
			}
			apply(ctx, p)
		}
	})
}

// progressLine renders a running step for current details: bytes, rate and, with a total, ETA.
func progressLine(p contract.OpProgress) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("%s: %s", p.Step, units.Bytes(p.BytesDone)))
	if p.BytesTotal > 0 {
		b.WriteString(fmt.Sprintf(" of ~%s (%d%%)", units.Bytes(p.BytesTotal), min(100, p.BytesDone*100/p.BytesTotal)))
	}
	b.WriteString(fmt.Sprintf(", %d files", p.Files))
	if p.Elapsed > 0 {
		rate := float64(p.BytesDone) / p.Elapsed.Seconds()
		b.WriteString(fmt.Sprintf(", %s/s", units.Bytes(int64(rate))))
		if p.BytesTotal > p.BytesDone && rate > 0 {
			eta := time.Duration(float64(p.BytesTotal-p.BytesDone) / rate * float64(time.Second))
			b.WriteString(", ETA " + units.Duration(eta.Round(time.Second)).Human())
		}
	}
	if p.StoredNew > 0 {
		b.WriteString(fmt.Sprintf(", %s new stored", units.Bytes(p.StoredNew)))
	}
	if p.Attempt > 1 {
		b.WriteString(fmt.Sprintf(" (attempt %d", p.Attempt))
		if p.Resumed != nil {
			b.WriteString(fmt.Sprintf(", resumed after %s", units.Bytes(p.Resumed.BytesDone)))
		}
		b.WriteString(")")
	}
	return b.String()
}

// Version markers of changes to released workflows (workflow.GetVersion).
const (
	// versionRestorePlan: a restore plans its exact scope before approval (PlanRestore), shows it
	// in the approval request, carries it out and nothing else, and waits for a locked repository.
	versionRestorePlan = "restore-plan"
	// versionVerifyLockWait: a drill waits for a locked repository instead of failing.
	versionVerifyLockWait = "verify-lock-wait"
)

// retryWhileLocked runs step until it ends other than with RepositoryLocked — another job holds
// the repository exclusively — waiting lockWait on a durable timer between tries, and telling
// waiting why each time. It returns how long it waited in all and step's last error.
func retryWhileLocked(ctx workflow.Context, step func() error, waiting func(msg string)) (time.Duration, error) {
	var waited time.Duration
	for {
		err := step()
		if !isErrType(err, contract.ErrTypeLocked) {
			return waited, err
		}
		waiting(errMessage(err))
		start := workflow.Now(ctx)
		if err := workflow.NewTimerWithOptions(ctx, lockWait, workflow.TimerOptions{Summary: "wait for the repository lock"}).Get(ctx, nil); err != nil {
			return waited, err
		}
		waited += workflow.Now(ctx).Sub(start)
	}
}

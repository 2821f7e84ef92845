package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Limits on a health probe, keeping its history well inside Temporal's limits.
const (
	MaxProbeChecks   = 50
	MaxProbeAttempts = 100
)

// ErrTypeInvalidInput is the application error type of a workflow started with input it cannot run.
const ErrTypeInvalidInput = "InvalidInput"

// Probe and check statuses.
const (
	StatusProbing   = "probing"
	StatusPending   = "pending"
	StatusHealthy   = "healthy"
	StatusUnhealthy = "unhealthy"
)

// HealthProbeInput starts a health probe: every check is attempted repeatedly until it passes
// SuccessThreshold times in a row (healthy) or fails FailureThreshold times in a row (unhealthy).
type HealthProbeInput struct {
	// Target names what is probed, such as "orders-primary"; it labels the workflow in the Web UI.
	Target string `json:"target"`
	// Checks run in parallel. Each names a check configured on the worker (probes.checks): by its
	// name alone ({"name": "orders-primary"}), or with its whole definition as configured. The
	// worker refuses any other (ProbeRefused).
	Checks []probe.Check `json:"checks"`
	// Interval is the wait between attempts of a check (default 5s).
	Interval units.Duration `json:"interval,omitempty"`
	// SuccessThreshold is how many passes in a row make a check healthy (default 1).
	SuccessThreshold int `json:"success_threshold,omitempty"`
	// FailureThreshold is how many failures in a row make a check unhealthy (default 3).
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// MaxAttempts bounds the attempts of a check that flaps between passing and failing; a check that
	// reaches neither threshold within it is unhealthy (default 2 × (SuccessThreshold + FailureThreshold)).
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// HealthProbeResult reports the probe. While it runs, the status query returns the same shape.
type HealthProbeResult struct {
	Target string `json:"target"`
	// Status is probing, healthy or unhealthy.
	Status string `json:"status"`
	// Healthy is true when every check that is not optional is healthy.
	Healthy    bool          `json:"healthy"`
	Checks     []CheckReport `json:"checks"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
}

// CheckReport is what one check has shown so far.
type CheckReport struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Target   string `json:"target"`
	Optional bool   `json:"optional,omitempty"`
	// Status is pending, healthy or unhealthy.
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	Successes int    `json:"successes"`
	Failures  int    `json:"failures"`
	// LastDetail is what the last passing attempt observed; LastReason why the last failing one failed.
	LastDetail  string         `json:"last_detail,omitempty"`
	LastReason  string         `json:"last_reason,omitempty"`
	LastLatency units.Duration `json:"last_latency,omitempty"`
	MaxLatency  units.Duration `json:"max_latency,omitempty"`
	// Verdict explains the status in a sentence.
	Verdict   string    `json:"verdict,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

func (in HealthProbeInput) withDefaults() HealthProbeInput {
	if in.Interval == 0 {
		in.Interval = units.Duration(5 * time.Second)
	}
	if in.SuccessThreshold == 0 {
		in.SuccessThreshold = 1
	}
	if in.FailureThreshold == 0 {
		in.FailureThreshold = 3
	}
	if in.MaxAttempts == 0 {
		in.MaxAttempts = min(MaxProbeAttempts, 2*(in.SuccessThreshold+in.FailureThreshold))
	}
	return in
}

// Validate returns every problem with the input, joined, or nil.
func (in HealthProbeInput) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(in.Target) == "" {
		bad("target: required: name what is probed")
	}
	switch n := len(in.Checks); {
	case n == 0:
		bad("checks: at least one check is required")
	case n > MaxProbeChecks:
		bad("checks: %d checks, at most %d in one probe", n, MaxProbeChecks)
	}
	names := map[string]int{}
	for i, c := range in.Checks {
		path := fmt.Sprintf("checks[%d]", i)
		// A check given by name alone is the worker's to validate, with its configuration.
		if !c.IsReference() {
			if err := c.Validate(path); err != nil {
				errs = append(errs, err)
			}
		}
		if j, dup := names[c.DisplayName()]; dup {
			bad("%s.name: %q is also the name of checks[%d]", path, c.DisplayName(), j)
		}
		names[c.DisplayName()] = i
	}
	if in.Interval != 0 && in.Interval.D() < 100*time.Millisecond {
		bad("interval: %s is shorter than 100ms", in.Interval)
	}
	if in.SuccessThreshold < 0 || in.SuccessThreshold > MaxProbeAttempts {
		bad("success_threshold: %d is not between 1 and %d", in.SuccessThreshold, MaxProbeAttempts)
	}
	if in.FailureThreshold < 0 || in.FailureThreshold > MaxProbeAttempts {
		bad("failure_threshold: %d is not between 1 and %d", in.FailureThreshold, MaxProbeAttempts)
	}
	if d := in.withDefaults(); in.MaxAttempts != 0 && (in.MaxAttempts < max(d.SuccessThreshold, d.FailureThreshold) || in.MaxAttempts > MaxProbeAttempts) {
		bad("max_attempts: %d is not between %d (the larger threshold) and %d", in.MaxAttempts, max(d.SuccessThreshold, d.FailureThreshold), MaxProbeAttempts)
	}
	return errors.Join(errs...)
}

// HealthProbe runs a health probe. It completes with Healthy false when a target is down: that is a
// finding, not a failure. It fails only when the input is invalid, the worker refuses a check (one
// not configured there) or a check is misconfigured on the worker (such as a missing secret),
// because a probe that cannot look must never pass for one that looked and saw an outage.
//
// Checks given by name alone were invalid input before the worker resolved checks by name: such a
// probe failed in its first workflow task, before any command but the failure. Accepting them
// changes no command of any history that got further, so it needs no workflow.GetVersion.
func HealthProbe(ctx workflow.Context, in HealthProbeInput) (HealthProbeResult, error) {
	if err := in.Validate(); err != nil {
		return HealthProbeResult{}, temporal.NewNonRetryableApplicationError("invalid health probe input: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	in = in.withDefaults()
	st := &HealthProbeResult{Target: in.Target, Status: StatusProbing, StartedAt: workflow.Now(ctx)}
	for _, c := range in.Checks {
		st.Checks = append(st.Checks, CheckReport{
			Name: c.DisplayName(), Kind: string(c.Kind), Target: c.Target(), Optional: c.Optional, Status: StatusPending,
		})
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (HealthProbeResult, error) { return *st, nil },
		workflow.QueryHandlerOptions{Description: "The probe so far: each check's attempts and result, and whether the target is healthy. `lifeboat status <workflow-id>` reads it."}); err != nil {
		return HealthProbeResult{}, err
	}
	// Kind and asset make the probe findable in the Web UI while it runs. lifeboat sets them at start;
	// a probe started without them (by the temporal CLI) sets them itself. Each upsert costs the
	// server a visibility write, which at a thousand probes halves throughput, so there is no
	// "probing" phase upsert: a probe lasts seconds, and its result is upserted at the end.
	sa := workflow.GetTypedSearchAttributes(ctx)
	var initial []temporal.SearchAttributeUpdate
	if v, _ := sa.GetKeyword(KindKey); v != "probe" {
		initial = append(initial, KindKey.ValueSet("probe"))
	}
	if v, _ := sa.GetKeyword(AssetKey); v != in.Target {
		initial = append(initial, AssetKey.ValueSet(in.Target))
	}
	if len(initial) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, initial...); err != nil {
			return HealthProbeResult{}, err
		}
	}
	setProbeDetails(ctx, st, in)

	// A misconfigured check ends the probe: the others are cancelled rather than left to run on.
	checksCtx, cancelChecks := workflow.WithCancel(ctx)
	var misconfigured error
	wg := workflow.NewWaitGroup(ctx)
	for i := range in.Checks {
		wg.Add(1)
		workflow.Go(checksCtx, func(ctx workflow.Context) {
			defer wg.Done()
			if err := runCheck(ctx, in, i, st); err != nil && misconfigured == nil {
				misconfigured = err
				cancelChecks()
			}
		})
	}
	wg.Wait(ctx)
	if misconfigured != nil {
		return *st, misconfigured
	}

	st.Healthy = true
	for _, c := range st.Checks {
		if !c.Optional && c.Status != StatusHealthy {
			st.Healthy = false
		}
	}
	st.Status = StatusUnhealthy
	if st.Healthy {
		st.Status = StatusHealthy
	}
	st.FinishedAt = workflow.Now(ctx)
	setProbeDetails(ctx, st, in)
	if err := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueSet("done"), ResultKey.ValueSet(st.Status)); err != nil {
		return *st, err
	}
	workflow.GetLogger(ctx).Info("health probe finished", "target", in.Target, "status", st.Status)
	return *st, nil
}

// runCheck attempts check i until a threshold is reached, updating st.Checks[i] after every attempt.
func runCheck(ctx workflow.Context, in HealthProbeInput, i int, st *HealthProbeResult) error {
	c := in.Checks[i]
	r := &st.Checks[i]
	inARow := 0 // > 0: consecutive passes, < 0: consecutive failures
	for attempt := 1; ; attempt++ {
		actx := workflow.WithLocalActivityOptions(ctx, probeAttemptOptions(c, attempt))
		var out contract.ProbeCheckResult
		err := workflow.ExecuteLocalActivity(actx, contract.ProbeCheck, contract.ProbeCheckInput{Target: in.Target, Check: c}).Get(ctx, &out)
		if ctx.Err() != nil {
			return nil // cancelled: another check is misconfigured
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeProbeMisconfigured {
			r.Status, r.Verdict = StatusUnhealthy, "could not be attempted: "+appErr.Message()
			setProbeDetails(ctx, st, in)
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("check %q is misconfigured: %s", c.DisplayName(), appErr.Message()), contract.ErrTypeProbeMisconfigured, nil)
		}
		if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeProbeRefused {
			r.Status, r.Verdict = StatusUnhealthy, "refused by the worker: "+appErr.Message()
			setProbeDetails(ctx, st, in)
			return temporal.NewNonRetryableApplicationError("refused by the worker: "+appErr.Message(), contract.ErrTypeProbeRefused, nil)
		}
		if err != nil {
			// The attempt itself broke down (it timed out or the worker failed it): as seen from
			// here the target did not answer.
			out.OK, out.Reason = false, "attempt failed: "+err.Error()
		}

		if r.Kind == "" && out.Kind != "" {
			// Given by name alone: the worker says what the check is.
			r.Kind, r.Target, r.Optional = string(out.Kind), out.Target, out.Optional
		}
		r.Attempts++
		r.LastLatency = out.Latency
		r.MaxLatency = max(r.MaxLatency, out.Latency)
		if out.OK {
			r.Successes++
			r.LastDetail = out.Detail
			inARow = max(inARow, 0) + 1
		} else {
			r.Failures++
			r.LastReason = out.Reason
			inARow = min(inARow, 0) - 1
		}
		switch {
		case inARow >= in.SuccessThreshold:
			r.Status, r.Verdict = StatusHealthy, fmt.Sprintf("passed %d in a row", inARow)
		case -inARow >= in.FailureThreshold:
			r.Status, r.Verdict = StatusUnhealthy, fmt.Sprintf("failed %d in a row: %s", -inARow, out.Reason)
		case attempt >= in.MaxAttempts:
			r.Status, r.Verdict = StatusUnhealthy, fmt.Sprintf("flapping: no threshold reached in %d attempts (%d passed, %d failed)", attempt, r.Successes, r.Failures)
		}
		if r.Status != StatusPending {
			r.DecidedAt = workflow.Now(ctx)
			setProbeDetails(ctx, st, in)
			return nil
		}
		setProbeDetails(ctx, st, in)
		timer := workflow.NewTimerWithOptions(ctx, in.Interval.D(), workflow.TimerOptions{Summary: "before attempt " + fmt.Sprint(attempt+1) + " of " + c.DisplayName()})
		if err := timer.Get(ctx, nil); err != nil {
			return nil // cancelled: the workflow is ending
		}
	}
}

// setProbeDetails keeps the Web UI's "current details" in step with the probe, as Markdown.
func setProbeDetails(ctx workflow.Context, st *HealthProbeResult, in HealthProbeInput) {
	decided := 0
	for _, c := range st.Checks {
		if c.Status != StatusPending {
			decided++
		}
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s %s**: %d of %d checks decided (healthy after %d passes in a row, unhealthy after %d failures, every %s)\n\n",
		titleStatus(st.Status), st.Target, decided, len(st.Checks), in.SuccessThreshold, in.FailureThreshold, in.Interval))
	b.WriteString("| check | status | attempts | last |\n|---|---|---|---|\n")
	for _, c := range st.Checks {
		last := c.LastDetail
		if c.Verdict != "" {
			last = c.Verdict
		} else if c.Failures > 0 && c.LastReason != "" {
			last = c.LastReason
		}
		if c.LastLatency > 0 {
			last += " (" + c.LastLatency.Human() + ")"
		}
		opt := ""
		if c.Optional {
			opt = " (optional)"
		}
		b.WriteString(fmt.Sprintf("| %s%s | %s | %d | %s |\n", mdCell(c.Name), opt, c.Status, c.Attempts, mdCell(last)))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func titleStatus(s string) string {
	switch s {
	case StatusProbing:
		return "Probing"
	case StatusHealthy:
		return "Healthy:"
	default:
		return "Unhealthy:"
	}
}

var mdCellEscaper = strings.NewReplacer("|", `\|`, "\n", " ")

func mdCell(s string) string { return mdCellEscaper.Replace(s) }

package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// Probes runs attempts at the health checks configured on the worker, and at no others.
type Probes struct {
	Prober *probe.Prober
	// Checks are the configured checks by name (probes.checks in the worker's configuration).
	Checks map[string]probe.Check
	// Logger gets the full error behind each failed attempt, which the result leaves out.
	Logger *slog.Logger
}

// ProbeCheck makes one attempt at a configured check. The input names the check: by its name
// alone, or with its whole definition as configured. A check not configured, or defined otherwise
// than configured, is refused (ErrTypeProbeRefused), non-retryably.
//
// A target that is down is a result with OK false, whose reason comes from a fixed vocabulary;
// the full error goes to the log. An error means the check could not be attempted, and is
// non-retryable when the check is misconfigured.
func (p *Probes) ProbeCheck(ctx context.Context, in contract.ProbeCheckInput) (contract.ProbeCheckResult, error) {
	c, err := p.resolve(in.Check)
	if err != nil {
		return contract.ProbeCheckResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeProbeRefused, nil)
	}
	out, err := p.Prober.Run(ctx, c)
	if errors.Is(err, probe.ErrMisconfigured) {
		return contract.ProbeCheckResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeProbeMisconfigured, err)
	}
	if err != nil {
		return contract.ProbeCheckResult{}, err
	}
	result := "fail"
	if out.OK {
		result = "pass"
	} else {
		p.logger().Warn("health check attempt failed", "target", in.Target, "check", c.Name, "reason", out.Reason, "error", out.Cause)
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": string(c.Kind), "result": result}).
		Counter("lifeboat_probe_attempts").Inc(1)
	return contract.ProbeCheckResult{Outcome: out, Kind: c.Kind, Target: c.Target(), Optional: c.Optional}, nil
}

// resolve returns the configured check that c names, or says why it is refused.
func (p *Probes) resolve(c probe.Check) (probe.Check, error) {
	configured, ok := p.Checks[c.Name]
	switch {
	case ok && (c.IsReference() || c.Same(configured)):
		return configured, nil
	case ok:
		return probe.Check{}, fmt.Errorf(`check %q differs from the check of that name configured on this worker: give only its name ({"name": %q}) to run it as configured`, c.Name, c.Name)
	case len(p.Checks) == 0:
		return probe.Check{}, fmt.Errorf("check %q is not configured on this worker, which has no checks configured: add it to probes.checks in the worker's configuration", c.DisplayName())
	case c.Name == "":
		return probe.Check{}, fmt.Errorf("check %q has no name: name one of the checks configured on this worker (%s)", c.DisplayName(), p.names())
	}
	return probe.Check{}, fmt.Errorf("check %q is not configured on this worker: name one of its configured checks (%s), or add it to probes.checks in the worker's configuration", c.Name, p.names())
}

func (p *Probes) names() string {
	names := make([]string, 0, len(p.Checks))
	for n := range p.Checks {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (p *Probes) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

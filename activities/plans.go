package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// Plans reads recovery plans from the worker's plans directory: plans are code, reviewed and
// deployed with the worker, and a workflow names the plan it runs.
type Plans struct {
	Dir string
	// DrillSkip are the worker's rules for actions it cannot reach in drills (recovery.drill_skip).
	DrillSkip []plan.DrillSkip

	mu sync.Mutex
	// parsed caches what a plan file's text parses to, by the text's SHA-256: every recovery loads
	// its plan, and parsing and validating YAML costs far more than reading and hashing it.
	parsed map[string]*parsedPlan
}

// parsedPlan is what one plan text parses to: its name (empty when it does not decode), and the
// validated plan or why it is invalid.
type parsedPlan struct {
	name string
	plan *plan.Plan
	err  error
}

// maxParsedPlans bounds the cache; past it, the cache starts over.
const maxParsedPlans = 1024

func (p *Plans) parse(b []byte) (*parsedPlan, string) {
	sum := plan.FileSHA256(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp, ok := p.parsed[sum]; ok {
		return pp, sum
	}
	pp := &parsedPlan{}
	if decoded, err := plan.Decode(b); err == nil {
		pp.name = decoded.Metadata.Name
		parsed, err := plan.Parse(b)
		if err == nil {
			err = plan.ValidateWith(parsed, plan.DefaultActions())
		}
		pp.plan, pp.err = parsed, err
	}
	if p.parsed == nil || len(p.parsed) >= maxParsedPlans {
		p.parsed = map[string]*parsedPlan{}
	}
	p.parsed[sum] = pp
	return pp, sum
}

// LoadPlan finds the plan named in the plans directory (*.yaml and *.yml files), parses and
// validates it against the actions this worker carries out. A missing or invalid plan is a
// non-retryable PlanInvalid error listing every problem.
func (p *Plans) LoadPlan(_ context.Context, in contract.LoadPlanInput) (contract.LoadPlanResult, error) {
	invalid := func(err error) error {
		return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypePlanInvalid, err)
	}
	if p.Dir == "" {
		return contract.LoadPlanResult{}, invalid(errors.New("this worker has no plans directory (recovery.plans_dir in its configuration)"))
	}
	files, err := filepath.Glob(filepath.Join(p.Dir, "*.y*ml"))
	if err != nil {
		return contract.LoadPlanResult{}, err
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return contract.LoadPlanResult{}, fmt.Errorf("read plan %s: %w", f, err)
		}
		pp, sum := p.parse(b)
		if pp.name != in.Plan {
			if pp.name != "" {
				names = append(names, pp.name)
			}
			continue
		}
		if pp.err != nil {
			return contract.LoadPlanResult{}, invalid(fmt.Errorf("plan %s (%s) is invalid:\n%w", in.Plan, f, pp.err))
		}
		loaded := *pp.plan
		if in.Drill {
			loaded = loaded.WithDrillSkips(p.DrillSkip)
		}
		return contract.LoadPlanResult{Plan: loaded, File: f, SHA256: sum}, nil
	}
	sort.Strings(names)
	known := strings.Join(names, ", ")
	if known == "" {
		known = "none"
	}
	return contract.LoadPlanResult{}, invalid(fmt.Errorf("no plan named %q in %s (plans: %s)", in.Plan, p.Dir, known))
}

// Runs gives a recovery, in one local activity, what it needs of the worker's configuration before
// its first step: the identity directory, the plan and whether an audit ledger is kept.
type Runs struct {
	Plans      *Plans
	Identities *Identities
	Audit      *Audit
}

// LoadRun loads the identity directory (as LoadIdentity) and the plan (as LoadPlan). A plan that is
// missing or invalid is not an error of the activity but PlanError in its result, so that the run
// establishes, and records, who started it before it fails; other errors (a plan file that cannot
// be read) are errors, and are retried.
func (r *Runs) LoadRun(ctx context.Context, in contract.LoadRunInput) (contract.LoadRunResult, error) {
	var res contract.LoadRunResult
	id, err := r.Identities.LoadIdentity(ctx, contract.LoadIdentityInput{})
	if err != nil {
		return res, err
	}
	res.Identity, res.Ledger = id, r.Audit != nil && r.Audit.Ledger != nil
	plans := r.Plans
	if plans == nil {
		plans = &Plans{}
	}
	loaded, err := plans.LoadPlan(ctx, contract.LoadPlanInput(in))
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &app) && app.Type() == contract.ErrTypePlanInvalid:
		res.PlanError = app.Message()
	case err != nil:
		return res, err
	default:
		res.Plan = loaded
	}
	return res, nil
}

package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

// ErrTypePlanInvalid is the type of the non-retryable error of a plan that is missing or invalid.
const ErrTypePlanInvalid = "PlanInvalid"

// Plans reads recovery plans from the worker's plans directory: plans are code, reviewed and
// deployed with the worker, and a workflow names the plan it runs.
type Plans struct {
	Dir string
}

// LoadPlanInput names a plan by its metadata.name.
type LoadPlanInput struct {
	Plan string `json:"plan"`
}

// LoadPlanResult is the validated plan and where it came from.
type LoadPlanResult struct {
	Plan plan.Plan `json:"plan"`
	File string    `json:"file"`
	// SHA256 identifies the plan's exact text, for the report.
	SHA256 string `json:"sha256"`
}

// LoadPlan finds the plan named in the plans directory (*.yaml and *.yml files), parses and
// validates it against the actions this worker carries out. A missing or invalid plan is a
// non-retryable PlanInvalid error listing every problem.
func (p *Plans) LoadPlan(_ context.Context, in LoadPlanInput) (LoadPlanResult, error) {
	invalid := func(err error) error {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePlanInvalid, err)
	}
	if p.Dir == "" {
		return LoadPlanResult{}, invalid(errors.New("this worker has no plans directory (recovery.plans_dir in its configuration)"))
	}
	files, err := filepath.Glob(filepath.Join(p.Dir, "*.y*ml"))
	if err != nil {
		return LoadPlanResult{}, err
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return LoadPlanResult{}, fmt.Errorf("read plan %s: %w", f, err)
		}
		decoded, err := plan.Decode(b)
		if err != nil || decoded.Metadata.Name != in.Plan {
			if err == nil {
				names = append(names, decoded.Metadata.Name)
			}
			continue
		}
		parsed, err := plan.Parse(b)
		if err == nil {
			err = plan.ValidateWith(parsed, plan.DefaultActions())
		}
		if err != nil {
			return LoadPlanResult{}, invalid(fmt.Errorf("plan %s (%s) is invalid:\n%w", in.Plan, f, err))
		}
		sum := sha256.Sum256(b)
		return LoadPlanResult{Plan: *parsed, File: f, SHA256: hex.EncodeToString(sum[:])}, nil
	}
	sort.Strings(names)
	known := strings.Join(names, ", ")
	if known == "" {
		known = "none"
	}
	return LoadPlanResult{}, invalid(fmt.Errorf("no plan named %q in %s (plans: %s)", in.Plan, p.Dir, known))
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/readiness"
)

func (a *app) readinessCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "readiness",
		Short: "Show, per service, whether it could be recovered, how fast, and what proves it",
		Long: `Show the readiness of every service in the configuration (--config or LIFEBOAT_CONFIG): its
plans and the last drill of each that passed, with the RTO and RPO it measured against the
objectives; "needs verification" when the plan or the configuration it uses changed since that
drill (by content hash), "overdue" when the drill is older than readiness.drill_interval; each
asset's last verified restore and the share of the window it spent inside its RPO; and the gaps:
assets no plan recovers, plans never drilled, services without an owner or a plan.

Drills count only from signed evidence records that verify (evidence section); asset protection
comes from the assets' RPO watchdogs. The worker serves the same as a page at /readiness and as
JSON at /readiness.json.

The exit code is 3 when any service needs attention.`,
		Example: `  lifeboat readiness
  lifeboat readiness -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("readiness needs the configuration that lists the services: --config or LIFEBOAT_CONFIG")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if len(cfg.Services) == 0 {
				return usageErr("the configuration lists no services: add a services section (docs/services.md)")
			}
			ctx := cmd.Context()
			src := &readiness.Source{Config: cfg}
			c, _, err := a.dial(ctx)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "lifeboat: assets' protection unknown: %v\n", err)
			} else {
				defer c.Close()
				src.Client = func() client.Client { return c }
			}
			drills, err := a.evidenceDrills(ctx, cfg)
			if err != nil {
				return err
			}
			src.Drills = drills
			r := readiness.Compute(src.Inputs(ctx), readiness.Policy{DrillInterval: cfg.Readiness.DrillInterval.D(), Window: cfg.Readiness.Window.D()})
			if err := a.print(r, func(w io.Writer) { readiness.Text(w, r) }); err != nil {
				return err
			}
			var attention []string
			for _, s := range r.Services {
				if !s.Ready {
					attention = append(attention, s.Name)
				}
			}
			if len(attention) > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("%s of %d need attention: %s", plural(int64(len(attention)), "service"), len(r.Services), strings.Join(attention, ", "))}
			}
			return nil
		},
	}
}

// evidenceDrills opens the configuration's evidence store as the source of drills; nil when the
// configuration has none.
func (a *app) evidenceDrills(ctx context.Context, cfg config.Config) (readiness.DrillSource, error) {
	if !cfg.Evidence.Enabled() {
		return nil, nil
	}
	st, err := cfg.Evidence.Store(ctx, nil, a.env)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	keys, err := evidenceKeys(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return readiness.EvidenceDrills{Store: st, Keys: keys}, nil
}

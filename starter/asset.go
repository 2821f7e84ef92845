package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) assetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "asset",
		Short: "Work with the protected assets defined in the configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Check the configuration's assets (and the rest of it), reporting every problem at once",
		Long: `Check the assets in the configuration file (--config or LIFEBOAT_CONFIG): sources, repositories,
schedules, RPOs against their schedules, retention, verification checks, and that every secret an
asset names is configured. Every problem is listed; the exit code is 2 when there is any.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("asset validate needs --config or LIFEBOAT_CONFIG")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return exitError{exitUsage, fmt.Errorf("invalid configuration:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))}
			}
			type row struct {
				Name     string `json:"name"`
				Source   string `json:"source"`
				Schedule string `json:"schedule"`
				RPO      string `json:"rpo"`
				Verified bool   `json:"verified"`
			}
			rows := make([]row, 0, len(cfg.Assets))
			for _, as := range cfg.Assets {
				sched := as.Schedule.Cron
				if sched == "" {
					sched = "every " + as.Schedule.Every.String()
				}
				rows = append(rows, row{Name: as.Name, Source: as.Source.Kind(), Schedule: sched, RPO: as.RPO.String(), Verified: as.Verify != nil})
			}
			return a.print(rows, func(w io.Writer) {
				for _, r := range rows {
					verified := ""
					if r.Verified {
						verified = ", restore-tested"
					}
					fmt.Fprintf(w, "%-24s %-9s %-16s RPO %s%s\n", r.Name, r.Source, r.Schedule, r.RPO, verified)
				}
				fmt.Fprintf(w, "%d assets, configuration valid\n", len(rows))
			})
		},
	})
	return cmd
}

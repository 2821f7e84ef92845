package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
)

func (a *app) repoForget(f *repoFlags) *cobra.Command {
	var p retention.Policy
	var filter repository.SnapshotFilter
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "forget --keep-… [--prune]",
		Short: "Remove snapshots a retention policy does not keep (per source and host)",
		Example: `  lifeboat repo forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune
  lifeboat repo forget --keep-within 720h --keep-tag legal-hold --dry-run`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := p.Validate(); err != nil {
				return exitError{exitUsage, err}
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			groups, err := r.Forget(ctx, p, filter, time.Local, dryRun)
			if err != nil {
				return err
			}
			type result struct {
				Groups []retention.Group       `json:"groups"`
				Prune  *repository.PruneReport `json:"prune,omitempty"`
			}
			res := result{Groups: groups}
			if prune && !dryRun {
				if res.Prune, err = r.Prune(ctx, repository.PruneOptions{}); err != nil {
					return err
				}
			}
			return a.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "policy: %s\n", p)
				for _, g := range groups {
					fmt.Fprintf(w, "\n%s: keep %d, remove %d\n", g.Key, len(g.Kept()), len(g.Removed()))
					for _, d := range g.Decisions {
						verdict := "remove"
						if d.Keep {
							verdict = "keep  "
						}
						fmt.Fprintf(w, "  %s %s  %s  %s\n", verdict, d.Snapshot.ID[:8], d.Snapshot.Time.Local().Format("2006-01-02 15:04"), strings.Join(d.Reasons, ", "))
					}
				}
				if dryRun {
					fmt.Fprintln(w, "\ndry run: nothing removed")
				}
				if res.Prune != nil {
					printPrune(w, res.Prune)
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&p.Last, "keep-last", 0, "keep the N newest snapshots")
	fl.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours")
	fl.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days")
	fl.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N ISO weeks")
	fl.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months")
	fl.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years")
	fl.DurationVar(&p.Within, "keep-within", 0, "keep every snapshot within this duration of the newest")
	fl.DurationVar(&p.WithinHourly, "keep-within-hourly", 0, "keep the newest snapshot of each hour within this duration of the newest")
	fl.DurationVar(&p.WithinDaily, "keep-within-daily", 0, "keep the newest snapshot of each day within this duration of the newest")
	fl.DurationVar(&p.WithinWeekly, "keep-within-weekly", 0, "keep the newest snapshot of each ISO week within this duration of the newest")
	fl.DurationVar(&p.WithinMonthly, "keep-within-monthly", 0, "keep the newest snapshot of each month within this duration of the newest")
	fl.DurationVar(&p.WithinYearly, "keep-within-yearly", 0, "keep the newest snapshot of each year within this duration of the newest")
	fl.StringArrayVar(&p.KeepTags, "keep-tag", nil, "keep every snapshot with this tag (repeatable)")
	fl.StringVar(&p.GroupBy, "group-by", "", "group snapshots by source, host and/or tags (default source,host; none: one group)")
	fl.BoolVar(&dryRun, "dry-run", false, "show what would be removed")
	fl.BoolVar(&prune, "prune", false, "prune unreferenced data afterwards")
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

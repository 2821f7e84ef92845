package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

func (a *app) evidenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "evidence",
		GroupID: "run",
		Short:   "List, show, verify, export and prune the signed evidence of drills and verifications",
		Long: `Every drill of a plan and every restore verification of an asset leaves an evidence record: what
ran, under which plan and configuration version, who or which schedule started it, every step and
check and its result, and the RTO and RPO against the objectives. Records are DSSE envelopes signed
by the worker's key (docs/evidence.md).

These commands read the records where the configuration's evidence section says they are (--config
or LIFEBOAT_CONFIG), without Temporal. Record IDs are as lifeboat evidence list prints them.`,
	}
	cmd.AddCommand(a.evidenceListCommand(), a.evidenceShowCommand(), a.evidenceVerifyCommand(), a.evidenceExportCommand(), a.evidencePruneCommand())
	return cmd
}

func (a *app) evidenceListCommand() *cobra.Command {
	var kind, subject, since string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List evidence records, oldest first",
		Long: `List the evidence records, oldest first, as their names describe them: start time, kind, subject
(plan or asset) and run. It does not verify them: run lifeboat evidence verify for that.`,
		Example: `  lifeboat evidence list
  lifeboat evidence list --kind drill --subject orders-failover --since 30d`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := evidenceFilter(kind, subject, since)
			if err != nil {
				return err
			}
			_, st, err := a.evidenceStore(cmd.Context())
			if err != nil {
				return err
			}
			list, err := st.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			if list == nil {
				list = []evidence.Listed{}
			}
			return a.print(list, func(w io.Writer) {
				for _, l := range list {
					fmt.Fprintf(w, "%s  %-12s %-24s %s\n", l.Time.Format(time.RFC3339), l.Kind, l.Subject, l.ID)
				}
				if len(list) == 0 {
					fmt.Fprintf(w, "no evidence records in %s\n", st.Location())
				}
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only records of this kind: drill or verification")
	cmd.Flags().StringVar(&subject, "subject", "", "only records of this plan or asset")
	cmd.Flags().StringVar(&since, "since", "", "only records from this time on: RFC 3339, a day (2026-01-02) or a duration ago (24h, 7d)")
	return cmd
}

func evidenceFilter(kind, subject, since string) (evidence.Filter, error) {
	f := evidence.Filter{Kind: kind, Subject: subject}
	if kind != "" && !slices.Contains(evidence.Kinds, kind) {
		return f, usageErr("--kind %q: use drill or verification", kind)
	}
	if since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return f, usageErr("--since %w", err)
		}
		f.Since = t
	}
	return f, nil
}

func (a *app) evidenceShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Verify one evidence record and print it",
		Long: `Verify an evidence record's signature and print it: as text, or with -o json the record itself
with the ID and the key that verified it. A record that does not verify is not printed; the exit
code is then 3.`,
		Example: `  lifeboat evidence show 20261207T030000Z_drill_orders-failover_0193a1b2-run
  lifeboat evidence show 20261207T030000Z_drill_orders-failover_0193a1b2-run -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, st, err := a.evidenceStore(cmd.Context())
			if err != nil {
				return err
			}
			keys, err := evidenceKeys(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			v, err := st.Verify(cmd.Context(), args[0], keys)
			if errors.Is(err, evidence.ErrUnverified) {
				return exitError{exitBadOutcome, err}
			}
			if err != nil {
				return err
			}
			out := struct {
				ID    string          `json:"id"`
				KeyID string          `json:"key_id"`
				Rec   evidence.Record `json:"record"`
			}{v.ID, v.KeyID, v.Record}
			return a.print(out, func(w io.Writer) { printEvidenceRecord(w, v) })
		},
	}
}

func printEvidenceRecord(w io.Writer, v evidence.Verified) {
	r := v.Record
	fmt.Fprintf(w, "%s of %s: %s\n", r.Kind, r.Subject, strings.ToUpper(r.Outcome))
	for _, why := range r.Reasons {
		fmt.Fprintf(w, "  %s\n", why)
	}
	fmt.Fprintf(w, "record     %s (signed by key %s, verified)\n", v.ID, v.KeyID)
	fmt.Fprintf(w, "workflow   %s, run %s\n", r.Workflow, r.Run)
	started := r.StartedBy.Identity
	if r.StartedBy.Channel != "" {
		started += " via " + r.StartedBy.Channel
	}
	if r.StartedBy.Verified {
		started += ", identity verified"
	}
	fmt.Fprintf(w, "started by %s\n", started)
	fmt.Fprintf(w, "identities %s", r.Trust)
	if r.TrustWarning != "" {
		fmt.Fprintf(w, ": %s", r.TrustWarning)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ran        %s to %s: %s", r.StartedAt.Format(time.RFC3339), r.FinishedAt.Format(time.RFC3339), r.Status)
	if r.Error != "" {
		fmt.Fprintf(w, " (%s)", r.Error)
	}
	fmt.Fprintln(w)
	if r.PlanSHA256 != "" {
		fmt.Fprintf(w, "plan       sha256 %s\n", r.PlanSHA256)
	}
	if r.ConfigSHA256 != "" {
		fmt.Fprintf(w, "config     sha256 %s\n", r.ConfigSHA256)
	}
	for _, m := range []struct {
		name string
		m    evidence.Measure
	}{{"RTO", r.RTO}, {"RPO", r.RPO}} {
		fmt.Fprintf(w, "%-10s %s\n", m.name, measure(m.m))
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w, "steps:")
		for _, s := range r.Steps {
			line := fmt.Sprintf("  %-20s %-12s %s", s.ID, s.Status, s.Action)
			if s.Drill != "" {
				line += " [" + s.Drill
				if s.DrillNote != "" {
					line += ": " + s.DrillNote
				}
				line += "]"
			}
			if s.Error != "" {
				line += " " + s.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintln(w, "checks:")
	if len(r.Checks) == 0 {
		fmt.Fprintln(w, "  none ran")
	}
	for _, c := range r.Checks {
		line := fmt.Sprintf("  %-30s %s", c.Name, c.Result)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintln(w, line)
	}
}

func measure(m evidence.Measure) string {
	s := "not measured"
	if m.Measured != nil {
		s = m.Measured.String()
	}
	if m.Objective > 0 {
		s += ", objective " + m.Objective.String()
	}
	if m.Met != nil {
		s += map[bool]string{true: ": met", false: ": MISSED"}[*m.Met]
	}
	return s
}

func (a *app) evidenceVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [ID...]",
		Short: "Check the signatures of evidence records: nothing edited or forged",
		Long: `Check that each record (every record, without IDs) is a DSSE envelope signed by the configured
signing key or one of evidence.verify_keys, that its payload was not changed since, and that it is
stored under its own name. Every record that fails is named.

The exit code is 0 when every record verifies, 3 when one does not.`,
		Example: `  lifeboat evidence verify
  lifeboat evidence verify 20261207T030000Z_drill_orders-failover_0193a1b2-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, st, err := a.evidenceStore(ctx)
			if err != nil {
				return err
			}
			keys, err := evidenceKeys(ctx, cfg)
			if err != nil {
				return err
			}
			ids := args
			if len(ids) == 0 {
				list, err := st.List(ctx, evidence.Filter{})
				if err != nil {
					return err
				}
				for _, l := range list {
					ids = append(ids, l.ID)
				}
			}
			type result struct {
				ID      string `json:"id"`
				OK      bool   `json:"ok"`
				KeyID   string `json:"key_id,omitempty"`
				Outcome string `json:"outcome,omitempty"`
				Error   string `json:"error,omitempty"`
			}
			results := []result{}
			var bad []string
			for _, id := range ids {
				v, err := st.Verify(ctx, id, keys)
				if err != nil && !errors.Is(err, evidence.ErrUnverified) && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				if err != nil {
					results = append(results, result{ID: id, Error: err.Error()})
					bad = append(bad, id)
					continue
				}
				results = append(results, result{ID: id, OK: true, KeyID: v.KeyID, Outcome: v.Record.Outcome})
			}
			if err := a.print(results, func(w io.Writer) {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(w, "ok       %s (%s, key %s)\n", r.ID, r.Outcome, r.KeyID)
					} else {
						fmt.Fprintf(w, "FAILED   %s\n", r.Error)
					}
				}
				if len(results) == 0 {
					fmt.Fprintf(w, "no evidence records in %s\n", st.Location())
				}
			}); err != nil {
				return err
			}
			if len(bad) > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("%d of %d evidence records do not verify: %s", len(bad), len(ids), strings.Join(bad, ", "))}
			}
			return nil
		},
	}
}

func (a *app) evidenceExportCommand() *cobra.Command {
	var since, until, format, outFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a report mapping the period's evidence to SOC 2, ISO 22301, ISO 27001 and DORA controls",
		Long: `Verify the records of a period and write a report, in Markdown (--format md) or HTML (--format
html), that lists for each control the records bearing on it, their outcomes, and the gaps: a kind
of evidence the control needs that the period has none of (no drill, no restore verification),
none that passed, or records that failed or are not proven. Records that do not verify are listed
apart and counted as nothing.

Controls: SOC 2 A1.2 and A1.3; ISO 22301 8.5 and 8.6; ISO/IEC 27001:2022 A.5.30; DORA Articles 11
and 12 (docs/evidence.md says which evidence bears on which).

--since is the start of the period: an RFC 3339 time, a day (midnight UTC) or a duration ago (90d);
--until its end (default now). --out writes to a file, written aside and renamed into place once
complete; an existing file is replaced only with --force.`,
		Example: `  lifeboat evidence export --since 90d --format md --out evidence.md
  lifeboat evidence export --since 2026-01-01 --until 2026-04-01 --format html --out q1.html --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.output == "json" {
				return usageErr("-o json does not apply to export: choose the format with --format md or --format html")
			}
			if format != evidence.FormatMarkdown && format != evidence.FormatHTML {
				return usageErr("--format %q: use md or html", format)
			}
			now := time.Now().UTC()
			if since == "" {
				return usageErr("--since is required: the start of the period (90d, 2026-01-01)")
			}
			from, err := parseSince(since, now)
			if err != nil {
				return usageErr("--since %w", err)
			}
			to := now
			if until != "" {
				if to, err = parseSince(until, now); err != nil {
					return usageErr("--until %w", err)
				}
			}
			if !from.Before(to) {
				return usageErr("--since %s is not before --until %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
			}
			if outFile != "" && !force {
				if _, err := os.Stat(outFile); err == nil {
					return usageErr("--out %s exists: give --force to replace it", outFile)
				}
			}
			ctx := cmd.Context()
			cfg, st, err := a.evidenceStore(ctx)
			if err != nil {
				return err
			}
			keys, err := evidenceKeys(ctx, cfg)
			if err != nil {
				return err
			}
			list, err := st.List(ctx, evidence.Filter{Since: from, Until: to})
			if err != nil {
				return err
			}
			var ok []evidence.Verified
			var problems []evidence.Problem
			for _, l := range list {
				v, err := st.Verify(ctx, l.ID, keys)
				switch {
				case errors.Is(err, evidence.ErrUnverified):
					problems = append(problems, evidence.Problem{ID: l.ID, Error: err.Error()})
				case err != nil:
					return err
				default:
					ok = append(ok, v)
				}
			}
			r := evidence.NewReport(st.Location(), from, to, now, ok, problems)
			if outFile == "" {
				return evidence.WriteReport(a.stdout, r, format)
			}
			if err := writeFileAside(outFile, force, func(w io.Writer) error { return evidence.WriteReport(w, r, format) }); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "exported %d records (%d that do not verify) to %s\n", len(ok), len(problems), outFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "start of the period: RFC 3339, a day (2026-01-02) or a duration ago (90d); required")
	cmd.Flags().StringVar(&until, "until", "", "end of the period, in the same forms (default now)")
	cmd.Flags().StringVar(&format, "format", evidence.FormatMarkdown, "md or html")
	cmd.Flags().StringVar(&outFile, "out", "", "write to this file instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	return cmd
}

// writeFileAside writes a file beside path and moves it into place once complete: with replace,
// over an existing file; without, only if none exists (a hard link, which fails on an existing
// name). A failure leaves whatever was at path as it was.
func writeFileAside(path string, replace bool, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return exitError{exitFailure, fmt.Errorf("--out %s: %w", path, pathErr(err))}
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if replace {
		err = os.Rename(f.Name(), path)
	} else {
		err = os.Link(f.Name(), path)
	}
	if errors.Is(err, os.ErrExist) {
		return exitError{exitUsage, fmt.Errorf("--out %s exists: give --force to replace it", path)}
	}
	if err != nil {
		return exitError{exitFailure, fmt.Errorf("--out %s: %w", path, pathErr(err))}
	}
	return nil
}

func (a *app) evidencePruneCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete the evidence records past the configured retention",
		Long: `Delete the evidence records that evidence.retention lets go: older than retention.days and not
among the retention.last newest records of their plan or asset. Nothing else in the store is
touched, and nothing at all without retention.days. --dry-run lists what would be deleted.

A prune that fails part way leaves the records it had not reached as they were; run it again.`,
		Example: `  lifeboat evidence prune --dry-run
  lifeboat evidence prune`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, st, err := a.evidenceStore(ctx)
			if err != nil {
				return err
			}
			if cfg.Evidence.Retention.Days <= 0 {
				return usageErr("no retention is configured: set evidence.retention.days (and retention.last) to prune")
			}
			var gone []evidence.Listed
			if dryRun {
				list, err := st.List(ctx, evidence.Filter{})
				if err != nil {
					return err
				}
				gone = cfg.Evidence.Retention.Expired(list, time.Now())
			} else {
				gone, err = st.Prune(ctx, cfg.Evidence.Retention, time.Now())
			}
			if gone == nil {
				gone = []evidence.Listed{}
			}
			verb := map[bool]string{true: "would delete", false: "deleted"}[dryRun]
			if perr := a.print(gone, func(w io.Writer) {
				for _, l := range gone {
					fmt.Fprintf(w, "%s %s\n", verb, l.ID)
				}
				fmt.Fprintf(w, "%s %d records\n", verb, len(gone))
			}); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	return cmd
}

// evidenceStore loads the configuration and opens the evidence store its evidence section names,
// for reading and pruning.
func (a *app) evidenceStore(ctx context.Context) (config.Config, *evidence.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	if !cfg.Evidence.Enabled() {
		return cfg, nil, usageErr("no evidence store is configured: set evidence.location in the configuration file (--config or LIFEBOAT_CONFIG); see docs/evidence.md")
	}
	st, err := cfg.Evidence.Store(ctx, nil, a.env)
	if err != nil {
		return cfg, nil, exitError{exitUsage, err}
	}
	return cfg, st, nil
}

func evidenceKeys(ctx context.Context, cfg config.Config) (map[string]ed25519.PublicKey, error) {
	keys, err := cfg.Evidence.Keys(ctx, secrets.Static(cfg.Secrets))
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	return keys, nil
}

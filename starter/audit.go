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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "audit",
		GroupID: "run",
		Short:   "Verify and export the audit ledger of who decided what",
		Long: `The audit ledger records who started, decided, refused, acknowledged, silenced or overrode what,
through which channel, and whether their identity was verified. Every entry is hash-chained to the
one before and signed by the worker's key (docs/audit.md).

These commands read the ledger where the configuration's audit section says it is (--config or
LIFEBOAT_CONFIG), without Temporal.`,
	}
	keys := &cobra.Command{Use: "key", Short: "Make a signing key for the ledger, and show the configured keys"}
	keys.AddCommand(a.auditKeyGenerateCommand(), a.auditKeyShowCommand())
	cmd.AddCommand(a.auditVerifyCommand(), a.auditExportCommand(), keys)
	return cmd
}

func (a *app) auditVerifyCommand() *cobra.Command {
	var keyFlags []string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every entry of the ledger: nothing changed, removed, moved or forged",
		Long: `Read every entry of the audit ledger and its head, and check that each entry is what its signer
wrote, in its place in the chain, signed by a known key, and that no entry is missing — in the
middle (a gap in the numbers) or at the end (the head names an entry past the last one). Every
problem is printed, naming the entry.

The keys are the configured signing key's (when its secret can be read here) and
audit.verify_keys; with --public-key, only the public keys given, so that an auditor can verify with keys
obtained independently of the configuration.

The exit code is 3 when a problem is found.`,
		Example: `  lifeboat audit verify
  lifeboat audit verify -o json
  lifeboat audit verify --public-key PUBLIC-KEY --public-key FORMER-PUBLIC-KEY`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var keys map[string]ed25519.PublicKey
			for _, k := range keyFlags {
				pub, err := audit.ParsePublicKey(k)
				if err != nil {
					return usageErr("--public-key %q: %v", k, strings.TrimPrefix(err.Error(), "audit: "))
				}
				if keys == nil {
					keys = map[string]ed25519.PublicKey{}
				}
				keys[audit.KeyID(pub)] = pub
			}
			cfg, b, err := a.auditLedger(ctx)
			if err != nil {
				return err
			}
			if keys == nil {
				if keys, err = cfg.Audit.Keys(ctx, secrets.Static(cfg.Secrets)); err != nil {
					return exitError{exitUsage, err}
				}
			}
			r, err := audit.Verify(ctx, b, cfg.Audit.Prefix, keys)
			if err != nil {
				return err
			}
			if err := a.print(r, func(w io.Writer) { printAuditReport(w, r) }); err != nil {
				return err
			}
			if !r.OK() {
				return exitError{exitBadOutcome, fmt.Errorf("the audit ledger is not intact: %s", plural(int64(len(r.Problems)), "problem"))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFlags, "public-key", nil, "verify with this base64 Ed25519 public key instead of the configured keys (repeatable)")
	return cmd
}

func printAuditReport(w io.Writer, r audit.Report) {
	fmt.Fprintf(w, "audit ledger %s: %s", r.Location, entries(r.Entries))
	if r.Entries > 0 {
		fmt.Fprintf(w, ", numbers %d to %d", r.First, r.Last)
		if !r.FirstTime.IsZero() {
			fmt.Fprintf(w, ", %s to %s", r.FirstTime.Format(time.RFC3339), r.LastTime.Format(time.RFC3339))
		}
	}
	fmt.Fprintln(w)
	if r.Head != nil {
		fmt.Fprintf(w, "head: entry %d, written %s\n", r.Head.Seq, r.Head.Time.Format(time.RFC3339))
	}
	ids := make([]string, 0, len(r.Keys))
	for id := range r.Keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "key %s signed %s\n", id, entries(r.Keys[id]))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "%s: %s\n", p.Kind, p.Message)
	}
	switch {
	case r.OK() && r.Entries == 0:
		// Also what a wrong location or prefix looks like: say so rather than call it intact.
		fmt.Fprintln(w, "empty: no entries and no head; if entries were expected here, check audit.location and audit.prefix")
	case r.OK():
		fmt.Fprintln(w, "intact: every entry is in place and signed by a known key")
	}
}

func (a *app) auditExportCommand() *cobra.Command {
	var since, format, outFile string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the ledger's entries as JSON lines or CSV, for auditors",
		Long: `Write the entries of the audit ledger, oldest first, as JSON lines (--format jsonl, the default:
each entry exactly as signed, so that it can still be checked) or CSV (--format csv: one row per
entry, details as a JSON object, cells a spreadsheet would run as formulas defused with a leading
apostrophe). --since keeps the entries from a time on: an RFC 3339 time (2026-01-02T15:04:05Z), a
day (2026-01-02, midnight UTC) or a duration ago (24h, 7d). --out writes to a file instead of
stdout; the file is written aside and renamed into place once the export is complete, readable
by its owner only.

Export does not verify the entries: run lifeboat audit verify for that. Times are UTC.`,
		Example: `  lifeboat audit export --since 7d --format csv --out audit.csv
  lifeboat audit export --since 2026-01-01 > audit.jsonl`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.output == "json" {
				return usageErr("-o json does not apply to export: choose the format with --format jsonl or --format csv")
			}
			if !slices.Contains(audit.Formats, format) {
				return usageErr("--format %q: use jsonl or csv", format)
			}
			var from time.Time
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageErr("--since %w", err)
				}
				from = t
			}
			ctx := cmd.Context()
			cfg, b, err := a.auditLedger(ctx)
			if err != nil {
				return err
			}
			if outFile == "" {
				_, err := audit.Export(ctx, b, cfg.Audit.Prefix, from, format, a.stdout)
				return err
			}
			// Written aside and renamed over --out once complete: an export that fails half-way
			// leaves no truncated file that could pass for the whole, and keeps an older export.
			f, err := os.CreateTemp(filepath.Dir(outFile), "."+filepath.Base(outFile)+".*")
			if err != nil {
				return exitError{exitFailure, fmt.Errorf("--out %s: %w", outFile, pathErr(err))}
			}
			defer os.Remove(f.Name()) // fails harmlessly once renamed
			n, err := audit.Export(ctx, b, cfg.Audit.Prefix, from, format, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(f.Name(), outFile); err != nil {
				return exitError{exitFailure, fmt.Errorf("--out %s: %w", outFile, pathErr(err))}
			}
			fmt.Fprintf(a.stderr, "exported %s to %s\n", entries(n), outFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only entries from this time on: RFC 3339, a day (2026-01-02) or a duration ago (24h, 7d); default: all")
	cmd.Flags().StringVar(&format, "format", audit.FormatJSONL, "jsonl or csv")
	// Not --output: that is the global -o/--output, text or json.
	cmd.Flags().StringVar(&outFile, "out", "", "write to this file instead of stdout")
	return cmd
}

// pathErr drops the path from an *os.PathError or *os.LinkError, whose path may be the temporary
// file's rather than the one the user named.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// entries counts entries in words: "1 entry", "3 entries".
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return strconv.Itoa(n) + " entries"
}

// parseSince reads an RFC 3339 time, a day (midnight UTC), or a duration before now: Go's (90m,
// 24h) or whole days (7d).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, perr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, perr
		if n > 100000 {
			d = -1 // out of range
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: give an RFC 3339 time (2026-01-02T15:04:05Z), a day (2026-01-02) or a duration ago (24h, 7d)", s)
	}
	return now.Add(-d).UTC(), nil
}

func (a *app) auditKeyGenerateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new signing key for the ledger; its public key and key ID go to stderr",
		Long: `Print a new random Ed25519 signing key (a 32-byte seed, base64) on stdout, and its public key
and key ID on stderr, so that export LIFEBOAT_AUDIT_KEY=$(lifeboat audit key generate) keeps the
key alone. With -o json, all three are printed on stdout as one object.

The signing key is a secret: store it where the configuration's secrets can reach it (an
environment variable or a file) and name that secret in audit.signing_key. To rotate, move the old
key's public key into audit.verify_keys, so that the entries it signed still verify.`,
		Example: `  export LIFEBOAT_AUDIT_KEY=$(lifeboat audit key generate)
  lifeboat audit key generate -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed := audit.GenerateSigningKey()
			s, err := audit.ParseSigningKey(seed)
			if err != nil {
				return err
			}
			out := map[string]string{"signing_key": seed, "public_key": audit.EncodePublicKey(s.PublicKey()), "key_id": s.KeyID()}
			return a.print(out, func(w io.Writer) {
				fmt.Fprintln(w, seed)
				fmt.Fprintf(a.stderr, "public key %s, key ID %s\n", out["public_key"], s.KeyID())
			})
		},
	}
}

func (a *app) auditKeyShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the public keys and key IDs of the configured signing key and verify keys",
		Long: `Print the public key and key ID of the configuration's audit signing key (when its secret can be
read here) and of each of audit.verify_keys. Public keys are not secret: hand them to auditors,
who verify with lifeboat audit verify --public-key, and keep a rotated key's in audit.verify_keys.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			type key struct {
				Role      string `json:"role"`
				KeyID     string `json:"key_id"`
				PublicKey string `json:"public_key"`
			}
			var shown []key
			if cfg.Audit.SigningKey != "" {
				s, err := cfg.Audit.Signer(cmd.Context(), secrets.Static(cfg.Secrets))
				if err != nil {
					return exitError{exitUsage, fmt.Errorf("audit.signing_key: %w", err)}
				}
				shown = append(shown, key{"signing", s.KeyID(), audit.EncodePublicKey(s.PublicKey())})
			}
			for i, k := range cfg.Audit.VerifyKeys {
				pub, err := audit.ParsePublicKey(k)
				if err != nil {
					return exitError{exitUsage, fmt.Errorf("audit.verify_keys[%d]: %w", i, err)}
				}
				shown = append(shown, key{"verify", audit.KeyID(pub), k})
			}
			if len(shown) == 0 {
				return usageErr("no audit keys are configured: set audit.signing_key (see lifeboat audit key generate)")
			}
			return a.print(shown, func(w io.Writer) {
				for _, k := range shown {
					fmt.Fprintf(w, "%-9s %s %s\n", k.Role, k.KeyID, k.PublicKey)
				}
			})
		},
	}
}

// auditLedger loads the configuration and opens the storage its audit section names.
func (a *app) auditLedger(ctx context.Context) (config.Config, storage.Backend, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	if !cfg.Audit.Enabled() {
		return cfg, nil, usageErr("no audit ledger is configured: set audit.location in the configuration file (--config or LIFEBOAT_CONFIG); see docs/audit.md")
	}
	if _, err := audit.CleanPrefix(cfg.Audit.Prefix); err != nil {
		return cfg, nil, exitError{exitUsage, fmt.Errorf("audit.prefix: %w", err)}
	}
	b, err := cfg.Audit.Backend(ctx, a.env)
	if err != nil {
		return cfg, nil, exitError{exitUsage, err}
	}
	if c, ok := b.(io.Closer); ok {
		a.closers = append(a.closers, c)
	}
	return cfg, b, nil
}

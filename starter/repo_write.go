package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/snappath"
	"github.com/lifeboat-dr/lifeboat/integrations/units"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

func (a *app) repoRestore(f *repoFlags) *cobra.Command {
	var opts repository.RestoreOptions
	var target, pgDSN, pgDatabase string
	var pgReplace bool
	var memoryMiB int64
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT --target DIR [--path PATH] | SNAPSHOT --postgres DSN --database NAME",
		Short: "Restore a snapshot, a subtree, one file, or a database (SNAPSHOT: an ID prefix or latest)",
		Long: `Restore a snapshot into --target. With --path, only that file or directory is restored, as
--target/<its name>. Every chunk is verified as it is written; files that cannot be restored intact
are named and left out, and the command exits 3. Existing files are not replaced without --overwrite.

Files are written beside their final name, verified, then moved into place: a file that fails
leaves nothing behind, and an existing file is only ever replaced, whole, with --overwrite. Running
the same restore again after an interruption finishes it: files already restored are recognised
by their content and left alone.

A snapshot made with backup --postgres is restored with pg_restore into a new database: --postgres
names the server (its database is used to connect), --database the database to create. The dump is
restored into a side database first and given the name only once pg_restore succeeded. An existing
database of that name is refused unless --replace, which keeps it: it is renamed to
<name>_replaced_<UTC time> in the same transaction that gives the restored copy its name.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch {
			case pgDSN != "" && (target != "" || opts.Path != ""):
				return usageErr("--postgres restores a database: no --target or --path with it")
			case pgDSN != "" && pgDatabase == "":
				return usageErr("--postgres needs --database, the name of the database to create")
			case pgDSN == "" && target == "":
				return usageErr("--target is required")
			}
			sel, err := snappath.Clean(opts.Path)
			if err != nil {
				return usageErr("--path: %v", err)
			}
			opts.Path = sel
			if memoryMiB < 16 || opts.Parallel < 0 {
				return usageErr("--memory-limit %d and --parallel %d: give at least 16 MiB and a positive number of packs", memoryMiB, opts.Parallel)
			}
			opts.MemoryLimit = memoryMiB << 20
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			sn, err := r.FindSnapshot(ctx, args[0], filter)
			if err != nil {
				return err
			}
			if pgDSN != "" {
				res, err := postgres.Tools{}.RestoreFromRepository(ctx, r, sn, pgDSN, pgDatabase, postgres.RestoreOptions{Replace: pgReplace})
				if errors.Is(err, postgres.ErrDatabaseExists) {
					return exitError{exitUsage, err}
				}
				if err != nil {
					return err
				}
				return a.print(map[string]string{"database": pgDatabase, "snapshot": sn.ID.String(), "kept": res.Kept}, func(w io.Writer) {
					fmt.Fprintf(w, "restored snapshot %s into database %s\n", sn.ID.Short(), pgDatabase)
					if res.Kept != "" {
						fmt.Fprintf(w, "the database it replaced is kept as %s\n", res.Kept)
					}
				})
			}
			opts.OnError = func(p string, err error) { fmt.Fprintf(a.stderr, "error: %s: %v\n", p, err) }
			if err := a.boundMemory(ctx, r, opts.MemoryLimit); err != nil {
				return err
			}
			res, err := r.Restore(ctx, sn, target, opts)
			if res != nil {
				if perr := a.print(res, func(w io.Writer) {
					fmt.Fprintf(w, "restored %d files, %d directories, %d symlinks, %s from snapshot %s in %s\n",
						res.Files, res.Dirs, res.Symlinks, units.Bytes(res.Bytes), sn.ID.Short(), res.Duration.Round(1e6))
				}); perr != nil {
					return perr
				}
			}
			if err != nil && res != nil && len(res.Failed) > 0 {
				return exitError{exitBadOutcome, err}
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&target, "target", "t", "", "directory to restore into (created if missing)")
	cmd.Flags().StringVar(&opts.Path, "path", "", "file or directory inside the snapshot to restore")
	cmd.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "replace files that exist at the target (each one only once its new content is verified)")
	cmd.Flags().BoolVar(&opts.Owners, "owners", false, "restore file owners (needs root)")
	cmd.Flags().Int64Var(&memoryMiB, "memory-limit", repository.DefaultRestoreMemory>>20, "MiB the restore may hold for reading and decoding packs")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 0, "packs read at once (default: cores + 1 on local disk, 4 per core and at least 8 on object storage)")
	cmd.Flags().StringVar(&pgDSN, "postgres", "", "restore a database dump into this PostgreSQL server (password in PGPASSWORD)")
	cmd.Flags().StringVar(&pgDatabase, "database", "", "with --postgres: the database to create")
	cmd.Flags().BoolVar(&pgReplace, "replace", false, "with --postgres: put the restored database in the place of an existing one, which is kept renamed")
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

func (a *app) repoDump(f *repoFlags) *cobra.Command {
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use: "dump SNAPSHOT FILE", Short: "Write one file of a snapshot to standard output",
		Example: "  lifeboat repo dump latest orders.dump | pg_restore -d orders_restored",
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			sn, err := r.FindSnapshot(ctx, args[0], filter)
			if err != nil {
				return err
			}
			_, err = r.Dump(ctx, sn, args[1], a.stdout)
			return err
		},
	}
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

func (a *app) repoCheck(f *repoFlags) *cobra.Command {
	var readData, removeTemps bool
	var subset string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository; with --read-data, every blob (or a random --read-data-subset)",
		Long: `Check the repository's structure: index files, snapshots, packs and every tree. With --read-data,
also download packs and verify every blob against its ID, all of them or a random share given with
--read-data-subset (such as 10%). Damage is reported per snapshot and file; the exit code is 3 when
anything is damaged. Packs in no index and temporary files a killed process left are reported;
--remove-temps deletes the temporary files older than 30 minutes (younger ones may be uploads in
progress).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var pct float64
			if subset != "" {
				v, err := strconv.ParseFloat(strings.TrimSuffix(subset, "%"), 64)
				if err != nil || v <= 0 || v > 100 {
					return usageErr("--read-data-subset %q: want a percentage such as 10%%", subset)
				}
				pct, readData = v, true
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			rep, err := r.Check(ctx, repository.CheckOptions{ReadData: readData, ReadDataPercent: pct, RemoveTemps: removeTemps})
			if err != nil {
				return err
			}
			if err := a.print(rep, func(w io.Writer) {
				fmt.Fprintf(w, "checked %d snapshots, %d trees, %d packs, %d blobs", rep.Snapshots, rep.Trees, rep.Packs, rep.Blobs)
				if readData {
					fmt.Fprintf(w, "; read %d packs (%s)", rep.PacksRead, units.Bytes(rep.BytesRead))
				}
				fmt.Fprintf(w, " in %s\n", rep.Duration.Round(1e6))
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "problem: %s\n", p)
				}
				for _, d := range rep.Damaged {
					fmt.Fprintf(w, "damaged: %s\n", d)
				}
				if len(rep.Unreferenced) > 0 {
					fmt.Fprintf(w, "%d packs are in no index (left by interrupted backups): `lifeboat repo repair index` adds them, then prune can decide\n", len(rep.Unreferenced))
				}
				for _, tf := range rep.TempFiles {
					verb := "left over"
					if tf.Removed {
						verb = "removed"
					}
					fmt.Fprintf(w, "temporary file %s: %s (%s, last written %s)\n", verb, tf.Name, units.Bytes(tf.Size), tf.ModTime.Local().Format(time.RFC3339))
				}
				if rep.OK() {
					fmt.Fprintln(w, "no errors")
				}
			}); err != nil {
				return err
			}
			if !rep.OK() {
				return exitError{exitBadOutcome, fmt.Errorf("repository damaged: %d problems, %d damaged paths", len(rep.Problems), len(rep.Damaged))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and verify all data")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "read and verify a random share of the packs, such as 10%")
	cmd.Flags().BoolVar(&removeTemps, "remove-temps", false, "delete temporary files older than 30 minutes that killed processes left")
	return cmd
}

func (a *app) repoPrune(f *repoFlags) *cobra.Command {
	var opts repository.PruneOptions
	cmd := &cobra.Command{
		Use: "prune", Short: "Delete data no snapshot references (exclusive lock)", Args: usageArgs(cobra.NoArgs),
		Long: `Delete the data no snapshot references, under an exclusive lock. What replaces anything is written
before anything is deleted, so an interruption leaves a sound repository.

Prune refuses while packs exist that no index names (a killed backup leaves them, and so does a lost
index file): it cannot tell whether a snapshot needs them. Run 'lifeboat repo repair index' first,
which indexes them from their own headers; a pack whose header is damaged is then reported, and only
--delete-unindexed removes it.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			rep, err := r.Prune(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return a.print(rep, func(w io.Writer) { printPrune(w, rep) })
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "report only")
	cmd.Flags().BoolVar(&opts.DeleteUnindexed, "delete-unindexed", false, "also delete packs no index names and repair cannot read (their data is lost)")
	cmd.Flags().Float64Var(&opts.MaxUnusedPercent, "max-unused", 5, "repack packs with more than this percentage unused")
	return cmd
}

func printPrune(w io.Writer, rep *repository.PruneReport) {
	verb := "freed"
	if rep.DryRun {
		verb = "would free"
	}
	fmt.Fprintf(w, "%s %s: %d packs deleted (%d unreferenced), %d repacked (%d blobs moved), %d kept\n",
		verb, units.Bytes(rep.BytesFreed), rep.PacksDeleted, rep.PacksUnreferenced, rep.PacksRepacked, rep.BlobsRepacked, rep.PacksKept)
}

func (a *app) repoCopy(f *repoFlags) *cobra.Command {
	var to repoFlags
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "copy [SNAPSHOT...] --to LOCATION",
		Short: "Copy snapshots (default: all) to another repository, such as an off-site one",
		Long: `Copy snapshots into another repository, re-encrypting them under its keys. Snapshots the
destination already has a copy of are skipped, so running it after every backup copies only what is
new. The destination's passphrase comes from --to-password-file or LIFEBOAT_REPO_TO_PASSWORD.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to.repo == "" {
				return usageErr("--to is required")
			}
			src, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			dstCreds := repoFlags{repo: to.repo, passwordFile: to.passwordFile, keyFile: to.keyFile}
			dstApp := *a
			dstApp.env = func(k string) (string, bool) {
				switch k {
				case "LIFEBOAT_REPO_PASSWORD":
					return a.env("LIFEBOAT_REPO_TO_PASSWORD")
				case "LIFEBOAT_REPO_KEY_FILE":
					return a.env("LIFEBOAT_REPO_TO_KEY_FILE")
				}
				return a.env(k)
			}
			dst, err := dstApp.openRepo(ctx, &dstCreds)
			if err != nil {
				return fmt.Errorf("destination: %w", err)
			}
			all, err := src.Snapshots(ctx)
			if err != nil {
				return err
			}
			var snaps []*repository.Snapshot
			for _, sn := range all {
				if !filter.Match(sn) {
					continue
				}
				if len(args) == 0 || matchesAny(sn, args) {
					snaps = append(snaps, sn)
				}
			}
			rep, err := src.CopyTo(ctx, dst, snaps)
			if err != nil {
				return err
			}
			return a.print(rep, func(w io.Writer) {
				for _, c := range rep.Copied {
					fmt.Fprintf(w, "copied %s → %s\n", c.Source.Short(), c.Copy.Short())
				}
				fmt.Fprintf(w, "%d copied, %d already there; %d blobs (%s) added in %s\n", len(rep.Copied), rep.Skipped, rep.BlobsAdded, units.Bytes(rep.StoredAdded), rep.Duration.Round(1e6))
			})
		},
	}
	cmd.Flags().StringVar(&to.repo, "to", "", "destination repository location")
	cmd.Flags().StringVar(&to.passwordFile, "to-password-file", "", "destination passphrase file (default: env LIFEBOAT_REPO_TO_PASSWORD)")
	cmd.Flags().StringVar(&to.keyFile, "to-key-file", "", "destination key file (env LIFEBOAT_REPO_TO_KEY_FILE)")
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

func matchesAny(sn *repository.Snapshot, refs []string) bool {
	for _, ref := range refs {
		if strings.HasPrefix(sn.ID.String(), strings.ToLower(ref)) {
			return true
		}
	}
	return false
}

func (a *app) repoUnlock(f *repoFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "unlock", Short: "Remove stale locks (--remove-all: every lock)", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			removed, err := r.RemoveStaleLocks(cmd.Context(), all)
			if err != nil {
				return err
			}
			return a.print(removed, func(w io.Writer) {
				for _, l := range removed {
					fmt.Fprintf(w, "removed %s\n", l)
				}
				fmt.Fprintf(w, "%d locks removed\n", len(removed))
			})
		},
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, live ones too (only when you know no other process runs)")
	return cmd
}

func (a *app) repoRepair(f *repoFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Repair a repository: index",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("say what to repair: lifeboat repo repair index")
		},
	}
	var opts repository.RepairIndexOptions
	index := &cobra.Command{
		Use:   "index",
		Short: "Rebuild index entries from the packs' own headers (exclusive lock)",
		Long: `Read the header of every pack that no index file names — left by a killed backup, or named only by
a lost or damaged index file — and write index files that list them, so that their blobs are known
again and prune can run. With --all, every pack's header is read and the new index files replace
all old ones (written first, then the old ones deleted). Nothing but old index files is ever deleted;
a pack whose header is damaged is reported, and the exit code is 3.`,
		Example: `  lifeboat repo repair index
  lifeboat repo repair index --all`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			rep, err := r.RepairIndex(ctx, opts)
			if err != nil {
				return err
			}
			if err := a.print(rep, func(w io.Writer) {
				fmt.Fprintf(w, "read %d pack headers: %d blobs added to the index; %d index files written, %d removed, in %s\n",
					rep.PacksRead, rep.BlobsAdded, rep.IndexFilesWritten, rep.IndexFilesRemoved, rep.Duration.Round(time.Millisecond))
				for _, d := range rep.DamagedIndexFiles {
					fmt.Fprintf(w, "damaged index file: %s\n", d)
				}
				for _, u := range rep.Unreadable {
					fmt.Fprintf(w, "unreadable: %s\n", u)
				}
			}); err != nil {
				return err
			}
			if len(rep.Unreadable) > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("%d packs could not be read; prune keeps refusing until they are dealt with (prune --delete-unindexed deletes them, and the data only they held)", len(rep.Unreadable))}
			}
			return nil
		},
	}
	index.Flags().BoolVar(&opts.All, "all", false, "read every pack's header and replace all index files")
	cmd.AddCommand(index)
	return cmd
}

package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/snappath"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

// ResolveSnapshot finds the snapshot a reference names; none is a non-retryable NoSnapshot.
func (a *Assets) ResolveSnapshot(ctx context.Context, in contract.ResolveSnapshotInput) (contract.ResolveSnapshotResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.ResolveSnapshotResult{}, err
	}
	if as.Repository == nil {
		return contract.ResolveSnapshotResult{}, misconfigured(fmt.Errorf("asset %q is protected by cloud snapshots: restore them with AWS (lifeboat lists them with `lifeboat backup list`)", as.Name))
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return contract.ResolveSnapshotResult{}, noSnapshot(err)
	}
	defer closeRepo()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return contract.ResolveSnapshotResult{}, err
	}
	var mine []*repository.Snapshot
	for _, sn := range all {
		if sn.Source == as.Name {
			mine = append(mine, sn)
		}
	}
	ref := in.Ref
	if ref == "sample" {
		if len(mine) == 0 {
			return contract.ResolveSnapshotResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, repository.ErrNoSnapshot))
		}
		ref = mine[in.Seed%uint64(len(mine))].ID.String()
	}
	sn, err := repo.FindSnapshot(ctx, ref, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return contract.ResolveSnapshotResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, err))
	}
	return contract.ResolveSnapshotResult{Snapshot: snapshotInfo(sn, as.Repository.Location), Count: len(mine)}, nil
}

// sameScope reports whether q would change exactly what p does.
func sameScope(p, q contract.RestorePlan) bool {
	return p.Asset == q.Asset && p.Snapshot.ID == q.Snapshot.ID && p.Path == q.Path && p.TargetDir == q.TargetDir &&
		p.Database == q.Database && p.Overwrite == q.Overwrite && p.Replace == q.Replace
}

// scratchPrefix starts every scratch database's name, so that DropScratch can refuse anything else.
const scratchPrefix = "lifeboat_verify_"

var unsafeDBChars = regexp.MustCompile(`[^a-z0-9_]`)

// scratchNames are the scratch directory and database of one workflow run.
func (a *Assets) scratchNames(ctx context.Context, as asset.Asset) (dir, database string) {
	run := jobHash(ctx)
	name := unsafeDBChars.ReplaceAllString(as.Name, "_")
	return filepath.Join(a.scratchRoot(), "lifeboat-verify-"+as.Name+"-"+run), scratchPrefix + name + "_" + run
}

func (a *Assets) scratchRoot() string {
	if a.ScratchDir != "" {
		return a.ScratchDir
	}
	return os.TempDir()
}

// restoreRoots are the directories a restore to a target directory may write into.
func (a *Assets) restoreRoots() []string {
	if len(a.RestoreRoots) > 0 {
		return a.RestoreRoots
	}
	return []string{a.scratchRoot()}
}

// checkTarget refuses a target directory outside the restore roots, following symbolic links in
// the part of the path that exists so that a link cannot lead a restore out of them. It returns the
// root the target is in and the target, both with links resolved: the restore then creates the
// target from that root one name at a time, following no link (RestoreOptions.Within), so that
// nothing planted later can lead it out either.
func (a *Assets) checkTarget(target string) (root, resolved string, err error) {
	if !filepath.IsAbs(target) {
		return "", "", fmt.Errorf("target directory %q is not absolute", target)
	}
	resolved, err = resolveExisting(filepath.Clean(target))
	if err != nil {
		return "", "", fmt.Errorf("target directory %s: %w", target, err)
	}
	roots := a.restoreRoots()
	for _, root := range roots {
		r, err := resolveExisting(filepath.Clean(root))
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, resolved); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return r, resolved, nil
		}
	}
	return "", "", fmt.Errorf("target directory %s is outside the directories this worker restores into (%s): choose one inside them, or add it to worker.restore_roots",
		target, strings.Join(roots, ", "))
}

// resolveExisting resolves symbolic links in the longest part of p that exists and appends the
// rest unchanged. A link whose target does not exist yet (a restore would create it) is followed
// too: it is where a write through it would land.
func resolveExisting(p string) (string, error) {
	return resolveLinks(p, 0)
}

func resolveLinks(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			dest, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(filepath.Dir(p), dest)
			}
			return resolveLinks(filepath.Join(dest, rest), depth+1)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest), nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// PlanRestore works out what a restore would change — the snapshot, the cleaned path, the target
// directory or database, whether anything existing is overwritten or replaced — and refuses, with
// a non-retryable error, a restore this worker must not do: a path that leaves the snapshot, a
// target outside the restore roots, an in-place restore of a snapshot that is not of one of the
// asset's configured paths. It changes nothing.
func (a *Assets) PlanRestore(ctx context.Context, in contract.RestoreAssetInput) (contract.RestorePlan, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.RestorePlan{}, err
	}
	if as.Repository == nil {
		return contract.RestorePlan{}, misconfigured(fmt.Errorf("asset %q is protected by cloud snapshots, which are restored with AWS", as.Name))
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return contract.RestorePlan{}, noSnapshot(err)
	}
	defer closeRepo()
	sn, err := repo.FindSnapshot(ctx, in.Snapshot, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return contract.RestorePlan{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, err))
	}
	return a.planRestore(ctx, as, sn, in)
}

func (a *Assets) planRestore(ctx context.Context, as asset.Asset, sn *repository.Snapshot, in contract.RestoreAssetInput) (contract.RestorePlan, error) {
	p := contract.RestorePlan{Asset: as.Name, Snapshot: snapshotInfo(sn, as.Repository.Location), InPlace: in.InPlace, Scratch: in.Scratch}
	sel, err := snappath.Clean(in.Path)
	if err != nil {
		return p, misconfigured(err)
	}
	p.Path = sel
	if in.InPlace && in.Scratch {
		return p, misconfigured(errors.New("a restore is in place or into scratch, not both"))
	}

	if pg := as.Source.Postgres; pg != nil {
		if p.Path != "" {
			return p, misconfigured(fmt.Errorf("asset %s is a database: a restore of it has no path", as.Name))
		}
		if in.TargetDir != "" {
			return p, misconfigured(fmt.Errorf("asset %s is a database: name a target database, not a directory", as.Name))
		}
		dsn, err := a.Secrets.Secret(ctx, pg.DSNSecret)
		if err != nil {
			return p, misconfigured(err)
		}
		live, err := postgres.DatabaseOf(dsn)
		if err != nil {
			return p, misconfigured(err)
		}
		switch {
		case in.Scratch:
			_, p.Database = a.scratchNames(ctx, as)
		case in.InPlace:
			if in.Database != "" {
				return p, misconfigured(errors.New("a restore in place has no target database: it replaces the asset's own"))
			}
			if pg.Maintenance() == live {
				return p, misconfigured(fmt.Errorf("asset %s: maintenance_database is the asset's own database %s; name another (postgres)", as.Name, live))
			}
			p.Database, p.Replace = live, true
		case in.Database == "":
			return p, misconfigured(errors.New("restore of a database: name a target database, or restore in place"))
		case in.Database == live:
			return p, misconfigured(fmt.Errorf("database %s is the asset's live database: restore in place to replace it (with approval), or choose another name", live))
		default:
			p.Database = in.Database
		}
		return p, nil
	}
	if in.Database != "" {
		return p, misconfigured(fmt.Errorf("asset %s holds files: name a target directory, not a database", as.Name))
	}
	switch {
	case in.Scratch:
		p.TargetDir, _ = a.scratchNames(ctx, as)
	case in.InPlace:
		if in.TargetDir != "" {
			return p, misconfigured(errors.New("a restore in place has no target directory: it writes where the asset's files are"))
		}
		if as.Source.Git != nil || as.Source.CIConfig != nil {
			return p, misconfigured(fmt.Errorf("asset %s is backed up from a git repository: restore it to a target directory, then push it (git push --mirror) or copy its files", as.Name))
		}
		if as.Source.Paths == nil || len(sn.Paths) != 1 {
			return p, misconfigured(fmt.Errorf("snapshot %s holds %d paths: restore it to a target directory", sn.ID.Short(), len(sn.Paths)))
		}
		src := filepath.Clean(sn.Paths[0])
		configured := false
		for _, inc := range as.Source.Paths.Include {
			if abs, err := filepath.Abs(inc); err == nil && filepath.Clean(abs) == src {
				configured = true
			}
		}
		if !configured {
			return p, misconfigured(fmt.Errorf("snapshot %s is of %s, which is not one of asset %s's paths (%s): restore it to a target directory",
				sn.ID.Short(), src, as.Name, strings.Join(as.Source.Paths.Include, ", ")))
		}
		p.TargetDir = src
		if p.Path != "" {
			// The selection lands at TargetDir/<its name>: its own place under the source.
			p.TargetDir = filepath.Dir(filepath.Join(src, filepath.FromSlash(p.Path)))
		}
		p.Overwrite = true
	case in.TargetDir == "":
		return p, misconfigured(errors.New("restore of files: name a target directory, or restore in place"))
	default:
		if _, _, err := a.checkTarget(in.TargetDir); err != nil {
			return p, misconfigured(err)
		}
		p.TargetDir = filepath.Clean(in.TargetDir)
	}
	return p, nil
}

// RestoreAsset restores a snapshot (or a file or subtree of it) of the asset as PlanRestore plans
// it. It never changes what the plan does not name: without an in-place restore, files are only
// created in an empty or new directory and a database only under a new name; an in-place restore
// replaces files one by one, each only once its new content is verified, and restores a database
// beside the live one, checks it, and swaps names, keeping the old database. A retry finishes what
// an interrupted attempt began and replaces nothing more than that attempt would have.
func (a *Assets) RestoreAsset(ctx context.Context, in contract.RestoreAssetInput) (contract.RestoreAssetResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.RestoreAssetResult{}, err
	}
	if as.Repository == nil {
		return contract.RestoreAssetResult{}, misconfigured(fmt.Errorf("asset %q is protected by cloud snapshots, which are restored with AWS", as.Name))
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return contract.RestoreAssetResult{}, noSnapshot(err)
	}
	defer closeRepo()
	sn, err := repo.FindSnapshot(ctx, in.Snapshot, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return contract.RestoreAssetResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, err))
	}
	plan, err := a.planRestore(ctx, as, sn, in)
	if err != nil {
		return contract.RestoreAssetResult{}, err
	}
	if in.Approved != nil && !sameScope(plan, *in.Approved) {
		return contract.RestoreAssetResult{}, misconfigured(fmt.Errorf("the restore would now be %q, but what was approved is %q: start it again", plan.Scope(), in.Approved.Scope()))
	}
	rep := a.newReporter(ctx, "restore")
	retry := rep.resumed != nil || rep.attempt > 1
	out := contract.RestoreAssetResult{Snapshot: plan.Snapshot, Resumed: retry}
	start := time.Now()
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	a.logger().Info("restore", "scope", plan.Scope(), "attempt", rep.attempt)

	if pg := as.Source.Postgres; pg != nil {
		dsn, err := a.Secrets.Secret(ctx, pg.DSNSecret)
		if err != nil {
			return out, misconfigured(err)
		}
		server := dsn
		opts := postgres.RestoreOptions{Replace: plan.Replace, Job: jobID(ctx)}
		if plan.Replace {
			if server, err = postgres.InDatabase(dsn, pg.Maintenance()); err != nil {
				return out, misconfigured(err)
			}
			opts.Validate = func(ctx context.Context, sideDSN string) error { return a.validateDatabase(ctx, as, sideDSN) }
		}
		stop := rep.keepAlive()
		defer stop()
		res, err := a.Postgres.RestoreFromRepository(ctx, repo, sn, server, plan.Database, opts)
		switch {
		case errors.Is(err, postgres.ErrDatabaseExists):
			return out, misconfigured(fmt.Errorf("%w: choose another target database, or restore in place", err))
		case errors.Is(err, postgres.ErrValidationFailed):
			return out, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeRestoreRefused, err)
		case err != nil:
			return out, classify(err, "restore "+as.Name)
		}
		out.Database, out.Kept, out.Duration = res.Database, res.Kept, time.Since(start)
		return out, nil
	}

	target, within := plan.TargetDir, ""
	switch {
	case plan.Scratch:
		within = a.scratchRoot()
		if err := os.MkdirAll(within, 0o700); err != nil {
			return out, misconfigured(fmt.Errorf("scratch directory: %w", err))
		}
	case !plan.InPlace:
		// Checked again at the moment of writing, and written from the root down without following
		// links: the plan was made before approval, and the file system may have changed since.
		if within, target, err = a.checkTarget(plan.TargetDir); err != nil {
			return out, misconfigured(err)
		}
		// The root is the configuration's own: created when it is not there yet.
		if err := os.MkdirAll(within, 0o700); err != nil {
			return out, misconfigured(fmt.Errorf("restore root: %w", err))
		}
		if !retry {
			if err := requireEmptyDir(target); err != nil {
				return out, misconfigured(err)
			}
		}
	default:
		if err := os.MkdirAll(target, 0o700); err != nil {
			return out, misconfigured(fmt.Errorf("create target directory: %w", err))
		}
	}
	var failed []string
	res, err := repo.Restore(ctx, sn, target, repository.RestoreOptions{
		Path: plan.Path, Overwrite: plan.Overwrite, Token: jobHash(ctx), Within: within,
		OnError: func(path string, err error) { failed = append(failed, path+": "+err.Error()) },
		Progress: func(p repository.RestoreProgress) {
			rep.report(contract.OpProgress{Files: p.FilesDone, BytesDone: p.BytesDone, BytesTotal: p.TotalBytes, Elapsed: p.Elapsed, Done: p.Done})
		},
		ProgressInterval: a.progressInterval(),
	})
	if err != nil {
		return out, classify(err, fmt.Sprintf("restore %s", plan.Scope()))
	}
	out.TargetDir, out.Files, out.AlreadyRestored, out.Bytes, out.Failed, out.Duration = plan.TargetDir, res.Files, res.AlreadyRestored, res.Bytes, res.Failed, time.Since(start)
	return out, nil
}

// validateDatabase runs the asset's database checks (row counts, SQL) against a restored copy
// before it replaces the live database; any check that does not pass refuses the copy.
func (a *Assets) validateDatabase(ctx context.Context, as asset.Asset, dsn string) error {
	if as.Verify == nil {
		return nil
	}
	var failed []string
	for i, c := range as.Verify.Checks {
		if c.RowCount == nil && c.SQL == nil {
			continue
		}
		res := a.runCheck(ctx, c, "", dsn)
		if res.Name == "" {
			res.Name = fmt.Sprintf("check %d", i+1)
		}
		if !res.Passed {
			failed = append(failed, res.Name+": "+res.Detail)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d checks failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

func requireEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("target directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("target directory %s is not empty: choose an empty or new one, or restore in place", dir)
	}
	return nil
}

// RunChecks runs the asset's validation checks against a restored directory or database. Checks
// that fail are results, not errors; an error means the checks could not run.
func (a *Assets) RunChecks(ctx context.Context, in contract.RunChecksInput) (contract.RunChecksResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.RunChecksResult{}, err
	}
	var out contract.RunChecksResult
	if in.TargetDir != "" {
		digest, files, bytes, err := treeDigest(in.TargetDir)
		if err != nil {
			return out, err
		}
		out.TreeSHA256, out.Files, out.Bytes = digest, files, bytes
	}
	var dsn string
	if in.Database != "" && as.Source.Postgres != nil {
		base, err := a.Secrets.Secret(ctx, as.Source.Postgres.DSNSecret)
		if err != nil {
			return out, misconfigured(err)
		}
		if dsn, err = postgres.InDatabase(base, in.Database); err != nil {
			return out, misconfigured(err)
		}
	}
	var checks []asset.Check
	if as.Verify != nil {
		checks = as.Verify.Checks
	}
	out.Passed = true
	for i, c := range checks {
		res := a.runCheck(ctx, c, in.TargetDir, dsn)
		if res.Name == "" {
			res.Name = fmt.Sprintf("check %d", i+1)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out.Passed = out.Passed && res.Passed
		out.Checks = append(out.Checks, res)
	}
	return out, nil
}

func (a *Assets) runCheck(ctx context.Context, c asset.Check, dir, dsn string) contract.CheckResult {
	switch {
	case c.File != "":
		res := contract.CheckResult{Name: c.Name, Kind: "file"}
		if res.Name == "" {
			res.Name = "file " + c.File
		}
		if dir == "" {
			res.Detail = "no restored directory to look in"
			return res
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			res.Detail = err.Error()
			return res
		}
		defer root.Close()
		f, err := root.Open(filepath.FromSlash(strings.TrimPrefix(c.File, "/")))
		if err != nil {
			res.Detail = err.Error()
			return res
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			res.Detail = err.Error()
			return res
		}
		res.Value = hex.EncodeToString(h.Sum(nil))
		res.Passed = c.SHA256 == "" || c.SHA256 == res.Value
		if !res.Passed {
			res.Detail = "sha256 is " + res.Value + ", want " + c.SHA256
		}
		return res
	case c.RowCount != nil:
		res := contract.CheckResult{Name: c.Name, Kind: "row_count"}
		if res.Name == "" {
			res.Name = "rows of " + c.RowCount.Table
		}
		if dsn == "" {
			res.Detail = "no restored database to count in"
			return res
		}
		n, err := postgres.RowCount(ctx, dsn, c.RowCount.Table)
		if err != nil {
			res.Detail = err.Error()
			return res
		}
		res.Value = fmt.Sprint(n)
		res.Passed = n >= c.RowCount.MinRows
		if !res.Passed {
			res.Detail = fmt.Sprintf("%d rows, want at least %d", n, c.RowCount.MinRows)
		}
		return res
	case c.SQL != nil:
		res := contract.CheckResult{Name: c.Name, Kind: "sql"}
		if res.Name == "" {
			res.Name = "sql " + c.SQL.Query
		}
		if dsn == "" {
			res.Detail = "no restored database to query"
			return res
		}
		results, err := a.Postgres.Check(ctx, dsn, []postgres.SQLCheck{{Name: res.Name, Query: c.SQL.Query, Expect: c.SQL.Expect}})
		if len(results) == 1 {
			res.Value, res.Passed, res.Detail = results[0].Value, results[0].Passed, results[0].Error
		} else if err != nil {
			res.Detail = err.Error()
		}
		return res
	}
	return contract.CheckResult{Name: c.Name, Detail: "empty check"}
}

// treeDigest hashes every regular file under dir in path order: "path\x00size\x00sha256\n" lines.
func treeDigest(dir string) (string, int64, int64, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", 0, 0, fmt.Errorf("digest %s: %w", dir, err)
	}
	sort.Strings(paths)
	tree := sha256.New()
	var files, total int64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", 0, 0, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", 0, 0, fmt.Errorf("digest %s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(tree, "%s\x00%d\x00%x\n", filepath.ToSlash(rel), n, h.Sum(nil))
		files++
		total += n
	}
	return hex.EncodeToString(tree.Sum(nil)), files, total, nil
}

// DropScratch removes this workflow run's scratch directory and, for a PostgreSQL asset, its scratch
// database — whatever a restore into scratch got to create, even if it failed halfway. It only ever
// touches the names RestoreAsset gives scratch copies, and what is already gone is not an error.
func (a *Assets) DropScratch(ctx context.Context, in contract.DropScratchInput) (contract.DropScratchResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.DropScratchResult{}, err
	}
	dir, database := a.scratchNames(ctx, as)
	out := contract.DropScratchResult{TargetDir: dir}
	if err := os.RemoveAll(dir); err != nil {
		return out, fmt.Errorf("remove scratch directory: %w", err)
	}
	if pg := as.Source.Postgres; pg != nil {
		dsn, err := a.Secrets.Secret(ctx, pg.DSNSecret)
		if err != nil {
			return out, misconfigured(err)
		}
		if err := postgres.DropDatabase(ctx, dsn, database); err != nil {
			return out, err
		}
		out.Database = database
	}
	return out, nil
}

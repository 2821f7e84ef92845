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

	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/workflows/asset"
)

// ResolveSnapshotInput asks which snapshot a reference names: "latest", "sample" (one picked at
// random among the asset's snapshots, so drills cover old restore points too) or an ID or prefix.
type ResolveSnapshotInput struct {
	Asset string `json:"asset"`
	Ref   string `json:"ref"`
	// Seed picks the sampled snapshot, so that a retried activity picks the same one.
	Seed uint64 `json:"seed,omitempty"`
}

// ResolveSnapshotResult is the snapshot and how many the asset has.
type ResolveSnapshotResult struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	Count    int          `json:"count"`
}

// ResolveSnapshot finds the snapshot a reference names; none is a non-retryable NoSnapshot.
func (a *Assets) ResolveSnapshot(ctx context.Context, in ResolveSnapshotInput) (ResolveSnapshotResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return ResolveSnapshotResult{}, err
	}
	if as.Repository == nil {
		return ResolveSnapshotResult{}, misconfigured(fmt.Errorf("asset %q is protected by cloud snapshots: restore them with AWS (lifeboat lists them with `lifeboat backup list`)", as.Name))
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return ResolveSnapshotResult{}, noSnapshot(err)
	}
	defer closeRepo()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return ResolveSnapshotResult{}, err
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
			return ResolveSnapshotResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, repository.ErrNoSnapshot))
		}
		ref = mine[in.Seed%uint64(len(mine))].ID.String()
	}
	sn, err := repo.FindSnapshot(ctx, ref, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return ResolveSnapshotResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, err))
	}
	return ResolveSnapshotResult{Snapshot: snapshotInfo(sn, as.Repository.Location), Count: len(mine)}, nil
}

// RestoreAssetInput describes a restore. Files go to TargetDir, a database to Database on the
// asset's server; InPlace restores over the live source instead (the workflow asks for approval
// first). Scratch restores into a scratch directory or database the activity names.
type RestoreAssetInput struct {
	Asset    string `json:"asset"`
	Snapshot string `json:"snapshot"`
	// Path selects a file or subtree inside the snapshot.
	Path      string `json:"path,omitempty"`
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
	InPlace   bool   `json:"in_place,omitempty"`
	Scratch   bool   `json:"scratch,omitempty"`
}

// RestoreAssetResult says where the data went.
type RestoreAssetResult struct {
	Snapshot  SnapshotInfo  `json:"snapshot"`
	TargetDir string        `json:"target_dir,omitempty"`
	Database  string        `json:"database,omitempty"`
	Files     int64         `json:"files,omitempty"`
	Bytes     int64         `json:"bytes,omitempty"`
	Failed    []string      `json:"failed,omitempty"`
	Duration  time.Duration `json:"duration"`
	// Resumed is true when an earlier attempt was interrupted and this one replaced its output.
	Resumed bool `json:"resumed,omitempty"`
}

// scratchPrefix starts every scratch database's name, so that DropScratch can refuse anything else.
const scratchPrefix = "lifeboat_verify_"

var unsafeDBChars = regexp.MustCompile(`[^a-z0-9_]`)

// scratchNames are the scratch directory and database of one workflow run.
func (a *Assets) scratchNames(ctx context.Context, as asset.Asset) (dir, database string) {
	run := jobHash(ctx)
	root := a.ScratchDir
	if root == "" {
		root = os.TempDir()
	}
	name := unsafeDBChars.ReplaceAllString(as.Name, "_")
	return filepath.Join(root, "lifeboat-verify-"+as.Name+"-"+run), scratchPrefix + name + "_" + run
}

// RestoreAsset restores a snapshot (or a file or subtree of it) of the asset. It never writes into
// a non-empty directory or over an existing database unless InPlace is set; a retry replaces what
// the interrupted attempt wrote.
func (a *Assets) RestoreAsset(ctx context.Context, in RestoreAssetInput) (RestoreAssetResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return RestoreAssetResult{}, err
	}
	if as.Repository == nil {
		return RestoreAssetResult{}, misconfigured(fmt.Errorf("asset %q is protected by cloud snapshots, which are restored with AWS", as.Name))
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return RestoreAssetResult{}, noSnapshot(err)
	}
	defer closeRepo()
	sn, err := repo.FindSnapshot(ctx, in.Snapshot, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return RestoreAssetResult{}, noSnapshot(fmt.Errorf("asset %s: %w", as.Name, err))
	}
	rep := a.newReporter(ctx, "restore")
	retry := rep.resumed != nil || rep.attempt > 1
	out := RestoreAssetResult{Snapshot: snapshotInfo(sn, as.Repository.Location), Resumed: retry}
	start := time.Now()
	ctx = repository.WithLockOwner(ctx, jobID(ctx))

	if pg := as.Source.Postgres; pg != nil {
		dsn, err := a.Secrets.Secret(ctx, pg.DSNSecret)
		if err != nil {
			return out, misconfigured(err)
		}
		database := in.Database
		switch {
		case in.Scratch:
			_, database = a.scratchNames(ctx, as)
		case in.InPlace:
			database = "" // the DSN's own database
		case database == "":
			return out, misconfigured(errors.New("restore of a database: name a target database, or restore in place"))
		}
		stop := rep.keepAlive()
		defer stop()
		err = a.Postgres.RestoreFromRepository(ctx, repo, sn, dsn, database, postgres.RestoreOptions{Replace: in.InPlace || in.Scratch || retry})
		if errors.Is(err, postgres.ErrDatabaseExists) {
			return out, misconfigured(fmt.Errorf("%w: choose another target database, or restore in place", err))
		}
		if err != nil {
			return out, classify(err, "restore "+as.Name)
		}
		if database == "" {
			database = "(in place)"
		}
		out.Database, out.Duration = database, time.Since(start)
		return out, nil
	}

	target := in.TargetDir
	switch {
	case in.Scratch:
		target, _ = a.scratchNames(ctx, as)
	case in.InPlace:
		if len(sn.Paths) != 1 {
			return out, misconfigured(fmt.Errorf("snapshot %s holds %d paths: restore it to a target directory", sn.ID.Short(), len(sn.Paths)))
		}
		target = sn.Paths[0]
		if in.Path != "" {
			target = filepath.Dir(filepath.Join(target, filepath.FromSlash(in.Path)))
		}
	case target == "":
		return out, misconfigured(errors.New("restore of files: name a target directory, or restore in place"))
	case !filepath.IsAbs(target):
		return out, misconfigured(fmt.Errorf("target directory %q is not absolute", target))
	}
	if !in.InPlace && !retry {
		if err := requireEmptyDir(target); err != nil {
			return out, misconfigured(err)
		}
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return out, misconfigured(fmt.Errorf("create target directory: %w", err))
	}
	var failed []string
	res, err := repo.Restore(ctx, sn, target, repository.RestoreOptions{
		Path: in.Path, Overwrite: in.InPlace || retry,
		OnError: func(path string, err error) { failed = append(failed, path+": "+err.Error()) },
		Progress: func(p repository.RestoreProgress) {
			rep.report(OpProgress{Files: p.FilesDone, BytesDone: p.BytesDone, BytesTotal: p.TotalBytes, Elapsed: p.Elapsed, Done: p.Done})
		},
	})
	if err != nil {
		return out, classify(err, fmt.Sprintf("restore %s snapshot %s to %s", as.Name, sn.ID.Short(), target))
	}
	out.TargetDir, out.Files, out.Bytes, out.Failed, out.Duration = target, res.Files, res.Bytes, res.Failed, time.Since(start)
	return out, nil
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

// RunChecksInput names what a drill restored.
type RunChecksInput struct {
	Asset     string `json:"asset"`
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
}

// CheckResult is one validation check's outcome, kept as evidence.
type CheckResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // file, row_count, sql
	Passed bool   `json:"passed"`
	Value  string `json:"value,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// RunChecksResult is the evidence of a drill's checks: each result, and digests of what was restored.
type RunChecksResult struct {
	Checks []CheckResult `json:"checks"`
	Passed bool          `json:"passed"`
	// TreeSHA256 digests every restored file's path, size and content; Files and Bytes count them.
	TreeSHA256 string `json:"tree_sha256,omitempty"`
	Files      int64  `json:"files,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
}

// RunChecks runs the asset's validation checks against a restored directory or database. Checks
// that fail are results, not errors; an error means the checks could not run.
func (a *Assets) RunChecks(ctx context.Context, in RunChecksInput) (RunChecksResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return RunChecksResult{}, err
	}
	var out RunChecksResult
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

func (a *Assets) runCheck(ctx context.Context, c asset.Check, dir, dsn string) CheckResult {
	switch {
	case c.File != "":
		res := CheckResult{Name: c.Name, Kind: "file"}
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
		res := CheckResult{Name: c.Name, Kind: "row_count"}
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
		res := CheckResult{Name: c.Name, Kind: "sql"}
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
	return CheckResult{Name: c.Name, Detail: "empty check"}
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

// DropScratchInput names the asset whose drill is over.
type DropScratchInput struct {
	Asset string `json:"asset"`
}

// DropScratchResult says what was removed.
type DropScratchResult struct {
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
}

// DropScratch removes this workflow run's scratch directory and, for a PostgreSQL asset, its scratch
// database — whatever a restore into scratch got to create, even if it failed halfway. It only ever
// touches the names RestoreAsset gives scratch copies, and what is already gone is not an error.
func (a *Assets) DropScratch(ctx context.Context, in DropScratchInput) (DropScratchResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return DropScratchResult{}, err
	}
	dir, database := a.scratchNames(ctx, as)
	out := DropScratchResult{TargetDir: dir}
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

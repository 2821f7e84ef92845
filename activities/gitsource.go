package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/gitsource"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

// gitCache is the cache directory of an asset with a git or ci_config source.
func (a *Assets) gitCache(as asset.Asset) *gitsource.Cache {
	root := a.CacheDir
	if root == "" {
		root = filepath.Join(a.scratchRoot(), "lifeboat-cache")
	}
	return &gitsource.Cache{Dir: filepath.Join(root, "git", as.Name)}
}

// gitRemote resolves the remote of a git or ci_config source, credentials included.
func (a *Assets) gitRemote(ctx context.Context, url, secret string) (gitsource.Remote, error) {
	r := gitsource.Remote{URL: url}
	if secret != "" {
		v, err := a.Secrets.Secret(ctx, secret)
		if err != nil {
			return r, misconfigured(err)
		}
		r.Credentials = v
	}
	return r, nil
}

// syncGit takes the asset's cache lock and brings its mirror up to date. The lock is held until
// unlock is called, so that no other backup of the asset changes the mirror while it is read.
func (a *Assets) syncGit(ctx context.Context, as asset.Asset, url, secret string) (cache *gitsource.Cache, res gitsource.SyncResult, unlock func(), err error) {
	remote, err := a.gitRemote(ctx, url, secret)
	if err != nil {
		return nil, res, nil, err
	}
	cache = a.gitCache(as)
	unlock, err = cache.Lock()
	if err != nil {
		return nil, res, nil, gitError(err)
	}
	res, err = cache.Sync(ctx, remote)
	if err != nil {
		unlock()
		if remote.Credentials != "" && !errors.Is(err, gitsource.ErrBadCredentials) {
			err = fmt.Errorf("%w (credentials from secret %s)", err, secret)
		}
		return nil, res, nil, gitError(err)
	}
	if res.Rebuilt {
		a.logger().Warn("git mirror failed its check and was cloned again", "asset", as.Name, "cache", cache.Dir)
	}
	return cache, res, unlock, nil
}

// gitError classifies a git failure: a refused login, credentials of the wrong kind or no git at
// all are permanent; a busy cache is the retryable RepositoryLocked; the rest (the network, the
// server) is retried.
func gitError(err error) error {
	switch {
	case errors.Is(err, gitsource.ErrBusy):
		return temporal.NewApplicationErrorWithCause(err.Error(), contract.ErrTypeLocked, err)
	case errors.Is(err, gitsource.ErrAuth), errors.Is(err, gitsource.ErrBadCredentials), errors.Is(err, gitsource.ErrNoGit):
		return misconfigured(err)
	}
	return err
}

// backupGit mirrors the asset's repository and backs the verified mirror up as a directory; the
// snapshot holds a bare repository with every ref, and gitsource.RefsFile lists them.
func (a *Assets) backupGit(ctx context.Context, as asset.Asset, repo *repository.Repository, opts repository.BackupOptions, rep *reporter) (*repository.Snapshot, error) {
	stop := rep.keepAlive()
	cache, res, unlock, err := a.syncGit(ctx, as, as.Source.Git.URL, as.Source.Git.CredentialsSecret)
	stop()
	if err != nil {
		return nil, err
	}
	defer unlock()
	a.logger().Info("git mirror up to date", "asset", as.Name, "refs", len(res.Refs), "head", res.Head, "cloned", res.Cloned)
	// A pack a killed fetch left half-received is no part of the repository.
	opts.Excludes = append(opts.Excludes, "objects/pack/tmp_*")
	return repo.Backup(ctx, []string{cache.MirrorDir()}, opts)
}

// backupCIConfig mirrors the asset's repository, writes the CI files of the chosen branches into
// the cache as <branch>/<path>, and backs that directory up.
func (a *Assets) backupCIConfig(ctx context.Context, as asset.Asset, repo *repository.Repository, opts repository.BackupOptions, rep *reporter) (*repository.Snapshot, error) {
	src := as.Source.CIConfig
	stop := sync.OnceFunc(rep.keepAlive())
	defer stop()
	cache, _, unlock, err := a.syncGit(ctx, as, src.URL, src.CredentialsSecret)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The export directory is the cache's own and rewritten under its lock for every backup.
	out := filepath.Join(cache.Dir, "ci-config")
	if err := os.RemoveAll(out); err != nil {
		return nil, fmt.Errorf("git cache %s: %w", cache.Dir, err)
	}
	exp, err := cache.Export(ctx, cache.MirrorDir(), out, gitsource.ExportOptions{Branches: src.Branches, Patterns: src.Patterns()})
	if err != nil {
		if errors.Is(err, gitsource.ErrNoBranch) {
			err = misconfigured(err)
		}
		return nil, err
	}
	stop()
	a.logger().Info("ci configuration exported", "asset", as.Name, "branches", len(exp.Branches), "files", exp.Files)
	return repo.Backup(ctx, []string{out}, opts)
}

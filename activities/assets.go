package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
)

// Signaler is the part of the Temporal client that signals long-running workflows, starting them
// when they are not running (the RPO watchdog). client.Client satisfies it.
type Signaler interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
}

// Assets backs up, copies, prunes, restores and verifies the protected assets of the worker's
// configuration. Activities take an asset's name and look its definition up here, so a workflow
// input can never make the worker run a command or open a repository it was not configured with.
type Assets struct {
	Catalog  map[string]asset.Asset
	Secrets  secrets.Resolver
	Postgres postgres.Tools
	// Cloud takes RDS and EBS snapshots; nil when the worker has no AWS access configured.
	Cloud CloudSnapshots
	// CloudPoll is how often a cloud snapshot's status is read while waiting (default 15s).
	CloudPoll time.Duration
	// ScratchDir holds restore drills' scratch directories (default: the system's temp dir).
	ScratchDir string
	// CacheDir holds what sources keep between backups: the mirror clones of git and ci_config
	// sources, one directory per asset (default: lifeboat-cache in ScratchDir).
	CacheDir string
	// RestoreRoots are the directories restores to a target directory may write into; a target
	// outside them is refused (default: ScratchDir).
	RestoreRoots []string
	// Env looks up environment variables for repository locations (S3 credentials); default os.LookupEnv.
	Env func(string) (string, bool)
	// ProgressInterval is how often a running backup or restore heartbeats its progress (default 1s).
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

func (a *Assets) progressInterval() time.Duration {
	if a.ProgressInterval > 0 {
		return a.ProgressInterval
	}
	return time.Second
}

func (a *Assets) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Assets) lookup(name string) (asset.Asset, error) {
	as, ok := a.Catalog[name]
	if !ok {
		names := make([]string, 0, len(a.Catalog))
		for n := range a.Catalog {
			names = append(names, n)
		}
		sort.Strings(names)
		known := strings.Join(names, ", ")
		if known == "" {
			known = "none"
		}
		err := fmt.Errorf("asset %q is not in this worker's configuration (assets: %s)", name, known)
		return asset.Asset{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeAssetNotFound, err)
	}
	return as, nil
}

// misconfigured marks an error retrying cannot fix.
func misconfigured(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeAssetMisconfigured, err)
}

// LoadAsset returns an asset's definition; an unknown name is a non-retryable AssetNotFound.
func (a *Assets) LoadAsset(_ context.Context, in contract.LoadAssetInput) (contract.LoadAssetResult, error) {
	as, err := a.lookup(in.Asset)
	return contract.LoadAssetResult{Asset: as}, err
}

// errNoRepository is returned by openRepo for a location that holds no repository yet.
var errNoRepository = repository.ErrNotARepository

// openRepo opens the repository r describes; wrong credentials are permanent. With create, a
// location holding no repository yet is initialised with the configured credentials (only backups
// and off-site copies create); without it, such a location returns an error wrapping
// errNoRepository.
func (a *Assets) openRepo(ctx context.Context, r *asset.Repository, create bool) (*repository.Repository, func(), error) {
	env := a.Env
	if env == nil {
		env = os.LookupEnv
	}
	var creds repository.Credentials
	if r.PasswordSecret != "" {
		v, err := a.Secrets.Secret(ctx, r.PasswordSecret)
		if err != nil {
			return nil, nil, misconfigured(err)
		}
		creds.Passphrase = v
	}
	if r.KeyFileSecret != "" {
		v, err := a.Secrets.Secret(ctx, r.KeyFileSecret)
		if err != nil {
			return nil, nil, misconfigured(err)
		}
		creds.KeyFile = []byte(v)
	}
	be, err := location.Open(ctx, r.Location, env)
	if err != nil {
		return nil, nil, misconfigured(fmt.Errorf("repository %s: %w", r.Location, err))
	}
	closeBackend := func() {
		if c, ok := be.(io.Closer); ok {
			_ = c.Close()
		}
	}
	repo, err := repository.Open(ctx, be, creds)
	if errors.Is(err, repository.ErrNotARepository) && create {
		repo, err = a.initRepo(ctx, be, creds, r.Location)
	}
	if err != nil {
		closeBackend()
		if errors.Is(err, repository.ErrWrongCredentials) {
			return nil, nil, misconfigured(fmt.Errorf("repository %s: %w", r.Location, err))
		}
		if errors.Is(err, repository.ErrNotARepository) {
			return nil, nil, fmt.Errorf("repository %s: no backup has created it yet: %w", r.Location, errNoRepository)
		}
		return nil, nil, fmt.Errorf("repository %s: %w", r.Location, err)
	}
	return repo, closeBackend, nil
}

// initRepo creates a repository at an empty location, then opens it afresh: if another process
// created it at the same moment, only one config is ever written and both open that one.
func (a *Assets) initRepo(ctx context.Context, be storage.Backend, creds repository.Credentials, loc string) (*repository.Repository, error) {
	if _, err := repository.Init(ctx, be, creds, repository.InitOptions{}); err == nil {
		a.logger().Info("created repository", "location", loc)
	} else if _, openErr := repository.Open(ctx, be, creds); openErr != nil {
		return nil, fmt.Errorf("create repository: %w", err)
	}
	return repository.Open(ctx, be, creds)
}

// classify prefixes err with what was being done and keeps its kind: an application error keeps
// its type and whether it may be retried (wrapping it in a plain error would make it retryable), and
// a lock conflict becomes the retryable RepositoryLocked, so that workflows show a wait rather than
// a failure.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.NonRetryable():
		return temporal.NewNonRetryableApplicationError(what+": "+appErr.Message(), appErr.Type(), err)
	case errors.As(err, &appErr):
		return temporal.NewApplicationErrorWithCause(what+": "+appErr.Message(), appErr.Type(), err)
	case errors.Is(err, repository.ErrLocked):
		return temporal.NewApplicationErrorWithCause(what+": "+err.Error(), contract.ErrTypeLocked, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// jobID names the workflow run an activity belongs to; locks and snapshots carry it.
func jobID(ctx context.Context) string {
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID
}

// jobHash is a short hex digest of the job: a name part unique to one workflow run.
func jobHash(ctx context.Context) string {
	sum := sha256.Sum256([]byte(jobID(ctx)))
	return hex.EncodeToString(sum[:6])
}

// reporter heartbeats progress. Heartbeats are how the server learns the worker is alive and how
// a retry learns where its predecessor got to; they never enter the workflow's history, so a
// backup may run for days.
type reporter struct {
	a       *Assets
	ctx     context.Context
	step    string
	attempt int32
	resumed *contract.OpProgress
	mu      sync.Mutex
	last    contract.OpProgress
}

func (a *Assets) newReporter(ctx context.Context, step string) *reporter {
	info := activity.GetInfo(ctx)
	r := &reporter{a: a, ctx: ctx, step: step, attempt: info.Attempt}
	if activity.HasHeartbeatDetails(ctx) {
		var prev contract.OpProgress
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil {
			prev.Resumed = nil
			r.resumed = &prev
			a.logger().Info("resuming after an interrupted attempt", "step", step, "workflow", info.WorkflowExecution.ID,
				"attempt", info.Attempt, "bytes_done_before", prev.BytesDone, "stored_before", prev.StoredNew)
		}
	}
	return r
}

func (r *reporter) report(p contract.OpProgress) {
	p.Step, p.Attempt, p.Resumed = r.step, r.attempt, r.resumed
	activity.RecordHeartbeat(r.ctx, p)
	r.mu.Lock()
	r.last = p
	r.mu.Unlock()
}

// keepAlive heartbeats the last progress while a step reports nothing (a prune, a cloud wait), so
// the server does not time the activity out, until stop is called.
func (r *reporter) keepAlive() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.mu.Lock()
				p := r.last
				r.mu.Unlock()
				activity.RecordHeartbeat(r.ctx, p)
			}
		}
	}()
	return func() { close(done) }
}

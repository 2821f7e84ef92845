package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/chunker"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	s3backend "github.com/lifeboat-dr/lifeboat/integrations/storage/s3"
	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
)

// crashKey opens the crash scenario's repositories without a passphrase's key derivation, which
// would dominate hundreds of opens.
var crashKey = repository.GenerateKeyFile()

// crashData is small, and the repository's packs (1 MiB) and chunks (64 KiB) small too, so that a
// backup makes dozens of writes.
var crashData = chaos.Dataset{RandomFiles: 10, RandomSize: 1 << 20, TextFiles: 2, TextSize: 1 << 20, SmallFiles: 100, SmallMax: 8 << 10, Symlinks: 2}

// store makes fresh backends of one kind: a directory or a MinIO prefix.
type store struct {
	kind string
	h    *harness
	root string
	n    int
}

func (s *store) open(ctx context.Context, name string) (storage.Backend, error) {
	if s.kind == "local" {
		dir := filepath.Join(s.root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return local.New(dir)
	}
	m := s.h.minio
	return s3backend.New(ctx, s3backend.Config{Bucket: "chaos", Prefix: fmt.Sprintf("crash-%d/%s", s.h.seed, name), Region: m.Region,
		Endpoint: m.Endpoint, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
}

// fresh returns a new backend holding a copy of template's objects.
func (s *store) fresh(ctx context.Context, template storage.Backend) (storage.Backend, error) {
	s.n++
	be, err := s.open(ctx, fmt.Sprintf("copy-%04d", s.n))
	if err != nil {
		return nil, err
	}
	var names []storage.Info
	if err := template.List(ctx, "", func(fi storage.Info) error { names = append(names, fi); return nil }); err != nil {
		return nil, err
	}
	for _, fi := range names {
		rc, err := template.Get(ctx, fi.Name, 0, -1)
		if err != nil {
			return nil, err
		}
		err = be.Create(ctx, fi.Name, rc, fi.Size)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", fi.Name, err)
		}
	}
	return be, nil
}

// drop removes a copy made by fresh.
func (s *store) drop(ctx context.Context, be storage.Backend) {
	if l, ok := be.(*local.Backend); ok {
		_ = os.RemoveAll(l.Location())
		return
	}
	var names []string
	_ = be.List(ctx, "", func(fi storage.Info) error { names = append(names, fi.Name); return nil })
	for _, n := range names {
		_ = be.Delete(ctx, n)
	}
}

// crashOp is an operation run with a crash after each of its writes in turn.
type crashOp struct {
	name string
	job  string
	// template is the repository the operation starts from; snaps maps its snapshots to the data
	// each holds.
	template storage.Backend
	snaps    map[repository.ID]chaos.Tree
	// run is one attempt of the operation (also its retry).
	run func(ctx context.Context, r *repository.Repository) error
	// verify checks the repository once the operation has completed.
	verify func(ctx context.Context, r *repository.Repository) error
}

func openRepo(ctx context.Context, be storage.Backend) (*repository.Repository, error) {
	r, err := repository.Open(ctx, be, repository.Credentials{KeyFile: crashKey})
	if err != nil {
		return nil, err
	}
	return r, r.LoadIndex(ctx)
}

// crashAfterWrite runs, in process, a backup (with a parent snapshot) and a forget-then-prune with
// a storage backend that dies after the Nth write, for every N; then it reopens the repository
// with the real backend and checks it: clean (packs in no index allowed), every snapshot that
// existed restores byte-identical, and the job's retry — the same lock owner, the same backup job —
// completes and leaves what a run without a crash leaves. Each crash point is a trial, on local
// disk and (in the full run) on MinIO.
func crashAfterWrite(t *testing.T, h *harness, _ []int) {
	ctx := t.Context()
	shared := h.scenarioDir(t, "crash-after-write")
	v1, v2 := filepath.Join(shared, "v1"), filepath.Join(shared, "v2")
	if err := chaos.WriteDataset(v1, h.seed, crashData); err != nil {
		t.Fatal(err)
	}
	if err := chaos.CopyTree(v1, v2); err != nil {
		t.Fatal(err)
	}
	if err := chaos.ChangeDataset(v2, h.seed, 0.5); err != nil {
		t.Fatal(err)
	}
	// Enough new data that the backup writes a checkpoint index (every 16 packs) before its last.
	if err := chaos.WriteDataset(filepath.Join(v2, "more"), h.seed+1, chaos.Dataset{RandomFiles: 18, RandomSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	t1, err := chaos.ReadTree(v1)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := chaos.ReadTree(v2)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{"local"}
	if !h.short {
		kinds = append(kinds, "minio")
	}
	index := 0
	for _, kind := range kinds {
		s := &store{kind: kind, h: h, root: filepath.Join(shared, kind)}
		// The template: a repository with a snapshot of v1, and one with snapshots of v1 and v2.
		base, err := s.open(ctx, "template-1")
		if err != nil {
			t.Fatal(err)
		}
		r, err := repository.Init(ctx, base, repository.Credentials{KeyFile: crashKey},
			repository.InitOptions{PackSize: 1 << 20, Chunker: &chunker.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		s1, err := r.Backup(repository.WithLockOwner(ctx, "setup/1"), []string{v1}, repository.BackupOptions{Source: "data", Job: "setup/1", Time: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		both, err := s.fresh(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := openRepo(ctx, both)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := r2.Backup(repository.WithLockOwner(ctx, "setup/2"), []string{v2}, repository.BackupOptions{Source: "data", Job: "setup/2", Parent: &s1.ID})
		if err != nil {
			t.Fatal(err)
		}

		backup := crashOp{
			name: kind + " backup", job: "crash/backup", template: base, snaps: map[repository.ID]chaos.Tree{s1.ID: t1},
			run: func(ctx context.Context, r *repository.Repository) error {
				_, err := r.Backup(ctx, []string{v2}, repository.BackupOptions{Source: "data", Job: "crash/backup", Parent: &s1.ID})
				return err
			},
			verify: func(ctx context.Context, r *repository.Repository) error {
				snaps, err := r.Snapshots(ctx)
				if err != nil {
					return err
				}
				var mine []*repository.Snapshot
				for _, sn := range snaps {
					if sn.Job == "crash/backup" {
						mine = append(mine, sn)
					}
				}
				if len(mine) != 1 || len(snaps) != 2 {
					return fmt.Errorf("%d snapshots, %d of the job: want the parent and one of the job", len(snaps), len(mine))
				}
				return restoreInProcess(ctx, r, mine[0], t2)
			},
		}
		prune := crashOp{
			name: kind + " forget and prune", job: "crash/prune", template: both, snaps: map[repository.ID]chaos.Tree{s1.ID: t1, s2.ID: t2},
			run: func(ctx context.Context, r *repository.Repository) error {
				if _, err := r.Forget(ctx, retention.Policy{Last: 1}, repository.SnapshotFilter{Source: "data"}, time.UTC, false); err != nil {
					return err
				}
				_, err := r.Prune(ctx, repository.PruneOptions{})
				if errors.Is(err, repository.ErrUnindexedPacks) {
					// What the retention step does: index the packs an interrupted attempt left.
					if _, err := r.RepairIndex(ctx, repository.RepairIndexOptions{}); err != nil {
						return err
					}
					_, err = r.Prune(ctx, repository.PruneOptions{})
				}
				return err
			},
			verify: func(ctx context.Context, r *repository.Repository) error {
				snaps, err := r.Snapshots(ctx)
				if err != nil {
					return err
				}
				if len(snaps) != 1 || snaps[0].ID != s2.ID {
					return fmt.Errorf("%d snapshots after forget (last 1): want only %s", len(snaps), s2.ID.Short())
				}
				rep, err := r.Check(ctx, repository.CheckOptions{})
				if err != nil {
					return err
				}
				if len(rep.Unreferenced) > 0 {
					return fmt.Errorf("%d packs in no index after prune completed", len(rep.Unreferenced))
				}
				dry, err := r.Prune(ctx, repository.PruneOptions{DryRun: true})
				if err != nil {
					return err
				}
				if dry.PacksDeleted > 0 || dry.PacksRepacked > 0 {
					return fmt.Errorf("prune completed, yet another would delete %d packs and repack %d", dry.PacksDeleted, dry.PacksRepacked)
				}
				return restoreInProcess(ctx, r, snaps[0], t2)
			},
		}
		for _, op := range []crashOp{backup, prune} {
			index = h.injectCrashes(t, s, op, index)
		}
	}
}

// injectCrashes counts the writes op makes, then runs it once per write with a crash after it.
// Trials are numbered from first; it returns the next number.
func (h *harness) injectCrashes(t *testing.T, s *store, op crashOp, first int) int {
	ctx := t.Context()
	be, err := s.fresh(ctx, op.template)
	if err != nil {
		t.Fatal(err)
	}
	counter := &chaos.CrashBackend{Backend: be, After: -1}
	r, err := openRepo(ctx, counter)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.run(repository.WithLockOwner(ctx, op.job), r); err != nil {
		t.Fatalf("%s without a crash: %v", op.name, err)
	}
	if r, err = openRepo(ctx, be); err != nil {
		t.Fatal(err)
	}
	if err := op.verify(repository.WithLockOwner(ctx, op.job), r); err != nil {
		t.Fatalf("%s without a crash: %v", op.name, err)
	}
	s.drop(ctx, be)
	writes := counter.Writes()
	h.results.Note("crash-after-write", "%s makes %d writes: %s", op.name, len(writes), summarizeWrites(writes))
	for n := 1; n <= len(writes); n++ {
		i := first + n - 1
		if *trialFlag >= 0 && *trialFlag != i {
			continue
		}
		if h.short && !sampled(writes, n) {
			continue
		}
		h.runTrial(t, "crash-after-write", i, func(tr *trial) error {
			be, err := s.fresh(tr.ctx, op.template)
			if err != nil {
				return err
			}
			defer s.drop(tr.ctx, be)
			cb := &chaos.CrashBackend{Backend: be, After: n}
			ctx := repository.WithLockOwner(tr.ctx, op.job)
			r, err := openRepo(ctx, cb)
			if err != nil {
				return err
			}
			opErr := op.run(ctx, r)
			crashed, at := cb.Crashed()
			if !crashed {
				// Blobs reach packs in the order workers finish, so the count can differ by one.
				if opErr != nil {
					return fmt.Errorf("%s made %d writes and failed without a crash: %v", op.name, len(cb.Writes()), opErr)
				}
				tr.t.Logf("%s made only %d writes this time", op.name, len(cb.Writes()))
				r, err := openRepo(ctx, be)
				if err != nil {
					return err
				}
				return op.verify(ctx, r)
			}
			tr.res.Hit = true
			where := fmt.Sprintf("%s, crash after write %d of %d (%s)", op.name, n, len(writes), at)
			if opErr == nil {
				tr.t.Logf("%s: the operation reported success", where)
			}
			// A new process opens the repository; its check takes over the dead attempt's lock, as
			// the job's next attempt would.
			r, err = openRepo(ctx, be)
			if err != nil {
				return fmt.Errorf("%s: reopen: %w", where, err)
			}
			rep, err := r.Check(ctx, repository.CheckOptions{ReadData: true})
			if err != nil {
				return fmt.Errorf("%s: check: %w", where, err)
			}
			if !rep.OK() {
				return fmt.Errorf("%s: check: problems %q, damaged %v", where, rep.Problems, rep.Damaged)
			}
			if l, ok := be.(*local.Backend); ok {
				tr.res.Reuploaded = unindexedBytes(l.Location(), rep.Unreferenced)
			}
			tr.count("packs in no index after a crash", len(rep.Unreferenced))
			tr.count("temporary files after a crash", len(rep.TempFiles))
			snaps, err := r.Snapshots(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			for _, sn := range snaps {
				if want, ok := op.snaps[sn.ID]; ok {
					if err := restoreInProcess(ctx, r, sn, want); err != nil {
						return fmt.Errorf("%s: %w", where, err)
					}
				}
			}
			if err := op.run(ctx, r); err != nil {
				return fmt.Errorf("%s: the job's retry: %w", where, err)
			}
			if r, err = openRepo(ctx, be); err != nil {
				return err
			}
			if err := op.verify(ctx, r); err != nil {
				return fmt.Errorf("%s: after the retry: %w", where, err)
			}
			rep, err = r.Check(ctx, repository.CheckOptions{ReadData: true})
			if err != nil || !rep.OK() {
				return fmt.Errorf("%s: check after the retry: %v %v", where, err, rep)
			}
			return nil
		})
	}
	return first + len(writes)
}

// sampled picks the crash points of the short run: after every write but the packs in the middle
// of a run of pack uploads.
func sampled(writes []string, n int) bool {
	pack := func(i int) bool { return i >= 0 && i < len(writes) && strings.HasPrefix(writes[i], "create data/") }
	return !pack(n-1) || !pack(n-2) || !pack(n)
}

// restoreInProcess restores sn into a temporary directory and compares it with want.
func restoreInProcess(ctx context.Context, r *repository.Repository, sn *repository.Snapshot, want chaos.Tree) error {
	dir, err := os.MkdirTemp("", "lifeboat-chaos-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := r.Restore(ctx, sn, dir, repository.RestoreOptions{}); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", sn.ID.Short(), err)
	}
	return checkTreeSame("snapshot "+sn.ID.Short()+" restored", dir, want, chaos.Compare{})
}

// summarizeWrites counts writes by kind and folder: "create data ×20, create index ×2, …".
func summarizeWrites(writes []string) string {
	var order []string
	count := map[string]int{}
	for _, w := range writes {
		op, name, _ := strings.Cut(w, " ")
		folder, _, _ := strings.Cut(name, "/")
		k := op + " " + folder
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	var out []string
	for _, k := range order {
		out = append(out, fmt.Sprintf("%s ×%d", k, count[k]))
	}
	return strings.Join(out, ", ")
}

package repository

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
)

// strayAttemptScenario is a backup job whose first attempt is still running when its retry takes
// the lock over: the first attempt has read everything and is about to commit when pause stops it.
// The retry completes, forget and prune remove what only the first attempt would have needed, and
// then the first attempt resumes. pause(wait) installs the pause on the first attempt's repository
// (or backend) and calls wait() while it is paused, then returns to let it go on.
func strayAttemptScenario(t *testing.T, pause func(t *testing.T, r *Repository, hb *hookBackend, paused chan<- struct{}, resume <-chan struct{})) {
	ctx := context.Background()
	root := t.TempDir()
	be := newLocalAt(t, root)
	initRepo(t, be)
	src := t.TempDir()
	makeTree(t, src)
	const job = "backup-www/run-7"
	opts := BackupOptions{Source: "www", Scope: "asset www", Job: job}

	base, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	parentOpts := opts
	parentOpts.Job = "backup-www/run-6"
	if _, err := base.Backup(ctx, []string{src}, parentOpts); err != nil {
		t.Fatal(err)
	}
	// What the first attempt sees: a changed file whose new chunks nobody else will keep.
	if err := os.WriteFile(filepath.Join(src, "text", "log.txt"), []byte(strings.Repeat("first attempt\n", 30000)), 0o644); err != nil {
		t.Fatal(err)
	}

	hb := &hookBackend{Backend: be}
	first, err := Open(ctx, hb, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	pause(t, first, hb, paused, resume)
	var firstErr error
	var firstSnap *Snapshot
	done := make(chan struct{})
	go func() {
		defer close(done)
		firstSnap, firstErr = first.Backup(WithLockOwner(ctx, job), []string{src}, opts)
	}()
	select {
	case <-paused:
	case <-done:
		t.Fatalf("the first attempt finished without pausing: %v, %v", firstSnap, firstErr)
	}

	// The retry of the same job, seeing other content, takes the lock over and completes.
	if err := os.WriteFile(filepath.Join(src, "text", "log.txt"), []byte(strings.Repeat("the retry\n", 40000)), 0o644); err != nil {
		t.Fatal(err)
	}
	retry, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := retry.Backup(WithLockOwner(ctx, job), []string{src}, opts)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	maint, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := maint.Forget(ctx, retention.Policy{Last: 1}, SnapshotFilter{Source: "www"}, time.UTC, false); err != nil {
		t.Fatal(err)
	}
	pr, err := maint.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.PacksDeleted+pr.PacksRepacked == 0 {
		t.Fatalf("prune removed nothing, so the test proves nothing: %+v", pr)
	}

	close(resume)
	<-done
	if !errors.Is(firstErr, ErrLockLost) {
		t.Fatalf("the first attempt, resumed after the takeover: %v, %v; want ErrLockLost", firstSnap, firstErr)
	}
	check, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	all, err := check.Snapshots(ctx)
	if err != nil || len(all) != 1 || all[0].ID != kept.ID {
		t.Fatalf("snapshots after the stray attempt: %v, %v; want only the retry's %s", all, err, kept.ID.Short())
	}
	assertCheckClean(t, ctx, check)
	assertRestores(t, check, all[0], src)
	if locks, err := check.Locks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("locks left: %v, %v", locks, err)
	}
}

// The first attempt stops right before committing; when it resumes its lock is gone and it must
// not write a snapshot.
func TestStrayAttemptCannotCommitAfterTakeover(t *testing.T) {
	strayAttemptScenario(t, func(t *testing.T, r *Repository, _ *hookBackend, paused chan<- struct{}, resume <-chan struct{}) {
		r.beforeCommit = func() {
			close(paused)
			<-resume
		}
	})
}

// The first attempt is stopped inside the write of its snapshot, after the check before it: the
// check after it finds the lock lost and deletes the snapshot again.
func TestStraySnapshotIsDeletedWhenTheLockWasLostMeanwhile(t *testing.T) {
	strayAttemptScenario(t, func(t *testing.T, r *Repository, hb *hookBackend, paused chan<- struct{}, resume <-chan struct{}) {
		var once sync.Once
		hb.before = func(op, name string) error {
			if op == "create" && strings.HasPrefix(name, snapshotsPrefix) {
				once.Do(func() {
					close(paused)
					<-resume
				})
			}
			return nil
		}
	})
}

// The refresher notices a takeover by itself, including one that removed the lock file between its
// look at the file and its rewrite (which brings the file back): it removes the file again.
func TestRefreshNoticesATakeover(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	initRepo(t, be)
	const job = "prune/run-1"

	t.Run("plain", func(t *testing.T) {
		r, err := Open(ctx, be, testCreds)
		if err != nil {
			t.Fatal(err)
		}
		r.lockRefresh = 10 * time.Millisecond
		lk, err := r.Lock(WithLockOwner(ctx, job), true, "prune")
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Unlock()
		other, err := Open(ctx, be, testCreds)
		if err != nil {
			t.Fatal(err)
		}
		taker, err := other.Lock(WithLockOwner(ctx, job), true, "prune")
		if err != nil {
			t.Fatal(err)
		}
		defer taker.Unlock()
		waitLost(t, lk)
		if err := lk.Check(ctx); !errors.Is(err, ErrLockLost) {
			t.Fatalf("Check after the takeover: %v", err)
		}
		if err := taker.Check(ctx); err != nil {
			t.Fatalf("the new holder's lock: %v", err)
		}
	})

	t.Run("between look and rewrite", func(t *testing.T) {
		hb := &hookBackend{Backend: be}
		r, err := Open(ctx, hb, testCreds)
		if err != nil {
			t.Fatal(err)
		}
		r.lockRefresh = 10 * time.Millisecond
		other, err := Open(ctx, be, testCreds)
		if err != nil {
			t.Fatal(err)
		}
		var taker atomic.Pointer[Lock]
		var once sync.Once
		hb.before = func(op, name string) error {
			if op == "put" && strings.HasPrefix(name, locksPrefix) {
				once.Do(func() {
					lk, err := other.Lock(WithLockOwner(ctx, job), true, "prune")
					if err != nil {
						t.Errorf("takeover: %v", err)
						return
					}
					taker.Store(lk)
				})
			}
			return nil
		}
		lk, err := r.Lock(WithLockOwner(ctx, job), true, "prune")
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Unlock()
		waitLost(t, lk)
		tk := taker.Load()
		if tk == nil {
			t.Fatal("no takeover happened")
		}
		defer tk.Unlock()
		locks, err := other.Locks(ctx)
		if err != nil || len(locks) != 1 || locks[0].ID != tk.ID() {
			t.Fatalf("locks after the refresh found it lost: %v, %v; want only %s", locks, err, tk.ID().Short())
		}
		if err := tk.Check(ctx); err != nil {
			t.Fatalf("the new holder's lock: %v", err)
		}
	})
}

// waitLost waits until the lock's refresher has found it lost.
func waitLost(t *testing.T, lk *Lock) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !errors.Is(lk.Err(), ErrLockLost) {
		if time.Now().After(deadline) {
			t.Fatalf("the refresher did not notice the takeover: Err() = %v", lk.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A lock not refreshed for longer than others wait counts as lost, since they may have ignored it.
func TestLockNotRefreshedForLongIsLost(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	lk, err := r.Lock(ctx, false, "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	if err := lk.Check(ctx); err != nil {
		t.Fatal(err)
	}
	lk.mu.Lock()
	lk.info.Refreshed = time.Now().Add(-lockStale - time.Minute)
	lk.mu.Unlock()
	if err := lk.Check(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "last refreshed") {
		t.Fatalf("Check of a lock others take for stale: %v", err)
	}
}

// A lock taken with a wait keeps trying while a conflicting lock is held and gets it once that is
// released; with a short wait it fails naming the holder.
func TestLockWaits(t *testing.T) {
	tests := []struct {
		name                   string
		holderExcl, waiterExcl bool
	}{
		{"shared waits for exclusive", true, false},
		{"exclusive waits for shared", false, true},
		{"exclusive waits for exclusive", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			be := newLocal(t)
			initRepo(t, be)
			holderRepo, err := Open(ctx, be, testCreds)
			if err != nil {
				t.Fatal(err)
			}
			holder, err := holderRepo.Lock(ctx, tt.holderExcl, "holder")
			if err != nil {
				t.Fatal(err)
			}
			// Count the waiter's tries: each writes a lock file of its own.
			var tries atomic.Int32
			hb := &hookBackend{Backend: be, before: func(op, name string) error {
				if op == "create" && strings.HasPrefix(name, locksPrefix) {
					tries.Add(1)
				}
				return nil
			}}
			waiterRepo, err := Open(ctx, hb, testCreds)
			if err != nil {
				t.Fatal(err)
			}

			// A short wait runs out and names the holder.
			_, err = waiterRepo.Lock(WithLockWait(ctx, 300*time.Millisecond), tt.waiterExcl, "waiter")
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "for holder") || !strings.Contains(err.Error(), "waited 300ms") {
				t.Fatalf("short wait: %v", err)
			}
			if n := tries.Load(); n < 2 {
				t.Fatalf("short wait tried %d times, want several", n)
			}

			tries.Store(0)
			got := make(chan error, 1)
			go func() {
				lk, err := waiterRepo.Lock(WithLockWait(ctx, time.Hour), tt.waiterExcl, "waiter")
				if err == nil {
					err = lk.Unlock()
				}
				got <- err
			}()
			// Release only once the waiter has been turned away at least once.
			for tries.Load() < 2 {
				select {
				case err := <-got:
					t.Fatalf("the waiter got past a held lock: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			if err := holder.Unlock(); err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatalf("waiter after the holder let go: %v", err)
			}
			if locks, err := holderRepo.Locks(ctx); err != nil || len(locks) != 0 {
				t.Fatalf("locks left: %v, %v", locks, err)
			}
		})
	}
}

// A cancelled wait says what it last saw and wraps the context's error.
func TestLockWaitCancelled(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	r := initRepo(t, be)
	holder, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()
	cctx, cancel := context.WithCancel(WithLockWait(ctx, time.Hour))
	defer cancel()
	// Cancel as the waiter backs off from its first try.
	hb := &hookBackend{Backend: be, before: func(op, name string) error {
		if op == "delete" && strings.HasPrefix(name, locksPrefix) {
			cancel()
		}
		return nil
	}}
	waiter, err := Open(ctx, hb, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	_, err = waiter.Lock(cctx, false, "backup")
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "for prune") {
		t.Fatalf("cancelled wait: %v", err)
	}
}

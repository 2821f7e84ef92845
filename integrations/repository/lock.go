package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"syscall"
	"time"
)

// Lock timing: a lock is refreshed while held and counts as stale when its holder stopped
// refreshing it long ago, or when it was taken on this host by a process that no longer runs. A
// waiting lock (WithLockWait) tries again after a pause that doubles up to lockWaitMaxPause.
const (
	lockRefresh       = 5 * time.Minute
	lockStale         = 30 * time.Minute
	lockWaitPause     = 250 * time.Millisecond
	lockWaitMaxPause  = 5 * time.Second
	lockRemoveTimeout = time.Minute
)

// LockInfo is a lock file's content.
type LockInfo struct {
	ID        ID        `json:"-"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"`
	Refreshed time.Time `json:"refreshed"`
	Purpose   string    `json:"purpose,omitempty"`
	// Scope, when set, makes shared locks of the same scope exclude each other (two backups of one
	// asset); Owner names the job holding the lock (a workflow run), so that its retried attempt takes
	// the lock over instead of waiting for a holder that is gone.
	Scope string `json:"scope,omitempty"`
	Owner string `json:"owner,omitempty"`
}

type (
	lockOwnerKey struct{}
	lockWaitKey  struct{}
)

// WithLockOwner returns a context whose locks are owned by owner: a lock left by an earlier attempt
// with the same owner (a worker that crashed mid-backup, or one whose attempt timed out while it
// still runs) is taken over rather than waited for. The earlier attempt's lock is then lost: its
// Check fails with ErrLockLost and it cannot commit. Use an identifier unique to one job, such as a
// workflow run.
func WithLockOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, lockOwnerKey{}, owner)
}

func lockOwner(ctx context.Context) string {
	owner, _ := ctx.Value(lockOwnerKey{}).(string)
	return owner
}

// WithLockWait returns a context whose locks wait up to d for conflicting live locks to be
// released, trying again after pauses that grow to at most 5 seconds, before failing with
// ErrLocked. Zero or negative (the default) fails at once.
func WithLockWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, lockWaitKey{}, d)
}

func lockWait(ctx context.Context) time.Duration {
	d, _ := ctx.Value(lockWaitKey{}).(time.Duration)
	return d
}

// conflicts reports whether holding l rules out a new lock of the given kind and scope.
func (l *LockInfo) conflicts(exclusive bool, scope string) bool {
	return l.Exclusive || exclusive || (scope != "" && l.Scope == scope)
}

// Stale reports whether the lock's holder is gone.
func (l *LockInfo) Stale(now time.Time) bool {
	if now.Sub(l.Refreshed) > lockStale {
		return true
	}
	host, _ := os.Hostname()
	if l.Hostname == host && l.PID > 0 && l.PID != os.Getpid() {
		if err := syscall.Kill(l.PID, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}

func (l *LockInfo) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	owner := ""
	if l.Owner != "" {
		owner = ", job " + l.Owner
	}
	return fmt.Sprintf("%s lock %s by %s@%s (pid %d%s) for %s since %s, refreshed %s", kind, l.ID.Short(), l.Username, l.Hostname, l.PID,
		owner, l.Purpose, l.Time.Format(time.RFC3339), l.Refreshed.Format(time.RFC3339))
}

// Lock is a held lock; Unlock releases it. Its random ID is the fencing token of the attempt that
// took it: a lock another attempt has taken over or removed is lost, which Check and Err report, and
// an operation that finds its lock lost stops without committing.
type Lock struct {
	r    *Repository
	stop chan struct{}
	done sync.WaitGroup
	// io keeps a refresh and a Check from interleaving their reads and writes of the lock file.
	io sync.Mutex

	mu     sync.Mutex
	info   LockInfo
	err    error // the last refresh failed
	lost   error // wraps ErrLockLost; final
	closed bool
}

// Lock takes a shared lock (backup, restore, check, copy: many at once) or an exclusive one (forget,
// prune, repair: alone). It fails with ErrLocked naming the holder when a live conflicting lock
// exists — at once, or, under WithLockWait, once the wait is over; stale locks are ignored
// (RemoveStaleLocks deletes them).
func (r *Repository) Lock(ctx context.Context, exclusive bool, purpose string) (*Lock, error) {
	return r.lock(ctx, exclusive, purpose, "")
}

// lock takes a lock; a non-empty scope also excludes shared locks of the same scope. Locks owned by
// the context's owner (WithLockOwner) are left by earlier attempts of this job and are removed. Under
// WithLockWait it tries again while the only obstacle is a conflicting lock.
func (r *Repository) lock(ctx context.Context, exclusive bool, purpose, scope string) (*Lock, error) {
	wait := lockWait(ctx)
	deadline := time.Now().Add(wait)
	lk, err := r.tryLock(ctx, exclusive, purpose, scope)
	if wait <= 0 || !errors.Is(err, ErrLocked) {
		return lk, err
	}
	pause := lockWaitPause
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w (waited %s)", err, wait)
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w; stopped waiting: %w", err, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, lockWaitMaxPause)
		lk, err = r.tryLock(ctx, exclusive, purpose, scope)
		if !errors.Is(err, ErrLocked) {
			return lk, err
		}
	}
}

// tryLock makes one attempt at taking a lock.
func (r *Repository) tryLock(ctx context.Context, exclusive bool, purpose, scope string) (*Lock, error) {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	info := LockInfo{ID: randomID(), Exclusive: exclusive, Hostname: host, PID: os.Getpid(), Time: now, Refreshed: now,
		Purpose: purpose, Scope: scope, Owner: lockOwner(ctx)}
	if u, err := user.Current(); err == nil {
		info.Username = u.Username
	}
	if err := r.createLock(ctx, &info); err != nil {
		return nil, err
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockRemoveTimeout)
		defer cancel()
		_ = r.be.Delete(dctx, locksPrefix+info.ID.String())
	}
	// Written first, checked second: of two processes racing, at least one sees the other.
	locks, err := r.Locks(ctx)
	if err != nil {
		drop()
		return nil, err
	}
	for _, l := range locks {
		if l.ID != info.ID && info.Owner != "" && l.Owner == info.Owner {
			// An earlier attempt of this job: gone, or still running after its attempt timed out.
			// Removing its lock takes the lock over; that attempt finds it lost and cannot commit.
			if err := r.be.Delete(ctx, locksPrefix+l.ID.String()); err != nil && !isNotFound(err) {
				drop()
				return nil, fmt.Errorf("remove lock %s left by an earlier attempt: %w", l.ID.Short(), err)
			}
			continue
		}
		if l.ID == info.ID || l.Stale(now) || !l.conflicts(exclusive, scope) {
			continue
		}
		drop()
		return nil, fmt.Errorf("%w: %s", ErrLocked, l)
	}
	lk := &Lock{r: r, info: info, stop: make(chan struct{})}
	lk.done.Add(1)
	go lk.refresh()
	return lk, nil
}

// createLock writes a new lock file; it never replaces one.
func (r *Repository) createLock(ctx context.Context, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := r.saveFile(ctx, locksPrefix+info.ID.String(), b); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

// rewriteLock replaces this process's own lock file with info (a refresh).
func (r *Repository) rewriteLock(ctx context.Context, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := r.rewriteFile(ctx, locksPrefix+info.ID.String(), b); err != nil {
		return fmt.Errorf("refresh lock: %w", err)
	}
	return nil
}

func (lk *Lock) refresh() {
	defer lk.done.Done()
	t := time.NewTicker(lk.r.lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
			lk.refreshOnce()
			if lk.lostErr() != nil {
				return
			}
		}
	}
}

// refreshOnce rewrites the lock file with a new refresh time, if it is still this lock's. A
// takeover can remove the file between the look and the rewrite, which then brings it back; so
// after the rewrite refreshOnce looks for a lock of the same job that took over, and when it finds
// one it removes its own file again and counts the lock lost.
func (lk *Lock) refreshOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lk.io.Lock()
	defer lk.io.Unlock()
	if lk.lostErr() != nil {
		return
	}
	if err := lk.verify(ctx); err != nil {
		lk.setErr(err)
		return
	}
	lk.mu.Lock()
	info := lk.info
	lk.mu.Unlock()
	info.Refreshed = time.Now().UTC()
	if err := lk.r.rewriteLock(ctx, &info); err != nil {
		lk.setErr(err)
		return
	}
	lk.mu.Lock()
	lk.info.Refreshed = info.Refreshed
	lk.mu.Unlock()
	if info.Owner != "" {
		locks, err := lk.r.Locks(ctx)
		if err != nil {
			lk.setErr(err)
			return
		}
		for _, l := range locks {
			if l.ID != info.ID && l.Owner == info.Owner {
				_ = lk.r.be.Delete(ctx, locksPrefix+info.ID.String())
				lk.markLost(fmt.Errorf("%w: lock %s was taken over by lock %s of a later attempt of job %s", ErrLockLost, info.ID.Short(), l.ID.Short(), info.Owner))
				return
			}
		}
	}
	lk.setErr(nil)
}

// Check makes sure the lock is still this attempt's: its file exists and holds what this attempt
// wrote, and it was refreshed recently enough that no other process may have taken it for stale.
// It returns an error wrapping ErrLockLost when the lock is lost (and from then on), or the
// storage error that kept it from looking. Writers call it before each index file and right before
// and after saving a snapshot.
func (lk *Lock) Check(ctx context.Context) error {
	lk.io.Lock()
	defer lk.io.Unlock()
	if err := lk.lostErr(); err != nil {
		return err
	}
	return lk.verify(ctx)
}

// verify is Check without the serialisation; lk.io is held.
func (lk *Lock) verify(ctx context.Context) error {
	lk.mu.Lock()
	info := lk.info
	lk.mu.Unlock()
	// Wall clock, as other hosts judge staleness; a monotonic clock stops while a machine sleeps.
	if age := time.Now().Round(0).Sub(info.Refreshed.Round(0)); age > lockStale {
		return lk.markLost(fmt.Errorf("%w: lock %s was last refreshed %s ago, and other processes ignore a lock after %s",
			ErrLockLost, info.ID.Short(), age.Round(time.Second), lockStale))
	}
	name := locksPrefix + info.ID.String()
	b, err := lk.r.loadFile(ctx, name)
	switch {
	case isNotFound(err):
		return lk.markLost(fmt.Errorf("%w: lock %s is gone: a later attempt of the same job took it over, or it was removed as stale", ErrLockLost, info.ID.Short()))
	case errors.Is(err, ErrCorrupt):
		return lk.markLost(fmt.Errorf("%w: lock %s no longer holds what this process wrote: %v", ErrLockLost, info.ID.Short(), err))
	case err != nil:
		return fmt.Errorf("check lock %s: %w", info.ID.Short(), err)
	}
	var got LockInfo
	if err := json.Unmarshal(b, &got); err != nil || !sameHolder(&got, &info) {
		return lk.markLost(fmt.Errorf("%w: lock %s no longer holds what this process wrote", ErrLockLost, info.ID.Short()))
	}
	return nil
}

// sameHolder reports whether two lock records were written by one holder for one lock.
func sameHolder(a, b *LockInfo) bool {
	return a.Exclusive == b.Exclusive && a.Hostname == b.Hostname && a.PID == b.PID && a.Time.Equal(b.Time) &&
		a.Purpose == b.Purpose && a.Scope == b.Scope && a.Owner == b.Owner
}

func (lk *Lock) markLost(err error) error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.lost == nil {
		lk.lost = err
	}
	return lk.lost
}

func (lk *Lock) lostErr() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.lost
}

func (lk *Lock) setErr(err error) {
	lk.mu.Lock()
	lk.err = err
	lk.mu.Unlock()
}

// Err reports that the lock was found lost (an error wrapping ErrLockLost), or else that its last
// refresh failed; a long operation should stop when it is set. It does not look at the lock file:
// Check does.
func (lk *Lock) Err() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.lost != nil {
		return lk.lost
	}
	return lk.err
}

// ID returns the lock's ID, its fencing token.
func (lk *Lock) ID() ID {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.info.ID
}

// Unlock releases the lock: it stops refreshing it and deletes its file (and only its own file,
// even when the lock was lost). It is safe to call more than once.
func (lk *Lock) Unlock() error {
	lk.mu.Lock()
	if lk.closed {
		lk.mu.Unlock()
		return nil
	}
	lk.closed = true
	lk.mu.Unlock()
	close(lk.stop)
	lk.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), lockRemoveTimeout)
	defer cancel()
	return lk.r.be.Delete(ctx, locksPrefix+lk.info.ID.String())
}

// Locks lists the lock files. Unreadable lock files are reported as exclusive locks held by an
// unknown party, so that nothing proceeds past them silently.
func (r *Repository) Locks(ctx context.Context) ([]*LockInfo, error) {
	ids, err := r.listIDs(ctx, locksPrefix)
	if err != nil {
		return nil, err
	}
	var out []*LockInfo
	for _, id := range ids {
		b, err := r.loadFile(ctx, locksPrefix+id.String())
		if err != nil {
			if isNotFound(err) {
				continue // released meanwhile
			}
			out = append(out, &LockInfo{ID: id, Exclusive: true, Hostname: "unreadable lock: " + err.Error(), Refreshed: time.Now()})
			continue
		}
		var l LockInfo
		if err := json.Unmarshal(b, &l); err != nil {
			out = append(out, &LockInfo{ID: id, Exclusive: true, Hostname: "unreadable lock", Refreshed: time.Now()})
			continue
		}
		l.ID = id
		out = append(out, &l)
	}
	return out, nil
}

// RemoveStaleLocks deletes locks whose holders are gone and returns them; all removes every lock.
func (r *Repository) RemoveStaleLocks(ctx context.Context, all bool) ([]*LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var removed []*LockInfo
	now := time.Now()
	for _, l := range locks {
		if all || l.Stale(now) {
			if err := r.be.Delete(ctx, locksPrefix+l.ID.String()); err != nil {
				return removed, err
			}
			removed = append(removed, l)
		}
	}
	return removed, nil
}

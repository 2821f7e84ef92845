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
// refreshing it long ago, or when it was taken on this host by a process that no longer runs.
const (
	lockRefresh = 5 * time.Minute
	lockStale   = 30 * time.Minute
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

type lockOwnerKey struct{}

// WithLockOwner returns a context whose locks are owned by owner: a lock left by an earlier attempt
// with the same owner (a worker that crashed mid-backup) is taken over rather than waited for. Use
// an identifier unique to one job, such as a workflow run.
func WithLockOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, lockOwnerKey{}, owner)
}

func lockOwner(ctx context.Context) string {
	owner, _ := ctx.Value(lockOwnerKey{}).(string)
	return owner
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

// Lock is a held lock; Unlock releases it.
type Lock struct {
	r      *Repository
	info   LockInfo
	stop   chan struct{}
	done   sync.WaitGroup
	mu     sync.Mutex
	err    error
	closed bool
}

// Lock takes a shared lock (backup, restore, check, copy: many at once) or an exclusive one (forget,
// prune: alone). It fails with ErrLocked naming the holder when a live conflicting lock exists; stale
// locks are ignored (RemoveStaleLocks deletes them).
func (r *Repository) Lock(ctx context.Context, exclusive bool, purpose string) (*Lock, error) {
	return r.lock(ctx, exclusive, purpose, "")
}

// lock takes a lock; a non-empty scope also excludes shared locks of the same scope. Locks owned by
// the context's owner (WithLockOwner) are left by earlier attempts of this job and are removed.
func (r *Repository) lock(ctx context.Context, exclusive bool, purpose, scope string) (*Lock, error) {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	info := LockInfo{ID: randomID(), Exclusive: exclusive, Hostname: host, PID: os.Getpid(), Time: now, Refreshed: now,
		Purpose: purpose, Scope: scope, Owner: lockOwner(ctx)}
	if u, err := user.Current(); err == nil {
		info.Username = u.Username
	}
	if err := r.writeLock(ctx, &info); err != nil {
		return nil, err
	}
	// Written first, checked second: of two processes racing, at least one sees the other.
	locks, err := r.Locks(ctx)
	if err != nil {
		_ = r.be.Delete(context.WithoutCancel(ctx), locksPrefix+info.ID.String())
		return nil, err
	}
	for _, l := range locks {
		if l.ID != info.ID && info.Owner != "" && l.Owner == info.Owner {
			// An earlier attempt of this job, gone: its lock is ours to drop.
			if err := r.be.Delete(ctx, locksPrefix+l.ID.String()); err != nil && !isNotFound(err) {
				_ = r.be.Delete(context.WithoutCancel(ctx), locksPrefix+info.ID.String())
				return nil, fmt.Errorf("remove lock %s left by an earlier attempt: %w", l.ID.Short(), err)
			}
			continue
		}
		if l.ID == info.ID || l.Stale(now) || !l.conflicts(exclusive, scope) {
			continue
		}
		_ = r.be.Delete(context.WithoutCancel(ctx), locksPrefix+info.ID.String())
		return nil, fmt.Errorf("%w: %s", ErrLocked, l)
	}
	lk := &Lock{r: r, info: info, stop: make(chan struct{})}
	lk.done.Add(1)
	go lk.refresh()
	return lk, nil
}

func (r *Repository) writeLock(ctx context.Context, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := r.saveFile(ctx, locksPrefix+info.ID.String(), b); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

func (lk *Lock) refresh() {
	defer lk.done.Done()
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
			lk.info.Refreshed = time.Now().UTC()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := lk.r.writeLock(ctx, &lk.info)
			cancel()
			if err != nil {
				lk.mu.Lock()
				lk.err = err
				lk.mu.Unlock()
			}
		}
	}
}

// Err reports a failure to refresh the lock; a long operation should stop when it is set.
func (lk *Lock) Err() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.err
}

// Unlock releases the lock. It is safe to call more than once.
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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

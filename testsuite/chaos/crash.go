package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// ErrCrashed is the error every call of a CrashBackend returns once it has crashed.
var ErrCrashed = errors.New("chaos: the process died")

// CrashBackend is a storage.Backend that dies: it passes calls through to Backend until After
// writes (Put, Create, Delete) have completed, and from then on fails every call — writes, reads,
// listings — with ErrCrashed, as if the process had been killed right after that write. Writes
// already under way when the crash comes complete, as they may in a real crash; none starts after.
// With After < 0 it never crashes and only counts, so that a first run can learn how many writes an
// operation makes. It is safe for concurrent use.
type CrashBackend struct {
	storage.Backend
	// After is the number of writes that complete before the crash.
	After int

	mu       sync.Mutex
	started  int      // writes let through
	done     int      // writes completed
	writes   []string // "put data/ab/…", in the order they were let through
	crashed  bool
	crashing string // the write after which the crash came
}

var _ storage.Backend = (*CrashBackend)(nil)

// Writes returns the writes let through, in order: "create data/ab/ab12…", "delete locks/…".
func (c *CrashBackend) Writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// Crashed reports whether the backend has crashed, and after which write.
func (c *CrashBackend) Crashed() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed, c.crashing
}

func (c *CrashBackend) alive(op, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	}
	return nil
}

// admit lets a write through unless the crash has come or After writes have been let through.
func (c *CrashBackend) admit(op, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed || (c.After >= 0 && c.started >= c.After) {
		c.crashed = true
		return fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	}
	c.started++
	c.writes = append(c.writes, op+" "+name)
	return nil
}

// written records a completed write; the After-th one brings the crash.
func (c *CrashBackend) written(op, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done++
	if c.After >= 0 && c.done >= c.After && !c.crashed {
		c.crashed, c.crashing = true, op+" "+name
	}
}

// Put passes the write through unless the backend has crashed.
func (c *CrashBackend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := c.admit("put", name); err != nil {
		return err
	}
	defer c.written("put", name)
	return c.Backend.Put(ctx, name, r, size)
}

// Create passes the write through unless the backend has crashed.
func (c *CrashBackend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := c.admit("create", name); err != nil {
		return err
	}
	defer c.written("create", name)
	return c.Backend.Create(ctx, name, r, size)
}

// Delete passes the write through unless the backend has crashed.
func (c *CrashBackend) Delete(ctx context.Context, name string) error {
	if err := c.admit("delete", name); err != nil {
		return err
	}
	defer c.written("delete", name)
	return c.Backend.Delete(ctx, name)
}

// Get reads through unless the backend has crashed.
func (c *CrashBackend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := c.alive("get", name); err != nil {
		return nil, err
	}
	rc, err := c.Backend.Get(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	return &crashReader{ReadCloser: rc, c: c, name: name}, nil
}

// Stat reads through unless the backend has crashed.
func (c *CrashBackend) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := c.alive("stat", name); err != nil {
		return storage.Info{}, err
	}
	return c.Backend.Stat(ctx, name)
}

// List lists through unless the backend has crashed; a crash in the middle ends the listing.
func (c *CrashBackend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := c.alive("list", prefix); err != nil {
		return err
	}
	return c.Backend.List(ctx, prefix, func(fi storage.Info) error {
		if err := c.alive("list", prefix); err != nil {
			return err
		}
		return fn(fi)
	})
}

// crashReader stops reading once the backend has crashed.
type crashReader struct {
	io.ReadCloser
	c    *CrashBackend
	name string
}

func (r *crashReader) Read(p []byte) (int, error) {
	if err := r.c.alive("read", r.name); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}

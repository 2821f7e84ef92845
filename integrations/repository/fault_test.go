package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// hookBackend calls before ahead of every call to the backend it wraps, with the operation ("put",
// "create", "get", "stat", "list", "delete") and the object name (the prefix, for "list"). An error
// from before fails the call without passing it on.
type hookBackend struct {
	storage.Backend
	before func(op, name string) error
}

func (h *hookBackend) hook(op, name string) error {
	if h.before == nil {
		return nil
	}
	return h.before(op, name)
}

func (h *hookBackend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := h.hook("put", name); err != nil {
		return err
	}
	return h.Backend.Put(ctx, name, r, size)
}

func (h *hookBackend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := h.hook("create", name); err != nil {
		return err
	}
	return h.Backend.Create(ctx, name, r, size)
}

func (h *hookBackend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := h.hook("get", name); err != nil {
		return nil, err
	}
	return h.Backend.Get(ctx, name, offset, length)
}

func (h *hookBackend) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := h.hook("stat", name); err != nil {
		return storage.Info{}, err
	}
	return h.Backend.Stat(ctx, name)
}

func (h *hookBackend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := h.hook("list", prefix); err != nil {
		return err
	}
	return h.Backend.List(ctx, prefix, fn)
}

func (h *hookBackend) Delete(ctx context.Context, name string) error {
	if err := h.hook("delete", name); err != nil {
		return err
	}
	return h.Backend.Delete(ctx, name)
}

// errCrashed is what every call returns once a crashBackend has "died".
var errCrashed = errors.New("process died here (injected)")

// crashBackend stands for a process that dies right after its Nth successful write (Put, Create or
// Delete): the write after that fails, and so does every later call of any kind. The write that
// fails can be left half done, as a real crash would leave it: halfDone is told about it.
type crashBackend struct {
	storage.Backend
	// after is the number of writes that succeed; negative: all of them (a dry run that counts).
	after    int
	halfDone func(name string, data []byte)

	mu      sync.Mutex
	writes  []string // "create data/ab/…", in order
	crashed bool
	at      string // the write that did not happen
}

func (c *crashBackend) alive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errCrashed
	}
	return nil
}

// write runs one write unless the process is to die before it. data is the object's content, for
// halfDone.
func (c *crashBackend) write(op, name string, data []byte, do func() error) error {
	c.mu.Lock()
	if c.crashed {
		c.mu.Unlock()
		return errCrashed
	}
	if c.after >= 0 && len(c.writes) == c.after {
		c.crashed = true
		c.at = op + " " + name
		c.mu.Unlock()
		if c.halfDone != nil && data != nil {
			c.halfDone(name, data)
		}
		return errCrashed
	}
	// The lock is held across the write so that concurrent writes are counted in the order they
	// happen and none slips past the crash.
	defer c.mu.Unlock()
	if err := do(); err != nil {
		return err
	}
	c.writes = append(c.writes, op+" "+name)
	return nil
}

func (c *crashBackend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	return c.write("put", name, data, func() error {
		return c.Backend.Put(ctx, name, bytes.NewReader(data), size)
	})
}

func (c *crashBackend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	return c.write("create", name, data, func() error {
		return c.Backend.Create(ctx, name, bytes.NewReader(data), size)
	})
}

func (c *crashBackend) Delete(ctx context.Context, name string) error {
	return c.write("delete", name, nil, func() error { return c.Backend.Delete(ctx, name) })
}

func (c *crashBackend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	return c.Backend.Get(ctx, name, offset, length)
}

func (c *crashBackend) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := c.alive(); err != nil {
		return storage.Info{}, err
	}
	return c.Backend.Stat(ctx, name)
}

func (c *crashBackend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Backend.List(ctx, prefix, fn)
}

// Writes returns the writes that succeeded, in order.
func (c *crashBackend) Writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// leaveHalfWritten returns a halfDone for a local backend rooted at root: it leaves what a process
// killed in the middle of writing name leaves, a temporary file holding the first half of it.
func leaveHalfWritten(root string) func(name string, data []byte) {
	return func(name string, data []byte) {
		p := filepath.Join(root, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o700)
		_ = os.WriteFile(fmt.Sprintf("%s.tmp-crash%d", p, len(data)), data[:len(data)/2], 0o600)
	}
}

package storagetest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/testsuite/storagetest"
)

// memory is the smallest backend that keeps every contract, so that the suite itself is checked
// against the contracts as written and not only against the backends it was built alongside.
type memory struct {
	mu      sync.Mutex
	objects map[string][]byte
}

var _ storage.Backend = (*memory)(nil)

func (m *memory) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: put %q: %w", name, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("memory: put %q: %w", name, err)
	}
	if extra, _ := io.ReadFull(r, make([]byte, 1)); n != size || extra != 0 {
		return fmt.Errorf("memory: put %q: reader does not yield %d bytes", name, size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[name] = buf.Bytes()
	return nil
}

func (m *memory) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: create %q: %w", name, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("memory: create %q: %w", name, err)
	}
	if extra, _ := io.ReadFull(r, make([]byte, 1)); n != size || extra != 0 {
		return fmt.Errorf("memory: create %q: reader does not yield %d bytes", name, size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[name]; ok {
		return fmt.Errorf("memory: create %q: %w", name, storage.ErrExists)
	}
	m.objects[name] = buf.Bytes()
	return nil
}

func (m *memory) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	data, ok := m.objects[name]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memory: get %q: %w", name, storage.ErrNotFound)
	}
	data = data[min(offset, int64(len(data))):]
	if length >= 0 {
		data = data[:min(length, int64(len(data)))]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memory) Stat(ctx context.Context, name string) (storage.Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.objects[name]
	if !ok {
		return storage.Info{}, fmt.Errorf("memory: stat %q: %w", name, storage.ErrNotFound)
	}
	return storage.Info{Name: name, Size: int64(len(data))}, nil
}

func (m *memory) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	m.mu.Lock()
	var infos []storage.Info
	for name, data := range m.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, storage.Info{Name: name, Size: int64(len(data))})
		}
	}
	m.mu.Unlock()
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (m *memory) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, name)
	return nil
}

func (m *memory) Location() string { return "memory" }

func TestSuiteAgainstReference(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return &memory{objects: map[string][]byte{}}
	})
}

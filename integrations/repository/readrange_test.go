package repository

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// cutBackend drops the connection half way through the body of the first cuts reads of each
// data pack, as a flaky network or a restarting proxy would.
type cutBackend struct {
	storage.Backend
	cuts int
	mu   sync.Mutex
	seen map[string]int
}

func (c *cutBackend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.Backend.Get(ctx, name, offset, length)
	if err != nil || !strings.HasPrefix(name, "data/") {
		return rc, err
	}
	c.mu.Lock()
	c.seen[name]++
	cut := c.seen[name] <= c.cuts
	c.mu.Unlock()
	if !cut || length < 2 {
		return rc, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, length/2), errReader{syscall.ECONNRESET}), rc}, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A read dropped part way is tried again and is not taken for damage; a pack that really ends
// early is damage.
func TestDroppedReadsAreRetriedNotTakenForDamage(t *testing.T) {
	ctx := t.Context()
	be := newLocal(t)
	src := t.TempDir()
	makeTree(t, src)
	if _, err := initRepo(t, be).Backup(ctx, []string{src}, BackupOptions{Source: "src"}); err != nil {
		t.Fatal(err)
	}

	// Two dropped reads of every pack: the third gets through.
	r, err := Open(ctx, &cutBackend{Backend: be, cuts: 2, seen: map[string]int{}}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.PacksRead == 0 {
		t.Fatalf("check through dropped reads: %d packs read, problems %v, damaged %v", rep.PacksRead, rep.Problems, rep.Damaged)
	}

	// Dropped every time: an error to retry later, not damage.
	r, err = Open(ctx, &cutBackend{Backend: be, cuts: 1 << 30, seen: map[string]int{}}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var pb PackedBlob
	r.index.Each(func(b PackedBlob) {
		if b.Type == DataBlob && pb.Length == 0 {
			pb = b
		}
	})
	_, err = r.fetchBlob(ctx, pb, nil)
	if !errors.Is(err, syscall.ECONNRESET) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("a read dropped every time: %v, want the connection error and not damage", err)
	}

	// A pack that ends early is damage.
	r.be = &shortBackend{Backend: be}
	if _, err := r.fetchBlob(ctx, pb, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a pack that ends early: %v, want damage", err)
	}
}

// shortBackend serves every object one byte short.
type shortBackend struct{ storage.Backend }

func (s *shortBackend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.Backend.Get(ctx, name, offset, length)
	if err != nil || length < 1 {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length-1), rc}, nil
}

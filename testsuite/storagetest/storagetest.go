package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// LargeSize is the size of the large object the suite writes: above the 16 MiB multipart part size
// of the S3 backend and the GCS chunk size, so that multi-part uploads run, and not a multiple of
// either, so that the last part is short.
const LargeSize = 40<<20 + 12345

// Run checks every contract of storage.Backend. Each subtest calls newBackend for a fresh, empty
// backend (a new directory, bucket or prefix), so the subtests do not see each other's objects.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"Location", testLocation},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"RangedGet", testRangedGet},
		{"NotFound", testNotFound},
		{"List", testList},
		{"ListStopsOnError", testListStopsOnError},
		{"Delete", testDelete},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"FailingReader", testFailingReader},
		{"WrongSizeReader", testWrongSizeReader},
		{"FailedPutKeepsExisting", testFailedPutKeepsExisting},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
		{"CreateNew", testCreateNew},
		{"CreateExisting", testCreateExisting},
		{"CreateAfterDelete", testCreateAfterDelete},
		{"CreateFailingReader", testCreateFailingReader},
		{"CreateLargeExisting", testCreateLargeExisting},
		{"CreateConcurrent", testCreateConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newBackend(t))
		})
	}
}

func testLocation(t *testing.T, b storage.Backend) {
	if b.Location() == "" {
		t.Fatal("Location() is empty")
	}
}

func testPutGet(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	for i, size := range []int{1, 1000, 1<<20 + 7} {
		name := fmt.Sprintf("data/ab/roundtrip-%d", i)
		want := pattern(uint64(i), size)
		put(t, b, name, want)
		if got := get(t, b, name, 0, -1); !bytes.Equal(got, want) {
			t.Errorf("Get(%q): got %d bytes that differ from the %d put", name, len(got), len(want))
		}
		info, err := b.Stat(ctx, name)
		if err != nil {
			t.Fatalf("Stat(%q): %v", name, err)
		}
		if info != (storage.Info{Name: name, Size: int64(size)}) {
			t.Errorf("Stat(%q) = %+v, want name %q size %d", name, info, name, size)
		}
		got, err := storage.ReadAll(ctx, b, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadAll(%q): %d bytes, %v; want the %d bytes put", name, len(got), err, size)
		}
	}
}

func testOverwrite(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "locks/overwritten"
	put(t, b, name, pattern(1, 5000))
	second := pattern(2, 1234)
	put(t, b, name, second)
	if got := get(t, b, name, 0, -1); !bytes.Equal(got, second) {
		t.Errorf("after overwrite, Get returned %d bytes, not the %d of the second Put", len(got), len(second))
	}
	info, err := b.Stat(ctx, name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != int64(len(second)) {
		t.Errorf("after overwrite, Stat size = %d, want %d", info.Size, len(second))
	}
	if got := list(t, b, "locks/"); len(got) != 1 {
		t.Errorf("after overwrite, List(locks/) = %v, want one object", got)
	}
}

func testRangedGet(t *testing.T, b storage.Backend) {
	const name = "data/12/ranged"
	data := pattern(3, 1000)
	put(t, b, name, data)
	tests := []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"whole", 0, -1, data},
		{"whole with exact length", 0, 1000, data},
		{"head", 0, 10, data[:10]},
		{"middle", 100, 200, data[100:300]},
		{"single byte", 999, 1, data[999:]},
		{"to end", 900, -1, data[900:]},
		{"zero length", 500, 0, nil},
		{"past end", 950, 100, data[950:]},
		{"from end", 1000, -1, nil},
		{"from end with length", 1000, 10, nil},
		{"beyond end", 2000, 10, nil},
		{"beyond end to end", 2000, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, b, name, tt.offset, tt.length)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Get(%d, %d) returned %d bytes, want %d (data[%d:%d])",
					tt.offset, tt.length, len(got), len(tt.want), tt.offset, int(tt.offset)+len(tt.want))
			}
		})
	}
}

func testNotFound(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	put(t, b, "data/ab/present", []byte("here"))
	for _, name := range []string{"data/ab/missing", "data/ab", "data", "index/missing", "data/ab/present/below"} {
		if rc, err := b.Get(ctx, name, 0, -1); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) error = %v, want one wrapping storage.ErrNotFound", name, err)
		}
		if rc, err := b.Get(ctx, name, 2, 5); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q, 2, 5) error = %v, want one wrapping storage.ErrNotFound", name, err)
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v, want one wrapping storage.ErrNotFound", name, err)
		}
	}
}

func testList(t *testing.T, b storage.Backend) {
	objects := map[string]int{
		"data/ab/x":         3,
		"data/ab/x2":        4,
		"data/cd/y":         5,
		"data2/q":           6,
		"index/z":           7,
		"snapshots/s":       11,
		"keys/k":            0,
		"data/cd/deep/er/w": 13,
	}
	for name, size := range objects {
		put(t, b, name, pattern(uint64(size), size))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"data/", []string{"data/ab/x", "data/ab/x2", "data/cd/deep/er/w", "data/cd/y"}},
		{"data/ab/", []string{"data/ab/x", "data/ab/x2"}},
		{"data/ab/x", []string{"data/ab/x", "data/ab/x2"}},
		{"data/ab/x2", []string{"data/ab/x2"}},
		{"data/c", []string{"data/cd/deep/er/w", "data/cd/y"}},
		{"data", []string{"data/ab/x", "data/ab/x2", "data/cd/deep/er/w", "data/cd/y", "data2/q"}},
		{"index/", []string{"index/z"}},
		{"keys/", []string{"keys/k"}},
		{"missing/", nil},
		{"data/zz/", nil},
		{"", []string{"data/ab/x", "data/ab/x2", "data/cd/deep/er/w", "data/cd/y", "data2/q", "index/z", "keys/k", "snapshots/s"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			got := list(t, b, tt.prefix)
			var names []string
			for _, info := range got {
				names = append(names, info.Name)
				if want, ok := objects[info.Name]; ok && info.Size != int64(want) {
					t.Errorf("List(%q) reports %q with size %d, want %d", tt.prefix, info.Name, info.Size, want)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, names, tt.want)
			}
		})
	}
}

func testListStopsOnError(t *testing.T, b storage.Backend) {
	for _, name := range []string{"index/a", "index/b", "index/c"} {
		put(t, b, name, []byte(name))
	}
	stop := errors.New("enough")
	calls := 0
	err := b.List(t.Context(), "index/", func(storage.Info) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List error = %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times after returning an error, want 1", calls)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "snapshots/deleted"
	put(t, b, name, []byte("short-lived"))
	put(t, b, "snapshots/kept", []byte("long-lived"))
	if err := b.Delete(ctx, name); err != nil {
		t.Fatalf("Delete(%q): %v", name, err)
	}
	if rc, err := b.Get(ctx, name, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get after Delete: error = %v, want one wrapping storage.ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, name); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Delete: error = %v, want one wrapping storage.ErrNotFound", err)
	}
	if got := list(t, b, "snapshots/"); len(got) != 1 || got[0].Name != "snapshots/kept" {
		t.Errorf("List after Delete = %v, want only snapshots/kept", got)
	}
	if err := b.Delete(ctx, name); err != nil {
		t.Errorf("second Delete(%q) = %v, want nil", name, err)
	}
	if err := b.Delete(ctx, "snapshots/never-existed"); err != nil {
		t.Errorf("Delete of a missing object = %v, want nil", err)
	}
	if err := b.Delete(ctx, "nowhere/never-existed"); err != nil {
		t.Errorf("Delete of a missing object under a missing prefix = %v, want nil", err)
	}
}

func testEmpty(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "keys/empty"
	if err := b.Put(ctx, name, bytes.NewReader(nil), 0); err != nil {
		t.Fatalf("Put of an empty object: %v", err)
	}
	info, err := b.Stat(ctx, name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != 0 {
		t.Errorf("Stat size = %d, want 0", info.Size)
	}
	if got := get(t, b, name, 0, -1); len(got) != 0 {
		t.Errorf("Get returned %d bytes, want 0", len(got))
	}
	if got := get(t, b, name, 0, 10); len(got) != 0 {
		t.Errorf("Get(0, 10) returned %d bytes, want 0", len(got))
	}
	if got := list(t, b, "keys/"); len(got) != 1 || got[0] != (storage.Info{Name: name, Size: 0}) {
		t.Errorf("List = %v, want the empty object", got)
	}
}

func testLarge(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "data/ff/large"
	const seed = 40
	h := sha256.New()
	if err := b.Put(ctx, name, io.TeeReader(patternReader(seed, LargeSize), h), LargeSize); err != nil {
		t.Fatalf("Put of %d bytes: %v", LargeSize, err)
	}
	want := h.Sum(nil)

	info, err := b.Stat(ctx, name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != LargeSize {
		t.Errorf("Stat size = %d, want %d", info.Size, LargeSize)
	}

	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read back after %d bytes: %v", n, err)
	}
	if n != LargeSize || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("read back %d bytes with SHA-256 %x, want %d bytes with %x", n, h.Sum(nil), LargeSize, want)
	}

	// Ranges across the 16 MiB boundaries at which uploads are split.
	for _, off := range []int64{16<<20 - 10, 32<<20 - 3, LargeSize - 100} {
		got := get(t, b, name, off, 20)
		if wantRange := patternAt(seed, off, int64(min(20, LargeSize-off))); !bytes.Equal(got, wantRange) {
			t.Errorf("Get(%d, 20) = %x, want %x", off, got, wantRange)
		}
	}
}

// errReader is what failing readers return.
var errReader = errors.New("storagetest: reader failed on purpose")

func testFailingReader(t *testing.T, b storage.Backend) {
	tests := []struct {
		name        string
		size, after int64
	}{
		{"at once", 1000, 0},
		{"midway", 1000, 400},
		{"after many parts", LargeSize, 20<<20 + 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			name := fmt.Sprintf("data/ee/failing-%d", i)
			r := &failingReader{r: patternReader(uint64(i), tt.after)}
			err := b.Put(ctx, name, r, tt.size)
			if err == nil {
				t.Fatalf("Put with a reader failing after %d of %d bytes succeeded", tt.after, tt.size)
			}
			if !errors.Is(err, errReader) {
				t.Errorf("Put error = %v, want one wrapping the reader's error", err)
			}
			assertAbsent(t, b, name)
		})
	}
}

func testWrongSizeReader(t *testing.T, b storage.Backend) {
	tests := []struct {
		name        string
		size, yield int64
	}{
		{"short", 1000, 600},
		{"nothing", 1000, 0},
		{"short after many parts", LargeSize, 20 << 20},
		{"long", 100, 200},
		{"long by one byte", 100, 101},
		{"long empty", 0, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("data/dd/wrong-size-%d", i)
			err := b.Put(t.Context(), name, patternReader(uint64(i), tt.yield), tt.size)
			if err == nil {
				t.Fatalf("Put of size %d from a reader of %d bytes succeeded", tt.size, tt.yield)
			}
			assertAbsent(t, b, name)
		})
	}
}

func testFailedPutKeepsExisting(t *testing.T, b storage.Backend) {
	const name = "index/kept"
	want := pattern(7, 3000)
	put(t, b, name, want)
	if err := b.Put(t.Context(), name, &failingReader{r: patternReader(8, 100)}, 3000); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if err := b.Put(t.Context(), name, patternReader(8, 100), 3000); err == nil {
		t.Fatal("Put with a short reader succeeded")
	}
	if got := get(t, b, name, 0, -1); !bytes.Equal(got, want) {
		t.Errorf("after failed Puts, Get returned %d bytes that differ from the %d first put", len(got), len(want))
	}
}

func testConcurrent(t *testing.T, b storage.Backend) {
	const workers = 16
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			ctx := t.Context()
			name := fmt.Sprintf("data/%02x/concurrent", i)
			want := pattern(uint64(100+i), 256<<10+i)
			if err := b.Put(ctx, name, bytes.NewReader(want), int64(len(want))); err != nil {
				t.Errorf("Put(%q): %v", name, err)
				return
			}
			got, err := storage.ReadAll(ctx, b, name)
			if err != nil {
				t.Errorf("Get(%q): %v", name, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Get(%q) returned %d bytes that differ from the %d put", name, len(got), len(want))
			}
		})
	}
	wg.Wait()
	if got := list(t, b, "data/"); len(got) != workers {
		t.Errorf("List(data/) found %d objects, want %d", len(got), workers)
	}
}

func testCancelledContext(t *testing.T, b storage.Backend) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	const name = "data/cc/cancelled"
	if err := b.Put(ctx, name, bytes.NewReader([]byte("never")), 5); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	assertAbsent(t, b, name)
}

func testCreateNew(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	for i, size := range []int{0, 1, 1000, 1<<20 + 7} {
		name := fmt.Sprintf("snapshots/created-%d", i)
		want := pattern(uint64(200+i), size)
		if err := b.Create(ctx, name, bytes.NewReader(want), int64(size)); err != nil {
			t.Fatalf("Create(%q, %d bytes) of a new object: %v", name, size, err)
		}
		if got := get(t, b, name, 0, -1); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) after Create: %d bytes that differ from the %d created", name, len(got), size)
		}
		info, err := b.Stat(ctx, name)
		if err != nil || info != (storage.Info{Name: name, Size: int64(size)}) {
			t.Errorf("Stat(%q) after Create = %+v, %v; want size %d", name, info, err, size)
		}
	}
}

func testCreateExisting(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	for _, how := range []string{"put", "created"} {
		name := "config-" + how
		old := pattern(300, 2000)
		if how == "put" {
			put(t, b, name, old)
		} else if err := b.Create(ctx, name, bytes.NewReader(old), int64(len(old))); err != nil {
			t.Fatalf("Create(%q): %v", name, err)
		}
		for _, size := range []int{2000, 10, 0} {
			other := pattern(301, size)
			err := b.Create(ctx, name, bytes.NewReader(other), int64(size))
			if !errors.Is(err, storage.ErrExists) {
				t.Errorf("Create(%q) over a %s object: error = %v, want one wrapping storage.ErrExists", name, how, err)
			}
			if errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Create(%q) over an existing object wraps ErrNotFound too: %v", name, err)
			}
		}
		if got := get(t, b, name, 0, -1); !bytes.Equal(got, old) {
			t.Errorf("after refused Creates, %q holds %d bytes that differ from the %d first stored", name, len(got), len(old))
		}
	}
	if got := list(t, b, ""); len(got) != 2 {
		t.Errorf("after refused Creates, List(\"\") = %v, want the two objects only", got)
	}
}

func testCreateAfterDelete(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "locks/recreated"
	first, second := pattern(310, 100), pattern(311, 200)
	if err := b.Create(ctx, name, bytes.NewReader(first), int64(len(first))); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if err := b.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Create(ctx, name, bytes.NewReader(second), int64(len(second))); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if got := get(t, b, name, 0, -1); !bytes.Equal(got, second) {
		t.Errorf("Get after re-Create returned %d bytes, not the %d of the second Create", len(got), len(second))
	}
}

func testCreateFailingReader(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "index/failed-create"
	if err := b.Create(ctx, name, &failingReader{r: patternReader(320, 100)}, 1000); err == nil {
		t.Fatal("Create with a failing reader succeeded")
	} else if errors.Is(err, storage.ErrExists) {
		t.Errorf("Create with a failing reader: error %v wraps storage.ErrExists", err)
	}
	if err := b.Create(ctx, name, patternReader(321, 10), 1000); err == nil {
		t.Fatal("Create with a short reader succeeded")
	}
	assertAbsent(t, b, name)
	// A failed Create leaves nothing that blocks the next one.
	want := pattern(322, 1000)
	if err := b.Create(ctx, name, bytes.NewReader(want), int64(len(want))); err != nil {
		t.Fatalf("Create after failed Creates: %v", err)
	}
	if got := get(t, b, name, 0, -1); !bytes.Equal(got, want) {
		t.Errorf("Get returned %d bytes that differ from the %d created", len(got), len(want))
	}
}

func testCreateLargeExisting(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	const name = "data/fe/large-created"
	h := sha256.New()
	if err := b.Create(ctx, name, io.TeeReader(patternReader(330, LargeSize), h), LargeSize); err != nil {
		t.Fatalf("Create of %d bytes: %v", LargeSize, err)
	}
	want := h.Sum(nil)
	// Above the part size the second Create is a multipart upload whose completion must be refused.
	if err := b.Create(ctx, name, patternReader(331, LargeSize), LargeSize); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create of %d bytes: error = %v, want one wrapping storage.ErrExists", LargeSize, err)
	}
	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != LargeSize || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("after a refused Create, read %d bytes (%v) with SHA-256 %x, want %d bytes with %x", n, err, h.Sum(nil), LargeSize, want)
	}
}

// createRacers is how many Creates of one name testCreateConcurrent runs at once.
const createRacers = 8

func testCreateConcurrent(t *testing.T, b storage.Backend) {
	for round := range 3 {
		name := fmt.Sprintf("config-race-%d", round)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    [createRacers]error
			payload [createRacers][]byte
		)
		for i := range createRacers {
			payload[i] = pattern(uint64(400+round*createRacers+i), 4096+i)
			wg.Go(func() {
				<-start
				errs[i] = b.Create(t.Context(), name, bytes.NewReader(payload[i]), int64(len(payload[i])))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: Creates %d and %d of %q both succeeded", round, winner, i, name)
			case err == nil:
				winner = i
			case !errors.Is(err, storage.ErrExists):
				t.Errorf("round %d: losing Create %d: error = %v, want one wrapping storage.ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: none of %d concurrent Creates of %q succeeded: %v", round, createRacers, name, errs)
		}
		if got := get(t, b, name, 0, -1); !bytes.Equal(got, payload[winner]) {
			t.Errorf("round %d: %q holds %d bytes, not the %d bytes of the winning Create %d", round, name, len(got), len(payload[winner]), winner)
		}
	}
}

// put stores data under name, failing the test on error.
func put(t *testing.T, b storage.Backend, name string, data []byte) {
	t.Helper()
	if err := b.Put(t.Context(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", name, len(data), err)
	}
}

// get reads a range of name, failing the test on error.
func get(t *testing.T, b storage.Backend, name string, offset, length int64) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), name, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, offset, length, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read Get(%q, %d, %d): %v", name, offset, length, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close Get(%q, %d, %d): %v", name, offset, length, err)
	}
	return data
}

// list collects what List reports under prefix, failing the test on error.
func list(t *testing.T, b storage.Backend, prefix string) []storage.Info {
	t.Helper()
	var infos []storage.Info
	if err := b.List(t.Context(), prefix, func(info storage.Info) error {
		infos = append(infos, info)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

// assertAbsent checks that nothing is stored under name: Stat and Get fail with ErrNotFound and
// List does not report it (nor any leftover partial or temporary object).
func assertAbsent(t *testing.T, b storage.Backend, name string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	if info, err := b.Stat(ctx, name); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%q) = %+v, %v; want an error wrapping storage.ErrNotFound", name, info, err)
	}
	if rc, err := b.Get(ctx, name, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(%q) error = %v, want one wrapping storage.ErrNotFound", name, err)
	}
	if got := list(t, b, ""); len(got) != 0 {
		t.Errorf("List(\"\") = %v, want nothing", got)
	}
}

// patternReader yields n deterministic pseudo-random bytes derived from seed.
func patternReader(seed uint64, n int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// pattern returns the first n bytes patternReader yields for seed.
func pattern(seed uint64, n int) []byte {
	return patternAt(seed, 0, int64(n))
}

// patternAt returns n bytes of patternReader's stream for seed, starting at off.
func patternAt(seed uint64, off, n int64) []byte {
	r := patternReader(seed, off+n)
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		panic(err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		panic(err)
	}
	return data
}

// failingReader yields what r yields, then errReader instead of io.EOF.
type failingReader struct {
	r io.Reader
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = errReader
	}
	return n, err
}

package local_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/testsuite/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return newBackend(t, t.TempDir())
	})
}

func newBackend(t *testing.T, root string) *local.Backend {
	t.Helper()
	b, err := local.New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	return b
}

func TestNewCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "srv", "backups")
	b := newBackend(t, root)
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatalf("root not created: %v", err)
	}
	if !fi.IsDir() {
		t.Fatalf("root %s is not a directory", root)
	}
	if b.Location() != root {
		t.Errorf("Location() = %q, want %q", b.Location(), root)
	}
}

func TestNewRejectsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := local.New(file); err == nil {
		t.Fatal("New over a regular file succeeded")
	}
}

func TestRejectsBadNames(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repo")
	b := newBackend(t, root)
	ctx := t.Context()
	for _, name := range []string{
		"",
		"/etc/passwd",
		"../escape",
		"data/../../escape",
		"data/..",
		"./data/x",
		"data/./x",
		`data\x`,
		`..\escape`,
		"data//x",
		"data/x/",
		"data/x.tmp-123",
	} {
		t.Run(name, func(t *testing.T) {
			err := b.Put(ctx, name, strings.NewReader("x"), 1)
			if err == nil {
				t.Fatalf("Put(%q) succeeded", name)
			}
			if !strings.Contains(err.Error(), "local: put") {
				t.Errorf("Put(%q) error %q does not name the provider and operation", name, err)
			}
			if _, err := b.Get(ctx, name, 0, -1); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get(%q) error = %v, want a bad-name error", name, err)
			}
			if _, err := b.Stat(ctx, name); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat(%q) error = %v, want a bad-name error", name, err)
			}
			if err := b.Delete(ctx, name); err == nil {
				t.Errorf("Delete(%q) succeeded", name)
			}
		})
	}
	for _, prefix := range []string{"../", "/etc/", `data\`, "data/../", ".."} {
		if err := b.List(ctx, prefix, func(storage.Info) error { return nil }); err == nil {
			t.Errorf("List(%q) succeeded", prefix)
		}
	}
	// Nothing escaped the root.
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escape")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file escaped the root: %v", err)
	}
}

// crashReader stands for a process that dies mid-Put: it yields some bytes, then fails.
type crashReader struct{ n int }

func (c *crashReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, errors.New("power lost")
	}
	n := min(len(p), c.n)
	clear(p[:n])
	c.n -= n
	return n, nil
}

func TestFailedPutLeavesNoFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	if err := b.Put(t.Context(), "data/ab/crashed", &crashReader{n: 3 << 20}, 8<<20); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(root, "data", "ab"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("files left behind after a failed Put: %v", entries)
	}
}

// A real crash cannot remove its temporary file; List must not report one.
func TestListSkipsTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	ctx := t.Context()
	if err := b.Put(ctx, "data/ab/complete", bytes.NewReader([]byte("done")), 4); err != nil {
		t.Fatal(err)
	}
	// What a Put interrupted by a crash after os.CreateTemp leaves.
	leftover := filepath.Join(root, "data", "ab", "interrupted.tmp-123456")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := b.List(ctx, "", func(info storage.Info) error {
		names = append(names, info.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "data/ab/complete" {
		t.Errorf("List = %q, want only data/ab/complete", names)
	}
	if _, err := b.Stat(ctx, "data/ab/interrupted"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of the interrupted object: %v, want ErrNotFound", err)
	}
}

func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
	root := t.TempDir()
	b := newBackend(t, root)
	if err := b.Put(t.Context(), "keys/ab/key", strings.NewReader("secret"), 6); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{
		filepath.Join(root, "keys"):              0o700,
		filepath.Join(root, "keys", "ab"):        0o700,
		filepath.Join(root, "keys", "ab", "key"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
}

func TestGetReturnsFileContents(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	// Objects are plain files: what another tool (rsync, a restore by hand) wrote is readable.
	dir := filepath.Join(root, "snapshots")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s1"), []byte("manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(t.Context(), "snapshots/s1", 4, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "fest" {
		t.Errorf("Get(snapshots/s1, 4, -1) = %q, want %q", got, "fest")
	}
}

func TestRefusedCreateLeavesNoFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	ctx := t.Context()
	if err := b.Create(ctx, "keys/slot", bytes.NewReader([]byte("first")), 5); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "keys/slot", bytes.NewReader([]byte("second")), 6); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "slot" {
		t.Errorf("files after a refused Create: %v, want only slot", entries)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "keys", "slot")); string(got) != "first" {
		t.Errorf("slot holds %q after a refused Create, want %q", got, "first")
	}
}

// Temporary files left by a process that died mid-write are listed and can be removed one by one;
// objects cannot be removed through RemoveTemp.
func TestTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	ctx := t.Context()
	if err := b.Put(ctx, "data/ab/complete", bytes.NewReader([]byte("done")), 4); err != nil {
		t.Fatal(err)
	}
	leftovers := map[string]int{"data/ab/interrupted.tmp-123456": 4, "config.tmp-99": 2, "index/x.tmp-1": 0}
	for name, size := range leftovers {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	if err := b.Temps(ctx, func(ti storage.TempInfo) error {
		if ti.ModTime.IsZero() {
			t.Errorf("%s: no modification time", ti.Name)
		}
		got[ti.Name] = int(ti.Size)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(leftovers) {
		t.Fatalf("Temps = %v, want %v", got, leftovers)
	}
	for name, size := range leftovers {
		if got[name] != size {
			t.Errorf("Temps reports %s with %d bytes, want %d", name, got[name], size)
		}
	}
	for _, name := range []string{"data/ab/complete", "config", "../escape.tmp-1", "/abs.tmp-1", "data/ab.tmp-1/../../x"} {
		if err := b.RemoveTemp(ctx, name); err == nil {
			t.Errorf("RemoveTemp(%q) succeeded", name)
		}
	}
	if _, err := b.Stat(ctx, "data/ab/complete"); err != nil {
		t.Fatalf("object gone after refused RemoveTemps: %v", err)
	}
	for name := range leftovers {
		if err := b.RemoveTemp(ctx, name); err != nil {
			t.Errorf("RemoveTemp(%q): %v", name, err)
		}
	}
	if err := b.RemoveTemp(ctx, "config.tmp-99"); err != nil {
		t.Errorf("RemoveTemp of a file already removed: %v", err)
	}
	n := 0
	if err := b.Temps(ctx, func(storage.TempInfo) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("after RemoveTemp, Temps reports %d files (%v)", n, err)
	}
}

package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// tempMarker is part of the name of every temporary file Put writes. List never reports such files
// and names containing it are refused, so a temporary file can never pass for an object.
const tempMarker = ".tmp-"

const (
	fileMode = 0o600
	dirMode  = 0o700
)

// Backend stores each object as the file root/name. It is safe for concurrent use.
type Backend struct {
	root string
}

var (
	_ storage.Backend    = (*Backend)(nil)
	_ storage.TempLister = (*Backend)(nil)
)

// New returns a backend rooted at the directory root, creating it (mode 0700) when it does not
// exist. The root is made absolute so that Location names it unambiguously.
func New(root string) (*Backend, error) {
	if root == "" {
		return nil, errors.New("local: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, fmt.Errorf("local: create root %q: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: root %q is not a directory", abs)
	}
	return &Backend{root: abs}, nil
}

// Location returns the absolute root directory.
func (b *Backend) Location() string { return b.root }

// Put writes r to a temporary file next to the destination, fsyncs it, renames it over name and
// fsyncs the directory, creating missing parent directories (mode 0700) on the way. When r fails,
// yields other than size bytes or ctx ends, the temporary file is removed and any earlier object
// of that name is left untouched. A crash can leave a temporary file behind; List never reports
// it, Temps does.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, tmp, err := b.writeTemp(ctx, name, r, size)
	if err != nil {
		return fmt.Errorf("local: put %q: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("local: put %q: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("local: put %q: sync directory: %w", name, err)
	}
	return nil
}

// Create writes r to a temporary file as Put does, then gives it its name without replacing
// anything: with renameat2(RENAME_NOREPLACE) where the file system supports it, else with link(2)
// followed by removing the temporary name. Either fails when name exists, and Create then removes
// its temporary file and returns an error wrapping storage.ErrExists; the existing file is not
// touched. A crash between link and unlink leaves a temporary file that is a second name of the
// object; removing it (RemoveTemp) is harmless.
func (b *Backend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	p, tmp, err := b.writeTemp(ctx, name, r, size)
	if err != nil {
		return fmt.Errorf("local: create %q: %w", name, err)
	}
	if err := publishNoReplace(tmp, p); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("local: create %q: %w", name, storage.ErrExists)
		}
		return fmt.Errorf("local: create %q: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("local: create %q: sync directory: %w", name, err)
	}
	return nil
}

// writeTemp checks name, writes size bytes of r to a new temporary file in the directory name
// belongs in, and fsyncs and closes it. It returns the object's path and the temporary file's; on
// error the temporary file is already removed.
func (b *Backend) writeTemp(ctx context.Context, name string, r io.Reader, size int64) (p, tmp string, err error) {
	p, err = b.path(name)
	if err != nil {
		return "", "", err
	}
	if size < 0 {
		return "", "", fmt.Errorf("negative size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	dir := filepath.Dir(p)
	if err := b.mkdirs(dir); err != nil {
		return "", "", err
	}
	f, err := os.CreateTemp(dir, filepath.Base(p)+tempMarker+"*")
	if err != nil {
		return "", "", err
	}
	tmpName := f.Name() // the result tmp is cleared by a failing return before the defer runs
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmpName)
		}
	}()
	if err := f.Chmod(fileMode); err != nil {
		return "", "", err
	}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(writerOnly{f}, io.LimitReader(ctxReader{ctx, r}, size), *buf)
	copyBufs.Put(buf)
	if err != nil {
		return "", "", fmt.Errorf("after %d of %d bytes: %w", n, size, err)
	}
	if n != size {
		return "", "", fmt.Errorf("reader ended after %d of %d bytes", n, size)
	}
	if err := storage.ExpectEOF(r); err != nil {
		return "", "", err
	}
	if err := f.Sync(); err != nil {
		return "", "", fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("close: %w", err)
	}
	return p, tmpName, nil
}

// linkNoReplace gives the file at tmp the name p with link(2), which fails with an error wrapping
// fs.ErrExist when p exists, then removes the name tmp. Once the link exists the object is
// created; a temporary name that cannot be removed is only a second name for it, which Temps
// reports and RemoveTemp deletes.
func linkNoReplace(tmp, p string) error {
	if err := os.Link(tmp, p); err != nil {
		return err
	}
	_ = os.Remove(tmp)
	return nil
}

// copyBufs hold the buffers Put copies through: 1 MiB, so an 8 MiB pack takes eight write(2) calls
// rather than the 256 of io.Copy's 32 KiB.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writerOnly hides *os.File's ReadFrom, which would copy in 32 KiB steps.
type writerOnly struct{ io.Writer }

// Get opens the file, seeks to offset and limits the reader to length bytes (length < 0: to the
// end). It returns an error wrapping storage.ErrNotFound when there is no such file.
func (b *Backend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := b.path(name)
	if err != nil {
		return nil, fmt.Errorf("local: get %q: %w", name, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("local: get %q: negative offset %d", name, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: get %q: %w", name, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("local: get %q: %w", name, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("local: get %q: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("local: get %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("local: get %q: %w", name, storage.ErrNotFound)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("local: get %q: seek to %d: %w", name, offset, err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Stat returns the file's size, or an error wrapping storage.ErrNotFound when there is no such
// file.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	p, err := b.path(name)
	if err != nil {
		return storage.Info{}, fmt.Errorf("local: stat %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, fmt.Errorf("local: stat %q: %w", name, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		if isNotExist(err) {
			return storage.Info{}, fmt.Errorf("local: stat %q: %w", name, storage.ErrNotFound)
		}
		return storage.Info{}, fmt.Errorf("local: stat %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("local: stat %q: %w", name, storage.ErrNotFound)
	}
	return storage.Info{Name: name, Size: fi.Size()}, nil
}

// List walks only the part of the tree that can hold names starting with prefix and calls fn for
// each regular file, skipping temporary files and files that vanish during the walk. An error
// from fn stops the walk and is returned as is.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	// The deepest directory every matching name lies under: "data/ab/" → "data/ab",
	// "data/a" → "data", "snap" → "".
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
	}
	startPath := filepath.Join(b.root, filepath.FromSlash(start))
	if fi, err := os.Stat(startPath); err != nil || !fi.IsDir() {
		if err == nil || isNotExist(err) {
			return nil // nothing stored under that prefix
		}
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	errStop := errors.New("stop")
	var fnErr error
	err := filepath.WalkDir(startPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) && p != startPath {
				return nil // removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == startPath {
				return nil
			}
			// Descend only where names can still match: the directory lies inside the prefix, or the
			// prefix continues inside it.
			if !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.Contains(d.Name(), tempMarker) || !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			return err
		}
		if err := fn(storage.Info{Name: name, Size: fi.Size()}); err != nil {
			fnErr = err
			return errStop
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	return nil
}

// Delete removes the file and fsyncs its directory. A missing file is not an error. Emptied
// directories are kept.
func (b *Backend) Delete(ctx context.Context, name string) error {
	p, err := b.path(name)
	if err != nil {
		return fmt.Errorf("local: delete %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: delete %q: %w", name, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("local: delete %q: %w", name, err)
	}
	if fi.IsDir() {
		return nil // a directory is no object
	}
	if err := os.Remove(p); err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("local: delete %q: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("local: delete %q: sync directory: %w", name, err)
	}
	return nil
}

// Temps walks the whole root and calls fn for every temporary file a Put or Create left behind
// (a name containing ".tmp-"), including those of writes still in progress.
func (b *Backend) Temps(ctx context.Context, fn func(storage.TempInfo) error) error {
	errStop := errors.New("stop")
	var fnErr error
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) && p != b.root {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || !strings.Contains(d.Name(), tempMarker) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if isNotExist(err) {
				return nil // renamed into place or removed meanwhile
			}
			return err
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		if err := fn(storage.TempInfo{Name: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			fnErr = err
			return errStop
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("local: list temporary files: %w", err)
	}
	return nil
}

// RemoveTemp deletes a temporary file reported by Temps and fsyncs its directory. Names whose last
// element does not contain ".tmp-" are refused, so that it can never delete an object.
func (b *Backend) RemoveTemp(ctx context.Context, name string) error {
	base := name[strings.LastIndexByte(name, '/')+1:]
	if !strings.Contains(base, tempMarker) {
		return fmt.Errorf("local: remove temporary file %q: not a temporary file name", name)
	}
	// checkName refuses the marker; check the rest of the name with it replaced.
	if err := checkName(strings.ReplaceAll(name, tempMarker, ".tmp_")); err != nil {
		return fmt.Errorf("local: remove temporary file %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: remove temporary file %q: %w", name, err)
	}
	p := filepath.Join(b.root, filepath.FromSlash(name))
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("local: remove temporary file %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("local: remove temporary file %q: not a regular file", name)
	}
	if err := os.Remove(p); err != nil && !isNotExist(err) {
		return fmt.Errorf("local: remove temporary file %q: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("local: remove temporary file %q: sync directory: %w", name, err)
	}
	return nil
}

// path checks name and returns its file path under the root.
func (b *Backend) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(name)), nil
}

// mkdirs creates dir and any missing parents below the root, fsyncing each parent after adding a
// directory to it so that the new entries survive a crash.
func (b *Backend) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if dir == b.root || len(dir) < len(b.root) {
		return fmt.Errorf("root %s is missing", b.root)
	}
	parent := filepath.Dir(dir)
	if err := b.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// checkName enforces the names storage.Backend documents: relative slash paths without empty, "."
// or ".." elements. Backslashes and the temporary-file marker are refused as well, since they
// would make a name mean something else on disk.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty object name")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return errors.New("object name must be relative, not absolute")
	case strings.Contains(name, `\`):
		return errors.New(`object name must use "/" as separator, not backslashes`)
	case strings.ContainsRune(name, 0):
		return errors.New("object name contains a NUL byte")
	case strings.Contains(name, tempMarker):
		return fmt.Errorf("object name contains %q, which marks temporary files", tempMarker)
	}
	for _, elem := range strings.Split(name, "/") {
		switch elem {
		case "":
			return errors.New("object name has an empty element (leading, trailing or double slash)")
		case ".", "..":
			return fmt.Errorf("object name has a %q element", elem)
		}
	}
	return nil
}

// checkPrefix is checkName for list prefixes: empty is allowed, and the final element may be
// partial or empty ("data/", "data/a").
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") || filepath.IsAbs(prefix) {
		return errors.New("prefix must be relative, not absolute")
	}
	if strings.Contains(prefix, `\`) {
		return errors.New(`prefix must use "/" as separator, not backslashes`)
	}
	elems := strings.Split(prefix, "/")
	for i, elem := range elems {
		last := i == len(elems)-1
		if elem == "" && !last {
			return errors.New("prefix has an empty element")
		}
		if (elem == "." || elem == "..") && !last || elem == ".." {
			return fmt.Errorf("prefix has a %q element", elem)
		}
	}
	return nil
}

// syncDir fsyncs a directory so that entries added, renamed or removed in it are durable.
// Windows cannot open directories for syncing; NTFS journals metadata itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// isNotExist reports whether err means the file is not there, including a path through a file
// ("data/x/y" where data/x is a file).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// ctxReader stops reading once ctx ends, so a cancelled Put of a large object stops early.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

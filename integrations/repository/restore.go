package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RestoreOptions describe a restore.
type RestoreOptions struct {
	// Path selects a file or directory inside the snapshot ("etc/nginx"); it is restored as
	// target/<its name>. Empty restores the whole snapshot into target.
	Path string
	// Overwrite replaces files that exist at the target; without it they are errors.
	Overwrite bool
	// Owners restores numeric owners (needs root).
	Owners bool
	// OnError is told about each file that could not be restored (a damaged chunk, an existing file);
	// the restore goes on and the result lists them. Without OnError the first such error fails it.
	OnError func(path string, err error)
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress         func(RestoreProgress)
	ProgressInterval time.Duration
}

// RestoreProgress reports a running restore.
type RestoreProgress struct {
	FilesDone  int64         `json:"files_done"`
	BytesDone  int64         `json:"bytes_done"`
	TotalFiles int64         `json:"total_files"`
	TotalBytes int64         `json:"total_bytes"`
	Errors     int64         `json:"errors"`
	Elapsed    time.Duration `json:"elapsed"`
	Done       bool          `json:"done"`
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Files    int64         `json:"files"`
	Dirs     int64         `json:"dirs"`
	Symlinks int64         `json:"symlinks"`
	Bytes    int64         `json:"bytes"`
	Failed   []string      `json:"failed,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Restore writes a snapshot, or the part of it opts.Path selects, under target, checking every
// chunk against its ID as it writes. Every write goes through an os.Root at target, so neither a
// crafted snapshot nor symlinks already in the target can make it write outside. It holds a shared
// lock while it runs.
func (r *Repository) Restore(ctx context.Context, sn *Snapshot, target string, opts RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	lock, err := r.Lock(ctx, false, "restore "+sn.ID.Short())
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	root, err := os.OpenRoot(target)
	if err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	defer root.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := &restorer{r: r, root: root, opts: opts, jobs: make(chan restoreJob, 64)}
	rs.setTotals(ctx, sn, opts.Path)
	// Restoring is bound by file-system latency (creating, writing and stamping files) more than by
	// CPU, so more workers than cores keep the disk busy; each holds at most one chunk.
	for range 2 * runtime.GOMAXPROCS(0) {
		rs.wg.Add(1)
		go rs.worker(ctx)
	}
	stopProgress := rs.reportProgress(start)

	rs.top = &dirHandle{root: root, keep: true}
	rs.top.refs.Add(1)
	rs.umask = currentUmask()
	err = rs.restoreSelection(ctx, sn.Tree, opts.Path)
	close(rs.jobs)
	rs.wg.Wait()
	if err == nil {
		err = rs.firstErr()
	}
	if err == nil {
		err = rs.finishDirs()
	}
	stopProgress(err == nil)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{
		Files: rs.files.Load(), Dirs: rs.dirsN.Load(), Symlinks: rs.symlinks.Load(), Bytes: rs.bytes.Load(),
		Failed: rs.failed, Duration: time.Since(start),
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%d of %d files could not be restored: %s", len(res.Failed), res.Files+int64(len(res.Failed)), strings.Join(firstN(res.Failed, 5), "; "))
	}
	return res, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

var errExists = errors.New("exists at the target (restore elsewhere, or overwrite)")

type restoreJob struct {
	rel  string // path below the target, for messages
	dir  *dirHandle
	node Node
}

// dirHandle is a directory being restored, opened once so that each file in it is created with one
// openat instead of a walk from the target; it closes when its last file is written.
type dirHandle struct {
	root *os.Root
	refs atomic.Int64
	keep bool // the target itself, closed by Restore
}

func (d *dirHandle) release() {
	if d.refs.Add(-1) == 0 && !d.keep {
		_ = d.root.Close()
	}
}

type restorer struct {
	r     *Repository
	root  *os.Root
	top   *dirHandle
	umask fs.FileMode
	opts  RestoreOptions
	jobs  chan restoreJob
	wg    sync.WaitGroup

	mu     sync.Mutex
	failed []string
	err    error
	dirs   []restoreJob // to stamp with modes and times once their contents are written

	files, symlinks, bytes, errs, totalFiles, totalBytes atomic.Int64
	dirsN                                                atomic.Int64
}

// restoreSelection finds opts.Path in the snapshot and restores it.
func (rs *restorer) restoreSelection(ctx context.Context, tree ID, sel string) error {
	sel = strings.Trim(path.Clean("/"+sel), "/")
	if sel == "" {
		return rs.restoreTree(ctx, tree, "", rs.top)
	}
	n, err := rs.r.lookupPath(ctx, tree, sel)
	if err != nil {
		return err
	}
	return rs.restoreNode(ctx, *n, n.Name, rs.top)
}

// restoreTree restores a tree's entries into dir, which the caller holds a reference to and which
// restoreTree releases.
func (rs *restorer) restoreTree(ctx context.Context, id ID, rel string, dir *dirHandle) error {
	defer dir.release()
	t, err := rs.r.LoadTree(ctx, id)
	if err != nil {
		return err
	}
	for _, n := range t.Nodes {
		p := n.Name
		if rel != "" {
			p = rel + "/" + n.Name
		}
		if err := rs.restoreNode(ctx, n, p, dir); err != nil {
			return err
		}
	}
	return nil
}

func (rs *restorer) restoreNode(ctx context.Context, n Node, rel string, dir *dirHandle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch n.Type {
	case NodeDir:
		if err := rs.root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return rs.fail(rel, err)
		}
		if fi, err := rs.root.Lstat(rel); err != nil || !fi.IsDir() {
			return rs.fail(rel, fmt.Errorf("exists and is not a directory"))
		}
		rs.dirsN.Add(1)
		rs.mu.Lock()
		rs.dirs = append(rs.dirs, restoreJob{rel: rel, node: n})
		rs.mu.Unlock()
		sub, err := rs.root.OpenRoot(rel)
		if err != nil {
			return rs.fail(rel, err)
		}
		h := &dirHandle{root: sub}
		h.refs.Add(1)
		return rs.restoreTree(ctx, *n.Subtree, rel, h)
	case NodeSymlink:
		if rs.opts.Overwrite {
			_ = rs.root.Remove(rel)
		}
		if err := rs.root.Symlink(n.LinkTarget, rel); errors.Is(err, fs.ErrExist) {
			return rs.fail(rel, errExists)
		} else if err != nil {
			return rs.fail(rel, err)
		}
		if rs.opts.Owners {
			_ = rs.root.Lchown(rel, int(n.UID), int(n.GID))
		}
		rs.symlinks.Add(1)
		return nil
	case NodeFile:
		dir.refs.Add(1)
		select {
		case rs.jobs <- restoreJob{rel: rel, dir: dir, node: n}:
			return nil
		case <-ctx.Done():
			dir.release()
			return ctx.Err()
		}
	}
	return nil
}

// fail records a file that could not be restored, or returns the error when there is no OnError.
func (rs *restorer) fail(rel string, err error) error {
	if rs.opts.OnError == nil {
		return fmt.Errorf("restore %s: %w", rel, err)
	}
	rs.errs.Add(1)
	rs.opts.OnError(rel, err)
	rs.mu.Lock()
	rs.failed = append(rs.failed, rel+": "+err.Error())
	rs.mu.Unlock()
	return nil
}

func (rs *restorer) firstErr() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.err
}

func (rs *restorer) worker(ctx context.Context) {
	defer rs.wg.Done()
	var buf []byte
	for j := range rs.jobs {
		if ctx.Err() != nil {
			j.dir.release()
			continue
		}
		var err error
		buf, err = rs.restoreFile(ctx, j, buf)
		if err != nil {
			_ = j.dir.root.Remove(j.node.Name) // never leave a partial file that looks restored
		}
		j.dir.release()
		if err != nil {
			if ferr := rs.fail(j.rel, err); ferr != nil {
				rs.mu.Lock()
				if rs.err == nil {
					rs.err = ferr
				}
				rs.mu.Unlock()
			}
			continue
		}
		rs.files.Add(1)
	}
}

func (rs *restorer) restoreFile(ctx context.Context, j restoreJob, buf []byte) ([]byte, error) {
	d, name := j.dir.root, j.node.Name
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if rs.opts.Overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if fi, err := d.Lstat(name); err == nil && !fi.Mode().IsRegular() {
			if err := d.Remove(name); err != nil {
				return buf, err
			}
		}
	}
	f, err := d.OpenFile(name, flags, j.node.Mode.Perm())
	if errors.Is(err, fs.ErrExist) {
		return buf, errExists
	}
	if err != nil {
		return buf, err
	}
	fail := func(err error) ([]byte, error) {
		f.Close()
		return buf, err
	}
	var written uint64
	for i, id := range j.node.Content {
		buf, err = rs.r.LoadBlob(ctx, DataBlob, id, buf)
		if err != nil {
			return fail(fmt.Errorf("chunk %d of %d: %w", i+1, len(j.node.Content), err))
		}
		if _, err := f.Write(buf); err != nil {
			return fail(err)
		}
		written += uint64(len(buf))
		rs.bytes.Add(int64(len(buf)))
	}
	if written != j.node.Size {
		return fail(fmt.Errorf("%w: content is %d bytes, the snapshot says %d", ErrCorrupt, written, j.node.Size))
	}
	// Creating with the mode set it already unless the umask took bits away or special bits are set
	// (or an overwritten file kept its old mode): one syscall saved per file.
	if j.node.Mode&rs.umask != 0 || j.node.Mode&^fs.ModePerm != 0 || rs.opts.Overwrite {
		if err := f.Chmod(j.node.Mode); err != nil {
			return fail(err)
		}
	}
	if rs.opts.Owners {
		_ = f.Chown(int(j.node.UID), int(j.node.GID))
	}
	if err := setFileTimes(f, d, name, j.node.ModTime); err != nil {
		return fail(err)
	}
	return buf, f.Close()
}

// finishDirs sets directories' modes and times, deepest first, after their contents are written.
func (rs *restorer) finishDirs() error {
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if rs.opts.Owners {
			_ = rs.root.Lchown(d.rel, int(d.node.UID), int(d.node.GID))
		}
		if err := rs.root.Chmod(d.rel, d.node.Mode); err != nil {
			return fmt.Errorf("restore %s: %w", d.rel, err)
		}
		if err := rs.root.Chtimes(d.rel, d.node.ModTime, d.node.ModTime); err != nil {
			return fmt.Errorf("restore %s: %w", d.rel, err)
		}
	}
	return nil
}

// setTotals counts what the selection holds, for progress; failures leave the totals at zero.
func (rs *restorer) setTotals(ctx context.Context, sn *Snapshot, sel string) {
	if rs.opts.Progress == nil {
		return
	}
	sel = strings.Trim(path.Clean("/"+sel), "/")
	_ = rs.r.Walk(ctx, sn.Tree, func(p string, n *Node) error {
		if sel != "" && p != sel && !strings.HasPrefix(p, sel+"/") {
			if n.Type == NodeDir && !strings.HasPrefix(sel, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if n.Type == NodeFile {
			rs.totalFiles.Add(1)
			rs.totalBytes.Add(int64(n.Size))
		}
		return nil
	})
}

func (rs *restorer) reportProgress(start time.Time) func(bool) {
	if rs.opts.Progress == nil {
		return reportEvery(0, nil)
	}
	return reportEvery(rs.opts.ProgressInterval, func(done bool) {
		rs.opts.Progress(RestoreProgress{FilesDone: rs.files.Load(), BytesDone: rs.bytes.Load(), TotalFiles: rs.totalFiles.Load(),
			TotalBytes: rs.totalBytes.Load(), Errors: rs.errs.Load(), Elapsed: time.Since(start), Done: done})
	})
}

// Dump writes one file of a snapshot to w, verifying each chunk: the way a database dump is fed
// back to pg_restore without landing on disk.
func (r *Repository) Dump(ctx context.Context, sn *Snapshot, file string, w io.Writer) (int64, error) {
	if err := r.LoadIndex(ctx); err != nil {
		return 0, err
	}
	n, err := r.lookupPath(ctx, sn.Tree, file)
	if err != nil {
		return 0, err
	}
	if n.Type != NodeFile {
		return 0, fmt.Errorf("%q is a %s, not a file", file, n.Type)
	}
	var buf []byte
	var total int64
	for i, id := range n.Content {
		if buf, err = r.LoadBlob(ctx, DataBlob, id, buf); err != nil {
			return total, fmt.Errorf("%s: chunk %d of %d: %w", file, i+1, len(n.Content), err)
		}
		m, err := w.Write(buf)
		total += int64(m)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// lookupPath finds the node at a slash-separated path in a tree.
func (r *Repository) lookupPath(ctx context.Context, tree ID, p string) (*Node, error) {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return nil, errors.New("empty path")
	}
	cur := tree
	parts := strings.Split(p, "/")
	for i, part := range parts {
		t, err := r.LoadTree(ctx, cur)
		if err != nil {
			return nil, err
		}
		n, ok := t.Find(part)
		if !ok {
			return nil, fmt.Errorf("%q is not in the snapshot", strings.Join(parts[:i+1], "/"))
		}
		if i == len(parts)-1 {
			return n, nil
		}
		if n.Type != NodeDir {
			return nil, fmt.Errorf("%q is not a directory", strings.Join(parts[:i+1], "/"))
		}
		cur = *n.Subtree
	}
	return nil, nil
}

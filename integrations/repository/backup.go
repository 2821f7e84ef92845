package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/chunker"
)

// BackupOptions describe a backup.
type BackupOptions struct {
	// Source names what is backed up ("orders-db", "/srv/www"); snapshots of one source are compared
	// and kept together. Default: the paths, comma-separated.
	Source string
	Tags   []string
	// Hostname defaults to this host's name.
	Hostname string
	// Parent is the snapshot whose unchanged files are reused without reading them. Default: the
	// latest snapshot of the same source and host; NoParent reads everything.
	Parent   *ID
	NoParent bool
	// Excludes are glob patterns (path.Match syntax) matched against each entry's name and its path
	// relative to the backed-up directory.
	Excludes []string
	// Time stamps the snapshot; default now.
	Time time.Time
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// OnError is told about each file that could not be read; the backup goes on without it and the
	// snapshot's summary counts it. Without OnError the first such error fails the backup.
	OnError func(path string, err error)
	// Program is recorded in the snapshot.
	Program string
	// Scope, when set, keeps two backups of the same scope (an asset) from running at once: the
	// second fails with ErrLocked while the first holds its lock.
	Scope string
	// Job identifies the job making the snapshot (a workflow run). A job that already made a
	// snapshot gets it back instead of a second one, so a retried backup never stores two.
	Job string
}

// Progress reports a running backup.
type Progress struct {
	FilesDone int64 `json:"files_done"`
	DirsDone  int64 `json:"dirs_done"`
	// BytesDone counts file bytes read or reused from the parent.
	BytesDone int64 `json:"bytes_done"`
	// BytesNew counts plaintext bytes of blobs the repository did not have; StoredNew what they took.
	BytesNew       int64         `json:"bytes_new"`
	StoredNew      int64         `json:"stored_new"`
	Errors         int64         `json:"errors"`
	PacksWritten   int           `json:"packs_written"`
	IndexesWritten int           `json:"indexes_written"`
	Elapsed        time.Duration `json:"elapsed"`
	Done           bool          `json:"done"`
	// FilesTotal and BytesTotal are what a backup of paths has to read, as a scan running beside
	// it finds them: counted so far, and the whole once TotalKnown. Streams (BackupStream,
	// BackupCommand) have no total.
	FilesTotal int64 `json:"files_total,omitempty"`
	BytesTotal int64 `json:"bytes_total,omitempty"`
	TotalKnown bool  `json:"total_known,omitempty"`
}

// Backup saves paths (directories, files or symlinks) as a new snapshot. One directory becomes the
// snapshot's root; several paths, or a file, become entries of the root named after their base
// names. It holds a shared lock while it runs and commits only while that lock is still its own:
// when a later attempt of the same job took it over, Backup fails with an error wrapping
// ErrLockLost and leaves no snapshot.
func (r *Repository) Backup(ctx context.Context, paths []string, opts BackupOptions) (*Snapshot, error) {
	if len(paths) == 0 {
		return nil, errors.New("backup: no paths")
	}
	abs := make([]string, len(paths))
	seen := map[string]string{}
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(a); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		base := filepath.Base(a)
		if other, dup := seen[base]; dup && len(paths) > 1 {
			return nil, fmt.Errorf("backup: %s and %s would both be %q in the snapshot", other, a, base)
		}
		seen[base] = a
		abs[i] = a
	}
	if opts.Source == "" {
		opts.Source = strings.Join(abs, ",")
	}
	return r.backup(ctx, abs, opts, func(a *archiver, parent *Tree) (ID, error) {
		single := false
		if len(abs) == 1 {
			if fi, err := os.Lstat(abs[0]); err == nil && fi.IsDir() {
				single = true
			}
		}
		save := func() (ID, error) {
			if single {
				return a.saveDir(ctx, abs[0], "", parent)
			}
			return a.saveEntries(ctx, abs, parent)
		}
		if opts.Progress == nil {
			return save()
		}
		// The entries as the backup names them: a single directory's children at its root,
		// several paths by their base names.
		var top []dirEntry
		if single {
			if des, err := os.ReadDir(abs[0]); err == nil {
				for _, de := range des {
					top = append(top, dirEntry{name: de.Name(), path: filepath.Join(abs[0], de.Name()), rel: de.Name()})
				}
			}
		} else {
			for _, p := range abs {
				top = append(top, dirEntry{name: filepath.Base(p), path: p, rel: filepath.Base(p)})
			}
		}
		scanCtx, stopScan := context.WithCancel(ctx)
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			a.scan(scanCtx, top)
		}()
		id, err := save()
		if err == nil {
			// The last report carries the whole count: the scan walks what the backup has just
			// read, so it ends soon after it.
			select {
			case <-scanned:
			case <-ctx.Done():
			}
		}
		stopScan()
		<-scanned
		return id, err
	})
}

// BackupStream saves what r yields as a snapshot holding one file, name (a pg_dump, a tar stream).
// The stream is never held in memory whole.
func (r *Repository) BackupStream(ctx context.Context, rd io.Reader, name string, opts BackupOptions) (*Snapshot, error) {
	if !validName(name) {
		return nil, fmt.Errorf("backup: %q is not a plain file name", name)
	}
	if opts.Source == "" {
		opts.Source = name
	}
	return r.backup(ctx, nil, opts, func(a *archiver, _ *Tree) (ID, error) {
		now := time.Now()
		node := Node{Name: name, Type: NodeFile, Mode: 0o600, ModTime: now}
		size, content, err := a.saveContent(ctx, rd)
		if err != nil {
			return ID{}, fmt.Errorf("backup %s: %w", name, err)
		}
		node.Size, node.Content = uint64(size), content
		a.filesDone.Add(1)
		a.stats.FilesNew++
		a.stats.TotalFiles++
		a.stats.TotalBytes += size
		return a.saver.SaveTree(&Tree{Nodes: []Node{node}})
	})
}

func (r *Repository) backup(ctx context.Context, paths []string, opts BackupOptions, save func(*archiver, *Tree) (ID, error)) (*Snapshot, error) {
	start := time.Now()
	for _, pat := range opts.Excludes {
		if _, err := filepath.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("exclude pattern %q: %w", pat, err)
		}
	}
	lock, err := r.lock(ctx, false, "backup "+opts.Source, opts.Scope)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if opts.Job != "" {
		all, err := r.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		for _, sn := range all {
			if sn.Job == opts.Job {
				return sn, nil
			}
		}
	}
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	sn := &Snapshot{Time: opts.Time, Source: opts.Source, Paths: paths, Hostname: opts.Hostname, Tags: opts.Tags, Program: opts.Program, Job: opts.Job}
	if sn.Time.IsZero() {
		sn.Time = start
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}

	var parentTree *Tree
	if !opts.NoParent {
		parent, err := r.findParent(ctx, opts)
		if err != nil {
			return nil, err
		}
		if parent != nil {
			sn.Parent = &parent.ID
			if parentTree, err = r.LoadTree(ctx, parent.Tree); err != nil {
				return nil, fmt.Errorf("parent snapshot %s: %w", parent.ID.Short(), err)
			}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := newArchiver(ctx, r, opts, lock)
	stopProgress := a.reportProgress(start)
	tree, err := save(a, parentTree)
	a.close()
	if err == nil {
		err = a.saver.Flush()
	} else {
		a.saver.Abort()
	}
	if err != nil {
		// What was uploaded stays useful: index it, unless the lock is lost.
		if ierr := a.saver.indexUploaded(ctx); ierr != nil {
			err = errors.Join(err, ierr)
		}
	}
	if err == nil {
		err = lock.Err()
	}
	stopProgress(err == nil)
	if err != nil {
		return nil, err
	}
	st := a.saver.Stats()
	a.stats.Dirs = a.dirsDone.Load()
	a.stats.Errors = a.errors.Load()
	a.stats.BlobsAdded, a.stats.BytesAdded, a.stats.StoredAdded = st.BlobsAdded, st.BytesAdded, st.StoredAdded
	a.stats.Duration = time.Since(start)
	sn.Tree, sn.Summary = tree, &a.stats
	if err := r.commitSnapshot(ctx, sn, lock); err != nil {
		return nil, err
	}
	return sn, nil
}

func (r *Repository) findParent(ctx context.Context, opts BackupOptions) (*Snapshot, error) {
	if opts.Parent != nil {
		return r.LoadSnapshot(ctx, *opts.Parent)
	}
	sn, err := r.FindSnapshot(ctx, "latest", SnapshotFilter{Source: opts.Source, Hostname: opts.Hostname})
	if errors.Is(err, ErrNoSnapshot) {
		return nil, nil
	}
	return sn, err
}

// archiver walks and reads files. Directories are walked by the caller's goroutine; file contents
// are read and chunked by file workers, and chunks are compressed, sealed and packed by the saver's
// callers, the blob workers, so that one large file still keeps every core busy.
type archiver struct {
	r     *Repository
	opts  BackupOptions
	saver *Saver
	files chan *fileJob
	blobs chan blobJob
	// big holds the chunkers large files take turns with, one per core; each allocates its
	// 2 × chunk_max buffer on first use, so a backup of small files never does.
	big    chan *chunker.Chunker
	fileWG sync.WaitGroup
	blobWG sync.WaitGroup
	chunk  chunker.Params

	mu    sync.Mutex
	stats Summary

	filesDone, dirsDone, bytesDone, errors atomic.Int64
	// scanFiles and scanBytes count what the scan of the paths found so far; scanned is set once
	// it has walked them all.
	scanFiles, scanBytes atomic.Int64
	scanned              atomic.Bool
}

// scan walks the entries as the backup will (the same exclusions, symbolic links not followed)
// and counts their regular files and bytes, so that progress can tell how much there is to read.
// Unreadable directories are left out of the count; the backup reports them.
func (a *archiver) scan(ctx context.Context, entries []dirEntry) {
	var walk func(entries []dirEntry)
	walk = func(entries []dirEntry) {
		for _, e := range entries {
			if ctx.Err() != nil {
				return
			}
			if a.excluded(e) {
				continue
			}
			fi, err := os.Lstat(e.path)
			if err != nil {
				continue
			}
			switch {
			case fi.Mode().IsRegular():
				a.scanFiles.Add(1)
				a.scanBytes.Add(fi.Size())
			case fi.IsDir():
				des, err := os.ReadDir(e.path)
				if err != nil {
					continue
				}
				children := make([]dirEntry, 0, len(des))
				for _, de := range des {
					children = append(children, dirEntry{name: de.Name(), path: filepath.Join(e.path, de.Name()), rel: e.rel + "/" + de.Name()})
				}
				walk(children)
			}
		}
	}
	walk(entries)
	if ctx.Err() == nil {
		a.scanned.Store(true)
	}
}

type fileJob struct {
	path string
	node *Node
	pos  int // of node in its directory's list
	done chan struct{}
	err  error
}

type blobJob struct {
	id   ID
	data *[]byte
}

func newArchiver(ctx context.Context, r *Repository, opts BackupOptions, lock *Lock) *archiver {
	n := runtime.GOMAXPROCS(0)
	a := &archiver{
		r: r, opts: opts, saver: r.newSaver(ctx, lock), chunk: r.params(),
		files: make(chan *fileJob, 64*n),
		blobs: make(chan blobJob, n),
		big:   make(chan *chunker.Chunker, n),
	}
	for range n {
		a.big <- chunker.New(nil, r.table, a.chunk)
	}
	for range n {
		a.fileWG.Add(1)
		a.blobWG.Add(1)
		go a.fileWorker(ctx)
		go a.blobWorker()
	}
	return a
}

// close stops the workers once the walk is over: file workers first, since they feed the blob
// workers.
func (a *archiver) close() {
	close(a.files)
	a.fileWG.Wait()
	close(a.blobs)
	a.blobWG.Wait()
}

func (a *archiver) blobWorker() {
	defer a.blobWG.Done()
	for j := range a.blobs {
		_, _ = a.saver.SaveWithID(DataBlob, j.id, *j.data) // errors surface through saver.Err
		putChunkBuf(j.data)
	}
}

func (a *archiver) fileWorker(ctx context.Context) {
	defer a.fileWG.Done()
	for j := range a.files {
		j.err = a.saveFile(ctx, j)
		close(j.done)
	}
}

// chunk buffers come in size classes so that a million small files do not each allocate 8 MiB.
var chunkPools [8]sync.Pool // 64 KiB to 8 MiB

func chunkClass(n int) (int, int) {
	size := 64 << 10
	for c := 0; ; c++ {
		if n <= size || c == len(chunkPools)-1 {
			return c, size
		}
		size <<= 1
	}
}

func getChunkBuf(n int) *[]byte {
	c, size := chunkClass(n)
	if b, ok := chunkPools[c].Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, max(size, n))
	return &b
}

func putChunkBuf(b *[]byte) {
	c, _ := chunkClass(cap(*b))
	chunkPools[c].Put(b)
}

// saveContent chunks rd with the shared chunker and hands new chunks to the blob workers,
// returning the content list.
func (a *archiver) saveContent(ctx context.Context, rd io.Reader) (int64, []ID, error) {
	var ch *chunker.Chunker
	select {
	case ch = <-a.big:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	defer func() { a.big <- ch }()
	ch.Reset(rd)
	return a.chunkAll(ctx, ch)
}

func (a *archiver) chunkAll(ctx context.Context, ch *chunker.Chunker) (int64, []ID, error) {
	var size int64
	var content []ID
	for {
		c, err := ch.Next()
		if err == io.EOF {
			return size, content, nil
		}
		if err != nil {
			return size, nil, err
		}
		if err := a.submit(ctx, c.Data, &content); err != nil {
			return size, nil, err
		}
		size += int64(len(c.Data))
		a.bytesDone.Add(int64(len(c.Data)))
	}
}

func (a *archiver) submit(ctx context.Context, data []byte, content *[]ID) error {
	id := a.r.keys.blobID(data)
	*content = append(*content, id)
	if a.r.index.Has(id) {
		return nil
	}
	buf := getChunkBuf(len(data))
	copy(*buf, data)
	select {
	case a.blobs <- blobJob{id: id, data: buf}:
		return a.saver.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *archiver) saveFile(ctx context.Context, j *fileJob) error {
	// Raw descriptors: os.File's poller registration costs two fcntl(2) calls per file, which is
	// a tenth of the time a backup of many small files takes.
	fd, err := openNoFollow(j.path)
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return &os.PathError{Op: "fstat", Path: j.path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return errors.New("no longer a regular file")
	}
	fillMetaStat(j.node, &st)
	if st.Size < int64(a.chunk.Min) {
		defer syscall.Close(fd)
		return a.saveSmallFile(ctx, fd, j.path, st.Size, j.node)
	}
	f := os.NewFile(uintptr(fd), j.path)
	defer f.Close()
	var ch *chunker.Chunker
	select {
	case ch = <-a.big:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { a.big <- ch }()
	ch.Reset(f)
	size, content, err := a.chunkAll(ctx, ch)
	if err != nil {
		return err
	}
	j.node.Size, j.node.Content = uint64(size), content
	return nil
}

func openNoFollow(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// fdReader reads a raw descriptor.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(r), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// saveSmallFile saves a file smaller than the minimum chunk as one chunk, without the chunker's
// buffer.
func (a *archiver) saveSmallFile(ctx context.Context, fd int, path string, size int64, n *Node) error {
	buf := getChunkBuf(int(size) + 1)
	defer putChunkBuf(buf)
	got, err := io.ReadFull(fdReader(fd), *buf)
	switch {
	case err == nil:
		// The file grew past its stat size: chunk it properly.
		if _, err := syscall.Seek(fd, 0, io.SeekStart); err != nil {
			return &os.PathError{Op: "seek", Path: path, Err: err}
		}
		s, content, err := a.saveContent(ctx, fdReader(fd))
		n.Size, n.Content = uint64(s), content
		return err
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return &os.PathError{Op: "read", Path: path, Err: err}
	}
	n.Size = uint64(got)
	n.Content = nil
	if got == 0 {
		return nil
	}
	a.bytesDone.Add(int64(got))
	return a.submit(ctx, (*buf)[:got], &n.Content)
}

// saveEntries saves several top-level paths as the entries of a root tree.
func (a *archiver) saveEntries(ctx context.Context, paths []string, parent *Tree) (ID, error) {
	entries := make([]dirEntry, 0, len(paths))
	for _, p := range paths {
		entries = append(entries, dirEntry{name: filepath.Base(p), path: p, rel: filepath.Base(p)})
	}
	return a.saveNodes(ctx, entries, parent)
}

type dirEntry struct {
	name, path, rel string
}

// saveDir saves one directory's entries and returns its tree's ID; parent is the same directory in
// the parent snapshot, or nil.
func (a *archiver) saveDir(ctx context.Context, path, rel string, parent *Tree) (ID, error) {
	des, err := os.ReadDir(path)
	if err != nil {
		return ID{}, err
	}
	entries := make([]dirEntry, 0, len(des))
	for _, de := range des {
		r := de.Name()
		if rel != "" {
			r = rel + "/" + de.Name()
		}
		entries = append(entries, dirEntry{name: de.Name(), path: filepath.Join(path, de.Name()), rel: r})
	}
	id, err := a.saveNodes(ctx, entries, parent)
	if err == nil {
		a.dirsDone.Add(1)
	}
	return id, err
}

func (a *archiver) excluded(e dirEntry) bool {
	for _, pat := range a.opts.Excludes {
		if ok, _ := filepath.Match(pat, e.name); ok {
			return true
		}
		if ok, _ := filepath.Match(pat, e.rel); ok {
			return true
		}
	}
	return false
}

// fileError records a file that could not be saved, or fails the backup without OnError.
func (a *archiver) fileError(path string, err error) error {
	if a.opts.OnError == nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	a.errors.Add(1)
	a.opts.OnError(path, err)
	return nil
}

func (a *archiver) saveNodes(ctx context.Context, entries []dirEntry, parent *Tree) (ID, error) {
	// nodes never grows past len(entries), so pointers into it stay valid for the file workers.
	nodes := make([]Node, 0, len(entries))
	var jobs []*fileJob
	type pendingDir struct {
		pos   int
		entry dirEntry
	}
	var dirs []pendingDir
	for _, e := range entries {
		if ctx.Err() != nil {
			return ID{}, ctx.Err()
		}
		if a.excluded(e) {
			continue
		}
		fi, err := os.Lstat(e.path)
		if err != nil {
			if ferr := a.fileError(e.path, err); ferr != nil {
				return ID{}, ferr
			}
			continue
		}
		n := Node{Name: e.name}
		fillMeta(&n, fi)
		switch {
		case fi.Mode().IsRegular():
			n.Type = NodeFile
			if p, ok := parentNode(parent, e.name); ok && a.unchanged(p, &n) {
				n.Content, n.Size = p.Content, p.Size
				a.countFile(&n, false, true)
				nodes = append(nodes, n)
				continue
			}
		case fi.IsDir():
			n.Type = NodeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			n.Type = NodeSymlink
			if n.LinkTarget, err = os.Readlink(e.path); err != nil {
				if ferr := a.fileError(e.path, err); ferr != nil {
					return ID{}, ferr
				}
				continue
			}
		default:
			// Devices, sockets and pipes hold no data to back up.
			continue
		}
		nodes = append(nodes, n)
		idx := len(nodes) - 1
		switch n.Type {
		case NodeFile:
			j := &fileJob{path: e.path, node: &nodes[idx], pos: idx, done: make(chan struct{})}
			select {
			case a.files <- j:
			case <-ctx.Done():
				return ID{}, ctx.Err()
			}
			jobs = append(jobs, j)
		case NodeDir:
			dirs = append(dirs, pendingDir{pos: idx, entry: e})
		}
	}
	// Subdirectories while the file workers read this directory's files.
	keep := make([]bool, len(nodes))
	for i := range keep {
		keep[i] = true
	}
	for _, d := range dirs {
		n, entry := &nodes[d.pos], d.entry
		var sub *Tree
		if p, ok := parentNode(parent, n.Name); ok && p.Type == NodeDir {
			if t, err := a.r.LoadTree(ctx, *p.Subtree); err == nil {
				sub = t
			}
		}
		id, err := a.saveDir(ctx, entry.path, entry.rel, sub)
		if err != nil {
			if ctx.Err() != nil {
				return ID{}, ctx.Err()
			}
			if ferr := a.fileError(entry.path, err); ferr != nil {
				return ID{}, ferr
			}
			keep[d.pos] = false
			continue
		}
		n.Subtree = &id
	}
	for _, j := range jobs {
		<-j.done
		if j.err != nil {
			if ctx.Err() != nil {
				return ID{}, ctx.Err()
			}
			if err := a.saver.Err(); err != nil {
				return ID{}, err
			}
			if ferr := a.fileError(j.path, j.err); ferr != nil {
				return ID{}, ferr
			}
			keep[j.pos] = false
			continue
		}
		p, _ := parentNode(parent, j.node.Name)
		a.countFile(j.node, p == nil, false)
	}
	out := make([]Node, 0, len(nodes))
	for i, n := range nodes {
		if keep[i] {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if err := a.saver.Err(); err != nil {
		return ID{}, err
	}
	return a.saver.SaveTree(&Tree{Nodes: out})
}

func parentNode(parent *Tree, name string) (*Node, bool) {
	if parent == nil {
		return nil, false
	}
	return parent.Find(name)
}

// unchanged reports whether the file n is the parent's file p, unmodified: same size, times and
// inode, and every chunk still in the repository.
func (a *archiver) unchanged(p, n *Node) bool {
	if p.Type != NodeFile || p.Size != n.Size || !p.ModTime.Equal(n.ModTime) || !p.ChangeTime.Equal(n.ChangeTime) || p.Inode != n.Inode {
		return false
	}
	for _, id := range p.Content {
		if !a.r.index.Has(id) {
			return false
		}
	}
	return true
}

func (a *archiver) countFile(n *Node, isNew, unmodified bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case unmodified:
		a.stats.FilesUnmodified++
		a.bytesDone.Add(int64(n.Size))
	case isNew:
		a.stats.FilesNew++
	default:
		a.stats.FilesChanged++
	}
	a.stats.TotalFiles++
	a.stats.TotalBytes += int64(n.Size)
	a.filesDone.Add(1)
}

func fillMeta(n *Node, fi fs.FileInfo) {
	n.Mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	n.ModTime = fi.ModTime().UTC()
	if fi.Mode().IsRegular() {
		n.Size = uint64(fi.Size())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		n.Inode, n.Device = st.Ino, uint64(st.Dev)
		n.UID, n.GID = st.Uid, st.Gid
		n.ChangeTime = changeTime(st)
	}
}

// fillMetaStat is fillMeta for a regular file's raw stat.
func fillMetaStat(n *Node, st *syscall.Stat_t) {
	n.Mode = fs.FileMode(st.Mode) & fs.ModePerm
	if st.Mode&syscall.S_ISUID != 0 {
		n.Mode |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISGID != 0 {
		n.Mode |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		n.Mode |= fs.ModeSticky
	}
	n.ModTime = modTime(st)
	n.Size = uint64(st.Size)
	n.Inode, n.Device = st.Ino, uint64(st.Dev)
	n.UID, n.GID = st.Uid, st.Gid
	n.ChangeTime = changeTime(st)
}

// reportProgress calls opts.Progress on a ticker until the returned stop is called.
func (a *archiver) reportProgress(start time.Time) func(done bool) {
	if a.opts.Progress == nil {
		return reportEvery(0, nil)
	}
	return reportEvery(a.opts.ProgressInterval, func(done bool) { a.opts.Progress(a.progress(start, done)) })
}

func (a *archiver) progress(start time.Time, done bool) Progress {
	st := a.saver.Stats()
	return Progress{
		FilesDone: a.filesDone.Load(), DirsDone: a.dirsDone.Load(), BytesDone: a.bytesDone.Load(),
		BytesNew: st.BytesAdded, StoredNew: st.StoredAdded, Errors: a.errors.Load(),
		PacksWritten: st.PacksWritten, IndexesWritten: st.IndexesWritten, Elapsed: time.Since(start), Done: done,
		FilesTotal: a.scanFiles.Load(), BytesTotal: a.scanBytes.Load(), TotalKnown: a.scanned.Load(),
	}
}

package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
)

// A restore walks the selected trees and plans: it creates the directories, restores symlinks
// and empty files, decides what to do about names that exist at the target, and files every chunk
// of every file to restore under the pack that holds it. The readers (restore_exec.go) read each
// pack once and write each chunk to every place that uses it.
//
// Planning and reading overlap: the plan is cut into waves, one per batch of trees read, and the
// readers start on a wave's packs while the next trees are read (on object storage, the time of
// reading the trees is mostly waiting). A pack that holds chunks of files of two waves is read in
// both, each time for the blobs of its wave.
//
// The plan is kept compact, since it is the one part of a restore that grows with the snapshot:
// per file its directory, name, metadata and a count of chunks still to write; per pack the blobs
// needed from it; per blob a list of (file, offset) targets in one array per wave.

// restorer is one restore in progress.
type restorer struct {
	r      *Repository
	ctx    context.Context
	cancel context.CancelFunc
	opts   RestoreOptions
	token  string
	umask  fs.FileMode

	workers int           // packs read at once
	gap     int64         // largest unused stretch of a pack read rather than skipped
	dec     *zstd.Decoder // without frame checksums: every blob's hash is checked instead
	plains  plainPool

	fds   fdCache
	top   *rdir   // the target, open from start to end
	dirs  []*rdir // dirs[0] is the target; appended to by the planner only
	files fileArena

	// The planner's state: the wave it is filling, a scratch slice and the existing files to
	// compare once the walk is over.
	cur        *wave
	chunks     []PackedBlob
	candidates []candidate

	waves   chan *wave   // planned, to be read
	jobs    chan packJob // packs to read, from the feeder to the readers
	readers sync.WaitGroup

	replace replaceQueue

	restoreErrs
	counters
}

// rdir is a directory of the restore.
type rdir struct {
	parent   *rdir // nil for the target
	name     string
	mode     fs.FileMode
	mtime    time.Time
	uid, gid uint32
	created  bool // this restore made it (or an interrupted attempt of the same job did)
	stamp    bool // give it the snapshot's mode and times at the end
	fd       fdEntry
}

// rfile is a regular file to restore.
type rfile struct {
	dir      *rdir
	chunks   int32 // chunks in the file, for messages
	name     string
	size     int64
	mtimeSec int64
	mtimeNs  int32
	mode     fs.FileMode
	uid, gid uint32
	left     atomic.Int32  // chunk writes not yet done (or skipped)
	written  atomic.Int64  // bytes written
	state    atomic.Uint32 // file* bits
	h        *fdEntry      // the open temporary file, for files written in several pieces
}

// rfile.state bits.
const (
	fileTemp    = 1 << iota // the temporary file exists
	fileFailed              // reported; write nothing more
	fileReplace             // Overwrite: an existing entry is to be replaced
	fileDone                // in place (or found in place)
)

// wave is a part of the plan: the packs to read for the files planned since the last wave.
type wave struct {
	packs   []rpack
	blobs   []rblob
	targets []rtarget
	packIdx map[ID]int32 // while planning
	blobIdx map[ID]int32
}

func newWave() *wave { return &wave{packIdx: map[ID]int32{}, blobIdx: map[ID]int32{}} }

// packJob is one pack of a wave for a reader.
type packJob struct {
	wave *wave
	pack int32
}

// rpack is a pack to read and the blobs needed from it.
type rpack struct {
	id    ID
	blobs []int32
}

// rblob is a blob to decode once and write to every target in its list.
type rblob struct {
	id         ID
	offset     uint32
	length     uint32
	rawLength  uint32
	compressed bool
	head       int32 // first target; -1 for none
}

// rtarget is one place a blob goes: a file and an offset in it.
type rtarget struct {
	file  *rfile
	chunk int32
	off   int64
	next  int32
}

// candidate is an existing regular file of the snapshot's size, to compare with the snapshot's
// content before deciding whether to restore it.
type candidate struct {
	file    *rfile
	content []ID
}

// pendingDir is a directory whose tree is still to be read.
type pendingDir struct {
	dir     *rdir
	tree    ID
	existed bool
}

// Tuning. Local reads are cheap and the restore is bound by the CPU (decoding, and the kernel
// creating and filling files): one reader per core and one more to cover a core's waits. Object
// storage reads wait for the network, so more run at once, and larger gaps between needed blobs
// are read through rather than skipped with a new request. Measured on two cores: 2 to 6 local
// readers differ by less than the noise, 3 being best; against MinIO 8 are as fast as 16 with
// 15 MiB less memory.
const (
	localGap     = 256 << 10
	remoteGap    = 2 << 20
	treeParallel = 16
	treeWindow   = 64 // trees per wave
)

// defaultParallel is RestoreOptions.Parallel's default.
func defaultParallel(local bool) int {
	if local {
		return runtime.GOMAXPROCS(0) + 1
	}
	return max(8, 4*runtime.GOMAXPROCS(0))
}

// maxOpenFDs bounds the descriptors a restore keeps open (a variable for tests).
var maxOpenFDs = 1024

func newRestorer(ctx context.Context, cancel context.CancelFunc, r *Repository, target string, opts RestoreOptions) (*restorer, error) {
	rs := &restorer{
		r: r, ctx: ctx, cancel: cancel, opts: opts, token: restoreToken(opts.Token), umask: currentUmask(),
		cur: newWave(),
	}
	_, isLocal := r.be.(*local.Backend)
	parallel, gap := defaultParallel(isLocal), int64(remoteGap)
	if isLocal {
		gap = localGap
	}
	if opts.Parallel > 0 {
		parallel = opts.Parallel
	}
	mem := opts.MemoryLimit
	if mem <= 0 {
		mem = DefaultRestoreMemory
	}
	// A reader holds one sealed blob (in its read buffer) and at most one decompressed one at a
	// time (most share a few: plainPool); data blobs are at most ChunkMax long (blobs copied from
	// a repository with larger chunks may be longer, and then take more).
	maxBlob := int64(max(r.cfg.ChunkMax, rangeBuffer))
	perWorker := 2*maxBlob + sealOverhead
	rs.workers = int(max(1, min(int64(parallel), mem/perWorker)))
	rs.gap = gap
	rs.fds.max = fdBudget()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(min(rs.workers, runtime.GOMAXPROCS(0))),
		zstd.WithDecoderMaxMemory(maxFileSize), zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, err
	}
	rs.dec = dec
	rs.plains.free = make(chan []byte, rs.workers)

	fd, err := openTarget(target)
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("restore target: %w", err)
	}
	top := &rdir{name: target}
	top.fd.fd = fd
	top.fd.pins = 1 // held until close
	rs.fds.open = 1
	rs.top = top
	rs.dirs = append(rs.dirs, top)
	return rs, nil
}

// close releases every descriptor the restore holds, and its decoder.
func (rs *restorer) close() {
	rs.dec.Close()
	for _, d := range rs.dirs {
		closeAll(rs.fds.take(&d.fd))
	}
	rs.files.each(func(f *rfile) {
		if f.h != nil {
			closeAll(rs.fds.take(f.h))
		}
	})
}

// fdBudget bounds the descriptors the restore keeps open for directories and partly written
// files: at most maxOpenFDs, and well below the process's limit.
func fdBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(4*maxOpenFDs) {
		return max(16, min(maxOpenFDs, int(lim.Cur/4)))
	}
	return maxOpenFDs
}

// dirRel is a directory's path below the target, for messages.
func (rs *restorer) dirRel(d *rdir) string {
	var parts []string
	for ; d.parent != nil; d = d.parent {
		parts = append(parts, d.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

func (rs *restorer) rel(d *rdir, name string) string {
	if p := rs.dirRel(d); p != "" {
		return p + "/" + name
	}
	return name
}

// dirFD returns a directory's descriptor, opening it (and its parents) when it is not open; the
// caller releases it with releaseDir.
func (rs *restorer) dirFD(dir *rdir) (int, error) {
	return rs.fds.acquire(&dir.fd, func() (int, error) {
		if dir.parent == nil {
			return -1, errors.New("restore target is closed")
		}
		pfd, err := rs.dirFD(dir.parent)
		if err != nil {
			return -1, err
		}
		defer rs.releaseDir(dir.parent)
		return openDirAt(pfd, dir.name)
	})
}

func (rs *restorer) releaseDir(d *rdir) { rs.fds.release(&d.fd) }

// plan walks the selection, tree level by tree level (each level's trees read in parallel), and
// hands the plan to the readers wave by wave.
func (rs *restorer) plan(tree ID, sel string) error {
	top := rs.top
	var level []pendingDir
	if sel == "" {
		level = []pendingDir{{dir: top, tree: tree, existed: true}}
	} else {
		n, err := rs.r.lookupPath(rs.ctx, tree, sel)
		if err != nil {
			return err
		}
		existing, err := rs.listDir(top)
		if err != nil {
			return fmt.Errorf("restore target %s: %w", top.name, err)
		}
		if err := rs.addNodes(top, []Node{*n}, existing, &level); err != nil {
			return err
		}
	}
	for len(level) > 0 {
		var next []pendingDir
		for start := 0; start < len(level); start += treeWindow {
			batch := level[start:min(start+treeWindow, len(level))]
			trees, err := rs.loadTrees(batch)
			if err != nil {
				return err
			}
			for i, t := range trees {
				var existing map[string]struct{}
				if batch[i].existed {
					if existing, err = rs.listDir(batch[i].dir); err != nil {
						// Its entries cannot be restored without knowing what is there.
						if err := rs.fail(rs.dirRelOrTarget(batch[i].dir), err); err != nil {
							return err
						}
						continue
					}
				}
				if err := rs.addNodes(batch[i].dir, t.Nodes, existing, &next); err != nil {
					return err
				}
			}
			rs.dispatch()
		}
		level = next
	}
	if err := rs.checkCandidates(); err != nil {
		return err
	}
	rs.dispatch()
	rs.chunks = nil
	return rs.ctx.Err()
}

// dispatch hands the wave being planned to the readers and starts a new one.
func (rs *restorer) dispatch() {
	wv := rs.cur
	if len(wv.packs) == 0 {
		return
	}
	wv.packIdx, wv.blobIdx = nil, nil
	rs.cur = newWave()
	select {
	case rs.waves <- wv:
	case <-rs.ctx.Done():
	}
}

// loadTrees reads the trees of a batch of directories in parallel.
func (rs *restorer) loadTrees(batch []pendingDir) ([]*Tree, error) {
	trees := make([]*Tree, len(batch))
	errs := make([]error, len(batch))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(treeParallel, len(batch)) {
		wg.Go(func() {
			for i := range next {
				trees[i], errs[i] = rs.r.LoadTree(rs.ctx, batch[i].tree)
			}
		})
	}
	for i := range batch {
		next <- i
	}
	close(next)
	wg.Wait()
	return trees, errors.Join(errs...)
}

// listDir lists a directory that existed before the restore, and removes the temporary files this
// restore's job left in it (never those of other jobs).
func (rs *restorer) listDir(d *rdir) (map[string]struct{}, error) {
	dfd, err := rs.dirFD(d)
	if err != nil {
		return nil, err
	}
	defer rs.releaseDir(d)
	names, err := readDirNames(dfd)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	existing := make(map[string]struct{}, len(names))
	suffix := tempSuffix(rs.token)
	for _, name := range names {
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, suffix) {
			err := unix.Unlinkat(dfd, name, 0)
			switch {
			case err == nil || errors.Is(err, unix.ENOENT):
				continue
			case !errors.Is(err, unix.EISDIR): // a directory of that name is not a leftover
				return nil, fmt.Errorf("remove the leftover %s: %w", name, err)
			}
		}
		existing[name] = struct{}{}
	}
	return existing, nil
}

func (rs *restorer) dirRelOrTarget(d *rdir) string {
	if d.parent == nil {
		return d.name
	}
	return rs.dirRel(d)
}

// addNodes plans a directory's entries; existing holds the names already in it (nil for a
// directory this restore created).
func (rs *restorer) addNodes(d *rdir, nodes []Node, existing map[string]struct{}, next *[]pendingDir) error {
	for i := range nodes {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		n := &nodes[i]
		_, exists := existing[n.Name]
		var err error
		switch n.Type {
		case NodeDir:
			err = rs.addDir(d, n, next)
		case NodeSymlink:
			err = rs.addSymlink(d, n, exists)
		case NodeFile:
			err = rs.addFile(d, n, exists)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addDir creates a directory, or takes the existing one; its tree is read with the next level.
func (rs *restorer) addDir(d *rdir, n *Node, next *[]pendingDir) error {
	dfd, err := rs.dirFD(d)
	if err != nil {
		return rs.fail(rs.rel(d, n.Name), err)
	}
	defer rs.releaseDir(d)
	rs.dirsN.Add(1)
	nd := &rdir{parent: d, name: n.Name, mode: n.Mode, mtime: n.ModTime, uid: n.UID, gid: n.GID}
	rs.dirs = append(rs.dirs, nd)
	nd.fd.fd = -1
	err = unix.Mkdirat(dfd, n.Name, 0o700)
	switch {
	case err == nil:
		nd.created, nd.stamp = true, true
		rs.dirsCreated.Add(1)
		fd, err := rs.dirFD(nd)
		if err != nil {
			return rs.fail(rs.rel(d, n.Name), err)
		}
		setCreatedMark(fd, rs.token)
		rs.releaseDir(nd)
		*next = append(*next, pendingDir{dir: nd, tree: *n.Subtree})
		return nil
	case !errors.Is(err, unix.EEXIST):
		return rs.fail(rs.rel(d, n.Name), err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, n.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return rs.fail(rs.rel(d, n.Name), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return rs.fail(rs.rel(d, n.Name), errors.New("exists and is not a directory"))
	}
	fd, err := rs.dirFD(nd)
	if err != nil {
		return rs.fail(rs.rel(d, n.Name), err)
	}
	switch {
	case hasCreatedMark(fd, rs.token):
		// An interrupted attempt of this job made it.
		nd.created, nd.stamp = true, true
	case rs.opts.Overwrite:
		nd.stamp = true
	default:
		// A directory that already has the snapshot's mode and times keeps them: adding entries
		// would move its mtime, so it is stamped again at the end.
		nd.stamp = fileModeOf(uint32(st.Mode)) == n.Mode && statMtime(&st).Equal(n.ModTime)
	}
	rs.releaseDir(nd)
	*next = append(*next, pendingDir{dir: nd, tree: *n.Subtree, existed: true})
	return nil
}

// addSymlink restores a symlink at once: created at a temporary name, then moved into place.
func (rs *restorer) addSymlink(d *rdir, n *Node, exists bool) error {
	rel := rs.rel(d, n.Name)
	dfd, err := rs.dirFD(d)
	if err != nil {
		return rs.fail(rel, err)
	}
	defer rs.releaseDir(d)
	replace := false
	if exists {
		var st unix.Stat_t
		err := unix.Fstatat(dfd, n.Name, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK && readlinkAt(dfd, n.Name) == n.LinkTarget:
			rs.symlinks.Add(1)
			rs.already.Add(1)
			return nil
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return rs.fail(rel, errors.New("exists and is a directory"))
		case err == nil && !rs.opts.Overwrite:
			return rs.fail(rel, errExists)
		}
		replace = err == nil
	}
	tmp := tempName(n.Name, rs.token)
	if err := unix.Symlinkat(n.LinkTarget, dfd, tmp); err != nil {
		return rs.fail(rel, err)
	}
	if rs.opts.Owners {
		_ = unix.Fchownat(dfd, tmp, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW)
	}
	if !replace {
		err = renameNoReplace(dfd, tmp, n.Name)
		if errors.Is(err, unix.EEXIST) && rs.opts.Overwrite {
			replace = true
		}
	}
	if replace {
		err = unix.Renameat(dfd, tmp, dfd, n.Name)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		if errors.Is(err, unix.EEXIST) {
			err = errExists
		}
		return rs.fail(rel, err)
	}
	if replace {
		rs.replaced.Add(1)
	}
	rs.symlinks.Add(1)
	return nil
}

// addFile plans a regular file; one that exists at the target is compared with the snapshot's
// content first (checkCandidates).
func (rs *restorer) addFile(d *rdir, n *Node, exists bool) error {
	rs.totalFiles.Add(1)
	rs.totalBytes.Add(int64(n.Size))
	f := rs.files.add()
	*f = rfile{
		dir: d, chunks: int32(len(n.Content)), name: n.Name, size: int64(n.Size), mode: n.Mode, uid: n.UID, gid: n.GID,
		mtimeSec: n.ModTime.Unix(), mtimeNs: int32(n.ModTime.Nanosecond()),
	}
	if exists {
		dfd, err := rs.dirFD(d)
		if err != nil {
			return rs.failFile(f, err)
		}
		var st unix.Stat_t
		err = unix.Fstatat(dfd, n.Name, &st, unix.AT_SYMLINK_NOFOLLOW)
		rs.releaseDir(d)
		switch {
		case errors.Is(err, unix.ENOENT):
			// Gone since the listing.
		case err != nil:
			return rs.failFile(f, err)
		case st.Mode&unix.S_IFMT == unix.S_IFREG && uint64(st.Size) == n.Size:
			rs.candidates = append(rs.candidates, candidate{file: f, content: n.Content})
			return nil
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return rs.failFile(f, errors.New("exists and is a directory"))
		case !rs.opts.Overwrite:
			return rs.failFile(f, errExists)
		default:
			f.state.Or(fileReplace)
		}
	}
	return rs.planFile(f, n.Content)
}

// planFile files every chunk of a file under its pack. A file whose chunks are not all indexed,
// or whose chunk sizes do not add up to its size, fails here without being written.
func (rs *restorer) planFile(f *rfile, content []ID) error {
	if len(content) == 0 {
		if f.size != 0 {
			return rs.failFile(f, fmt.Errorf("%w: no content for %d bytes", ErrCorrupt, f.size))
		}
		return rs.writeEmpty(f)
	}
	rs.chunks = rs.chunks[:0]
	var total int64
	for i, id := range content {
		pb, ok := rs.r.index.Lookup(id)
		if !ok {
			return rs.failFile(f, fmt.Errorf("chunk %d of %d: data blob %s: not in the index: %w", i+1, len(content), id.Short(), ErrCorrupt))
		}
		if pb.Type != DataBlob {
			return rs.failFile(f, fmt.Errorf("chunk %d of %d: %w: blob %s is a %s blob, not data", i+1, len(content), ErrCorrupt, id.Short(), pb.Type))
		}
		rs.chunks = append(rs.chunks, pb)
		total += int64(pb.RawLength)
	}
	if total != f.size {
		return rs.failFile(f, fmt.Errorf("%w: content is %d bytes, the snapshot says %d", ErrCorrupt, total, f.size))
	}
	f.left.Store(int32(len(content)))
	if len(content) > 1 {
		f.h = &fdEntry{fd: -1}
	}
	var off int64
	for i, pb := range rs.chunks {
		rs.cur.addTarget(pb, f, int32(i), off)
		off += int64(pb.RawLength)
	}
	return nil
}

// addTarget files one chunk of f, at off, under the blob and pack that hold it.
func (wv *wave) addTarget(pb PackedBlob, f *rfile, chunk int32, off int64) {
	bi, ok := wv.blobIdx[pb.ID]
	if !ok {
		pi, ok := wv.packIdx[pb.Pack]
		if !ok {
			pi = int32(len(wv.packs))
			wv.packs = append(wv.packs, rpack{id: pb.Pack})
			wv.packIdx[pb.Pack] = pi
		}
		bi = int32(len(wv.blobs))
		wv.blobs = append(wv.blobs, rblob{id: pb.ID, offset: pb.Offset, length: pb.Length, rawLength: pb.RawLength, compressed: pb.Compressed, head: -1})
		wv.packs[pi].blobs = append(wv.packs[pi].blobs, bi)
		wv.blobIdx[pb.ID] = bi
	}
	ti := int32(len(wv.targets))
	wv.targets = append(wv.targets, rtarget{file: f, chunk: chunk, off: off, next: wv.blobs[bi].head})
	wv.blobs[bi].head = ti
}

// checkCandidates compares the existing files of the snapshot's sizes with the snapshot's
// content, in parallel. Equal ones count as restored; the others are replaced (Overwrite) or
// reported.
func (rs *restorer) checkCandidates() error {
	if len(rs.candidates) == 0 {
		return nil
	}
	same := make([]bool, len(rs.candidates))
	next := make(chan int)
	var wg sync.WaitGroup
	for range rs.workers {
		wg.Go(func() {
			var buf []byte
			for i := range next {
				c := rs.candidates[i]
				same[i], buf = rs.hasContent(c.file, c.content, buf)
			}
		})
	}
	for i := range rs.candidates {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, c := range rs.candidates {
		f := c.file
		switch {
		case same[i]:
			rs.alreadyRestored(f)
		case rs.opts.Overwrite:
			f.state.Or(fileReplace)
			if err := rs.planFile(f, c.content); err != nil {
				return err
			}
		default:
			if err := rs.failFile(f, errExists); err != nil {
				return err
			}
		}
	}
	rs.candidates = nil
	return nil
}

// hasContent reports whether the file at f's name holds exactly the chunks of content: every
// chunk-sized piece hashes to the chunk's ID.
func (rs *restorer) hasContent(f *rfile, content []ID, buf []byte) (bool, []byte) {
	dfd, err := rs.dirFD(f.dir)
	if err != nil {
		return false, buf
	}
	defer rs.releaseDir(f.dir)
	fd, err := unix.Openat(dfd, f.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, buf
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != f.size {
		return false, buf
	}
	var off int64
	for _, id := range content {
		pb, ok := rs.r.index.Lookup(id)
		if !ok {
			return false, buf
		}
		n := int(pb.RawLength)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if err := preadFull(fd, buf[:n], off); err != nil || rs.r.keys.blobID(buf[:n]) != id {
			return false, buf
		}
		off += int64(n)
	}
	return off == f.size, buf
}

// alreadyRestored counts a file found in place with the snapshot's content. With Overwrite it
// also takes the snapshot's mode and times, as a rewritten file would have.
func (rs *restorer) alreadyRestored(f *rfile) {
	f.state.Or(fileDone)
	if rs.opts.Overwrite {
		if dfd, err := rs.dirFD(f.dir); err == nil {
			if rs.opts.Owners {
				_ = unix.Fchownat(dfd, f.name, int(f.uid), int(f.gid), unix.AT_SYMLINK_NOFOLLOW)
			}
			err := unix.Fchmodat(dfd, f.name, unixMode(f.mode), 0)
			if err == nil {
				ts := fileTimes(f)
				err = unix.UtimesNanoAt(dfd, f.name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
			}
			rs.releaseDir(f.dir)
			if err != nil {
				_ = rs.failFile(f, err)
				return
			}
		}
	}
	rs.filesN.Add(1)
	rs.already.Add(1)
	rs.bytes.Add(f.size)
}

// tempSuffix ends the name of every temporary file of a restore with this token.
func tempSuffix(token string) string { return ".lifeboat-" + token + ".tmp" }

// tempName is the temporary name a file or symlink is written under before it is moved to name:
// ".<name>.lifeboat-<token>.tmp", with the name shortened (and a hash of it added) when the
// whole would be longer than a file name may be.
func tempName(name, token string) string {
	suffix := tempSuffix(token)
	if len(name)+len(suffix)+1 <= 255 {
		return "." + name + suffix
	}
	h := sha256.Sum256([]byte(name))
	sum := hex.EncodeToString(h[:8])
	keep := 255 - 1 - len(suffix) - 1 - len(sum)
	return "." + name[:keep] + "~" + sum + suffix
}

func fileModeOf(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

func fileTimes(f *rfile) [2]unix.Timespec {
	ts := unix.Timespec{Sec: f.mtimeSec, Nsec: int64(f.mtimeNs)}
	return [2]unix.Timespec{ts, ts}
}

func dirTimes(t time.Time) [2]unix.Timespec {
	ts := unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
	return [2]unix.Timespec{ts, ts}
}

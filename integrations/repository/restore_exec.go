package repository

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Replacements (Overwrite) are made in batches: the new files of a batch are written to stable
// storage with one syncfs, then renamed over the old ones, so that a crash never leaves an empty
// or partial file where the user's file was.
const (
	replaceBatchFiles = 4096
	replaceBatchBytes = 512 << 20
)

// packWorker holds one reader's buffer.
type packWorker struct {
	rr rangeReader
}

// plainPool recycles the buffers blobs are decompressed into. A reader needs one only from
// decompressing a blob until it is written, and only as many readers as there are cores do that
// at once, so a few buffers serve all of them.
type plainPool struct {
	free chan []byte
}

func (p *plainPool) get(n int) []byte {
	select {
	case b := <-p.free:
		if cap(b) >= n {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, max(n, rangeBuffer))
}

func (p *plainPool) put(b []byte) {
	if b == nil {
		return
	}
	select {
	case p.free <- b[:0]:
	default:
	}
}

// start starts the readers, and the feeder that hands them the packs of each wave the planner
// dispatches.
func (rs *restorer) start() {
	rs.waves = make(chan *wave, 1024)
	rs.jobs = make(chan packJob)
	rs.readers.Go(func() {
		defer close(rs.jobs)
		for wv := range rs.waves {
			for p := range wv.packs {
				select {
				case rs.jobs <- packJob{wave: wv, pack: int32(p)}:
				case <-rs.ctx.Done():
					for range rs.waves { // until the planner stops
					}
					return
				}
			}
		}
	})
	for range rs.workers {
		rs.readers.Go(func() {
			w := &packWorker{}
			for job := range rs.jobs {
				if rs.ctx.Err() == nil {
					rs.restorePack(w, job)
				}
			}
		})
	}
}

// wait waits, once the planner is done, until the readers have read every pack dispatched (or
// stopped, when the restore was cancelled).
func (rs *restorer) wait() {
	close(rs.waves)
	rs.readers.Wait()
}

// finish makes the replacements still queued and checks that every planned file is in place or
// reported.
func (rs *restorer) finish() error {
	rs.replace.mu.Lock()
	batch := rs.replace.files
	rs.replace.files, rs.replace.bytes = nil, 0
	rs.replace.mu.Unlock()
	rs.swapIn(batch)
	// A file that is neither would be a bug, and is reported rather than passed over.
	var err error
	rs.files.each(func(f *rfile) {
		if err == nil && f.state.Load()&(fileDone|fileFailed) == 0 {
			rs.discard(f)
			err = rs.failFile(f, errors.New("not all of its chunks were written"))
		}
	})
	return err
}

// restorePack reads the blobs a pack holds for the restore: in ranges, merging neighbours when
// the gap between them is small, so that a pack whose blobs are all needed is read in one piece.
func (rs *restorer) restorePack(w *packWorker, job packJob) {
	wv := job.wave
	pk := &wv.packs[job.pack]
	bl := pk.blobs
	pk.blobs = nil
	slices.SortFunc(bl, func(a, b int32) int { return cmp.Compare(wv.blobs[a].offset, wv.blobs[b].offset) })
	for i := 0; i < len(bl); {
		end := wv.blobs[bl[i]].end()
		j := i + 1
		for j < len(bl) && int64(wv.blobs[bl[j]].offset)-end <= rs.gap {
			end = max(end, wv.blobs[bl[j]].end())
			j++
		}
		rs.readRange(w, wv, pk.id, bl[i:j])
		i = j
	}
}

func (b *rblob) end() int64 { return int64(b.offset) + int64(b.length) }

// readRange reads one range of a pack and restores its blobs. A read that fails part way (a
// dropped connection) is taken up again from the first blob not yet restored (retryRead); damaged
// blobs fail only the files that use them.
func (rs *restorer) readRange(w *packWorker, wv *wave, pack ID, bl []int32) {
	name := packName(pack)
	for attempt := 1; len(bl) > 0; attempt++ {
		start, end := int64(wv.blobs[bl[0]].offset), wv.blobs[bl[len(bl)-1]].end()
		rc, err := rs.r.be.Get(rs.ctx, name, start, end-start)
		done := 0
		if err == nil {
			done, err = rs.streamBlobs(w, wv, rc, pack, start, bl)
			rc.Close()
		}
		bl = bl[done:]
		if err == nil || rs.ctx.Err() != nil {
			return
		}
		if retryRead(rs.ctx, attempt, err) {
			continue
		}
		if rs.ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("read pack %s: %w", pack.Short(), err)
		for _, bi := range bl {
			rs.failBlob(wv, bi, err)
		}
		return
	}
}

// streamBlobs restores the blobs bl from r, which starts at offset start of the pack. It returns
// how many it dealt with (restored or failed) before r failed.
func (rs *restorer) streamBlobs(w *packWorker, wv *wave, r io.Reader, pack ID, start int64, bl []int32) (int, error) {
	w.rr.reset(r)
	cur := start
	for i, bi := range bl {
		if err := rs.ctx.Err(); err != nil {
			return i, err
		}
		b := &wv.blobs[bi]
		if int64(b.offset) < cur {
			rs.failBlob(wv, bi, fmt.Errorf("%w: data blob %s in pack %s overlaps the blob before it", ErrCorrupt, b.id.Short(), pack.Short()))
			continue
		}
		if err := w.rr.skip(int64(b.offset) - cur); err != nil {
			return i, err
		}
		sealed, err := w.rr.take(int(b.length))
		if err != nil {
			return i, err
		}
		cur = b.end()
		plain, buf, err := rs.openBlob(b, pack, sealed)
		if err != nil {
			rs.failBlob(wv, bi, err)
		} else {
			rs.writeBlob(wv, b, plain)
		}
		rs.plains.put(buf)
	}
	return len(bl), nil
}

// openBlob authenticates and decrypts a sealed blob in place, decompresses it (into buf, from the
// pool, which the caller returns) and checks it hashes to its ID.
func (rs *restorer) openBlob(b *rblob, pack ID, sealed []byte) (plain, buf []byte, err error) {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("data blob %s in pack %s: %w: %s", b.id.Short(), pack.Short(), ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(sealed) < sealOverhead {
		return nil, nil, damaged("sealed data of %d bytes is truncated", len(sealed))
	}
	var aad [1 + len(ID{})]byte
	aad[0] = byte(DataBlob)
	copy(aad[1:], b.id[:])
	ct := sealed[12:]
	plain, err = rs.r.keys.aead.Open(ct[:0], sealed[:12], ct, aad[:])
	if err != nil {
		return nil, nil, damaged("authentication failed")
	}
	if b.compressed {
		if b.rawLength > maxFileSize {
			return nil, nil, damaged("declared size %d is implausible", b.rawLength)
		}
		buf = rs.plains.get(int(b.rawLength))
		out, err := rs.dec.DecodeAll(plain, buf)
		if cap(out) > cap(buf) {
			buf = out
		}
		if err != nil {
			return nil, buf, damaged("decompress: %v", err)
		}
		plain = out
	}
	if len(plain) != int(b.rawLength) {
		return nil, buf, damaged("%d bytes, want %d", len(plain), b.rawLength)
	}
	if rs.r.keys.blobID(plain) != b.id {
		return nil, buf, damaged("content does not match its ID")
	}
	return plain, buf, nil
}

// failBlob fails every file that uses a blob.
func (rs *restorer) failBlob(wv *wave, bi int32, err error) {
	for t := wv.blobs[bi].head; t >= 0; t = wv.targets[t].next {
		tg := &wv.targets[t]
		f := tg.file
		_ = rs.failFile(f, fmt.Errorf("chunk %d of %d: %w", tg.chunk+1, f.chunks, err))
		rs.doneTarget(f)
	}
}

// writeBlob writes a verified blob to every place that uses it.
func (rs *restorer) writeBlob(wv *wave, b *rblob, data []byte) {
	for t := b.head; t >= 0; t = wv.targets[t].next {
		tg := &wv.targets[t]
		f := tg.file
		switch {
		case f.state.Load()&fileFailed != 0:
			rs.doneTarget(f)
		case f.h == nil:
			rs.writeWhole(f, data)
		default:
			rs.writePiece(tg, f, data)
		}
	}
}

// writePiece writes one chunk of a file written in several pieces, into its temporary file.
func (rs *restorer) writePiece(tg *rtarget, f *rfile, data []byte) {
	fd, err := rs.fds.acquire(f.h, func() (int, error) { return rs.openTemp(f) })
	if err == nil {
		err = pwriteFull(fd, data, tg.off)
		rs.fds.release(f.h)
	}
	if err != nil {
		_ = rs.failFile(f, err)
	} else {
		f.written.Add(int64(len(data)))
		rs.bytes.Add(int64(len(data)))
	}
	rs.doneTarget(f)
}

// openTemp creates a file's temporary file, or opens it again after the cache closed it.
func (rs *restorer) openTemp(f *rfile) (int, error) {
	dfd, err := rs.dirFD(f.dir)
	if err != nil {
		return -1, err
	}
	defer rs.releaseDir(f.dir)
	tmp := tempName(f.name, rs.token)
	if f.state.Load()&fileTemp != 0 {
		return reopenFile(dfd, tmp)
	}
	fd, err := createFile(dfd, tmp, createPerm(f.mode))
	if err == nil {
		f.state.Or(fileTemp)
	}
	return fd, err
}

// doneTarget counts one chunk of a file as written or skipped; after the last one the file is
// finished.
func (rs *restorer) doneTarget(f *rfile) {
	if f.left.Add(-1) == 0 {
		rs.settle(f)
	}
}

// settle finishes a file written in several pieces: verified, stamped and moved into place, or,
// when it failed, its temporary file removed.
func (rs *restorer) settle(f *rfile) {
	if f.state.Load()&fileFailed != 0 {
		rs.discard(f)
		return
	}
	if f.written.Load() != f.size {
		_ = rs.failFile(f, fmt.Errorf("%w: wrote %d bytes, the snapshot says %d", ErrCorrupt, f.written.Load(), f.size))
		rs.discard(f)
		return
	}
	dfd, err := rs.dirFD(f.dir)
	if err != nil {
		_ = rs.failFile(f, err)
		rs.discard(f)
		return
	}
	defer rs.releaseDir(f.dir)
	// The descriptor leaves the cache for good before it is stamped and closed.
	_, err = rs.fds.acquire(f.h, func() (int, error) { return rs.openTemp(f) })
	if err == nil {
		fd := rs.fds.take(f.h)
		rs.fds.release(f.h)
		err = rs.stamp(fd, dfd, tempName(f.name, rs.token), f)
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = rs.failFile(f, err)
		rs.discard(f)
		return
	}
	rs.placeIn(dfd, f)
}

// writeWhole restores a file of one chunk (or none): created, written, stamped and moved into
// place in one go.
func (rs *restorer) writeWhole(f *rfile, data []byte) {
	dfd, err := rs.dirFD(f.dir)
	if err != nil {
		_ = rs.failFile(f, err)
		return
	}
	defer rs.releaseDir(f.dir)
	tmp := tempName(f.name, rs.token)
	fd, err := createFile(dfd, tmp, createPerm(f.mode))
	if err != nil {
		_ = rs.failFile(f, err)
		return
	}
	f.state.Or(fileTemp)
	if len(data) > 0 {
		err = pwriteFull(fd, data, 0)
	}
	if err == nil {
		err = rs.stamp(fd, dfd, tmp, f)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		rs.removeTemp(dfd, f)
		_ = rs.failFile(f, err)
		return
	}
	rs.bytes.Add(int64(len(data)))
	rs.placeIn(dfd, f)
}

// writeEmpty restores an empty file.
func (rs *restorer) writeEmpty(f *rfile) error {
	rs.writeWhole(f, nil)
	return rs.firstErr()
}

// createPerm is the mode a temporary file is created with: the file's permissions, writable by
// its owner (so that it can be opened again to write more), which stamp corrects if need be.
func createPerm(m fs.FileMode) uint32 { return uint32(m.Perm()) | 0o200 }

// stamp gives a written file its owner, mode and times.
func (rs *restorer) stamp(fd, dfd int, tmp string, f *rfile) error {
	if rs.opts.Owners {
		_ = unix.Fchown(fd, int(f.uid), int(f.gid))
	}
	want := unixMode(f.mode)
	if rs.opts.Owners || want != createPerm(f.mode)&^uint32(rs.umask) {
		if err := unix.Fchmod(fd, want); err != nil {
			return err
		}
	}
	ts := fileTimes(f)
	return setFDTimes(fd, dfd, tmp, &ts)
}

// placeIn moves a finished temporary file to its name in dfd: never over an existing entry
// without Overwrite (an existing file with the same content counts as restored; any other is
// left as it is and reported); with Overwrite by a rename over it, in the next batch.
func (rs *restorer) placeIn(dfd int, f *rfile) {
	if f.state.Load()&fileReplace != 0 {
		rs.queueReplace(f)
		return
	}
	tmp := tempName(f.name, rs.token)
	err := renameNoReplace(dfd, tmp, f.name)
	if err == nil {
		rs.placed(f)
		return
	}
	if errors.Is(err, unix.EEXIST) {
		if rs.opts.Overwrite {
			f.state.Or(fileReplace)
			rs.queueReplace(f)
			return
		}
		if sameContentAt(dfd, tmp, f.name) {
			rs.removeTemp(dfd, f)
			f.state.Or(fileDone)
			rs.filesN.Add(1)
			rs.already.Add(1)
			return
		}
		err = errExists
	}
	rs.removeTemp(dfd, f)
	_ = rs.failFile(f, err)
}

func (rs *restorer) placed(f *rfile) {
	f.state.And(^uint32(fileTemp))
	f.state.Or(fileDone)
	rs.filesN.Add(1)
}

// sameContentAt reports whether the files a and b in dfd have the same content.
func sameContentAt(dfd int, a, b string) bool {
	fa, err := unix.Openat(dfd, a, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fa)
	fb, err := unix.Openat(dfd, b, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fb)
	return sameFiles(fa, fb)
}

// removeTemp removes a file's temporary file.
func (rs *restorer) removeTemp(dfd int, f *rfile) {
	if f.state.Load()&fileTemp == 0 {
		return
	}
	_ = unix.Unlinkat(dfd, tempName(f.name, rs.token), 0)
	f.state.And(^uint32(fileTemp))
}

// discard closes and removes a file's temporary file, if it has one.
func (rs *restorer) discard(f *rfile) {
	if f.h != nil {
		closeAll(rs.fds.take(f.h))
	}
	if f.state.Load()&fileTemp == 0 {
		return
	}
	if dfd, err := rs.dirFD(f.dir); err == nil {
		rs.removeTemp(dfd, f)
		rs.releaseDir(f.dir)
	}
}

// failFile reports a file that cannot be restored, once.
func (rs *restorer) failFile(f *rfile, err error) error {
	if f.state.Or(fileFailed)&fileFailed != 0 {
		return nil
	}
	return rs.fail(rs.rel(f.dir, f.name), err)
}

// replaceQueue holds finished files waiting to replace existing ones.
type replaceQueue struct {
	mu    sync.Mutex
	files []*rfile
	bytes int64
}

func (rs *restorer) queueReplace(f *rfile) {
	q := &rs.replace
	q.mu.Lock()
	q.files = append(q.files, f)
	q.bytes += f.size
	var batch []*rfile
	if len(q.files) >= replaceBatchFiles || q.bytes >= replaceBatchBytes {
		batch = q.files
		q.files, q.bytes = nil, 0
	}
	q.mu.Unlock()
	rs.swapIn(batch)
}

// swapIn writes a batch of new files to stable storage and renames them over the old ones.
func (rs *restorer) swapIn(batch []*rfile) {
	if len(batch) == 0 {
		return
	}
	syncErr := syncFS(rs.top.fd.fd)
	for _, f := range batch {
		dfd, err := rs.dirFD(f.dir)
		if err != nil {
			_ = rs.failFile(f, err)
			rs.discard(f)
			continue
		}
		err = syncErr
		if err == nil {
			err = unix.Renameat(dfd, tempName(f.name, rs.token), dfd, f.name)
		}
		if err != nil {
			rs.removeTemp(dfd, f)
			if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
				err = errors.New("exists and is a directory")
			}
			_ = rs.failFile(f, err)
		} else {
			rs.placed(f)
			rs.replaced.Add(1)
		}
		rs.releaseDir(f.dir)
	}
}

// abandon takes back what a failed or cancelled restore started: it removes the temporary files
// of files not finished and stamps the directories it created.
func (rs *restorer) abandon() {
	rs.files.each(func(f *rfile) {
		if f.state.Load()&fileTemp != 0 || f.h != nil {
			rs.discard(f)
		}
	})
	rs.replace.files = nil
	for i := len(rs.dirs) - 1; i >= 1; i-- {
		if d := rs.dirs[i]; d.stamp {
			_ = rs.stampDir(d)
		}
	}
}

// finishDirs gives directories the snapshot's modes and times, deepest first, after their contents
// are written: those this restore created, existing ones that had them already, and with
// Overwrite all. A directory that cannot be stamped is reported like a file.
func (rs *restorer) finishDirs() error {
	for i := len(rs.dirs) - 1; i >= 1; i-- {
		d := rs.dirs[i]
		if !d.stamp {
			continue
		}
		if err := rs.stampDir(d); err != nil {
			if err := rs.fail(rs.dirRel(d), err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rs *restorer) stampDir(d *rdir) error {
	fd, err := rs.dirFD(d)
	if err != nil {
		return err
	}
	defer rs.releaseDir(d)
	if rs.opts.Owners {
		_ = unix.Fchown(fd, int(d.uid), int(d.gid))
	}
	if d.created {
		clearCreatedMark(fd)
	}
	if err := unix.Fchmod(fd, unixMode(d.mode)); err != nil {
		return err
	}
	ts := dirTimes(d.mtime)
	return setFDTimes(fd, fd, ".", &ts)
}

// rangeReader reads a range of a pack blob by blob through one buffer, and hands out each sealed
// blob as a slice of it that the caller may decrypt in place.
type rangeReader struct {
	r      io.Reader
	buf    []byte
	lo, hi int // buf[lo:hi] is read and not yet taken
}

const rangeBuffer = 1 << 20

func (rr *rangeReader) reset(r io.Reader) {
	rr.r, rr.lo, rr.hi = r, 0, 0
	if rr.buf == nil {
		rr.buf = make([]byte, rangeBuffer)
	}
}

// take returns the next n bytes, valid until the next call.
func (rr *rangeReader) take(n int) ([]byte, error) {
	if rr.hi-rr.lo < n {
		if err := rr.fill(n); err != nil {
			return nil, err
		}
	}
	b := rr.buf[rr.lo : rr.lo+n : rr.lo+n]
	rr.lo += n
	return b, nil
}

// fill reads until n bytes are buffered, growing the buffer when n is larger.
func (rr *rangeReader) fill(n int) error {
	switch {
	case n > len(rr.buf):
		nb := make([]byte, n)
		rr.hi = copy(nb, rr.buf[rr.lo:rr.hi])
		rr.lo, rr.buf = 0, nb
	case rr.lo+n > len(rr.buf) || rr.lo == rr.hi:
		rr.hi = copy(rr.buf, rr.buf[rr.lo:rr.hi])
		rr.lo = 0
	}
	for rr.hi-rr.lo < n {
		m, err := rr.r.Read(rr.buf[rr.hi:])
		rr.hi += m
		if rr.hi-rr.lo >= n {
			return nil
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the pack ends before the blobs the index lists", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// skip discards the next n bytes.
func (rr *rangeReader) skip(n int64) error {
	for n > 0 {
		avail := int64(rr.hi - rr.lo)
		if avail >= n {
			rr.lo += int(n)
			return nil
		}
		n -= avail
		rr.lo, rr.hi = 0, 0
		if err := rr.fill(int(min(n, int64(len(rr.buf))))); err != nil {
			return err
		}
	}
	return nil
}

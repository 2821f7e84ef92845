package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// LoadBlob reads, authenticates, decompresses and verifies a blob, appending it to buf[:0]. A blob
// whose content does not hash to its ID, or whose seal fails, is ErrCorrupt naming the pack.
func (r *Repository) LoadBlob(ctx context.Context, t BlobType, id ID, buf []byte) ([]byte, error) {
	pb, ok := r.index.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%s blob %s: not in the index: %w", t, id.Short(), ErrCorrupt)
	}
	if pb.Type != t {
		return nil, fmt.Errorf("%w: blob %s is a %s blob, not %s", ErrCorrupt, id.Short(), pb.Type, t)
	}
	return r.fetchBlob(ctx, pb, buf)
}

// fetchBlob reads a blob from where pb says it is and returns its verified plaintext.
func (r *Repository) fetchBlob(ctx context.Context, pb PackedBlob, buf []byte) ([]byte, error) {
	sealed, err := r.readRange(ctx, packName(pb.Pack), int64(pb.Offset), int64(pb.Length))
	if err != nil {
		return nil, fmt.Errorf("%s blob %s in pack %s: %w", pb.Type, pb.ID.Short(), pb.Pack.Short(), err)
	}
	return r.openBlob(pb, sealed, buf)
}

// openBlob turns a blob's sealed bytes into its verified plaintext.
func (r *Repository) openBlob(pb PackedBlob, sealed, buf []byte) ([]byte, error) {
	plain, err := r.keys.open(nil, sealed, blobAAD(pb.Type, pb.ID))
	if err != nil {
		return nil, fmt.Errorf("%s blob %s in pack %s: %w", pb.Type, pb.ID.Short(), pb.Pack.Short(), err)
	}
	if pb.Compressed {
		if plain, err = r.decompress(buf, plain, int(pb.RawLength)); err != nil {
			return nil, fmt.Errorf("%s blob %s in pack %s: %w", pb.Type, pb.ID.Short(), pb.Pack.Short(), err)
		}
	} else if len(plain) != int(pb.RawLength) {
		return nil, fmt.Errorf("%w: %s blob %s in pack %s: %d bytes, want %d", ErrCorrupt, pb.Type, pb.ID.Short(), pb.Pack.Short(), len(plain), pb.RawLength)
	}
	if r.keys.blobID(plain) != pb.ID {
		return nil, fmt.Errorf("%w: %s blob %s in pack %s: content does not match its ID", ErrCorrupt, pb.Type, pb.ID.Short(), pb.Pack.Short())
	}
	return plain, nil
}

// readRange reads length bytes at off of the object name. A read that fails part way (a dropped
// connection) is tried again (retryRead). Only an object that ends early is damage (ErrCorrupt); other
// failures are returned as they are, for the caller's retry.
func (r *Repository) readRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	b := make([]byte, length)
	for attempt := 1; ; attempt++ {
		n, err := r.readRangeOnce(ctx, name, off, b)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil || isNotFound(err) {
			return nil, err
		}
		if retryRead(ctx, attempt, err) {
			continue
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: read %d of %d bytes at offset %d of %s: %v", ErrCorrupt, n, length, off, name, err)
		}
		return nil, fmt.Errorf("read %d bytes at offset %d of %s: %w", length, off, name, err)
	}
}

// readAttempts is how many times a read of a pack is tried before its error stands.
const readAttempts = 3

// retryRead says whether a read that failed with err on the given attempt is to be tried again,
// after waiting a little longer each time: not when the object is missing or damaged, when the
// attempts are spent, or when ctx ends during the wait.
func retryRead(ctx context.Context, attempt int, err error) bool {
	if attempt >= readAttempts || isNotFound(err) || errors.Is(err, ErrCorrupt) {
		return false
	}
	select {
	case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		return true
	case <-ctx.Done():
		return false
	}
}

// readRangeOnce fills b from offset off of name with one request.
func (r *Repository) readRangeOnce(ctx context.Context, name string, off int64, b []byte) (int, error) {
	rc, err := r.be.Get(ctx, name, off, int64(len(b)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, b)
}

// Saver stores blobs: it deduplicates against the index, compresses, seals, fills pack files and
// uploads them, and writes index files — at checkpoints during long runs, so that an interrupted
// backup's uploads are reused by the next one, and at Flush. It is safe for concurrent use: callers
// compress in parallel and take turns appending to the pack being filled. Tree blobs go into packs
// of their own, so that a restore reads the directory listings with few requests. Memory is
// bounded by two data pack buffers (one filling, one uploading), allocated on first use and
// recycled, and the tree pack being filled.
type Saver struct {
	r       *Repository
	ctx     context.Context
	lock    *Lock // checked before each index file, when set
	uploads chan *packBuilder
	spare   chan []byte // pack buffers back from the uploader
	done    sync.WaitGroup

	packMu sync.Mutex
	cur    *packBuilder // data blobs
	// treeCur collects tree blobs in packs of their own, so that a restore reads every directory
	// listing it needs with a few requests; its buffer grows as trees come and is not pooled.
	treeCur   *packBuilder
	allocated int // pack buffers made so far

	mu       sync.Mutex
	pending  map[ID]struct{} // saved but not yet uploaded
	unsaved  []indexPack     // uploaded, not yet in an index file
	lastSave time.Time
	err      error
	stats    SaverStats
	closed   bool
}

// SaverStats count what a Saver stored.
type SaverStats struct {
	// BlobsAdded and BytesAdded count new blobs and their plaintext bytes; StoredAdded the bytes
	// written to packs for them.
	BlobsAdded, BytesAdded, StoredAdded int64
	PacksWritten                        int
	// IndexesWritten counts index files, checkpoints included.
	IndexesWritten int
}

// Checkpoint bounds how much uploaded work an interruption can orphan.
const (
	checkpointPacks = 16
	checkpointEvery = time.Minute
)

// A Saver fills one pack while up to uploaders others are written out; each needs a buffer. (Two
// uploaders measured no faster on local disk, and cost a third buffer.)
const (
	uploaders   = 1
	packBuffers = uploaders + 1
)

// NewSaver starts a saver whose uploads run until Flush.
func (r *Repository) NewSaver(ctx context.Context) *Saver { return r.newSaver(ctx, nil) }

// newSaver starts a saver that checks lock (when not nil) before writing each index file, so that
// an attempt whose lock was taken over never indexes packs a prune may be deleting.
func (r *Repository) newSaver(ctx context.Context, lock *Lock) *Saver {
	s := &Saver{
		r: r, ctx: ctx, lock: lock,
		uploads:  make(chan *packBuilder),
		spare:    make(chan []byte, packBuffers),
		pending:  map[ID]struct{}{},
		lastSave: time.Now(),
	}
	for range uploaders {
		s.done.Add(1)
		go s.uploader()
	}
	return s
}

var compressBufs = sync.Pool{New: func() any { b := []byte(nil); return &b }}

// BlobID is the ID a blob with this content has in this repository.
func (r *Repository) BlobID(data []byte) ID { return r.keys.blobID(data) }

// Save stores a blob unless the repository already has it, returning its ID and whether it was new.
func (s *Saver) Save(t BlobType, data []byte) (ID, bool, error) {
	id := s.r.keys.blobID(data)
	added, err := s.SaveWithID(t, id, data)
	return id, added, err
}

// headerRoom is the space a pack's header and trailer take with n entries.
func headerRoom(n int) int { return 8 + n*entrySizeMax + sealOverhead + packTrailerSize }

// SaveWithID stores data as blob id, which the caller computed with BlobID.
func (s *Saver) SaveWithID(t BlobType, id ID, data []byte) (bool, error) {
	if err := s.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	_, pending := s.pending[id]
	if pending || s.r.index.Has(id) {
		s.mu.Unlock()
		return false, nil
	}
	s.pending[id] = struct{}{}
	s.mu.Unlock()

	bufp := compressBufs.Get().(*[]byte)
	body, compressed, buf := s.r.compress(*bufp, data)
	*bufp = buf
	sealedLen := len(body) + sealOverhead

	s.packMu.Lock()
	cur := &s.cur
	if t == TreeBlob {
		cur = &s.treeCur
	}
	// A pooled buffer is cut when the blob would not fit; a tree pack's grows up to the pack size.
	if c := *cur; c != nil && (c.pooled && len(c.buf)+sealedLen+headerRoom(len(c.entries)+1) > cap(c.buf) ||
		!c.pooled && len(c.buf)+sealedLen > s.r.cfg.PackSize) {
		if err := s.handOff(cur); err != nil {
			s.packMu.Unlock()
			return true, err
		}
	}
	if *cur == nil {
		if t == TreeBlob {
			*cur = &packBuilder{id: randomID(), buf: make([]byte, 0, max(64<<10, sealedLen+headerRoom(1)))}
		} else {
			buf, err := s.takeBuffer(sealedLen + headerRoom(1))
			if err != nil {
				s.packMu.Unlock()
				return true, err
			}
			*cur = &packBuilder{id: randomID(), buf: buf, pooled: true}
		}
	}
	b := *cur
	b.add(s.r.keys, t, id, body, len(data), compressed)
	var err error
	if len(b.buf) >= s.r.cfg.PackSize {
		err = s.handOff(cur)
	}
	s.packMu.Unlock()

	compressBufs.Put(bufp)
	s.mu.Lock()
	s.stats.BlobsAdded++
	s.stats.BytesAdded += int64(len(data))
	s.stats.StoredAdded += int64(sealedLen)
	s.mu.Unlock()
	if err != nil {
		return true, err
	}
	return true, s.Err()
}

// handOff sends the pack being filled in *cur to the uploader; packMu is held.
func (s *Saver) handOff(cur **packBuilder) error {
	b := *cur
	*cur = nil
	if b == nil || len(b.entries) == 0 {
		return nil
	}
	select {
	case s.uploads <- b:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// takeBuffer returns an empty pack buffer with room for at least need bytes: a recycled one, a new
// one while fewer than packBuffers exist, or else the next one the uploader gives back.
func (s *Saver) takeBuffer(need int) ([]byte, error) {
	size := max(s.r.cfg.PackSize+headerRoom(s.r.cfg.PackSize/4096), need)
	var buf []byte
	select {
	case buf = <-s.spare:
	default:
		if s.allocated < packBuffers {
			s.allocated++
			return make([]byte, 0, size), nil
		}
		select {
		case buf = <-s.spare:
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		}
	}
	if cap(buf) < need {
		buf = make([]byte, 0, size)
	}
	return buf[:0], nil
}

// Err returns the first upload error; once set, every Save returns it.
func (s *Saver) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Saver) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *Saver) uploader() {
	defer s.done.Done()
	for b := range s.uploads {
		if err := s.upload(b); err != nil {
			s.setErr(err)
		}
		if b.pooled {
			s.spare <- b.buf[:0]
		}
	}
}

// upload writes a finished pack, then makes its blobs visible in the index, then checkpoints.
func (s *Saver) upload(b *packBuilder) error {
	if err := s.Err(); err != nil {
		return err
	}
	data := b.finish(s.r.keys)
	b.buf = data
	if err := createBytes(s.ctx, s.r.be, packName(b.id), data); err != nil {
		return fmt.Errorf("upload pack %s: %w", b.id.Short(), err)
	}
	s.r.index.addPack(b.id, len(data), b.entries)
	s.mu.Lock()
	for _, e := range b.entries {
		delete(s.pending, e.ID)
	}
	s.unsaved = append(s.unsaved, indexPack{id: b.id, size: uint32(len(data)), entries: b.entries})
	s.stats.PacksWritten++
	due := len(s.unsaved) >= s.r.checkpointPacks || time.Since(s.lastSave) >= checkpointEvery
	s.mu.Unlock()
	if due {
		return s.saveUnsaved()
	}
	return nil
}

// saveUnsaved writes an index file for the packs uploaded since the last one.
func (s *Saver) saveUnsaved() error {
	s.mu.Lock()
	packs := s.unsaved
	s.unsaved = nil
	s.lastSave = time.Now()
	s.mu.Unlock()
	if len(packs) == 0 {
		return nil
	}
	if _, err := s.r.saveIndexLocked(s.ctx, packs, s.lock); err != nil {
		s.mu.Lock()
		s.unsaved = append(packs, s.unsaved...)
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.stats.IndexesWritten++
	s.mu.Unlock()
	return nil
}

// close stops the uploader after the pack being filled, if upload is set, has been handed to it.
func (s *Saver) close(upload bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("saver already closed")
	}
	s.closed = true
	s.mu.Unlock()
	s.packMu.Lock()
	var err error
	if upload {
		err = errors.Join(s.handOff(&s.cur), s.handOff(&s.treeCur))
	}
	s.cur, s.treeCur = nil, nil
	s.packMu.Unlock()
	close(s.uploads)
	s.done.Wait()
	return err
}

// Flush uploads the partly filled pack, waits for every upload and writes the index for them. After
// Flush every blob saved is durable and indexed. The Saver cannot be used afterwards.
func (s *Saver) Flush() error {
	if err := s.close(true); err != nil {
		return err
	}
	if err := s.Err(); err != nil {
		return err
	}
	return s.saveUnsaved()
}

// Abort stops the saver without writing anything more; blobs in the unfinished pack are lost,
// uploaded packs stay (a later backup or prune deals with them).
func (s *Saver) Abort() { _ = s.close(false) }

// indexUploaded writes an index file for the packs uploaded but not yet indexed, once the saver
// has stopped (Abort, or a Flush that failed), so that the next backup reuses them and prune finds
// no packs in no index. It runs on a context of its own, since ctx may be what ended the work, and
// only while the saver's lock (when it has one) is still held.
func (s *Saver) indexUploaded(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	packs := s.unsaved
	if closed {
		s.unsaved = nil
	}
	s.mu.Unlock()
	if !closed || len(packs) == 0 {
		return nil
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := s.r.saveIndexLocked(ictx, packs, s.lock); err != nil {
		return fmt.Errorf("index the %d packs uploaded before the failure: %w", len(packs), err)
	}
	return nil
}

// Stats returns what the saver stored so far.
func (s *Saver) Stats() SaverStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

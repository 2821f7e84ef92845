package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// DefaultPrefix is the folder of the backend the ledger lives in when none is given.
const DefaultPrefix = "audit/"

// IdempotencyWindow is how far back Append looks for an entry with the ID it is given: the last 64
// entries. Temporal retries an activity within minutes of the attempt that may have written its
// entry, while decisions are rare events (a few per recovery); 64 entries from other writers in
// between is far beyond what happens. The first Append of a process with an ID reads up to that
// many entries once; later ones read only what other writers added.
const IdempotencyWindow = 64

// appendAttempts bounds how often Append tries again after another writer took the sequence
// number it wanted; each loss means another entry was written, so only many writers at once get
// that far.
const appendAttempts = 32

// ErrInvalid is returned (wrapped) by Append for an entry it refuses as given: a missing kind, fields
// Append sets, text that is not UTF-8, an entry over MaxEntrySize. Retrying does not help.
var ErrInvalid = errors.New("invalid audit entry")

// ErrDamaged is returned (wrapped) when an object the ledger needs cannot be read as what it should
// be: an entry or the head that is not valid ledger JSON. Retrying does not help; `lifeboat audit
// verify` names what is wrong.
var ErrDamaged = errors.New("audit ledger damaged")

// Head is the ledger's checkpoint, the object head.json: the last entry its writer appended,
// signed. Entries removed from the end leave no gap in the chain; the head, which names an entry
// that then no longer exists, shows it. The head may lag behind the last entry (a writer between
// its entry and the head, or a slower writer's head), never run ahead of it.
type Head struct {
	// Seq and Hash are the last appended entry's.
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// Time is when the head was written.
	Time  time.Time `json:"time"`
	KeyID string    `json:"key_id"`
	// Sig is the base64 Ed25519 signature of the SHA-256 of "lifeboat audit head v1\n" followed by
	// the head's canonical JSON without Sig.
	Sig string `json:"sig,omitempty"`
}

const headDomain = "lifeboat audit head v1\n"

func (h Head) computeHash() (string, error) {
	h.Sig = ""
	b, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(headDomain), b...))
	return hex.EncodeToString(sum[:]), nil
}

// Config says where a ledger lives and who signs what it appends.
type Config struct {
	// Backend stores the ledger.
	Backend storage.Backend
	// Prefix is the folder within the backend (default DefaultPrefix).
	Prefix string
	// Signer signs appended entries and the head.
	Signer *Signer
	// Now tells the time of entries that carry none (default time.Now).
	Now func() time.Time
}

// Ledger appends entries. It is safe for concurrent use, and any number of ledgers, in any number
// of processes, may append to the same place at once: storage.Backend.Create gives every sequence
// number to exactly one of them.
type Ledger struct {
	backend storage.Backend
	prefix  string
	signer  *Signer
	now     func() time.Time

	mu sync.Mutex
	// What this ledger knows of the end of the ledger: tail is the last entry's number, once
	// known; recent holds the entries from loadedFrom to tail that exist, each of which was read or
	// written by this ledger.
	known      bool
	tail       uint64
	loadedFrom uint64
	recent     map[uint64]Entry
}

// New returns a ledger; it does not contact the backend.
func New(cfg Config) (*Ledger, error) {
	if cfg.Backend == nil {
		return nil, errors.New("audit: no backend to keep the ledger in")
	}
	if cfg.Signer == nil {
		return nil, errors.New("audit: no signing key: configure audit.signing_key")
	}
	prefix, err := CleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Ledger{backend: cfg.Backend, prefix: prefix, signer: cfg.Signer, now: now, recent: map[uint64]Entry{}}, nil
}

// CleanPrefix returns the folder a prefix names, ending in "/": DefaultPrefix for "", "x/" for "x".
// It refuses absolute prefixes and "." and ".." elements.
func CleanPrefix(prefix string) (string, error) {
	if prefix == "" {
		return DefaultPrefix, nil
	}
	p := strings.TrimSuffix(prefix, "/")
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." ||
		strings.Contains(p, `\`) {
		return "", fmt.Errorf("audit: prefix %q: give a relative folder such as %q, without \".\" or \"..\" elements", prefix, DefaultPrefix)
	}
	return p + "/", nil
}

// Location names the ledger in messages: the backend's location and the prefix.
func (l *Ledger) Location() string { return where(l.backend, l.prefix) }

// KeyID is the ID of the key the ledger signs with.
func (l *Ledger) KeyID() string { return l.signer.KeyID() }

func where(b storage.Backend, prefix string) string {
	return strings.TrimSuffix(b.Location(), "/") + "/" + strings.TrimSuffix(prefix, "/")
}

// Append adds e to the end of the ledger, and returns it as stored, with Seq, Prev, KeyID, Hash and
// Sig filled in, Time set to now if it was zero, and Time in UTC.
//
// With e.ID set, Append is idempotent: when an entry with that ID is among the last
// IdempotencyWindow entries, it returns that entry, and existed true, and appends nothing. Give
// every event its own ID, stable across retries (workflowID/runID/event).
//
// After the entry, Append brings the head up to it. When that fails, the entry is appended
// nevertheless: Append returns it with an error saying so, and a retry with the same ID finds the
// entry and tries the head again. A head that does not match the entries — ahead of the last one,
// or naming an entry whose hash differs — is evidence of tampering that Append leaves in place for
// Verify to report.
func (l *Ledger) Append(ctx context.Context, e Entry) (stored Entry, existed bool, err error) {
	if err := e.check(); err != nil {
		return Entry{}, false, fmt.Errorf("audit: append to %s: %w: %w", l.Location(), ErrInvalid, err)
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC().Round(0)
	if len(e.Details) == 0 {
		e.Details = nil
	}
	e.KeyID = l.signer.KeyID()

	l.mu.Lock()
	defer l.mu.Unlock()
	for attempt := 0; attempt < appendAttempts; attempt++ {
		if err := l.catchUp(ctx); err != nil {
			if errors.Is(err, ErrDamaged) {
				return Entry{}, false, fmt.Errorf("audit: append to %s: %w; `lifeboat audit verify` names what is wrong", l.Location(), err)
			}
			return Entry{}, false, fmt.Errorf("audit: append to %s: %w", l.Location(), err)
		}
		if e.ID != "" {
			if err := l.loadWindow(ctx); err != nil {
				return Entry{}, false, fmt.Errorf("audit: append to %s: %w", l.Location(), err)
			}
			if found, ok := l.byID(e.ID); ok {
				return found, true, l.updateHead(ctx)
			}
		}
		next := e
		next.Seq = l.tail + 1
		if l.tail > 0 {
			next.Prev = l.recent[l.tail].Hash
		}
		raw, err := l.seal(&next)
		if err != nil {
			return Entry{}, false, fmt.Errorf("audit: append to %s: %w", l.Location(), err)
		}
		name := l.entryName(next.Seq)
		err = l.backend.Create(ctx, name, bytes.NewReader(raw), int64(len(raw)))
		if errors.Is(err, storage.ErrExists) {
			// Another writer took the number — or S3 resent our own request after a lost answer
			// and met the object it had created.
			if got, rerr := storage.ReadAll(ctx, l.backend, name); rerr == nil && bytes.Equal(got, raw) {
				err = nil
			}
		}
		switch {
		case err == nil:
			l.add(next)
			return next, false, l.updateHead(ctx)
		case !errors.Is(err, storage.ErrExists):
			return Entry{}, false, fmt.Errorf("audit: append to %s: %w", l.Location(), err)
		}
		if err := pause(ctx, attempt); err != nil {
			return Entry{}, false, fmt.Errorf("audit: append to %s: %w", l.Location(), err)
		}
	}
	return Entry{}, false, fmt.Errorf("audit: append to %s: other writers took the next entry %d times in a row; try again", l.Location(), appendAttempts)
}

// seal fills in the entry's Hash and Sig and returns its stored form.
func (l *Ledger) seal(e *Entry) ([]byte, error) {
	hash, err := e.computeHash()
	if err != nil {
		return nil, err
	}
	e.Hash = hash
	if e.Sig, err = l.signer.sign(hash); err != nil {
		return nil, err
	}
	raw, err := e.encode()
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxEntrySize {
		return nil, fmt.Errorf("%w: the entry is %d bytes: at most %d; record large evidence elsewhere and name it in the entry", ErrInvalid, len(raw), MaxEntrySize)
	}
	return raw, nil
}

// pause waits a little, more after each lost race, so that writers contending for the end of the
// ledger spread out.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(5<<min(attempt, 5))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// catchUp finds the end of the ledger: the first time from the head (checked against the entry it
// names) or, failing that, by listing the entries; then, every time, by reading the entries other
// writers appended since.
func (l *Ledger) catchUp(ctx context.Context) error {
	if !l.known {
		if err := l.findTail(ctx); err != nil {
			return err
		}
		l.known = true
	}
	for {
		e, err := l.readEntry(ctx, l.tail+1)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		l.add(e)
	}
}

// findTail sets tail to the last entry's number and reads that entry.
func (l *Ledger) findTail(ctx context.Context) error {
	if h, err := l.readHead(ctx); err == nil && h.Seq > 0 {
		if e, err := l.readEntry(ctx, h.Seq); err == nil && e.Hash == h.Hash {
			l.tail, l.loadedFrom = 0, h.Seq
			l.add(e)
			return nil
		}
	}
	var last uint64
	err := l.backend.List(ctx, l.prefix+"entries/", func(info storage.Info) error {
		if seq, ok := l.seqOf(info.Name); ok && seq > last {
			last = seq
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.tail, l.loadedFrom = 0, max(last, 1)
	if last == 0 {
		return nil
	}
	e, err := l.readEntry(ctx, last)
	if err != nil {
		return err
	}
	l.add(e)
	return nil
}

// add records an entry this ledger read or wrote, advancing the tail and forgetting entries that
// fell out of the window.
func (l *Ledger) add(e Entry) {
	l.recent[e.Seq] = e
	if e.Seq > l.tail {
		l.tail = e.Seq
	}
	if l.tail > IdempotencyWindow {
		floor := l.tail - IdempotencyWindow + 1
		for seq := range l.recent {
			if seq < floor {
				delete(l.recent, seq)
			}
		}
		l.loadedFrom = max(l.loadedFrom, floor)
	}
}

// loadWindow reads the entries of the idempotency window this ledger has not seen, eight at a
// time. Entries that are missing or cannot be read are skipped: they cannot hold the ID, and
// Verify reports them.
func (l *Ledger) loadWindow(ctx context.Context) error {
	floor := uint64(1)
	if l.tail > IdempotencyWindow {
		floor = l.tail - IdempotencyWindow + 1
	}
	if l.loadedFrom <= floor {
		return nil
	}
	type result struct {
		e   Entry
		err error
	}
	seqs := make(chan uint64)
	results := make(chan result)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for seq := range seqs {
				e, err := l.readEntry(ctx, seq)
				results <- result{e, err}
			}
		})
	}
	go func() {
		defer close(seqs)
		for seq := floor; seq < l.loadedFrom; seq++ {
			select {
			case seqs <- seq:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var firstErr error
	for r := range results {
		switch {
		case r.err == nil:
			l.recent[r.e.Seq] = r.e
		case errors.Is(r.err, storage.ErrNotFound), errors.Is(r.err, ErrDamaged):
		case firstErr == nil:
			firstErr = r.err
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.loadedFrom = floor
	return nil
}

// byID returns the entry of the window with that ID.
func (l *Ledger) byID(id string) (Entry, bool) {
	for _, e := range l.recent {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// updateHead moves the head to the last entry, when it is behind and matches the entries. A missing
// head is written; a head that is ahead, names an entry with another hash, or cannot be read is
// left alone, as evidence for Verify.
func (l *Ledger) updateHead(ctx context.Context) error {
	last, ok := l.recent[l.tail]
	if !ok {
		return nil
	}
	h, err := l.readHead(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		if errors.Is(err, ErrDamaged) {
			return nil
		}
		return fmt.Errorf("audit: entry %d appended to %s, but the head was not read: %w", last.Seq, l.Location(), err)
	case h.Seq >= last.Seq:
		return nil
	default:
		named, ok := l.recent[h.Seq]
		if !ok {
			e, err := l.readEntry(ctx, h.Seq)
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, ErrDamaged) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("audit: entry %d appended to %s, but the head was not checked: %w", last.Seq, l.Location(), err)
			}
			named = e
		}
		if named.Hash != h.Hash {
			return nil
		}
	}
	head := Head{Seq: last.Seq, Hash: last.Hash, Time: l.now().UTC().Round(0), KeyID: l.signer.KeyID()}
	hash, err := head.computeHash()
	if err == nil {
		head.Sig, err = l.signer.sign(hash)
	}
	var raw []byte
	if err == nil {
		raw, err = json.Marshal(head)
	}
	if err == nil {
		raw = append(raw, '\n')
		err = l.backend.Put(ctx, l.prefix+headName, bytes.NewReader(raw), int64(len(raw)))
	}
	if err != nil {
		return fmt.Errorf("audit: entry %d appended to %s, but the head was not updated: %w", last.Seq, l.Location(), err)
	}
	return nil
}

const headName = "head.json"

// readHead reads the head; it does not check its signature.
func (l *Ledger) readHead(ctx context.Context) (Head, error) {
	return readHead(ctx, l.backend, l.prefix)
}

func readHead(ctx context.Context, b storage.Backend, prefix string) (Head, error) {
	raw, err := readObject(ctx, b, prefix+headName)
	if err != nil {
		return Head{}, err
	}
	h, err := decodeHead(raw)
	if err != nil {
		return Head{}, fmt.Errorf("%s%s: %w: %w", prefix, headName, ErrDamaged, err)
	}
	return h, nil
}

func decodeHead(raw []byte) (Head, error) {
	var h Head
	if err := decodeStrict(raw, &h); err != nil {
		return Head{}, err
	}
	return h, nil
}

// readEntry reads and decodes entry seq, checking that it is the entry its name says.
func (l *Ledger) readEntry(ctx context.Context, seq uint64) (Entry, error) {
	raw, err := readObject(ctx, l.backend, l.entryName(seq))
	if err != nil {
		return Entry{}, err
	}
	e, err := decodeEntry(raw)
	if err == nil && e.Seq != seq {
		err = fmt.Errorf("it holds entry %d", e.Seq)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("entry %d: %w: %w", seq, ErrDamaged, err)
	}
	return e, nil
}

// readAhead is how many entries Verify and Export read at once.
const readAhead = 16

// readInOrder reads the entries numbered seqs, up to readAhead at a time, and calls fn with each
// object's bytes, or the error reading it, in the order of seqs. An error from fn stops the
// reading and is returned.
func readInOrder(ctx context.Context, b storage.Backend, prefix string, seqs []uint64, fn func(seq uint64, raw []byte, err error) error) error {
	type fetched struct {
		raw []byte
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan chan fetched, readAhead-1)
	go func() {
		defer close(queue)
		for _, seq := range seqs {
			ch := make(chan fetched, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				raw, err := readObject(ctx, b, entryName(prefix, seq))
				ch <- fetched{raw, err}
			}()
		}
	}()
	i := 0
	for ch := range queue {
		f := <-ch
		if err := fn(seqs[i], f.raw, f.err); err != nil {
			return err
		}
		i++
	}
	return ctx.Err()
}

// readObject reads a whole object of at most MaxEntrySize bytes (and one more, to tell).
func readObject(ctx context.Context, b storage.Backend, name string) ([]byte, error) {
	rc, err := b.Get(ctx, name, 0, MaxEntrySize+1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (l *Ledger) entryName(seq uint64) string { return entryName(l.prefix, seq) }

// entryName is the object an entry is stored in: 20 digits, so that names sort as numbers do.
func entryName(prefix string, seq uint64) string {
	return fmt.Sprintf("%sentries/%020d.json", prefix, seq)
}

func (l *Ledger) seqOf(name string) (uint64, bool) { return seqOf(l.prefix, name) }

// seqOf returns the number of the entry an object name stores, and false for any other name.
func seqOf(prefix, name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"entries/")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, ".json")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// Latest returns the newest entry that match accepts among the last scan entries of the ledger
// (newest first), and whether there is one. Entries that are missing or damaged are passed over:
// Verify reports them.
func (l *Ledger) Latest(ctx context.Context, match func(Entry) bool, scan int) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.catchUp(ctx); err != nil {
		return Entry{}, false, fmt.Errorf("audit: read %s: %w", l.Location(), err)
	}
	for seq, n := l.tail, 0; seq > 0 && n < scan; seq, n = seq-1, n+1 {
		e, ok := l.recent[seq]
		if !ok {
			var err error
			if e, err = l.readEntry(ctx, seq); err != nil {
				if errors.Is(err, ErrDamaged) || errors.Is(err, storage.ErrNotFound) {
					continue
				}
				return Entry{}, false, fmt.Errorf("audit: read %s: %w", l.Location(), err)
			}
		}
		if match(e) {
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

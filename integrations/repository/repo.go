package repository

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/chunker"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Config is the repository's configuration, fixed at init and stored encrypted as "config".
type Config struct {
	Version int       `json:"version"`
	ID      ID        `json:"id"`
	Created time.Time `json:"created"`
	// Chunker sizes; fixed for the repository's life so that chunks keep deduplicating.
	ChunkMin int `json:"chunk_min"`
	ChunkAvg int `json:"chunk_avg"`
	ChunkMax int `json:"chunk_max"`
	// Compression is "fastest", "default", "better" or "off".
	Compression string `json:"compression"`
	// PackSize is the size pack files are cut at.
	PackSize int `json:"pack_size"`
}

// InitOptions tune a new repository.
type InitOptions struct {
	// Compression level (default "fastest": on this data zstd's fastest level compresses within a
	// few percent of its default at twice the speed).
	Compression string
	// PackSize in bytes (default 8 MiB).
	PackSize int
	// Chunker overrides the chunk sizes (for tests).
	Chunker *chunker.Params
	// Label names the first key slot.
	Label string
}

// Repository is an open repository. It is safe for concurrent use.
type Repository struct {
	be     storage.Backend
	cfg    Config
	keys   *keys
	slotID ID
	master []byte // kept to wrap new key slots
	table  *chunker.Table
	enc    *zstd.Encoder
	dec    *zstd.Decoder
	index  *Index

	// checkpointPacks and lockRefresh are the package defaults; tests shrink them.
	checkpointPacks int
	lockRefresh     time.Duration
	// beforeCommit, when set, runs right before a snapshot is committed (tests pause there).
	beforeCommit func()
}

func compressionLevel(name string) (zstd.EncoderLevel, bool, error) {
	switch name {
	case "fastest", "":
		return zstd.SpeedFastest, true, nil
	case "default":
		return zstd.SpeedDefault, true, nil
	case "better":
		return zstd.SpeedBetterCompression, true, nil
	case "off":
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("compression %q: use fastest, default, better or off", name)
}

// Init creates a repository in be, protected by creds, and returns it open. It returns an error
// wrapping ErrAlreadyExists when be holds a repository already, including one that another process
// created while this Init ran; the caller can then Open it (with the same credentials, if the other
// process used them).
func Init(ctx context.Context, be storage.Backend, creds Credentials, opts InitOptions) (*Repository, error) {
	if _, err := be.Stat(ctx, configName); err == nil {
		return nil, fmt.Errorf("%s: %w", be.Location(), ErrAlreadyExists)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", be.Location(), err)
	}
	p := chunker.DefaultParams
	if opts.Chunker != nil {
		p = *opts.Chunker
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opts.PackSize == 0 {
		opts.PackSize = 8 << 20
	}
	if opts.PackSize < 1<<20 || opts.PackSize > 512<<20 {
		return nil, fmt.Errorf("pack size %d: want 1 MiB to 512 MiB", opts.PackSize)
	}
	if opts.Compression == "" {
		opts.Compression = "fastest"
	}
	if _, _, err := compressionLevel(opts.Compression); err != nil {
		return nil, err
	}
	if creds.empty() {
		return nil, errors.New("init needs a passphrase or a key file")
	}
	master := make([]byte, masterKeySize)
	_, _ = rand.Read(master)
	cfg := Config{
		Version: FormatVersion, ID: randomID(), Created: time.Now().UTC(),
		ChunkMin: p.Min, ChunkAvg: p.Avg, ChunkMax: p.Max,
		Compression: opts.Compression, PackSize: opts.PackSize,
	}
	r, err := newRepository(be, cfg, master)
	if err != nil {
		return nil, err
	}
	// Slots first, config last: a crash before the config leaves no repository, only slots that
	// open nothing (Open skips them). The config is created, never replaced: of several processes
	// initialising one location at once, exactly one writes it.
	var slotIDs []ID
	for _, c := range []Credentials{{Passphrase: creds.Passphrase}, {KeyFile: creds.KeyFile}} {
		if c.empty() {
			continue
		}
		s, err := newSlot(master, c, opts.Label)
		if err != nil {
			return nil, err
		}
		if err := saveSlot(ctx, be, s); err != nil {
			return nil, fmt.Errorf("save key slot: %w", err)
		}
		slotIDs = append(slotIDs, s.ID)
	}
	r.slotID = slotIDs[0]
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.saveFile(ctx, configName, b); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			// Whether the config was stored is unknown: the slots stay, since removing them could
			// leave a config nobody can open.
			return nil, fmt.Errorf("save config: %w", err)
		}
		// Another process created the repository first. Its slots open it; ours open nothing and
		// are removed — only ours.
		errs := []error{fmt.Errorf("%s: %w (created by another process at the same time; open it)", be.Location(), ErrAlreadyExists)}
		for _, id := range slotIDs {
			if err := be.Delete(context.WithoutCancel(ctx), keysPrefix+id.String()); err != nil {
				errs = append(errs, fmt.Errorf("remove key slot %s written by this init: %w", id.Short(), err))
			}
		}
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Open unlocks the repository in be with creds. It loads no index yet: LoadIndex does.
func Open(ctx context.Context, be storage.Backend, creds Credentials) (*Repository, error) {
	if creds.empty() {
		return nil, errors.New("open needs a passphrase or a key file")
	}
	if _, err := be.Stat(ctx, configName); errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", be.Location(), ErrNotARepository)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", be.Location(), err)
	}
	slots, err := loadSlots(ctx, be)
	if err != nil {
		return nil, err
	}
	// Every slot that opens with the credentials is tried until one holds the key the config was
	// sealed with: two processes that created the repository at the same moment each left a slot,
	// and only the config written last counts.
	var r *Repository
	unlocked := false
	var lastErr error
	for _, s := range slots {
		m, ok, err := s.unwrap(creds)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		unlocked = true
		cand, err := newRepository(be, Config{}, m)
		if err != nil {
			return nil, err
		}
		cand.slotID = s.ID
		b, err := cand.loadFile(ctx, configName)
		if err != nil {
			lastErr = fmt.Errorf("read config: %w", err)
			continue
		}
		if err := json.Unmarshal(b, &cand.cfg); err != nil {
			return nil, fmt.Errorf("%w: config: %v", ErrCorrupt, err)
		}
		r = cand
		break
	}
	if !unlocked {
		return nil, fmt.Errorf("%s: %w", be.Location(), ErrWrongCredentials)
	}
	if r == nil {
		return nil, lastErr
	}
	if r.cfg.Version != FormatVersion {
		return nil, fmt.Errorf("repository format version %d: this Lifeboat reads version %d", r.cfg.Version, FormatVersion)
	}
	if err := r.params().Validate(); err != nil {
		return nil, fmt.Errorf("%w: config: %v", ErrCorrupt, err)
	}
	if err := r.setCompression(); err != nil {
		return nil, err
	}
	return r, nil
}

func newRepository(be storage.Backend, cfg Config, master []byte) (*Repository, error) {
	k, err := deriveKeys(master)
	if err != nil {
		return nil, err
	}
	table, err := chunker.NewTable(k.chunker)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return nil, err
	}
	r := &Repository{be: be, cfg: cfg, keys: k, master: master, table: table, dec: dec, index: newIndex(),
		checkpointPacks: checkpointPacks, lockRefresh: lockRefresh}
	if cfg.Version != 0 {
		if err := r.setCompression(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Repository) setCompression() error {
	level, on, err := compressionLevel(r.cfg.Compression)
	if err != nil {
		return fmt.Errorf("%w: config: %v", ErrCorrupt, err)
	}
	if !on {
		r.enc = nil
		return nil
	}
	r.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(1<<20),
		zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true))
	return err
}

// Config returns the repository's configuration.
func (r *Repository) Config() Config { return r.cfg }

// Backend returns where the repository lives.
func (r *Repository) Backend() storage.Backend { return r.be }

func (r *Repository) params() chunker.Params {
	return chunker.Params{Min: r.cfg.ChunkMin, Avg: r.cfg.ChunkAvg, Max: r.cfg.ChunkMax}
}

// compress compresses data into dst and returns the body to store — the compressed bytes, or data
// itself when compression would not make it smaller — and dst, grown if it had to, for reuse.
func (r *Repository) compress(dst, data []byte) (body []byte, compressed bool, buf []byte) {
	if r.enc == nil || len(data) < 64 || !looksCompressible(data) {
		return data, false, dst
	}
	if need := len(data) + len(data)/128 + 64; cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	out := r.enc.EncodeAll(data, dst[:0])
	if len(out) >= len(data) {
		return data, false, out[:0]
	}
	return out, true, out[:0]
}

// looksCompressible tries S2, a compressor several times faster than zstd's fastest level, on up to
// three 32 KiB samples of data, and reports whether they shrink by at least 2%. Random, encrypted
// and already-compressed data — half of a typical backup — then skips zstd entirely. Data that only
// compresses through matches further apart than a sample is stored as it is.
func looksCompressible(data []byte) bool {
	const sample = 32 << 10
	if len(data) <= 3*sample {
		return true // small: zstd decides, at little cost
	}
	var scratch [sample + sample/4 + 64]byte
	in, out := 0, 0
	for _, off := range []int{0, len(data)/2 - sample/2, len(data) - sample} {
		in += sample
		out += len(s2.Encode(scratch[:], data[off:off+sample]))
	}
	return out*100 < in*98
}

const maxFileSize = 1 << 30 // bound on a decompressed index, tree or snapshot file

func (r *Repository) decompress(dst, data []byte, rawLen int) ([]byte, error) {
	if rawLen > maxFileSize {
		return nil, fmt.Errorf("%w: declared size %d is implausible", ErrCorrupt, rawLen)
	}
	out, err := r.dec.DecodeAll(data, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	if rawLen >= 0 && len(out) != rawLen {
		return nil, fmt.Errorf("%w: decompressed %d bytes, want %d", ErrCorrupt, len(out), rawLen)
	}
	return out, nil
}

// saveFile compresses, seals and creates a repository file (config, index, snapshot, lock). It
// never replaces an object: an existing name is an error wrapping storage.ErrExists.
func (r *Repository) saveFile(ctx context.Context, name string, plain []byte) error {
	return createBytes(ctx, r.be, name, r.sealFile(name, plain))
}

// rewriteFile replaces a repository file this process wrote itself (a lock being refreshed).
func (r *Repository) rewriteFile(ctx context.Context, name string, plain []byte) error {
	return putBytes(ctx, r.be, name, r.sealFile(name, plain))
}

// sealFile compresses and seals a repository file. The first byte of the plaintext says whether
// the rest is compressed.
func (r *Repository) sealFile(name string, plain []byte) []byte {
	body := []byte{0}
	if c, ok, _ := r.compress(nil, plain); ok {
		body = append([]byte{1}, c...)
	} else {
		body = append(body, plain...)
	}
	return r.keys.seal(nil, body, fileAAD(name))
}

// loadFile reads, authenticates and decompresses a repository file.
func (r *Repository) loadFile(ctx context.Context, name string) ([]byte, error) {
	sealed, err := storage.ReadAll(ctx, r.be, name)
	if err != nil {
		return nil, err
	}
	body, err := r.keys.open(nil, sealed, fileAAD(name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrCorrupt, name)
	}
	switch body[0] {
	case 0:
		return body[1:], nil
	case 1:
		out, err := r.decompress(nil, body[1:], -1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s: unknown encoding %d", ErrCorrupt, name, body[0])
}

func putBytes(ctx context.Context, be storage.Backend, name string, b []byte) error {
	return be.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// createBytes stores b under name unless an object of that name exists, and then returns an error
// wrapping storage.ErrExists. An object that already holds exactly b counts as created: a
// backend's resent request can meet the object its own first attempt stored, and no other writer
// makes the same bytes (every object carries a random nonce or salt). When the existing object
// cannot be read, that read error is returned rather than ErrExists, since the object may be ours.
func createBytes(ctx context.Context, be storage.Backend, name string, b []byte) error {
	err := be.Create(ctx, name, bytes.NewReader(b), int64(len(b)))
	if err == nil || !errors.Is(err, storage.ErrExists) {
		return err
	}
	got, rerr := storage.ReadAll(ctx, be, name)
	switch {
	case rerr != nil && isNotFound(rerr):
		return err // created by another writer, and deleted again since
	case rerr != nil:
		return fmt.Errorf("%s exists and cannot be read to tell whose it is: %w", name, rerr)
	case bytes.Equal(got, b):
		return nil
	}
	return err
}

// AddKey adds a key slot for creds (a passphrase or a key file) and returns its ID. The slot is
// created under a new random name, never replacing another.
func (r *Repository) AddKey(ctx context.Context, creds Credentials, label string) (ID, error) {
	s, err := newSlot(r.master, creds, label)
	if err != nil {
		return ID{}, err
	}
	return s.ID, saveSlot(ctx, r.be, s)
}

// ListKeys returns the key slots; the one this process opened with has Current set.
func (r *Repository) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	slots, err := loadSlots(ctx, r.be)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(slots))
	for _, s := range slots {
		out = append(out, KeyInfo{ID: s.ID, Kind: s.Kind, Label: s.Label, Created: s.Created, Hostname: s.Hostname, Username: s.Username, Current: s.ID == r.slotID})
	}
	return out, nil
}

// KeyInfo describes a key slot.
type KeyInfo struct {
	ID       ID        `json:"id"`
	Kind     string    `json:"kind"`
	Label    string    `json:"label,omitempty"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname,omitempty"`
	Username string    `json:"username,omitempty"`
	Current  bool      `json:"current"`
}

// RemoveKey revokes a key slot. The slot this process opened with, and the last slot, cannot be
// removed: that would lock everyone out.
func (r *Repository) RemoveKey(ctx context.Context, id ID) error {
	slots, err := loadSlots(ctx, r.be)
	if err != nil {
		return err
	}
	found := false
	for _, s := range slots {
		found = found || s.ID == id
	}
	switch {
	case !found:
		return fmt.Errorf("no key slot %s", id.Short())
	case id == r.slotID:
		return errors.New("cannot remove the key slot in use: open the repository with another key first")
	case len(slots) == 1:
		return errors.New("cannot remove the last key slot")
	}
	return r.be.Delete(ctx, keysPrefix+id.String())
}

package repository

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/snappath"
)

// RestoreOptions describe a restore.
type RestoreOptions struct {
	// Path selects a file or directory inside the snapshot ("etc/nginx"); it is restored as
	// target/<its name>. Empty restores the whole snapshot into target. It must pass
	// snappath.Clean: relative, without "..".
	Path string
	// Overwrite replaces what exists at the target under a name the snapshot restores: files and
	// symlinks are renamed over the old ones once the new ones are written and verified, and
	// existing directories take the snapshot's mode and times. Without it an existing name is left
	// exactly as it was and reported "exists at the target" (unless it already holds what the
	// snapshot holds: then it counts as restored).
	Overwrite bool
	// Owners restores numeric owners (needs root).
	Owners bool
	// Within, when set, is a directory the target must lie inside: the target is created and
	// opened from it one name at a time without following symlinks, so that no link in the
	// target's path — one planted after the caller checked it, too — leads the restore outside.
	Within string
	// Token names the job the restore is part of (a workflow run), so that a retry of the same job
	// recognises its own temporary files and directories and never anything else. Files are
	// written as ".<name>.lifeboat-<token>.tmp" before they are moved into place. Empty picks a
	// random token. Characters other than letters, digits, "-" and "_" are replaced by a hash of
	// the token.
	Token string
	// MemoryLimit bounds the bytes the restore holds for reading and decoding packs (default
	// DefaultRestoreMemory); the plan, which grows with the number of files and chunks restored,
	// comes on top.
	MemoryLimit int64
	// Parallel is how many packs are read at once (default: one more than the cores on local
	// disk; on object storage, where each read waits for the network, four per core and at least
	// eight). MemoryLimit may lower it.
	Parallel int
	// OnError is told about each file that could not be restored (a damaged chunk, an existing
	// file); the restore goes on and the result lists them. Without OnError the first such error
	// fails it. Calls are never concurrent.
	OnError func(path string, err error)
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress         func(RestoreProgress)
	ProgressInterval time.Duration
}

// DefaultRestoreMemory is the default RestoreOptions.MemoryLimit.
const DefaultRestoreMemory = 256 << 20

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
	// Files, Symlinks and Bytes count what is in place at the end as the snapshot has it,
	// including what was found already restored; Dirs the directories of the selection.
	Files    int64 `json:"files"`
	Dirs     int64 `json:"dirs"`
	Symlinks int64 `json:"symlinks"`
	Bytes    int64 `json:"bytes"`
	// AlreadyRestored counts the files (and symlinks) that were at the target with the snapshot's
	// content already, as an interrupted attempt of the same job leaves them; they were not
	// rewritten.
	AlreadyRestored int64 `json:"already_restored,omitempty"`
	// Replaced counts files and symlinks that replaced an existing one (Overwrite).
	Replaced int64 `json:"replaced,omitempty"`
	// DirsCreated counts the directories this restore created.
	DirsCreated int64         `json:"dirs_created,omitempty"`
	Failed      []string      `json:"failed,omitempty"`
	Duration    time.Duration `json:"duration"`
}

// Restore writes a snapshot, or the part of it opts.Path selects, under target.
//
// It never destroys what it did not create. Each file is written to a temporary name in its own
// directory, every chunk authenticated and checked against its ID and the total size against the
// snapshot's, stamped with its mode, times and (with Owners) owner, and only then moved into
// place: without Overwrite by a move that fails when the name exists, so an existing file is
// left as it was and reported "exists at the target"; with Overwrite by a rename over the old
// one. Any failure — a damaged chunk, a read or write error, cancellation — removes only the
// restore's own temporary file. Replacements are made in batches, after the new files are
// written to stable storage (syncfs), so that a crash never leaves an empty or partial file where
// the old one was. A file that is at the target with the snapshot's content already
// counts as restored and is not rewritten, so a retry of an interrupted restore (with the same
// Token) finishes without Overwrite. Directories this restore creates take the snapshot's mode
// and times; existing ones keep theirs unless Overwrite is set.
//
// Every file-system operation is relative to a directory descriptor opened from the target down,
// one plain name at a time and without following symlinks, so neither a crafted snapshot nor
// symlinks already in the target can make it write outside the target.
//
// It reads by pack: every pack holding chunks of the selection is read once (the needed ranges,
// merged when the gaps are small), several at once, and each chunk is decoded once and written
// to every place it is used. Memory is bounded by opts.MemoryLimit plus the plan. It holds a
// shared lock while it runs.
func (r *Repository) Restore(ctx context.Context, sn *Snapshot, target string, opts RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	sel, err := snappath.Clean(opts.Path)
	if err != nil {
		return nil, err
	}
	lock, err := r.Lock(ctx, false, "restore "+sn.ID.Short())
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	if opts.Within == "" {
		if err := os.MkdirAll(target, 0o700); err != nil {
			return nil, fmt.Errorf("restore target: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := newRestorer(ctx, cancel, r, target, opts)
	if err != nil {
		return nil, err
	}
	defer rs.close()
	stopProgress := rs.reportProgress(start)

	rs.start()
	err = rs.plan(sn.Tree, sel)
	if err != nil {
		rs.cancel()
	}
	rs.wait()
	if err == nil {
		err = rs.ctx.Err()
	}
	if err == nil {
		err = rs.finish()
	}
	if ferr := rs.firstErr(); ferr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = ferr // the error that stopped the restore, rather than the cancellation it caused
	}
	if err != nil {
		// Take back what this attempt started and did not finish; stamp the directories it made,
		// so that a retry finds them as the snapshot has them.
		rs.abandon()
		stopProgress(false)
		return nil, err
	}
	err = rs.finishDirs()
	stopProgress(err == nil)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{
		Files: rs.filesN.Load(), Dirs: rs.dirsN.Load(), Symlinks: rs.symlinks.Load(), Bytes: rs.bytes.Load(),
		AlreadyRestored: rs.already.Load(), Replaced: rs.replaced.Load(), DirsCreated: rs.dirsCreated.Load(),
		Failed: rs.failed, Duration: time.Since(start),
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%d of %d files could not be restored: %s", len(res.Failed), res.Files+res.Symlinks+int64(len(res.Failed)), strings.Join(firstN(res.Failed, 5), "; "))
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

// restoreToken turns RestoreOptions.Token into the form file names carry.
func restoreToken(token string) string {
	if token == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	ok := len(token) <= 64
	for _, c := range token {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			ok = false
		}
	}
	if ok {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// fail records an entry that could not be restored, or returns the error when there is no
// OnError (and then stops the restore).
func (rs *restorer) fail(rel string, err error) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.opts.OnError == nil {
		if rs.err == nil {
			rs.err = fmt.Errorf("restore %s: %w", rel, err)
			rs.cancel()
		}
		return rs.err
	}
	rs.errs.Add(1)
	rs.opts.OnError(rel, err)
	rs.failed = append(rs.failed, rel+": "+err.Error())
	return nil
}

// firstErr is the error that stopped the restore, or the context's.
func (rs *restorer) firstErr() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.err == nil {
		return rs.ctx.Err()
	}
	return rs.err
}

func (rs *restorer) reportProgress(start time.Time) func(bool) {
	if rs.opts.Progress == nil {
		return reportEvery(0, nil)
	}
	return reportEvery(rs.opts.ProgressInterval, func(done bool) {
		rs.opts.Progress(RestoreProgress{FilesDone: rs.filesN.Load(), BytesDone: rs.bytes.Load(), TotalFiles: rs.totalFiles.Load(),
			TotalBytes: rs.totalBytes.Load(), Errors: rs.errs.Load(), Elapsed: time.Since(start), Done: done})
	})
}

// counters are a restore's running totals.
type counters struct {
	filesN, symlinks, bytes, errs, totalFiles, totalBytes atomic.Int64
	dirsN, dirsCreated, already, replaced                 atomic.Int64
}

// restoreErrs collects the failures of a restore.
type restoreErrs struct {
	mu     sync.Mutex
	failed []string
	err    error
}

// Dump writes one file of a snapshot to w, verifying each chunk: the way a database dump is fed
// back to pg_restore without landing on disk. file must pass snappath.Clean.
func (r *Repository) Dump(ctx context.Context, sn *Snapshot, file string, w io.Writer) (int64, error) {
	p, err := snappath.Clean(file)
	if err != nil {
		return 0, err
	}
	if p == "" {
		return 0, errors.New("dump: give the path of a file inside the snapshot")
	}
	if err := r.LoadIndex(ctx); err != nil {
		return 0, err
	}
	n, err := r.lookupPath(ctx, sn.Tree, p)
	if err != nil {
		return 0, err
	}
	if n.Type != NodeFile {
		return 0, fmt.Errorf("%q is a %s, not a file", p, n.Type)
	}
	var buf []byte
	var total int64
	for i, id := range n.Content {
		if buf, err = r.LoadBlob(ctx, DataBlob, id, buf); err != nil {
			return total, fmt.Errorf("%s: chunk %d of %d: %w", p, i+1, len(n.Content), err)
		}
		m, err := w.Write(buf)
		total += int64(m)
		if err != nil {
			return total, err
		}
	}
	if uint64(total) != n.Size {
		return total, fmt.Errorf("%w: %s: content is %d bytes, the snapshot says %d", ErrCorrupt, p, total, n.Size)
	}
	return total, nil
}

// lookupPath finds the node at a path inside a tree; p must pass snappath.Clean and not be
// empty.
func (r *Repository) lookupPath(ctx context.Context, tree ID, p string) (*Node, error) {
	p, err := snappath.Clean(p)
	if err != nil {
		return nil, err
	}
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

package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Entry is one file, directory or symbolic link of a tree, as the harness compares them.
type Entry struct {
	// Type is "file", "dir" or "symlink".
	Type string
	// Mode holds the permission bits.
	Mode fs.FileMode
	// Size and SHA256 describe a file's content.
	Size   int64
	SHA256 string
	// Target is a symbolic link's target.
	Target  string
	ModTime time.Time
}

// Tree maps slash-separated paths relative to a root to what is there. The root itself is not in
// it.
type Tree map[string]Entry

// ReadTree reads every entry under root, hashing file contents. Symbolic links are not followed.
func ReadTree(root string) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Mode: fi.Mode().Perm(), ModTime: fi.ModTime()}
		switch {
		case d.IsDir():
			e.Type = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case d.Type().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			if e.SHA256, err = fileSHA256(p); err != nil {
				return err
			}
		default:
			e.Type = "other"
		}
		t[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: read tree %s: %w", root, err)
	}
	return t, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Bytes is the total size of the tree's files.
func (t Tree) Bytes() int64 {
	var n int64
	for _, e := range t {
		n += e.Size
	}
	return n
}

// Files counts the tree's regular files.
func (t Tree) Files() int {
	n := 0
	for _, e := range t {
		if e.Type == "file" {
			n++
		}
	}
	return n
}

// Without returns the tree without the entries at or under the given paths.
func (t Tree) Without(paths ...string) Tree {
	out := Tree{}
	for p, e := range t {
		drop := false
		for _, q := range paths {
			if p == q || strings.HasPrefix(p, q+"/") {
				drop = true
			}
		}
		if !drop {
			out[p] = e
		}
	}
	return out
}

// Only returns the entries at or under the given paths.
func (t Tree) Only(paths ...string) Tree {
	out := Tree{}
	for p, e := range t {
		for _, q := range paths {
			if p == q || strings.HasPrefix(p, q+"/") {
				out[p] = e
			}
		}
	}
	return out
}

// Compare says how much of a comparison of two trees counts.
type Compare struct {
	// Extra allows entries in got that want lacks (an in-place restore leaves what the snapshot
	// does not hold).
	Extra bool
	// ModTimes compares modification times of files and symbolic links too.
	ModTimes bool
	// DirModes compares directories' permission bits too (files' and links' always count).
	DirModes bool
	// DirTimes compares directories' modification times too.
	DirTimes bool
}

// Diff lists how got differs from want, one line per path, at most limit lines (0: all) and a
// count of the rest. An empty result means the trees are the same as far as c says.
func (want Tree) Diff(got Tree, c Compare, limit int) []string {
	var out []string
	for _, p := range slices.Sorted(mapsKeys(want)) {
		w := want[p]
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, p+": missing")
		case g.Type != w.Type:
			out = append(out, fmt.Sprintf("%s: is a %s, want a %s", p, g.Type, w.Type))
		case w.Type == "file" && (g.Size != w.Size || g.SHA256 != w.SHA256):
			out = append(out, fmt.Sprintf("%s: content differs (%d bytes sha256 %.12s, want %d bytes %.12s)", p, g.Size, g.SHA256, w.Size, w.SHA256))
		case w.Type == "symlink" && g.Target != w.Target:
			out = append(out, fmt.Sprintf("%s: links to %q, want %q", p, g.Target, w.Target))
		case (w.Type != "dir" || c.DirModes) && g.Mode != w.Mode:
			out = append(out, fmt.Sprintf("%s: mode %v, want %v", p, g.Mode, w.Mode))
		case ((c.ModTimes && w.Type != "dir") || (c.DirTimes && w.Type == "dir")) && !g.ModTime.Equal(w.ModTime):
			out = append(out, fmt.Sprintf("%s: modified %s, want %s", p, g.ModTime.Format(time.RFC3339Nano), w.ModTime.Format(time.RFC3339Nano)))
		}
	}
	if !c.Extra {
		for _, p := range slices.Sorted(mapsKeys(got)) {
			if _, ok := want[p]; !ok {
				out = append(out, p+": not expected")
			}
		}
	}
	if limit > 0 && len(out) > limit {
		n := len(out) - limit
		out = append(out[:limit], fmt.Sprintf("and %d more", n))
	}
	return out
}

func mapsKeys(t Tree) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range t {
			if !yield(k) {
				return
			}
		}
	}
}

// TempFiles lists the restore engine's temporary files (".<name>.lifeboat-<token>.tmp") and
// the local backend's (".tmp-") under root, as slash paths relative to it.
func TempFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		name := d.Name()
		if (strings.Contains(name, ".lifeboat-") && strings.HasSuffix(name, ".tmp")) || strings.Contains(name, ".tmp-") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}

// Dataset says what WriteDataset writes.
type Dataset struct {
	// RandomFiles files of RandomSize bytes that do not compress.
	RandomFiles int
	RandomSize  int
	// TextFiles files of about TextSize bytes of log-like text, which compresses well.
	TextFiles int
	TextSize  int
	// SmallFiles files of 1 byte to SmallMax bytes, spread over directories of up to 50.
	SmallFiles int
	SmallMax   int
	// Symlinks symbolic links to some of the small files.
	Symlinks int
}

// WriteDataset writes a data set into dir (which it creates), the same for the same seed.
func WriteDataset(dir string, seed uint64, d Dataset) error {
	rng := rand.New(rand.NewPCG(seed, 0x6c696665626f6174))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("chaos: dataset: %w", err)
	}
	src := rand.NewChaCha8(seedBytes(seed))
	buf := make([]byte, max(d.RandomSize, d.SmallMax, 1))
	for i := range d.RandomFiles {
		_, _ = src.Read(buf[:d.RandomSize])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%02d.bin", i)), buf[:d.RandomSize], 0o644); err != nil {
			return fmt.Errorf("chaos: dataset: %w", err)
		}
	}
	for i := range d.TextFiles {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("log-%02d.txt", i)), logText(rng, d.TextSize), 0o640); err != nil {
			return fmt.Errorf("chaos: dataset: %w", err)
		}
	}
	var small []string
	for i := range d.SmallFiles {
		sub := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/50))
		if i%50 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return fmt.Errorf("chaos: dataset: %w", err)
			}
		}
		n := 1 + rng.IntN(max(d.SmallMax, 1))
		var data []byte
		if i%3 == 0 {
			data = logText(rng, n)
		} else {
			_, _ = src.Read(buf[:n])
			data = buf[:n]
		}
		name := filepath.Join(sub, fmt.Sprintf("f%05d.dat", i))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return fmt.Errorf("chaos: dataset: %w", err)
		}
		small = append(small, name)
	}
	for i := range min(d.Symlinks, len(small)) {
		target := small[rng.IntN(len(small))]
		rel, _ := filepath.Rel(dir, target)
		if err := os.Symlink(rel, filepath.Join(dir, fmt.Sprintf("link-%02d", i))); err != nil {
			return fmt.Errorf("chaos: dataset: %w", err)
		}
	}
	return nil
}

// ChangeDataset changes about share of the files under dir, as a day of work would: rewrites part
// of some, replaces others, deletes a few and adds new ones. The same seed makes the same changes.
func ChangeDataset(dir string, seed uint64, share float64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6368616e6765))
	src := rand.NewChaCha8(seedBytes(seed ^ 0x5eed))
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: change dataset: %w", err)
	}
	for _, p := range files {
		if rng.Float64() >= share {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("chaos: change dataset: %w", err)
		}
		switch x := rng.IntN(10); {
		case x < 6 && fi.Size() > 0: // rewrite a part in place
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return fmt.Errorf("chaos: change dataset: %w", err)
			}
			n := min(fi.Size(), 1+rng.Int64N(max(fi.Size()/4, 1)))
			chunk := make([]byte, n)
			_, _ = src.Read(chunk)
			_, err = f.WriteAt(chunk, rng.Int64N(fi.Size()-n+1))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("chaos: change dataset: %w", err)
			}
		case x < 8: // replace it whole
			chunk := make([]byte, 1+rng.Int64N(max(fi.Size(), 1024)))
			_, _ = src.Read(chunk)
			if err := os.WriteFile(p, chunk, 0o644); err != nil {
				return fmt.Errorf("chaos: change dataset: %w", err)
			}
		default:
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("chaos: change dataset: %w", err)
			}
		}
	}
	added := filepath.Join(dir, fmt.Sprintf("added-%016x", seed))
	if err := os.MkdirAll(added, 0o755); err != nil {
		return fmt.Errorf("chaos: change dataset: %w", err)
	}
	for i := range 1 + int(share*20) {
		chunk := make([]byte, 1+rng.IntN(256<<10))
		_, _ = src.Read(chunk)
		if err := os.WriteFile(filepath.Join(added, fmt.Sprintf("new-%02d.bin", i)), chunk, 0o644); err != nil {
			return fmt.Errorf("chaos: change dataset: %w", err)
		}
	}
	return nil
}

// CopyTree copies the files, directories and symbolic links under src to dst, keeping modes and
// modification times.
func CopyTree(src, dst string) error {
	type dirTime struct {
		path string
		mt   time.Time
	}
	var dirs []dirTime
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, fi.ModTime()})
			return os.Chmod(target, fi.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			if err := copyFile(p, target, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(target, fi.ModTime(), fi.ModTime())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: copy %s to %s: %w", src, dst, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i].path, dirs[i].mt, dirs[i].mt); err != nil {
			return fmt.Errorf("chaos: copy %s to %s: %w", src, dst, err)
		}
	}
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// logText makes about n bytes of log-like lines.
func logText(rng *rand.Rand, n int) []byte {
	words := []string{"GET", "POST", "/orders", "/cart", "200", "404", "500", "user", "session", "payment",
		"accepted", "declined", "retry", "timeout", "eu-west-1", "lifeboat", "checkout", "inventory"}
	out := make([]byte, 0, n+128)
	line := 0
	for len(out) < n {
		out = fmt.Appendf(out, "2026-01-%02d %02d:%02d:%02d.%03d ", 1+line%28, rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
		for range 5 + rng.IntN(8) {
			out = append(out, words[rng.IntN(len(words))]...)
			out = append(out, ' ')
		}
		out = fmt.Appendf(out, "id=%d\n", rng.IntN(1_000_000))
		line++
	}
	return out[:n]
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		x := seed*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
		for j := range 8 {
			b[i*8+j] = byte(x >> (8 * j))
		}
	}
	return b
}

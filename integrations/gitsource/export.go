package gitsource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// BranchesFile is the file Export writes at the top of its output, listing each exported branch
// and its commit ("<commit> <branch>" lines). No branch can be named like it: git refuses ref
// names with a component that starts with a dot.
const BranchesFile = ".lifeboat-branches"

// ErrNoBranch wraps a branch name or pattern of ExportOptions.Branches that no branch matches.
var ErrNoBranch = errors.New("no branch matches")

// ExportOptions choose what Export writes.
type ExportOptions struct {
	// Branches are branch names or path.Match patterns ("release/*"); empty means every branch.
	// A name or pattern no branch matches is an error.
	Branches []string
	// Patterns are file paths relative to the repository's root; "*" matches within one path
	// component and a "**" component matches any number of them (".github/workflows/**").
	Patterns []string
}

// ExportResult counts what Export wrote.
type ExportResult struct {
	// Branches maps each exported branch to its commit.
	Branches map[string]string
	Files    int
	Bytes    int64
}

// Export writes the files matching opts.Patterns of each chosen branch of the repository at
// gitDir into outDir, laid out as <branch>/<path>, plus BranchesFile. outDir must not exist yet.
// Regular and executable files are written; symbolic links and submodules are skipped.
func (c *Cache) Export(ctx context.Context, gitDir, outDir string, opts ExportOptions) (ExportResult, error) {
	res := ExportResult{Branches: map[string]string{}}
	if len(opts.Patterns) == 0 {
		return res, fmt.Errorf("export from %s: no file patterns", gitDir)
	}
	s := &session{git: c.gitCmd(), env: baseEnv()}
	out, err := s.run(ctx, gitDir, "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads/")
	if err != nil {
		return res, err
	}
	all := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if commit, name, ok := strings.Cut(line, " "); ok {
			all[name] = commit
		}
	}
	chosen := map[string]string{}
	if len(opts.Branches) == 0 {
		chosen = all
	}
	for _, want := range opts.Branches {
		found := false
		for name, commit := range all {
			if ok, _ := path.Match(want, name); ok || want == name {
				chosen[name], found = commit, true
			}
		}
		if !found {
			return res, fmt.Errorf("export from %s: %w %q", gitDir, ErrNoBranch, want)
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	cat, err := s.catFile(ctx, gitDir)
	if err != nil {
		return res, err
	}
	defer cat.close()
	var index bytes.Buffer
	for _, branch := range names {
		commit := chosen[branch]
		fmt.Fprintf(&index, "%s %s\n", commit, branch)
		res.Branches[branch] = commit
		listing, err := s.run(ctx, gitDir, "ls-tree", "-r", "-z", "--full-tree", commit)
		if err != nil {
			return res, err
		}
		for _, entry := range bytes.Split(listing, []byte{0}) {
			meta, p, ok := strings.Cut(string(entry), "\t")
			if !ok {
				continue
			}
			f := strings.Fields(meta) // mode type object
			if len(f) != 3 || f[1] != "blob" || (f[0] != "100644" && f[0] != "100755") || !matchAny(opts.Patterns, p) {
				continue
			}
			if !safeRel(p) {
				return res, fmt.Errorf("export %s of %s: unsafe path %q", branch, gitDir, p)
			}
			dst := filepath.Join(outDir, filepath.FromSlash(branch), filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return res, fmt.Errorf("export: %w", err)
			}
			mode := os.FileMode(0o644)
			if f[0] == "100755" {
				mode = 0o755
			}
			n, err := cat.writeBlob(f[2], dst, mode)
			if err != nil {
				return res, fmt.Errorf("export %s:%s from %s: %w", branch, p, gitDir, err)
			}
			res.Files++
			res.Bytes += n
		}
	}
	if err := os.WriteFile(filepath.Join(outDir, BranchesFile), index.Bytes(), 0o644); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

// safeRel reports whether p is a relative slash path that stays below its root.
func safeRel(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if Match(pat, p) {
			return true
		}
	}
	return false
}

// Match reports whether the slash path p matches pattern: components match with path.Match, and
// a "**" component matches any number of components, none included.
func Match(pattern, p string) bool {
	return matchParts(strings.Split(pattern, "/"), strings.Split(p, "/"))
}

func matchParts(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if matchParts(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], parts[0]); err != nil || !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// ValidPattern reports whether pattern is one Match can use.
func ValidPattern(pattern string) bool {
	if !safeRel(strings.ReplaceAll(pattern, "**", "x")) {
		return false
	}
	for _, part := range strings.Split(pattern, "/") {
		if _, err := path.Match(part, ""); err != nil {
			return false
		}
	}
	return true
}

// catFile reads blobs through one git cat-file --batch process.
type catFile struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (s *session) catFile(ctx context.Context, gitDir string) (*catFile, error) {
	cmd := exec.CommandContext(ctx, s.git, "cat-file", "--batch")
	cmd.Dir, cmd.Env = gitDir, s.env
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w: %v", ErrNoGit, err)
	}
	return &catFile{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (c *catFile) writeBlob(object, dst string, mode os.FileMode) (int64, error) {
	if _, err := io.WriteString(c.in, object+"\n"); err != nil {
		return 0, err
	}
	header, err := c.out.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var got, typ string
	var size int64
	if _, err := fmt.Sscanf(header, "%s %s %d", &got, &typ, &size); err != nil || typ != "blob" {
		return 0, fmt.Errorf("git cat-file: %q", strings.TrimSpace(header))
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyN(f, c.out, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if b, err := c.out.ReadByte(); err != nil || b != '\n' {
		return n, fmt.Errorf("git cat-file: output out of step")
	}
	return n, nil
}

func (c *catFile) close() {
	c.in.Close()
	_ = c.cmd.Wait()
}

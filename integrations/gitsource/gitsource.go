package gitsource

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

var (
	// ErrBusy is returned by Lock while another job holds the cache.
	ErrBusy = errors.New("git cache is in use by another backup")
	// ErrAuth wraps a git failure the remote gave because it refused the credentials (or asked for
	// some and none were given): retrying will not help.
	ErrAuth = errors.New("the git remote refused the credentials")
	// ErrNoGit wraps the error of a git command line that cannot be started.
	ErrNoGit = errors.New("cannot run git")
	// ErrBadCredentials wraps credentials that do not fit the remote's kind of URL.
	ErrBadCredentials = errors.New("credentials do not fit the URL")
)

// RefsFile is the file Sync writes into the mirror, after verifying it, listing every ref and the
// object it points to ("<object> <ref>" lines, sorted by ref, then "HEAD <ref>" when HEAD is
// symbolic). Git ignores it, and a push of the mirror does not carry it.
const RefsFile = "lifeboat-refs"

// Remote is a repository to mirror.
type Remote struct {
	// URL is git://, http(s)://, ssh://, scp-like (user@host:path), file:// or an absolute path.
	URL string
	// Credentials is "user:password" (or "user:token") for http(s) URLs, sent as an HTTP
	// Authorization header through git's environment, or a private key for ssh URLs, written to a
	// file only the cache's owner can read for the duration of the command. Never in argv or
	// in errors.
	Credentials string
}

// Ref is one ref of a repository and the object it points to.
type Ref struct {
	Name   string `json:"name"`
	Object string `json:"object"`
}

// Cache is the cache directory of one source: a mirror clone (mirror.git) and the lock file that
// lets one job at a time use it.
type Cache struct {
	// Dir is created when missing.
	Dir string
	// Git is the git command (default "git" on PATH).
	Git string
}

// MirrorDir is the bare mirror repository Sync keeps.
func (c *Cache) MirrorDir() string { return filepath.Join(c.Dir, "mirror.git") }

func (c *Cache) gitCmd() string {
	if c.Git != "" {
		return c.Git
	}
	return "git"
}

// Lock takes the cache's exclusive lock, held until unlock is called (or the process ends). It
// never waits: while another job holds the lock it returns an error wrapping ErrBusy.
func (c *Cache) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("git cache %s: %w", c.Dir, ErrBusy)
		}
		return nil, fmt.Errorf("lock git cache %s: %w", c.Dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// SyncResult says what Sync did and what the mirror now holds.
type SyncResult struct {
	// Refs are every ref of the mirror, sorted by name; Head is the ref HEAD names ("" when HEAD
	// is detached or the repository has none).
	Refs []Ref
	Head string
	// Cloned is set when the mirror was made afresh (first use, or a cache that failed its check).
	Cloned bool
	// Rebuilt is set when an existing mirror failed its check and was replaced.
	Rebuilt bool
}

// Sync brings the mirror up to date with the remote and verifies it. The first time it clones
// (git clone --mirror) beside the final name, verifies, and renames the clone into place; after
// that it fetches with --prune --atomic, so that a fetch that fails — a dropped connection, a
// refused login — changes no ref and leaves the previous mirror as it was. A mirror that then
// fails its check (git fsck --connectivity-only) is rebuilt aside and swapped in only once the
// new clone passes. The caller must hold the lock.
func (c *Cache) Sync(ctx context.Context, r Remote) (SyncResult, error) {
	var res SyncResult
	if r.URL == "" || strings.HasPrefix(r.URL, "-") || strings.Contains(r.URL, "::") {
		return res, fmt.Errorf("git remote %q: not a URL or path this source fetches from", r.URL)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return res, fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	s, err := c.session(r)
	if err != nil {
		return res, err
	}
	defer s.close()
	mirror := c.MirrorDir()
	old := mirror + ".old"
	if _, err := os.Stat(mirror); errors.Is(err, fs.ErrNotExist) {
		// An earlier swap stopped between its two renames: the old mirror is still whole.
		if _, err := os.Stat(old); err == nil {
			if err := os.Rename(old, mirror); err != nil {
				return res, fmt.Errorf("git cache %s: put back the previous mirror: %w", c.Dir, err)
			}
		}
	}
	// A clone an interrupted rebuild left half-written is the lock holder's to remove.
	if err := os.RemoveAll(mirror + ".new"); err != nil {
		return res, fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	if _, err := os.Stat(mirror); errors.Is(err, fs.ErrNotExist) {
		if err := c.cloneAside(ctx, s); err != nil {
			return res, err
		}
		res.Cloned = true
	} else {
		if err := removeStaleLocks(mirror); err != nil {
			return res, err
		}
		if _, err := s.run(ctx, mirror, "remote", "set-url", "origin", r.URL); err != nil {
			return res, err
		}
		if _, err := s.run(ctx, mirror, "fetch", "--prune", "--atomic", "--no-write-fetch-head", "--quiet", "origin"); err != nil {
			return res, err
		}
		if err := s.followHead(ctx, mirror); err != nil {
			return res, err
		}
		if verr := s.verify(ctx, mirror); verr != nil {
			if err := c.cloneAside(ctx, s); err != nil {
				return res, fmt.Errorf("%w (rebuilding the mirror after its check failed: %v)", err, verr)
			}
			res.Cloned, res.Rebuilt = true, true
		}
	}
	refs, head, err := s.refs(ctx, mirror)
	if err != nil {
		return res, err
	}
	res.Refs, res.Head = refs, head
	if err := writeRefsFile(mirror, refs, head); err != nil {
		return res, err
	}
	return res, nil
}

// cloneAside clones into mirror.git.new, verifies the clone, and swaps it in for the mirror.
func (c *Cache) cloneAside(ctx context.Context, s *session) error {
	mirror := c.MirrorDir()
	tmp, old := mirror+".new", mirror+".old"
	// Both names belong to this cache and to the job holding its lock: leftovers of an
	// interrupted attempt.
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	if _, err := s.run(ctx, c.Dir, "clone", "--mirror", "--no-hardlinks", "--quiet", "--", s.remote.URL, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := s.verify(ctx, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("fresh clone of %s: %w", s.redactURL(), err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	if _, err := os.Stat(mirror); err == nil {
		if err := os.Rename(mirror, old); err != nil {
			return fmt.Errorf("git cache %s: %w", c.Dir, err)
		}
	}
	if err := os.Rename(tmp, mirror); err != nil {
		return fmt.Errorf("git cache %s: %w", c.Dir, err)
	}
	return os.RemoveAll(old)
}

// Verify checks that every ref of the repository at dir leads to a complete history (git fsck
// --connectivity-only) and that every ref resolves.
func (c *Cache) Verify(ctx context.Context, dir string) error {
	s := &session{git: c.gitCmd(), env: baseEnv()}
	return s.verify(ctx, dir)
}

// Refs lists every ref of the repository at dir and the ref its HEAD names.
func (c *Cache) Refs(ctx context.Context, dir string) ([]Ref, string, error) {
	s := &session{git: c.gitCmd(), env: baseEnv()}
	return s.refs(ctx, dir)
}

// removeStaleLocks removes git's lock files from the mirror. Under the cache's lock no git process
// can be running in it, so any such file is left over from one that was killed, and would make
// every later fetch fail. Ref names cannot end in .lock, so nothing else is touched.
func removeStaleLocks(mirror string) error {
	return filepath.WalkDir(mirror, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != mirror && filepath.Dir(p) == mirror && d.Name() == "objects" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".lock") {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove stale git lock %s: %w", p, err)
			}
		}
		return nil
	})
}

func writeRefsFile(mirror string, refs []Ref, head string) error {
	var b bytes.Buffer
	for _, r := range refs {
		fmt.Fprintf(&b, "%s %s\n", r.Object, r.Name)
	}
	if head != "" {
		fmt.Fprintf(&b, "HEAD %s\n", head)
	}
	tmp := filepath.Join(mirror, RefsFile+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", RefsFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(mirror, RefsFile)); err != nil {
		return fmt.Errorf("write %s: %w", RefsFile, err)
	}
	return nil
}

// session runs git commands for one remote with its credentials in the environment.
type session struct {
	git     string
	remote  Remote
	env     []string
	secrets []string // strings that must never appear in an error
	cleanup []string // files to remove when the session ends
}

// IsHTTP reports whether url is an http(s) URL.
func IsHTTP(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// IsSSH reports whether url reaches its repository over ssh (ssh:// or scp-like user@host:path).
func IsSSH(u string) bool {
	l := strings.ToLower(u)
	if strings.HasPrefix(l, "ssh://") || strings.HasPrefix(l, "git+ssh://") || strings.HasPrefix(l, "ssh+git://") {
		return true
	}
	return scpLike.MatchString(u)
}

// scpLike matches git's scp-like syntax: [user@]host:path, where host has no slash and the colon
// comes before any slash.
var scpLike = regexp.MustCompile(`^([^@/:]+@)?[^@/:]+:[^/]`)

func (c *Cache) session(r Remote) (*session, error) {
	s := &session{git: c.gitCmd(), remote: r, env: baseEnv()}
	if r.Credentials == "" {
		if !IsSSH(r.URL) {
			return s, nil
		}
		if _, set := os.LookupEnv("GIT_SSH_COMMAND"); !set {
			s.env = append(s.env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
		}
		return s, nil
	}
	switch {
	case IsHTTP(r.URL):
		user, pass, ok := strings.Cut(r.Credentials, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%w: an http(s) remote takes \"user:password\" or \"user:token\"", ErrBadCredentials)
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			return nil, fmt.Errorf("git remote: the URL does not parse")
		}
		token := base64.StdEncoding.EncodeToString([]byte(r.Credentials))
		// The header goes only to the remote's own scheme and host: git matches the URL.
		key := "http." + u.Scheme + "://" + u.Host + "/.extraHeader"
		s.env = append(s.env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0="+key, "GIT_CONFIG_VALUE_0=Authorization: Basic "+token)
		s.secrets = append(s.secrets, r.Credentials, token)
		if len(pass) >= 4 {
			s.secrets = append(s.secrets, pass)
		}
	case IsSSH(r.URL):
		if !strings.Contains(r.Credentials, "PRIVATE KEY-----") {
			return nil, fmt.Errorf("%w: an ssh remote takes a private key", ErrBadCredentials)
		}
		if err := os.MkdirAll(c.Dir, 0o700); err != nil {
			return nil, err
		}
		// Keys of sessions whose process was killed: the cache's lock holder owns them.
		stale, _ := filepath.Glob(filepath.Join(c.Dir, "ssh-key-*"))
		for _, f := range stale {
			_ = os.Remove(f)
		}
		name := filepath.Join(c.Dir, "ssh-key-"+randomHex())
		key := r.Credentials
		if !strings.HasSuffix(key, "\n") {
			key += "\n"
		}
		if err := os.WriteFile(name, []byte(key), 0o600); err != nil {
			return nil, fmt.Errorf("git cache %s: write the ssh key: %w", c.Dir, err)
		}
		s.cleanup = append(s.cleanup, name)
		s.env = append(s.env, "GIT_SSH_COMMAND=ssh -i '"+name+"' -o IdentitiesOnly=yes -o BatchMode=yes")
		s.secrets = append(s.secrets, r.Credentials)
	default:
		return nil, fmt.Errorf("%w: only http(s) and ssh remotes take credentials", ErrBadCredentials)
	}
	return s, nil
}

func (s *session) close() {
	for _, f := range s.cleanup {
		_ = os.Remove(f)
	}
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// baseEnv is the worker's environment without what could point git at another repository or
// configuration, with prompts off and transports limited to the ones sources may use.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GIT_DIR", k == "GIT_WORK_TREE", k == "GIT_INDEX_FILE", k == "GIT_OBJECT_DIRECTORY",
			k == "GIT_ALTERNATE_OBJECT_DIRECTORIES", k == "GIT_NAMESPACE", k == "GIT_CONFIG_PARAMETERS",
			k == "GIT_CONFIG_COUNT", strings.HasPrefix(k, "GIT_CONFIG_KEY_"), strings.HasPrefix(k, "GIT_CONFIG_VALUE_"),
			k == "GIT_ALLOW_PROTOCOL", k == "GIT_TERMINAL_PROMPT", k == "GIT_ASKPASS":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh", "GIT_ASKPASS=true")
}

var userinfo = regexp.MustCompile(`(://)[^/@\s]+@`)

// redact removes credentials from text git wrote: the session's secrets, and any user information
// in URLs.
func (s *session) redact(text string) string {
	for _, sec := range s.secrets {
		if sec != "" {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return userinfo.ReplaceAllString(text, "${1}[redacted]@")
}

func (s *session) redactURL() string { return s.redact(s.remote.URL) }

// authFailure matches what git and its transports say when a remote refuses a login.
var authFailure = regexp.MustCompile(`(?i)authentication failed|could not read (username|password)|terminal prompts disabled|permission denied \(publickey|returned error: 40[13]|access denied|invalid username or password`)

// run runs git in dir and returns its standard output.
func (s *session) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Dir = dir
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limited{b: &stderr, max: 16 << 10}
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("git %s %s: %w", args[0], s.redactURL(), ctx.Err())
		}
		return nil, fmt.Errorf("git %s: %w: %v", args[0], ErrNoGit, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("git %s %s: %w", args[0], s.redactURL(), ctx.Err())
	}
	msg := strings.TrimSpace(s.redact(stderr.String()))
	if authFailure.MatchString(msg) {
		return nil, fmt.Errorf("git %s %s: %w: %s", args[0], s.redactURL(), ErrAuth, msg)
	}
	return nil, fmt.Errorf("git %s %s: %v: %s", args[0], s.redactURL(), err, msg)
}

// limited keeps the first max bytes written to it.
type limited struct {
	b   *bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// followHead points the mirror's HEAD where the remote's points, as a fresh clone would.
func (s *session) followHead(ctx context.Context, mirror string) error {
	out, err := s.run(ctx, mirror, "ls-remote", "--symref", "origin", "HEAD")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if target, ok := strings.CutPrefix(line, "ref: "); ok {
			ref, _, _ := strings.Cut(target, "\t")
			if strings.HasPrefix(ref, "refs/") {
				_, err := s.run(ctx, mirror, "symbolic-ref", "HEAD", ref)
				return err
			}
		}
	}
	return nil
}

func (s *session) verify(ctx context.Context, dir string) error {
	if _, err := s.run(ctx, dir, "fsck", "--connectivity-only", "--no-dangling", "--no-progress"); err != nil {
		return fmt.Errorf("verify mirror: %w", err)
	}
	refs, _, err := s.refs(ctx, dir)
	if err != nil {
		return fmt.Errorf("verify mirror: %w", err)
	}
	if len(refs) == 0 {
		return nil
	}
	// Every ref's object must be there (cat-file checks them all in one go).
	var in bytes.Buffer
	for _, r := range refs {
		in.WriteString(r.Object + "\n")
	}
	cmd := exec.CommandContext(ctx, s.git, "cat-file", "--batch-check")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, s.env, &in
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("verify mirror: git cat-file: %w", err)
	}
	if bytes.Contains(out, []byte(" missing")) {
		return fmt.Errorf("verify mirror: a ref points to a missing object: %s", firstLine(out, " missing"))
	}
	return nil
}

func firstLine(out []byte, with string) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, with) {
			return l
		}
	}
	return ""
}

func (s *session) refs(ctx context.Context, dir string) ([]Ref, string, error) {
	out, err := s.run(ctx, dir, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, "", err
	}
	var refs []Ref
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		obj, name, ok := strings.Cut(line, " ")
		if ok {
			refs = append(refs, Ref{Name: name, Object: obj})
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	head := ""
	if out, err := s.run(ctx, dir, "symbolic-ref", "--quiet", "HEAD"); err == nil {
		head = strings.TrimSpace(string(out))
	}
	return refs, head, nil
}

// Package gitsourcetest runs real git servers on loopback ports for tests — smart HTTP (git
// http-backend behind net/http/cgi, optionally behind basic authentication) and git daemon — over
// bare repositories that tests change by pushing from a work tree, force pushes and deleted branches
// included. It imports nothing of gitsource.
package gitsourcetest

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Git runs git in dir with a fixed identity and returns its trimmed standard output; a failure
// fails the test.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return out
}

// GitInput is Git with stdin.
func GitInput(t testing.TB, dir string, stdin []byte, args ...string) string {
	t.Helper()
	out, err := run(dir, stdin, args...)
	if err != nil {
		t.Fatalf("git %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return out
}

func run(dir string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_TERMINAL_PROMPT=0")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Repo is a bare repository under a server's root and a work tree that pushes to it.
type Repo struct {
	t testing.TB
	// Bare is the served repository; Work the work tree.
	Bare, Work string
}

// NewRepo creates root/name.git, empty, and a work tree for it.
func NewRepo(t testing.TB, root, name string) *Repo {
	t.Helper()
	r := &Repo{t: t, Bare: filepath.Join(root, name+".git"), Work: filepath.Join(t.TempDir(), name)}
	Git(t, root, "init", "--bare", "--quiet", r.Bare)
	Git(t, r.Bare, "config", "http.receivepack", "true")
	Git(t, root, "init", "--quiet", r.Work)
	Git(t, r.Work, "remote", "add", "origin", r.Bare)
	return r
}

// Commit commits files (path → content; "" removes the file) on branch, creating the branch from
// the current commit when it does not exist, and pushes it. It returns the commit.
func (r *Repo) Commit(branch, msg string, files map[string]string) string {
	r.t.Helper()
	if _, err := run(r.Work, nil, "rev-parse", "--verify", "--quiet", "HEAD"); err != nil {
		Git(r.t, r.Work, "checkout", "--quiet", "--orphan", branch)
	} else {
		Git(r.t, r.Work, "checkout", "--quiet", "-B", branch, r.tip(branch))
	}
	for p, content := range files {
		full := filepath.Join(r.Work, filepath.FromSlash(p))
		if content == "" {
			Git(r.t, r.Work, "rm", "--quiet", "-f", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		Git(r.t, r.Work, "add", p)
	}
	Git(r.t, r.Work, "commit", "--quiet", "--allow-empty", "-m", msg)
	Git(r.t, r.Work, "push", "--quiet", "--force", "origin", branch)
	return Git(r.t, r.Work, "rev-parse", "HEAD")
}

// tip is the branch's commit when it exists, else the current commit.
func (r *Repo) tip(branch string) string {
	if c, err := run(r.Work, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
		return c
	}
	return Git(r.t, r.Work, "rev-parse", "HEAD")
}

// Rewrite replaces branch's last commit with another one and force-pushes it; the old commit is no
// longer on any branch of the server.
func (r *Repo) Rewrite(branch, msg string) string {
	r.t.Helper()
	Git(r.t, r.Work, "checkout", "--quiet", branch)
	Git(r.t, r.Work, "commit", "--quiet", "--amend", "--allow-empty", "-m", msg)
	Git(r.t, r.Work, "push", "--quiet", "--force", "origin", branch)
	return Git(r.t, r.Work, "rev-parse", "HEAD")
}

// Delete deletes branch on the server.
func (r *Repo) Delete(branch string) {
	r.t.Helper()
	Git(r.t, r.Work, "push", "--quiet", "origin", "--delete", branch)
}

// Tag creates an annotated tag at the current commit and pushes it.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	Git(r.t, r.Work, "tag", "-a", "-m", name, name)
	Git(r.t, r.Work, "push", "--quiet", "origin", "refs/tags/"+name)
}

// State is what a repository holds: "<object> <ref>" lines of every ref, and the commits of
// git log --all with their parents and subjects.
func State(t testing.TB, gitDir string) (refs, log string) {
	t.Helper()
	return Git(t, gitDir, "for-each-ref", "--format=%(objectname) %(refname)"),
		Git(t, gitDir, "log", "--all", "--format=%H %P %s")
}

// Server serves the bare repositories under Root over smart HTTP on a loopback port. With a user
// set it answers 401 to requests without its basic credentials.
type Server struct {
	Root           string
	User, Password string
	mu             sync.Mutex
	addr           string
	srv            *http.Server
	handler        http.Handler
}

// NewHTTPServer starts a smart HTTP server over root; Close stops it.
func NewHTTPServer(t testing.TB, root, user, password string) *Server {
	t.Helper()
	execPath := Git(t, root, "--exec-path")
	s := &Server{Root: root, User: user, Password: password}
	s.handler = &cgi.Handler{Path: filepath.Join(execPath, "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	if err := s.start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL is the address of the repository name under the root.
func (s *Server) URL(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/" + name + ".git"
}

func (s *Server) start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve)}
	s.mu.Lock()
	s.addr, s.srv = l.Addr().String(), srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.User != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.User || p != s.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	s.handler.ServeHTTP(w, r)
}

// Close stops the server and drops its connections.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart starts the stopped server again on the same address.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(s.addr); err != nil {
		t.Fatal(err)
	}
}

// Daemon serves the repositories under a root over git:// on a loopback port: each connection is
// handed to its own git daemon --inetd.
type Daemon struct {
	Root string
	l    net.Listener
}

// NewDaemon starts a git:// server over root; it stops when the test ends.
func NewDaemon(t testing.TB, root string) *Daemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Root: root, l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go d.serve(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return d
}

func (d *Daemon) serve(c net.Conn) {
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return
	}
	defer f.Close()
	c.Close()
	cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--base-path="+d.Root, d.Root)
	cmd.Stdin, cmd.Stdout = f, f
	_ = cmd.Run()
}

// URL is the git:// address of the repository name under the root.
func (d *Daemon) URL(name string) string { return "git://" + d.l.Addr().String() + "/" + name + ".git" }

// Tip is the commit branch points to on the server.
func (r *Repo) Tip(branch string) string {
	r.t.Helper()
	return Git(r.t, r.Bare, "rev-parse", "refs/heads/"+branch)
}

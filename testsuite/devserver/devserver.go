package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// startTimeout bounds how long Start waits for the frontend to answer.
const startTimeout = 60 * time.Second

// Server is a running dev server.
type Server struct {
	HostPort     string // gRPC frontend, "127.0.0.1:port"
	HTTPHostPort string // HTTP API, "127.0.0.1:port"
	Namespace    string // the namespace registered at start ("default")
	UIPort       int    // web UI port, 0 unless started WithUI
	// DBFile is the SQLite file that holds the server's state; empty for an InMemory server.
	DBFile string

	bin  string
	args []string
	mu   sync.Mutex
	proc *repo.Process
}

// Option changes how Start runs the server.
type Option func(*config)

type config struct {
	inMemory         bool
	searchAttributes map[string]string
	uiPort           int
	args             []string
}

// WithSearchAttributes registers custom search attributes at start, name to type
// (Keyword, Text, Int, Double, Bool, Datetime, KeywordList).
func WithSearchAttributes(attrs map[string]string) Option {
	return func(c *config) {
		if c.searchAttributes == nil {
			c.searchAttributes = map[string]string{}
		}
		for name, typ := range attrs {
			c.searchAttributes[name] = typ
		}
	}
}

// InMemory keeps the server's state in memory instead of a SQLite file: faster, for benchmarks.
func InMemory() Option {
	return func(c *config) { c.inMemory = true }
}

// WithUI serves the web UI on port instead of running headless.
func WithUI(port int) Option {
	return func(c *config) { c.uiPort = port }
}

// WithArgs appends extra flags to `temporal server start-dev`, for example
// "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true".
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Start runs bin/temporal server start-dev with its state in a temporary SQLite file, waits
// until the frontend is healthy and stops the server when the test ends. It fails the test when
// the binary is missing or the server does not come up within a minute.
func Start(t testing.TB, opts ...Option) *Server {
	repo.Integration(t, "a Temporal dev server")
	t.Helper()
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	bin := repo.Bin(t, "temporal")

	port, httpPort := repo.FreePort(t), repo.FreePort(t)
	s := &Server{
		HostPort:     "127.0.0.1:" + strconv.Itoa(port),
		HTTPHostPort: "127.0.0.1:" + strconv.Itoa(httpPort),
		Namespace:    "default",
		UIPort:       cfg.uiPort,
	}
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--http-port", strconv.Itoa(httpPort),
		"--namespace", s.Namespace,
		"--log-level", "error",
	}
	if !cfg.inMemory {
		s.DBFile = filepath.Join(t.TempDir(), "temporal.db")
		args = append(args, "--db-filename", s.DBFile)
	}
	if cfg.uiPort != 0 {
		args = append(args, "--ui-port", strconv.Itoa(cfg.uiPort))
	} else {
		args = append(args, "--headless")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.searchAttributes)) {
		args = append(args, "--search-attribute", name+"="+cfg.searchAttributes[name])
	}
	args = append(args, cfg.args...)
	s.bin, s.args = bin, args

	if err := s.start(t); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs the server process and waits until it is healthy; t stops it when it ends.
func (s *Server) start(t testing.TB) error {
	proc := repo.StartProcess(t, "temporal dev server", exec.Command(s.bin, s.args...), syscall.SIGTERM)
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	if err := s.waitHealthy(proc); err != nil {
		return fmt.Errorf("temporal dev server on %s: %v\n--- server output (tail) ---\n%s", s.HostPort, err, proc.Tail())
	}
	return nil
}

// PID is the running server process's ID, for reading the CPU time and memory it uses.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.PID()
}

// Kill ends the server with SIGKILL, as a crash of its machine would — no shutdown, nothing
// flushed beyond what SQLite had committed — and waits for the process to exit. Killing a server
// that is not running is not an error.
func (s *Server) Kill() error {
	s.mu.Lock()
	proc := s.proc
	s.mu.Unlock()
	if err := proc.Kill(); err != nil {
		return fmt.Errorf("temporal dev server on %s: %w", s.HostPort, err)
	}
	return nil
}

// Restart starts the server again after Kill (or after it died), on the same ports and with the
// same SQLite file, so that clients and workers reconnect to it and find their workflows, and waits
// until the frontend is healthy. An InMemory server comes back empty. The new process is stopped
// when t ends; t is usually the test that called Start, or a subtest of it. It returns an error,
// rather than failing t, when the server is still running or does not come up within a minute.
func (s *Server) Restart(t testing.TB) error {
	t.Helper()
	s.mu.Lock()
	proc := s.proc
	s.mu.Unlock()
	select {
	case <-proc.Done():
	default:
		return fmt.Errorf("temporal dev server on %s: restart: it is still running (Kill it first)", s.HostPort)
	}
	return s.start(t)
}

// Dial connects a client to the server, filling in HostPort and Namespace when opts leaves them
// empty, and closes it when the test ends.
func (s *Server) Dial(t testing.TB, opts client.Options) client.Client {
	t.Helper()
	if opts.HostPort == "" {
		opts.HostPort = s.HostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = s.Namespace
	}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("temporal dev server: dial %s: %v", opts.HostPort, err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitHealthy dials the frontend until it answers a health check, the process exits or
// startTimeout passes.
func (s *Server) waitHealthy(proc *repo.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	quiet := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var lastErr error
	for {
		attempt, stop := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(attempt, client.Options{HostPort: s.HostPort, Namespace: s.Namespace, Logger: quiet})
		if err == nil {
			_, err = c.CheckHealth(attempt, &client.CheckHealthRequest{})
			c.Close()
		}
		stop()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-proc.Done():
			return fmt.Errorf("exited before becoming healthy: %v", proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("not healthy after %s: %w", startTimeout, lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

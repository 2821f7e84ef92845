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
		args = append(args, "--db-filename", filepath.Join(t.TempDir(), "temporal.db"))
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

	proc := repo.StartProcess(t, "temporal dev server", exec.Command(bin, args...), syscall.SIGTERM)
	if err := s.waitHealthy(proc); err != nil {
		t.Fatalf("temporal dev server on %s: %v\n--- server output (tail) ---\n%s", s.HostPort, err, proc.Tail())
	}
	return s
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

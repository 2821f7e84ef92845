package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// startTimeout bounds each wait: for a server to accept connections, for a replica to stream.
const startTimeout = 60 * time.Second

// Cluster is a running PostgreSQL server whose superuser "postgres" needs no password.
type Cluster struct {
	Host    string   // always "127.0.0.1"
	Port    int      // TCP port on Host
	DataDir string   // the cluster's data directory
	Replica *Cluster // streaming replica of this cluster; nil unless started WithReplica

	proc *repo.Process
}

// Option changes what Start sets up.
type Option func(*config)

type config struct {
	replica bool
}

// WithReplica also starts a streaming replica of the primary, reachable as Cluster.Replica.
func WithReplica() Option {
	return func(c *config) { c.replica = true }
}

// Start initialises a new cluster in a temporary directory, starts it with fsync off and waits
// until it accepts connections; everything is stopped and removed when the test ends. When the
// test runs as root, the servers run as the postgres OS user.
func Start(t testing.TB, opts ...Option) *Cluster {
	repo.Integration(t, "PostgreSQL")
	t.Helper()
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	env := newEnv(t)

	primary := start(t, env, "primary", func() error { return env.Init("primary") })
	if cfg.replica {
		primary.Replica = start(t, env, "replica", func() error { return env.CloneReplica("replica", primary.Host, primary.Port) })
		streaming := func(ctx context.Context) error {
			return localpg.Streaming(ctx, primary.DSN("postgres"), primary.Replica.DSN("postgres"))
		}
		if err := primary.Replica.poll(streaming); err != nil {
			t.Fatalf("pgtest: replica on port %d: %v\n--- primary log (tail) ---\n%s\n--- replica log (tail) ---\n%s",
				primary.Replica.Port, err, primary.proc.Tail(), primary.Replica.proc.Tail())
		}
	}
	return primary
}

// DSN returns a connection URL for database db as the superuser postgres.
func (c *Cluster) DSN(db string) string {
	return localpg.DSN(c.Host, c.Port, db)
}

// CreateDatabase creates database name, failing the test on error.
func (c *Cluster) CreateDatabase(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect to port %d: %v", c.Port, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %q: %v", name, err)
	}
}

// Stop shuts the server down fast (SIGINT), killing it if it is still running after 10 seconds.
// Failover tests use it to lose the primary; it is safe to call more than once.
func (c *Cluster) Stop() error {
	if err := c.proc.Stop(); err != nil {
		return fmt.Errorf("pgtest: stop server on port %d: %w", c.Port, err)
	}
	return nil
}

// newEnv prepares a temporary folder for the servers of one Start, removed when the test ends.
func newEnv(t testing.TB) *localpg.Env {
	t.Helper()
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temporary directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	e, err := localpg.NewEnv(base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return e
}

// start fills data directory name with create, starts a server on it and waits until it accepts
// connections.
func start(t testing.TB, e *localpg.Env, name string, create func() error) *Cluster {
	t.Helper()
	if err := create(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{Host: "127.0.0.1", Port: repo.FreePort(t), DataDir: e.Dir(name)}
	c.proc = repo.StartProcess(t, "postgres "+name, e.Server(name, c.Host, c.Port, false), os.Interrupt)
	if err := c.poll(func(ctx context.Context) error { return localpg.Ready(ctx, c.DSN("postgres")) }); err != nil {
		t.Fatalf("pgtest: %s on port %d: %v\n--- postgres log (tail) ---\n%s", name, c.Port, err, c.proc.Tail())
	}
	return c
}

// poll calls check until it succeeds, c's server exits or startTimeout passes.
func (c *Cluster) poll(check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return localpg.Poll(ctx, c.proc.Done(), check)
}

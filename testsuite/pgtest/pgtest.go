package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// startTimeout bounds each wait: for a server to accept connections, for a replica to stream.
const startTimeout = 60 * time.Second

const missingBinaries = "PostgreSQL 15 server binaries not found: apt-get install postgresql"

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

	primary := env.start(t, "primary", func(dir string) {
		env.run(t, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	})
	if cfg.replica {
		primary.Replica = env.start(t, "replica", func(dir string) {
			env.run(t, "pg_basebackup", "-h", primary.Host, "-p", strconv.Itoa(primary.Port), "-U", "postgres",
				"-D", dir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
		})
		if err := waitStreaming(primary, primary.Replica); err != nil {
			t.Fatalf("pgtest: replica on port %d: %v\n--- primary log (tail) ---\n%s\n--- replica log (tail) ---\n%s",
				primary.Replica.Port, err, primary.proc.Tail(), primary.Replica.proc.Tail())
		}
	}
	return primary
}

// DSN returns a connection URL for database db as the superuser postgres.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", c.Host, c.Port, db)
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

// env is where and as whom the servers of one Start run.
type env struct {
	bin  string              // folder with initdb, postgres, pg_basebackup
	base string              // temporary folder holding data directories and sockets
	cred *syscall.Credential // nil unless running as root
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{bin: binDir()}
	if e.bin == "" {
		t.Fatal(missingBinaries)
	}
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temporary directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	e.base = base

	if os.Geteuid() != 0 {
		return e
	}
	// PostgreSQL refuses to run as root: hand the folder to the postgres OS user.
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgtest: running as root needs the postgres OS user (apt-get install postgresql creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatalf("pgtest: chown %s to postgres: %v", base, err)
	}
	e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return e
}

// binDir returns the folder holding the PostgreSQL server binaries, or "" when there is none.
func binDir() string {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	dirs = append(dirs, "/usr/lib/postgresql/15/bin")
	others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, dir := range append(dirs, others...) {
		if isFile(filepath.Join(dir, "postgres")) && isFile(filepath.Join(dir, "initdb")) && isFile(filepath.Join(dir, "pg_basebackup")) {
			return dir
		}
	}
	return ""
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// command prepares a PostgreSQL binary to run in e.base as the right user.
func (e *env) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(e.bin, name), args...)
	cmd.Dir = e.base
	cmd.Env = append(os.Environ(), "HOME="+e.base, "LC_ALL=C")
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	return cmd
}

// run runs a PostgreSQL binary to completion, failing the test with its output on error.
func (e *env) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := e.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: %s: %v\n%s", name, err, out)
	}
}

// start fills a new data directory with create, starts a server on it and waits until it
// accepts connections.
func (e *env) start(t testing.TB, name string, create func(dir string)) *Cluster {
	t.Helper()
	c := &Cluster{Host: "127.0.0.1", Port: repo.FreePort(t), DataDir: filepath.Join(e.base, name)}
	create(c.DataDir)
	cmd := e.command("postgres", "-D", c.DataDir, "-p", strconv.Itoa(c.Port), "-k", e.base,
		"-c", "listen_addresses="+c.Host,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	)
	c.proc = repo.StartProcess(t, "postgres "+name, cmd, os.Interrupt)
	if err := c.waitReady(); err != nil {
		t.Fatalf("pgtest: %s on port %d: %v\n--- postgres log (tail) ---\n%s", name, c.Port, err, c.proc.Tail())
	}
	return c
}

// waitReady connects until the server answers a query, the server exits or startTimeout passes.
func (c *Cluster) waitReady() error {
	return poll(c, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	})
}

// waitStreaming waits until replica is in recovery and primary streams WAL to it.
func waitStreaming(primary, replica *Cluster) error {
	return poll(replica, func(ctx context.Context) error {
		var inRecovery bool
		if err := queryRow(ctx, replica, "select pg_is_in_recovery()", &inRecovery); err != nil {
			return err
		}
		if !inRecovery {
			return errors.New("replica is not in recovery")
		}
		var streaming int
		if err := queryRow(ctx, primary, "select count(*) from pg_stat_replication where state = 'streaming'", &streaming); err != nil {
			return err
		}
		if streaming == 0 {
			return errors.New("primary's pg_stat_replication shows no streaming replica")
		}
		return nil
	})
}

func queryRow(ctx context.Context, c *Cluster, sql string, dest any) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest)
}

// poll calls check until it succeeds, c's server exits or startTimeout passes.
func poll(c *Cluster, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, 5*time.Second)
		err := check(attempt)
		stop()
		if err == nil {
			return nil
		}
		select {
		case <-c.proc.Done():
			return fmt.Errorf("server exited: %v", c.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", startTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Package localpg runs PostgreSQL servers on this machine from the installed server binaries:
// the example databases of the local stack (`lifeboat dev`) and throwaway clusters in tests.
// When the caller is root, every server runs as the postgres OS user, as PostgreSQL requires.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres, pg_basebackup) not found: apt-get install postgresql")

// Env is a folder holding data directories and sockets, and the user the servers run as.
type Env struct {
	Bin  string // folder with initdb, postgres, pg_basebackup
	Base string // data directories and sockets live here
	cred *syscall.Credential
}

// NewEnv prepares base (created if missing) for servers. As root it hands base to the postgres
// OS user and lets that user through base's parent folders.
func NewEnv(base string) (*Env, error) {
	bin := BinDir()
	if bin == "" {
		return nil, ErrNoBinaries
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	e := &Env{Bin: bin, Base: base}
	if os.Geteuid() != 0 {
		return e, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running PostgreSQL as root needs the postgres OS user (apt-get install postgresql creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(base, uid, gid); err != nil {
		return nil, fmt.Errorf("hand %s to the postgres user: %w", base, err)
	}
	// The postgres user must be able to reach base: let it (and others) through private parents,
	// without letting anyone list them.
	for dir := filepath.Dir(base); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
				return nil, fmt.Errorf("let the postgres user through %s: %w", dir, err)
			}
		}
	}
	e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return e, nil
}

// BinDir returns the folder holding the PostgreSQL server binaries, or "" when there is none.
func BinDir() string {
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

// Command prepares a PostgreSQL binary to run in Base as the right user.
func (e *Env) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(e.Bin, name), args...)
	cmd.Dir = e.Base
	cmd.Env = append(os.Environ(), "HOME="+e.Base, "LC_ALL=C")
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	return cmd
}

// Run runs a PostgreSQL binary to completion; its output is in the error.
func (e *Env) Run(name string, args ...string) error {
	if out, err := e.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// Dir is the data directory called name in Base.
func (e *Env) Dir(name string) string { return filepath.Join(e.Base, name) }

// Init creates a cluster in data directory name whose superuser postgres logs in without a
// password from this machine.
func (e *Env) Init(name string) error {
	return e.Run("initdb", "-D", e.Dir(name), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
}

// CloneReplica fills data directory name with a base backup of the server at host:port,
// configured to stream from it as a standby.
func (e *Env) CloneReplica(name, host string, port int) error {
	return e.Run("pg_basebackup", "-h", host, "-p", strconv.Itoa(port), "-U", "postgres",
		"-D", e.Dir(name), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
}

// Server prepares the postmaster of data directory name, listening on host:port with its socket
// in Base. durable false turns fsync off, for throwaway clusters.
func (e *Env) Server(name, host string, port int, durable bool) *exec.Cmd {
	args := []string{"-D", e.Dir(name), "-p", strconv.Itoa(port), "-k", e.Base, "-c", "listen_addresses=" + host}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	return e.Command("postgres", args...)
}

// DSN is a connection URL for database db as the superuser postgres.
func DSN(host string, port int, db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort(host, strconv.Itoa(port)), db)
}

// Poll calls check until it succeeds, exited is closed, or ctx ends; it returns check's last error.
func Poll(ctx context.Context, exited <-chan struct{}, check func(context.Context) error) error {
	for {
		attempt, stop := context.WithTimeout(ctx, 5*time.Second)
		err := check(attempt)
		stop()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ready reports whether the server at dsn answers a query.
func Ready(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// Streaming reports whether replica is in recovery and primary streams WAL to a standby.
func Streaming(ctx context.Context, primaryDSN, replicaDSN string) error {
	var inRecovery bool
	if err := QueryRow(ctx, replicaDSN, "select pg_is_in_recovery()", &inRecovery); err != nil {
		return err
	}
	if !inRecovery {
		return errors.New("replica is not in recovery")
	}
	var streaming int
	if err := QueryRow(ctx, primaryDSN, "select count(*) from pg_stat_replication where state = 'streaming'", &streaming); err != nil {
		return err
	}
	if streaming == 0 {
		return errors.New("primary's pg_stat_replication shows no streaming replica")
	}
	return nil
}

// QueryRow runs sql on a new connection to dsn and scans its one row into dest.
func QueryRow(ctx context.Context, dsn, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// Exec runs statements on a new connection to dsn, one after the other.
func Exec(ctx context.Context, dsn string, statements ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
)

// devServer is one PostgreSQL server of the local stack.
type devServer struct {
	name     string // data directory in <data-dir>/postgres, and how the banner names it
	env      string // variable that gives its host:port to the worker's configuration
	role     string // what the example plans use it for
	streamOf string // the server it streams from; "" for a primary
	port     int
}

// devServers are the example estate of examples/lifeboat.yaml: the example database with its
// streaming replica (what the example plans treat as production, and only read in drills), and
// the drill pair that drills fence, promote and write to. Replicas are cloned afresh at every
// start, so a promoted drill replica is a standby again for the next drill.
func devServers(base int) []*devServer {
	return []*devServer{
		{name: "example", env: "LIFEBOAT_PG_EXAMPLE", role: "the example database (databases postgres, orders, media)", port: base},
		{name: "example-replica", env: "LIFEBOAT_PG_EXAMPLE_REPLICA", role: "its streaming replica", streamOf: "example", port: base + 1},
		{name: "drill-primary", env: "LIFEBOAT_PG_DRILL_PRIMARY", role: "the drill stand-in for the primary", port: base + 2},
		{name: "drill-replica", env: "LIFEBOAT_PG_DRILL_REPLICA", role: "its replica, which drills promote", streamOf: "drill-primary", port: base + 3},
	}
}

// temporalDevServer holds the Temporal cluster's databases in `lifeboat dev --cluster`: no example
// data, and no variable for the worker.
func temporalDevServer(port int) *devServer {
	return &devServer{name: "temporal", role: "the Temporal cluster's persistence and visibility", port: port}
}

// exampleData is what a new primary of the local stack holds: the databases and tables the
// example plans check, in the order they are created.
var exampleData = []struct {
	db         string
	statements []string
}{
	{"orders", []string{
		`CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, total_cents bigint NOT NULL CHECK (total_cents >= 0), created_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO orders (customer_id, total_cents) SELECT 1 + i % 97, 100 * i FROM generate_series(1, 1000) AS i`,
	}},
	{"media", []string{
		`CREATE TABLE media_objects (id bigserial PRIMARY KEY, path text NOT NULL UNIQUE, bytes bigint NOT NULL)`,
		`INSERT INTO media_objects (path, bytes) SELECT 'images/' || i || '.jpg', 4096 * i FROM generate_series(1, 200) AS i`,
	}},
}

// startDevPostgres starts the servers under dir and returns the worker's environment for them
// and a function that stops them all. Without PostgreSQL binaries it returns localpg.ErrNoBinaries.
func startDevPostgres(ctx context.Context, dir, ip string, servers []*devServer) (env []string, stop func(), err error) {
	for _, s := range servers {
		if err := portFree(ip, s.port); err != nil {
			return nil, nil, fmt.Errorf("%w (choose other ports with --postgres-port, or --postgres=false)", err)
		}
	}
	pg, err := localpg.NewEnv(dir)
	if err != nil {
		return nil, nil, err
	}
	var stops []func(time.Duration)
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i](20 * time.Second)
		}
	}
	byName := map[string]*devServer{}
	for _, s := range servers {
		byName[s.name] = s
		fresh, err := prepareDevServer(pg, ip, s, byName)
		if err != nil {
			stop()
			return nil, nil, err
		}
		logFile, err := os.OpenFile(filepath.Join(dir, s.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			stop()
			return nil, nil, err
		}
		cmd := pg.Server(s.name, ip, s.port, true)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		stopServer, exited, err := startChildSignal(cmd, syscall.SIGINT)
		logFile.Close()
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("start PostgreSQL %s: %w", s.name, err)
		}
		stops = append(stops, stopServer)
		if err := waitDevServer(ctx, ip, s, byName, exited); err != nil {
			stop()
			return nil, nil, fmt.Errorf("PostgreSQL %s on port %d: %w (see %s)", s.name, s.port, err, logFile.Name())
		}
		if fresh && s.streamOf == "" && s.env != "" {
			if err := seedDevServer(ctx, ip, s.port); err != nil {
				stop()
				return nil, nil, fmt.Errorf("PostgreSQL %s: create the example tables: %w", s.name, err)
			}
		}
		if s.env != "" {
			env = append(env, s.env+"="+ip+":"+strconv.Itoa(s.port))
		}
	}
	return env, stop, nil
}

// prepareDevServer creates a primary's data directory once, and a replica's afresh at every start.
// Both are written aside (name.new) and moved into place only once complete, so a clone or initdb
// that fails halfway leaves what was there as it was. Nothing but lifeboat dev's own directories
// is ever removed: a data directory that is not a PostgreSQL cluster is refused, not replaced.
func prepareDevServer(pg *localpg.Env, ip string, s *devServer, byName map[string]*devServer) (fresh bool, err error) {
	dataDir := pg.Dir(s.name)
	if s.streamOf == "" {
		if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
			return false, nil
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("%s is not a PostgreSQL data directory (no PG_VERSION): move it away; lifeboat dev does not remove it", dataDir)
		}
	}
	aside := s.name + ".new"
	if err := os.RemoveAll(pg.Dir(aside)); err != nil { // left by a start that was interrupted
		return false, err
	}
	if s.streamOf != "" {
		err = pg.CloneReplica(aside, ip, byName[s.streamOf].port)
	} else {
		err = pg.Init(aside)
	}
	if err != nil {
		_ = os.RemoveAll(pg.Dir(aside))
		return false, err
	}
	// The old replica goes only once its new clone is complete.
	old := pg.Dir(s.name + ".old")
	if err := os.RemoveAll(old); err != nil {
		return false, err
	}
	if err := os.Rename(dataDir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.Rename(pg.Dir(aside), dataDir); err != nil {
		return false, err
	}
	return true, os.RemoveAll(old)
}

func waitDevServer(ctx context.Context, ip string, s *devServer, byName map[string]*devServer, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-exited:
			close(done)
		case <-ctx.Done():
		}
	}()
	dsn := localpg.DSN(ip, s.port, "postgres")
	if err := localpg.Poll(ctx, done, func(ctx context.Context) error { return localpg.Ready(ctx, dsn) }); err != nil {
		return err
	}
	if s.streamOf == "" {
		return nil
	}
	primary := localpg.DSN(ip, byName[s.streamOf].port, "postgres")
	return localpg.Poll(ctx, done, func(ctx context.Context) error { return localpg.Streaming(ctx, primary, dsn) })
}

func seedDevServer(ctx context.Context, ip string, port int) error {
	for _, d := range exampleData {
		if err := localpg.Exec(ctx, localpg.DSN(ip, port, "postgres"), "CREATE DATABASE "+d.db); err != nil {
			return err
		}
		if err := localpg.Exec(ctx, localpg.DSN(ip, port, d.db), d.statements...); err != nil {
			return err
		}
	}
	return nil
}

// devServersBanner lists the servers for the banner `lifeboat dev` prints.
func devServersBanner(ip string, servers []*devServer) string {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "  PostgreSQL        %s:%d  %s (%s)\n", ip, s.port, s.name, s.role)
	}
	return b.String()
}

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/temporalserver"
)

// workerCount is how many Lifeboat workers `lifeboat dev` runs.
func (o devOptions) workerCount() int {
	switch {
	case o.workers > 0:
		return o.workers
	case o.cluster:
		return 3
	default:
		return 1
	}
}

// runDevCluster is `lifeboat dev --cluster` once PostgreSQL runs: the Temporal cluster on the
// temporal server of the local stack, then the workers, until ctx ends or a process dies.
func (a *app) runDevCluster(ctx context.Context, o devOptions, dataDir, token string, pgEnv []string, pgBanner string) error {
	serverBin, err := findBinary("", "temporal-server", "run `make tools` to build the pinned Temporal server into ./bin")
	if err != nil {
		return err
	}
	sqlTool, err := findBinary("", "temporal-sql-tool", "run `make tools` to build temporal-sql-tool into ./bin")
	if err != nil {
		return err
	}
	workerBin, err := findBinary(o.workerBin, "lifeboat-worker", "run `make build`")
	if err != nil {
		return err
	}
	dir := filepath.Join(dataDir, "cluster")
	fmt.Fprintf(a.stderr, "Starting the Temporal cluster (frontend, history, matching, worker) on %s:%d (logs: %s)…\n", o.ip, o.temporalPort, dir)
	cl, err := temporalserver.Start(ctx, temporalserver.Config{
		Server: serverBin, SQLTool: sqlTool, Dir: dir, IP: o.ip, FrontendPort: o.temporalPort,
		Postgres: temporalserver.Postgres{Host: o.ip, Port: o.postgresPort + 4, User: "postgres"},
	})
	if err != nil {
		return err
	}
	defer cl.Stop()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	clusterDied := cl.Watch(watchCtx)

	type running struct {
		name, base string
		stop       func(time.Duration)
		done       <-chan error
	}
	var workers []running
	defer func() {
		for i := len(workers) - 1; i >= 0; i-- {
			workers[i].stop(40 * time.Second)
		}
	}()
	died := make(chan string, o.workerCount())
	for i := range o.workerCount() {
		name := fmt.Sprintf("worker-%d", i+1)
		listen := net.JoinHostPort(o.ip, strconv.Itoa(o.httpPort+i))
		log, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(workerBin, "--config", a.configPath)
		cmd.Env = append(os.Environ(),
			"TEMPORAL_ADDRESS="+cl.Address(),
			"TEMPORAL_NAMESPACE="+cl.Namespace(),
			"LIFEBOAT_DATA_DIR="+dataDir,
			"LIFEBOAT_CODEC_TOKEN="+token,
			"LIFEBOAT_HTTP_LISTEN="+listen,
			"LIFEBOAT_LOG_FORMAT=text",
		)
		cmd.Env = append(cmd.Env, pgEnv...)
		cmd.Stdout, cmd.Stderr = log, log
		stop, done, err := startChild(cmd)
		log.Close()
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		w := running{name: name, base: "http://" + listen, stop: stop, done: done}
		workers = append(workers, w)
		if err := waitReady(ctx, w.base+"/readyz", done); err != nil {
			return fmt.Errorf("%s did not become ready: %w (see %s)", name, err, log.Name())
		}
		go func() {
			err := <-done
			died <- fmt.Sprintf("%s exited: %v (see %s)", name, err, filepath.Join(dir, name+".log"))
		}()
	}

	var lines strings.Builder
	for _, w := range workers {
		fmt.Fprintf(&lines, "  %-17s %[2]s/healthz  %[2]s/readyz  %[2]s/metrics\n", "Worker "+strings.TrimPrefix(w.name, "worker-"), w.base)
	}
	fmt.Fprintf(a.stdout, `
Lifeboat is running on a Temporal cluster.

  Temporal gRPC     %[1]s (namespace %[2]s; frontend, history, matching and worker processes, 4 history shards)
%[3]s  Logs              %[4]s
%[5]s
Try:
  bin/lifeboat --config %[6]s plan list
  bin/lifeboat --config %[6]s drill primary-db-lost --requester erin --reason "first drill on the cluster"
  bin/temporal workflow list --address %[1]s

Press Ctrl-C to stop.
`, cl.Address(), cl.Namespace(), lines.String(), dir, pgBanner, a.configPath)

	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stderr, "\nStopping…")
		return nil
	case msg := <-died:
		return fmt.Errorf("%s", msg)
	case err := <-clusterDied:
		return err
	}
}

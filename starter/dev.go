package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type devOptions struct {
	dataDir      string
	ip           string
	temporalPort int
	uiPort       int
	httpPort     int
	temporalBin  string
	workerBin    string
	postgres     bool
	postgresPort int
	cluster      bool
	workers      int
}

func (a *app) devCommand() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local stack: Temporal dev server, Web UI and a Lifeboat worker",
		Long: `Run the whole local stack in the foreground until Ctrl-C:

  - a Temporal dev server with SQLite persistence in --data-dir (state survives restarts), its
    Web UI wired to the worker's codec endpoint so encrypted payloads show decrypted;
  - the example estate of examples/lifeboat.yaml, from the PostgreSQL server binaries installed
    here (--postgres=false leaves it out): the example database and its streaming replica, which
    the example plans treat as production and only read in drills, and a drill primary with its
    replica, which drills fence, promote and write to. Data lives in --data-dir/postgres; replicas
    are cloned afresh at every start, so each run can drill the failover again;
  - a lifeboat-worker with --config, which registers Lifeboat's search attributes.

On first start it writes a development encryption key (dev.key), a key that signs evidence
(evidence.key) and a codec token (codec.token)
into --data-dir. Temporal's own log goes to temporal.log there.

With --cluster, Temporal runs as a production cluster does instead: the Temporal server (bin/temporal-server,
built by make tools) as separate frontend, history, matching and worker processes with four history
shards on a PostgreSQL server of its own (the port after the example ones; schema set up with
temporal-sql-tool), and --workers Lifeboat workers (3 unless given) on consecutive HTTP ports from
--http-port. Plans, schedules and drills run there unchanged. The cluster has no Web UI; its logs
are in --data-dir/cluster.`,
		Example: `  lifeboat dev --config examples/lifeboat.yaml
  lifeboat dev --config examples/lifeboat.yaml --cluster`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return usageErr("lifeboat dev needs --config (for example examples/lifeboat.yaml)")
			}
			return a.runDev(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", ".data", "where Temporal's database, the dev key and logs live")
	f.StringVar(&o.ip, "ip", "127.0.0.1", "address every listener binds to")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "Temporal frontend (gRPC) port")
	f.IntVar(&o.uiPort, "ui-port", 8233, "Temporal Web UI port")
	f.IntVar(&o.httpPort, "http-port", 8091, "worker HTTP port (health, metrics, codec)")
	f.StringVar(&o.temporalBin, "temporal", "", "temporal CLI binary (default: bin/temporal beside lifeboat, ./bin/temporal, or PATH)")
	f.StringVar(&o.workerBin, "worker", "", "lifeboat-worker binary (default: beside lifeboat, or PATH)")
	f.BoolVar(&o.postgres, "postgres", true, "start the example PostgreSQL servers")
	f.IntVar(&o.postgresPort, "postgres-port", 15432, "port of the example database; its replica and the drill pair take the next three (and the cluster's database, with --cluster, the fourth)")
	f.BoolVar(&o.cluster, "cluster", false, "run Temporal as a cluster of one process per service on PostgreSQL, with several workers")
	f.IntVar(&o.workers, "workers", 0, "how many Lifeboat workers to run (default 1, or 3 with --cluster)")
	return cmd
}

func (a *app) runDev(ctx context.Context, o devOptions) error {
	if o.workers > 1 && !o.cluster {
		return usageErr("lifeboat dev runs one worker beside the dev server; --workers more than 1 needs --cluster")
	}
	var temporalBin string
	var err error
	if !o.cluster {
		if temporalBin, err = findBinary(o.temporalBin, "temporal", "run `make tools` to build the pinned Temporal CLI into ./bin"); err != nil {
			return err
		}
	}
	workerBin, err := findBinary(o.workerBin, "lifeboat-worker", "run `make build`")
	if err != nil {
		return err
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if _, err := ensureFile(filepath.Join(dataDir, "dev.key"), codec.GenerateKey); err != nil {
		return err
	}
	if _, err := ensureFile(filepath.Join(dataDir, "evidence.key"), audit.GenerateSigningKey); err != nil {
		return err
	}
	token, err := ensureFile(filepath.Join(dataDir, "codec.token"), func() string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
	if err != nil {
		return err
	}
	ports := []int{o.temporalPort, o.uiPort, o.httpPort}
	if o.cluster {
		ports = []int{o.temporalPort}
		for i := range o.workerCount() {
			ports = append(ports, o.httpPort+i)
		}
	}
	for _, p := range ports {
		if err := portFree(o.ip, p); err != nil {
			return err
		}
	}

	var pgEnv []string
	var pgBanner string
	var servers []*devServer
	if o.postgres {
		servers = devServers(o.postgresPort)
	}
	if o.cluster {
		servers = append(servers, temporalDevServer(o.postgresPort+4))
	}
	if len(servers) > 0 {
		env, stopPostgres, err := startDevPostgres(ctx, filepath.Join(dataDir, "postgres"), o.ip, servers)
		switch {
		case errors.Is(err, localpg.ErrNoBinaries) && !o.cluster:
			fmt.Fprintf(a.stderr, "Not starting the example databases: %v. Plan steps that use them will fail.\n", err)
		case err != nil:
			return err
		default:
			defer stopPostgres()
			pgEnv, pgBanner = env, devServersBanner(o.ip, servers)
		}
	}
	if o.cluster {
		return a.runDevCluster(ctx, o, dataDir, token, pgEnv, pgBanner)
	}

	temporalAddr := net.JoinHostPort(o.ip, strconv.Itoa(o.temporalPort))
	httpBase := "http://" + net.JoinHostPort(o.ip, strconv.Itoa(o.httpPort))
	uiURL := fmt.Sprintf("http://localhost:%d", o.uiPort)
	logFile, err := os.OpenFile(filepath.Join(dataDir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()

	server := exec.Command(temporalBin, "server", "start-dev",
		"--ip", o.ip,
		"--port", strconv.Itoa(o.temporalPort),
		"--ui-port", strconv.Itoa(o.uiPort),
		"--db-filename", filepath.Join(dataDir, "temporal.db"),
		"--ui-codec-endpoint", httpBase+"/codec/"+token,
		"--log-level", "warn",
	)
	server.Stdout, server.Stderr = logFile, logFile
	stopServer, serverDone, err := startChild(server)
	if err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	defer stopServer(15 * time.Second)
	fmt.Fprintf(a.stderr, "Starting Temporal dev server on %s (log: %s)…\n", temporalAddr, logFile.Name())
	if err := waitTemporal(ctx, temporalAddr, serverDone); err != nil {
		return fmt.Errorf("temporal dev server did not come up: %w (see %s)", err, logFile.Name())
	}

	worker := exec.Command(workerBin, "--config", a.configPath)
	worker.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE=default",
		"LIFEBOAT_DATA_DIR="+dataDir,
		"LIFEBOAT_CODEC_TOKEN="+token,
		"LIFEBOAT_HTTP_LISTEN="+net.JoinHostPort(o.ip, strconv.Itoa(o.httpPort)),
		"LIFEBOAT_UI_URL="+uiURL,
		"LIFEBOAT_LOG_FORMAT=text",
	)
	worker.Env = append(worker.Env, pgEnv...)
	worker.Stdout, worker.Stderr = a.stderr, a.stderr
	stopWorker, workerDone, err := startChild(worker)
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer stopWorker(40 * time.Second)
	if err := waitReady(ctx, httpBase+"/readyz", workerDone); err != nil {
		return fmt.Errorf("worker did not become ready: %w", err)
	}

	fmt.Fprintf(a.stdout, `
Lifeboat is running.

  Temporal Web UI   %[1]s
  Waiting for you   %[1]s/namespaces/default/workflows?query=LifeboatPhase%%3D%%22awaiting+approval%%22  (columns and views: docs/web-ui.md)
  Temporal gRPC     %[2]s
  Worker            %[3]s/healthz  %[3]s/readyz  %[3]s/metrics
  Codec endpoint    %[3]s/codec  (token in %[4]s)
  State             %[5]s (kept across restarts)
%[7]s
Try:
  bin/lifeboat --config %[6]s probe run --check worker-health --wait
  bin/temporal workflow start --address %[2]s --type HealthProbe --task-queue lifeboat --input-file examples/probe.json
  bin/temporal workflow list --address %[2]s --query 'LifeboatKind="probe"'
  bin/temporal workflow show --address %[2]s -w WORKFLOW-ID --codec-endpoint %[3]s/codec --codec-auth "Bearer $(cat %[4]s)"
  bin/lifeboat --config %[6]s plan list
  bin/lifeboat --config %[6]s drill primary-db-lost --requester erin --reason "first drill"

Press Ctrl-C to stop.
`, uiURL, temporalAddr, httpBase, filepath.Join(o.dataDir, "codec.token"), o.dataDir, a.configPath, pgBanner)

	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stderr, "\nStopping…")
		return nil
	case err := <-workerDone:
		return fmt.Errorf("worker exited: %v", err)
	case err := <-serverDone:
		return fmt.Errorf("temporal dev server exited: %v (see %s)", err, logFile.Name())
	}
}

// findBinary resolves an explicit path, a file beside this executable, ./bin, or PATH.
func findBinary(explicit, name, hint string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	var candidates []string
	if self, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(self), name))
	}
	candidates = append(candidates, filepath.Join("bin", name))
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found beside lifeboat, in ./bin or on PATH: %s", name, hint)
}

// ensureFile returns the trimmed content of path, writing gen() there first if it does not exist.
func ensureFile(path string, gen func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v := gen()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

func portFree(ip string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is taken (is another stack running?): %w", port, ip, err)
	}
	return ln.Close()
}

// startChild starts cmd in its own process group, so Ctrl-C reaches only lifeboat, which then stops
// the children in order. stop sends SIGTERM, and SIGKILL after the grace period.
func startChild(cmd *exec.Cmd) (stop func(grace time.Duration), done <-chan error, err error) {
	return startChildSignal(cmd, syscall.SIGTERM)
}

// startChildSignal is startChild for a child that stops on sig (PostgreSQL: SIGINT, a fast
// shutdown). The credentials cmd carries are kept.
func startChildSignal(cmd *exec.Cmd, sig syscall.Signal) (stop func(grace time.Duration), done <-chan error, err error) {
	attr := childProcAttr()
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	ch := make(chan error, 1)
	exited := make(chan struct{})
	go func() { ch <- cmd.Wait(); close(exited) }()
	stop = func(grace time.Duration) {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	return stop, ch, nil
}

func waitTemporal(ctx context.Context, addr string, exited <-chan error) error {
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := client.DialContext(dctx, client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(discardLogger())})
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	return last
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(90 * time.Second)
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err
		}
		time.Sleep(300 * time.Millisecond)
	}
	return last
}

package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/temporalserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// Cluster is a running Temporal cluster with its PostgreSQL.
type Cluster struct {
	*temporalserver.Cluster
	PG  *pgtest.Cluster
	Dir string // the servers' configuration and logs
}

// Option changes what Start sets up.
type Option func(*temporalserver.Config)

// WithTLS turns TLS on for the frontend.
func WithTLS(tls temporalserver.TLS) Option {
	return func(c *temporalserver.Config) { c.TLS = &tls }
}

// WithDynamicConfig sets a dynamic configuration value.
func WithDynamicConfig(key string, value any) Option {
	return func(c *temporalserver.Config) {
		if c.DynamicConfig == nil {
			c.DynamicConfig = map[string]any{}
		}
		c.DynamicConfig[key] = value
	}
}

// Start runs PostgreSQL and a Temporal cluster on it with four history shards: frontend, history,
// matching and worker services as separate processes built from the pinned server (`make tools`),
// the schema set up by temporal-sql-tool. Everything stops when the test ends; a failing test
// shows the tail of every service's log.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	repo.Integration(t, "a Temporal cluster")
	pg := pgtest.Start(t)
	dir := t.TempDir()
	cfg := temporalserver.Config{
		Server:       repo.Bin(t, "temporal-server"),
		SQLTool:      repo.Bin(t, "temporal-sql-tool"),
		Dir:          dir,
		FrontendPort: repo.FreePort(t),
		FreePort:     func() (int, error) { return repo.FreePort(t), nil },
		Postgres:     temporalserver.Postgres{Host: pg.Host, Port: pg.Port, User: "postgres"},
		Shards:       4,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ts, err := temporalserver.Start(ctx, cfg)
	c := &Cluster{Cluster: ts, PG: pg, Dir: dir}
	if err != nil {
		t.Fatalf("cluster: %v\n%s", err, logTails(dir))
	}
	t.Cleanup(func() {
		ts.Stop()
		if t.Failed() {
			t.Logf("Temporal cluster logs (tails):\n%s", logTails(dir))
		}
	})
	return c
}

// logTails returns the last lines of every service's log in dir.
func logTails(dir string) string {
	var b strings.Builder
	for _, s := range temporalserver.Services {
		data, _ := os.ReadFile(filepath.Join(dir, s+".log"))
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", s, data)
	}
	return b.String()
}

// Dial connects a client to the cluster's namespace; it is closed when the test ends.
func (c *Cluster) Dial(t testing.TB) client.Client {
	t.Helper()
	opts, err := c.ClientOptions("", "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("cluster: dial %s: %v", c.Address(), err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Worker is a lifeboat-worker process.
type Worker struct {
	Name string
	HTTP string // base URL of its HTTP endpoints
	*repo.Process
	pid int
}

// Identity is the worker's identity in Temporal, as it shows in histories and pending activities.
func (w *Worker) Identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("lifeboat-worker@%s:%d", host, w.pid)
}

// StartWorker runs bin (lifeboat-worker) with config, its HTTP endpoints on a port of its own and
// env added to this process's environment, and waits until /readyz answers 200.
func StartWorker(t testing.TB, name, bin, config string, env ...string) *Worker {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	cmd := exec.Command(bin, "--config", config, "--http-listen", addr)
	cmd.Env = append(os.Environ(), env...)
	w := &Worker{Name: name, HTTP: "http://" + addr, Process: repo.StartProcess(t, name, cmd, syscall.SIGTERM)}
	w.pid = cmd.Process.Pid
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(w.HTTP + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w
			}
		}
		select {
		case <-w.Done():
			t.Fatalf("%s exited before it was ready: %v\n%s", name, w.Err(), w.Tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 90s:\n%s", name, w.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

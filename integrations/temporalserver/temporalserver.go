package temporalserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Services are the Temporal server's services, in the order Start starts them: one process each.
var Services = []string{"history", "matching", "frontend", "worker"}

// Postgres is the PostgreSQL server that holds the cluster's persistence and visibility databases.
type Postgres struct {
	Host     string
	Port     int
	User     string // must be allowed to create databases
	Password string // "" when the server trusts local connections
}

// TLS turns TLS on for the frontend: clients (and the server's own worker service) connect with
// TLS, and with RequireClientCert they must present a certificate signed by CAFile (mTLS).
type TLS struct {
	CertFile, KeyFile string // the frontend's certificate, for ServerName
	CAFile            string // signs the frontend's certificate and the clients'
	ServerName        string // the name in CertFile that clients check
	RequireClientCert bool
}

// Config describes a cluster.
type Config struct {
	Server  string // temporal-server binary
	SQLTool string // temporal-sql-tool binary
	Dir     string // configuration and one log per service live here
	IP      string // every listener binds here; default 127.0.0.1

	// Ports: the frontend's gRPC port, and a source of free ports for the rest (membership,
	// the other services' gRPC, the frontend's HTTP API). FreePort nil takes Frontend+1, +2, ...
	FrontendPort int
	FreePort     func() (int, error)

	Postgres Postgres
	// Databases: the persistence and visibility databases; default temporal and temporal_visibility.
	Database, VisibilityDatabase string
	Shards                       int    // history shards; default 4
	Namespace                    string // registered at start when missing; default "default"
	TLS                          *TLS
	// DynamicConfig adds dynamic configuration values: key → value (YAML-encodable), for every
	// constraint.
	DynamicConfig map[string]any
}

func (c *Config) defaults() {
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	if c.Database == "" {
		c.Database = "temporal"
	}
	if c.VisibilityDatabase == "" {
		c.VisibilityDatabase = "temporal_visibility"
	}
	if c.Shards == 0 {
		c.Shards = 4
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
}

// Cluster is a running cluster.
type Cluster struct {
	cfg   Config
	ports map[string]servicePorts

	mu    sync.Mutex
	procs map[string]*process
}

// servicePorts are one service's listeners; HTTP is the frontend's HTTP API, 0 for the others.
type servicePorts struct{ GRPC, Membership, HTTP int }

// Address is the frontend's host:port, for clients and workers.
func (c *Cluster) Address() string {
	return net.JoinHostPort(c.cfg.IP, strconv.Itoa(c.cfg.FrontendPort))
}

// Namespace is the namespace Start registered.
func (c *Cluster) Namespace() string { return c.cfg.Namespace }

// Log is the path of service's log.
func (c *Cluster) Log(service string) string { return filepath.Join(c.cfg.Dir, service+".log") }

// Start sets up the databases' schema with the SQL tool (a no-op for a schema already current),
// writes the server's configuration into cfg.Dir, starts every service as its own process and waits
// until the frontend serves cfg.Namespace, which it registers when missing. Stop ends it.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg.defaults()
	if cfg.FrontendPort == 0 {
		return nil, errors.New("temporalserver: FrontendPort is required")
	}
	for _, bin := range []string{cfg.Server, cfg.SQLTool} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("temporalserver: %w (run `make tools`)", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "config"), 0o700); err != nil {
		return nil, err
	}
	if err := SetupSchema(ctx, cfg); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, procs: map[string]*process{}}
	if err := c.assignPorts(); err != nil {
		return nil, err
	}
	if err := c.writeConfig(); err != nil {
		return nil, err
	}
	// One at a time: the first to start initialises the cluster's metadata in the database, and
	// services starting together on a new database race to do it.
	for _, s := range Services {
		err := c.startService(s)
		if err == nil {
			err = c.waitListening(ctx, s)
		}
		if err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitServing(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) assignPorts() error {
	next := c.cfg.FrontendPort
	free := c.cfg.FreePort
	if free == nil {
		free = func() (int, error) {
			next++
			ln, err := net.Listen("tcp", net.JoinHostPort(c.cfg.IP, strconv.Itoa(next)))
			if err != nil {
				return 0, fmt.Errorf("temporalserver: port %d on %s, for the services after the frontend's %d, is taken: %w", next, c.cfg.IP, c.cfg.FrontendPort, err)
			}
			return next, ln.Close()
		}
	}
	c.ports = map[string]servicePorts{}
	for _, s := range Services {
		var p servicePorts
		var err error
		if s == "frontend" {
			p.GRPC = c.cfg.FrontendPort
		} else if p.GRPC, err = free(); err != nil {
			return err
		}
		if p.Membership, err = free(); err != nil {
			return err
		}
		if s == "frontend" {
			if p.HTTP, err = free(); err != nil {
				return err
			}
		}
		c.ports[s] = p
	}
	return nil
}

// SetupSchema creates cfg's databases when missing and brings their schema up to the server's
// version with temporal-sql-tool, as an operator would.
func SetupSchema(ctx context.Context, cfg Config) error {
	cfg.defaults()
	for _, db := range []struct{ name, schema string }{
		{cfg.Database, "postgresql/v12/temporal"},
		{cfg.VisibilityDatabase, "postgresql/v12/visibility"},
	} {
		exists, err := databaseExists(ctx, cfg.Postgres, db.name)
		if err != nil {
			return err
		}
		if !exists {
			if err := sqlTool(ctx, cfg, db.name, "create-database"); err != nil {
				return err
			}
			if err := sqlTool(ctx, cfg, db.name, "setup-schema", "-v", "0.0"); err != nil {
				return err
			}
		}
		if err := sqlTool(ctx, cfg, db.name, "update-schema", "--schema-name", db.schema); err != nil {
			return err
		}
	}
	return nil
}

func sqlTool(ctx context.Context, cfg Config, db string, args ...string) error {
	base := []string{"--plugin", "postgres12", "--ep", cfg.Postgres.Host, "-p", strconv.Itoa(cfg.Postgres.Port),
		"-u", cfg.Postgres.User, "--db", db}
	if cfg.Postgres.Password != "" {
		base = append(base, "--pw", cfg.Postgres.Password)
	}
	cmd := exec.CommandContext(ctx, cfg.SQLTool, append(base, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("temporal-sql-tool %s on database %s: %w\n%s", args[0], db, err, out)
	}
	return nil
}

func (c *Cluster) writeConfig() error {
	var b bytes.Buffer
	if err := serverConfig.Execute(&b, map[string]any{"C": c.cfg, "Ports": c.ports, "DynamicConfig": filepath.Join(c.cfg.Dir, "config", "dynamicconfig.yaml")}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.cfg.Dir, "config", "cluster.yaml"), b.Bytes(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.cfg.Dir, "config", "dynamicconfig.yaml"), dynamicConfigYAML(c.cfg.DynamicConfig), 0o600)
}

// dynamicConfigYAML writes values in the dynamic config file's format, keys sorted.
func dynamicConfigYAML(values map[string]any) []byte {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:\n  - value: %v\n", k, yamlScalar(values[k]))
	}
	return b.Bytes()
}

func yamlScalar(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func (c *Cluster) startService(service string) error {
	log, err := os.OpenFile(c.Log(service), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.cfg.Server, "--root", c.cfg.Dir, "--config", "config", "--env", "cluster", "--allow-no-auth",
		"start", "--service", service)
	cmd.Stdout, cmd.Stderr = log, log
	p, err := startProcess(cmd, log)
	if err != nil {
		return fmt.Errorf("temporalserver: start %s: %w", service, err)
	}
	c.mu.Lock()
	c.procs[service] = p
	c.mu.Unlock()
	return nil
}

// waitListening waits until service has joined the membership ring: its membership port accepts connections (the worker service serves no gRPC).
func (c *Cluster) waitListening(ctx context.Context, service string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	addr := net.JoinHostPort(c.cfg.IP, strconv.Itoa(c.ports[service].Membership))
	var d net.Dialer
	for {
		if e := c.Exited(); e != "" {
			return fmt.Errorf("temporalserver: %s", e)
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalserver: %s not listening on %s after %s (see %s)", service, addr, startTimeout, c.Log(service))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) proc(service string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[service]
	if !ok {
		return nil, fmt.Errorf("temporalserver: no service %q (one of %s)", service, strings.Join(Services, ", "))
	}
	return p, nil
}

// PIDs are the services' process IDs, in the order of Services, for reading the CPU time and
// memory they use.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, s := range Services {
		if p, ok := c.procs[s]; ok {
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// Kill ends service's process with SIGKILL, as a crash would.
func (c *Cluster) Kill(service string) error {
	p, err := c.proc(service)
	if err != nil {
		return err
	}
	p.kill()
	return nil
}

// Restart stops service (SIGTERM, then SIGKILL after 20 s), starts it again and waits until the
// frontend serves the namespace again.
func (c *Cluster) Restart(ctx context.Context, service string) error {
	p, err := c.proc(service)
	if err != nil {
		return err
	}
	p.stop(20 * time.Second)
	if err := c.startService(service); err != nil {
		return err
	}
	return c.waitServing(ctx)
}

// Stop stops every service, the frontend first so that clients see it go before the rest.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	for _, s := range []string{"frontend", "worker", "matching", "history"} {
		if p := procs[s]; p != nil {
			p.stop(20 * time.Second)
		}
	}
}

// Watch returns a channel that receives a message when a service's process ends on its own (not
// through Restart or Stop), checking every half second until ctx ends.
func (c *Cluster) Watch(ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if e := c.Exited(); e != "" {
					ch <- errors.New(e)
					return
				}
			}
		}
	}()
	return ch
}

// Exited reports a service whose process has ended, with how; "" while all run.
func (c *Cluster) Exited() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range Services {
		if p := c.procs[s]; p != nil {
			select {
			case <-p.done:
				return fmt.Sprintf("%s exited: %v (see %s)", s, p.err, c.Log(s))
			default:
			}
		}
	}
	return ""
}

var serverConfig = template.Must(template.New("cluster.yaml").Funcs(template.FuncMap{"quote": strconv.Quote}).Parse(`# Written by lifeboat: a Temporal cluster of one process per service on PostgreSQL.
log:
  stdout: true
  level: warn

persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: {{.C.Shards}}
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: {{quote .C.Database}}
        connectAddr: "{{.C.Postgres.Host}}:{{.C.Postgres.Port}}"
        connectProtocol: tcp
        user: {{quote .C.Postgres.User}}
        password: {{quote .C.Postgres.Password}}
        maxConns: 12
        maxIdleConns: 12
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: {{quote .C.VisibilityDatabase}}
        connectAddr: "{{.C.Postgres.Host}}:{{.C.Postgres.Port}}"
        connectProtocol: tcp
        user: {{quote .C.Postgres.User}}
        password: {{quote .C.Postgres.Password}}
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: 1h

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: {{quote .C.IP}}
{{- with .C.TLS}}
  tls:
    frontend:
      server:
        certFile: {{quote .CertFile}}
        keyFile: {{quote .KeyFile}}
        requireClientAuth: {{.RequireClientCert}}
        clientCaFiles: [{{quote .CAFile}}]
      client:
        serverName: {{quote .ServerName}}
        rootCaFiles: [{{quote .CAFile}}]
    # The cluster's own clients of the frontend (the worker service, and the frontend calling
    # itself) present the frontend's certificate.
    systemWorker:
      certFile: {{quote .CertFile}}
      keyFile: {{quote .KeyFile}}
      client:
        serverName: {{quote .ServerName}}
        rootCaFiles: [{{quote .CAFile}}]
{{- end}}

services:
{{- range $name, $p := .Ports}}
  {{$name}}:
    rpc:
      grpcPort: {{$p.GRPC}}
      membershipPort: {{$p.Membership}}
      bindOnIP: {{quote $.C.IP}}
{{- if $p.HTTP}}
      httpPort: {{$p.HTTP}}
{{- end}}
{{- end}}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "{{.C.IP}}:{{.C.FrontendPort}}"

dcRedirectionPolicy:
  policy: noop

dynamicConfigClient:
  filepath: {{quote .DynamicConfig}}
  pollInterval: 10s
`))

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/route"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/probe/pgprobe"
	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/readiness"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/worker/slackdecider"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the worker failed while running
	exitUsage   = 2 // bad flags or an invalid configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// usageError marks errors that exit with exitUsage.
type usageError struct{ error }

// run is the whole program, so tests can call it: it returns the exit code.
func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) int {
	if err := serve(ctx, args, env, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "lifeboat-worker:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func serve(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	cfg, mode, err := loadConfig(args, env, stderr)
	if err != nil {
		return err
	}
	switch mode {
	case modeCheck:
		fmt.Fprintln(stdout, "configuration is valid")
		return nil
	case modeHealthcheck:
		return healthcheck(ctx, cfg, stdout)
	}
	logger := cfg.Log.NewLogger(stderr).With("service", "lifeboat-worker")
	opts, encrypted, err := cfg.ClientOptions(env)
	if err != nil {
		return usageError{err}
	}
	switch {
	case cfg.Identity.Mode == identity.TrustClient:
		logger.Warn("identity mode trust-client: identities are taken as typed, and records and reports say so; anyone who can reach Temporal can act under any name in the directory")
	}
	if !encrypted {
		logger.Warn("payload encryption is off: workflow inputs and results are stored in Temporal as plain JSON; configure encryption.keys to encrypt them")
	}

	m, err := newMetrics(buildVersion(), logger)
	if err != nil {
		return err
	}
	opts.Logger = sdklog.NewStructuredLogger(logger)
	opts.MetricsHandler = m.sdk
	opts.Identity = workerIdentity()

	srv, err := newServer(cfg, m, logger)
	if err != nil {
		return err
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.serve() }()
	defer srv.shutdown()
	logger.Info("http listening", "addr", srv.addr(), "codec", encrypted)

	c, err := dial(ctx, opts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	srv.setClient(c)

	if cfg.Temporal.ManageSearchAttributes {
		added, err := searchattr.Ensure(ctx, c, opts.Namespace, workflows.SearchAttributes)
		if err != nil {
			return err
		}
		if len(added) > 0 {
			logger.Info("registered search attributes", "names", added, "namespace", opts.Namespace)
		}
	}

	deployment, err := cfg.Worker.DeploymentOptions(buildVersion())
	if err != nil {
		return usageError{err}
	}
	// With versioning on, each workflow type's registration says whether its runs stay on this
	// version or move to the current one (workflows.Registrations).
	wopts := cfg.Worker.Options()
	wopts.DeploymentOptions = deployment
	w := worker.New(c, cfg.Worker.TaskQueue, wopts)
	acts, err := newActivities(ctx, cfg, env, c, logger)
	if err != nil {
		return err
	}
	workflows.RegisterWorkflows(w)
	acts.Register(w)
	if srv.readiness != nil && acts.Evidence.Store != nil {
		keys, err := cfg.Evidence.Keys(ctx, secrets.Static(cfg.Secrets))
		if err != nil {
			return usageError{err}
		}
		srv.readiness.SetDrills(readiness.EvidenceDrills{Store: acts.Evidence.Store, Keys: keys})
	}
	if acts.Audit.Ledger != nil {
		changes := &changeRecorder{ledger: acts.Audit.Ledger, cfg: cfg, logger: logger}
		go changes.run(ctx)
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %q: %w", cfg.Worker.TaskQueue, err)
	}
	if cfg.Slack != nil {
		stop, err := startSlack(ctx, cfg, c, srv, m, logger)
		if err != nil {
			w.Stop()
			return err
		}
		defer stop()
	}
	if cfg.Schedules.SyncOnStart {
		syncer := &schedules.Syncer{Client: c, TaskQueue: cfg.Worker.TaskQueue, Owner: cfg.Schedules.Owner,
			CatchupWindow: cfg.Schedules.CatchupWindow.D(), Logger: logger, Drills: cfg.Recovery.Drills}
		if _, err := syncer.Sync(ctx, cfg.Assets); err != nil {
			// Schedules already in place keep running; the worker serves what it can.
			logger.Error("schedules not fully synced; fix and run `lifeboat schedule sync`", "error", err)
		}
	}
	srv.setReady(true)
	m.ready.Set(1)
	started := []any{"task_queue", cfg.Worker.TaskQueue, "namespace", opts.Namespace, "address", opts.HostPort, "version", buildVersion()}
	if deployment.UseVersioning {
		started = append(started, "deployment_version", versionString(deployment.Version))
		go reportVersion(ctx, c.WorkerDeploymentClient(), deployment.Version, logger)
	}
	logger.Info("worker started", started...)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: waiting for running activities", "timeout", cfg.Worker.ShutdownTimeout.D())
	case runErr = <-srvErr:
		runErr = fmt.Errorf("http server: %w", runErr)
	}
	srv.setReady(false)
	m.ready.Set(0)
	w.Stop()
	logger.Info("worker stopped")
	return runErr
}

// What the process was asked to do.
type mode int

const (
	modeServe mode = iota
	modeCheck
	modeHealthcheck
)

func loadConfig(args []string, env config.Env, stderr io.Writer) (cfg config.Config, m mode, err error) {
	fs := flag.NewFlagSet("lifeboat-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultPath, _ := env("LIFEBOAT_CONFIG")
	path := fs.String("config", defaultPath, "configuration file (YAML); env LIFEBOAT_CONFIG")
	listen := fs.String("http-listen", "", "HTTP listen address, overrides http.listen")
	taskQueue := fs.String("task-queue", "", "task queue, overrides worker.task_queue")
	level := fs.String("log-level", "", "debug, info, warn or error, overrides log.level")
	checkOnly := fs.Bool("check", false, "validate the configuration and exit")
	healthOnly := fs.Bool("healthcheck", false, "ask the running worker's /readyz and exit 0 when ready, 1 otherwise (for container health checks)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: lifeboat-worker [flags]\n\nRuns Lifeboat's Temporal worker and its HTTP endpoints (/healthz, /readyz, /metrics, /codec,\n/identity/assert).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nEnvironment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS* override the temporal section;\n")
		for _, k := range sortedKeys(config.EnvVars) {
			fmt.Fprintf(stderr, "  %s sets %s\n", k, config.EnvVars[k])
		}
		fmt.Fprint(stderr, "\nExit codes: 0 clean shutdown, 1 failure while running, 2 bad flags or invalid configuration.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, modeServe, err
		}
		return cfg, modeServe, usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stderr, "lifeboat-worker", buildVersion())
		return cfg, modeServe, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return cfg, modeServe, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	cfg, err = config.Load(*path, env)
	if err != nil {
		return cfg, modeServe, usageError{err}
	}
	for dst, v := range map[*string]string{&cfg.HTTP.Listen: *listen, &cfg.Worker.TaskQueue: *taskQueue, &cfg.Log.Level: *level} {
		if v != "" {
			*dst = v
		}
	}
	err = cfg.Validate()
	if _, verr := cfg.Worker.DeploymentOptions(buildVersion()); verr != nil {
		err = errors.Join(err, verr)
	}
	if err != nil {
		return cfg, modeServe, usageError{fmt.Errorf("invalid configuration:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))}
	}
	if !cfg.Identity.Configured() {
		return cfg, modeServe, usageError{errors.New("invalid configuration:\n  - identity: required: list the people who start, decide and acknowledge (mode: verified, docs/identity.md), or write `identity: trust-client` to take names as typed")}
	}
	switch {
	case *healthOnly:
		return cfg, modeHealthcheck, nil
	case *checkOnly:
		return cfg, modeCheck, nil
	}
	return cfg, modeServe, nil
}

// healthcheck asks a running worker, at the configured listen address, whether it is ready.
func healthcheck(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	host, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(stdout, string(body))
	return nil
}

// dial connects to Temporal, retrying with backoff until it answers or ctx ends, so the worker can
// start before the server (as under docker compose).
func dial(ctx context.Context, opts client.Options, logger *slog.Logger) (client.Client, error) {
	wait := 500 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := client.DialContext(dctx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
		}
		logger.Warn("waiting for temporal", "address", opts.HostPort, "namespace", opts.Namespace, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}

func workerIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("lifeboat-worker@%s:%d", host, os.Getpid())
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// newActivities builds the activities the worker serves from its configuration. env gives the
// credentials of the audit ledger's storage.
func newActivities(ctx context.Context, cfg config.Config, env config.Env, c client.Client, logger *slog.Logger) (activities.Set, error) {
	sec := secrets.Static(cfg.Secrets)
	// AppendAudit is registered with or without a ledger, so that workflows may always call it;
	// without one it records nothing.
	ledger, err := cfg.Audit.Open(ctx, sec, env)
	if err != nil {
		return activities.Set{}, usageError{err}
	}
	if ledger == nil {
		logger.Info("audit ledger is off: decisions are not recorded; set audit.location to record them (docs/audit.md)")
	} else {
		logger.Info("audit ledger", "location", ledger.Location(), "key_id", ledger.KeyID())
	}
	router, err := route.Build(cfg.Notify, sec.Secret, logger)
	if err != nil {
		return activities.Set{}, usageError{fmt.Errorf("notify: %w", err)}
	}
	catalog := make(map[string]asset.Asset, len(cfg.Assets))
	cloud := false
	for _, a := range cfg.Assets {
		catalog[a.Name] = a
		cloud = cloud || a.Source.RDS != nil || a.Source.EBS != nil
	}
	assets := &activities.Assets{Catalog: catalog, Secrets: sec, ScratchDir: cfg.Worker.ScratchDir, RestoreRoots: cfg.Worker.RestoreRoots, Logger: logger}
	if cloud {
		snaps, err := aws.New(ctx, cfg.AWS.Options())
		if err != nil {
			return activities.Set{}, fmt.Errorf("aws: %w", err)
		}
		assets.Cloud = snaps
	}
	var failover activities.AWSFailover = func(ctx context.Context) (activities.Failover, error) {
		return aws.NewFailover(ctx, cfg.AWS.Options())
	}
	var dir *identity.Directory
	if cfg.Identity.Configured() {
		d, err := cfg.Identity.Resolved(sec)
		if err != nil {
			return activities.Set{}, usageError{err}
		}
		dir = &d
	}
	ev, err := newEvidence(ctx, cfg, env, logger)
	if err != nil {
		return activities.Set{}, err
	}
	return activities.Set{
		Evidence:      ev,
		AlertRules:    &activities.AlertRules{Rules: cfg.Intake.Targets()},
		Identities:    &activities.Identities{Directory: dir},
		Probes:        &activities.Probes{Prober: &probe.Prober{Secrets: sec, Postgres: pgprobe.Check}, Checks: cfg.Probes.ByName(), Logger: logger},
		Actions:       &activities.Actions{Secrets: sec, AWS: onceFailover(failover), Commands: cfg.Recovery.Commands, CommandEnv: cfg.Recovery.CommandEnv, Logger: logger},
		Plans:         &activities.Plans{Dir: cfg.Recovery.PlansDir, DrillSkip: cfg.Recovery.DrillSkip},
		Assets:        assets,
		Notifications: &activities.Notifications{Router: router, Logger: logger},
		Signals:       &activities.Signals{Client: c, TaskQueue: cfg.Worker.TaskQueue},
		Audit:         &activities.Audit{Ledger: ledger},
	}, nil
}

// startSlack takes approval decisions from Slack: on the HTTP server's /slack/interactions, or
// over Socket Mode. stop waits for the work in flight.
func startSlack(ctx context.Context, cfg config.Config, c client.Client, srv *server, m *metrics, logger *slog.Logger) (stop func(), err error) {
	decider, scfg, err := slackDecider(cfg, c)
	if err != nil {
		return nil, usageError{err}
	}
	app, err := slack.Build(scfg, secrets.Static(cfg.Secrets).Secret, slack.Settings{
		Decider: decider,
		Logger:  logger.With("component", "slack"),
		Outcome: func(outcome string) { m.slackClicks.WithLabelValues(outcome).Inc() },
	})
	if err != nil {
		return nil, usageError{err}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if app.Socket != nil {
		go func() {
			defer close(done)
			if err := app.Socket.Run(sctx); err != nil && sctx.Err() == nil {
				logger.Error("slack socket mode stopped", "error", err)
			}
		}()
		logger.Info("slack interactions over socket mode")
	} else {
		close(done)
		srv.slack.set(app.Handler)
		logger.Info("slack interactions at POST /slack/interactions")
	}
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		_ = app.Close(fctx)
	}, nil
}

// slackDecider takes Slack decisions to workflows. With an identity directory, the Slack members
// it lists are who they are (a member the directory does not list cannot decide), and the worker
// signs each decision for the person, so that workflows verifying identities accept it.
func slackDecider(cfg config.Config, c client.Client) (slackdecider.Decider, slack.Config, error) {
	scfg := *cfg.Slack
	d := slackdecider.Decider{Client: c}
	if !cfg.Identity.Configured() {
		return d, scfg, nil
	}
	users := map[string]string{}
	for id, who := range scfg.Users {
		users[id] = who
	}
	for _, p := range cfg.Identity.People {
		if p.Slack == "" {
			continue
		}
		if other, ok := users[p.Slack]; ok && other != p.ID {
			return d, scfg, fmt.Errorf("slack.users: %s is %q there but %q in the identity directory: list Slack members in identity.people only", p.Slack, other, p.ID)
		}
		users[p.Slack] = p.ID
	}
	scfg.Users = users
	if cfg.Identity.SigningKey == "" {
		return d, scfg, nil
	}
	key, err := cfg.Identity.Signer(secrets.Static(cfg.Secrets))
	if err != nil {
		return d, scfg, err
	}
	dir := cfg.Identity.Directory
	dir.MaxTokenAge = cfg.Identity.MaxTokenAge.D()
	dir = dir.WithDefaults()
	d.Sign = func(run slack.Run, dec approval.Decision) (string, error) {
		return identity.Sign(identity.Assertion{Issuer: config.WorkerIssuer, Person: dec.Identity, Channel: "slack", Act: identity.ActDecide,
			Workflow: run.WorkflowID, Run: run.RunID, Gate: dec.Gate, Approve: dec.Approve, Choice: dec.Choice},
			dir.Audience, key, time.Now(), min(time.Minute, dir.MaxTokenAge))
	}
	return d, scfg, nil
}

// onceFailover builds the AWS failover client on first use and keeps it; a failure is retried on
// the next use.
func onceFailover(build activities.AWSFailover) activities.AWSFailover {
	var mu sync.Mutex
	var f activities.Failover
	return func(ctx context.Context) (activities.Failover, error) {
		mu.Lock()
		defer mu.Unlock()
		if f != nil {
			return f, nil
		}
		built, err := build(ctx)
		if err != nil {
			return nil, err
		}
		f = built
		return f, nil
	}
}

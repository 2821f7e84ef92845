package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/route"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/intake"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
)

// Config is the whole worker configuration. Field comments are the configuration reference.
type Config struct {
	Temporal   Temporal   `yaml:"temporal"`
	Worker     Worker     `yaml:"worker"`
	HTTP       HTTP       `yaml:"http"`
	Encryption Encryption `yaml:"encryption"`
	Log        Log        `yaml:"log"`
	// Secrets maps names, as used in workflow inputs (dsn_secret), to values. Write values as
	// ${ENV_VAR} or "file:/path" so that the file holds no secret itself.
	Secrets map[string]string `yaml:"secrets"`
	// Assets are the protected assets: what is backed up, where, how often and how verified.
	Assets []asset.Asset `yaml:"assets"`
	// Services are what users depend on, made of assets, endpoints and the plans that recover
	// them, with objectives (docs/services.md).
	Services []Service `yaml:"services"`
	// Readiness says how often plans are to be drilled and how far back RPO compliance is shown.
	Readiness Readiness `yaml:"readiness"`
	// Notify are the notification routes that assets name in their notify lists. The route named
	// "default" gets alerts of assets that name none; without one, alerts are logged.
	Notify []route.Config `yaml:"notify"`
	// Schedules configures the Temporal Schedules made from the assets.
	Schedules Schedules `yaml:"schedules"`
	// AWS gives access to RDS and EBS for assets protected by cloud snapshots, and to the AWS
	// failover actions of recovery plans.
	AWS AWS `yaml:"aws"`
	// Recovery configures what recovery plans may do on this worker.
	Recovery Recovery `yaml:"recovery"`
	// Slack takes approval decisions from Slack buttons (docs/slack.md); nil leaves it off.
	Slack *slack.Config `yaml:"slack"`
	// Identity is the identity directory and how identities are established.
	Identity Identity `yaml:"identity"`
	// Intake takes alerts (Alertmanager, signed webhooks) that start recoveries (docs/alert-intake.md).
	Intake intake.Config `yaml:"intake"`
	// StatusPage configures the public status page at /status (docs/status-page.md).
	StatusPage statuspage.Config `yaml:"status_page"`
	// Audit keeps a signed ledger of who decided what (docs/audit.md); off without a location.
	Audit Audit `yaml:"audit"`
	// Probes are the health checks probes may run, by name, and the hosts they may reach.
	Probes Probes `yaml:"probes"`
	// Evidence keeps signed records of drills and verifications (docs/evidence.md); off without a
	// location.
	Evidence Evidence `yaml:"evidence"`
}

// Recovery configures the actions of recovery plans.
type Recovery struct {
	// PlansDir holds the recovery plans (*.yaml) the Recovery workflow runs by name; relative to
	// this file. Plans are read when a run starts, so a changed plan needs no restart.
	PlansDir string `yaml:"plans_dir"`
	// Commands is the allow-list of the exec action: a plan names a command, and the worker runs the
	// argv configured here, without a shell. Plans can never give a command line of their own.
	Commands map[string][]string `yaml:"commands"`
	// CommandEnv names the worker's environment variables that commands see, besides PATH, HOME,
	// LANG, LC_ALL, TZ and TMPDIR. No other variable reaches them: the worker's credentials stay
	// with the worker.
	CommandEnv []string `yaml:"command_env"`
	// DrillSkip names actions this worker cannot reach, such as aws.* on a machine without an AWS
	// account: in drills, their steps are skipped with the reason given, instead of failing. A
	// recovery (failover) never skips.
	DrillSkip []plan.DrillSkip `yaml:"drill_skip"`
	// Drills are plans drilled on Temporal Schedules (docs/evidence.md); `lifeboat schedule sync`
	// keeps their schedules.
	Drills []Drill `yaml:"drills"`
}

// Schedules configures how assets' schedules are kept.
type Schedules struct {
	// SyncOnStart creates and updates the schedules and RPO watchdogs when the worker starts
	// (default true); `lifeboat schedule sync` does the same on demand.
	SyncOnStart bool `yaml:"sync_on_start"`
	// Owner names this deployment: sync records it on every schedule and RPO watchdog it creates,
	// and updates, removes and stops only those that carry it. Give every replica of a deployment
	// the same owner, and every deployment sharing the namespace its own. Empty (the default):
	// sync records no owner and never removes or stops anything.
	Owner string `yaml:"owner"`
	// CatchupWindow is how late a missed run may still start (default 1h).
	CatchupWindow units.Duration `yaml:"catchup_window"`
}

// envName is what an environment variable may be called.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ownerName is what schedules.owner may be: it is a search attribute's value, shown in listings.
var ownerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$`)

// Validate returns every problem with the section, joined, or nil.
func (s Schedules) Validate() error {
	var errs []error
	if s.Owner != "" && !ownerName.MatchString(s.Owner) {
		errs = append(errs, fmt.Errorf("schedules.owner: %q: use at most 100 letters, digits and '.', '_', ':', '/', '@', '-', starting with a letter or digit", s.Owner))
	}
	if s.CatchupWindow.D() < time.Minute {
		errs = append(errs, fmt.Errorf("schedules.catchup_window: %s: at least 1m", s.CatchupWindow))
	}
	return errors.Join(errs...)
}

// AWS says how to reach AWS. Without access keys the SDK's default chain is used (environment,
// shared files, SSO, instance and task roles).
type AWS struct {
	// Endpoint overrides every service's endpoint (an AWS-compatible test server).
	Endpoint string `yaml:"endpoint"`
	Profile  string `yaml:"profile"`
	// AccessKeyID and SecretAccessKey are static credentials; write them as ${ENV_VAR}.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Options returns the AWS client configuration.
func (a AWS) Options() aws.Config {
	return aws.Config{Endpoint: a.Endpoint, Profile: a.Profile, AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey}
}

// Temporal says how to reach Temporal. TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and the
// other TEMPORAL_* variables of Temporal's environment configuration override these fields.
type Temporal struct {
	// Address is the frontend's host:port (default localhost:7233).
	Address string `yaml:"address"`
	// Namespace (default "default").
	Namespace string `yaml:"namespace"`
	// APIKey authenticates to Temporal Cloud; setting it turns TLS on.
	APIKey string `yaml:"api_key"`
	TLS    TLS    `yaml:"tls"`
	// UIURL is the Web UI's base URL, for links printed by the CLI (default http://localhost:8233).
	UIURL string `yaml:"ui_url"`
	// ManageSearchAttributes registers Lifeboat's search attributes at start when they are missing
	// (default true). Turn it off where the worker lacks operator rights, and register them once by hand.
	ManageSearchAttributes bool `yaml:"manage_search_attributes"`
}

// TLS configures the connection to Temporal.
type TLS struct {
	// Enabled turns TLS on; it is implied by an API key or a client certificate.
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server with this CA bundle instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mTLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server's certificate.
	ServerName string `yaml:"server_name"`
}

// Worker tunes the Temporal worker.
type Worker struct {
	// TaskQueue the worker polls (default "lifeboat").
	TaskQueue string `yaml:"task_queue"`
	// MaxConcurrentActivities bounds activities running at once (default 50).
	MaxConcurrentActivities int `yaml:"max_concurrent_activities"`
	// MaxConcurrentLocalActivities bounds short local activities, such as probe attempts (default 500).
	MaxConcurrentLocalActivities int `yaml:"max_concurrent_local_activities"`
	// ShutdownTimeout is how long running activities get to finish on SIGTERM (default 30s).
	ShutdownTimeout units.Duration `yaml:"shutdown_timeout"`
	// ScratchDir holds restore drills' scratch copies, removed after each drill (default: the
	// system's temporary directory).
	ScratchDir string `yaml:"scratch_dir"`
	// RestoreRoots are the directories a restore to a target directory may write into; a target
	// outside them (symbolic links followed) is refused. Relative to this file. Default: the
	// scratch directory. In-place restores write where the asset's own paths are, which the asset
	// configures.
	RestoreRoots []string `yaml:"restore_roots"`
	// Versioning puts the worker in a Temporal Worker Deployment, so that a new release does not
	// change running workflows under their feet (docs/upgrading.md). Off by default.
	Versioning Versioning `yaml:"versioning"`
}

// HTTP is the worker's one listener: /healthz, /readyz, /metrics and the codec endpoint.
type HTTP struct {
	// Listen is host:port (default 127.0.0.1:8091). Empty host listens on every interface.
	Listen string `yaml:"listen"`
	Codec  Codec  `yaml:"codec"`
}

// Codec is the endpoint through which the Web UI and CLI decrypt payloads. It is served only when
// encryption keys are configured.
type Codec struct {
	// Tokens accepted as "Authorization: Bearer <token>" or as the path segment before /decode.
	// Required unless the listener is on loopback.
	Tokens []string `yaml:"tokens"`
	// AllowOrigins are the browser origins allowed to call it (default http://localhost:8233 and
	// http://127.0.0.1:8233, the dev server's Web UI).
	AllowOrigins []string `yaml:"allow_origins"`
}

// Encryption configures payload encryption. Without keys, payloads are stored as plain JSON.
type Encryption struct {
	// ActiveKey is the id of the key new payloads are encrypted with (default: the only key).
	ActiveKey string `yaml:"active_key"`
	// Keys lists every key that may be needed to read existing histories. Never reuse an id.
	Keys []Key `yaml:"keys"`
	// EncodeFailures encrypts failures' stack traces (default true with keys). Messages stay
	// readable, with every configured secret's value redacted, unless EncryptFailureMessages.
	EncodeFailures bool `yaml:"encode_failures"`
	// EncryptFailureMessages encrypts failure messages too (default false): the Web UI then shows
	// "Encoded failure" in event rows and the failure panel.
	EncryptFailureMessages bool `yaml:"encrypt_failure_messages"`
}

// Key is one encryption key: 32 bytes in base64 or hex, given inline (from ${ENV}) or in a file.
type Key struct {
	ID     string `yaml:"id"`
	Secret string `yaml:"secret"`
	File   string `yaml:"file"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `yaml:"level"`
	// Format is json or text (default json).
	Format string `yaml:"format"`
}

// Default returns the configuration used where nothing else is said.
func Default() Config {
	return Config{
		Temporal: Temporal{
			Address:                "localhost:7233",
			Namespace:              "default",
			UIURL:                  "http://localhost:8233",
			ManageSearchAttributes: true,
		},
		Worker: Worker{
			TaskQueue:                    "lifeboat",
			MaxConcurrentActivities:      50,
			MaxConcurrentLocalActivities: 500,
			ShutdownTimeout:              units.Duration(30 * time.Second),
		},
		Schedules: Schedules{SyncOnStart: true, CatchupWindow: units.Duration(time.Hour)},
		HTTP: HTTP{
			Listen: "127.0.0.1:8091",
			Codec:  Codec{AllowOrigins: []string{"http://localhost:8233", "http://127.0.0.1:8233"}},
		},
		Encryption: Encryption{EncodeFailures: true},
		Log:        Log{Level: "info", Format: "json"},
	}
}

// Env looks up environment variables; os.LookupEnv in production, a map in tests.
type Env func(key string) (string, bool)

// MapEnv is an Env over a map.
func MapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Load returns the defaults overlaid with the file at path (if path is not empty) and then with the
// environment. It fails on a file that cannot be read or parsed, on unknown keys and on ${VAR}
// references to unset variables; call Validate for everything else.
func Load(path string, env Env) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := cfg.decode(b, env); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		// Relative paths in the file are relative to its folder, wherever the process runs.
		abs, err := filepath.Abs(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		cfg.resolvePaths(filepath.Dir(abs))
	}
	if err := cfg.applyEnv(env); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func (c *Config) decode(b []byte, env Env) error {
	expanded, err := Expand(string(b), env)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(expanded)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if len(c.Encryption.Keys) > 0 && c.Encryption.ActiveKey == "" && len(c.Encryption.Keys) == 1 {
		c.Encryption.ActiveKey = c.Encryption.Keys[0].ID
	}
	return nil
}

// resolvePaths makes relative paths in the file — key files, local repository locations — relative
// to the file's folder rather than to wherever the process happens to run.
func (c *Config) resolvePaths(dir string) {
	for i, k := range c.Encryption.Keys {
		if k.File != "" && !filepath.IsAbs(k.File) {
			c.Encryption.Keys[i].File = filepath.Join(dir, k.File)
		}
	}
	if c.Recovery.PlansDir != "" && !filepath.IsAbs(c.Recovery.PlansDir) {
		c.Recovery.PlansDir = filepath.Join(dir, c.Recovery.PlansDir)
	}
	// A command given as a relative path (with a slash) is a script beside the file; a bare name
	// is looked up on PATH.
	for name, argv := range c.Recovery.Commands {
		if len(argv) > 0 && strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
			c.Recovery.Commands[name][0] = filepath.Join(dir, argv[0])
		}
	}
	for i, r := range c.Worker.RestoreRoots {
		if r != "" && !filepath.IsAbs(r) {
			c.Worker.RestoreRoots[i] = filepath.Join(dir, r)
		}
	}
	// A secret read from a file ("file:path") names that file relative to this file too.
	for name, v := range c.Secrets {
		if path, ok := strings.CutPrefix(v, "file:"); ok && path != "" && !filepath.IsAbs(path) {
			c.Secrets[name] = "file:" + filepath.Join(dir, path)
		}
	}
	c.Audit.resolvePaths(dir)
	c.Evidence.resolvePaths(dir)
	for _, a := range c.Assets {
		for _, r := range []*asset.Repository{a.Repository, a.Offsite} {
			if r != nil && r.Location != "" && !filepath.IsAbs(r.Location) && !strings.Contains(r.Location, ":") {
				r.Location = filepath.Join(dir, r.Location)
			}
		}
	}
}

// Environment variables read by applyEnv, for the reference in --help.
var EnvVars = map[string]string{
	"LIFEBOAT_TASK_QUEUE":  "worker.task_queue",
	"LIFEBOAT_HTTP_LISTEN": "http.listen",
	"LIFEBOAT_LOG_LEVEL":   "log.level",
	"LIFEBOAT_LOG_FORMAT":  "log.format",
	"LIFEBOAT_UI_URL":      "temporal.ui_url",
	"LIFEBOAT_CODEC_TOKEN": "an extra entry in http.codec.tokens",

	"LIFEBOAT_WORKER_VERSIONING": "worker.versioning.enabled (true or false)",
	"LIFEBOAT_DEPLOYMENT_NAME":   "worker.versioning.deployment_name",
	"LIFEBOAT_BUILD_ID":          "worker.versioning.build_id",
	// A deployment sizes the pod's termination grace period from the same value (deploy/helm).
	"LIFEBOAT_SHUTDOWN_TIMEOUT": "worker.shutdown_timeout",
}

func (c *Config) applyEnv(env Env) error {
	set := func(key string, dst *string) {
		if v, ok := env(key); ok && v != "" {
			*dst = v
		}
	}
	set("LIFEBOAT_TASK_QUEUE", &c.Worker.TaskQueue)
	set("LIFEBOAT_HTTP_LISTEN", &c.HTTP.Listen)
	set("LIFEBOAT_LOG_LEVEL", &c.Log.Level)
	set("LIFEBOAT_LOG_FORMAT", &c.Log.Format)
	set("LIFEBOAT_UI_URL", &c.Temporal.UIURL)
	if v, ok := env("LIFEBOAT_CODEC_TOKEN"); ok && v != "" && !slices.Contains(c.HTTP.Codec.Tokens, v) {
		c.HTTP.Codec.Tokens = append(c.HTTP.Codec.Tokens, v)
	}
	if v, ok := env("LIFEBOAT_SHUTDOWN_TIMEOUT"); ok && v != "" {
		if err := c.Worker.ShutdownTimeout.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("LIFEBOAT_SHUTDOWN_TIMEOUT: %w", err)
		}
	}
	return c.Worker.Versioning.applyEnv(env)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} with the variable's value and ${VAR:-default} with the value or, when unset
// or empty, the default. "$${" writes a literal "${". Lines that are YAML comments are left alone.
// Every reference to an unset variable without a
// default is reported, with its line number.
func Expand(s string, env Env) (string, error) {
	var errs []error
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue // comments may mention ${VAR} as an example
		}
		escaped := strings.Split(line, "$${")
		for j, part := range escaped {
			escaped[j] = envRef.ReplaceAllStringFunc(part, func(ref string) string {
				m := envRef.FindStringSubmatch(ref)
				v, ok := env(m[1])
				if m[2] != "" {
					if !ok || v == "" {
						return m[3]
					}
					return v
				}
				if !ok {
					errs = append(errs, fmt.Errorf("line %d: ${%s} is not set (write ${%s:-} to allow it to be empty)", i+1, m[1], m[1]))
				}
				return v
			})
		}
		lines[i] = strings.Join(escaped, "${")
	}
	return strings.Join(lines, "\n"), errors.Join(errs...)
}

// Validate returns every problem with the configuration, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Temporal.Address); err != nil {
		bad("temporal.address", "%q is not host:port", c.Temporal.Address)
	}
	if c.Temporal.Namespace == "" {
		bad("temporal.namespace", "required")
	}
	if c.Temporal.UIURL != "" {
		if u, err := url.Parse(c.Temporal.UIURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("temporal.ui_url", "%q is not an absolute URL", c.Temporal.UIURL)
		}
	}
	if (c.Temporal.TLS.CertFile == "") != (c.Temporal.TLS.KeyFile == "") {
		bad("temporal.tls", "cert_file and key_file go together")
	}
	for field, path := range map[string]string{"temporal.tls.ca_file": c.Temporal.TLS.CAFile, "temporal.tls.cert_file": c.Temporal.TLS.CertFile, "temporal.tls.key_file": c.Temporal.TLS.KeyFile} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				bad(field, "%v", err)
			}
		}
	}
	if c.Worker.TaskQueue == "" {
		bad("worker.task_queue", "required")
	}
	for i, r := range c.Worker.RestoreRoots {
		if r == "" || r == "/" || !filepath.IsAbs(r) {
			bad(fmt.Sprintf("worker.restore_roots[%d]", i), "%q: give a directory other than /", r)
		}
	}
	if err := c.Worker.Versioning.Validate(c.Worker.TaskQueue); err != nil {
		errs = append(errs, err)
	}
	if c.Worker.MaxConcurrentActivities < 1 {
		bad("worker.max_concurrent_activities", "%d: must be at least 1", c.Worker.MaxConcurrentActivities)
	}
	if c.Worker.MaxConcurrentLocalActivities < 1 {
		bad("worker.max_concurrent_local_activities", "%d: must be at least 1", c.Worker.MaxConcurrentLocalActivities)
	}
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		bad("http.listen", "%q is not host:port", c.HTTP.Listen)
	}
	if _, err := c.Keys(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Encryption.Keys) > 0 && err == nil && !isLoopback(host) && len(nonEmpty(c.HTTP.Codec.Tokens)) == 0 {
		bad("http.codec.tokens", "the codec endpoint decrypts payloads for whoever calls it: set a token (LIFEBOAT_CODEC_TOKEN) or listen on loopback only")
	}
	for _, o := range c.HTTP.Codec.AllowOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("http.codec.allow_origins", "%q is not an origin such as https://temporal.example.com", o)
		}
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q is neither json nor text", c.Log.Format)
	}
	for name, v := range c.Secrets {
		if name == "" {
			bad("secrets", "a secret has an empty name")
		}
		if v == "" {
			bad("secrets."+name, "empty value")
		}
	}
	if err := asset.Validate(c.Assets); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateServices(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Readiness.Validate(); err != nil {
		errs = append(errs, err)
	}
	routes := map[string]bool{notify.DefaultRoute: true}
	for _, r := range c.Notify {
		routes[r.Name] = true
	}
	for i, a := range c.Assets {
		for field, name := range a.SecretRefs() {
			if _, ok := c.Secrets[name]; !ok {
				bad(fmt.Sprintf("assets[%d] (%s).%s", i, a.Name, field), "secret %q is not in secrets", name)
			}
		}
		for _, r := range a.Notify {
			if !routes[r] {
				bad(fmt.Sprintf("assets[%d] (%s).notify", i, a.Name), "route %q is not in notify", r)
			}
		}
	}
	if err := route.Validate("notify", c.Notify); err != nil {
		errs = append(errs, err)
	}
	for i, r := range c.Notify {
		for field, name := range r.SecretRefs() {
			if _, ok := c.Secrets[name]; !ok {
				bad(fmt.Sprintf("notify[%d] (%s).%s", i, r.Name, field), "secret %q is not in secrets", name)
			}
		}
	}
	if err := c.AWS.Options().Validate(); err != nil {
		bad("aws", "%v", err)
	}
	for name, argv := range c.Recovery.Commands {
		if !commandName.MatchString(name) {
			bad("recovery.commands", "%q: use letters, digits, '-', '_' and '.'", name)
		}
		if len(argv) == 0 || strings.TrimSpace(argv[0]) == "" {
			bad("recovery.commands."+name, "empty command")
		}
	}
	for _, name := range c.Recovery.CommandEnv {
		if !envName.MatchString(name) {
			bad("recovery.command_env", "%q is not an environment variable name", name)
		}
	}
	for i, d := range c.Recovery.DrillSkip {
		if err := d.Validate(plan.DefaultActions()); err != nil {
			bad(fmt.Sprintf("recovery.drill_skip[%d]", i), "%v", err)
		}
	}
	if err := c.Schedules.Validate(); err != nil {
		errs = append(errs, err)
	}
	names := make([]string, 0, len(c.Assets))
	for _, a := range c.Assets {
		names = append(names, a.Name)
	}
	if err := c.StatusPage.Validate(names); err != nil {
		errs = append(errs, err)
	}
	if err := c.Probes.Validate(c.Secrets); err != nil {
		errs = append(errs, err)
	}
	if err := c.Intake.Validate("intake"); err != nil {
		errs = append(errs, err)
	}
	for field, name := range c.Intake.SecretRefs() {
		if _, ok := c.Secrets[name]; !ok {
			errs = append(errs, fmt.Errorf("intake.%s: no secret %q in secrets", field, name))
		}
	}
	if err := c.Identity.validate(secrets.Static(c.Secrets)); err != nil {
		errs = append(errs, prefixed("identity", err)...)
	}
	if c.Slack != nil && c.Identity.Mode == identity.Verified && c.Identity.SigningKey == "" {
		errs = append(errs, errors.New("identity.signing_key: required with slack when identities are verified: the worker signs the decisions of the Slack members it authenticated"))
	}
	errs = append(errs, c.Audit.Validate(c.Secrets)) // errors.Join drops a nil
	errs = append(errs, c.Evidence.Validate(c.Secrets), c.validateDrills())
	if c.Slack != nil {
		if err := c.Slack.Validate("slack"); err != nil {
			errs = append(errs, err)
		}
		for field, name := range c.Slack.SecretRefs() {
			if _, ok := c.Secrets[name]; !ok {
				errs = append(errs, fmt.Errorf("slack.%s: no secret %q in secrets", field, name))
			}
		}
	}
	return errors.Join(errs...)
}

var commandName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func nonEmpty(s []string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(v string) bool { return v == "" })
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SlogLevel parses the level.
func (l Log) SlogLevel() (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.Level)); err != nil {
		return 0, fmt.Errorf("%q is not one of debug, info, warn, error", l.Level)
	}
	return lvl, nil
}

// NewLogger returns the logger the configuration describes, writing to w.
func (l Log) NewLogger(w io.Writer) *slog.Logger {
	lvl, _ := l.SlogLevel()
	opts := &slog.HandlerOptions{Level: lvl}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

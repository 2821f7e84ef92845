package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/codec"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadLayersFileThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "k1.key", codec.GenerateKey()+"\n")
	path := writeFile(t, dir, "lifeboat.yaml", `
# Comments may say ${UNSET} without failing.
temporal:
  address: ${TEMPORAL_HOST:-temporal}:7233
  namespace: dr
worker:
  task_queue: from-file
encryption:
  keys:
    - id: k1
      file: k1.key
secrets:
  orders-db: ${ORDERS_DSN}
  literal: "price is $${NOT_EXPANDED}"
log:
  format: text
`)
	cfg, err := Load(path, MapEnv(map[string]string{
		"ORDERS_DSN":                "postgres://orders",
		"LIFEBOAT_TASK_QUEUE":       "from-env",
		"LIFEBOAT_LOG_LEVEL":        "debug",
		"LIFEBOAT_SHUTDOWN_TIMEOUT": "2m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"default from ${VAR:-default}": {cfg.Temporal.Address, "temporal:7233"},
		"file over default":            {cfg.Temporal.Namespace, "dr"},
		"env over file":                {cfg.Worker.TaskQueue, "from-env"},
		"env over default":             {cfg.Log.Level, "debug"},
		"file kept where env is quiet": {cfg.Log.Format, "text"},
		"secret expanded":              {cfg.Secrets["orders-db"], "postgres://orders"},
		"escaped dollar":               {cfg.Secrets["literal"], "price is ${NOT_EXPANDED}"},
		"single key is active":         {cfg.Encryption.ActiveKey, "k1"},
		"key file relative to config":  {cfg.Encryption.Keys[0].File, filepath.Join(dir, "k1.key")},
		"default kept":                 {cfg.HTTP.Listen, "127.0.0.1:8091"},
		"env duration":                 {cfg.Worker.ShutdownTimeout.String(), "2m0s"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: got %q, want %q", name, c[0], c[1])
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unset variables, each with its line", "temporal:\n  api_key: ${API_KEY}\nsecrets:\n  db: ${DB_DSN}\n", []string{"line 2: ${API_KEY} is not set", "line 4: ${DB_DSN} is not set"}},
		{"unknown key", "temporal:\n  adress: x:1\n", []string{"field adress not found"}},
		{"not yaml", "temporal: [\n", []string{"yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, dir, "c.yaml", tt.content), MapEnv(nil))
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), MapEnv(nil)); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load("", MapEnv(map[string]string{"LIFEBOAT_SHUTDOWN_TIMEOUT": "30"})); err == nil || !strings.Contains(err.Error(), "LIFEBOAT_SHUTDOWN_TIMEOUT") {
		t.Errorf("a shutdown timeout without a unit: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.Temporal.Address = "no-port"
	cfg.Temporal.Namespace = ""
	cfg.Temporal.TLS.CertFile = "/nonexistent/cert.pem"
	cfg.Worker.TaskQueue = ""
	cfg.Worker.MaxConcurrentActivities = 0
	cfg.HTTP.Listen = "0.0.0.0:8091"
	cfg.HTTP.Codec.AllowOrigins = []string{"localhost:8233"}
	cfg.Encryption.Keys = []Key{{ID: "a", Secret: codec.GenerateKey()}, {ID: "b", Secret: "too-short"}}
	cfg.Encryption.ActiveKey = "a"
	cfg.Log.Level = "loud"
	cfg.Log.Format = "xml"
	cfg.Secrets = map[string]string{"db": ""}
	cfg.Recovery.CommandEnv = []string{"OK_NAME", "BAD-NAME"}
	cfg.Recovery.DrillSkip = []plan.DrillSkip{{Actions: "gcp.*", Reason: "no GCP"}, {Actions: "aws.*"}, {Actions: "[", Reason: "x"}}
	err := cfg.Validate()
	want := []string{
		`temporal.address: "no-port" is not host:port`,
		"temporal.namespace: required",
		"temporal.tls: cert_file and key_file go together",
		"temporal.tls.cert_file:",
		"worker.task_queue: required",
		"worker.max_concurrent_activities: 0",
		"encryption.keys[1] (b): key is not 32 bytes",
		`http.codec.allow_origins: "localhost:8233"`,
		`log.level: "loud"`,
		`log.format: "xml"`,
		"secrets.db: empty value",
		`recovery.command_env: "BAD-NAME" is not an environment variable name`,
		`recovery.drill_skip[0]: actions: "gcp.*" matches no action`,
		"recovery.drill_skip[1]: reason: required",
		`recovery.drill_skip[2]: actions: "[" is not a pattern`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestCodecNeedsATokenOffLoopback(t *testing.T) {
	cfg := Default()
	cfg.Encryption.Keys = []Key{{ID: "a", Secret: codec.GenerateKey()}}
	cfg.Encryption.ActiveKey = "a"
	cfg.HTTP.Listen = ":8091"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.codec.tokens") {
		t.Fatalf("error = %v", err)
	}
	cfg.HTTP.Codec.Tokens = []string{"t0ken"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestClientOptions(t *testing.T) {
	cfg := Default()
	cfg.Temporal.Address = "from-file:7233"
	opts, encrypted, err := cfg.ClientOptions(MapEnv(map[string]string{"TEMPORAL_NAMESPACE": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "from-file:7233" || opts.Namespace != "from-env" || encrypted || opts.DataConverter != nil {
		t.Fatalf("options = %s %s encrypted=%v", opts.HostPort, opts.Namespace, encrypted)
	}
	opts, _, err = cfg.ClientOptions(MapEnv(map[string]string{"TEMPORAL_ADDRESS": "cloud:7233", "TEMPORAL_API_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "cloud:7233" || opts.ConnectionOptions.TLS == nil || opts.Credentials == nil {
		t.Fatalf("API key did not turn on TLS and credentials: %+v", opts.ConnectionOptions)
	}

	cfg.Encryption.Keys = []Key{{ID: "a", Secret: codec.GenerateKey()}}
	cfg.Encryption.ActiveKey = "a"
	opts, encrypted, err = cfg.ClientOptions(MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !encrypted || opts.DataConverter == nil || opts.FailureConverter == nil {
		t.Fatal("keys configured but no encrypting converters")
	}
	p, err := opts.DataConverter.ToPayload("hello")
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata["encoding"]) != codec.EncodingEncrypted {
		t.Fatalf("payload not encrypted: %v", p.Metadata)
	}
}

func TestAssetsAreValidatedWithTheirSecrets(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", `
secrets:
  orders-primary: postgres://x
assets:
  - name: orders-db
    source: {postgres: {dsn_secret: orders-primary}}
    repository: {location: /srv/backups, password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {daily: 7}
    rpo: 2h
  - name: relative
    source: {paths: {include: [/srv]}}
    repository: {location: repos/here, password_secret: orders-primary}
    schedule: {every: 1h}
    retention: {daily: 7}
    rpo: 2h
  - name: Bad
    source: {}
    schedule: {every: 1h}
    retention: {daily: 7}
    rpo: 2h
`)
	cfg, err := Load(path, MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Assets[0].Repository.Location; got != "/srv/backups" {
		t.Fatalf("absolute location changed to %q", got)
	}
	err = cfg.Validate()
	for _, want := range []string{
		`assets[0] (orders-db).repository.password_secret: secret "repo-pass" is not in secrets`,
		`assets[2] (Bad).name: "Bad"`,
		"assets[2] (Bad).source: required",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if got, want := cfg.Assets[1].Repository.Location, filepath.Join(filepath.Dir(path), "repos/here"); got != want {
		t.Fatalf("relative location %q, want %q (relative to the file)", got, want)
	}
}

// A configuration named by a relative path resolves its relative paths from its own folder to
// absolute ones, whatever the process's working directory.
func TestRelativePathsBecomeAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "conf"), "lifeboat.yaml", `
worker:
  restore_roots: [../restores]
recovery:
  plans_dir: plans
  commands:
    local: [scripts/run, --now]
    onpath: [systemctl, restart, app]
secrets:
  relative: file:keys/signing.key
  absolute: file:/etc/lifeboat/key
  inline: not-a-file
`)
	t.Chdir(dir)
	cfg, err := Load("conf/lifeboat.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"restore root": filepath.Join(dir, "restores"), "plans_dir": filepath.Join(dir, "conf", "plans"),
		"local command": filepath.Join(dir, "conf", "scripts", "run"), "command on PATH": "systemctl",
		"file secret": "file:" + filepath.Join(dir, "conf", "keys", "signing.key"), "absolute file secret": "file:/etc/lifeboat/key", "inline secret": "not-a-file",
	}
	got := map[string]string{
		"restore root": cfg.Worker.RestoreRoots[0], "plans_dir": cfg.Recovery.PlansDir,
		"local command": cfg.Recovery.Commands["local"][0], "command on PATH": cfg.Recovery.Commands["onpath"][0],
		"file secret": cfg.Secrets["relative"], "absolute file secret": cfg.Secrets["absolute"], "inline secret": cfg.Secrets["inline"],
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	stdout, _, code := runCLI(t, "", "--help")
	if code != exitOK || !strings.Contains(stdout, exitCodesHelp) {
		t.Fatalf("code %d, help:\n%s", code, stdout)
	}
}

func TestVersionAndKeyAsJSON(t *testing.T) {
	stdout, _, code := runCLI(t, "", "version", "-o", "json")
	var v map[string]string
	if code != exitOK || json.Unmarshal([]byte(stdout), &v) != nil || v["version"] == "" {
		t.Fatalf("version: code %d, %q", code, stdout)
	}
	stdout, _, code = runCLI(t, "", "key", "generate", "-o", "json")
	var k map[string]string
	if code != exitOK || json.Unmarshal([]byte(stdout), &k) != nil {
		t.Fatalf("key generate: code %d, %q", code, stdout)
	}
	if _, err := codec.ParseKey(k["key"]); err != nil {
		t.Fatalf("generated key does not parse: %v", err)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"target":"x","checks":[{"kind":"tcp","adress":"h:1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"probe", "run", "--nope"}, "unknown flag: --nope"},
		{"bad output format", []string{"version", "-o", "yaml"}, `--output "yaml"`},
		{"no checks", []string{"probe", "run"}, "checks: at least one check is required"},
		{"every problem at once", []string{"probe", "run", "--check", "a", "--check", "a", "--interval", "1ms"}, "target: required"},
		{"unknown field in file", []string{"probe", "run", "--file", bad}, `unknown field "adress"`},
		{"file and flags", []string{"probe", "run", "--file", bad, "--check", "a"}, "do not combine"},
		{"an http check of the caller's own", []string{"probe", "run", "--target", "x", "--http", "http://169.254.169.254/"}, "--http: probes run only checks configured on the worker"},
		{"a tcp check of the caller's own", []string{"probe", "run", "--target", "x", "--tcp", "10.0.0.1:22"}, "--tcp: probes run only checks configured on the worker"},
		{"a postgres check of the caller's own", []string{"probe", "run", "--target", "x", "--postgres", "orders-db"}, "--postgres: probes run only checks configured on the worker"},
		{"probe list with arguments", []string{"probe", "list", "orders"}, "unknown command"},
		{"a target not configured", []string{"probe", "run", "--target", "x"}, `--target "x" is not in probes.targets`},
		{"missing config", []string{"--config", filepath.Join(dir, "none.yaml"), "status", "x"}, "no such file"},
		{"dev without config", []string{"dev"}, "needs --config"},
		{"status without id", []string{"status"}, "accepts 1 arg"},
		{"unknown command", []string{"bakup"}, `unknown command "bakup"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestUnreachableTemporalExitsFour(t *testing.T) {
	_, stderr, code := runCLI(t, `{"target":"x","checks":[{"name":"api"}]}`, "probe", "run", "--file", "-")
	if code != exitUnreachable || !strings.Contains(stderr, "connect to temporal at 127.0.0.1:1") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Orders Primary":        "orders-primary",
		"eu-west-1/orders (db)": "eu-west-1-orders-db",
		"":                      "target",
		"!!!":                   "target",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAssetValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`
secrets: {repo-pass: x}
assets:
  - name: www
    source: {paths: {include: [/srv/www]}}
    repository: {location: /srv/backups, password_secret: repo-pass}
    schedule: {cron: "*/15 * * * *"}
    retention: {last: 96}
    rpo: 1h
`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "", "--config", good, "asset", "validate")
	if code != exitOK || !strings.Contains(stdout, "1 assets, configuration valid") || !strings.Contains(stdout, "www") {
		t.Fatalf("valid assets: code %d\n%s%s", code, stdout, stderr)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
assets:
  - name: www
    source: {paths: {include: [/srv/www]}}
    repository: {location: /srv/backups, password_secret: missing}
    schedule: {every: 1h}
    retention: {}
    rpo: 30m
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, "", "--config", bad, "asset", "validate")
	for _, want := range []string{"policy keeps nothing", "shorter than the schedule's longest gap", `secret "missing" is not in secrets`} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("code %d, stderr does not mention %q:\n%s", code, want, stderr)
		}
	}
}

// LIFEBOAT_AS names the person --as and --requester default to.
func TestLifeboatAsIsTheDefaultIdentity(t *testing.T) {
	for _, cmd := range [][]string{{"approve", "--help"}, {"ack", "--help"}, {"drill", "--help"}, {"restore", "--help"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), cmd, config.MapEnv(map[string]string{"LIFEBOAT_AS": "erin"}), strings.NewReader(""), &out, &errb)
		if code != exitOK || !strings.Contains(out.String(), `(default "erin")`) {
			t.Errorf("%v: exit %d, the identity flag does not default to $LIFEBOAT_AS:\n%s%s", cmd, code, out.String(), errb.String())
		}
	}
}

// lifeboat asset status shows an asset's age as of now, not as of the watchdog's last wake-up, and
// an asset past its deadline as outside its RPO even before the watchdog wakes to alert.
func TestAssetStatusIsAsOfNow(t *testing.T) {
	woke := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	backup := woke.Add(-30 * time.Minute)
	st := workflows.RPOStatus{Asset: "db", RPO: units.Duration(time.Hour), LastBackup: backup, LastSnapshot: "5e1f00d5aa",
		Age: units.Duration(30 * time.Minute), Deadline: backup.Add(time.Hour)}
	now := woke.Add(20 * time.Minute)
	asOf(&st, now)
	var b bytes.Buffer
	printAssetStates(&b, []assetState{{Asset: "db", Status: &st}}, now)
	if st.Age.D() != 50*time.Minute || st.Stale || !strings.Contains(b.String(), "50m old") || !strings.Contains(b.String(), "within RPO") {
		t.Errorf("20 minutes after the watchdog woke: age %s, stale %v\n%s", st.Age, st.Stale, b.String())
	}
	now = woke.Add(45 * time.Minute)
	asOf(&st, now)
	b.Reset()
	printAssetStates(&b, []assetState{{Asset: "db", Status: &st}}, now)
	if !st.Stale || !strings.Contains(b.String(), "OUTSIDE RPO (1h), not alerted yet") || !strings.Contains(b.String(), "1h15m old") {
		t.Errorf("past the deadline:\n%s", b.String())
	}
	none := workflows.RPOStatus{Asset: "new", RPO: units.Duration(time.Hour), WatchingSince: woke, Age: 0, Deadline: woke.Add(time.Hour)}
	asOf(&none, woke.Add(10*time.Minute))
	if none.Age.D() != 10*time.Minute || none.Stale {
		t.Errorf("an asset without backups, 10 minutes in: %+v", none)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// auditSetup writes a configuration with an audit ledger in dir and appends three entries to it as
// the worker would: two days ago, an hour ago and now. It returns the configuration's path and the
// environment the CLI runs with.
func auditSetup(t *testing.T, dir string) (string, map[string]string) {
	t.Helper()
	seed := audit.GenerateSigningKey()
	former, _ := audit.ParseSigningKey(audit.GenerateSigningKey())
	path := filepath.Join(dir, "lifeboat.yaml")
	if err := os.WriteFile(path, []byte(`
secrets:
  audit-key: ${AUDIT_KEY}
audit:
  location: ledger
  signing_key: audit-key
  verify_keys: [`+audit.EncodePublicKey(former.PublicKey())+`]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1", "AUDIT_KEY": seed, "LIFEBOAT_CONFIG": path}
	cfg, err := config.Load(path, config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := cfg.Audit.Open(ctx, secrets.Static(cfg.Secrets), config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, e := range []audit.Entry{
		{Time: now.Add(-48 * time.Hour), Kind: audit.KindStart, Actor: "ann", Channel: audit.ChannelCLI, Subject: "orders-failover"},
		{Time: now.Add(-time.Hour), Kind: audit.KindDecision, Actor: "bob", Channel: audit.ChannelSlack, Verified: true, Subject: "promote",
			Details: map[string]string{"choice": "approve"}},
		{Time: now, Kind: audit.KindOverride, Actor: "ann", Subject: "quorum"},
	} {
		if _, _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return path, env
}

func runAudit(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"audit"}, args...), config.MapEnv(env), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestAuditVerifyAndExport(t *testing.T) {
	dir := t.TempDir()
	_, env := auditSetup(t, dir)
	must := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runAudit(t, env, args...)
		if code != exitOK {
			t.Fatalf("lifeboat audit %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}

	// An empty ledger (a new one, or a wrong location) is not called intact.
	emptyConfig := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(emptyConfig, []byte("secrets: {audit-key: ${AUDIT_KEY}}\naudit: {location: elsewhere, signing_key: audit-key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must("--config", emptyConfig, "verify"); out != "audit ledger "+filepath.Join(dir, "elsewhere", "audit")+": 0 entries\n"+
		"empty: no entries and no head; if entries were expected here, check audit.location and audit.prefix\n" {
		t.Errorf("verify of an empty ledger:\n%s", out)
	}

	out := must("verify")
	for _, want := range []string{"audit ledger " + filepath.Join(dir, "ledger", "audit") + ": 3 entries, numbers 1 to 3", "head: entry 3", "signed 3 entries", "intact"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify does not say %q:\n%s", want, out)
		}
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(must("verify", "-o", "json")), &r); err != nil || !r.OK() || r.Entries != 3 {
		t.Fatalf("verify -o json: %+v, %v", r, err)
	}

	// --public-key: the auditor's own copy of the public key, instead of the configuration's keys.
	var shown []struct {
		R string `json:"role"`
		K string `json:"key_id"`
		P string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(must("key", "show", "-o", "json")), &shown); err != nil || len(shown) != 2 || shown[0].R != "signing" || shown[1].R != "verify" {
		t.Fatalf("key show -o json: %+v, %v", shown, err)
	}
	if text := must("key", "show"); !strings.Contains(text, "signing   "+shown[0].K+" "+shown[0].P) {
		t.Errorf("key show:\n%s", text)
	}
	must("verify", "--public-key", shown[0].P)
	must("verify", "--public-key", shown[1].P, "--public-key", shown[0].P) // repeatable: a former key beside the current one
	stdout, stderr, code := runAudit(t, env, "verify", "--public-key", shown[1].P)
	if code != exitBadOutcome || !strings.Contains(stdout, "unknown-key: entry 1 is signed with unknown key \""+shown[0].K+"\"") ||
		!strings.Contains(stderr, "the audit ledger is not intact: 4 problems") {
		t.Errorf("verify with another key: exit %d\n%s%s", code, stdout, stderr)
	}

	// Export: everything as JSON lines, entries since a time as CSV, to a file.
	lines := strings.Split(strings.TrimSpace(must("export")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"seq":1,`) {
		t.Errorf("export:\n%s", strings.Join(lines, "\n"))
	}
	if n := strings.Count(must("export", "--since", "24h", "--format", "jsonl"), "\n"); n != 2 {
		t.Errorf("export --since 24h: %d entries, want 2", n)
	}
	if n := strings.Count(must("export", "--since", "3d"), "\n"); n != 3 {
		t.Errorf("export --since 3d: %d entries, want 3", n)
	}
	if n := strings.Count(must("export", "--since", time.Now().UTC().Add(-30*time.Minute).Format(time.RFC3339)), "\n"); n != 1 {
		t.Errorf("export --since RFC 3339: %d entries, want 1", n)
	}
	if out := must("export", "--since", time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)); out != "" {
		t.Errorf("export --since tomorrow: %q", out)
	}
	file := filepath.Join(dir, "audit.csv")
	stdout, stderr, code = runAudit(t, env, "export", "--since", "24h", "--format", "csv", "--out", file)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "exported 2 entries to "+file) {
		t.Fatalf("export --out: exit %d\n%s%s", code, stdout, stderr)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("export --out: %v, %v; want a file its owner alone reads", info, err)
	}
	f, _ := os.Open(file)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || rows[0][0] != "seq" || rows[1][0] != "2" || rows[1][3] != "bob" || rows[1][9] != `{"choice":"approve"}` {
		t.Errorf("csv export: %q, %v", rows, err)
	}

	// An export that fails half-way (an entry that is no ledger JSON) leaves the older export as it
	// was, and nothing beside it.
	if err := os.WriteFile(filepath.Join(dir, "ledger", "audit", "entries", "00000000000000000003.json"), []byte("{\"seq\":3,"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	stdout, stderr, code = runAudit(t, env, "export", "--format", "csv", "--out", file)
	if code != exitFailure || !strings.Contains(stderr, "entry 3 is not valid") {
		t.Fatalf("export of a damaged ledger: exit %d\n%s%s", code, stdout, stderr)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
		t.Errorf("a failed export changed %s:\n%s", file, after)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".audit.csv*")); len(left) != 0 {
		t.Errorf("a failed export left %v", left)
	}

	// Damage: entry 3 changed, and an entry removed from the middle is named, and the exit code is 3.
	if err := os.Remove(filepath.Join(dir, "ledger", "audit", "entries", "00000000000000000002.json")); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runAudit(t, env, "verify")
	if code != exitBadOutcome || !strings.Contains(stdout, "missing: entry 2 is missing (between 1 and 3)") ||
		!strings.Contains(stdout, "changed: entry 3 was changed: not JSON of a ledger object") ||
		!strings.Contains(stderr, "the audit ledger is not intact: 2 problems") || strings.Contains(stdout, "intact:") {
		t.Errorf("verify after a removal: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = runAudit(t, env, "verify", "-o", "json")
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitBadOutcome || len(r.Problems) != 2 || r.Problems[0].Seq != 2 || r.Problems[1].Seq != 3 {
		t.Errorf("verify -o json after a removal: exit %d, %+v, %v", code, r, err)
	}
}

func TestAuditKeyGenerate(t *testing.T) {
	env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}
	stdout, _, code := runAudit(t, env, "key", "generate", "-o", "json")
	var k map[string]string
	if code != exitOK || json.Unmarshal([]byte(stdout), &k) != nil {
		t.Fatalf("key generate -o json: exit %d, %q", code, stdout)
	}
	s, err := audit.ParseSigningKey(k["signing_key"])
	if err != nil || s.KeyID() != k["key_id"] || audit.EncodePublicKey(s.PublicKey()) != k["public_key"] {
		t.Fatalf("generated key %v does not match its public key and ID (%v)", k, err)
	}
	// As text, the key alone on stdout, for export LIFEBOAT_AUDIT_KEY=$(lifeboat audit key generate);
	// what identifies it on stderr.
	stdout, stderr, code := runAudit(t, env, "key", "generate")
	if code != exitOK {
		t.Fatalf("key generate: exit %d\n%s%s", code, stdout, stderr)
	}
	s, err = audit.ParseSigningKey(stdout)
	if err != nil || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("key generate: stdout %q is not one key (%v)", stdout, err)
	}
	if want := "public key " + audit.EncodePublicKey(s.PublicKey()) + ", key ID " + s.KeyID() + "\n"; stderr != want {
		t.Errorf("key generate: stderr %q, want %q", stderr, want)
	}
}

func TestAuditUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	path, env := auditSetup(t, dir)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noLedger := write("none.yaml", "log: {level: info}\n")
	badLocation := write("bad-location.yaml", "audit: {location: \"ftp://host/x\", signing_key: k}\n")
	badPrefix := write("bad-prefix.yaml", "audit: {location: ledger, prefix: ../up}\n")
	noKeys := write("no-keys.yaml", "audit: {location: ledger}\n")
	missingSecret := write("missing-secret.yaml", "audit: {location: ledger, signing_key: gone}\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"verify without a ledger", []string{"--config", noLedger, "verify"}, "no audit ledger is configured: set audit.location"},
		{"export without a ledger", []string{"--config", noLedger, "export"}, "no audit ledger is configured"},
		{"a location that is no location", []string{"--config", badLocation, "verify"}, `unknown scheme "ftp"`},
		{"a bad prefix", []string{"--config", badPrefix, "verify"}, `audit.prefix: audit: prefix "../up"`},
		{"no key to verify with", []string{"--config", noKeys, "verify"}, "no key to verify the audit ledger with"},
		{"a signing key whose secret is not configured", []string{"--config", missingSecret, "key", "show"}, `audit.signing_key: secret "gone": secret not found`},
		{"no keys to show", []string{"--config", noKeys, "key", "show"}, "no audit keys are configured"},
		{"a bad --key", []string{"verify", "--public-key", "not-a-key"}, `--public-key "not-a-key": public key`},
		{"a bad --since", []string{"export", "--since", "yesterday"}, `--since "yesterday": give an RFC 3339 time (2026-01-02T15:04:05Z), a day (2026-01-02) or a duration ago (24h, 7d)`},
		{"a negative --since", []string{"export", "--since", "-5h"}, `--since "-5h"`},
		{"days out of range", []string{"export", "--since", "999999d"}, `--since "999999d"`},
		{"a bad --format", []string{"export", "--format", "xml"}, `--format "xml": use jsonl or csv`},
		{"-o json on export", []string{"export", "-o", "json"}, "-o json does not apply to export"},
		{"arguments to verify", []string{"verify", "now"}, "unknown command"},
		{"arguments to export", []string{"export", "all"}, `unknown command "all" for "lifeboat audit export"`},
		{"an unknown flag", []string{"verify", "--since", "1h"}, "unknown flag: --since"},
		{"a missing configuration file", []string{"--config", filepath.Join(dir, "nope.yaml"), "verify"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runAudit(t, env, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
	// Writing the export where no file can be made is a failure, not a usage error.
	if _, stderr, code := runAudit(t, env, "--config", path, "export", "--out", filepath.Join(dir, "no", "such", "dir", "x.csv")); code != exitFailure || !strings.Contains(stderr, "--out "+filepath.Join(dir, "no", "such", "dir", "x.csv")+": no such file or directory") {
		t.Errorf("export to a missing folder: exit %d, %q", code, stderr)
	}
}

func TestAuditHelpNamesItsFlags(t *testing.T) {
	for _, tt := range []struct {
		cmd  []string
		want []string
	}{
		{[]string{"audit"}, []string{"verify", "export", "key", "docs/audit.md"}},
		{[]string{"audit", "verify"}, []string{"--public-key", "exit code is 3", "audit.verify_keys"}},
		{[]string{"audit", "export"}, []string{"--since", "--format", "--out", "jsonl", "csv", "7d"}},
		{[]string{"audit", "key"}, []string{"generate", "show"}},
		{[]string{"audit", "key", "generate"}, []string{"audit.signing_key", "audit.verify_keys", "LIFEBOAT_AUDIT_KEY", "-o json"}},
		{[]string{"audit", "key", "show"}, []string{"public key", "--public-key"}},
	} {
		t.Run(strings.Join(tt.cmd, " "), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", append(tt.cmd, "--help")...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help does not mention %q:\n%s", w, stdout)
				}
			}
		})
	}
	if stdout, _, _ := runCLI(t, "", "--help"); !strings.Contains(stdout, "\n  audit ") {
		t.Errorf("lifeboat --help does not list audit:\n%s", stdout)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-03-01T09:30:00+01:00": time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC),
		"2026-03-01":                time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.AddDate(0, 0, -7),
		"0s":                        now,
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

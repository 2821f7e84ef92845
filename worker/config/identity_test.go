package config

import (
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
)

// The identity section: the full form and the bare mode load; problems are reported with the
// section's prefix, all at once.
func TestIdentitySection(t *testing.T) {
	_, public, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, worker, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	full := writeFile(t, dir, "full.yaml", `
secrets:
  worker-key: |
`+indent(string(seed), "    ")+`
identity:
  mode: verified
  max_token_age: 5m
  signing_key: worker-key
  people:
    - {id: alice, name: Alice, slack: U0ALICE, email: alice@example.com, keys: ["`+public+`"]}
    - {id: bob, name: Bob}
  groups:
    - {id: dba, members: [alice, bob]}
`)
	cfg, err := Load(full, MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a valid identity section: %v", err)
	}
	d, err := cfg.Identity.Resolved(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	if d.Mode != identity.Verified || d.MaxTokenAge.Minutes() != 5 || len(d.Issuers) != 1 || d.Issuers[0].ID != WorkerIssuer || d.Issuers[0].Keys[0] != worker {
		t.Errorf("resolved directory: mode %s, max age %s, issuers %+v", d.Mode, d.MaxTokenAge, d.Issuers)
	}

	bare := writeFile(t, dir, "bare.yaml", "identity: trust-client\n")
	if cfg, err = Load(bare, MapEnv(nil)); err != nil || cfg.Identity.Mode != identity.TrustClient || !cfg.Identity.Configured() {
		t.Fatalf("bare mode: %v, %+v", err, cfg.Identity)
	}
	if cfg, err = Load(writeFile(t, dir, "none.yaml", "log: {level: info}\n"), MapEnv(nil)); err != nil || cfg.Identity.Configured() {
		t.Fatalf("no section: %v, configured %v", err, cfg.Identity.Configured())
	}

	if _, err := Load(writeFile(t, dir, "typo.yaml", "identity:\n  mode: verified\n  peeple: []\n"), MapEnv(nil)); err == nil || !strings.Contains(err.Error(), "peeple") {
		t.Errorf("an unknown key: %v", err)
	}

	bad := writeFile(t, dir, "bad.yaml", `
slack: {transport: http, signing_secret: s, bot_token: b}
secrets: {s: x, b: y}
identity:
  mode: sometimes
  signing_key: missing
  people:
    - {id: alice, name: Alice, slack: U1}
    - {id: bob, name: Bob, slack: U1}
  issuers:
    - {id: lifeboat-worker, keys: ["`+public+`"]}
`)
	if cfg, err = Load(bad, MapEnv(nil)); err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{"identity.mode", "identity.", `"lifeboat-worker" is the worker's own issuer`, "identity.signing_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q:\n%v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "U1") {
		t.Errorf("a Slack ID given to two people is not reported:\n%v", err)
	}

	verifiedSlack := writeFile(t, dir, "vs.yaml", `
slack: {transport: http, signing_secret: s, bot_token: b}
secrets: {s: x, b: y}
identity:
  mode: verified
  people: [{id: alice, name: Alice, slack: U1, keys: ["`+public+`"]}]
`)
	if cfg, err = Load(verifiedSlack, MapEnv(nil)); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "identity.signing_key: required with slack when identities are verified") {
		t.Errorf("verified identities with Slack and no worker key: %v", err)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

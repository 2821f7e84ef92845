package config

import (
	"os"
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

// identity.oidc: a valid section loads and gives the CLI the worker's URL; each problem is
// reported, with the section's prefix.
func TestIdentityOIDC(t *testing.T) {
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	load := func(t *testing.T, oidc string, signingKey bool) (Config, error) {
		t.Helper()
		key := ""
		if signingKey {
			key = "  signing_key: worker-key\n"
		}
		path := writeFile(t, dir, "c.yaml", `
http: {listen: "0.0.0.0:8099"}
secrets:
  worker-key: |
`+indent(string(seed), "    ")+`
identity:
  mode: verified
`+key+`  people:
    - {id: alice, name: Alice, oidc_subject: "248289761001"}
`+oidc)
		cfg, err := Load(path, MapEnv(nil))
		if err != nil {
			return cfg, err
		}
		return cfg, cfg.Validate()
	}

	cfg, err := load(t, `  oidc:
    issuer: https://login.example.com
    client_id: lifeboat-cli
    client_secret: not-really-secret
    scopes: [offline_access]
`, true)
	if err != nil {
		t.Fatalf("a valid oidc section: %v", err)
	}
	o := cfg.Identity.OIDC
	if o.Issuer != "https://login.example.com" || o.ClientID != "lifeboat-cli" || o.ClientSecret != "not-really-secret" || len(o.Scopes) != 1 {
		t.Errorf("loaded %+v", o)
	}
	if got := cfg.WorkerURL(); got != "http://127.0.0.1:8099" {
		t.Errorf("default worker URL %q", got)
	}
	cfg, err = load(t, "  oidc: {issuer: \"http://127.0.0.1:9998\", client_id: c, worker_url: \"https://lifeboat.example.com/\"}\n", true)
	if err != nil {
		t.Fatalf("a loopback http issuer: %v", err)
	}
	if got := cfg.WorkerURL(); got != "https://lifeboat.example.com" {
		t.Errorf("worker_url %q", got)
	}
	if cfg, err := load(t, "", true); err != nil || cfg.Identity.OIDC != nil {
		t.Errorf("no oidc: %v, %+v", err, cfg.Identity.OIDC)
	}

	if _, err := load(t, "  oidc: {issuer: https://login.example.com, client_id: c, clientid: x}\n", true); err == nil || !strings.Contains(err.Error(), "clientid") {
		t.Errorf("an unknown key in oidc: %v", err)
	}
	problems := []struct {
		name, oidc string
		noKey      bool
		want       string
	}{
		{"no issuer", "{client_id: c}", false, "identity.oidc.issuer: required"},
		{"a relative issuer", "{issuer: login.example.com, client_id: c}", false, `identity.oidc.issuer: "login.example.com": not an absolute http(s) URL`},
		{"another scheme", "{issuer: \"ftp://login.example.com\", client_id: c}", false, "not an absolute http(s) URL"},
		{"plain http to a remote host", "{issuer: \"http://login.example.com\", client_id: c}", false, "use https: plain http is for a loopback host only"},
		{"an issuer with a query", "{issuer: \"https://login.example.com/?tenant=x\", client_id: c}", false, "without a query"},
		{"no client", "{issuer: https://login.example.com}", false, "identity.oidc.client_id: required"},
		{"a blank scope", "{issuer: https://login.example.com, client_id: c, scopes: [\"\"]}", false, "identity.oidc.scopes[0]"},
		{"a scope with a space", "{issuer: https://login.example.com, client_id: c, scopes: [\"a b\"]}", false, `"a b" is not a scope`},
		{"a bad worker URL", "{issuer: https://login.example.com, client_id: c, worker_url: \"http://lifeboat.example.com\"}", false, "identity.oidc.worker_url"},
		{"no signing key", "{issuer: https://login.example.com, client_id: c}", true, "identity.signing_key: required with oidc"},
	}
	for _, tc := range problems {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "  oidc: "+tc.oidc+"\n", !tc.noKey)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a problem containing %q, got:\n%v", tc.want, err)
			}
		})
	}
	// Every problem at once.
	_, err = load(t, "  oidc: {issuer: \"http://idp.example.com\", scopes: [\"\"]}\n", false)
	for _, want := range []string{"identity.oidc.issuer", "identity.oidc.client_id", "identity.oidc.scopes[0]", "identity.signing_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("all problems: %q missing from:\n%v", want, err)
		}
	}
}

// The identity.oidc example of docs/identity.md loads and validates, given the secret it names.
func TestIdentityDocsOIDCExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../../docs/identity.md")
	if err != nil {
		t.Fatal(err)
	}
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		example, _, _ := strings.Cut(block, "```")
		if !strings.Contains(example, "  oidc:") {
			continue
		}
		found = true
		path := writeFile(t, t.TempDir(), "lifeboat.yaml", "secrets:\n  identity-key: |\n"+indent(string(seed), "    ")+"\n"+example)
		cfg, err := Load(path, MapEnv(nil))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Fatalf("docs/identity.md oidc example: %v\n%s", err, example)
		}
		if o := cfg.Identity.OIDC; o == nil || o.Issuer == "" || o.ClientID == "" || cfg.WorkerURL() != o.WorkerURL {
			t.Errorf("the example's oidc section: %+v", o)
		}
	}
	if !found {
		t.Fatal("docs/identity.md has no yaml example with identity.oidc")
	}
}

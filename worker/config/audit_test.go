package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

func TestAuditValidate(t *testing.T) {
	seed := audit.GenerateSigningKey()
	keyFile := writeFile(t, t.TempDir(), "audit.key", seed+"\n")
	signer, _ := audit.ParseSigningKey(seed)
	pub := audit.EncodePublicKey(signer.PublicKey())
	secretValues := map[string]string{"audit-key": seed, "audit-key-file": "file:" + keyFile, "not-a-key": "hunter2-hunter2"}
	tests := []struct {
		name string
		a    Audit
		want []string // nil: valid
	}{
		{"off", Audit{}, nil},
		{"local, inline key", Audit{Location: "/srv/audit", SigningKey: "audit-key"}, nil},
		{"S3 with Object Lock, key in a file, a former key", Audit{
			Location:   "s3://dr-audit/prod?object_lock_mode=governance&object_lock_days=365",
			Prefix:     "ledger/",
			SigningKey: "audit-key-file",
			VerifyKeys: []string{pub},
		}, nil},
		{"keys without a location", Audit{SigningKey: "audit-key", VerifyKeys: []string{pub}}, []string{
			"audit.location: required when the other audit keys are set"}},
		{"every problem at once", Audit{
			Location:   "s3://dr-audit?object_lock_days=0",
			Prefix:     "../up",
			SigningKey: "audit-keys",
			VerifyKeys: []string{pub, "short"},
		}, []string{
			`audit.location: location s3://dr-audit: object_lock_days "0" is not a positive whole number`,
			`audit.prefix: prefix "../up": give a relative folder`,
			`audit.signing_key: secret "audit-keys": secret not found (configured secrets: audit-key, audit-key-file, not-a-key)`,
			"audit.verify_keys[1]: public key: not base64",
		}},
		{"no signing key", Audit{Location: "/srv/audit"}, []string{"audit.signing_key: required: name the secret"}},
		{"a secret that is no key", Audit{Location: "/srv/audit", SigningKey: "not-a-key"}, []string{
			`audit.signing_key: secret "not-a-key": audit: signing key is 11 bytes: an Ed25519 seed is 32`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate(secretValues)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.want); got != want {
				t.Errorf("%d problems, want %d:\n%v", got, want, err)
			}
			if strings.Contains(err.Error(), seed) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

// The section is part of the configuration file: loaded, with a relative location made relative
// to the file, validated with the rest, and opened into a ledger that the CLI's keys verify.
func TestAuditFromTheConfigurationFile(t *testing.T) {
	dir := t.TempDir()
	seed := audit.GenerateSigningKey()
	path := writeFile(t, dir, "lifeboat.yaml", `
secrets:
  audit-key: ${AUDIT_KEY}
audit:
  location: ledger
  prefix: prod
  signing_key: audit-key
`)
	env := MapEnv(map[string]string{"AUDIT_KEY": seed})
	cfg, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ledger"); cfg.Audit.Location != want {
		t.Errorf("location %q, want %q", cfg.Audit.Location, want)
	}
	ctx := context.Background()
	sec := secrets.Static(cfg.Secrets)
	l, err := cfg.Audit.Open(ctx, sec, env)
	if err != nil || l == nil {
		t.Fatalf("Open = %v, %v", l, err)
	}
	if _, _, err := l.Append(ctx, audit.Entry{Kind: audit.KindConfigChange, Subject: "audit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger", "prod", "entries", "00000000000000000001.json")); err != nil {
		t.Errorf("entry not where the configuration says: %v", err)
	}
	b, err := cfg.Audit.Backend(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cfg.Audit.Keys(ctx, sec)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := audit.Verify(ctx, b, cfg.Audit.Prefix, keys); err != nil || !r.OK() || r.Entries != 1 {
		t.Fatalf("Verify = %+v, %v", r, err)
	}

	// The whole configuration reports the section's problems with the others.
	cfg.Audit.SigningKey = "missing"
	cfg.Log.Format = "xml"
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `audit.signing_key: secret "missing"`) || !strings.Contains(err.Error(), "log.format") {
		t.Errorf("Validate: %v", err)
	}
}

func TestAuditOpenAndKeys(t *testing.T) {
	ctx := context.Background()
	l, err := Audit{}.Open(ctx, secrets.Static(nil), MapEnv(nil))
	if l != nil || err != nil {
		t.Errorf("Open without a location = %v, %v; want no ledger and no error", l, err)
	}
	if _, err := (Audit{}).Backend(ctx, MapEnv(nil)); err == nil || !strings.Contains(err.Error(), "set audit.location") {
		t.Errorf("Backend without a location: %v", err)
	}
	if _, err := (Audit{Location: t.TempDir(), SigningKey: "k"}).Open(ctx, secrets.Static(nil), MapEnv(nil)); err == nil ||
		!strings.Contains(err.Error(), `audit.signing_key: secret "k": secret not found`) {
		t.Errorf("Open without the secret: %v", err)
	}

	// Where the signing key's secret cannot be read, verify_keys alone verify; with neither, there
	// is nothing to verify with.
	s, _ := audit.ParseSigningKey(audit.GenerateSigningKey())
	a := Audit{Location: "/srv/audit", SigningKey: "audit-key", VerifyKeys: []string{audit.EncodePublicKey(s.PublicKey())}}
	keys, err := a.Keys(ctx, secrets.Static(nil))
	if err != nil || len(keys) != 1 || keys[s.KeyID()] == nil {
		t.Errorf("Keys from verify_keys = %v, %v", keys, err)
	}
	a.VerifyKeys = nil
	if _, err := a.Keys(ctx, secrets.Static(nil)); err == nil || !strings.Contains(err.Error(), "no key to verify the audit ledger with") {
		t.Errorf("Keys with none: %v", err)
	}
	a.VerifyKeys = []string{"nope"}
	if _, err := a.Keys(ctx, secrets.Static(nil)); err == nil || !strings.Contains(err.Error(), "audit.verify_keys[0]") {
		t.Errorf("Keys with a bad verify key: %v", err)
	}
}

// The configuration examples of docs/audit.md are valid, and the first is the ledger it describes:
// on S3 with Object Lock, with a former key to verify with.
func TestAuditDocsExamplesAreValid(t *testing.T) {
	b, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	env := MapEnv(map[string]string{"LIFEBOAT_AUDIT_KEY": audit.GenerateSigningKey()})
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("docs/audit.md has no yaml example")
	}
	for i, block := range blocks {
		example, _, _ := strings.Cut(block, "```")
		path := writeFile(t, t.TempDir(), "lifeboat.yaml", example)
		cfg, err := Load(path, env)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Fatalf("docs/audit.md yaml example %d: %v\n%s", i+1, err, example)
		}
		if i > 0 {
			continue
		}
		if !strings.Contains(cfg.Audit.Location, "object_lock_mode=") || len(cfg.Audit.VerifyKeys) != 1 {
			t.Errorf("the first example is not a ledger with Object Lock and a former key: %+v", cfg.Audit)
		}
		keys, err := cfg.Audit.Keys(context.Background(), secrets.Static(cfg.Secrets))
		if err != nil || len(keys) != 2 {
			t.Errorf("the first example's keys: %v, %v", keys, err)
		}
	}
}

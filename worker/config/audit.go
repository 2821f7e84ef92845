package config

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
)

// Audit configures the audit ledger (docs/audit.md): a signed, hash-chained record of who started,
// decided, refused or overrode what. Without a location the ledger is off.
type Audit struct {
	// Location is where the ledger lives, in any form a repository location takes: a path
	// (relative to this file), s3://bucket/prefix?… — with object_lock_mode and object_lock_days
	// every entry is retained — or gs://bucket/prefix. Empty (the default): no ledger.
	Location string `yaml:"location"`
	// Prefix is the folder within the location (default "audit/").
	Prefix string `yaml:"prefix"`
	// SigningKey names the secret, in secrets, holding the base64 Ed25519 seed the worker signs
	// entries with (`lifeboat audit key generate` makes one).
	SigningKey string `yaml:"signing_key"`
	// VerifyKeys are the base64 Ed25519 public keys of former signing keys, so that the entries
	// they signed still verify after a rotation (`lifeboat audit key show` prints them).
	VerifyKeys []string `yaml:"verify_keys"`
}

// Enabled reports whether a ledger is configured.
func (a Audit) Enabled() bool { return a.Location != "" }

// Validate returns every problem with the section, joined, or nil. secretValues are the
// configuration's secrets, one of which signing_key names; its value is read and parsed.
func (a Audit) Validate(secretValues map[string]string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("audit.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !a.Enabled() {
		if a.Prefix != "" || a.SigningKey != "" || len(a.VerifyKeys) > 0 {
			bad("location", "required when the other audit keys are set (without it there is no ledger)")
		}
		return errors.Join(errs...)
	}
	if err := location.Check(a.Location); err != nil {
		bad("location", "%v", err)
	}
	if _, err := audit.CleanPrefix(a.Prefix); err != nil {
		bad("prefix", "%v", strings.TrimPrefix(err.Error(), "audit: "))
	}
	switch _, err := a.Signer(context.Background(), secrets.Static(secretValues)); {
	case a.SigningKey == "":
		bad("signing_key", "required: name the secret holding the Ed25519 seed that signs entries (`lifeboat audit key generate` makes one)")
	case err != nil:
		bad("signing_key", "%v", err)
	}
	for i, k := range a.VerifyKeys {
		if _, err := audit.ParsePublicKey(k); err != nil {
			bad(fmt.Sprintf("verify_keys[%d]", i), "%v", strings.TrimPrefix(err.Error(), "audit: "))
		}
	}
	return errors.Join(errs...)
}

// resolvePaths makes a relative local location relative to dir, the configuration file's folder.
func (a *Audit) resolvePaths(dir string) {
	if a.Location != "" && !filepath.IsAbs(a.Location) && !strings.Contains(a.Location, ":") {
		a.Location = filepath.Join(dir, a.Location)
	}
}

// Signer returns the signer of the key that signing_key names, resolved through sec. Its errors
// name the secret, never its value.
func (a Audit) Signer(ctx context.Context, sec secrets.Resolver) (*audit.Signer, error) {
	if a.SigningKey == "" {
		return nil, errors.New("no signing key: set audit.signing_key to the name of a secret")
	}
	v, err := sec.Secret(ctx, a.SigningKey)
	if err != nil {
		return nil, err
	}
	s, err := audit.ParseSigningKey(v)
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", a.SigningKey, err)
	}
	return s, nil
}

// Keys returns the public keys that verify the ledger, by key ID: verify_keys, and the signing
// key's when sec can resolve it (a machine without the secret verifies with verify_keys alone). It
// fails on a verify key that does not parse, and when it finds no key at all.
func (a Audit) Keys(ctx context.Context, sec secrets.Resolver) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	var errs []error
	for i, k := range a.VerifyKeys {
		pub, err := audit.ParsePublicKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("audit.verify_keys[%d]: %w", i, err))
			continue
		}
		keys[audit.KeyID(pub)] = pub
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s, signerErr := a.Signer(ctx, sec)
	if signerErr == nil {
		keys[s.KeyID()] = s.PublicKey()
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key to verify the audit ledger with: %v; or list the signing key's public key (`lifeboat audit key show` where the secret is) in audit.verify_keys", signerErr)
	}
	return keys, nil
}

// Backend opens the storage the ledger lives in. env gives S3 credentials and region
// (os.LookupEnv in production). It does not contact the storage.
func (a Audit) Backend(ctx context.Context, env Env) (storage.Backend, error) {
	if !a.Enabled() {
		return nil, errors.New("no audit ledger is configured: set audit.location")
	}
	b, err := location.Open(ctx, a.Location, env)
	if err != nil {
		return nil, fmt.Errorf("audit.location: %w", err)
	}
	return b, nil
}

// Open returns the worker's ledger, signing with signing_key, or nil when audit.location is empty.
// It does not contact the storage.
func (a Audit) Open(ctx context.Context, sec secrets.Resolver, env Env) (*audit.Ledger, error) {
	if !a.Enabled() {
		return nil, nil
	}
	s, err := a.Signer(ctx, sec)
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key: %w", err)
	}
	b, err := a.Backend(ctx, env)
	if err != nil {
		return nil, err
	}
	return audit.New(audit.Config{Backend: b, Prefix: a.Prefix, Signer: s})
}

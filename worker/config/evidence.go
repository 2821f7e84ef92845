package config

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
)

// Evidence configures the signed evidence of drills and restore verifications (docs/evidence.md):
// one record per drill of a plan and per verification of an asset. Without a location no
// evidence is written.
type Evidence struct {
	// Location is where records are stored, in any form a repository location takes: a path
	// (relative to this file), s3://bucket/prefix?… or gs://bucket/prefix. Empty (the default):
	// no evidence.
	Location string `yaml:"location"`
	// Prefix is the folder within the location (default "evidence/").
	Prefix string `yaml:"prefix"`
	// SigningKey names the secret, in secrets, holding the base64 Ed25519 seed the worker signs
	// records with (`lifeboat audit key generate` makes one).
	SigningKey string `yaml:"signing_key"`
	// VerifyKeys are the base64 Ed25519 public keys of former signing keys, so that the records
	// they signed still verify after a rotation (`lifeboat audit key show` prints them).
	VerifyKeys []string `yaml:"verify_keys"`
	// Retention is what `lifeboat evidence prune` keeps: every record younger than days, and the
	// last records of each plan and asset, whatever their age. Without days, prune deletes
	// nothing.
	Retention evidence.Retention `yaml:"retention"`
}

// Enabled reports whether evidence is written.
func (e Evidence) Enabled() bool { return e.Location != "" }

// Validate returns every problem with the section, joined, or nil. secretValues are the
// configuration's secrets, one of which signing_key names; its value is read and parsed.
func (e Evidence) Validate(secretValues map[string]string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("evidence.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if e.Retention.Days < 0 || e.Retention.Last < 0 {
		bad("retention", "days and last are counts: 0 or more")
	}
	if !e.Enabled() {
		if e.Prefix != "" || e.SigningKey != "" || len(e.VerifyKeys) > 0 {
			bad("location", "required when the other evidence keys are set (without it no evidence is written)")
		}
		return errors.Join(errs...)
	}
	if err := location.Check(e.Location); err != nil {
		bad("location", "%v", err)
	}
	if err := evidence.CheckPrefix(e.Prefix); err != nil {
		bad("prefix", "%v", err)
	}
	switch _, err := e.Signer(context.Background(), secrets.Static(secretValues)); {
	case e.SigningKey == "":
		bad("signing_key", "required: name the secret holding the Ed25519 seed that signs records (`lifeboat audit key generate` makes one)")
	case err != nil:
		bad("signing_key", "%v", err)
	}
	for i, k := range e.VerifyKeys {
		if _, err := audit.ParsePublicKey(k); err != nil {
			bad(fmt.Sprintf("verify_keys[%d]", i), "%v", strings.TrimPrefix(err.Error(), "audit: "))
		}
	}
	return errors.Join(errs...)
}

// resolvePaths makes a relative local location relative to dir, the configuration file's folder.
func (e *Evidence) resolvePaths(dir string) {
	if e.Location != "" && !filepath.IsAbs(e.Location) && !strings.Contains(e.Location, ":") {
		e.Location = filepath.Join(dir, e.Location)
	}
}

// Signer returns the signer of the key that signing_key names, resolved through sec. Its errors
// name the secret, never its value.
func (e Evidence) Signer(ctx context.Context, sec secrets.Resolver) (*audit.Signer, error) {
	if e.SigningKey == "" {
		return nil, errors.New("no signing key: set evidence.signing_key to the name of a secret")
	}
	v, err := sec.Secret(ctx, e.SigningKey)
	if err != nil {
		return nil, err
	}
	s, err := audit.ParseSigningKey(v)
	if err != nil {
		return nil, fmt.Errorf("secret %q: %s", e.SigningKey, strings.TrimPrefix(err.Error(), "audit: "))
	}
	return s, nil
}

// Keys returns the public keys that verify records, by key ID: verify_keys, and the signing
// key's when sec can resolve it (a machine without the secret verifies with verify_keys alone). It
// fails on a verify key that does not parse, and when it finds no key at all.
func (e Evidence) Keys(ctx context.Context, sec secrets.Resolver) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	var errs []error
	for i, k := range e.VerifyKeys {
		pub, err := audit.ParsePublicKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("evidence.verify_keys[%d]: %w", i, err))
			continue
		}
		keys[audit.KeyID(pub)] = pub
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s, signerErr := e.Signer(ctx, sec)
	if signerErr == nil {
		keys[s.KeyID()] = s.PublicKey()
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key to verify evidence with: %v; or list the signing key's public key (`lifeboat audit key show` where the secret is) in evidence.verify_keys", signerErr)
	}
	return keys, nil
}

// Store opens the evidence store; with sec it signs with signing_key, and with sec nil it only
// reads and prunes. It does not contact the storage.
func (e Evidence) Store(ctx context.Context, sec secrets.Resolver, env Env) (*evidence.Store, error) {
	if !e.Enabled() {
		return nil, errors.New("no evidence store is configured: set evidence.location")
	}
	var s *audit.Signer
	if sec != nil {
		var err error
		if s, err = e.Signer(ctx, sec); err != nil {
			return nil, fmt.Errorf("evidence.signing_key: %w", err)
		}
	}
	b, err := location.Open(ctx, e.Location, env)
	if err != nil {
		return nil, fmt.Errorf("evidence.location: %w", err)
	}
	return evidence.New(evidence.Config{Backend: b, Prefix: e.Prefix, Signer: s})
}

// Drill is a recovery plan drilled on a schedule (recovery.drills). The schedule starts the
// Recovery workflow in drill mode as "schedule:<schedules.owner>", an identity the workflow
// accepts only for drills of the plans listed here.
type Drill struct {
	// Plan is the plan's name (metadata.name) in the plans directory.
	Plan string `yaml:"plan"`
	// Schedule is when: cron (5 fields) or every (a duration of at least a minute).
	Schedule asset.Schedule `yaml:"schedule"`
	// Reason is recorded with every drill the schedule starts (default "scheduled drill").
	Reason string `yaml:"reason"`
}

// ScheduleRequester is the identity a drill schedule of owner starts drills as.
func ScheduleRequester(owner string) string { return "schedule:" + owner }

// validateDrills checks recovery.drills.
func (c Config) validateDrills() error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range c.Recovery.Drills {
		path := fmt.Sprintf("recovery.drills[%d]", i)
		switch {
		case strings.TrimSpace(d.Plan) == "":
			errs = append(errs, fmt.Errorf("%s.plan: required", path))
		case seen[d.Plan]:
			errs = append(errs, fmt.Errorf("%s.plan: %s is drilled by an earlier entry: give a plan one schedule", path, d.Plan))
		}
		seen[d.Plan] = true
		if err := d.Schedule.Validate(path + ".schedule"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Recovery.Drills) > 0 {
		if c.Schedules.Owner == "" {
			errs = append(errs, errors.New("recovery.drills: schedules.owner is required: scheduled drills start as schedule:<owner>, and only this deployment's schedules may"))
		}
		if c.Recovery.PlansDir == "" {
			errs = append(errs, errors.New("recovery.drills: recovery.plans_dir is required: drills run plans from it"))
		}
	}
	return errors.Join(errs...)
}

// DrilledPlans are the plans of recovery.drills, sorted.
func (c Config) DrilledPlans() []string {
	var out []string
	for _, d := range c.Recovery.Drills {
		out = append(out, d.Plan)
	}
	slices.Sort(out)
	return out
}

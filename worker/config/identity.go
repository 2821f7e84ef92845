package config

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// WorkerIssuer is the issuer ID of the assertions the worker signs for people it authenticated
// itself (a Slack request's signed user ID).
const WorkerIssuer = "lifeboat-worker"

// Identity is the identity section: the directory of people and groups, how identities are
// established (mode), and the worker's own signing key. `identity: trust-client` alone is the
// shorthand for a local setup.
type Identity struct {
	identity.Directory `yaml:",inline"`
	// MaxTokenAge bounds an assertion's lifetime (default 10m).
	MaxTokenAge units.Duration `yaml:"max_token_age"`
	// SigningKey names the secret that holds the worker's ed25519 key (a base64 seed, or PEM):
	// the worker signs with it for people it authenticated itself, such as a Slack button press
	// by a member the directory lists. Its public key is trusted as issuer "lifeboat-worker".
	SigningKey string `yaml:"signing_key"`
}

// UnmarshalYAML takes the full section or the bare mode.
func (id *Identity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		id.Mode = identity.Mode(n.Value)
		return nil
	}
	// Node.Decode would ignore unknown fields: decode the section's text as strictly as the file.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	type plain Identity
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode((*plain)(id)); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// Configured reports whether the configuration has an identity section.
func (id Identity) Configured() bool { return id.Mode != "" }

// Resolved returns the directory as workflows verify against it: defaults filled in, and the
// worker's own key as a trusted issuer.
func (id Identity) Resolved(sec secrets.Static) (identity.Directory, error) {
	d := id.Directory
	d.MaxTokenAge = id.MaxTokenAge.D()
	d = d.WithDefaults()
	if id.SigningKey != "" {
		key, err := id.Signer(sec)
		if err != nil {
			return d, err
		}
		d.Issuers = append(d.Issuers, identity.Issuer{ID: WorkerIssuer, Keys: []string{identity.PublicOf(key)}})
	}
	return d, nil
}

// Signer returns the worker's signing key.
func (id Identity) Signer(sec secrets.Static) (ed25519.PrivateKey, error) {
	v, err := sec.Secret(context.Background(), id.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("identity.signing_key: %w", err)
	}
	key, err := identity.ParsePrivateKey([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("identity.signing_key: secret %q: %w", id.SigningKey, err)
	}
	return key, nil
}

// validate returns every problem with the section.
func (id Identity) validate(sec secrets.Static) error {
	if !id.Configured() {
		return nil
	}
	var errs []error
	if err := id.Directory.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, is := range id.Issuers {
		if is.ID == WorkerIssuer {
			errs = append(errs, fmt.Errorf("issuers: %q is the worker's own issuer: set signing_key instead", WorkerIssuer))
		}
	}
	if id.SigningKey != "" {
		if _, err := id.Signer(sec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// prefixed returns the problems err joins, each prefixed with the section's name.
func prefixed(section string, err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixed(section, e)...)
		}
		return out
	}
	return []error{fmt.Errorf("%s.%w", section, err)}
}

package config

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

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
	// OIDC lets people log in with the organisation's OpenID Connect provider (lifeboat login):
	// the worker exchanges their ID token for an assertion it signs with SigningKey.
	OIDC *OIDC `yaml:"oidc"`
}

// OIDC is the organisation's OpenID Connect provider, as lifeboat login and the worker's
// exchange endpoint (POST /identity/assert) use it.
type OIDC struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document gives it (https; http
	// only for a loopback host).
	Issuer string `yaml:"issuer"`
	// ClientID is the client lifeboat login uses, registered at the provider for the device
	// authorization grant. The worker accepts ID tokens for this client only.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the client's secret, for providers that require one of device clients. It is
	// no secret: every CLI reading this file holds it, so it is written here in plain text.
	ClientSecret string `yaml:"client_secret"`
	// Scopes are requested besides openid and email, such as offline_access for a refresh token.
	Scopes []string `yaml:"scopes"`
	// WorkerURL is where the CLI reaches the worker's HTTP server (default http:// and http.listen,
	// with 127.0.0.1 for an empty or unspecified host).
	WorkerURL string `yaml:"worker_url"`
}

// validate returns every problem with the section.
func (o OIDC) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Issuer == "" {
		bad("oidc.issuer: required: the provider's issuer URL, such as https://login.example.com")
	} else if err := httpURL(o.Issuer); err != nil {
		bad("oidc.issuer: %q: %v", o.Issuer, err)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		bad("oidc.client_id: required: the client lifeboat login uses at the provider")
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n\"") {
			bad("oidc.scopes[%d]: %q is not a scope", i, s)
		}
	}
	if o.WorkerURL != "" {
		if err := httpURL(o.WorkerURL); err != nil {
			bad("oidc.worker_url: %q: %v", o.WorkerURL, err)
		}
	}
	return errs
}

// httpURL checks an absolute http(s) URL without a query or fragment; plain http only to a
// loopback host, since tokens travel to it.
func httpURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return errors.New("not an absolute http(s) URL")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("give it without a query, a fragment or credentials")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return errors.New("use https: plain http is for a loopback host only")
	}
	return nil
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
	if id.OIDC != nil {
		errs = append(errs, id.OIDC.validate()...)
		if id.SigningKey == "" {
			errs = append(errs, errors.New("signing_key: required with oidc: the worker signs the assertions it gives for ID tokens"))
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

// WorkerURL is where the CLI reaches the worker's HTTP server: identity.oidc.worker_url, else
// http:// and http.listen (127.0.0.1 for an empty or unspecified host).
func (c Config) WorkerURL() string {
	if c.Identity.OIDC != nil && c.Identity.OIDC.WorkerURL != "" {
		return strings.TrimSuffix(c.Identity.OIDC.WorkerURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		return "http://" + c.HTTP.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

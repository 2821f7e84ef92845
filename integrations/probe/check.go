package probe

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Kind names a kind of check.
type Kind string

// The kinds of check.
const (
	HTTP     Kind = "http"
	TCP      Kind = "tcp"
	Postgres Kind = "postgres"
)

// Roles a PostgreSQL check can expect.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// DefaultTimeout bounds one attempt when a check sets no timeout.
const DefaultTimeout = 5 * time.Second

// MaxTimeout is the longest timeout a configured check may set. A probe that names a check without
// its definition cannot know the check's timeout, and gives each attempt this long.
const MaxTimeout = time.Minute

// Check describes one health check. Fields apply to the kinds named in their comments; Validate reports
// fields that do not fit the kind.
type Check struct {
	// Name identifies the check: the name it is configured under on the worker (probes.checks).
	// A probe may give only the name, to run the check as the worker configures it.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Kind is http, tcp or postgres.
	Kind Kind `json:"kind,omitempty" yaml:"kind"`
	// Optional checks are reported but do not make the probe unhealthy.
	Optional bool `json:"optional,omitempty" yaml:"optional,omitempty"`
	// Timeout bounds one attempt (default 5s).
	Timeout units.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// MaxLatency fails an attempt that succeeds more slowly than this.
	MaxLatency units.Duration `json:"max_latency,omitempty" yaml:"max_latency,omitempty"`

	// URL to request (http).
	URL string `json:"url,omitempty" yaml:"url,omitempty"`
	// Method is the HTTP method (http, default GET).
	Method string `json:"method,omitempty" yaml:"method,omitempty"`
	// Headers are sent with the request (http). Put no credentials here: inputs are stored in history.
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	// ExpectStatus lists the status codes that pass (http, default any 2xx or 3xx).
	ExpectStatus []int `json:"expect_status,omitempty" yaml:"expect_status,omitempty"`
	// BodyContains must appear in the first 64 KiB of the response body (http).
	BodyContains string `json:"body_contains,omitempty" yaml:"body_contains,omitempty"`
	// InsecureSkipVerify accepts any TLS certificate (http).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" yaml:"insecure_skip_verify,omitempty"`

	// Address is host:port to connect to (tcp).
	Address string `json:"address,omitempty" yaml:"address,omitempty"`

	// DSNSecret names the worker secret that holds the connection string (postgres).
	DSNSecret string `json:"dsn_secret,omitempty" yaml:"dsn_secret,omitempty"`
	// Query runs on each attempt and must return without error (postgres, default "SELECT 1").
	Query string `json:"query,omitempty" yaml:"query,omitempty"`
	// ExpectRole is primary or replica; the server's pg_is_in_recovery() must match (postgres).
	ExpectRole string `json:"expect_role,omitempty" yaml:"expect_role,omitempty"`
	// MaxReplicationLag fails a replica whose replay lags further behind (postgres).
	MaxReplicationLag units.Duration `json:"max_replication_lag,omitempty" yaml:"max_replication_lag,omitempty"`
}

// DisplayName is the check's name, or its kind and target when it has none.
func (c Check) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return string(c.Kind) + " " + c.Target()
}

// Target is what the check looks at, safe to show: the URL without its password, query or
// fragment (which may carry a token), the address, or the secret's name.
func (c Check) Target() string {
	switch c.Kind {
	case HTTP:
		u, err := url.Parse(c.URL)
		if err != nil {
			return "(an invalid URL)"
		}
		u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
		return u.Redacted()
	case TCP:
		return c.Address
	case Postgres:
		return "secret " + c.DSNSecret
	}
	return ""
}

// IsReference reports whether the check gives only its name: it asks for the check of that name as
// the worker configures it.
func (c Check) IsReference() bool {
	return c.Name != "" && c.Kind == "" && !c.Optional && c.Timeout == 0 && c.MaxLatency == 0 &&
		c.URL == "" && c.Method == "" && len(c.Headers) == 0 && len(c.ExpectStatus) == 0 && c.BodyContains == "" && !c.InsecureSkipVerify &&
		c.Address == "" &&
		c.DSNSecret == "" && c.Query == "" && c.ExpectRole == "" && c.MaxReplicationLag == 0
}

// Same reports whether c and o define the same check, field for field. An empty list or map is the
// same as none.
func (c Check) Same(o Check) bool {
	return c.Name == o.Name && c.Kind == o.Kind && c.Optional == o.Optional && c.Timeout == o.Timeout && c.MaxLatency == o.MaxLatency &&
		c.URL == o.URL && c.Method == o.Method && maps.Equal(c.Headers, o.Headers) && slices.Equal(c.ExpectStatus, o.ExpectStatus) &&
		c.BodyContains == o.BodyContains && c.InsecureSkipVerify == o.InsecureSkipVerify &&
		c.Address == o.Address &&
		c.DSNSecret == o.DSNSecret && c.Query == o.Query && c.ExpectRole == o.ExpectRole && c.MaxReplicationLag == o.MaxReplicationLag
}

// Validate returns every problem with the check, joined, or nil. Field names in messages are the JSON
// names, prefixed with path (such as "checks[2]").
func (c Check) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if c.MaxLatency != 0 && c.MaxLatency.D() > c.Timeout.Or(DefaultTimeout) {
		bad("max_latency", "%s is longer than the attempt timeout %s", c.MaxLatency, c.Timeout.Or(DefaultTimeout))
	}
	notFor := func(field string, set bool) {
		if set {
			bad(field, "does not apply to a %s check", c.Kind)
		}
	}
	switch c.Kind {
	case HTTP:
		u, err := url.Parse(c.URL)
		switch {
		case c.URL == "":
			bad("url", "required for an http check")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("url", "%q is not an absolute http(s) URL", c.URL)
		}
		for _, s := range c.ExpectStatus {
			if s < 100 || s > 599 {
				bad("expect_status", "%d is not an HTTP status code", s)
			}
		}
		notFor("address", c.Address != "")
		notFor("dsn_secret", c.DSNSecret != "")
	case TCP:
		if c.Address == "" {
			bad("address", "required for a tcp check")
		} else if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			bad("address", "%q is not host:port", c.Address)
		}
		notFor("url", c.URL != "")
		notFor("dsn_secret", c.DSNSecret != "")
	case Postgres:
		if c.DSNSecret == "" {
			bad("dsn_secret", "required for a postgres check: name a secret configured on the worker")
		}
		switch c.ExpectRole {
		case "", RolePrimary, RoleReplica:
		default:
			bad("expect_role", "%q is neither %q nor %q", c.ExpectRole, RolePrimary, RoleReplica)
		}
		if c.MaxReplicationLag != 0 && c.ExpectRole == RolePrimary {
			bad("max_replication_lag", "applies to replicas, but expect_role is primary")
		}
		notFor("url", c.URL != "")
		notFor("address", c.Address != "")
	case "":
		bad("kind", "required: one of http, tcp, postgres (or give only the name of a check configured on the worker)")
	default:
		bad("kind", "%q is not one of http, tcp, postgres", c.Kind)
	}
	if c.Kind != HTTP {
		notFor("expect_status", len(c.ExpectStatus) > 0)
		notFor("body_contains", c.BodyContains != "")
	}
	if strings.ContainsAny(c.Name, "\n\r") {
		bad("name", "must be a single line")
	}
	return errors.Join(errs...)
}

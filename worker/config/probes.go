package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// Probes are the health checks the HealthProbe workflow may run. A probe names them; the worker
// runs each as configured here and refuses any other, so that starting a workflow never lets
// anyone send requests, connections or SQL of their choosing from the worker.
type Probes struct {
	// AllowedHosts are the hosts that http and tcp checks may reach; every check's URL or address
	// must match one. A pattern is a name or IP address ("db.internal", "10.0.0.7", "::1"), which
	// allows any port, or with a port ("db.internal:5432", "[::1]:8080"), which allows that port
	// only. "*.internal.example.com" allows every name under internal.example.com (not the name
	// itself), with an optional port as well. Names are compared without regard to case, before
	// DNS resolves them: allowing a name trusts what it resolves to. A bare "*" is refused.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Checks are the named checks, with the fields of a health check (README, "The HealthProbe
	// input"); name is required and unique. A check's timeout may be at most 1m. A postgres
	// check's query runs in a read-only transaction, and its dsn_secret must be in secrets.
	Checks []probe.Check `yaml:"checks"`
	// Targets name groups of checks: `lifeboat probe run --target orders` runs every check listed
	// under orders.
	Targets map[string][]string `yaml:"targets"`
}

// probeName is what a check or target may be called: it is typed on command lines.
var probeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Validate returns every problem with the section, joined, or nil. secrets are the configured
// secrets, which postgres checks name.
func (p Probes) Validate(secrets map[string]string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	var allowed []hostPattern
	for i, s := range p.AllowedHosts {
		h, err := parseHostPattern(s)
		if err != nil {
			bad(fmt.Sprintf("probes.allowed_hosts[%d]", i), "%q: %v", s, err)
			continue
		}
		allowed = append(allowed, h)
	}
	seen := map[string]int{}
	for i, c := range p.Checks {
		path := fmt.Sprintf("probes.checks[%d]", i)
		if c.Name != "" {
			path += " (" + c.Name + ")"
		}
		switch j, dup := seen[c.Name]; {
		case c.Name == "":
			bad(path+".name", "required: probes name the checks they run")
		case !probeName.MatchString(c.Name):
			bad(path+".name", "%q: use at most 63 letters, digits and '.', '_', '-', starting with a letter or digit", c.Name)
		case dup:
			bad(path+".name", "%q is also the name of probes.checks[%d]", c.Name, j)
		default:
			seen[c.Name] = i
		}
		if err := c.Validate(path); err != nil {
			errs = append(errs, err)
		}
		if c.Timeout.D() > probe.MaxTimeout {
			bad(path+".timeout", "%s is longer than %s, the most an attempt may take", c.Timeout, probe.MaxTimeout)
		}
		switch c.Kind {
		case probe.HTTP, probe.TCP:
			host, port, field, ok := checkHost(c)
			if ok && !slices.ContainsFunc(allowed, func(h hostPattern) bool { return h.matches(host, port) }) {
				bad(path+"."+field, "host %s is not in probes.allowed_hosts: add it there (or a pattern such as *.example.com) to let checks reach it",
					net.JoinHostPort(host, port))
			}
		case probe.Postgres:
			if _, ok := secrets[c.DSNSecret]; c.DSNSecret != "" && !ok {
				bad(path+".dsn_secret", "secret %q is not in secrets", c.DSNSecret)
			}
		}
	}
	targets := make([]string, 0, len(p.Targets))
	for t := range p.Targets {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	for _, t := range targets {
		path := "probes.targets." + t
		if !probeName.MatchString(t) {
			bad("probes.targets", "%q: use at most 63 letters, digits and '.', '_', '-', starting with a letter or digit", t)
		}
		if len(p.Targets[t]) == 0 {
			bad(path, "lists no checks")
		}
		listed := map[string]bool{}
		for _, name := range p.Targets[t] {
			if _, ok := seen[name]; !ok {
				bad(path, "check %q is not in probes.checks", name)
			}
			if listed[name] {
				bad(path, "lists check %q twice", name)
			}
			listed[name] = true
		}
	}
	return errors.Join(errs...)
}

// ByName returns the configured checks by name.
func (p Probes) ByName() map[string]probe.Check {
	m := make(map[string]probe.Check, len(p.Checks))
	for _, c := range p.Checks {
		m[c.Name] = c
	}
	return m
}

// checkHost returns the host and port an http or tcp check reaches, and the field that names them;
// ok is false when the check does not name them well enough to tell (Check.Validate says why).
func checkHost(c probe.Check) (host, port, field string, ok bool) {
	if c.Kind == probe.TCP {
		h, p, err := net.SplitHostPort(c.Address)
		return h, p, "address", err == nil && h != ""
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Hostname() == "" {
		return "", "", "url", false
	}
	port = u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	return u.Hostname(), port, "url", true
}

// hostPattern is one entry of allowed_hosts.
type hostPattern struct {
	// host is a name or address; suffix, when set, is the ".example.com" of "*.example.com".
	host, suffix string
	// port is empty for any port.
	port string
}

func parseHostPattern(s string) (hostPattern, error) {
	var h hostPattern
	if strings.ContainsAny(s, "/@?# ") {
		return h, errors.New("give a host or host:port, not a URL")
	}
	host := s
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		var err error
		if host, h.port, err = net.SplitHostPort(s); err != nil {
			return h, errors.New("not a host or host:port")
		}
		if n, err := strconv.Atoi(h.port); err != nil || n < 1 || n > 65535 {
			return h, fmt.Errorf("port %q is not a number from 1 to 65535", h.port)
		}
	}
	host = normalHost(host)
	switch {
	case host == "":
		return h, errors.New("empty host")
	case host == "*":
		return h, errors.New("a bare * would allow every host: list the hosts checks may reach")
	case strings.HasPrefix(host, "*."):
		h.suffix = host[1:]
		if strings.Contains(h.suffix, "*") || h.suffix == "." {
			return h, errors.New("a wildcard is allowed only as a leading *. (as in *.example.com)")
		}
	case strings.Contains(host, "*"):
		return h, errors.New("a wildcard is allowed only as a leading *. (as in *.example.com)")
	default:
		h.host = host
	}
	return h, nil
}

// matches reports whether the pattern allows host on port.
func (h hostPattern) matches(host, port string) bool {
	if h.port != "" && h.port != port {
		return false
	}
	host = normalHost(host)
	if h.suffix != "" {
		return strings.HasSuffix(host, h.suffix) && len(host) > len(h.suffix)
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.Equal(net.ParseIP(h.host))
	}
	return host == h.host
}

// normalHost is host in lower case, without a trailing dot.
func normalHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

package config

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// The probes section as docs/configuration.md shows it loads, with durations, headers from the
// environment and targets, and validates.
func TestProbesLoadAndValidate(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lifeboat.yaml", `
secrets:
  orders-primary: postgres://probe@db1.internal/orders
probes:
  allowed_hosts: [orders.internal.example.com, "*.db.example.com:5432", 127.0.0.1]
  checks:
    - name: orders-api
      kind: http
      url: https://orders.internal.example.com/healthz
      headers: {Authorization: "Bearer ${PROBE_TOKEN}"}
      expect_status: [200]
      body_contains: ok
      max_latency: 500ms
    - {name: orders-port, kind: tcp, address: "pg1.db.example.com:5432", timeout: 2s}
    - {name: orders-primary, kind: postgres, dsn_secret: orders-primary, expect_role: primary, query: "SELECT count(*) FROM orders"}
  targets:
    orders: [orders-api, orders-port, orders-primary]
`)
	cfg, err := Load(path, MapEnv(map[string]string{"PROBE_TOKEN": "t0k"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := cfg.Probes.ByName()
	api, port := checks["orders-api"], checks["orders-port"]
	if api.Headers["Authorization"] != "Bearer t0k" || api.MaxLatency.D() != 500*time.Millisecond || api.ExpectStatus[0] != 200 {
		t.Fatalf("orders-api = %+v", api)
	}
	if port.Kind != probe.TCP || port.Timeout.D() != 2*time.Second || checks["orders-primary"].ExpectRole != probe.RolePrimary {
		t.Fatalf("checks = %+v", checks)
	}
	if got := strings.Join(cfg.Probes.Targets["orders"], ","); got != "orders-api,orders-port,orders-primary" {
		t.Fatalf("targets = %v", cfg.Probes.Targets)
	}
}

func TestLoadRefusesUnknownProbeFields(t *testing.T) {
	path := writeFile(t, t.TempDir(), "lifeboat.yaml", "probes:\n  checks:\n    - {name: a, kind: tcp, adress: \"h:1\"}\n")
	if _, err := Load(path, MapEnv(nil)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("error = %v, want the unknown field named", err)
	}
}

// Every problem of the section at once, each naming the check and the field.
func TestProbesValidateReportsEveryProblem(t *testing.T) {
	p := Probes{
		AllowedHosts: []string{"api.example.com", "*.db.example.com:5432", "*", "https://x.example.com/", "*.exa*mple.com", "h:0", ""},
		Checks: []probe.Check{
			{Kind: probe.TCP, Address: "api.example.com:443"},
			{Name: "api", Kind: probe.HTTP, URL: "https://api.example.com/healthz"},
			{Name: "api", Kind: probe.HTTP, URL: "http://api.example.com:8080/healthz"},
			{Name: "metadata", Kind: probe.HTTP, URL: "http://169.254.169.254/latest/meta-data/"},
			{Name: "sneaky", Kind: probe.HTTP, URL: "https://api.example.com.evil.test/"},
			{Name: "db-port", Kind: probe.TCP, Address: "pg1.db.example.com:5432"},
			{Name: "db-ssh", Kind: probe.TCP, Address: "pg1.db.example.com:22"},
			{Name: "apex", Kind: probe.TCP, Address: "db.example.com:5432"},
			{Name: "pg", Kind: probe.Postgres, DSNSecret: "nope"},
			{Name: "bad kind", Kind: "icmp"},
			{Name: "slow", Kind: probe.TCP, Address: "api.example.com:1", Timeout: units.Duration(2 * time.Minute)},
		},
		Targets: map[string][]string{"orders": {"api", "gone", "api"}, "empty": nil},
	}
	err := p.Validate(map[string]string{"orders-db": "postgres://x"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`probes.allowed_hosts[2]: "*": a bare * would allow every host`,
		`probes.allowed_hosts[3]: "https://x.example.com/": give a host or host:port, not a URL`,
		`probes.allowed_hosts[4]: "*.exa*mple.com": a wildcard is allowed only as a leading *.`,
		`probes.allowed_hosts[5]: "h:0": port "0" is not a number from 1 to 65535`,
		`probes.allowed_hosts[6]: "": empty host`,
		"probes.checks[0].name: required",
		`probes.checks[2] (api).name: "api" is also the name of probes.checks[1]`,
		"probes.checks[3] (metadata).url: host 169.254.169.254:80 is not in probes.allowed_hosts",
		"probes.checks[4] (sneaky).url: host api.example.com.evil.test:443 is not in probes.allowed_hosts",
		"probes.checks[6] (db-ssh).address: host pg1.db.example.com:22 is not in probes.allowed_hosts",
		"probes.checks[7] (apex).address: host db.example.com:5432 is not in probes.allowed_hosts",
		`probes.checks[8] (pg).dsn_secret: secret "nope" is not in secrets`,
		`probes.checks[9] (bad kind).name: "bad kind": use at most 63 letters`,
		`probes.checks[9] (bad kind).kind: "icmp" is not one of`,
		"probes.checks[10] (slow).timeout: 2m0s is longer than 1m0s",
		"probes.targets.empty: lists no checks",
		`probes.targets.orders: check "gone" is not in probes.checks`,
		`probes.targets.orders: lists check "api" twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	for _, allowed := range []string{"checks[1] (api)", "checks[2] (api).url", "checks[5] (db-port)"} {
		if strings.Contains(err.Error(), allowed+".url: host") || strings.Contains(err.Error(), allowed+".address: host") {
			t.Errorf("%s is allowed, but: %v", allowed, err)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	tests := []struct {
		pattern, host, port string
		want                bool
	}{
		{"db.internal", "db.internal", "5432", true},
		{"db.internal", "DB.Internal.", "80", true},
		{"db.internal", "db.internal.evil.test", "80", false},
		{"db.internal:5432", "db.internal", "5432", true},
		{"db.internal:5432", "db.internal", "22", false},
		{"*.example.com", "a.b.example.com", "443", true},
		{"*.example.com", "example.com", "443", false},
		{"*.example.com", "badexample.com", "443", false},
		{"*.example.com:443", "api.example.com", "80", false},
		{"10.0.0.7", "10.0.0.7", "5432", true},
		{"::1", "0:0:0:0:0:0:0:1", "80", true},
		{"[::1]:8080", "::1", "8080", true},
		{"[::1]:8080", "::1", "80", false},
		{"127.0.0.1", "localhost", "80", false},
	}
	for _, tt := range tests {
		h, err := parseHostPattern(tt.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tt.pattern, err)
		}
		if got := h.matches(tt.host, tt.port); got != tt.want {
			t.Errorf("%q matches %s port %s = %v, want %v", tt.pattern, tt.host, tt.port, got, tt.want)
		}
	}
}

package pgprobe

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
)

// A connection string that does not parse is a misconfiguration, named without its value.
func TestInvalidDSNIsMisconfiguredAndNotShown(t *testing.T) {
	p := probe.Prober{Secrets: secrets.Static{"bad": "not a dsn ::: %%"}, Postgres: Check}
	_, err := p.Run(context.Background(), probe.Check{Kind: probe.Postgres, DSNSecret: "bad"})
	if !errors.Is(err, probe.ErrMisconfigured) || strings.Contains(err.Error(), "%%") {
		t.Fatalf("error = %v, want ErrMisconfigured without the secret's value", err)
	}
}

// Against a real primary and replica: roles, lag and the expectations on them.
func TestRolesAndLag(t *testing.T) {
	pg := pgtest.Start(t, pgtest.WithReplica())
	p := probe.Prober{Secrets: secrets.Static{"primary": pg.DSN("postgres"), "replica": pg.Replica.DSN("postgres")}, Postgres: Check}
	for _, tc := range []struct {
		name  string
		check probe.Check
		ok    bool
		say   string
	}{
		{"primary", probe.Check{Kind: probe.Postgres, DSNSecret: "primary", ExpectRole: probe.RolePrimary}, true, "primary"},
		{"replica", probe.Check{Kind: probe.Postgres, DSNSecret: "replica", ExpectRole: probe.RoleReplica}, true, "replica"},
		{"wrong role", probe.Check{Kind: probe.Postgres, DSNSecret: "primary", ExpectRole: probe.RoleReplica}, false, "server is a primary, want replica"},
		{"bad query", probe.Check{Kind: probe.Postgres, DSNSecret: "primary", Query: "SELECT nope"}, false, "query:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.Run(context.Background(), tc.check)
			if err != nil {
				t.Fatal(err)
			}
			got := out.Detail + out.Reason
			if out.OK != tc.ok || !strings.Contains(got, tc.say) {
				t.Fatalf("outcome %+v, want ok %v saying %q", out, tc.ok, tc.say)
			}
		})
	}
}

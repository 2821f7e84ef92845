package pgprobe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
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
		{"wrong role", probe.Check{Kind: probe.Postgres, DSNSecret: "primary", ExpectRole: probe.RoleReplica}, false, "not in recovery (a primary), want a replica"},
		{"replica for a primary", probe.Check{Kind: probe.Postgres, DSNSecret: "replica", ExpectRole: probe.RolePrimary}, false, "in recovery (a replica), want a primary"},
		{"bad query", probe.Check{Kind: probe.Postgres, DSNSecret: "primary", Query: "SELECT nope"}, false, "query failed (SQLSTATE 42703)"},
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

// A check's query runs read-only: every way of writing fails, is reported as such, and leaves the
// database as it was.
func TestQueriesCannotWrite(t *testing.T) {
	pg := pgtest.Start(t)
	pg.CreateDatabase(t, "orders")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2); CREATE SEQUENCE order_ids"); err != nil {
		t.Fatal(err)
	}
	p := probe.Prober{Secrets: secrets.Static{"orders": pg.DSN("orders")}, Postgres: Check}
	for _, tc := range []struct{ query, reason string }{
		{"INSERT INTO orders VALUES (3)", probe.ReasonReadOnly},
		{"UPDATE orders SET id = id + 10", probe.ReasonReadOnly},
		{"DELETE FROM orders", probe.ReasonReadOnly},
		{"CREATE TABLE stolen (x text)", probe.ReasonReadOnly},
		{"DROP TABLE orders", probe.ReasonReadOnly},
		{"TRUNCATE orders", probe.ReasonReadOnly},
		{"SELECT nextval('order_ids')", probe.ReasonReadOnly},
		{"DO $$ BEGIN INSERT INTO orders VALUES (4); END $$", probe.ReasonReadOnly},
		{"SET TRANSACTION READ WRITE", probe.ReasonQuery + " (SQLSTATE 25001)"},
		// More than one statement is refused, so that COMMIT cannot end the read-only transaction first.
		{"COMMIT; DROP TABLE orders", probe.ReasonQuery + " (SQLSTATE 42601)"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			out, err := p.Run(ctx, probe.Check{Kind: probe.Postgres, DSNSecret: "orders", Query: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			if out.OK || out.Reason != tc.reason {
				t.Fatalf("outcome %+v, want a failure saying %q", out, tc.reason)
			}
		})
	}
	var rows int
	var stolen *string
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM orders), to_regclass('stolen')::text").Scan(&rows, &stolen); err != nil {
		t.Fatalf("the orders table is gone: %v", err)
	}
	var next int64
	if err := conn.QueryRow(ctx, "SELECT nextval('order_ids')").Scan(&next); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || stolen != nil || next != 1 {
		t.Fatalf("after the checks: %d rows (want 2), table stolen %v (want none), sequence at %d (want 1)", rows, stolen, next)
	}
	// A read passes, and a slow one is stopped at the check's timeout.
	out, err := p.Run(ctx, probe.Check{Kind: probe.Postgres, DSNSecret: "orders", Query: "SELECT count(*) FROM orders"})
	if err != nil || !out.OK {
		t.Fatalf("a read: %+v, %v", out, err)
	}
	start := time.Now()
	out, err = p.Run(ctx, probe.Check{Kind: probe.Postgres, DSNSecret: "orders", Query: "SELECT pg_sleep(30)", Timeout: units.Duration(500 * time.Millisecond)})
	if err != nil || out.OK || !strings.HasPrefix(out.Reason, probe.ReasonTimeout) || time.Since(start) > 10*time.Second {
		t.Fatalf("a slow query: %+v, %v after %s", out, err, time.Since(start))
	}
}

// The server's error text, the DSN and the address stay out of the report; the full error is the
// outcome's Cause, for the log.
func TestReasonsQuoteNothingTheServerSaid(t *testing.T) {
	pg := pgtest.Start(t)
	const secret = "hunter2-s3cret"
	closed := fmt.Sprintf("postgres://probe:%s@127.0.0.1:1/orders?sslmode=disable&connect_timeout=2", secret)
	p := probe.Prober{Secrets: secrets.Static{"db": pg.DSN("postgres"), "down": closed}, Postgres: Check}
	for _, tc := range []struct {
		name, secret, query, reason, cause string
	}{
		{"data in the error", "db", "SELECT '" + secret + "'::int", probe.ReasonQuery + " (SQLSTATE 22P02)", secret},
		{"a name in the error", "db", `SELECT * FROM "` + secret + `"`, probe.ReasonQuery + " (SQLSTATE 42P01)", secret},
		{"server down", "down", "", probe.ReasonRefused, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.Run(context.Background(), probe.Check{Kind: probe.Postgres, DSNSecret: tc.secret, Query: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			if out.OK || out.Reason != tc.reason {
				t.Fatalf("outcome %+v, want reason %q", out, tc.reason)
			}
			if out.Cause == nil || !strings.Contains(out.Cause.Error(), tc.cause) {
				t.Fatalf("cause %v, want the full error for the log", out.Cause)
			}
			for _, leak := range []string{secret, "127.0.0.1", "probe:", fmt.Sprint(pg.Port)} {
				if strings.Contains(out.Reason+out.Detail, leak) {
					t.Errorf("report %q quotes %q", out.Reason, leak)
				}
			}
		})
	}
}

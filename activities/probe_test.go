package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/probe/pgprobe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// configuredProbes loads a worker configuration and builds the Probes activities from it, as the
// worker does, logging to log.
func configuredProbes(t *testing.T, yaml string, log *bytes.Buffer) *Probes {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifeboat.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Probes.Validate(cfg.Secrets); err != nil {
		t.Fatal(err)
	}
	return &Probes{
		Prober: &probe.Prober{Secrets: secrets.Static(cfg.Secrets), Postgres: pgprobe.Check},
		Checks: cfg.Probes.ByName(),
		Logger: slog.New(slog.NewTextHandler(log, nil)),
	}
}

func probeCheck(t *testing.T, p *Probes, c probe.Check) (contract.ProbeCheckResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(p)
	v, err := env.ExecuteActivity(p.ProbeCheck, contract.ProbeCheckInput{Target: "test", Check: c})
	var res contract.ProbeCheckResult
	if err == nil {
		err = v.Get(&res)
	}
	return res, err
}

// A configured check whose query writes fails, and the database is as it was: the query runs in a
// read-only transaction. A caller cannot swap the query either.
func TestConfiguredChecksCannotWrite(t *testing.T) {
	pg := pgtest.Start(t)
	pg.CreateDatabase(t, "orders")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	p := configuredProbes(t, fmt.Sprintf(`
secrets:
  orders: %s
probes:
  checks:
    - {name: orders-count, kind: postgres, dsn_secret: orders, query: "SELECT count(*) FROM orders"}
    - {name: orders-insert, kind: postgres, dsn_secret: orders, query: "INSERT INTO orders VALUES (3)"}
    - {name: orders-create, kind: postgres, dsn_secret: orders, query: "CREATE TABLE stolen AS SELECT * FROM orders"}
    - {name: orders-drop, kind: postgres, dsn_secret: orders, query: "DROP TABLE orders"}
`, pg.DSN("orders")), &log)

	for _, name := range []string{"orders-insert", "orders-create", "orders-drop"} {
		res, err := probeCheck(t, p, probe.Check{Name: name})
		if err != nil || res.OK || res.Reason != probe.ReasonReadOnly {
			t.Fatalf("%s: %+v, %v; want a failure saying %q", name, res, err, probe.ReasonReadOnly)
		}
	}
	// The configured read, with its query swapped for a write, is refused before it runs.
	_, err = probeCheck(t, p, probe.Check{Name: "orders-count", Kind: probe.Postgres, DSNSecret: "orders", Query: "DELETE FROM orders"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeProbeRefused {
		t.Fatalf("altered query: %v, want %s", err, contract.ErrTypeProbeRefused)
	}
	res, err := probeCheck(t, p, probe.Check{Name: "orders-count"})
	if err != nil || !res.OK || res.Kind != probe.Postgres || res.Target != "secret orders" {
		t.Fatalf("orders-count: %+v, %v", res, err)
	}

	var rows int
	var stolen *string
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM orders), to_regclass('stolen')::text").Scan(&rows, &stolen); err != nil {
		t.Fatalf("the orders table is gone: %v", err)
	}
	if rows != 2 || stolen != nil {
		t.Fatalf("after the checks: %d rows (want 2), table stolen %v (want none)", rows, stolen)
	}
	// The log has the server's own words.
	if !strings.Contains(log.String(), "read-only transaction") {
		t.Fatalf("log lacks the server's error:\n%s", log.String())
	}
}

// Nothing a target says reaches the result, which is stored in history: not a body that looks
// like a secret, not a server error that quotes a password, not an address. The worker's log has
// the full error.
func TestProbeResultsQuoteNothingTheTargetSaid(t *testing.T) {
	const secret = "hunter2-s3cret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "AWS_SECRET_ACCESS_KEY=%s\npostgres://admin:%s@10.1.2.3/orders\n", secret, secret)
	}))
	defer srv.Close()
	pg := pgtest.Start(t)
	var log bytes.Buffer
	p := configuredProbes(t, fmt.Sprintf(`
secrets:
  db: %s
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: leaky-api, kind: http, url: "%s/healthz", body_contains: ready}
    - {name: leaky-db, kind: postgres, dsn_secret: db, query: "SELECT 'password=%s'::int"}
`, pg.DSN("postgres"), srv.URL, secret), &log)

	for name, want := range map[string]string{
		"leaky-api": "HTTP 503, want 2xx or 3xx",
		"leaky-db":  probe.ReasonQuery + " (SQLSTATE 22P02)",
	} {
		res, err := probeCheck(t, p, probe.Check{Name: name})
		if err != nil || res.OK || res.Reason != want {
			t.Fatalf("%s: %+v, %v; want reason %q", name, res, err, want)
		}
		for _, leak := range []string{secret, "10.1.2.3", "AWS_SECRET"} {
			if strings.Contains(res.Reason+res.Detail, leak) {
				t.Errorf("%s: result %+v quotes %q", name, res, leak)
			}
		}
	}
	if !strings.Contains(log.String(), "password="+secret) {
		t.Fatalf("the worker's log lacks the full error:\n%s", log.String())
	}
}

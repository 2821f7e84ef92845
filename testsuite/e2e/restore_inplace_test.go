package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// TestInPlaceDatabaseRestoreSurvivesAWorkerKill restores a PostgreSQL asset in place with the real
// worker, CLI and dev server, SIGKILLs the worker while pg_restore fills the side database, and
// shows the live database untouched — every row, the ones written after the backup too. A new
// worker then finishes the restore: the restored database takes the name, the old one is kept under
// a dated name with everything it had, and nothing of the interrupted attempt is left.
func TestInPlaceDatabaseRestoreSurvivesAWorkerKill(t *testing.T) {
	temporal := devserver.Start(t)
	pg := pgtest.Start(t)
	ctx := context.Background()
	pg.CreateDatabase(t, "shop")
	query := func(db, sql string, dest ...any) {
		t.Helper()
		conn, err := pgx.Connect(ctx, pg.DSN(db))
		if err != nil {
			t.Fatalf("connect %s: %v", db, err)
		}
		defer conn.Close(ctx)
		if len(dest) == 0 {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			return
		}
		if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Big enough that pg_restore runs for a few seconds.
	query("shop", `CREATE TABLE orders (id bigint PRIMARY KEY, item text NOT NULL, note text);
		INSERT INTO orders SELECT g, 'item-' || g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 1500000) g`)
	count := func(db string) int64 {
		t.Helper()
		var n int64
		query(db, "SELECT count(*) FROM orders", &n)
		return n
	}

	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: %s
identity: trust-client
http:
  listen: %s
secrets:
  shop-dsn: %s
  repo-pass: correct horse battery staple
log:
  format: text
assets:
  - name: shop
    source:
      postgres: {dsn_secret: shop-dsn}
    repository: {location: %s, password_secret: repo-pass}
    schedule: {every: 24h}
    retention: {last: 5}
    rpo: 48h
    verify:
      schedule: {every: 168h}
      checks:
        - {name: orders are there, row_count: {table: orders, min_rows: 1000000}}
    owners: [bob]
`, temporal.HostPort, httpAddr, pg.DSN("shop"), filepath.Join(dir, "repo")))
	env := os.Environ()
	httpBase := "http://" + httpAddr
	worker := startWorker(t, configPath, env, httpBase)
	lifeboat := func(args ...string) string {
		t.Helper()
		s := &stack{configPath: configPath, env: env}
		stdout, stderr, code := s.lifeboat(t, args...)
		if code != 0 {
			t.Fatalf("lifeboat %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}

	lifeboat("backup", "run", "shop", "--skip-retention")
	// The live database moves on after the backup: these rows must never be lost.
	query("shop", `INSERT INTO orders SELECT g, 'late-' || g, 'after the backup' FROM generate_series(1500001, 1500500) g`)
	const live = 1500500

	out := lifeboat("restore", "shop", "--in-place", "--requester", "alice", "--no-wait", "-o", "json")
	id := jsonField(t, out, "workflow_id")
	// The gate opens once the restore has planned its scope; a decision before that is refused.
	for try := 0; ; try++ {
		s := &stack{configPath: configPath, env: env}
		stdout, stderr, code := s.lifeboat(t, "approve", id, "--as", "bob")
		if code == 0 {
			break
		}
		if try == 100 {
			t.Fatalf("approve: exit %d\n%s\n%s", code, stdout, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Kill the worker while pg_restore writes into the side database.
	deadline := time.Now().Add(2 * time.Minute)
	var side string
	for side == "" {
		conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.QueryRow(ctx, `SELECT d.datname FROM pg_database d JOIN pg_stat_activity a ON a.datname = d.datname
			WHERE d.datname LIKE 'lifeboat_side_%' AND a.application_name = 'pg_restore' LIMIT 1`).Scan(&side)
		conn.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatalf("pg_restore never started on a side database:\n%s", worker.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := worker.Kill(); err != nil {
		t.Fatal(err)
	}
	if n := count("shop"); n != live {
		t.Fatalf("after the worker died mid-restore the live database has %d orders, want its %d", n, live)
	}
	var exists bool
	query("postgres", "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '"+side+"')", &exists)
	if !exists {
		t.Fatalf("the side database %s the killed attempt was filling is gone before any retry", side)
	}
	t.Logf("worker killed while pg_restore filled %s; shop still has all %d orders", side, live)

	// A new worker retries the activity: it drops its own side database, restores, checks and swaps.
	startWorker(t, configPath, env, httpBase)
	c := temporal.Dial(t, client.Options{})
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := c.GetWorkflow(wctx, id, "").Get(wctx, nil); err != nil {
		t.Fatalf("the restore did not finish after the worker came back: %v", err)
	}
	if n := count("shop"); n != 1500000 {
		t.Fatalf("after the restore shop has %d orders, want the snapshot's 1500000", n)
	}
	var kept string
	query("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'shop_replaced_%'", &kept)
	if n := count(kept); n != live {
		t.Fatalf("the kept database %s has %d orders, want the %d the live one had", kept, n, live)
	}
	var leftovers int
	query("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_side_%'", &leftovers)
	if leftovers != 0 {
		t.Fatalf("%d side databases left behind", leftovers)
	}
	if show := lifeboat("status", id); !strings.Contains(show, kept) {
		t.Fatalf("status does not name the kept database %s:\n%s", kept, show)
	}
}

// jsonField reads one string field of a JSON object printed by the CLI.
func jsonField(t *testing.T, out, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	v, _ := m[field].(string)
	if v == "" {
		t.Fatalf("no %s in\n%s", field, out)
	}
	return v
}

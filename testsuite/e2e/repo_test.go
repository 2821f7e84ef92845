package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
)

// TestRepoCLIWithPostgres backs a real database up with `lifeboat repo backup --postgres`, restores
// it into a new database with `lifeboat repo restore --postgres`, and compares them.
func TestRepoCLIWithPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	pg.CreateDatabase(t, "orders")
	conn, err := pgx.Connect(ctx, pg.DSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL);
		INSERT INTO orders (item) SELECT 'item-' || g FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	env := append(os.Environ(), "LIFEBOAT_REPO="+filepath.Join(t.TempDir(), "repo"), "LIFEBOAT_REPO_PASSWORD=e2e")
	lifeboat := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "lifeboat"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	lifeboat("repo", "init")
	if out := lifeboat("repo", "backup", "--postgres", pg.DSN("orders"), "--source", "orders-db"); !strings.Contains(out, "snapshot") {
		t.Fatalf("backup output:\n%s", out)
	}
	if out := lifeboat("repo", "ls", "latest"); !strings.Contains(out, "/orders.dump") {
		t.Fatalf("snapshot does not hold the dump:\n%s", out)
	}
	lifeboat("repo", "restore", "latest", "--postgres", pg.DSN("postgres"), "--database", "orders_restored")
	restored, err := pgx.Connect(ctx, pg.DSN("orders_restored"))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close(ctx)
	var n int
	var last string
	if err := restored.QueryRow(ctx, `SELECT count(*), max(item) FROM orders`).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	if n != 5000 || last != "item-999" {
		t.Fatalf("restored %d rows, max %q", n, last)
	}
	check := lifeboat("repo", "check", "--read-data")
	if !strings.Contains(check, "no errors") {
		t.Fatalf("check:\n%s", check)
	}
}

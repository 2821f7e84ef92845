package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
)

// seedSQL fills the orders database: 200,000 generated orders with bytea payloads (a dump of
// several MB), a foreign key, an index, a view and a sequence that has been used.
const seedSQL = `
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 1000) i;
CREATE TABLE orders (
	id          bigserial PRIMARY KEY,
	customer_id int NOT NULL REFERENCES customers (id),
	amount      numeric(12, 2) NOT NULL,
	note        text,
	payload     bytea,
	created     timestamptz NOT NULL
);
INSERT INTO orders (customer_id, amount, note, payload, created)
SELECT 1 + i % 1000, (i * 7 % 100000) / 100.0, md5(i::text),
       decode(md5('p' || i) || md5('q' || i), 'hex'),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 200000) i;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE SEQUENCE invoice_no START 1000;
SELECT nextval('invoice_no') FROM generate_series(1, 42);
CREATE VIEW customer_totals AS
	SELECT customer_id, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY customer_id;
`

const checksumSQL = `SELECT md5(string_agg(id || ':' || customer_id || ':' || amount || ':' || note || ':' ||
	encode(payload, 'hex') || ':' || extract(epoch FROM created), ',' ORDER BY id)) FROM orders`

// fingerprint is what must survive a dump and restore.
type fingerprint struct {
	Orders, Customers int64
	Checksum          string
	InvoiceNo         int64 // last_value of the sequence
	ViewTotal         string
	IndexDef          string
}

func takeFingerprint(ctx context.Context, t *testing.T, dsn string) fingerprint {
	t.Helper()
	var f fingerprint
	var err error
	if f.Orders, err = RowCount(ctx, dsn, "orders"); err != nil {
		t.Fatal(err)
	}
	if f.Customers, err = RowCount(ctx, dsn, "public.customers"); err != nil {
		t.Fatal(err)
	}
	conn := connect(ctx, t, dsn)
	for _, q := range []struct {
		sql  string
		dest any
	}{
		{checksumSQL, &f.Checksum},
		{"SELECT last_value FROM invoice_no", &f.InvoiceNo},
		{"SELECT sum(total)::text FROM customer_totals", &f.ViewTotal},
		{"SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_customer_idx'", &f.IndexDef},
	} {
		if err := conn.QueryRow(ctx, q.sql).Scan(q.dest); err != nil {
			t.Fatalf("fingerprint of %s: %s: %v", dsn, q.sql, err)
		}
	}
	return f
}

func connect(ctx context.Context, t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(ctx context.Context, t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func newRepository(ctx context.Context, t *testing.T) *repository.Repository {
	t.Helper()
	be, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Init(ctx, be, repository.Credentials{Passphrase: "x"}, repository.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func snapshotCount(ctx context.Context, t *testing.T, repo *repository.Repository) int {
	t.Helper()
	sns, err := repo.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(sns)
}

func databaseExists(ctx context.Context, t *testing.T, c *pgtest.Cluster, name string) bool {
	t.Helper()
	var exists bool
	conn := connect(ctx, t, c.DSN("postgres"))
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

// backupByHand streams Dump into BackupStream through a pipe, the way the brief spells it out.
func backupByHand(ctx context.Context, tools Tools, repo *repository.Repository, dsn string) (*repository.Snapshot, DumpInfo, error, error) {
	type result struct {
		info DumpInfo
		err  error
	}
	pr, pw := io.Pipe()
	dumped := make(chan result, 1)
	go func() {
		info, err := tools.Dump(ctx, dsn, pw)
		pw.CloseWithError(err)
		dumped <- result{info, err}
	}()
	sn, err := repo.BackupStream(ctx, pr, "orders.dump", repository.BackupOptions{Source: "orders-db"})
	if err != nil {
		pr.CloseWithError(err)
	}
	d := <-dumped
	return sn, d.info, d.err, err
}

// restoreByHand streams Repository.Dump into Restore through a pipe.
func restoreByHand(ctx context.Context, tools Tools, repo *repository.Repository, sn *repository.Snapshot, dsn, database string, opts RestoreOptions) (restoreErr, dumpErr error) {
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		_, err := repo.Dump(ctx, sn, "orders.dump", pw)
		pw.CloseWithError(err)
		dumped <- err
	}()
	_, restoreErr = tools.Restore(ctx, dsn, database, pr, opts)
	pr.CloseWithError(errors.New("restore finished"))
	return restoreErr, <-dumped
}

func TestOrdersDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	c.CreateDatabase(t, "orders")
	execSQL(ctx, t, c.DSN("orders"), seedSQL)
	want := takeFingerprint(ctx, t, c.DSN("orders"))
	if want.Orders != 200000 || want.Customers != 1000 || want.InvoiceNo != 1041 {
		t.Fatalf("seeded %+v", want)
	}
	var tools Tools

	t.Run("round trip through the repository", func(t *testing.T) {
		repo := newRepository(ctx, t)

		sn, info, dumpErr, backupErr := backupByHand(ctx, tools, repo, c.DSN("orders"))
		if dumpErr != nil || backupErr != nil {
			t.Fatalf("dump: %v; backup: %v", dumpErr, backupErr)
		}
		if info.Database != "orders" || !strings.HasPrefix(info.ServerVersion, "1") || info.Duration <= 0 {
			t.Errorf("DumpInfo = %+v", info)
		}
		if info.Bytes < 2<<20 {
			t.Errorf("dump is %d bytes, want several MB", info.Bytes)
		}
		if sn.Summary.TotalBytes != info.Bytes || sn.Source != "orders-db" {
			t.Errorf("snapshot holds %d bytes from %q; Dump wrote %d", sn.Summary.TotalBytes, sn.Source, info.Bytes)
		}
		t.Logf("dump: %d bytes in %s from PostgreSQL %s", info.Bytes, info.Duration, info.ServerVersion)

		restoreErr, readErr := restoreByHand(ctx, tools, repo, sn, c.DSN("postgres"), "orders_restored", RestoreOptions{})
		if restoreErr != nil || readErr != nil {
			t.Fatalf("restore: %v; repository dump: %v", restoreErr, readErr)
		}
		if got := takeFingerprint(ctx, t, c.DSN("orders_restored")); got != want {
			t.Fatalf("restored %+v\nwant     %+v", got, want)
		}

		// The same name again, without Replace: refused, the restored copy untouched.
		execSQL(ctx, t, c.DSN("orders_restored"), "DELETE FROM orders WHERE id <= 10")
		_, err := tools.RestoreFromRepository(ctx, repo, sn, c.DSN("postgres"), "orders_restored", RestoreOptions{})
		if !errors.Is(err, ErrDatabaseExists) || !strings.Contains(err.Error(), "orders_restored") || !strings.Contains(err.Error(), "replace") {
			t.Fatalf("restore over an existing database: %v; want ErrDatabaseExists naming it and replace", err)
		}
		if n, err := RowCount(ctx, c.DSN("orders_restored"), "orders"); err != nil || n != 199990 {
			t.Fatalf("after the refused restore orders has %d rows (%v), want 199990", n, err)
		}

		// With Replace, even while someone is connected to it: the old database is kept, renamed.
		session := connect(ctx, t, c.DSN("orders_restored"))
		res, err := tools.RestoreFromRepository(ctx, repo, sn, c.DSN("postgres"), "orders_restored", RestoreOptions{Replace: true})
		if err != nil {
			t.Fatalf("restore with Replace: %v", err)
		}
		if got := takeFingerprint(ctx, t, c.DSN("orders_restored")); got != want {
			t.Fatalf("replaced %+v\nwant     %+v", got, want)
		}
		if err := session.Ping(ctx); err == nil {
			t.Errorf("a session on the replaced database survived")
		}
		if !strings.HasPrefix(res.Kept, "orders_restored_replaced_") {
			t.Fatalf("the replaced database was not kept: %+v", res)
		}
		if n, err := RowCount(ctx, c.DSN(res.Kept), "orders"); err != nil || n != 199990 {
			t.Fatalf("the kept database %s has %d orders (%v), want the 199990 it had", res.Kept, n, err)
		}
	})

	t.Run("BackupToRepository and RestoreFromRepository", func(t *testing.T) {
		repo := newRepository(ctx, t)
		opts := repository.BackupOptions{Source: "orders-db"}
		sn, info, err := tools.BackupToRepository(ctx, repo, c.DSN("orders"), opts)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := repo.LoadTree(ctx, sn.Tree)
		if err != nil {
			t.Fatal(err)
		}
		if len(tree.Nodes) != 1 || tree.Nodes[0].Name != "orders.dump" || int64(tree.Nodes[0].Size) != info.Bytes {
			t.Fatalf("snapshot tree %+v; want one orders.dump of %d bytes", tree.Nodes, info.Bytes)
		}
		// A second backup of unchanged data stores little: the repository deduplicates dumps.
		sn2, info2, err := tools.BackupToRepository(ctx, repo, c.DSN("orders"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("second dump: %d bytes, %d new to the repository", info2.Bytes, sn2.Summary.BytesAdded)

		if _, err := tools.RestoreFromRepository(ctx, repo, sn2, c.DSN("postgres"), "orders_copy", RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := takeFingerprint(ctx, t, c.DSN("orders_copy")); got != want {
			t.Fatalf("restored %+v\nwant     %+v", got, want)
		}
	})

	t.Run("cancelling the context kills pg_dump", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := writerFunc(func(p []byte) (int, error) {
			cancel()
			time.Sleep(50 * time.Millisecond)
			return len(p), nil
		})
		start := time.Now()
		info, err := tools.Dump(ctx, c.DSN("orders"), w)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dump after cancel: %v (wrote %d bytes); want context.Canceled", err, info.Bytes)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Dump took %s to return after cancel", d)
		}
	})

	t.Run("a failing writer stops pg_dump", func(t *testing.T) {
		full := errors.New("disk full")
		var n int
		w := writerFunc(func(p []byte) (int, error) {
			if n > 1<<20 {
				return 0, full
			}
			n += len(p)
			return len(p), nil
		})
		_, err := tools.Dump(ctx, c.DSN("orders"), w)
		if !errors.Is(err, full) || !strings.Contains(err.Error(), "/orders") {
			t.Fatalf("Dump into a failing writer: %v; want it to wrap %v and name the database", err, full)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestFailedDumpLeavesNoSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	repo := newRepository(ctx, t)
	var tools Tools

	sn, _, dumpErr, backupErr := backupByHand(ctx, tools, repo, c.DSN("missing"))
	if dumpErr == nil || backupErr == nil || sn != nil {
		t.Fatalf("backup of a missing database: snapshot %v, dump error %v, backup error %v", sn, dumpErr, backupErr)
	}
	if !strings.Contains(dumpErr.Error(), fmt.Sprintf("127.0.0.1:%d/missing", c.Port)) {
		t.Errorf("dump error does not name the database as host:port/database: %v", dumpErr)
	}
	if !errors.Is(backupErr, dumpErr) {
		t.Errorf("backup error %v does not wrap the dump error", backupErr)
	}

	_, _, err := tools.BackupToRepository(ctx, repo, c.DSN("missing"), repository.BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("BackupToRepository of a missing database: %v", err)
	}

	// pg_dump failing halfway, after megabytes of output.
	c.CreateDatabase(t, "orders")
	bin := fakeTools(t, `head -c 3000000 /dev/urandom; echo "pg_dump: error: simulated failure halfway" >&2; exit 1`)
	_, info, err := Tools{BinDir: bin}.BackupToRepository(ctx, repo, c.DSN("orders"), repository.BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), "simulated failure halfway") || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("BackupToRepository with pg_dump failing: %v", err)
	}
	if info.Bytes != 3000000 {
		t.Errorf("DumpInfo.Bytes = %d, want 3000000", info.Bytes)
	}

	if n := snapshotCount(ctx, t, repo); n != 0 {
		t.Fatalf("%d snapshots after failed backups, want none", n)
	}
}

// fakeTools writes a pg_dump and a pg_restore that run script (sh) into a new folder.
func fakeTools(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRestoreFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	c.CreateDatabase(t, "small")
	execSQL(ctx, t, c.DSN("small"), `CREATE TABLE t (id int PRIMARY KEY, v text);
		INSERT INTO t SELECT i, repeat('x', 100) || i FROM generate_series(1, 20000) i`)
	var tools Tools
	var dump bytes.Buffer
	if _, err := tools.Dump(ctx, c.DSN("small"), &dump); err != nil {
		t.Fatal(err)
	}

	t.Run("not a dump", func(t *testing.T) {
		_, err := tools.Restore(ctx, c.DSN("postgres"), "garbage", strings.NewReader("this is not a dump\n"), RestoreOptions{})
		if err == nil || !strings.Contains(err.Error(), "pg_restore") || !strings.Contains(err.Error(), "valid archive") {
			t.Fatalf("restore of garbage: %v; want pg_restore's complaint", err)
		}
		if databaseExists(ctx, t, c, "garbage") {
			t.Errorf("the failed restore left database garbage behind")
		}
	})

	t.Run("reading the dump fails", func(t *testing.T) {
		fire := errors.New("disk on fire")
		r := io.MultiReader(bytes.NewReader(dump.Bytes()[:dump.Len()/2]), iotest.ErrReader(fire))
		_, err := tools.Restore(ctx, c.DSN("postgres"), "cut_short", r, RestoreOptions{})
		if !errors.Is(err, fire) {
			t.Fatalf("restore of a failing reader: %v; want it to wrap %v", err, fire)
		}
		if databaseExists(ctx, t, c, "cut_short") {
			t.Errorf("the failed restore left database cut_short behind")
		}
	})

	t.Run("into the maintenance database", func(t *testing.T) {
		_, err := tools.Restore(ctx, c.DSN("small"), "small", bytes.NewReader(dump.Bytes()), RestoreOptions{Replace: true})
		if err == nil || !strings.Contains(err.Error(), "maintenance") {
			t.Fatalf("restore into the DSN's own database: %v", err)
		}
	})

	t.Run("quoted name", func(t *testing.T) {
		name := `odd "name"; DROP DATABASE small; --`
		if _, err := tools.Restore(ctx, c.DSN("postgres"), name, bytes.NewReader(dump.Bytes()), RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if !databaseExists(ctx, t, c, name) || !databaseExists(ctx, t, c, "small") {
			t.Fatalf("database %q or small missing", name)
		}
	})

	t.Run("snapshot without a dump", func(t *testing.T) {
		repo := newRepository(ctx, t)
		sn, err := repo.BackupStream(ctx, strings.NewReader("notes"), "notes.txt", repository.BackupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tools.RestoreFromRepository(ctx, repo, sn, c.DSN("postgres"), "from_notes", RestoreOptions{})
		if err == nil || !strings.Contains(err.Error(), "0 .dump files") {
			t.Fatalf("restore from a snapshot without a dump: %v", err)
		}
	})

	t.Run("pg_restore stderr is bounded", func(t *testing.T) {
		bin := fakeTools(t, `cat >/dev/null; head -c 300000 /dev/zero | tr '\0' 'n' >&2; echo "pg_restore: error: the real cause" >&2; exit 1`)
		_, err := Tools{BinDir: bin}.Restore(ctx, c.DSN("postgres"), "noisy", bytes.NewReader(dump.Bytes()), RestoreOptions{})
		if err == nil || !strings.HasSuffix(err.Error(), "the real cause") {
			t.Fatalf("restore with a noisy pg_restore: %.300v", err)
		}
		if len(err.Error()) > stderrTail+1024 {
			t.Errorf("error is %d bytes long, want about %d at most", len(err.Error()), stderrTail)
		}
		if databaseExists(ctx, t, c, "noisy") {
			t.Errorf("the failed restore left database noisy behind")
		}
	})
}

func TestCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	c.CreateDatabase(t, "shop")
	dsn := c.DSN("shop")
	execSQL(ctx, t, dsn, `CREATE TABLE items (id int PRIMARY KEY, name text);
		INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 250) i`)
	var tools Tools

	passing := []SQLCheck{
		{Name: "item count", Query: "SELECT count(*) FROM items", Expect: "250"},
		{Name: "newest name", Query: "SELECT name FROM items ORDER BY id DESC LIMIT 1", Expect: "item 250"},
		{Name: "boolean", Query: "SELECT count(*) = 250 FROM items", Expect: "t"},
		{Name: "boolean as SQL writes it", Query: "SELECT count(*) = 250 FROM items", Expect: "true"},
		{Name: "false as SQL writes it", Query: "SELECT count(*) = 0 FROM items", Expect: "false"},
		{Name: "any row", Query: "SELECT now()"},
	}
	results, err := tools.Check(ctx, dsn, passing)
	if err != nil {
		t.Fatalf("passing checks: %v", err)
	}
	if len(results) != len(passing) {
		t.Fatalf("%d results for %d checks", len(results), len(passing))
	}
	for i, r := range results {
		if !r.Passed || r.Error != "" || r.Name != passing[i].Name {
			t.Errorf("check %q: %+v", passing[i].Name, r)
		}
	}
	if results[0].Value != "250" {
		t.Errorf("item count value %q", results[0].Value)
	}

	failing := []SQLCheck{
		{Name: "item count", Query: "SELECT count(*) FROM items", Expect: "251"},
		{Name: "no rows", Query: "SELECT 1 WHERE false"},
		{Name: "two rows", Query: "SELECT 1 FROM items"},
		{Name: "two columns", Query: "SELECT 1, 2"},
		{Name: "null", Query: "SELECT NULL::int", Expect: "1"},
		{Name: "text t is not true", Query: "SELECT 't'::text", Expect: "true"},
		{Name: "bad query", Query: "SELECT * FROM nope"},
		{Name: "writes refused", Query: "INSERT INTO items VALUES (999, 'x') RETURNING id"},
		{Name: "still fine", Query: "SELECT count(*) FROM items", Expect: "250"},
	}
	results, err = tools.Check(ctx, dsn, failing)
	if !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("failing checks: %v; want ErrCheckFailed", err)
	}
	if !strings.Contains(err.Error(), "8 of 9") || !strings.Contains(err.Error(), `got "250", want "251"`) {
		t.Errorf("error does not say what failed: %v", err)
	}
	if len(results) != len(failing) {
		t.Fatalf("%d results for %d checks", len(results), len(failing))
	}
	for i, r := range results[:8] {
		if r.Passed || r.Error == "" {
			t.Errorf("check %q passed: %+v", failing[i].Name, r)
		}
	}
	if !results[8].Passed {
		t.Errorf("a check after failed ones did not pass: %+v", results[7])
	}
	if !results[4].Null {
		t.Errorf("NULL not reported: %+v", results[4])
	}
	if n, err := RowCount(ctx, dsn, "items"); err != nil || n != 250 {
		t.Errorf("items has %d rows (%v) after the checks, want 250: checks must not write", n, err)
	}
	if _, err := RowCount(ctx, dsn, `items"; DROP TABLE items; --`); err == nil {
		t.Errorf("RowCount of a hostile table name succeeded")
	}
	if n, err := RowCount(ctx, dsn, "items"); err != nil || n != 250 {
		t.Errorf("items has %d rows (%v), want 250", n, err)
	}
}

func TestPasswordsStayOutOfErrorsAndArguments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	execSQL(ctx, t, c.DSN("postgres"), `CREATE ROLE app LOGIN CREATEDB PASSWORD 'right-horse-battery'`)
	execSQL(ctx, t, c.DSN("postgres"), `CREATE DATABASE appdb OWNER app`)
	execSQL(ctx, t, c.DSN("appdb"), `SET ROLE app; CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'hello')`)
	// app must now prove its password over TCP; postgres stays trusted.
	hba := filepath.Join(c.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all app 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	execSQL(ctx, t, c.DSN("postgres"), "SELECT pg_reload_conf()")

	const wrong = "Wr0ng-s3cret-Pw"
	urlDSN := func(pw, db string) string {
		return fmt.Sprintf("postgres://app:%s@127.0.0.1:%d/%s?sslmode=disable", pw, c.Port, db)
	}
	var tools Tools
	repo := newRepository(ctx, t)

	for _, dsn := range []string{
		urlDSN(wrong, "appdb"),
		fmt.Sprintf("host=127.0.0.1 port=%d user=app password='%s' dbname=appdb sslmode=disable", c.Port, wrong),
		fmt.Sprintf("postgres://app:%s@127.0.0.1:notaport/appdb", wrong),
	} {
		_, dumpErr := tools.Dump(ctx, dsn, io.Discard)
		_, _, backupErr := tools.BackupToRepository(ctx, repo, dsn, repository.BackupOptions{})
		_, restoreErr := tools.Restore(ctx, dsn, "elsewhere", strings.NewReader(""), RestoreOptions{})
		_, checkErr := tools.Check(ctx, dsn, []SQLCheck{{Name: "one", Query: "SELECT 1"}})
		_, countErr := RowCount(ctx, dsn, "notes")
		for name, err := range map[string]error{"Dump": dumpErr, "BackupToRepository": backupErr, "Restore": restoreErr, "Check": checkErr, "RowCount": countErr} {
			if err == nil {
				t.Errorf("%s with a wrong password succeeded", name)
			} else if strings.Contains(err.Error(), wrong) {
				t.Errorf("%s error shows the password: %v", name, err)
			}
		}
		if !strings.Contains(dsn, "notaport") && !strings.Contains(dumpErr.Error(), fmt.Sprintf("127.0.0.1:%d/appdb", c.Port)) {
			t.Errorf("Dump error does not name host:port/database: %v", dumpErr)
		}
	}

	// The right password reaches pg_dump and pg_restore through PGPASSWORD (they run with
	// --no-password, so they could not prompt for it).
	var dump bytes.Buffer
	if _, err := tools.Dump(ctx, urlDSN("right-horse-battery", "appdb"), &dump); err != nil {
		t.Fatalf("dump with the right password: %v", err)
	}
	if _, err := tools.Restore(ctx, urlDSN("right-horse-battery", "postgres"), "appdb_copy", &dump, RestoreOptions{}); err != nil {
		t.Fatalf("restore with the right password: %v", err)
	}
	if n, err := RowCount(ctx, urlDSN("right-horse-battery", "appdb_copy"), "notes"); err != nil || n != 1 {
		t.Fatalf("restored notes: %d rows, %v", n, err)
	}

	// What pg_dump gets on its command line, where any local user can read it.
	bin := fakeTools(t, `dir=$(dirname "$0"); printf '%s\n' "$@" > "$dir/args"; printf '%s' "$PGPASSWORD" > "$dir/password"; echo dump`)
	if _, err := (Tools{BinDir: bin}).Dump(ctx, urlDSN("right-horse-battery", "appdb"), io.Discard); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(bin, "args"))
	password, _ := os.ReadFile(filepath.Join(bin, "password"))
	wantArgs := fmt.Sprintf("--format=custom\n--no-password\n--dbname=postgres://app@127.0.0.1:%d/appdb?sslmode=disable\n", c.Port)
	if string(args) != wantArgs {
		t.Errorf("pg_dump arguments:\n%s\nwant:\n%s", args, wantArgs)
	}
	if string(password) != "right-horse-battery" {
		t.Errorf("PGPASSWORD = %q", password)
	}
}

func TestToolConnString(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, database, want string
	}{
		{"URL keeps all but the password", "postgres://app:pw@db.example:5433/orders?sslmode=require&application_name=x", "",
			"postgres://app@db.example:5433/orders?application_name=x&sslmode=require"},
		{"URL pointed elsewhere", "postgresql://app:pw@db/orders?sslmode=disable", "orders restored",
			"postgresql://app@db/orders%20restored?sslmode=disable"},
		{"URL password and dbname parameters", "postgres://db/orders?password=pw&dbname=x&sslmode=disable", "new",
			"postgres://db/new?sslmode=disable"},
		{"URL without user", "postgres://:pw@db/orders", "", "postgres://db/orders"},
		{"URL with pgx-only settings", "postgres://db/orders?pool_max_conns=4&statement_cache_capacity=0&sslmode=disable", "",
			"postgres://db/orders?sslmode=disable"},
		{"keyword/value", "host=db user=app password='p w' dbname=orders", "",
			"host='db' user='app' dbname='orders'"},
		{"keyword/value pointed elsewhere", `host = db password=pw dbname=orders user=o\'brien`, "it's",
			`host='db' user='o\'brien' dbname='it\'s'`},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toolConnString(tc.dsn, tc.database)
			if err != nil || got != tc.want {
				t.Fatalf("toolConnString(%q, %q) = %q, %v; want %q", tc.dsn, tc.database, got, err, tc.want)
			}
			if tc.dsn == "" {
				return
			}
			before, err := pgx.ParseConfig(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			after, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("%q does not parse: %v", got, err)
			}
			wantDB := before.Database
			if tc.database != "" {
				wantDB = tc.database
			}
			if after.Database != wantDB || after.User != before.User || after.Host != before.Host || after.Port != before.Port {
				t.Errorf("%q connects as %s to %s:%d/%s", got, after.User, after.Host, after.Port, after.Database)
			}
		})
	}
	if _, err := toolConnString("host='unterminated", ""); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

func TestFindingTools(t *testing.T) {
	if _, err := (Tools{}).find("pg_dump"); err != nil {
		t.Fatalf("pg_dump not found on this machine: %v", err)
	}
	_, err := Tools{BinDir: t.TempDir()}.Dump(context.Background(), "postgres://localhost/x", io.Discard)
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "apt-get install postgresql-client") {
		t.Fatalf("missing pg_dump: %v", err)
	}
	got := newestFirst([]string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin"})
	want := []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("newestFirst = %v, want %v", got, want)
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 100}
	if tl.Write([]byte("short")); tl.String() != "short" {
		t.Fatalf("tail = %q", tl.String())
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(tl, "line %d\n", i)
	}
	s := tl.String()
	if len(s) != 103 || !strings.HasPrefix(s, "...") || !strings.HasSuffix(s, "line 999\n") || len(tl.buf) > 200 {
		t.Fatalf("tail = %q (buffer %d bytes)", s, len(tl.buf))
	}
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
)

// The live database survives every way a replacing restore can fail, and is kept, renamed, when
// one succeeds: nothing is ever dropped first.
func TestReplacingRestoreNeverLosesTheLiveDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := pgtest.Start(t)
	c.CreateDatabase(t, "shop")
	execSQL(ctx, t, c.DSN("shop"), `CREATE TABLE items (id int PRIMARY KEY, name text);
		INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 30000) i`)
	var tools Tools
	var dump bytes.Buffer
	if _, err := tools.Dump(ctx, c.DSN("shop"), &dump); err != nil {
		t.Fatal(err)
	}
	// The live database moves on after the backup: these rows are what a bad restore would lose.
	execSQL(ctx, t, c.DSN("shop"), `INSERT INTO items SELECT i, 'late ' || i FROM generate_series(30001, 30500) i`)
	liveRows := func() int64 {
		t.Helper()
		n, err := RowCount(ctx, c.DSN("shop"), "items")
		if err != nil {
			t.Fatalf("the live database is not readable: %v", err)
		}
		return n
	}
	databases := func() []string {
		t.Helper()
		rows, err := connect(ctx, t, c.DSN("postgres")).Query(ctx, "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	onlyShop := func(when string) {
		t.Helper()
		if got := databases(); strings.Join(got, ",") != "shop" {
			t.Fatalf("%s: databases %v, want only shop", when, got)
		}
		if n := liveRows(); n != 30500 {
			t.Fatalf("%s: the live database has %d rows, want its 30500", when, n)
		}
	}

	t.Run("the dump breaks off in the middle", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(dump.Bytes()[:dump.Len()/2]), iotest.ErrReader(errors.New("connection reset")))
		_, err := tools.Restore(ctx, c.DSN("postgres"), "shop", r, RestoreOptions{Replace: true, Job: "job-1"})
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("restore of a broken stream: %v", err)
		}
		onlyShop("after a broken stream")
	})

	t.Run("validation refuses the copy", func(t *testing.T) {
		refused := errors.New("items has too few rows")
		var sawSide string
		_, err := tools.Restore(ctx, c.DSN("postgres"), "shop", bytes.NewReader(dump.Bytes()), RestoreOptions{Replace: true, Job: "job-2",
			Validate: func(ctx context.Context, dsn string) error {
				n, err := RowCount(ctx, dsn, "items")
				if err != nil {
					return err
				}
				sawSide = dsn
				if n != 30000 {
					t.Errorf("validation saw %d rows in the copy, want the snapshot's 30000", n)
				}
				return refused
			}})
		if !errors.Is(err, ErrValidationFailed) || !errors.Is(err, refused) {
			t.Fatalf("restore refused by validation: %v", err)
		}
		if !strings.Contains(sawSide, "lifeboat_side_") {
			t.Fatalf("validation ran against %q, not a side database", sawSide)
		}
		onlyShop("after a refused validation")
	})

	t.Run("a side database left by a crashed attempt is the retry's to replace", func(t *testing.T) {
		side := sideName("job-3", "shop")
		c.CreateDatabase(t, side)
		execSQL(ctx, t, c.DSN(side), "CREATE TABLE half_restored (x int)")
		res, err := tools.Restore(ctx, c.DSN("postgres"), "shop", bytes.NewReader(dump.Bytes()), RestoreOptions{Replace: true, Job: "job-3",
			Now: func() time.Time { return time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Kept != "shop_replaced_20261206T100000Z" || res.Already {
			t.Fatalf("result %+v", res)
		}
		if n, err := RowCount(ctx, c.DSN("shop"), "items"); err != nil || n != 30000 {
			t.Fatalf("shop after the restore: %d rows (%v), want the snapshot's 30000", n, err)
		}
		if n, err := RowCount(ctx, c.DSN(res.Kept), "items"); err != nil || n != 30500 {
			t.Fatalf("the kept database has %d rows (%v), want the live 30500", n, err)
		}
		if got := strings.Join(databases(), ","); got != "shop,shop_replaced_20261206T100000Z" {
			t.Fatalf("databases after the restore: %s", got)
		}

		// The same job again (its activity is retried after the swap): nothing happens twice.
		again, err := tools.Restore(ctx, c.DSN("postgres"), "shop", bytes.NewReader(dump.Bytes()), RestoreOptions{Replace: true, Job: "job-3"})
		if err != nil || !again.Already || again.Kept != res.Kept {
			t.Fatalf("retry after the swap: %+v, %v", again, err)
		}
		if got := strings.Join(databases(), ","); got != "shop,shop_replaced_20261206T100000Z" {
			t.Fatalf("databases after the retry: %s", got)
		}
	})

	t.Run("another job's restored database is not replaced without Replace", func(t *testing.T) {
		_, err := tools.Restore(ctx, c.DSN("postgres"), "shop", bytes.NewReader(dump.Bytes()), RestoreOptions{Job: "job-4"})
		if !errors.Is(err, ErrDatabaseExists) {
			t.Fatalf("restore over shop by another job without Replace: %v", err)
		}
	})
}

func TestKeptNameFitsPostgresLimit(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("ä", 40) // 80 bytes
	got := keptName(long, now)
	if len(got) > maxIdentifier || !strings.HasSuffix(got, "_replaced_20261206T100000Z") || !strings.HasPrefix(got, "ää") {
		t.Fatalf("keptName(%d bytes) = %q (%d bytes)", len(long), got, len(got))
	}
	if a, b := sideName("run-1", "shop"), sideName("run-2", "shop"); a == b || len(a) > maxIdentifier {
		t.Fatalf("side names %q and %q", a, b)
	}
}

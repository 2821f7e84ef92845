package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
)

func TestReplicaStreamsFromPrimary(t *testing.T) {
	primary := pgtest.Start(t, pgtest.WithReplica())
	replica := primary.Replica
	if replica == nil {
		t.Fatal("WithReplica: Replica is nil")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	primary.CreateDatabase(t, "lifeboat")
	w := connect(ctx, t, primary.DSN("lifeboat"))
	if _, err := w.Exec(ctx, `create table plans (name text primary key); insert into plans values ('payments')`); err != nil {
		t.Fatalf("write on primary: %v", err)
	}

	// The database and the row reach the replica a moment later.
	var r *pgx.Conn
	for {
		var name string
		conn, err := pgx.Connect(ctx, replica.DSN("lifeboat"))
		if err == nil {
			err = conn.QueryRow(ctx, "select name from plans").Scan(&name)
			if err == nil && name == "payments" {
				r = conn
				t.Cleanup(func() { r.Close(context.Background()) })
				break
			}
			conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("row never reached the replica: %q, %v", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	var inRecovery bool
	if err := r.QueryRow(ctx, "select pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("replica pg_is_in_recovery() = %v, %v; want true", inRecovery, err)
	}

	if err := primary.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := primary.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := w.Ping(ctx); err == nil {
		t.Errorf("primary still answers after Stop")
	}
	if err := r.Ping(ctx); err != nil {
		t.Errorf("replica stopped answering when the primary stopped: %v", err)
	}
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

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/testsuite/pgtest"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// status calls ReplicationStatus, failing the test on error.
func status(ctx context.Context, t *testing.T, dsn string) ReplicationInfo {
	t.Helper()
	info, err := ReplicationStatus(ctx, dsn)
	if err != nil {
		t.Fatalf("ReplicationStatus: %v", err)
	}
	return info
}

func count(ctx context.Context, t *testing.T, dsn, table string) int64 {
	t.Helper()
	n, err := RowCount(ctx, dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReplicationStatusOfPrimaryAndReplica(t *testing.T) {
	primary := pgtest.Start(t, pgtest.WithReplica())
	replica := primary.Replica
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pDSN, rDSN := primary.DSN("postgres"), replica.DSN("postgres")

	p := status(ctx, t, pDSN)
	if p.Role != RolePrimary || p.Timeline != 1 || p.ReadOnly {
		t.Errorf("primary: role %q, timeline %d, read-only %v; want primary, 1, false", p.Role, p.Timeline, p.ReadOnly)
	}
	if _, err := parseLSN(p.CurrentLSN); err != nil {
		t.Errorf("primary CurrentLSN: %v", err)
	}
	if p.ReceiveLSN != "" || p.ReplayLSN != "" || p.Streaming {
		t.Errorf("primary reports replica fields: %+v", p)
	}
	if len(p.Standbys) != 1 {
		t.Fatalf("primary lists %d standbys, want 1: %+v", len(p.Standbys), p.Standbys)
	}
	if s := p.Standbys[0]; s.State != "streaming" || s.SyncState != "async" || s.ClientAddr != "127.0.0.1" || s.ApplicationName == "" {
		t.Errorf("standby = %+v; want streaming, async, from 127.0.0.1, with an application name", s)
	}

	// A write on the primary reaches the replica.
	execSQL(ctx, t, pDSN, "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT i, md5(i::text) FROM generate_series(1, 5000) i")
	after := status(ctx, t, pDSN)
	if err := WaitForReplay(ctx, rDSN, after.CurrentLSN, 20*time.Millisecond); err != nil {
		t.Fatalf("WaitForReplay(%s): %v", after.CurrentLSN, err)
	}
	if n := count(ctx, t, rDSN, "orders"); n != 5000 {
		t.Errorf("replica has %d orders after WaitForReplay, want 5000", n)
	}
	written, err := LSNDiff(ctx, pDSN, after.CurrentLSN, p.CurrentLSN)
	if err != nil {
		t.Fatalf("LSNDiff: %v", err)
	}
	a, _ := parseLSN(after.CurrentLSN)
	b, _ := parseLSN(p.CurrentLSN)
	if written <= 0 || written != int64(a-b) {
		t.Errorf("LSNDiff(%s, %s) = %d, want %d", after.CurrentLSN, p.CurrentLSN, written, int64(a-b))
	}
	if back, err := LSNDiff(ctx, rDSN, p.CurrentLSN, after.CurrentLSN); err != nil || back != -written {
		t.Errorf("LSNDiff on the replica, reversed = %d, %v; want %d", back, err, -written)
	}

	r := status(ctx, t, rDSN)
	if r.Role != RoleReplica || r.Timeline != 1 || !r.Streaming || r.CurrentLSN != "" || len(r.Standbys) != 0 {
		t.Errorf("replica: %+v; want role replica, timeline 1, streaming, no primary fields", r)
	}
	if r.UpstreamHost != primary.Host || r.UpstreamPort != primary.Port {
		t.Errorf("replica upstream %s:%d, want %s:%d", r.UpstreamHost, r.UpstreamPort, primary.Host, primary.Port)
	}
	if d, err := LSNDiff(ctx, rDSN, r.ReplayLSN, after.CurrentLSN); err != nil || d < 0 {
		t.Errorf("replica replayed %s, behind %s waited for (%d, %v)", r.ReplayLSN, after.CurrentLSN, d, err)
	}
	// The server writes WAL of its own now and then, so a moment can show some lag in flight;
	// with no traffic it settles at zero.
	wait.For(t, 10*time.Second, "the replica catches up", func() error {
		r := status(ctx, t, rDSN)
		if r.LagBytes != 0 || r.LagSeconds != 0 {
			return fmt.Errorf("replica lag %d bytes, %g s (receive %s, replay %s); want 0", r.LagBytes, r.LagSeconds, r.ReceiveLSN, r.ReplayLSN)
		}
		return nil
	})

	// A replica refuses writes; that is a finding, not an outage.
	_, err = WriteProbe(ctx, rDSN, ProbeOptions{})
	if !errors.Is(err, ErrReadOnly) || errors.Is(err, ErrUnreachable) {
		t.Errorf("WriteProbe on the replica: %v; want ErrReadOnly", err)
	}
	// A server that never was a replica never replays anything.
	if err := WaitForReplay(ctx, pDSN, after.CurrentLSN, 0); !errors.Is(err, ErrNotReplica) {
		t.Errorf("WaitForReplay on the primary: %v; want ErrNotReplica", err)
	}
}

func TestFenceAndWriteProbe(t *testing.T) {
	c := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := c.DSN("postgres")

	first, err := WriteProbe(ctx, dsn, ProbeOptions{}) // creates the table
	if err != nil {
		t.Fatalf("WriteProbe: %v", err)
	}
	second, err := WriteProbe(ctx, dsn, ProbeOptions{})
	if err != nil {
		t.Fatalf("second WriteProbe: %v", err)
	}
	if first.ID == second.ID || first.Latency <= 0 || first.Total < first.Latency {
		t.Errorf("probes %+v, %+v; want distinct ids and latency within total", first, second)
	}
	t.Logf("write probe: latency %s, total %s", second.Latency, second.Total)
	execSQL(ctx, t, dsn, "INSERT INTO lifeboat_write_probe VALUES ('stale', now() - interval '2 hours'), ('recent', now() - interval '50 minutes')")
	if _, err := WriteProbe(ctx, dsn, ProbeOptions{}); err != nil {
		t.Fatalf("third WriteProbe: %v", err)
	}
	conn := connect(ctx, t, dsn)
	var ids []string
	rows, _ := conn.Query(ctx, "SELECT id FROM lifeboat_write_probe ORDER BY at")
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 4 || ids[0] != "recent" || ids[1] != first.ID || ids[2] != second.ID {
		t.Errorf("probe table holds %q; want the recent row and three probes, the stale row deleted", ids)
	}

	execSQL(ctx, t, dsn, "CREATE SCHEMA ops")
	if _, err := WriteProbe(ctx, dsn, ProbeOptions{Schema: "ops"}); err != nil {
		t.Fatalf("WriteProbe in schema ops: %v", err)
	}
	if n := count(ctx, t, dsn, "ops.lifeboat_write_probe"); n != 1 {
		t.Errorf("ops.lifeboat_write_probe has %d rows, want 1", n)
	}
	_, err = WriteProbe(ctx, dsn, ProbeOptions{Schema: "missing"})
	if err == nil || errors.Is(err, ErrReadOnly) || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/postgres", c.Port)) {
		t.Errorf("WriteProbe in a missing schema: %v; want a plain error naming the server", err)
	}

	// A session opened before the fence, in the middle of a write, is ended.
	held, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())
	tx, err := held.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO lifeboat_write_probe VALUES ('uncommitted', now())"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx) // so that it is not counted below

	fenced, err := Fence(ctx, dsn)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if len(fenced.Terminated) != 1 || fenced.Terminated[0].PID != int32(held.PgConn().PID()) ||
		fenced.Terminated[0].User != "postgres" || fenced.Terminated[0].Database != "postgres" || fenced.Terminated[0].ClientAddr != "127.0.0.1" {
		t.Errorf("Fence terminated %+v; want just the held session, pid %d", fenced.Terminated, held.PgConn().PID())
	}
	if err := tx.Commit(ctx); err == nil {
		t.Error("the session held across Fence committed its write")
	}
	_, err = WriteProbe(ctx, dsn, ProbeOptions{})
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/postgres", c.Port)) {
		t.Errorf("WriteProbe of a fenced primary: %v; want ErrReadOnly naming the server", err)
	}
	if _, err := WriteProbe(ctx, dsn, ProbeOptions{Schema: "ops"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("WriteProbe in ops of a fenced primary: %v; want ErrReadOnly", err)
	}
	if s := status(ctx, t, dsn); s.Role != RolePrimary || !s.ReadOnly {
		t.Errorf("fenced primary: role %q, read-only %v; want primary, true", s.Role, s.ReadOnly)
	}
	if n := count(ctx, t, dsn, "lifeboat_write_probe"); n != 4 {
		t.Errorf("probe table has %d rows after the fence, want 4 (the held write rolled back)", n)
	}

	// Fencing again is fine and ends whoever reconnected.
	again, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	refenced, err := Fence(ctx, dsn)
	if err != nil {
		t.Fatalf("second Fence: %v", err)
	}
	if len(refenced.Terminated) != 1 || refenced.Terminated[0].PID != int32(again.PgConn().PID()) {
		t.Errorf("second Fence terminated %+v; want the session opened in between", refenced.Terminated)
	}
	if third, err := Fence(ctx, dsn); err != nil || len(third.Terminated) != 0 {
		t.Errorf("third Fence: %+v, %v; want nothing to terminate", third, err)
	}

	if err := Unfence(ctx, dsn); err != nil {
		t.Fatalf("Unfence: %v", err)
	}
	if _, err := WriteProbe(ctx, dsn, ProbeOptions{}); err != nil {
		t.Errorf("WriteProbe after Unfence: %v", err)
	}
	if err := Unfence(ctx, dsn); err != nil {
		t.Errorf("second Unfence: %v", err)
	}
	if s := status(ctx, t, dsn); s.ReadOnly {
		t.Error("unfenced primary still reports read-only")
	}

	// A fence that a role setting would undo is reported, not trusted.
	execSQL(ctx, t, dsn, "ALTER ROLE postgres SET default_transaction_read_only = off")
	_, err = Fence(ctx, dsn)
	if err == nil || !strings.Contains(err.Error(), "still get default_transaction_read_only = off") {
		t.Errorf("Fence overridden by a role setting: %v; want an error saying so", err)
	}
	execSQL(ctx, t, dsn, "ALTER ROLE postgres RESET default_transaction_read_only")
	if err := Unfence(ctx, dsn); err != nil {
		t.Errorf("Unfence: %v", err)
	}

	// An error from the server is not mistaken for an unreachable one.
	_, err = ReplicationStatus(ctx, c.DSN("nosuchdb"))
	if err == nil || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/nosuchdb", c.Port)) {
		t.Errorf("ReplicationStatus of a missing database: %v; want an error naming it, not ErrUnreachable", err)
	}
}

func TestFailover(t *testing.T) {
	primary := pgtest.Start(t, pgtest.WithReplica())
	replica := primary.Replica
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pDSN, rDSN := primary.DSN("postgres"), replica.DSN("postgres")

	beforeWrites := time.Now()
	execSQL(ctx, t, pDSN, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000)")
	afterWrites := time.Now()
	before := status(ctx, t, pDSN)
	if err := WaitForReplay(ctx, rDSN, before.CurrentLSN, 10*time.Millisecond); err != nil {
		t.Fatalf("WaitForReplay: %v", err)
	}

	if n := count(ctx, t, rDSN, "orders"); n != 1000 {
		t.Fatalf("replica has %d orders after WaitForReplay, want 1000", n)
	}

	// The plan fences the old primary, lets the replica catch up with it as a switchover would,
	// then loses it.
	if _, err := Fence(ctx, pDSN); err != nil {
		t.Fatalf("Fence: %v", err)
	}
	last := status(ctx, t, pDSN).CurrentLSN
	if err := WaitForReplay(ctx, rDSN, last, 10*time.Millisecond); err != nil {
		t.Fatalf("WaitForReplay of the fenced primary's last LSN %s: %v", last, err)
	}
	if err := primary.Crash(); err != nil {
		t.Fatal(err)
	}
	where := fmt.Sprintf("127.0.0.1:%d/postgres", primary.Port)
	if _, err := ReplicationStatus(ctx, pDSN); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), where) {
		t.Errorf("ReplicationStatus of a dead primary: %v; want ErrUnreachable naming %s", err, where)
	}
	if _, err := Fence(ctx, pDSN); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Fence of a dead primary: %v; want ErrUnreachable", err)
	}
	if _, err := WriteProbe(ctx, pDSN, ProbeOptions{}); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrReadOnly) {
		t.Errorf("WriteProbe of a dead primary: %v; want ErrUnreachable", err)
	}
	wait.For(t, 15*time.Second, "the replica sees its primary gone", func() error {
		if r := status(ctx, t, rDSN); r.Role != RoleReplica || r.Streaming {
			return fmt.Errorf("replica after the primary died: role %q, streaming %v; want replica, not streaming", r.Role, r.Streaming)
		}
		return nil
	})
	replayed := status(ctx, t, rDSN).ReplayLSN
	lost, err := LSNDiff(ctx, rDSN, last, replayed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old primary's last LSN %s, replica replayed %s: %d bytes of WAL lost", last, replayed, lost)
	if lost > 0 {
		t.Errorf("the replica misses %d bytes of WAL it had waited for", lost)
	}

	start := time.Now()
	promoted, err := Promote(ctx, rDSN, 30*time.Second)
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	t.Logf("promotion: pg_promote took %s, Promote %s in all; timeline %d -> %d", promoted.Duration, wall, before.Timeline, promoted.Timeline)
	if promoted.AlreadyPrimary || promoted.Timeline != before.Timeline+1 || promoted.Duration <= 0 || promoted.Duration > wall {
		t.Errorf("Promote = %+v; want a promotion to timeline %d taking less than %s", promoted, before.Timeline+1, wall)
	}
	// The newest data the new primary has is the orders' commit: the recovery point.
	if rp := promoted.RecoveryPoint; rp.Before(beforeWrites.Add(-time.Second)) || rp.After(afterWrites.Add(time.Second)) {
		t.Errorf("recovery point %s; want the orders' commit, between %s and %s", rp, beforeWrites, afterWrites)
	}
	s := status(ctx, t, rDSN)
	if s.Role != RolePrimary || s.Timeline != promoted.Timeline || s.ReadOnly || len(s.Standbys) != 0 {
		t.Errorf("promoted replica: %+v; want a writable primary on timeline %d without standbys", s, promoted.Timeline)
	}
	probe, err := WriteProbe(ctx, rDSN, ProbeOptions{})
	if err != nil {
		t.Fatalf("WriteProbe on the promoted replica: %v", err)
	}
	t.Logf("first write probe on the new primary: latency %s", probe.Latency)
	if n := count(ctx, t, rDSN, "orders"); n != 1000 {
		t.Errorf("promoted replica has %d orders, want 1000", n)
	}

	again, err := Promote(ctx, rDSN, 30*time.Second)
	if err != nil || !again.AlreadyPrimary || again.Timeline != promoted.Timeline || again.Duration != 0 || !again.RecoveryPoint.Equal(promoted.RecoveryPoint) {
		t.Errorf("second Promote = %+v, %v; want AlreadyPrimary on timeline %d", again, err, promoted.Timeline)
	}
	// What the replica replayed before its promotion stays answered; what it never got is lost.
	if err := WaitForReplay(ctx, rDSN, before.CurrentLSN, 0); err != nil {
		t.Errorf("WaitForReplay of an LSN replayed before the promotion: %v", err)
	}
	if err := WaitForReplay(ctx, rDSN, "FF/0", 0); !errors.Is(err, ErrNotReplica) || !strings.Contains(err.Error(), replayed) {
		t.Errorf("WaitForReplay past the promotion: %v; want ErrNotReplica saying replay stopped at %s", err, replayed)
	}
}

func TestFailoverHonoursContext(t *testing.T) {
	primary := pgtest.Start(t, pgtest.WithReplica())
	rDSN := primary.Replica.DSN("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cancelled, stop := context.WithCancel(ctx)
	stop()
	if _, err := ReplicationStatus(cancelled, rDSN); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("ReplicationStatus with a cancelled context: %v; want context.Canceled, not ErrUnreachable", err)
	}
	if _, err := Promote(cancelled, rDSN, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Promote with a cancelled context: %v; want context.Canceled", err)
	}
	if _, err := Fence(cancelled, primary.DSN("postgres")); !errors.Is(err, context.Canceled) {
		t.Errorf("Fence with a cancelled context: %v; want context.Canceled", err)
	}
	if s := status(ctx, t, rDSN); s.Role != RoleReplica {
		t.Errorf("replica is %q after a cancelled Promote", s.Role)
	}
	if s := status(ctx, t, primary.DSN("postgres")); s.ReadOnly {
		t.Error("primary is read-only after a cancelled Fence")
	}

	// Waiting for WAL that is never written ends with the context, saying how far replay got.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	start := time.Now()
	err := WaitForReplay(short, rDSN, "FF/0", 20*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "replayed 0/") {
		t.Errorf("WaitForReplay past the end of WAL: %v; want context.DeadlineExceeded with the replay LSN", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("WaitForReplay returned %s after its context ended", took-300*time.Millisecond)
	}
}

func TestFailoverActionsOnUnreachableServer(t *testing.T) {
	port := repo.FreePort(t) // nothing listens there
	dsn := fmt.Sprintf("postgres://lifeboat:s3cret-pw@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=5", port)
	where := fmt.Sprintf("127.0.0.1:%d/orders", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for name, call := range map[string]func() error{
		"ReplicationStatus": func() error { _, err := ReplicationStatus(ctx, dsn); return err },
		"Fence":             func() error { _, err := Fence(ctx, dsn); return err },
		"Unfence":           func() error { return Unfence(ctx, dsn) },
		"Promote":           func() error { _, err := Promote(ctx, dsn, time.Second); return err },
		"WriteProbe":        func() error { _, err := WriteProbe(ctx, dsn, ProbeOptions{}); return err },
		"WaitForReplay":     func() error { return WaitForReplay(ctx, dsn, "0/1", 0) },
		"LSNDiff":           func() error { _, err := LSNDiff(ctx, dsn, "0/2", "0/1"); return err },
	} {
		err := call()
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), where) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%s: %v; want ErrUnreachable naming %s, without the password", name, err, where)
		}
	}
}

func TestFailoverLSNs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/0", 0, true},
		{"0/3000148", 0x3000148, true},
		{"16/B374D848", 0x16_B374D848, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"", 0, false},
		{"0", 0, false},
		{"/1", 0, false},
		{"1/", 0, false},
		{"0/G", 0, false},
		{"100000000/0", 0, false},
		{"0/1; DROP TABLE x", 0, false},
	} {
		got, err := parseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseLSN(%q) = %#x, %v; want %#x, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	const block, segment = 8192, 16 << 20
	for _, tc := range []struct{ in, want uint64 }{
		{0x3000000 + 40, 0x3000000},             // just past a segment's long header
		{0x3020000 + 24, 0x3020000},             // just past a page's short header
		{0x3000000 + 24, 0x3000000 + 24},        // inside the first page's long header: a record ends there
		{0x3020000 + 40, 0x3020000 + 40},        // a record ending 16 bytes into a page
		{0x3021860, 0x3021860},                  // mid-page
		{0x1_00000000 + 40, 0x1_00000000},       // segment start across the 32-bit halves
		{0x1_00002000 + 24, 0x1_00002000},       // second page of that segment
		{segment - block + 24, segment - block}, // last page of the first segment
	} {
		if got := recordEnd(tc.in, block, segment); got != tc.want {
			t.Errorf("recordEnd(%s) = %s, want %s", formatLSN(tc.in), formatLSN(got), formatLSN(tc.want))
		}
	}
	if got := formatLSN(0x16_B374D848); got != "16/B374D848" {
		t.Errorf("formatLSN = %q, want 16/B374D848", got)
	}

	// A bad LSN is refused before connecting: no server listens here, yet the error is not
	// about reaching it.
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", repo.FreePort(t))
	if err := WaitForReplay(context.Background(), dsn, "last", 0); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("WaitForReplay(\"last\"): %v; want an error about the LSN", err)
	}
	if _, err := LSNDiff(context.Background(), dsn, "0/1", "x"); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("LSNDiff(\"0/1\", \"x\"): %v; want an error about the LSN", err)
	}
}

package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The failover actions: read a server's place in streaming replication, fence an old primary,
// promote a replica, prove a server takes writes, and wait for a replica to replay up to an LSN.
// Every action opens one connection to the server dsn names and closes it before returning; its
// errors name the server as host:port/database, never the DSN.

var (
	// ErrUnreachable is wrapped by the failover actions' errors when the server could not be
	// reached: the connection was refused, timed out or broke, or the server refuses connections
	// because it is starting up or shutting down. It is never wrapped when ctx ended first (the
	// error wraps ctx's instead) nor when the server answered with a refusal such as a wrong
	// password. To get it rather than ctx's error for a host that drops packets, set
	// connect_timeout in the DSN shorter than ctx's deadline.
	ErrUnreachable = errors.New("server unreachable")
	// ErrReadOnly is wrapped by WriteProbe's error when the server refused the write because it is
	// read-only (SQLSTATE 25006): a replica, or a fenced primary.
	ErrReadOnly = errors.New("server is read-only")
	// ErrPromotionPending is wrapped by Promote's error when the server did not finish promoting
	// within the wait. The promotion has been requested and may still complete: call Promote
	// again, which waits again or reports AlreadyPrimary.
	ErrPromotionPending = errors.New("promotion not finished within the wait")
	// ErrNotReplica is wrapped by WaitForReplay's error when the server is not in recovery (it was
	// promoted, or always was a primary) and had not replayed up to the LSN: it never will.
	ErrNotReplica = errors.New("server is not a replica")
)

const (
	// reloadTimeout bounds how long Fence and Unfence wait for the server to reload its
	// configuration, whatever ctx allows.
	reloadTimeout = 10 * time.Second
	// terminateTimeoutMillis is how long Fence waits for each terminated session to end.
	terminateTimeoutMillis = 5000
	// defaultPromoteWait is pg_promote's own default wait.
	defaultPromoteWait = 60 * time.Second
	// defaultReplayPoll is how often WaitForReplay asks when its caller does not say.
	defaultReplayPoll = 100 * time.Millisecond
	// probeTable is the table WriteProbe writes to.
	probeTable = "lifeboat_write_probe"
)

// Role is a server's place in streaming replication.
type Role string

const (
	RolePrimary Role = "primary" // not in recovery: takes writes unless read-only
	RoleReplica Role = "replica" // in recovery, replaying WAL
)

// ReplicationInfo is what ReplicationStatus read from a server. Which fields are set depends on
// Role; LSNs are PostgreSQL's text form ("0/3000148"), empty when unknown.
type ReplicationInfo struct {
	Role Role `json:"role"`
	// Timeline is, on a primary, the timeline it writes WAL on (from the name of its current WAL
	// file, which is right from the moment a promotion ends, unlike pg_control_checkpoint(),
	// which lags until the next checkpoint); on a replica, the timeline of the WAL it receives,
	// or when it is not streaming, that of its last restartpoint.
	Timeline int64 `json:"timeline"`
	// ReadOnly is default_transaction_read_only as a new session of the DSN's role and database
	// gets it: true on a fenced primary. Replicas are read-only whatever it says.
	ReadOnly bool `json:"read_only"`

	// Primary only: CurrentLSN and Standbys.

	// CurrentLSN is the end of the last WAL record the primary inserted
	// (pg_current_wal_insert_lsn()), so it covers every transaction committed so far, including
	// commits with synchronous_commit = off that are not yet written (pg_current_wal_lsn(), the
	// write position, lags behind those). A replica that has replayed up to it has them all.
	CurrentLSN string    `json:"current_lsn,omitempty"`
	Standbys   []Standby `json:"standbys,omitempty"` // pg_stat_replication, by application name

	// Replica only: the rest.

	ReceiveLSN string `json:"receive_lsn,omitempty"` // pg_last_wal_receive_lsn(): received and flushed
	ReplayLSN  string `json:"replay_lsn,omitempty"`  // pg_last_wal_replay_lsn(): applied
	// LagBytes is how much WAL the replica received but has not replayed. It says nothing about
	// WAL the primary wrote that never arrived: for that, compare the primary's CurrentLSN.
	LagBytes int64 `json:"lag_bytes"`
	// LagSeconds is now() - pg_last_xact_replay_timestamp(), or 0 when the replica has replayed
	// all it received: an idle primary does not make a caught-up replica look late.
	LagSeconds   float64 `json:"lag_seconds"`
	Streaming    bool    `json:"streaming"`               // a WAL receiver is streaming from the upstream
	UpstreamHost string  `json:"upstream_host,omitempty"` // the server the WAL receiver connects to
	UpstreamPort int     `json:"upstream_port,omitempty"`
}

// Standby is one WAL sender of a primary, as pg_stat_replication shows it. Fields the connecting
// role may not see (without pg_read_all_stats) are empty.
type Standby struct {
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr,omitempty"` // empty for a Unix socket
	State           string `json:"state"`                 // "streaming", "catchup", "backup", ...
	SyncState       string `json:"sync_state"`            // "async", "sync", "potential", "quorum"
	ReplayLSN       string `json:"replay_lsn,omitempty"`
	// ReplayLagBytes is how far the standby's replay is behind the primary's CurrentLSN.
	ReplayLagBytes int64 `json:"replay_lag_bytes"`
}

// ReplicationStatus reports the role of the server dsn names and where it stands in streaming
// replication (see ReplicationInfo). It only reads. A server that cannot be reached is an error
// wrapping ErrUnreachable.
func ReplicationStatus(ctx context.Context, dsn string) (ReplicationInfo, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return ReplicationInfo{}, err
	}
	var info ReplicationInfo
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')::bool").Scan(&inRecovery, &info.ReadOnly); err != nil {
			return err
		}
		if inRecovery {
			info.Role = RoleReplica
			return replicaStatus(ctx, c, &info)
		}
		info.Role = RolePrimary
		return primaryStatus(ctx, c, &info)
	})
	if err != nil {
		return ReplicationInfo{}, fmt.Errorf("postgres: replication status of %s: %w", describe(cfg, databaseName(cfg)), classify(ctx, err))
	}
	return info, nil
}

func primaryStatus(ctx context.Context, c *pgx.Conn, info *ReplicationInfo) error {
	var err error
	if info.CurrentLSN, info.Timeline, err = currentWAL(ctx, c); err != nil {
		return err
	}
	current, _ := parseLSN(info.CurrentLSN)
	rows, err := c.Query(ctx, `SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''),
		coalesce(state, ''), coalesce(sync_state, ''), coalesce(replay_lsn::text, '')
		FROM pg_stat_replication ORDER BY application_name, pid`)
	if err != nil {
		return err
	}
	info.Standbys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Standby, error) {
		var s Standby
		if err := row.Scan(&s.ApplicationName, &s.ClientAddr, &s.State, &s.SyncState, &s.ReplayLSN); err != nil {
			return s, err
		}
		if replay, err := parseLSN(s.ReplayLSN); err == nil && replay < current {
			s.ReplayLagBytes = int64(current - replay)
		}
		return s, nil
	})
	return err
}

func replicaStatus(ctx context.Context, c *pgx.Conn, info *ReplicationInfo) error {
	err := c.QueryRow(ctx, `SELECT coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''),
		coalesce(greatest(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint,
		CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
			ELSE coalesce(greatest(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0), 0) END::float8,
		(SELECT timeline_id FROM pg_control_checkpoint())::bigint`).
		Scan(&info.ReceiveLSN, &info.ReplayLSN, &info.LagBytes, &info.LagSeconds, &info.Timeline)
	if err != nil {
		return err
	}
	rows, err := c.Query(ctx, `SELECT coalesce(status, ''), coalesce(sender_host, ''), coalesce(sender_port, 0),
		coalesce(received_tli, 0)::bigint FROM pg_stat_wal_receiver`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var tli int64
		if err := rows.Scan(&status, &info.UpstreamHost, &info.UpstreamPort, &tli); err != nil {
			return err
		}
		info.Streaming = status == "streaming"
		if tli > 0 {
			info.Timeline = tli
		}
	}
	return rows.Err()
}

// currentWAL returns a primary's CurrentLSN (see ReplicationInfo) and the timeline it writes
// on, read from the name of its current WAL file (its first eight hex digits).
func currentWAL(ctx context.Context, c *pgx.Conn) (string, int64, error) {
	var insert, file string
	var block, segment uint64
	err := c.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),
		current_setting('wal_block_size')::bigint, pg_size_bytes(current_setting('wal_segment_size'))`).
		Scan(&insert, &file, &block, &segment)
	if err != nil {
		return "", 0, err
	}
	lsn, err := parseLSN(insert)
	if err != nil {
		return "", 0, fmt.Errorf("pg_current_wal_insert_lsn(): %w", err)
	}
	if len(file) < 8 {
		return "", 0, fmt.Errorf("unexpected WAL file name %q", file)
	}
	tli, err := strconv.ParseInt(file[:8], 16, 64)
	if err != nil {
		return "", 0, fmt.Errorf("unexpected WAL file name %q", file)
	}
	return formatLSN(recordEnd(lsn, block, segment)), tli, nil
}

// walSizes returns the server's WAL page and segment sizes, which a replica shares with its
// primary.
func walSizes(ctx context.Context, c *pgx.Conn) (block, segment uint64, err error) {
	err = c.QueryRow(ctx, "SELECT current_setting('wal_block_size')::bigint, pg_size_bytes(current_setting('wal_segment_size'))").Scan(&block, &segment)
	return block, segment, err
}

// The sizes of the headers that start every WAL page, and the longer one that starts a segment
// (MAXALIGNed on the 64-bit platforms PostgreSQL servers run on).
const (
	walPageHeader    = 24
	walSegmentHeader = 40
)

// recordEnd turns lsn, which may be where the next record would start, into where the last
// record ended. They differ when lsn is just past a page header: PostgreSQL then reports the
// insert position after the header, while a replica's replay position stops at the end of the
// last record, before it, and would never reach lsn until more WAL is written.
func recordEnd(lsn, block, segment uint64) uint64 {
	if block == 0 || segment == 0 {
		return lsn
	}
	switch {
	case lsn%segment == walSegmentHeader:
		return lsn - walSegmentHeader
	case lsn%block == walPageHeader && lsn%segment > block:
		return lsn - walPageHeader
	}
	return lsn
}

// Session is a client session of a server.
type Session struct {
	PID             int32  `json:"pid"`
	User            string `json:"user"`
	Database        string `json:"database"`
	ApplicationName string `json:"application_name,omitempty"`
	ClientAddr      string `json:"client_addr,omitempty"` // empty for a Unix socket
}

// FenceResult is what Fence did.
type FenceResult struct {
	// Terminated lists the client sessions Fence ended; empty when there were none, as on a
	// second Fence of a server nobody reconnected to.
	Terminated []Session `json:"terminated,omitempty"`
}

// Fence stops the server dsn names from taking writes without stopping it, so that an old
// primary cannot diverge from the replica being promoted while it stays up for inspection. It
// sets default_transaction_read_only = on with ALTER SYSTEM (which survives a restart), reloads
// the configuration and waits until the server has reloaded it, then terminates every other
// client session (not WAL senders) and waits for them to end, so that no session that opened
// before the fence can keep writing. Sessions opened afterwards are read-only; the fence holds
// against applications, not against a client that turns default_transaction_read_only off in
// its own session. The setting lives in the server's postgresql.auto.conf, not in WAL, so its
// replicas do not inherit it: a replica promoted later takes writes. It needs a superuser.
// Fence is idempotent: fencing a fenced server reapplies the setting and ends whoever
// reconnected. An error wrapping ErrUnreachable means
// the server could not be reached (a dead primary takes no writes either); a reload that still
// leaves new sessions writable, because a role or database setting overrides it, is an error.
// Unfence undoes it.
func Fence(ctx context.Context, dsn string) (FenceResult, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return FenceResult{}, err
	}
	var res FenceResult
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "ALTER SYSTEM SET default_transaction_read_only = on"); err != nil {
			return err
		}
		if err := reload(ctx, c, "on"); err != nil {
			return err
		}
		res.Terminated, err = terminateSessions(ctx, c)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("postgres: fence %s: %w", describe(cfg, databaseName(cfg)), classify(ctx, err))
	}
	return res, nil
}

// Unfence undoes Fence on the server dsn names: ALTER SYSTEM RESET default_transaction_read_only,
// then a reload it waits for. From then on new sessions take writes, and so do open ones that
// did not set default_transaction_read_only themselves. Unfencing a server that is not fenced
// changes nothing. When new sessions are still read-only afterwards (postgresql.conf or a role or
// database setting makes them so), the error says so. An unreachable server is an error wrapping
// ErrUnreachable.
func Unfence(ctx context.Context, dsn string) error {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return err
	}
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "ALTER SYSTEM RESET default_transaction_read_only"); err != nil {
			return err
		}
		return reload(ctx, c, "off")
	})
	if err != nil {
		return fmt.Errorf("postgres: unfence %s: %w", describe(cfg, databaseName(cfg)), classify(ctx, err))
	}
	return nil
}

// reload asks the server to reload its configuration and waits until c's session has reloaded
// it. The postmaster reloads before it tells the sessions to, so from then on every new session
// starts with the new configuration. It then checks that default_transaction_read_only, as a
// new session of c's role and database gets it, is want.
func reload(ctx context.Context, c *pgx.Conn, want string) error {
	var before time.Time
	if err := c.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before); err != nil {
		return err
	}
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_reload_conf()").Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("pg_reload_conf() returned false")
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		var loaded time.Time
		if err := c.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&loaded); err != nil {
			return err
		}
		if loaded.After(before) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not reload its configuration within %s", reloadTimeout)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	var got, source string
	if err := c.QueryRow(ctx, "SELECT reset_val, source FROM pg_settings WHERE name = 'default_transaction_read_only'").Scan(&got, &source); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("after reloading, new sessions still get default_transaction_read_only = %s (set by: %s)", got, source)
	}
	return nil
}

// terminateSessions ends every client session but c's own and returns those it signalled, once
// pg_stat_activity no longer shows any of the sessions it found.
func terminateSessions(ctx context.Context, c *pgx.Conn) ([]Session, error) {
	terminate := "pg_terminate_backend(pid)"
	if v, _ := strconv.Atoi(c.PgConn().ParameterStatus("server_version_num")); v >= 140000 {
		terminate = fmt.Sprintf("pg_terminate_backend(pid, %d)", terminateTimeoutMillis)
	}
	rows, err := c.Query(ctx, `SELECT pid, coalesce(usename::text, ''), coalesce(datname::text, ''),
		coalesce(application_name, ''), coalesce(host(client_addr), ''), `+terminate+`
		FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid`)
	if err != nil {
		return nil, err
	}
	var ended []Session // those this call signalled
	var pids []int32    // all it found, some perhaps already on their way out
	var s Session
	var signalled bool
	_, err = pgx.ForEachRow(rows, []any{&s.PID, &s.User, &s.Database, &s.ApplicationName, &s.ClientAddr, &signalled}, func() error {
		pids = append(pids, s.PID)
		if signalled {
			ended = append(ended, s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A session that ended on its own before it could be terminated is gone all the same; one
	// that pg_stat_activity still shows is not, whatever pg_terminate_backend said (it may show
	// one a moment longer than the process lives).
	deadline := time.Now().Add(terminateTimeoutMillis * time.Millisecond)
	for {
		rows, err = c.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1) ORDER BY pid", pids)
		if err != nil {
			return ended, err
		}
		left, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		switch {
		case err != nil:
			return ended, err
		case len(left) == 0:
			return ended, nil
		case time.Now().After(deadline):
			return ended, fmt.Errorf("sessions %v still there %d ms after being terminated", left, terminateTimeoutMillis)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return ended, err
		}
	}
}

// Promote promotes the replica dsn names to a primary with pg_promote(true, wait), waiting up
// to wait (rounded up to whole seconds; 0 means PostgreSQL's default of 60 s) for it to finish.
// On a server that is already a primary it does nothing and reports AlreadyPrimary, so a retried
// Promote succeeds. When the promotion does not finish in time the error wraps
// ErrPromotionPending. Cancelling ctx stops the wait but cannot withdraw a promotion already
// requested. It needs a superuser or EXECUTE on pg_promote. An unreachable server is an error
// wrapping ErrUnreachable.
func Promote(ctx context.Context, dsn string, wait time.Duration) (PromoteResult, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return PromoteResult{}, err
	}
	if wait <= 0 {
		wait = defaultPromoteWait
	}
	seconds := int32(min(math.Ceil(wait.Seconds()), math.MaxInt32))
	var res PromoteResult
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		res.AlreadyPrimary = !inRecovery
		if inRecovery {
			start := time.Now()
			var done bool
			err := c.QueryRow(ctx, "SELECT pg_promote(true, $1)", seconds).Scan(&done)
			res.Duration = time.Since(start)
			var pgErr *pgconn.PgError
			switch {
			case errors.As(err, &pgErr) && pgErr.Code == "55000": // recovery is not in progress: promoted meanwhile
				res.AlreadyPrimary, res.Duration = true, 0
			case err != nil:
				return err
			case !done:
				return fmt.Errorf("%w (%d s)", ErrPromotionPending, seconds)
			}
		}
		var err error
		if res.LSN, res.Timeline, err = currentWAL(ctx, c); err != nil {
			return err
		}
		// It stays at the last transaction replayed once recovery has ended; NULL when the server
		// replayed none (or never was a standby).
		var replayed *time.Time
		if err := c.QueryRow(ctx, "SELECT pg_last_xact_replay_timestamp()").Scan(&replayed); err != nil {
			return err
		}
		if replayed != nil {
			res.RecoveryPoint = replayed.UTC()
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("postgres: promote %s: %w", describe(cfg, databaseName(cfg)), classify(ctx, err))
	}
	return res, nil
}

// PromoteResult is what Promote did.
type PromoteResult struct {
	// AlreadyPrimary is set when the server was a primary already, or another caller promoted it
	// while this one asked: this call promoted nothing.
	AlreadyPrimary bool `json:"already_primary"`
	// Timeline is the timeline the server writes on now; a promotion starts a new one.
	Timeline int64 `json:"timeline"`
	// LSN is the end of the WAL the server had inserted right after the promotion (as
	// ReplicationInfo.CurrentLSN).
	LSN string `json:"lsn"`
	// Duration is how long pg_promote took to return; 0 when AlreadyPrimary. pg_promote looks
	// every 100 ms whether the promotion has finished, so it is a multiple of about 100 ms.
	Duration time.Duration `json:"duration"`
	// RecoveryPoint is the commit time of the last transaction the server replayed as a standby: the
	// newest data it has. Transactions the old primary committed after it are lost with it. Zero
	// when the server replayed no transaction.
	RecoveryPoint time.Time `json:"recovery_point,omitzero"`
}

// ProbeOptions change where WriteProbe writes.
type ProbeOptions struct {
	// Schema holds the probe's table; it must exist. Default: public.
	Schema string `json:"schema,omitempty"`
}

// ProbeResult is the outcome of a WriteProbe that succeeded.
type ProbeResult struct {
	ID string `json:"id"` // the id of the row written
	// Latency is the time from sending the write until the row was read back: one committed
	// write and one read, the connection already open.
	Latency time.Duration `json:"latency"`
	// Total is the time the whole probe took, connecting included.
	Total time.Duration `json:"total"`
}

// WriteProbe proves that the server dsn names takes writes: it upserts a row with a random id
// and now() into <schema>.lifeboat_write_probe(id text primary key, at timestamptz), committing
// it, reads it back, and deletes the table's rows older than an hour. The table is created when
// it does not exist yet (which needs CREATE on the schema the first time only). A write refused
// because the server is read-only (SQLSTATE 25006: a replica, or a fenced primary) is an error
// wrapping ErrReadOnly; an unreachable server is an error wrapping ErrUnreachable. With
// synchronous replication and no synchronous standby, the commit waits, and so does WriteProbe,
// until ctx ends: such a server does not take writes either.
func WriteProbe(ctx context.Context, dsn string, opts ProbeOptions) (ProbeResult, error) {
	start := time.Now()
	cfg, err := parseDSN(dsn)
	if err != nil {
		return ProbeResult{}, err
	}
	schema := opts.Schema
	if schema == "" {
		schema = "public"
	}
	table := pgx.Identifier{schema, probeTable}.Sanitize()
	res := ProbeResult{ID: "probe-" + rand.Text()}
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		write := time.Now()
		upsert := "INSERT INTO " + table + " (id, at) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at"
		_, err := c.Exec(ctx, upsert, res.ID)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: the first probe of this server
			if err := createProbeTable(ctx, c, table); err != nil {
				return err
			}
			write = time.Now()
			_, err = c.Exec(ctx, upsert, res.ID)
		}
		if err != nil {
			return err
		}
		var id string
		if err := c.QueryRow(ctx, "SELECT id FROM "+table+" WHERE id = $1", res.ID).Scan(&id); err != nil {
			return fmt.Errorf("read the probe row back: %w", err)
		}
		res.Latency = time.Since(write)
		_, err = c.Exec(ctx, "DELETE FROM "+table+" WHERE at < now() - interval '1 hour'")
		return err
	})
	res.Total = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("postgres: write probe %s: %w", describe(cfg, databaseName(cfg)), classify(ctx, err))
	}
	return res, nil
}

// createProbeTable creates WriteProbe's table; another probe creating it at the same time is
// not an error.
func createProbeTable(ctx context.Context, c *pgx.Conn, table string) error {
	_, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (id text PRIMARY KEY, at timestamptz NOT NULL)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07") {
		return nil
	}
	return err
}

// WaitForReplay waits until the replica dsn names has replayed WAL up to lsn (text form,
// "0/3000148"), asking every poll (0 means 100 ms) over one connection, and returns nil once it
// has: from then on it holds everything the primary wrote before lsn. Pass the primary's
// ReplicationInfo.CurrentLSN to wait for every transaction committed there so far; an insert
// position just past a WAL page header counts as reached at the end of the record before it. A server that is no longer
// in recovery but had replayed up to lsn before it left (a promoted replica) also returns nil;
// one that had not, or that never was a replica, returns an error wrapping ErrNotReplica, with
// the LSN it stopped at. When ctx ends first, the error wraps ctx's and says how far replay got.
// An unreachable server is an error wrapping ErrUnreachable.
func WaitForReplay(ctx context.Context, dsn string, lsn string, poll time.Duration) error {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return err
	}
	target := describe(cfg, databaseName(cfg))
	want, err := parseLSN(lsn)
	if err != nil {
		return fmt.Errorf("postgres: wait for replay on %s: %w", target, err)
	}
	if poll <= 0 {
		poll = defaultReplayPoll
	}
	replayed := ""
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		block, segment, err := walSizes(ctx, c)
		if err != nil {
			return err
		}
		end := formatLSN(recordEnd(want, block, segment))
		for {
			var inRecovery, reached bool
			err := c.QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn()::text, ''),
				coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, end).Scan(&inRecovery, &replayed, &reached)
			switch {
			case err != nil:
				return err
			case reached:
				return nil
			case !inRecovery && replayed == "":
				return fmt.Errorf("%w: it has not replayed any WAL since it started", ErrNotReplica)
			case !inRecovery:
				return fmt.Errorf("%w: replay stopped at %s when it was promoted", ErrNotReplica, replayed)
			}
			if err := sleep(ctx, poll); err != nil {
				return err
			}
		}
	})
	if err != nil {
		if replayed != "" && ctx.Err() != nil {
			return fmt.Errorf("postgres: wait for replay of %s on %s: replayed %s so far: %w", lsn, target, replayed, classify(ctx, err))
		}
		return fmt.Errorf("postgres: wait for replay of %s on %s: %w", lsn, target, classify(ctx, err))
	}
	return nil
}

// LSNDiff returns a - b in bytes as the server dsn names computes it with pg_wal_lsn_diff:
// positive when a is ahead of b. With a primary's last known LSN as a and a promoted replica's
// replay LSN as b, it is the WAL the failover lost. Any server computes it, a replica included.
func LSNDiff(ctx context.Context, dsn, a, b string) (int64, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return 0, err
	}
	target := describe(cfg, databaseName(cfg))
	for _, lsn := range []string{a, b} {
		if _, err := parseLSN(lsn); err != nil {
			return 0, fmt.Errorf("postgres: LSN difference on %s: %w", target, err)
		}
	}
	var diff int64
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", a, b).Scan(&diff)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: LSN difference %s - %s on %s: %w", a, b, target, classify(ctx, err))
	}
	return diff, nil
}

// formatLSN writes an LSN in PostgreSQL's text form.
func formatLSN(lsn uint64) string {
	return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn))
}

// parseLSN checks that s is an LSN in PostgreSQL's text form, two hexadecimal numbers of up to
// 32 bits separated by a slash, and returns its value.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if ok && hi != "" && lo != "" {
		h, errHi := strconv.ParseUint(hi, 16, 32)
		l, errLo := strconv.ParseUint(lo, 16, 32)
		if errHi == nil && errLo == nil {
			return h<<32 | l, nil
		}
	}
	return 0, fmt.Errorf("%q is not an LSN such as 0/3000148", s)
}

// classify marks err with ErrUnreachable or ErrReadOnly when it is of that kind. Errors after
// ctx ended are left as they are: they say the caller stopped waiting, not that the server is
// gone.
func classify(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "25006": // read_only_sql_transaction
			return fmt.Errorf("%w: %w", ErrReadOnly, err)
		case "57P03": // cannot_connect_now: starting up, shutting down, hot standby off
			return fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return err
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// sleep waits for d or until ctx ends, and then returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

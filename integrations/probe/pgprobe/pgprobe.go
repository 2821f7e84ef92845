// Package pgprobe makes the attempts of health checks of kind postgres (probe.Check) with pgx, so
// that package probe, which workflows use for its types, links no database driver.
package pgprobe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// Check makes one attempt at a postgres check on the server dsn names: connect, run the check's
// query, read the server's role and replication lag, and compare them with what the check expects.
// It is probe.Prober's Postgres.
//
// The query runs alone (the extended protocol takes one statement) in a READ ONLY transaction,
// with statement_timeout set to the check's timeout, and the transaction is rolled back: a query
// that tries to write fails and changes nothing. Errors are probe.Failures whose reasons name the
// kind of problem (authentication failed, query failed (SQLSTATE 42P01), …), never the server's
// message, the DSN or the address.
func Check(ctx context.Context, dsn string, c probe.Check) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: name the secret instead.
		return "", fmt.Errorf("%w: secret %q does not hold a valid PostgreSQL connection string", probe.ErrMisconfigured, c.DSNSecret)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", probe.Fail(reason(err, probe.ReasonConnect), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return "", probe.Fail(reason(err, "starting a read-only transaction failed"), err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	timeout := strconv.FormatInt(c.Timeout.Or(probe.DefaultTimeout).Milliseconds(), 10) + "ms"
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", timeout); err != nil {
		return "", probe.Fail(reason(err, "setting statement_timeout failed"), err)
	}

	query := c.Query
	if query == "" {
		query = "SELECT 1"
	}
	rows, err := tx.Query(ctx, query, pgx.QueryExecModeExec)
	if err != nil {
		return "", probe.Fail(reason(err, probe.ReasonQuery), err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", probe.Fail(reason(err, probe.ReasonQuery), err)
	}

	var inRecovery bool
	var lagSeconds *float64
	// On the connection rather than tx, which the check's query may have ended (COMMIT); this
	// query of Lifeboat's own only reads.
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(),
		CASE WHEN NOT pg_is_in_recovery() THEN NULL
		     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END`).Scan(&inRecovery, &lagSeconds)
	if err != nil {
		return "", probe.Fail(reason(err, "reading the role failed"), err)
	}
	role := probe.RolePrimary
	if inRecovery {
		role = probe.RoleReplica
	}
	if c.ExpectRole != "" && role != c.ExpectRole {
		if inRecovery {
			return "", probe.Fail("in recovery (a replica), want a primary", nil)
		}
		return "", probe.Fail("not in recovery (a primary), want a replica", nil)
	}
	if !inRecovery {
		return role, nil
	}
	if lagSeconds == nil {
		if c.MaxReplicationLag != 0 {
			return "", probe.Fail("replica has replayed no transaction yet: lag unknown", nil)
		}
		return role + ", lag unknown", nil
	}
	lag := time.Duration(*lagSeconds * float64(time.Second)).Round(time.Millisecond)
	if c.MaxReplicationLag != 0 && lag > c.MaxReplicationLag.D() {
		return "", probe.Fail(fmt.Sprintf("replication lag %s exceeds max_replication_lag %s", lag, c.MaxReplicationLag), nil)
	}
	return fmt.Sprintf("%s, lag %s", role, lag), nil
}

// reason names err in probe's vocabulary: a server error by its SQLSTATE, never its message (which
// may quote the query's data, the user or the database), anything else by what probe.Classify
// makes of it, and what neither knows as fallback.
func reason(err error, fallback string) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "28P01" || code == "28000":
			return probe.ReasonAuth
		case code == "25006":
			return probe.ReasonReadOnly
		case code == "57014":
			return probe.ReasonTimeout + ": statement_timeout reached"
		case code == "3D000":
			return probe.ReasonConnect + ": no such database"
		case code == "53300":
			return probe.ReasonConnect + ": too many connections"
		case code == "57P03":
			return probe.ReasonConnect + ": the server is starting up or shutting down"
		case code == "42501":
			return fallback + ": permission denied"
		case len(code) == 5 && isSQLState(code):
			return fallback + " (SQLSTATE " + code + ")"
		}
		return fallback
	}
	if r := probe.Classify(err); r != probe.ReasonUnknown {
		return r
	}
	return fallback
}

// isSQLState reports whether code looks like a SQLSTATE (five digits or upper-case letters), so
// that nothing else a server sends in its place reaches a report.
func isSQLState(code string) bool {
	for _, r := range code {
		if (r < '0' || r > '9') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

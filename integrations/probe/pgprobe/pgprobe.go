// Package pgprobe makes the attempts of health checks of kind postgres (probe.Check) with pgx, so
// that package probe, which workflows use for its types, links no database driver.
package pgprobe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// Check makes one attempt at a postgres check on the server dsn names: connect, run the check's
// query, read the server's role and replication lag, and compare them with what the check expects.
// It is probe.Prober's Postgres.
func Check(ctx context.Context, dsn string, c probe.Check) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: name the secret instead.
		return "", fmt.Errorf("%w: secret %q does not hold a valid PostgreSQL connection string", probe.ErrMisconfigured, c.DSNSecret)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, unwrapPG(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))

	query := c.Query
	if query == "" {
		query = "SELECT 1"
	}
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("query: %w", err)
	}

	var inRecovery bool
	var lagSeconds *float64
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(),
		CASE WHEN NOT pg_is_in_recovery() THEN NULL
		     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END`).Scan(&inRecovery, &lagSeconds)
	if err != nil {
		return "", fmt.Errorf("read role: %w", err)
	}
	role := probe.RolePrimary
	if inRecovery {
		role = probe.RoleReplica
	}
	if c.ExpectRole != "" && role != c.ExpectRole {
		return "", fmt.Errorf("server is a %s, want %s", role, c.ExpectRole)
	}
	if !inRecovery {
		return role, nil
	}
	if lagSeconds == nil {
		if c.MaxReplicationLag != 0 {
			return "", fmt.Errorf("replica has replayed no transaction yet: lag unknown")
		}
		return role + ", lag unknown", nil
	}
	lag := time.Duration(*lagSeconds * float64(time.Second)).Round(time.Millisecond)
	if c.MaxReplicationLag != 0 && lag > c.MaxReplicationLag.D() {
		return "", fmt.Errorf("replication lag %s exceeds max_replication_lag %s", lag, c.MaxReplicationLag)
	}
	return fmt.Sprintf("%s, lag %s", role, lag), nil
}

// unwrapPG shortens pgx connect errors, which repeat the DSN's host and user, to their cause.
func unwrapPG(err error) error {
	var last error
	for e := err; e != nil; e = errors.Unwrap(e) {
		last = e
	}
	if last != nil && last != err {
		return last
	}
	return err
}

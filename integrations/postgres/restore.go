package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RestoreOptions change how Restore treats the target database.
type RestoreOptions struct {
	// Replace lets Restore put the restored copy in the place of an existing database of the
	// target's name. The existing database is never dropped: it is renamed, in the same
	// transaction that gives the copy its name, to <name>_replaced_<UTC time> (RestoreResult.Kept),
	// and stays until someone drops it. Its sessions are terminated at that moment. Without
	// Replace, an existing target is ErrDatabaseExists and nothing is restored.
	Replace bool
	// KeepOwner restores the ownership recorded in the dump; the owning roles must exist.
	// Default (pg_restore --no-owner): every object belongs to the user of the DSN.
	KeepOwner bool
	// Job names the restore job (a workflow run). The side database the dump is restored into is
	// named after it, so a retry of the same job finds — and alone may drop — what an interrupted
	// attempt left; and a target that this job already restored is recognised and not restored
	// twice. Empty: a one-off restore with a random side database.
	Job string
	// Validate, when set, is run against the restored side database before it takes the target's
	// place (the asset's checks); an error keeps the target as it was, drops the side database and
	// is returned wrapping ErrValidationFailed. dsn connects to the side database.
	Validate func(ctx context.Context, dsn string) error
	// Now stamps the kept database's name (default time.Now).
	Now func() time.Time
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	// Database is the restored database's name.
	Database string `json:"database"`
	// Kept is the name the replaced database now has; empty when none was replaced.
	Kept string `json:"kept,omitempty"`
	// Already is true when the target had been restored by this job before (a retried attempt
	// whose predecessor finished the swap): nothing was done again.
	Already bool `json:"already,omitempty"`
}

// Comments on databases record what Lifeboat did to them, so that a retry of the same job can
// recognise its own work. They are informational for people too (psql \l+).
const (
	commentRestored = "lifeboat: restored by job "
	commentReplaced = "lifeboat: replaced by job "
	commentSide     = "lifeboat: restore in progress for job "
)

// maxIdentifier is PostgreSQL's limit on a name's length in bytes (NAMEDATALEN - 1).
const maxIdentifier = 63

// sideName is the database a job restores into before the swap: a name no person would choose,
// derived from the job and the target so that only this job's retry uses it again.
func sideName(job, database string) string {
	if job == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return "lifeboat_side_" + hex.EncodeToString(b[:])
	}
	h := sha256.Sum256([]byte(job + "\x00" + database))
	return "lifeboat_side_" + hex.EncodeToString(h[:8])
}

// keptName is the name a replaced database is given: <name>_replaced_<UTC time>, shortened to fit.
func keptName(database string, now time.Time) string {
	suffix := "_replaced_" + now.UTC().Format("20060102T150405Z")
	base := database
	for len(base)+len(suffix) > maxIdentifier {
		_, size := lastRune(base)
		base = base[:len(base)-size]
	}
	return base + suffix
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, len(s)
}

// Restore restores the custom-format dump read from r as database on the server of dsn, without
// ever writing into an existing database: pg_restore --no-owner --exit-on-error fills a side
// database named after opts.Job, opts.Validate checks it, and only then, in one transaction, the
// side database takes the target's name — and, with opts.Replace, an existing target is renamed
// out of the way and kept (see RestoreOptions.Replace). A failure or a crash at any point leaves the
// target as it was; what is left over is the side database, which a retry of the same job drops
// and which the failed attempt drops itself when it can.
//
// dsn names a maintenance database to connect to (usually postgres), never database itself. The
// user needs CREATEDB and, to replace, ownership of the target. An existing target without Replace
// is an error wrapping ErrDatabaseExists, returned before r is read. The error of a failed
// pg_restore carries the last 64 KiB of its standard error; a failure reading r is reported as
// such. Restore returns once it has stopped reading r (or ctx is done). Cancelling ctx kills
// pg_restore.
func (t Tools) Restore(ctx context.Context, dsn string, database string, r io.Reader, opts RestoreOptions) (RestoreResult, error) {
	res := RestoreResult{Database: database}
	bin, err := t.find("pg_restore")
	if err != nil {
		return res, err
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		return res, err
	}
	target := describe(cfg, database)
	switch {
	case database == "":
		return res, errors.New("postgres: restore: no target database")
	case len(database) > maxIdentifier:
		return res, fmt.Errorf("postgres: restore: database name %q is longer than %d bytes", database, maxIdentifier)
	case database == databaseName(cfg):
		return res, fmt.Errorf("postgres: restore into %s: the DSN connects to that database itself; point it at a maintenance database such as postgres", target)
	}
	side := sideName(opts.Job, database)

	// Before anything is read: is the target ours already, or in the way?
	var done, exists bool
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		comment, found, err := databaseComment(ctx, c, database)
		if err != nil {
			return err
		}
		exists = found
		done = found && opts.Job != "" && comment == commentRestored+opts.Job
		if done {
			res.Kept, err = keptBy(ctx, c, opts.Job)
			return err
		}
		if found && !opts.Replace {
			return fmt.Errorf("%w (restore under another name, or replace it: the old one is kept under a dated name)", ErrDatabaseExists)
		}
		// A side database of this job is what an interrupted attempt left: ours to drop.
		if err := dropDatabase(ctx, c, side); err != nil {
			return fmt.Errorf("drop side database %s left by an earlier attempt: %w", side, err)
		}
		if _, err := c.Exec(ctx, "CREATE DATABASE "+ident(side)+" TEMPLATE template0"); err != nil {
			return fmt.Errorf("create side database %s: %w", side, err)
		}
		_, err = c.Exec(ctx, "COMMENT ON DATABASE "+ident(side)+" IS "+literal(commentSide+jobOrOneOff(opts.Job)))
		return err
	})
	if err != nil {
		return res, fmt.Errorf("postgres: restore into %s: %w", target, err)
	}
	if done {
		res.Already = true
		return res, nil
	}
	dropSide := func(cause error) error {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := withConn(cleanup, cfg, func(c *pgx.Conn) error { return dropDatabase(cleanup, c, side) }); err != nil {
			return errors.Join(cause, fmt.Errorf("postgres: drop side database %s: %w", side, err))
		}
		return cause
	}

	arg, err := toolConnString(dsn, side)
	if err != nil {
		return res, dropSide(err)
	}
	args := []string{"--no-password", "--exit-on-error", "--dbname=" + arg}
	if !opts.KeepOwner {
		args = append(args, "--no-owner")
	}
	if err := t.runRestore(ctx, bin, args, cfg, target, r); err != nil {
		return res, dropSide(err)
	}
	if opts.Validate != nil {
		sideDSN, err := InDatabase(dsn, side)
		if err != nil {
			return res, dropSide(err)
		}
		if err := opts.Validate(ctx, sideDSN); err != nil {
			return res, dropSide(fmt.Errorf("postgres: restore into %s: %w: %w", target, ErrValidationFailed, err))
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	kept := ""
	if exists {
		kept = keptName(database, now())
	}
	if err := withConn(ctx, cfg, func(c *pgx.Conn) error { return swap(ctx, c, side, database, kept, opts.Job) }); err != nil {
		if errors.Is(err, ErrDatabaseExists) {
			err = fmt.Errorf("%w (it was created while the restore ran)", err)
		}
		return res, dropSide(fmt.Errorf("postgres: restore into %s: %w", target, err))
	}
	res.Kept = kept
	return res, nil
}

// swap gives the side database the target's name in one transaction, renaming an existing
// target to kept first (kept is empty when there is none). Sessions of the target are terminated
// inside the transaction, just before the rename; one that reconnects in between makes the
// rename fail, which rolls everything back and is tried again a few times.
func swap(ctx context.Context, c *pgx.Conn, side, database, kept, job string) error {
	var err error
	for try := range 5 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		err = pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if kept != "" {
				if _, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database); err != nil {
					return fmt.Errorf("terminate sessions of %s: %w", database, err)
				}
				if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(database)+" RENAME TO "+ident(kept)); err != nil {
					return fmt.Errorf("rename %s to %s: %w", database, kept, err)
				}
				if _, err := tx.Exec(ctx, "COMMENT ON DATABASE "+ident(kept)+" IS "+literal(commentReplaced+jobOrOneOff(job))); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(side)+" RENAME TO "+ident(database)); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database
					return ErrDatabaseExists
				}
				return fmt.Errorf("rename %s to %s: %w", side, database, err)
			}
			_, err := tx.Exec(ctx, "COMMENT ON DATABASE "+ident(database)+" IS "+literal(commentRestored+jobOrOneOff(job)))
			return err
		})
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use: a session came back
			return err
		}
	}
	return err
}

func jobOrOneOff(job string) string {
	if job == "" {
		return "(one-off)"
	}
	return job
}

// databaseComment returns a database's comment and whether the database exists.
func databaseComment(ctx context.Context, c *pgx.Conn, database string) (string, bool, error) {
	var comment *string
	err := c.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", database).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up database %s: %w", database, err)
	}
	if comment == nil {
		return "", true, nil
	}
	return *comment, true, nil
}

// keptBy finds the database a job replaced, if any.
func keptBy(ctx context.Context, c *pgx.Conn, job string) (string, error) {
	var name string
	err := c.QueryRow(ctx, "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') = $1 ORDER BY datname DESC LIMIT 1",
		commentReplaced+job).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return name, err
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes s as an SQL string literal; COMMENT takes no parameters.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// DatabaseOf returns the name of the database dsn connects to (the server's default, the user's
// name, when the DSN names none).
func DatabaseOf(dsn string) (string, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return "", err
	}
	return databaseName(cfg), nil
}

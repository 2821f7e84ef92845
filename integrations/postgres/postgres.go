package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

// stderrTail is how much of the end of pg_dump's or pg_restore's standard error an error carries.
const stderrTail = 64 << 10

var (
	// ErrNotInstalled is wrapped by every error about pg_dump or pg_restore not being found.
	ErrNotInstalled = errors.New("install the PostgreSQL client tools: apt-get install postgresql-client")
	// ErrDatabaseExists is wrapped by Restore's error when the target database exists and
	// RestoreOptions.Replace is not set.
	ErrDatabaseExists = errors.New("database already exists")
	// ErrValidationFailed is wrapped by Restore's error when RestoreOptions.Validate refused the
	// restored copy; the target was not touched.
	ErrValidationFailed = errors.New("the restored copy failed validation")
	// ErrCheckFailed is wrapped by Check's error when at least one check did not pass.
	ErrCheckFailed = errors.New("SQL checks failed")

	// errBadDSN is returned for a connection string that does not parse. It says no more: pgx's
	// own message quotes the string, which may hold a password.
	errBadDSN = errors.New("postgres: connection string does not parse (details withheld: it may hold a password)")
	// errStopped closes a pipe whose reader or writer has finished, so that the other side stops.
	errStopped = errors.New("postgres: stream stopped")
)

// Tools runs the PostgreSQL client programs pg_dump and pg_restore. The zero value finds them on
// its own. Its methods are safe for concurrent use.
type Tools struct {
	// BinDir is the folder holding pg_dump and pg_restore. Empty: look in PATH, then in
	// `pg_config --bindir`, then in the highest version of /usr/lib/postgresql/*/bin.
	BinDir string
}

// DumpInfo describes a finished dump.
type DumpInfo struct {
	Database      string        `json:"database"`
	ServerVersion string        `json:"server_version"` // SHOW server_version, e.g. "15.8 (Debian 15.8-1)"
	Bytes         int64         `json:"bytes"`          // size of the custom-format dump written
	Duration      time.Duration `json:"duration"`       // from connecting until pg_dump exited
}

// SQLCheck is a validation query for a restored database.
type SQLCheck struct {
	Name string `json:"name"`
	// Query must return exactly one row of one column.
	Query string `json:"query"`
	// Expect, when set, must equal the value as PostgreSQL renders it as text ("200000", "t",
	// "2024-05-01"). Empty: any single row passes.
	Expect string `json:"expect,omitempty"`
}

// SQLCheckResult is the outcome of one SQLCheck.
type SQLCheckResult struct {
	Name   string `json:"name"`
	Value  string `json:"value"`          // the value as text; empty when NULL or when the query failed
	Null   bool   `json:"null,omitempty"` // the value was NULL (which never equals Expect)
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"` // why the check failed; empty when it passed
}

// Dump writes a custom-format dump (pg_dump --format=custom) of the database dsn names to w as
// pg_dump produces it, holding none of it in memory. It first asks the server for its version.
// The password, if any, reaches pg_dump through PGPASSWORD, never its command line, and errors
// name the server and database as host:port/database, never the DSN. When pg_dump fails, the
// error carries the last 64 KiB of its standard error; when w fails, pg_dump is stopped and the
// error wraps w's. Cancelling ctx kills pg_dump. The returned DumpInfo counts what reached w even
// on error.
func (t Tools) Dump(ctx context.Context, dsn string, w io.Writer) (DumpInfo, error) {
	start := time.Now()
	bin, err := t.find("pg_dump")
	if err != nil {
		return DumpInfo{}, err
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		return DumpInfo{}, err
	}
	info := DumpInfo{Database: databaseName(cfg)}
	target := describe(cfg, info.Database)
	arg, err := toolConnString(dsn, "")
	if err != nil {
		return info, err
	}
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SHOW server_version").Scan(&info.ServerVersion)
	})
	if err != nil {
		return info, fmt.Errorf("postgres: dump %s: server version: %w", target, classify(ctx, err))
	}

	cmd := exec.CommandContext(ctx, bin, "--format=custom", "--no-password", "--dbname="+arg)
	cmd.Env = toolEnv(cfg)
	stderr := &tail{max: stderrTail}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return info, fmt.Errorf("postgres: pg_dump %s: %w", target, err)
	}
	if err := cmd.Start(); err != nil {
		return info, fmt.Errorf("postgres: pg_dump %s: %w", target, err)
	}
	cw := &countingWriter{w: w}
	_, copyErr := io.Copy(cw, out)
	if copyErr != nil {
		_ = cmd.Process.Kill() // nobody takes its output any more
	}
	waitErr := cmd.Wait()
	info.Bytes, info.Duration = cw.n, time.Since(start)
	switch {
	case copyErr == nil && waitErr == nil:
		return info, nil
	case ctx.Err() != nil:
		return info, fmt.Errorf("postgres: pg_dump %s: %w", target, ctx.Err())
	case cw.err != nil:
		return info, fmt.Errorf("postgres: pg_dump %s: write dump: %w", target, cw.err)
	case waitErr != nil:
		return info, toolError("pg_dump", target, waitErr, stderr)
	default:
		return info, fmt.Errorf("postgres: pg_dump %s: read output: %w", target, copyErr)
	}
}

// runRestore runs pg_restore with r on its standard input.
func (t Tools) runRestore(ctx context.Context, bin string, args []string, cfg *pgx.ConnConfig, target string, r io.Reader) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = toolEnv(cfg)
	stderr := &tail{max: stderrTail}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("postgres: pg_restore %s: %w", target, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: pg_restore %s: %w", target, err)
	}
	src := &errReader{r: r}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(stdin, src) // write errors mean pg_restore has exited; Wait reports why
		stdin.Close()
	}()
	waitErr := cmd.Wait() // closes stdin, so the copy ends at r's next Read
	select {
	case <-copied:
	case <-ctx.Done():
	}
	switch {
	case src.Err() != nil:
		return fmt.Errorf("postgres: pg_restore %s: read dump: %w", target, src.Err())
	case waitErr == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("postgres: pg_restore %s: %w", target, ctx.Err())
	default:
		return toolError("pg_restore", target, waitErr, stderr)
	}
}

// dropDatabase terminates the sessions of database and drops it, if it exists.
func dropDatabase(ctx context.Context, c *pgx.Conn, database string) error {
	if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database); err != nil {
		return fmt.Errorf("terminate sessions: %w", err)
	}
	drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{database}.Sanitize()
	// Since PostgreSQL 13, FORCE also ends sessions that connected after the terminate above.
	major, _, _ := strings.Cut(c.PgConn().ParameterStatus("server_version"), ".")
	if v, _ := strconv.Atoi(major); v >= 13 {
		drop += " WITH (FORCE)"
	}
	if _, err := c.Exec(ctx, drop); err != nil {
		return fmt.Errorf("drop database: %w", err)
	}
	return nil
}

// Check runs each check against the database dsn names, one read-only transaction per check, and
// returns a result for every check, in order. A check passes when its query returns exactly one
// row of one column whose text equals Expect (any value when Expect is empty). When any check did
// not pass, the error wraps ErrCheckFailed and lists them. Other errors (no connection, ctx done)
// come with the results of the checks run so far.
func (t Tools) Check(ctx context.Context, dsn string, checks []SQLCheck) ([]SQLCheckResult, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	target := describe(cfg, databaseName(cfg))
	results := make([]SQLCheckResult, 0, len(checks))
	var failed []string
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		for _, ck := range checks {
			res := runCheck(ctx, c, ck)
			if err := ctx.Err(); err != nil {
				return err
			}
			results = append(results, res)
			if !res.Passed {
				failed = append(failed, fmt.Sprintf("%s: %s", ck.Name, res.Error))
			}
		}
		return nil
	})
	if err != nil {
		return results, fmt.Errorf("postgres: check %s: %w", target, err)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("postgres: check %s: %w: %d of %d (%s)", target, ErrCheckFailed, len(failed), len(checks), strings.Join(failed, "; "))
	}
	return results, nil
}

// boolText is how PostgreSQL writes the booleans that an expectation may spell as SQL does.
var boolText = map[string]string{"true": "t", "false": "f"}

func runCheck(ctx context.Context, c *pgx.Conn, ck SQLCheck) SQLCheckResult {
	res := SQLCheckResult{Name: ck.Name}
	value, null, boolean, err := queryOne(ctx, c, ck.Query)
	switch {
	case err != nil:
		res.Error = err.Error()
	case null:
		res.Null = true
		res.Passed = ck.Expect == ""
		if !res.Passed {
			res.Error = fmt.Sprintf("got NULL, want %q", ck.Expect)
		}
	default:
		res.Value = value
		res.Passed = ck.Expect == "" || value == ck.Expect || boolean && boolText[ck.Expect] == value
		if !res.Passed {
			res.Error = fmt.Sprintf("got %q, want %q", value, ck.Expect)
		}
	}
	return res
}

// queryOne runs query in a read-only transaction that is rolled back, and returns its single
// value as text, and whether it is a boolean. The simple protocol makes the server send every
// value as text (a boolean as t or f).
func queryOne(ctx context.Context, c *pgx.Conn, query string) (value string, null, boolean bool, err error) {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return "", false, false, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, query, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", false, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", false, false, err
		}
		return "", false, false, errors.New("query returned no rows")
	}
	if n := len(rows.FieldDescriptions()); n != 1 {
		return "", false, false, fmt.Errorf("query returned %d columns, want 1", n)
	}
	raw := rows.RawValues()[0]
	value, null = string(raw), raw == nil
	boolean = rows.FieldDescriptions()[0].DataTypeOID == pgtype.BoolOID
	if rows.Next() {
		return "", false, false, errors.New("query returned more than one row")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", false, false, err
	}
	return value, null, boolean, nil
}

// RowCount returns SELECT count(*) of table in the database dsn names. table is a name or
// schema.name, quoted safely; a name that itself holds a dot cannot be given.
func RowCount(ctx context.Context, dsn, table string) (int64, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return 0, err
	}
	var n int64
	err = withConn(ctx, cfg, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier(strings.Split(table, ".")).Sanitize()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: count rows of %s in %s: %w", table, describe(cfg, databaseName(cfg)), err)
	}
	return n, nil
}

// BackupToRepository dumps the database dsn names straight into repo as a snapshot holding one
// file, <database>.dump, and returns the snapshot and what Dump reported. When pg_dump fails no
// snapshot is saved and its error is returned; when the repository fails, pg_dump is stopped and
// the repository's error is returned. opts.Source defaults to the dump's file name.
func (t Tools) BackupToRepository(ctx context.Context, repo *repository.Repository, dsn string, opts repository.BackupOptions) (*repository.Snapshot, DumpInfo, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, DumpInfo{}, err
	}
	name := databaseName(cfg) + ".dump"

	type dumpResult struct {
		info DumpInfo
		err  error
	}
	pr, pw := io.Pipe()
	dumped := make(chan dumpResult, 1)
	go func() {
		info, err := t.Dump(ctx, dsn, pw)
		pw.CloseWithError(err) // nil: the repository reads io.EOF
		dumped <- dumpResult{info, err}
	}()
	sn, backupErr := repo.BackupStream(ctx, pr, name, opts)
	pr.CloseWithError(errStopped) // a repository that stopped early must not leave pg_dump blocked
	d := <-dumped
	if d.err != nil && !errors.Is(d.err, errStopped) {
		return nil, d.info, d.err
	}
	if backupErr != nil {
		return nil, d.info, fmt.Errorf("postgres: back up %s to repository: %w", describe(cfg, databaseName(cfg)), backupErr)
	}
	if d.err != nil { // cannot happen: the repository saw EOF, so pg_dump succeeded
		return nil, d.info, d.err
	}
	return sn, d.info, nil
}

// RestoreFromRepository restores the single *.dump file at the root of snapshot sn into database
// on the server of dsn, streaming it from repo into Restore (see Restore for dsn, opts and what is
// left behind on failure). A snapshot without exactly one such file is an error. When reading the
// repository fails, that error is returned rather than pg_restore's complaint about a cut-off dump.
func (t Tools) RestoreFromRepository(ctx context.Context, repo *repository.Repository, sn *repository.Snapshot, dsn, database string, opts RestoreOptions) (RestoreResult, error) {
	name, err := dumpFile(ctx, repo, sn)
	if err != nil {
		return RestoreResult{Database: database}, err
	}
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		_, err := repo.Dump(ctx, sn, name, pw)
		pw.CloseWithError(err) // nil: pg_restore reads io.EOF
		dumped <- err
	}()
	res, restoreErr := t.Restore(ctx, dsn, database, pr, opts)
	pr.CloseWithError(errStopped) // a restore that stopped early must not leave the reader blocked
	if err := <-dumped; err != nil && !errors.Is(err, errStopped) {
		return res, fmt.Errorf("postgres: restore %s from snapshot %s: read %s: %w", database, sn.ID.Short(), name, err)
	}
	return res, restoreErr
}

// dumpFile returns the name of the single *.dump file at the root of sn.
func dumpFile(ctx context.Context, repo *repository.Repository, sn *repository.Snapshot) (string, error) {
	if err := repo.LoadIndex(ctx); err != nil {
		return "", fmt.Errorf("postgres: snapshot %s: %w", sn.ID.Short(), err)
	}
	tree, err := repo.LoadTree(ctx, sn.Tree)
	if err != nil {
		return "", fmt.Errorf("postgres: snapshot %s: %w", sn.ID.Short(), err)
	}
	var names []string
	for _, n := range tree.Nodes {
		if n.Type == repository.NodeFile && strings.HasSuffix(n.Name, ".dump") {
			names = append(names, n.Name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("postgres: snapshot %s holds %d .dump files at its root %q, want exactly one", sn.ID.Short(), len(names), names)
	}
	return names[0], nil
}

// find returns the path of the client program name.
func (t Tools) find(name string) (string, error) {
	if t.BinDir != "" {
		p := filepath.Join(t.BinDir, name)
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("postgres: %s not found in %s: %w", name, t.BinDir, ErrNotInstalled)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), name); isExecutable(p) {
			return p, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, dir := range newestFirst(dirs) {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("postgres: %s not found in PATH, `pg_config --bindir` or /usr/lib/postgresql/*/bin: %w", name, ErrNotInstalled)
}

// newestFirst sorts folders like /usr/lib/postgresql/15/bin by the version they are under,
// highest first, comparing versions numerically (15 > 9.6).
func newestFirst(dirs []string) []string {
	version := func(dir string) []int {
		var v []int
		for _, part := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, _ := strconv.Atoi(part)
			v = append(v, n)
		}
		return v
	}
	out := append([]string(nil), dirs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := version(out[i]), version(out[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	return out
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func parseDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errBadDSN
	}
	return cfg, nil
}

// databaseName is the database cfg connects to; the server's default is the user's name.
func databaseName(cfg *pgx.ConnConfig) string {
	if cfg.Database != "" {
		return cfg.Database
	}
	return cfg.User
}

// describe names database on cfg's server for errors: host:port/database, no user or password.
func describe(cfg *pgx.ConnConfig, database string) string {
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + database
}

// withConn connects with cfg, runs fn and closes the connection.
func withConn(ctx context.Context, cfg *pgx.ConnConfig, fn func(*pgx.Conn) error) error {
	c, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return fn(c)
}

// toolEnv is the environment of pg_dump and pg_restore: ours plus the password.
func toolEnv(cfg *pgx.ConnConfig) []string {
	env := os.Environ()
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	return env
}

// toolConnString returns dsn without its password and, when database is set, pointed at
// database: what pg_dump and pg_restore get on their command line, which any local user can read.
func toolConnString(dsn, database string) (string, error) {
	return connString(dsn, database, false)
}

// InDatabase returns dsn pointed at database on the same server, with its credentials: how a
// restore drill reaches the scratch database it restored into.
func InDatabase(dsn, database string) (string, error) {
	if database == "" {
		return "", errors.New("postgres: no database name")
	}
	return connString(dsn, database, true)
}

// DropDatabase ends the sessions of database on the server of dsn and drops it; a database that
// does not exist is not an error.
func DropDatabase(ctx context.Context, dsn, database string) error {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return err
	}
	err = withConn(ctx, cfg, func(c *pgx.Conn) error { return dropDatabase(ctx, c, database) })
	if err != nil {
		return fmt.Errorf("postgres: drop %s: %w", describe(cfg, database), err)
	}
	return nil
}

func connString(dsn, database string, keepPassword bool) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errBadDSN
		}
		if u.User != nil && !keepPassword {
			if name := u.User.Username(); name != "" {
				u.User = url.User(name)
			} else {
				u.User = nil
			}
		}
		q := u.Query()
		for key := range q {
			if omitParam(key, database) && (key != "password" || !keepPassword) {
				q.Del(key)
			}
		}
		if database != "" {
			u.Path, u.RawPath = "/"+database, ""
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	pairs, err := parseKeywordValue(dsn)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, kv := range pairs {
		if omitParam(kv[0], database) && (kv[0] != "password" || !keepPassword) {
			continue
		}
		parts = append(parts, kv[0]+"="+quoteValue(kv[1]))
	}
	if database != "" {
		parts = append(parts, "dbname="+quoteValue(database))
	}
	return strings.Join(parts, " "), nil
}

// omitParam reports whether toolConnString leaves out the connection parameter key: the password,
// the database when it points the string elsewhere, and settings only pgx and pgxpool know, which
// libpq would refuse.
func omitParam(key, database string) bool {
	switch key {
	case "password", "statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode":
		return true
	case "dbname":
		return database != ""
	}
	return strings.HasPrefix(key, "pool_")
}

// parseKeywordValue splits a libpq keyword/value connection string ("host=db user='a b'") into
// its pairs, in order.
func parseKeywordValue(s string) ([][2]string, error) {
	var pairs [][2]string
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return pairs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if key == "" || i == len(s) || s[i] != '=' {
			return nil, errBadDSN
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errBadDSN
			}
			i++ // closing quote
		} else {
			for ; i < len(s) && !isSpace(s[i]); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
		}
		pairs = append(pairs, [2]string{key, val.String()})
	}
}

func quoteValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// toolError reports a failed pg_dump or pg_restore with the end of its standard error.
func toolError(tool, target string, err error, stderr *tail) error {
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		return fmt.Errorf("postgres: %s %s: %w: %s", tool, target, err, msg)
	}
	return fmt.Errorf("postgres: %s %s: %w", tool, target, err)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max { // compact now and then, not on every write
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.dropped = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	if t.dropped || len(t.buf) > t.max {
		return "..." + string(b)
	}
	return string(b)
}

// countingWriter counts what reaches w and remembers w's first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// errReader remembers the first error other than io.EOF that reading r returned.
type errReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *errReader) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

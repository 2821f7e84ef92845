package asset

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/lifeboat-dr/lifeboat/integrations/gitsource"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Asset is one protected asset.
type Asset struct {
	// Name identifies the asset in schedules, workflow IDs and search attributes.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Source      Source `yaml:"source" json:"source"`
	// Repository holds the backups; Offsite, when set, receives a copy of each.
	Repository *Repository `yaml:"repository,omitempty" json:"repository,omitempty"`
	Offsite    *Repository `yaml:"offsite,omitempty" json:"offsite,omitempty"`
	Schedule   Schedule    `yaml:"schedule" json:"schedule"`
	Retention  Retention   `yaml:"retention" json:"retention"`
	// RPO is the most data, in time, the asset may lose: the watchdog alerts when the last good backup
	// is older.
	RPO    units.Duration `yaml:"rpo" json:"rpo"`
	Verify *Verify        `yaml:"verify,omitempty" json:"verify,omitempty"`
	Owners []string       `yaml:"owners,omitempty" json:"owners,omitempty"`
	// Notify names notification routes for failures and alerts.
	Notify []string `yaml:"notify,omitempty" json:"notify,omitempty"`
}

// Source says what is backed up; exactly one field is set.
type Source struct {
	Paths    *PathsSource    `yaml:"paths,omitempty" json:"paths,omitempty"`
	Postgres *PostgresSource `yaml:"postgres,omitempty" json:"postgres,omitempty"`
	Command  *CommandSource  `yaml:"command,omitempty" json:"command,omitempty"`
	RDS      *RDSSource      `yaml:"rds,omitempty" json:"rds,omitempty"`
	EBS      *EBSSource      `yaml:"ebs,omitempty" json:"ebs,omitempty"`
	Git      *GitSource      `yaml:"git,omitempty" json:"git,omitempty"`
	CIConfig *CIConfigSource `yaml:"ci_config,omitempty" json:"ci_config,omitempty"`
}

// PathsSource is directory trees or files on the worker's host.
type PathsSource struct {
	Include []string `yaml:"include" json:"include"`
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// PostgresSource is a database dumped with pg_dump; the DSN stays in a worker secret.
type PostgresSource struct {
	DSNSecret string `yaml:"dsn_secret" json:"dsn_secret"`
	// MaintenanceDatabase is the database an in-place restore connects to while it renames the
	// live database aside (default "postgres"); it must not be the asset's own database.
	MaintenanceDatabase string `yaml:"maintenance_database,omitempty" json:"maintenance_database,omitempty"`
}

// Maintenance returns the maintenance database's name.
func (p PostgresSource) Maintenance() string {
	if p.MaintenanceDatabase == "" {
		return "postgres"
	}
	return p.MaintenanceDatabase
}

// CommandSource is a command's standard output, stored as one file.
type CommandSource struct {
	// Argv is the command and its arguments, run without a shell.
	Argv []string `yaml:"argv" json:"argv"`
	// Name is the file's name in the snapshot.
	Name string `yaml:"name" json:"name"`
}

// RDSSource is an AWS RDS instance, protected by DB snapshots copied to a DR region.
type RDSSource struct {
	Instance     string `yaml:"instance" json:"instance"`
	Region       string `yaml:"region" json:"region"`
	CopyToRegion string `yaml:"copy_to_region,omitempty" json:"copy_to_region,omitempty"`
}

// EBSSource is an AWS EBS volume, protected by snapshots copied to a DR region.
type EBSSource struct {
	VolumeID     string `yaml:"volume_id" json:"volume_id"`
	Region       string `yaml:"region" json:"region"`
	CopyToRegion string `yaml:"copy_to_region,omitempty" json:"copy_to_region,omitempty"`
}

// GitSource is a git repository, kept as a mirror clone on the worker and backed up whole: every
// ref with its history.
type GitSource struct {
	// URL is git://, http(s)://, ssh:// or scp-like (git@host:org/repo.git), file:// or an
	// absolute path on the worker's host. It carries no password.
	URL string `yaml:"url" json:"url"`
	// CredentialsSecret names the worker secret holding "user:password" (or "user:token") for an
	// http(s) URL, or a private key for an ssh URL.
	CredentialsSecret string `yaml:"credentials_secret,omitempty" json:"credentials_secret,omitempty"`
}

// CIConfigSource is the CI configuration files of a git repository's branches, backed up as
// <branch>/<path>.
type CIConfigSource struct {
	URL               string `yaml:"url" json:"url"`
	CredentialsSecret string `yaml:"credentials_secret,omitempty" json:"credentials_secret,omitempty"`
	// Paths are the files to keep, relative to the repository's root ("*" within a path component,
	// "**" for any number of them); default DefaultCIPaths.
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	// Branches are branch names or patterns ("release/*"); default every branch.
	Branches []string `yaml:"branches,omitempty" json:"branches,omitempty"`
}

// DefaultCIPaths are the CI configuration files of the common CI services.
var DefaultCIPaths = []string{".github/workflows/**", ".gitlab-ci.yml", ".gitlab/**", "Jenkinsfile", ".circleci/**",
	"azure-pipelines.yml", ".buildkite/**", ".drone.yml"}

// Patterns returns the configured paths, or DefaultCIPaths.
func (c CIConfigSource) Patterns() []string {
	if len(c.Paths) > 0 {
		return c.Paths
	}
	return DefaultCIPaths
}

// Kind names the source's kind: paths, postgres, command, rds, ebs, git or ci_config.
func (s Source) Kind() string {
	switch {
	case s.Paths != nil:
		return "paths"
	case s.Postgres != nil:
		return "postgres"
	case s.Command != nil:
		return "command"
	case s.RDS != nil:
		return "rds"
	case s.EBS != nil:
		return "ebs"
	case s.Git != nil:
		return "git"
	case s.CIConfig != nil:
		return "ci_config"
	}
	return ""
}

func (s Source) kinds() int {
	n := 0
	for _, set := range []bool{s.Paths != nil, s.Postgres != nil, s.Command != nil, s.RDS != nil, s.EBS != nil, s.Git != nil, s.CIConfig != nil} {
		if set {
			n++
		}
	}
	return n
}

// Repository is a backup repository and the worker secret that unlocks it.
type Repository struct {
	// Location is a path, s3://bucket/prefix?… or gs://bucket/prefix?….
	Location string `yaml:"location" json:"location"`
	// PasswordSecret or KeyFileSecret names the worker secret holding the passphrase or key file.
	PasswordSecret string `yaml:"password_secret,omitempty" json:"password_secret,omitempty"`
	KeyFileSecret  string `yaml:"key_file_secret,omitempty" json:"key_file_secret,omitempty"`
}

// Schedule is a cron expression (5 fields, in UTC unless CRON_TZ= is given) or an interval.
type Schedule struct {
	Cron  string         `yaml:"cron,omitempty" json:"cron,omitempty"`
	Every units.Duration `yaml:"every,omitempty" json:"every,omitempty"`
}

// Interval is the longest gap between two scheduled runs (an upper bound for cron schedules, found
// by stepping through a year of them).
func (s Schedule) Interval() time.Duration {
	if s.Every != 0 {
		return s.Every.D()
	}
	sched, err := cronParser.Parse(s.Cron)
	if err != nil {
		return 0
	}
	t := sched.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	longest := time.Duration(0)
	for end := t.AddDate(1, 0, 0); t.Before(end); {
		next := sched.Next(t)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(t))
		t = next
	}
	return longest
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Retention is a forget policy: keep counts and a window, per the asset.
type Retention struct {
	Last     int            `yaml:"last,omitempty" json:"last,omitempty"`
	Hourly   int            `yaml:"hourly,omitempty" json:"hourly,omitempty"`
	Daily    int            `yaml:"daily,omitempty" json:"daily,omitempty"`
	Weekly   int            `yaml:"weekly,omitempty" json:"weekly,omitempty"`
	Monthly  int            `yaml:"monthly,omitempty" json:"monthly,omitempty"`
	Yearly   int            `yaml:"yearly,omitempty" json:"yearly,omitempty"`
	Within   units.Duration `yaml:"within,omitempty" json:"within,omitempty"`
	KeepTags []string       `yaml:"keep_tags,omitempty" json:"keep_tags,omitempty"`
}

// Policy is the retention as the repository's forget applies it.
func (r Retention) Policy() retention.Policy {
	return retention.Policy{Last: r.Last, Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly,
		Yearly: r.Yearly, Within: r.Within.D(), KeepTags: r.KeepTags}
}

// Verify is a scheduled restore drill and what it checks.
type Verify struct {
	Schedule Schedule `yaml:"schedule" json:"schedule"`
	Checks   []Check  `yaml:"checks,omitempty" json:"checks,omitempty"`
}

// Check validates a restored asset; exactly one field is set.
type Check struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// File must exist in the restored tree; SHA256, when set, must match its content.
	File   string `yaml:"file,omitempty" json:"file,omitempty"`
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// RowCount requires a table of the restored database to hold at least MinRows rows.
	RowCount *RowCountCheck `yaml:"row_count,omitempty" json:"row_count,omitempty"`
	// SQL runs a query on the restored database; its single value must equal Expect when set.
	SQL *SQLCheck `yaml:"sql,omitempty" json:"sql,omitempty"`
}

// RowCountCheck is a minimum row count.
type RowCountCheck struct {
	Table   string `yaml:"table" json:"table"`
	MinRows int64  `yaml:"min_rows" json:"min_rows"`
}

// SQLCheck is a query with an expected value.
type SQLCheck struct {
	Query  string `yaml:"query" json:"query"`
	Expect string `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// SecretRefs returns the worker secrets the asset names, by field.
func (a Asset) SecretRefs() map[string]string {
	refs := map[string]string{}
	add := func(field, name string) {
		if name != "" {
			refs[field] = name
		}
	}
	if p := a.Source.Postgres; p != nil {
		add("source.postgres.dsn_secret", p.DSNSecret)
	}
	if g := a.Source.Git; g != nil {
		add("source.git.credentials_secret", g.CredentialsSecret)
	}
	if c := a.Source.CIConfig; c != nil {
		add("source.ci_config.credentials_secret", c.CredentialsSecret)
	}
	for field, r := range map[string]*Repository{"repository": a.Repository, "offsite": a.Offsite} {
		if r != nil {
			add(field+".password_secret", r.PasswordSecret)
			add(field+".key_file_secret", r.KeyFileSecret)
		}
	}
	return refs
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate returns every problem with the assets, each prefixed with its asset's path
// ("assets[2] (orders-db).rpo: …"), joined, or nil.
func Validate(assets []Asset) error {
	var errs []error
	seen := map[string]int{}
	for i, a := range assets {
		path := fmt.Sprintf("assets[%d]", i)
		if a.Name != "" {
			path += " (" + a.Name + ")"
		}
		if j, dup := seen[a.Name]; dup && a.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: also the name of assets[%d]", path, j))
		}
		seen[a.Name] = i
		if err := a.Validate(path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate returns every problem with the asset, prefixed with path.
func (a Asset) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if !namePattern.MatchString(a.Name) {
		bad("name", "%q: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", a.Name)
	}
	switch a.Source.kinds() {
	case 0:
		bad("source", "required: one of paths, postgres, command, rds, ebs, git, ci_config")
	case 1:
	default:
		bad("source", "set exactly one of paths, postgres, command, rds, ebs, git, ci_config")
	}
	s := a.Source
	cloud := s.RDS != nil || s.EBS != nil
	if p := s.Paths; p != nil {
		if len(p.Include) == 0 {
			bad("source.paths.include", "at least one path")
		}
		for _, inc := range p.Include {
			if !strings.HasPrefix(inc, "/") {
				bad("source.paths.include", "%q is not an absolute path", inc)
			}
		}
	}
	if p := s.Postgres; p != nil && p.DSNSecret == "" {
		bad("source.postgres.dsn_secret", "required: name the worker secret holding the DSN")
	}
	if c := s.Command; c != nil {
		if len(c.Argv) == 0 {
			bad("source.command.argv", "required")
		}
		if c.Name == "" || strings.ContainsAny(c.Name, "/\x00") || c.Name == "." || c.Name == ".." {
			bad("source.command.name", "%q is not a plain file name", c.Name)
		}
	}
	if r := s.RDS; r != nil {
		if r.Instance == "" {
			bad("source.rds.instance", "required")
		}
		if r.Region == "" {
			bad("source.rds.region", "required")
		}
		if r.CopyToRegion != "" && r.CopyToRegion == r.Region {
			bad("source.rds.copy_to_region", "is the source region")
		}
	}
	if e := s.EBS; e != nil {
		if !strings.HasPrefix(e.VolumeID, "vol-") {
			bad("source.ebs.volume_id", "%q is not an EBS volume id (vol-…)", e.VolumeID)
		}
		if e.Region == "" {
			bad("source.ebs.region", "required")
		}
		if e.CopyToRegion != "" && e.CopyToRegion == e.Region {
			bad("source.ebs.copy_to_region", "is the source region")
		}
	}
	if g := s.Git; g != nil {
		for _, p := range validateGitURL(g.URL, g.CredentialsSecret) {
			bad("source.git."+p.field, "%s", p.msg)
		}
	}
	if c := s.CIConfig; c != nil {
		for _, p := range validateGitURL(c.URL, c.CredentialsSecret) {
			bad("source.ci_config."+p.field, "%s", p.msg)
		}
		for i, p := range c.Paths {
			if !gitsource.ValidPattern(p) {
				bad(fmt.Sprintf("source.ci_config.paths[%d]", i), "%q is not a pattern of a path relative to the repository's root", p)
			}
		}
		for i, b := range c.Branches {
			if !validBranch(b) {
				bad(fmt.Sprintf("source.ci_config.branches[%d]", i), "%q is not a branch name or pattern (main, release/*)", b)
			}
		}
	}
	validateRepo := func(field string, r *Repository) {
		if r == nil {
			return
		}
		if r.Location == "" {
			bad(field+".location", "required")
		}
		if (r.PasswordSecret == "") == (r.KeyFileSecret == "") {
			bad(field, "set one of password_secret and key_file_secret")
		}
	}
	switch {
	case a.Repository == nil && !cloud:
		bad("repository", "required for a %s source", s.Kind())
	case a.Repository != nil && cloud:
		bad("repository", "an %s source is protected by cloud snapshots, not a repository", s.Kind())
	}
	validateRepo("repository", a.Repository)
	validateRepo("offsite", a.Offsite)
	if a.Offsite != nil && a.Repository != nil && a.Offsite.Location == a.Repository.Location {
		bad("offsite.location", "is the same repository")
	}
	interval := validateSchedule(a.Schedule, path+".schedule", &errs)
	if a.RPO == 0 {
		bad("rpo", "required: how old the last good backup may be before the watchdog alerts")
	} else if interval > 0 && a.RPO.D() < interval {
		bad("rpo", "%s is shorter than the schedule's longest gap (%s): it could never be met", a.RPO, interval)
	}
	if err := a.Retention.Policy().Validate(); err != nil {
		bad("retention", "%v", err)
	}
	if v := a.Verify; v != nil && cloud {
		bad("verify", "restore drills of %s snapshots are not supported: drill the database itself as a postgres asset", s.Kind())
	}
	if v := a.Verify; v != nil {
		validateSchedule(v.Schedule, path+".verify.schedule", &errs)
		for i, c := range v.Checks {
			field := fmt.Sprintf("verify.checks[%d]", i)
			n := 0
			for _, set := range []bool{c.File != "", c.RowCount != nil, c.SQL != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(field, "set exactly one of file, row_count, sql")
			}
			if c.SHA256 != "" && (c.File == "" || !sha256Pattern.MatchString(c.SHA256)) {
				bad(field+".sha256", "needs file, and 64 lower-case hex digits")
			}
			if (c.RowCount != nil || c.SQL != nil) && s.Postgres == nil {
				bad(field, "database checks need a postgres source")
			}
			if c.File != "" && s.Postgres != nil {
				bad(field+".file", "a postgres asset is restored into a database: use row_count or sql checks")
			}
			if c.RowCount != nil && (c.RowCount.Table == "" || c.RowCount.MinRows < 0) {
				bad(field+".row_count", "needs a table and a non-negative min_rows")
			}
			if c.SQL != nil && strings.TrimSpace(c.SQL.Query) == "" {
				bad(field+".sql.query", "required")
			}
		}
	}
	return errors.Join(errs...)
}

// Validate returns the schedule's problems, naming it path, or nil.
func (s Schedule) Validate(path string) error {
	var errs []error
	validateSchedule(s, path, &errs)
	return errors.Join(errs...)
}

// validateSchedule checks a schedule and returns its longest gap.
func validateSchedule(s Schedule, path string, errs *[]error) time.Duration {
	switch {
	case s.Cron == "" && s.Every == 0:
		*errs = append(*errs, fmt.Errorf("%s: set cron or every", path))
	case s.Cron != "" && s.Every != 0:
		*errs = append(*errs, fmt.Errorf("%s: set cron or every, not both", path))
	case s.Every != 0 && s.Every.D() < time.Minute:
		*errs = append(*errs, fmt.Errorf("%s.every: %s is shorter than a minute", path, s.Every))
	case s.Cron != "":
		if _, err := cronParser.Parse(s.Cron); err != nil {
			*errs = append(*errs, fmt.Errorf("%s.cron: %q: %v", path, s.Cron, err))
			return 0
		}
	}
	return s.Interval()
}

type problem struct{ field, msg string }

// validateGitURL checks a git source's URL and whether it can take credentials.
func validateGitURL(raw, secret string) []problem {
	var out []problem
	bad := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	lower := strings.ToLower(raw)
	network := true
	switch {
	case raw == "":
		bad("url", "required: git://, http(s)://, ssh://, user@host:path or an absolute path")
		return out
	case strings.HasPrefix(raw, "-"):
		bad("url", "%q starts with '-'", raw)
		return out
	case strings.ContainsAny(raw, "\x00\n\r"):
		bad("url", "contains a control character")
		return out
	case strings.Contains(raw, "::"):
		bad("url", "%q uses a transport helper (<transport>::<address>): use git://, http(s)://, ssh:// or a path", raw)
		return out
	case strings.HasPrefix(raw, "/"):
		network = false
	case strings.Contains(lower, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			bad("url", "%q does not parse: %v", redactURL(raw), errors.Unwrap(err))
			return out
		}
		switch u.Scheme {
		case "git", "http", "https", "ssh", "git+ssh", "ssh+git":
			if u.Hostname() == "" {
				bad("url", "%q has no host", redactURL(raw))
			}
		case "file":
			network = false
			if u.Host != "" && u.Host != "localhost" {
				bad("url", "%q: a file URL names no other host", raw)
			}
		default:
			bad("url", "%q: scheme %q is not one of git, http, https, ssh, file", redactURL(raw), u.Scheme)
			return out
		}
		if _, set := u.User.Password(); set {
			bad("url", "%q carries a password: put the credentials in a worker secret and name it in credentials_secret", redactURL(raw))
		}
		if u.User != nil && (u.Scheme == "http" || u.Scheme == "https") {
			bad("url", "%q carries a user name: put \"user:password\" in the secret named by credentials_secret", redactURL(raw))
		}
	case gitsource.IsSSH(raw): // user@host:path
	default:
		bad("url", "%q is neither a URL (git://, http(s)://, ssh://, file://), user@host:path, nor an absolute path", raw)
		return out
	}
	if secret != "" && (!network || strings.HasPrefix(lower, "git://")) {
		bad("credentials_secret", "a %s URL takes no credentials", map[bool]string{true: "git://", false: "local"}[network])
	}
	return out
}

// redactURL hides the user information of a URL.
func redactURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			return raw[:i+3] + "[redacted]@" + rest[at+1:]
		}
	}
	return raw
}

// validBranch reports whether b is a branch name or path.Match pattern of one (not a full ref).
func validBranch(b string) bool {
	_, err := path.Match(b, "")
	return err == nil && b != "" && !strings.HasPrefix(b, "refs/") && !strings.HasPrefix(b, "-")
}

package location

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/gcs"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/s3"
)

// Forms lists the accepted location forms, for help texts and error messages.
const Forms = "a path, file:///path, local:path, " +
	"s3://bucket/prefix?endpoint=&region=&path_style=&sse=&sse_kms_key_id=&object_lock_mode=&object_lock_days=, " +
	"gs://bucket/prefix?endpoint=&credentials_file=&anonymous="

// Parameters each URL scheme accepts.
var (
	s3Params  = []string{"endpoint", "region", "path_style", "sse", "sse_kms_key_id", "object_lock_mode", "object_lock_days"}
	gcsParams = []string{"endpoint", "credentials_file", "anonymous"}
)

// Open returns the backend a repository location names:
//
//   - a plain path, file:///path or local:path (the way to say a path that looks like a URL) —
//     local disk;
//   - s3://bucket/prefix — Amazon S3 or, with ?endpoint=, an S3-compatible server. Query
//     parameters: endpoint, region, path_style (bool), sse ("AES256" or "aws:kms"),
//     sse_kms_key_id, object_lock_mode ("GOVERNANCE" or "COMPLIANCE"), object_lock_days.
//     Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in
//     env, else from the default AWS chain; the region from the URL, else AWS_REGION, else
//     AWS_DEFAULT_REGION, else the AWS configuration or us-east-1;
//   - gs://bucket/prefix — Google Cloud Storage. Query parameters: endpoint, credentials_file,
//     anonymous (bool). Without credentials_file, Application Default Credentials are used.
//
// Unknown schemes and parameters are errors that list what is accepted. Open does not contact
// the server; env looks up environment variables (os.LookupEnv in production).
func Open(ctx context.Context, location string, env func(string) (string, bool)) (storage.Backend, error) {
	t, err := parse(location, env)
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case kindS3:
		return s3.New(ctx, t.s3)
	case kindGCS:
		return gcs.New(ctx, t.gcs)
	default:
		return local.New(t.path)
	}
}

type kind int

const (
	kindLocal kind = iota
	kindS3
	kindGCS
)

// target is a parsed location: which backend, and its configuration.
type target struct {
	kind kind
	path string
	s3   s3.Config
	gcs  gcs.Config
}

// schemeRE matches a URL scheme of two or more characters; "C:" is a Windows drive, not a scheme.
var schemeRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]+):`)

func parse(location string, env func(string) (string, bool)) (target, error) {
	if location == "" {
		return target{}, fmt.Errorf("location: empty; accepted: %s", Forms)
	}
	m := schemeRE.FindStringSubmatch(location)
	if m == nil {
		return target{kind: kindLocal, path: location}, nil
	}
	scheme := strings.ToLower(m[1])
	rest := location[len(m[0]):]
	switch scheme {
	case "local":
		if rest == "" {
			return target{}, errors.New("location: local: needs a path, as in local:/srv/backups")
		}
		return target{kind: kindLocal, path: rest}, nil
	case "file", "s3", "gs":
		if !strings.HasPrefix(rest, "//") {
			return target{}, fmt.Errorf("location %s:%s…: write %s://…; accepted: %s", scheme, firstElem(rest), scheme, Forms)
		}
	default:
		return target{}, fmt.Errorf("location: unknown scheme %q (write local:… for a local path that looks like a URL); accepted: %s",
			scheme, Forms)
	}

	u, err := url.Parse(location)
	if err != nil {
		// url.Error quotes the whole input, which may hold secrets in its query.
		return target{}, fmt.Errorf("location %s://: not a valid URL", scheme)
	}
	where := scheme + "://" + u.Host + u.Path // for messages: never the query or user info
	if u.User != nil {
		return target{}, fmt.Errorf("location %s: credentials in the URL are not accepted; use the environment", where)
	}
	if u.Fragment != "" {
		return target{}, fmt.Errorf("location %s: unexpected #fragment", where)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return target{}, fmt.Errorf("location %s: query: %w", where, err)
	}

	switch scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return target{}, fmt.Errorf("location %s: file URLs name local paths (file:///path), not host %q", where, u.Host)
		}
		if u.RawQuery != "" {
			return target{}, fmt.Errorf("location %s: file URLs take no parameters (for a path with \"?\", write local:path)", where)
		}
		if u.Path == "" {
			return target{}, fmt.Errorf("location %s: needs a path, as in file:///srv/backups", where)
		}
		return target{kind: kindLocal, path: u.Path}, nil
	case "s3":
		cfg, err := parseS3(u, query, env)
		if err != nil {
			return target{}, fmt.Errorf("location %s: %w", where, err)
		}
		return target{kind: kindS3, s3: cfg}, nil
	default:
		cfg, err := parseGCS(u, query)
		if err != nil {
			return target{}, fmt.Errorf("location %s: %w", where, err)
		}
		return target{kind: kindGCS, gcs: cfg}, nil
	}
}

func parseS3(u *url.URL, query url.Values, env func(string) (string, bool)) (s3.Config, error) {
	q := params{values: query, accepted: s3Params}
	cfg := s3.Config{
		Bucket:      bucket(u, &q),
		Prefix:      strings.Trim(u.Path, "/"),
		Endpoint:    q.get("endpoint"),
		Region:      q.get("region"),
		PathStyle:   q.bool("path_style"),
		SSE:         q.get("sse"),
		SSEKMSKeyID: q.get("sse_kms_key_id"),
	}
	if strings.EqualFold(cfg.SSE, s3.SSES3) {
		cfg.SSE = s3.SSES3
	}
	cfg.ObjectLockMode = strings.ToUpper(q.get("object_lock_mode"))
	if days := q.get("object_lock_days"); days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			q.fail(fmt.Errorf("object_lock_days %q is not a positive whole number", days))
		} else {
			cfg.ObjectLockRetention = time.Duration(n) * 24 * time.Hour
		}
	}
	if cfg.Region == "" {
		cfg.Region = firstEnv(env, "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	id, _ := env("AWS_ACCESS_KEY_ID")
	secret, _ := env("AWS_SECRET_ACCESS_KEY")
	token, _ := env("AWS_SESSION_TOKEN")
	switch {
	case id != "" && secret != "":
		cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken = id, secret, token
	case id != "" || secret != "":
		q.fail(errors.New("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither for the default credential chain"))
	}
	if err := errors.Join(q.err(), cfg.Validate()); err != nil {
		return s3.Config{}, err
	}
	return cfg, nil
}

func parseGCS(u *url.URL, query url.Values) (gcs.Config, error) {
	q := params{values: query, accepted: gcsParams}
	cfg := gcs.Config{
		Bucket:                bucket(u, &q),
		Prefix:                strings.Trim(u.Path, "/"),
		Endpoint:              q.get("endpoint"),
		CredentialsFile:       q.get("credentials_file"),
		WithoutAuthentication: q.bool("anonymous"),
	}
	if err := errors.Join(q.err(), cfg.Validate()); err != nil {
		return gcs.Config{}, err
	}
	return cfg, nil
}

// bucket returns the URL's host as a bucket name, noting a port as a problem.
func bucket(u *url.URL, q *params) string {
	if u.Port() != "" {
		q.fail(fmt.Errorf("%q is a host and port, not a bucket; give the server as ?endpoint=", u.Host))
	}
	return u.Hostname()
}

// params reads query parameters, collecting every problem: unknown or repeated parameters and
// unreadable values.
type params struct {
	values   url.Values
	accepted []string
	problems []error
}

func (p *params) get(name string) string {
	v := p.values[name]
	if len(v) > 1 {
		p.fail(fmt.Errorf("parameter %s given %d times", name, len(v)))
	}
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (p *params) bool(name string) bool {
	s := p.get(name)
	if s == "" {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(fmt.Errorf("parameter %s=%q is not true or false", name, s))
	}
	return v
}

func (p *params) fail(err error) { p.problems = append(p.problems, err) }

// err returns every problem, unknown parameters first.
func (p *params) err() error {
	var unknown []string
	for name := range p.values {
		if !slices.Contains(p.accepted, name) {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	slices.Sort(unknown)
	errs := p.problems
	if len(unknown) > 0 {
		noun := "parameter"
		if len(unknown) > 1 {
			noun = "parameters"
		}
		errs = append([]error{fmt.Errorf("unknown %s %s; accepted: %s",
			noun, strings.Join(unknown, ", "), strings.Join(p.accepted, ", "))}, errs...)
	}
	return errors.Join(errs...)
}

func firstEnv(env func(string) (string, bool), names ...string) string {
	for _, name := range names {
		if v, ok := env(name); ok && v != "" {
			return v
		}
	}
	return ""
}

// firstElem returns s up to its first "/" or "?", for messages that must not echo a query.
func firstElem(s string) string {
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		return s[:i]
	}
	return s
}

// Check reports what is wrong with the form of a location — its scheme, URL and parameters — as
// Open would, without opening it, creating a folder or looking at credentials. Configuration
// validation uses it.
func Check(location string) error {
	_, err := parse(location, func(string) (string, bool) { return "", false })
	return err
}

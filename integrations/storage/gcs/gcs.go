package gcs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	gstorage "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// DefaultChunkSize is the upload chunk size when Config.ChunkSize is zero: the client's own
// default.
const DefaultChunkSize = 16 << 20

// chunkAlign is the granularity GCS resumable uploads require of chunks.
const chunkAlign = 256 << 10

// Config says where the repository lives and how to reach it.
type Config struct {
	// Bucket is the bucket's name. It must exist; New does not create it.
	Bucket string
	// Prefix is prepended to every object name. Leading and trailing slashes are ignored.
	Prefix string
	// Endpoint is the base URL of the JSON API, for emulators such as fake-gcs-server:
	// "http://127.0.0.1:4443/storage/v1/". A URL without a path gets "/storage/v1/" appended.
	// Empty: Google.
	Endpoint string
	// CredentialsFile is a service account, authorized user, impersonated service account or
	// external account (workload identity federation) JSON file. Empty: Application Default
	// Credentials.
	CredentialsFile string
	// WithoutAuthentication sends requests without credentials: public buckets and emulators.
	WithoutAuthentication bool
	// ChunkSize is the size of resumable upload chunks; each Put holds one chunk (or the whole
	// object, when smaller) in memory so that it can resend it. Zero means DefaultChunkSize; it is
	// rounded up to a multiple of 256 KiB.
	ChunkSize int
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q is not an http:// or https:// URL", c.Endpoint))
		}
	}
	if c.CredentialsFile != "" && c.WithoutAuthentication {
		errs = append(errs, errors.New("a credentials file and no authentication exclude each other"))
	}
	if c.ChunkSize < 0 {
		errs = append(errs, fmt.Errorf("chunk size %d is negative", c.ChunkSize))
	}
	return errors.Join(errs...)
}

// Backend stores objects in a Google Cloud Storage bucket. It is safe for concurrent use.
type Backend struct {
	client    *gstorage.Client
	bucket    *gstorage.BucketHandle
	name      string
	prefix    string // "" or ending in "/"
	chunkSize int
	// bucketSeen is set once the bucket is known to exist (see notFound).
	bucketSeen atomic.Bool
}

var _ storage.Backend = (*Backend)(nil)

// New checks cfg and builds a client for it. It does not contact the server: a missing bucket
// shows on the first request. Close the backend to release the client.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gcs: bucket %q: %w", cfg.Bucket, err)
	}
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(jsonEndpoint(cfg.Endpoint)))
	}
	switch {
	case cfg.WithoutAuthentication:
		opts = append(opts, option.WithoutAuthentication())
	case cfg.CredentialsFile != "":
		kind, err := credentialsType(cfg.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("gcs: bucket %q: credentials file %q: %w", cfg.Bucket, cfg.CredentialsFile, err)
		}
		opts = append(opts, option.WithAuthCredentialsFile(kind, cfg.CredentialsFile))
	}
	client, err := gstorage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: bucket %q: create client: %w", cfg.Bucket, err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	chunk := cfg.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	return &Backend{
		client:    client,
		bucket:    client.Bucket(cfg.Bucket),
		name:      cfg.Bucket,
		prefix:    prefix,
		chunkSize: roundUp(chunk),
	}, nil
}

// Close releases the client. The backend must not be used afterwards.
func (b *Backend) Close() error {
	if err := b.client.Close(); err != nil {
		return fmt.Errorf("gcs: close client for bucket %q: %w", b.name, err)
	}
	return nil
}

// Location returns "gs:bucket" or "gs:bucket/prefix".
func (b *Backend) Location() string {
	if b.prefix == "" {
		return "gs:" + b.name
	}
	return "gs:" + b.name + "/" + strings.TrimSuffix(b.prefix, "/")
}

// Put streams r through a storage Writer. GCS commits an object only when the upload finishes, so
// on a reader error, a wrong size or a cancelled ctx Put cancels the writer's context and nothing
// is stored; an earlier object of that name stays. Chunks are retried, including for overwrites
// (objects are written whole, so resending is safe).
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.put(ctx, name, r, size, false); err != nil {
		return fmt.Errorf("gcs: put %q: %w", name, err)
	}
	return nil
}

// Create is Put with a DoesNotExist precondition (ifGenerationMatch=0): GCS commits the upload
// only if no live object of that name exists when it finishes, deciding atomically, and answers
// 412 otherwise, which Create returns as an error wrapping storage.ErrExists. A request the client
// resent after a lost response can also meet the object it created itself and report ErrExists;
// callers that need to tell compare the stored bytes.
func (b *Backend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.put(ctx, name, r, size, true); err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed {
			return fmt.Errorf("gcs: create %q: %w: %w", name, storage.ErrExists, err)
		}
		return fmt.Errorf("gcs: create %q: %w", name, err)
	}
	return nil
}

// put uploads the object, only if none of that name exists when ifNone is set.
func (b *Backend) put(ctx context.Context, name string, r io.Reader, size int64, ifNone bool) error {
	if name == "" {
		return errors.New("empty object name")
	}
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obj := b.bucket.Object(b.prefix + name)
	if ifNone {
		obj = obj.If(gstorage.Conditions{DoesNotExist: true})
	}
	obj = obj.Retryer(gstorage.WithPolicy(gstorage.RetryAlways))
	w := obj.NewWriter(wctx)
	// A chunk just larger than a small object keeps memory to the object's size and still lets
	// the single request be retried.
	w.ChunkSize = b.chunkSize
	if size < int64(b.chunkSize) {
		w.ChunkSize = roundUp(int(size) + 1)
	}
	w.ContentType = "application/octet-stream"
	fail := func(err error) error {
		cancel()
		w.Close() // reports the cancellation; nothing was committed
		return err
	}
	n, err := io.Copy(w, io.LimitReader(r, size))
	if err != nil {
		return fail(fmt.Errorf("after %d of %d bytes: %w", n, size, err))
	}
	if n != size {
		return fail(fmt.Errorf("reader ended after %d of %d bytes", n, size))
	}
	if err := storage.ExpectEOF(r); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	b.bucketSeen.Store(true)
	return nil
}

// Get opens a range reader (length < 0 reads to the end). A range starting at or past the end
// yields no bytes. A missing object wraps storage.ErrNotFound; a missing bucket does not (see
// notFound).
func (b *Backend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("gcs: get %q: negative offset %d", name, offset)
	}
	if length < 0 {
		length = -1
	}
	r, err := b.bucket.Object(b.prefix+name).NewRangeReader(ctx, offset, length)
	if err != nil {
		switch {
		case errors.Is(err, gstorage.ErrObjectNotExist):
			return nil, b.notFound(ctx, "get", name)
		case httpStatus(err) == http.StatusRequestedRangeNotSatisfiable:
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fmt.Errorf("gcs: get %q: %w", name, err)
	}
	b.bucketSeen.Store(true)
	return r, nil
}

// Stat reads the object's attributes. A missing object wraps storage.ErrNotFound; a missing bucket
// does not (see notFound).
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	attrs, err := b.bucket.Object(b.prefix + name).Attrs(ctx)
	if err != nil {
		if errors.Is(err, gstorage.ErrObjectNotExist) {
			return storage.Info{}, b.notFound(ctx, "stat", name)
		}
		return storage.Info{}, fmt.Errorf("gcs: stat %q: %w", name, err)
	}
	b.bucketSeen.Store(true)
	return storage.Info{Name: name, Size: attrs.Size}, nil
}

// List iterates the objects under Prefix+prefix, asking only for names and sizes, and reports
// names relative to Prefix. Names ending in "/" (folder placeholders) are skipped.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	q := &gstorage.Query{Prefix: b.prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size"}); err != nil {
		return fmt.Errorf("gcs: list %q: %w", prefix, err)
	}
	it := b.bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gcs: list %q: %w", prefix, err)
		}
		name, ok := strings.CutPrefix(attrs.Name, b.prefix)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue
		}
		if err := fn(storage.Info{Name: name, Size: attrs.Size}); err != nil {
			return err
		}
	}
}

// Delete deletes the object, retrying on transient errors; a missing object is not an error. In
// a bucket with a retention policy or an object hold, GCS refuses and Delete returns that error.
func (b *Backend) Delete(ctx context.Context, name string) error {
	err := b.bucket.Object(b.prefix + name).Retryer(gstorage.WithPolicy(gstorage.RetryAlways)).Delete(ctx)
	if err != nil && !errors.Is(err, gstorage.ErrObjectNotExist) {
		return fmt.Errorf("gcs: delete %q: %w", name, err)
	}
	return nil
}

// notFound returns the error for a missing object. GCS answers a read of an object in a missing
// bucket just as one of a missing object, and a repository that took a missing bucket for a
// missing object would think itself empty. So until the bucket is known to exist, notFound lists
// one object to find out (objects.list, which a repository needs anyway, unlike buckets.get),
// and returns the bucket's error instead when it is missing.
func (b *Backend) notFound(ctx context.Context, op, name string) error {
	if !b.bucketSeen.Load() {
		it := b.bucket.Objects(ctx, &gstorage.Query{Prefix: b.prefix})
		it.PageInfo().MaxSize = 1
		if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
			return fmt.Errorf("gcs: %s %q: %w", op, name, err)
		}
		b.bucketSeen.Store(true)
	}
	return fmt.Errorf("gcs: %s %q: %w", op, name, storage.ErrNotFound)
}

// jsonEndpoint appends the JSON API's path to an endpoint given as scheme://host[:port].
func jsonEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/storage/v1/"
	return u.String()
}

// credentialsType reads the "type" field of a credentials file, so that the file is loaded as
// what it says it is and only as one of the kinds Config documents.
func credentialsType(path string) (option.CredentialsType, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	switch kind := option.CredentialsType(f.Type); kind {
	case option.ServiceAccount, option.AuthorizedUser, option.ImpersonatedServiceAccount, option.ExternalAccount:
		return kind, nil
	default:
		return "", fmt.Errorf("type %q is not service_account, authorized_user, impersonated_service_account or external_account", f.Type)
	}
}

// roundUp rounds n up to a positive multiple of chunkAlign.
func roundUp(n int) int {
	if n <= 0 {
		return chunkAlign
	}
	return (n + chunkAlign - 1) / chunkAlign * chunkAlign
}

func httpStatus(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

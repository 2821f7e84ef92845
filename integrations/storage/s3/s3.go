package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

const (
	// DefaultPartSize is the multipart part size when Config.PartSize is zero.
	DefaultPartSize = 16 << 20
	// MinPartSize and MaxPartSize are the limits S3 puts on every part but the last.
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	// DefaultMaxAttempts is the number of attempts per request when Config.MaxAttempts is zero.
	DefaultMaxAttempts = 10
	// DefaultRegion is used when neither Config.Region nor the AWS configuration names one; it is
	// what MinIO and most S3-compatible servers expect.
	DefaultRegion = "us-east-1"
)

// Server-side encryption settings for Config.SSE.
const (
	SSENone = ""
	SSES3   = "AES256"  // keys managed by S3 (SSE-S3)
	SSEKMS  = "aws:kms" // keys in AWS KMS (SSE-KMS), Config.SSEKMSKeyID or the account's default key
)

// Object Lock modes for Config.ObjectLockMode.
const (
	LockNone       = ""
	LockGovernance = "GOVERNANCE" // users with s3:BypassGovernanceRetention can still delete
	LockCompliance = "COMPLIANCE" // nobody can delete until the retention ends, not even root
)

// Config says where the repository lives and how to write to it.
type Config struct {
	// Bucket is the bucket's name. It must exist; New does not create it.
	Bucket string
	// Prefix is prepended to every object name ("repos/payments" stores "data/ab/…" as
	// "repos/payments/data/ab/…"). Leading and trailing slashes are ignored.
	Prefix string
	// Region is the bucket's region. Empty: the AWS configuration's (AWS_REGION, profile), else
	// DefaultRegion.
	Region string
	// Endpoint is the base URL of an S3-compatible server ("http://127.0.0.1:9000" for MinIO).
	// Empty: AWS.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket rather than bucket.endpoint; most
	// S3-compatible servers need it.
	PathStyle bool

	// AccessKeyID, SecretAccessKey and SessionToken are static credentials. When AccessKeyID is
	// empty the default AWS credential chain is used (environment, shared files, SSO, web
	// identity, ECS and EC2 roles).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// SSE asks for server-side encryption of every object: SSENone, SSES3 or SSEKMS.
	SSE string
	// SSEKMSKeyID is the KMS key for SSEKMS; empty uses the account's default key.
	SSEKMSKeyID string

	// ObjectLockMode, with ObjectLockRetention, puts every object under Object Lock retention
	// until ObjectLockRetention after its Put. The bucket must have Object Lock enabled (and so
	// versioning). With a mode set, Delete removes every version of the object, and fails while
	// any is still retained.
	ObjectLockMode      string
	ObjectLockRetention time.Duration

	// PartSize is the size of multipart upload parts, and the largest object Put sends in a single
	// request. Zero means DefaultPartSize. A Put holds one part in memory.
	PartSize int64
	// MaxAttempts is the number of attempts per request, with exponential backoff and jitter
	// between them. Zero means DefaultMaxAttempts.
	MaxAttempts int
	// HTTPClient replaces the SDK's HTTP client, for custom TLS or proxies. Optional.
	HTTPClient *http.Client
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
	if c.AccessKeyID != "" && c.SecretAccessKey == "" {
		errs = append(errs, errors.New("access key ID given without a secret access key"))
	}
	if c.AccessKeyID == "" && (c.SecretAccessKey != "" || c.SessionToken != "") {
		errs = append(errs, errors.New("secret access key or session token given without an access key ID"))
	}
	switch c.SSE {
	case SSENone, SSES3:
		if c.SSEKMSKeyID != "" {
			errs = append(errs, fmt.Errorf("a KMS key ID needs SSE %q", SSEKMS))
		}
	case SSEKMS:
	default:
		errs = append(errs, fmt.Errorf("SSE %q is not one of %q, %q or empty", c.SSE, SSES3, SSEKMS))
	}
	switch c.ObjectLockMode {
	case LockNone:
		if c.ObjectLockRetention != 0 {
			errs = append(errs, errors.New("object lock retention given without a mode"))
		}
	case LockGovernance, LockCompliance:
		if c.ObjectLockRetention <= 0 {
			errs = append(errs, fmt.Errorf("object lock mode %s needs a positive retention", c.ObjectLockMode))
		}
	default:
		errs = append(errs, fmt.Errorf("object lock mode %q is not one of %s, %s or empty",
			c.ObjectLockMode, LockGovernance, LockCompliance))
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		errs = append(errs, fmt.Errorf("part size %d is outside S3's limits [%d, %d]", c.PartSize, MinPartSize, MaxPartSize))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d is negative", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// api is the part of the S3 client the backend uses.
type api interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	s3.ListObjectsV2APIClient
	s3.ListObjectVersionsAPIClient
}

// Backend stores objects in an S3 bucket. It is safe for concurrent use.
type Backend struct {
	api      api
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64
	sse      string
	kmsKeyID string
	lockMode string
	lockFor  time.Duration
	parts    sync.Pool // *[]byte of partSize
	// bucketSeen is set once the bucket is known to exist (see notFound).
	bucketSeen atomic.Bool
}

var _ storage.Backend = (*Backend)(nil)

// New checks cfg and builds a client for it. It does not contact the server: a missing bucket or
// bad credentials show on the first request.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("s3: bucket %q: %w", cfg.Bucket, err)
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				// The default retry quota is shared by the whole client: a burst of failures
				// across concurrent uploads would exhaust it and turn the next transient error
				// into a failed backup. Backoff alone paces the retries.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %q: load AWS configuration: %w", cfg.Bucket, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		// Ranged reads and multipart objects carry no whole-object checksum to validate, and the
		// SDK would log that on every such Get. Objects are verified by the repository's own
		// content hashes instead.
		o.DisableLogOutputChecksumValidationSkipped = true
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return newBackend(client, cfg), nil
}

// newBackend wraps a client; cfg must be valid.
func newBackend(client api, cfg Config) *Backend {
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	b := &Backend{
		api:      client,
		bucket:   cfg.Bucket,
		prefix:   prefix,
		partSize: partSize,
		sse:      cfg.SSE,
		kmsKeyID: cfg.SSEKMSKeyID,
		lockMode: cfg.ObjectLockMode,
		lockFor:  cfg.ObjectLockRetention,
	}
	b.parts.New = func() any {
		buf := make([]byte, partSize)
		return &buf
	}
	return b
}

// Location returns "s3:bucket" or "s3:bucket/prefix".
func (b *Backend) Location() string {
	if b.prefix == "" {
		return "s3:" + b.bucket
	}
	return "s3:" + b.bucket + "/" + strings.TrimSuffix(b.prefix, "/")
}

// Put reads the object into memory and sends it with one PutObject when it is at most PartSize
// bytes, and as a multipart upload of PartSize parts otherwise, so that every request body can be
// resent whole when the SDK retries it. S3 makes an object visible only once its upload
// completes; a failed multipart upload is aborted. Every object gets the configured server-side
// encryption and Object Lock retention (until now + retention).
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.put(ctx, name, r, size, false); err != nil {
		return fmt.Errorf("s3: put %q: %w", name, err)
	}
	return nil
}

// Create is Put with the header "If-None-Match: *" on the PutObject, or on the
// CompleteMultipartUpload of a multipart upload, so that S3 stores the object only if the key does
// not exist, deciding atomically. S3's 412 PreconditionFailed and 409 ConditionalRequestConflict (a
// concurrent conditional write of the key) are returned as errors wrapping storage.ErrExists. A
// request the SDK resent after a lost response can also meet the object it created itself and
// report ErrExists; callers that need to tell compare the stored bytes.
func (b *Backend) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.put(ctx, name, r, size, true); err != nil {
		if isExists(err) {
			return fmt.Errorf("s3: create %q: %w: %w", name, storage.ErrExists, err)
		}
		return fmt.Errorf("s3: create %q: %w", name, err)
	}
	return nil
}

// put stores the object, only if its key does not exist when ifNone is set.
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
	if size > b.partSize {
		if err := b.putMultipart(ctx, b.key(name), r, size, ifNone); err != nil {
			return err
		}
		b.bucketSeen.Store(true)
		return nil
	}
	buf, release := b.buffer(size)
	defer release()
	if err := readFull(r, buf); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(b.key(name)),
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
	}
	if ifNone {
		in.IfNoneMatch = aws.String("*")
	}
	if b.sse != SSENone {
		in.ServerSideEncryption = types.ServerSideEncryption(b.sse)
		if b.kmsKeyID != "" {
			in.SSEKMSKeyId = aws.String(b.kmsKeyID)
		}
	}
	if b.lockMode != LockNone {
		in.ObjectLockMode = types.ObjectLockMode(b.lockMode)
		in.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(b.lockFor))
	}
	if _, err := b.api.PutObject(ctx, in); err != nil {
		return err
	}
	b.bucketSeen.Store(true)
	return nil
}

// putMultipart uploads size bytes of r under key in parts of partSize, aborting the upload on any
// failure so that no parts are left to be billed. With ifNone the upload completes only if the key
// does not exist by then.
func (b *Backend) putMultipart(ctx context.Context, key string, r io.Reader, size int64, ifNone bool) (err error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(b.bucket),
		Key:               aws.String(key),
		ContentType:       aws.String("application/octet-stream"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if b.sse != SSENone {
		in.ServerSideEncryption = types.ServerSideEncryption(b.sse)
		if b.kmsKeyID != "" {
			in.SSEKMSKeyId = aws.String(b.kmsKeyID)
		}
	}
	if b.lockMode != LockNone {
		in.ObjectLockMode = types.ObjectLockMode(b.lockMode)
		in.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(b.lockFor))
	}
	created, err := b.api.CreateMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is what failed.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, aerr := b.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(b.bucket),
			Key:      aws.String(key),
			UploadId: uploadID,
		}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart upload %s: %w", aws.ToString(uploadID), aerr))
		}
	}()

	bufp := b.parts.Get().(*[]byte)
	defer b.parts.Put(bufp)
	var parts []types.CompletedPart
	for num, done := int32(1), int64(0); done < size; num++ {
		part := (*bufp)[:min(b.partSize, size-done)]
		if _, err := io.ReadFull(r, part); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("reader ended before %d bytes", size)
			}
			return fmt.Errorf("read part %d: %w", num, err)
		}
		out, err := b.api.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(b.bucket),
			Key:               aws.String(key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(part),
			ContentLength:     aws.Int64(int64(len(part))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", num, err)
		}
		parts = append(parts, types.CompletedPart{
			PartNumber:    aws.Int32(num),
			ETag:          out.ETag,
			ChecksumCRC32: out.ChecksumCRC32,
		})
		done += int64(len(part))
	}
	if err := storage.ExpectEOF(r); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	complete := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.bucket),
		Key:             aws.String(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if ifNone {
		complete.IfNoneMatch = aws.String("*")
	}
	if _, err := b.api.CompleteMultipartUpload(ctx, complete); err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

// Get sends a GetObject with a "bytes=offset-end" Range header. A range starting at or past the
// end yields no bytes (S3 answers 416, which Get turns into an empty reader).
func (b *Backend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("s3: get %q: negative offset %d", name, offset)
	}
	if length == 0 {
		// "bytes=off-(off-1)" is no valid range; S3 would send the whole object.
		if _, err := b.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(b.key(name)),
	}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.api.GetObject(ctx, in)
	if err != nil {
		switch {
		case isNotFound(err):
			return nil, fmt.Errorf("s3: get %q: %w", name, storage.ErrNotFound)
		case isInvalidRange(err):
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fmt.Errorf("s3: get %q: %w", name, err)
	}
	return out.Body, nil
}

// Stat sends a HeadObject. A missing object wraps storage.ErrNotFound; a missing bucket does not
// (see notFound).
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	out, err := b.api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(b.key(name)),
	})
	if err != nil {
		if isNotFound(err) {
			return storage.Info{}, b.notFound(ctx, "stat", name)
		}
		return storage.Info{}, fmt.Errorf("s3: stat %q: %w", name, err)
	}
	b.bucketSeen.Store(true)
	return storage.Info{Name: name, Size: aws.ToInt64(out.ContentLength)}, nil
}

// List pages through ListObjectsV2 under Prefix+prefix and reports names relative to Prefix.
// Keys ending in "/" (folder markers made by consoles) are skipped.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	pages := s3.NewListObjectsV2Paginator(b.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3: list %q: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			name, ok := strings.CutPrefix(key, b.prefix)
			if !ok || name == "" || strings.HasSuffix(name, "/") {
				continue
			}
			if err := fn(storage.Info{Name: name, Size: aws.ToInt64(obj.Size)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete sends a DeleteObject; a missing object is not an error. With Object Lock configured the
// bucket is versioned, and a plain DeleteObject would only hide the object behind a delete marker
// and report success while the data stays; Delete then removes every version of the object
// instead, newest first, and returns S3's refusal while any version is still retained.
func (b *Backend) Delete(ctx context.Context, name string) error {
	key := b.key(name)
	if b.lockMode != LockNone {
		if err := b.deleteVersions(ctx, key); err != nil {
			return fmt.Errorf("s3: delete %q: %w", name, err)
		}
		return nil
	}
	if _, err := b.api.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(key),
	}); err != nil && !isNotFound(err) {
		return fmt.Errorf("s3: delete %q: %w", name, err)
	}
	return nil
}

// deleteVersions deletes every version and delete marker of key.
func (b *Backend) deleteVersions(ctx context.Context, key string) error {
	var versions, markers []*string
	pages := s3.NewListObjectVersionsPaginator(b.api, &s3.ListObjectVersionsInput{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(key),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions: %w", err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == key {
				versions = append(versions, v.VersionId)
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				markers = append(markers, m.VersionId)
			}
		}
	}
	for _, id := range append(versions, markers...) {
		if _, err := b.api.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket:    aws.String(b.bucket),
			Key:       aws.String(key),
			VersionId: id,
		}); err != nil && !isNotFound(err) {
			return fmt.Errorf("version %s: %w", aws.ToString(id), err)
		}
	}
	return nil
}

// notFound returns the error for a missing object. S3 answers a HEAD of an object in a missing
// bucket just as one of a missing object (404 without a body), and a repository that took a
// missing bucket for a missing object would think itself empty. So until the bucket is known to
// exist, notFound lists one key to find out (s3:ListBucket, which a repository needs anyway) and
// returns the bucket's error instead when it is missing.
func (b *Backend) notFound(ctx context.Context, op, name string) error {
	if !b.bucketSeen.Load() {
		if _, err := b.api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket:  aws.String(b.bucket),
			Prefix:  aws.String(b.prefix),
			MaxKeys: aws.Int32(1),
		}); err != nil {
			return fmt.Errorf("s3: %s %q: %w", op, name, err)
		}
		b.bucketSeen.Store(true)
	}
	return fmt.Errorf("s3: %s %q: %w", op, name, storage.ErrNotFound)
}

func (b *Backend) key(name string) string { return b.prefix + name }

// buffer returns a buffer of size bytes and a function to give it back. Buffers of at least a
// quarter part come from a pool of part-sized buffers, so that Puts of pack files do not allocate.
func (b *Backend) buffer(size int64) ([]byte, func()) {
	if size < b.partSize/4 {
		return make([]byte, size), func() {}
	}
	bufp := b.parts.Get().(*[]byte)
	return (*bufp)[:size], func() { b.parts.Put(bufp) }
}

// readFull fills buf from r and checks that r has nothing more.
func readFull(r io.Reader, buf []byte) error {
	n, err := io.ReadFull(r, buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("reader ended after %d of %d bytes", n, len(buf))
		}
		return fmt.Errorf("after %d of %d bytes: %w", n, len(buf), err)
	}
	return storage.ExpectEOF(r)
}

// isNotFound reports whether err says the object does not exist. A missing bucket is not a
// missing object, where S3 says which it is.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	return httpStatus(err) == http.StatusNotFound
}

// isExists reports whether err is S3's refusal of a conditional write because the key exists: 412
// PreconditionFailed, or 409 ConditionalRequestConflict while another conditional write of the key
// is under way.
func isExists(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return httpStatus(err) == http.StatusPreconditionFailed
}

// isInvalidRange reports whether err is S3's answer to a range that starts past the end.
func isInvalidRange(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" {
		return true
	}
	return httpStatus(err) == http.StatusRequestedRangeNotSatisfiable
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

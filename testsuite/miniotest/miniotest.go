package miniotest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// startTimeout bounds how long Start waits for the server to report itself live.
const startTimeout = 60 * time.Second

// Server is a running MinIO server with a root user made up for the test.
type Server struct {
	Endpoint  string // "http://127.0.0.1:port", the S3 API
	AccessKey string
	SecretKey string
	Region    string // "us-east-1"
}

// Start runs bin/minio with a fresh data directory and generated root credentials, waits until
// /minio/health/live answers 200 and stops the server when the test ends. It fails the test
// when the binary is missing or the server does not come up within a minute.
func Start(t testing.TB) *Server {
	repo.Integration(t, "MinIO")
	t.Helper()
	bin := repo.Bin(t, "minio")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "lifeboat-" + rand.Text()[:8],
		SecretKey: rand.Text(),
		Region:    "us-east-1",
	}
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t)),
		"--certs-dir", filepath.Join(dir, "certs"),
		"--quiet",
	)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+s.Region,
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	)
	proc := repo.StartProcess(t, "minio", cmd, syscall.SIGTERM)
	if err := s.waitLive(proc); err != nil {
		t.Fatalf("minio on %s: %v\n--- minio output (tail) ---\n%s", addr, err, proc.Tail())
	}
	return s
}

// Client returns an S3 client for the server: static root credentials, path-style addressing.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates an empty bucket, failing the test on error.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("minio: create bucket %q: %v", name, err)
	}
}

// CreateLockedBucket creates an empty bucket with Object Lock enabled (and so versioning), failing
// the test on error. S3 enables Object Lock only when a bucket is created; objects then get
// retention from the mode and retain-until date of their PutObject, or from a default retention
// set on the bucket.
func (s *Server) CreateLockedBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     aws.String(name),
		ObjectLockEnabledForBucket: aws.Bool(true),
	}); err != nil {
		t.Fatalf("minio: create bucket %q with Object Lock: %v", name, err)
	}
}

// waitLive polls the liveness endpoint until it answers 200, the process exits or startTimeout
// passes.
func (s *Server) waitLive(proc *repo.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url := s.Endpoint + "/minio/health/live"
	for {
		err := get(ctx, url)
		if err == nil {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("exited before becoming live: %v", proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("not live after %s: %w", startTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

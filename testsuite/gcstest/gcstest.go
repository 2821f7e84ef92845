package gcstest

import (
	"context"
	"fmt"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// Server is a running fake GCS server.
type Server struct {
	// URL is the server's base, "http://127.0.0.1:port". Point a storage client at it with
	// option.WithEndpoint(URL+"/storage/v1/") and option.WithoutAuthentication().
	URL string

	fake *fakestorage.Server
}

// Start runs an in-memory fake GCS server on a free loopback port and stops it when the test ends.
func Start(t testing.TB) *Server {
	repo.Integration(t, "fake-gcs-server")
	t.Helper()
	var lastErr error
	for range 5 { // another test process may take the port between picking and binding it
		port := repo.FreePort(t)
		host := fmt.Sprintf("127.0.0.1:%d", port)
		url := "http://" + host
		fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
			Scheme:      "http",
			Host:        "127.0.0.1",
			Port:        uint16(port),
			ExternalURL: url,  // resumable uploads continue here
			PublicHost:  host, // the storage client's XML reads (GET /bucket/object) come here
		})
		if err != nil {
			lastErr = fmt.Errorf("start fake-gcs-server on %s: %w", url, err)
			continue
		}
		t.Cleanup(fake.Stop)
		return &Server{URL: url, fake: fake}
	}
	t.Fatalf("gcstest: %v", lastErr)
	return nil
}

// Client returns a storage client talking to the server without credentials, closed when the
// test ends.
func (s *Server) Client(t testing.TB) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(),
		option.WithEndpoint(s.URL+"/storage/v1/"),
		option.WithoutAuthentication(),
	)
	if err != nil {
		t.Fatalf("gcstest: storage client for %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CreateBucket creates an empty bucket.
func (s *Server) CreateBucket(name string) {
	s.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
}

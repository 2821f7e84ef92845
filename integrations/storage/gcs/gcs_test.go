package gcs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/gcs"
	"github.com/lifeboat-dr/lifeboat/testsuite/gcstest"
	"github.com/lifeboat-dr/lifeboat/testsuite/storagetest"
)

var bucketSeq atomic.Int64

func newBucket(srv *gcstest.Server) string {
	name := fmt.Sprintf("lifeboat-%d", bucketSeq.Add(1))
	srv.CreateBucket(name)
	return name
}

func newBackend(t *testing.T, cfg gcs.Config) *gcs.Backend {
	t.Helper()
	b, err := gcs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	srv := gcstest.Start(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return newBackend(t, gcs.Config{
			Bucket:                newBucket(srv),
			Prefix:                "repos/payments",
			Endpoint:              srv.URL, // "/storage/v1/" is appended
			WithoutAuthentication: true,
		})
	})
}

func TestPrefix(t *testing.T) {
	srv := gcstest.Start(t)
	bucket := newBucket(srv)
	ctx := t.Context()
	raw := srv.Client(t)
	for _, name := range []string{"outside/x", "repos/payments2/data/x", "repos/payments/"} {
		w := raw.Bucket(bucket).Object(name).NewWriter(ctx)
		if err := w.Close(); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	b := newBackend(t, gcs.Config{
		Bucket:                bucket,
		Prefix:                "/repos/payments/",
		Endpoint:              srv.URL + "/storage/v1/",
		WithoutAuthentication: true,
	})
	if got, want := b.Location(), "gs:"+bucket+"/repos/payments"; got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
	if err := b.Put(ctx, "data/ab/x", strings.NewReader("pack"), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Bucket(bucket).Object("repos/payments/data/ab/x").Attrs(ctx); err != nil {
		t.Errorf("object not stored under the prefix: %v", err)
	}
	var names []string
	if err := b.List(ctx, "", func(info storage.Info) error {
		names = append(names, info.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "data/ab/x" {
		t.Errorf("List(\"\") = %q, want only data/ab/x", names)
	}
	noPrefix := newBackend(t, gcs.Config{Bucket: bucket, Endpoint: srv.URL, WithoutAuthentication: true})
	if got, want := noPrefix.Location(), "gs:"+bucket; got != want {
		t.Errorf("Location() without prefix = %q, want %q", got, want)
	}
}

// A missing bucket must not pass for a missing object.
func TestMissingBucket(t *testing.T) {
	srv := gcstest.Start(t)
	b := newBackend(t, gcs.Config{Bucket: "no-such-bucket", Endpoint: srv.URL, WithoutAuthentication: true})
	ctx := t.Context()
	if err := b.List(ctx, "", func(storage.Info) error { return nil }); err == nil {
		t.Error("List of a missing bucket succeeded")
	}
	if err := b.Put(ctx, "config", strings.NewReader("x"), 1); err == nil {
		t.Error("Put into a missing bucket succeeded")
	}
	// GCS answers 404 for an object in a missing bucket, as for a missing object.
	if _, err := b.Stat(ctx, "config"); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat in a missing bucket: %v, want an error that is not ErrNotFound", err)
	}
	if _, err := b.Get(ctx, "config", 0, -1); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get in a missing bucket: %v, want an error that is not ErrNotFound", err)
	} else {
		t.Logf("Get in a missing bucket: %v", err)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		cfg     gcs.Config
		wantErr []string
	}{
		{"minimal", gcs.Config{Bucket: "b", WithoutAuthentication: true}, nil},
		{"no bucket", gcs.Config{WithoutAuthentication: true}, []string{"bucket is required"}},
		{"bad endpoint", gcs.Config{Bucket: "b", Endpoint: "localhost:4443", WithoutAuthentication: true}, []string{"endpoint"}},
		{"credentials and anonymous", gcs.Config{Bucket: "b", CredentialsFile: "k.json", WithoutAuthentication: true}, []string{"exclude each other"}},
		{"negative chunk", gcs.Config{Bucket: "b", ChunkSize: -1, WithoutAuthentication: true}, []string{"chunk size"}},
		{"missing credentials file", gcs.Config{Bucket: "b", CredentialsFile: filepath.Join(dir, "missing.json")}, []string{"missing.json"}},
		{"unknown credentials type", gcs.Config{Bucket: "b", CredentialsFile: write("odd.json", `{"type":"api_key"}`)}, []string{`type "api_key"`}},
		{"credentials not JSON", gcs.Config{Bucket: "b", CredentialsFile: write("bad.json", `key=value`)}, []string{"not JSON"}},
		{"every problem at once", gcs.Config{Endpoint: "x", ChunkSize: -5}, []string{"bucket is required", "endpoint", "chunk size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := gcs.New(t.Context(), tt.cfg)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				b.Close()
				return
			}
			if err == nil {
				b.Close()
				t.Fatalf("New succeeded, want errors about %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New error %q does not mention %q", err, want)
				}
			}
		})
	}
}

package repository

import (
	"context"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/gcs"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/s3"
	"github.com/lifeboat-dr/lifeboat/testsuite/gcstest"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

// testBackends returns constructors of an empty backend on local disk, a real MinIO and
// fake-gcs-server.
func testBackends() map[string]func(t *testing.T) storage.Backend {
	return map[string]func(t *testing.T) storage.Backend{
		"local": func(t *testing.T) storage.Backend { return newLocal(t) },
		"s3-minio": func(t *testing.T) storage.Backend {
			srv := miniotest.Start(t)
			srv.CreateBucket(t, "lifeboat")
			be, err := s3.New(context.Background(), s3.Config{
				Bucket: "lifeboat", Prefix: "repos/test", Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
				AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
			})
			if err != nil {
				t.Fatal(err)
			}
			return be
		},
		"gcs-fake": func(t *testing.T) storage.Backend {
			srv := gcstest.Start(t)
			srv.CreateBucket("lifeboat")
			be, err := gcs.New(context.Background(), gcs.Config{Bucket: "lifeboat", Prefix: "repos/test", Endpoint: srv.URL, WithoutAuthentication: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = be.Close() })
			return be
		},
	}
}

// TestEveryBackend runs a repository's whole life — init, backup, incremental backup, restore,
// check with data read, forget and prune, reopen — on local disk, a real MinIO and fake-gcs-server.
func TestEveryBackend(t *testing.T) {
	for name, newBackend := range testBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			be := newBackend(t)
			r := initRepo(t, be)
			src := t.TempDir()
			makeTree(t, src)
			first, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "files"})
			if err != nil {
				t.Fatal(err)
			}
			second, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "files"})
			if err != nil || second.Summary.BlobsAdded != 0 {
				t.Fatalf("unchanged backup: %+v, %v", second.Summary, err)
			}
			r2, err := Open(ctx, be, testCreds)
			if err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			if _, err := r2.Restore(ctx, second, dst, RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			compareTrees(t, src, dst)
			if rep, err := r2.Check(ctx, CheckOptions{ReadData: true}); err != nil || !rep.OK() {
				t.Fatalf("check: %+v, %v", rep, err)
			}
			if err := r2.DeleteSnapshot(ctx, first.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := r2.Prune(ctx, PruneOptions{}); err != nil {
				t.Fatal(err)
			}
			if rep, err := r2.Check(ctx, CheckOptions{ReadData: true}); err != nil || !rep.OK() {
				t.Fatalf("check after prune: %+v, %v", rep, err)
			}
		})
	}
}

package gcstest_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/gcstest"
)

func TestWriteThenReadObject(t *testing.T) {
	srv := gcstest.Start(t)
	srv.CreateBucket("lifeboat-backups")
	bucket := srv.Client(t).Bucket("lifeboat-backups")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for name, size := range map[string]int{"small": 11, "large (resumable upload)": 20 << 20} {
		t.Run(name, func(t *testing.T) {
			want := bytes.Repeat([]byte("x"), size)
			w := bucket.Object("snapshots/" + name).NewWriter(ctx)
			w.ChunkSize = 8 << 20
			if _, err := w.Write(want); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close writer: %v", err)
			}

			r, err := bucket.Object("snapshots/" + name).NewReader(ctx)
			if err != nil {
				t.Fatalf("new reader: %v", err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
			}
		})
	}
}

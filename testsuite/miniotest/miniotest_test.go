package miniotest_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

func TestPutThenGetObject(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "lifeboat-backups")
	c := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	want := []byte("snapshot of the payments database")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("lifeboat-backups"),
		Key:    aws.String("snapshots/payments"),
		Body:   bytes.NewReader(want),
	}); err != nil {
		t.Fatalf("put object: %v", err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String("lifeboat-backups"),
		Key:    aws.String("snapshots/payments"),
	})
	if err != nil {
		t.Fatalf("get object: %v", err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

package evidence_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

// On S3 a record is created with If-None-Match, so a retried write finds its own record, another
// record of that name is refused, and a record edited through the S3 API no longer verifies.
func TestStoreOnMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := t.Context()
	const bucket = "lifeboat-evidence"
	srv.CreateBucket(t, bucket)
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}[k]
		return v, ok
	}
	b, err := location.Open(ctx, "s3://"+bucket+"/dr?endpoint="+srv.Endpoint+"&path_style=true", env)
	if err != nil {
		t.Fatal(err)
	}
	s := signer(t, "worker")
	st, err := evidence.New(evidence.Config{Backend: b, Prefix: "proof", Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i, age := range []int{30, 2} {
		id, existed, err := st.Write(ctx, drill("orders", string(rune('a'+i)), now.Add(-time.Duration(age)*24*time.Hour)))
		if err != nil || existed {
			t.Fatalf("write: %v, existed %v", err, existed)
		}
		ids = append(ids, id)
	}
	if _, existed, err := st.Write(ctx, drill("orders", "a", now.Add(-30*24*time.Hour))); err != nil || !existed {
		t.Fatalf("retried write: existed %v, %v", existed, err)
	}
	conflicting := drill("orders", "a", now.Add(-30*24*time.Hour))
	conflicting.Status = "failed"
	conflicting.Evaluate()
	if _, _, err := st.Write(ctx, conflicting); !errors.Is(err, evidence.ErrConflict) {
		t.Fatalf("conflicting write: %v", err)
	}
	listed, err := st.List(ctx, evidence.Filter{})
	if err != nil || len(listed) != 2 || listed[0].ID != ids[0] {
		t.Fatalf("list: %+v, %v", listed, err)
	}
	for _, id := range ids {
		if _, err := st.Verify(ctx, id, keysOf(s)); err != nil {
			t.Fatal(err)
		}
	}

	// Edit the newer record through the S3 API.
	raw := srv.Client()
	key := aws.String("dr/proof/" + ids[1] + ".dsse.json")
	obj, err := raw.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	edited := bytes.Replace(data, []byte(`"payload": "ey`), []byte(`"payload": "ez`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("test did not edit the record")
	}
	if _, err := raw.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: key, Body: bytes.NewReader(edited)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(ctx, ids[1], keysOf(s)); !errors.Is(err, evidence.ErrUnverified) {
		t.Fatalf("edited record: %v", err)
	}

	deleted, err := st.Prune(ctx, evidence.Retention{Days: 7}, now)
	if err != nil || len(deleted) != 1 || deleted[0].ID != ids[0] {
		t.Fatalf("prune: %+v, %v", deleted, err)
	}
}

package audit_test

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

// On S3 with Object Lock, as audit.location configures it, every entry is retained: an entry edited
// through the S3 API becomes a new version, which Verify names as changed, while the version that
// was signed stays, and cannot be deleted without governance bypass.
func TestObjectLockedLedgerOnMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := t.Context()
	const bucket = "lifeboat-audit"
	srv.CreateLockedBucket(t, bucket)
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}[k]
		return v, ok
	}
	b, err := location.Open(ctx, "s3://"+bucket+"/dr?endpoint="+srv.Endpoint+"&path_style=true&object_lock_mode=governance&object_lock_days=1", env)
	if err != nil {
		t.Fatal(err)
	}
	s := signer(t, "worker")

	// Two workers, two activities each, append at once: S3's conditional writes give every number
	// to one of them.
	var wg sync.WaitGroup
	for w := range 2 {
		l := newLedger(t, b, s)
		for g := range 2 {
			wg.Go(func() {
				for n := range 3 {
					e := decision("bob", "promote")
					e.ID = fmt.Sprintf("w%d/g%d/%d", w, g, n)
					if _, _, err := l.Append(ctx, e); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	again := decision("bob", "promote")
	again.ID = "w1/g1/2"
	if e, existed, err := newLedger(t, b, s).Append(ctx, again); err != nil || !existed {
		t.Fatalf("a retried append on S3: entry %d, existed %v, %v", e.Seq, existed, err)
	}
	r, err := audit.Verify(ctx, b, "", keysOf(s))
	if err != nil || !r.OK() || r.Entries != 12 || r.Head == nil || r.Head.Seq != 12 {
		t.Fatalf("Verify: %+v, %v", r, err)
	}
	if want := "s3:" + bucket + "/dr/audit"; r.Location != want {
		t.Errorf("location %q, want %q", r.Location, want)
	}

	raw := srv.Client()
	key := func(seq int) *string { return aws.String(fmt.Sprintf("dr/audit/entries/%020d.json", seq)) }
	for _, k := range []*string{key(1), key(12), aws.String("dr/audit/head.json")} {
		head, err := raw.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: k})
		if err != nil {
			t.Fatal(err)
		}
		until := aws.ToTime(head.ObjectLockRetainUntilDate)
		if head.ObjectLockMode != types.ObjectLockModeGovernance || until.Before(time.Now().Add(23*time.Hour)) {
			t.Errorf("%s: lock %q until %s, want GOVERNANCE for a day", *k, head.ObjectLockMode, until)
		}
	}

	// Edit entry 3 through the S3 API, as someone with write access to the bucket could.
	orig, err := raw.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: key(3)})
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(orig.Body)
	orig.Body.Close()
	edited := bytes.Replace(signed, []byte(`"approve"`), []byte(`"reject!"`), 1)
	forged, err := raw.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: key(3), Body: bytes.NewReader(edited),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour)),
	})
	if err != nil {
		t.Fatalf("put an edited version: %v", err)
	}
	r, err = audit.Verify(ctx, b, "", keysOf(s))
	if err != nil {
		t.Fatal(err)
	}
	checkProblems(t, r, []want{{audit.ProblemChanged, 3, "entry 3 was changed: its content does not match its hash"}})
	if got := r.Problems[0].Object; got != "audit/entries/00000000000000000003.json" {
		t.Errorf("problem names object %q", got)
	}

	// The signed version is still there, and neither the S3 API nor the ledger's backend removes it
	// without governance bypass.
	_, err = raw.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key(3), VersionId: orig.VersionId})
	if err == nil {
		t.Fatal("deleting a retained version without bypass succeeded")
	}
	t.Logf("delete of the retained version refused as it should be: %v", err)
	if err := b.Delete(ctx, "audit/entries/00000000000000000003.json"); err == nil {
		t.Fatal("the backend deleted a retained entry")
	}
	kept, err := raw.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: key(3), VersionId: orig.VersionId})
	if err != nil {
		t.Fatal(err)
	}
	still, _ := io.ReadAll(kept.Body)
	kept.Body.Close()
	if !bytes.Equal(still, signed) {
		t.Fatal("the signed version changed")
	}

	// Someone allowed to bypass governance retention removes the forged version: the signed one is
	// the latest again, and the ledger verifies.
	if _, err := raw.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key(3),
		VersionId: forged.VersionId, BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatalf("delete the forged version with bypass: %v", err)
	}
	if r, err := audit.Verify(ctx, b, "", keysOf(s)); err != nil || !r.OK() {
		t.Fatalf("after the forged version was removed: %+v, %v", r, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// A ledger the worker wrote to MinIO, in a bucket with Object Lock, is tampered with through the
// S3 API by someone who may write and delete objects but not bypass retention — the realistic
// threat. With Object Lock every write is a new version and a delete without a version ID only
// adds a delete marker, so the signed versions stay underneath; but the ledger reads the latest
// versions, and those are what was changed. lifeboat audit verify exits 3 and names each entry:
// the edited one, the removed one and the two swapped. Removing the intruder's versions and
// delete marker (no bypass needed: they are not retained) brings the signed versions back, and the
// ledger verifies again.
func TestAuditVerifyOnMinIONamesTamperedEntries(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	const bucket = "lifeboat-audit"
	srv.CreateLockedBucket(t, bucket)
	dir := t.TempDir()
	path := filepath.Join(dir, "lifeboat.yaml")
	if err := os.WriteFile(path, []byte(`
secrets:
  audit-key: ${AUDIT_KEY}
audit:
  location: "s3://`+bucket+`/prod?endpoint=`+srv.Endpoint+`&path_style=true&object_lock_mode=GOVERNANCE&object_lock_days=1"
  signing_key: audit-key
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TEMPORAL_ADDRESS": "127.0.0.1:1", "LIFEBOAT_CONFIG": path, "AUDIT_KEY": audit.GenerateSigningKey(),
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
	}

	// Six entries, appended as the worker appends them: through the ledger the configuration opens.
	cfg, err := config.Load(path, config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ledger, err := cfg.Audit.Open(ctx, secrets.Static(cfg.Secrets), config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	for i, subject := range []string{"orders-failover", "fence-primary", "promote-replica", "switch-dns", "notify-customers", "close"} {
		e := audit.Entry{Kind: audit.KindDecision, Actor: "bob", Channel: audit.ChannelSlack, Verified: true, Subject: subject,
			Workflow: "recovery-orders", Details: map[string]string{"choice": "approve"}}
		if i == 0 {
			e.Kind, e.Actor, e.Channel, e.Verified = audit.KindStart, "ann", audit.ChannelCLI, false
		}
		if _, _, err := ledger.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	verify := func(wantCode int) (text string, r audit.Report) {
		t.Helper()
		stdout, stderr, code := runAudit(t, env, "verify")
		if code != wantCode {
			t.Fatalf("lifeboat audit verify: exit %d, want %d\n%s%s", code, wantCode, stdout, stderr)
		}
		js, _, _ := runAudit(t, env, "verify", "-o", "json")
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatalf("verify -o json: %v\n%s", err, js)
		}
		return stdout, r
	}
	text, _ := verify(exitOK)
	for _, want := range []string{"audit ledger s3:" + bucket + "/prod/audit: 6 entries, numbers 1 to 6", "head: entry 6", "intact"} {
		if !strings.Contains(text, want) {
			t.Errorf("verify of the intact ledger does not say %q:\n%s", want, text)
		}
	}
	stdout, stderr, code := runAudit(t, env, "export", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if code != exitOK || err != nil || len(rows) != 7 || rows[3][8] != "promote-replica" {
		t.Fatalf("export --format csv from MinIO: exit %d, %q, %v\n%s", code, rows, err, stderr)
	}

	s3c := srv.Client()
	key := func(seq int) *string { return aws.String(fmt.Sprintf("prod/audit/entries/%020d.json", seq)) }
	read := func(seq int) []byte {
		t.Helper()
		out, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: key(seq)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var intruder []awss3.DeleteObjectInput // what undoes each change: its version or delete marker
	put := func(seq int, body []byte) {
		t.Helper()
		out, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: key(seq), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("put a new version of entry %d: %v", seq, err)
		}
		intruder = append(intruder, awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key(seq), VersionId: out.VersionId})
	}
	checkProblems := func(r audit.Report, want ...string) {
		t.Helper()
		var got []string
		for _, p := range r.Problems {
			got = append(got, fmt.Sprintf("%s %d", p.Kind, p.Seq))
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("problems %q, want %q", got, want)
		}
	}

	// 1. Entry 2 edited: the decision is pinned on someone else.
	put(2, bytes.Replace(read(2), []byte(`"actor":"bob"`), []byte(`"actor":"eve"`), 1))
	text, r := verify(exitBadOutcome)
	if !strings.Contains(text, "changed: entry 2 was changed: its content does not match its hash\n") {
		t.Errorf("verify after an edit:\n%s", text)
	}
	checkProblems(r, "changed 2")

	// 2. Entry 4 removed: on a locked bucket, a delete marker over the retained version.
	del, err := s3c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key(4)})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete entry 4: %+v, %v", del, err)
	}
	intruder = append(intruder, awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key(4), VersionId: del.VersionId})
	text, r = verify(exitBadOutcome)
	if !strings.Contains(text, "missing: entry 4 is missing (between 3 and 5)\n") {
		t.Errorf("verify after a removal:\n%s", text)
	}
	checkProblems(r, "changed 2", "missing 4")

	// 3. Entries 5 and 6 swapped, each a signed entry in the other's place.
	five, six := read(5), read(6)
	put(5, six)
	put(6, five)
	text, r = verify(exitBadOutcome)
	for _, want := range []string{
		"reordered: entry 5 was moved: its object holds entry 6\n",
		"reordered: entry 6 was moved: its object holds entry 5\n",
		"changed: entry 6 was replaced: the head records its hash as ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("verify after a swap does not say %q:\n%s", want, text)
		}
	}
	checkProblems(r, "changed 2", "missing 4", "reordered 5", "reordered 6", "changed 6")
	if _, stderr, _ := runAudit(t, env, "verify"); !strings.Contains(stderr, "the audit ledger is not intact: 5 problems") {
		t.Errorf("verify's error: %q", stderr)
	}

	// The intruder's versions and delete marker were never retained: whoever may delete versions
	// removes them, and the signed versions, which nobody could remove, are the ledger again.
	for _, in := range intruder {
		if _, err := s3c.DeleteObject(ctx, &in); err != nil {
			t.Fatalf("remove the intruder's version of %s: %v", *in.Key, err)
		}
	}
	text, _ = verify(exitOK)
	if !strings.Contains(text, "6 entries") || !strings.Contains(text, "intact") {
		t.Errorf("verify after the signed versions are back:\n%s", text)
	}
}

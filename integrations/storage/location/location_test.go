package location

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage/gcs"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/s3"
)

// envOf returns an env lookup over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParse(t *testing.T) {
	noEnv := map[string]string{}
	awsEnv := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
		"AWS_SESSION_TOKEN":     "session",
		"AWS_REGION":            "eu-west-1",
		"AWS_DEFAULT_REGION":    "us-west-2",
	}
	tests := []struct {
		name     string
		location string
		env      map[string]string
		want     target
	}{
		{"absolute path", "/srv/backups", noEnv, target{kind: kindLocal, path: "/srv/backups"}},
		{"relative path", "backups/payments", noEnv, target{kind: kindLocal, path: "backups/payments"}},
		{"windows drive", `C:\backups`, noEnv, target{kind: kindLocal, path: `C:\backups`}},
		{"file URL", "file:///srv/backups", noEnv, target{kind: kindLocal, path: "/srv/backups"}},
		{"file URL with localhost", "file://localhost/srv/backups", noEnv, target{kind: kindLocal, path: "/srv/backups"}},
		{"file URL with escapes", "file:///srv/my%20backups", noEnv, target{kind: kindLocal, path: "/srv/my backups"}},
		{"local absolute", "local:/srv/backups", noEnv, target{kind: kindLocal, path: "/srv/backups"}},
		{"local path that looks like a URL", "local:s3://not-a-bucket?x=1", noEnv, target{kind: kindLocal, path: "s3://not-a-bucket?x=1"}},
		{"s3 bucket only, default chain", "s3://backups", noEnv, target{kind: kindS3, s3: s3.Config{Bucket: "backups"}}},
		{"s3 with prefix", "s3://backups/lifeboat/payments/", noEnv,
			target{kind: kindS3, s3: s3.Config{Bucket: "backups", Prefix: "lifeboat/payments"}}},
		{"s3 credentials and region from env", "s3://backups/repo", awsEnv, target{kind: kindS3, s3: s3.Config{
			Bucket: "backups", Prefix: "repo", Region: "eu-west-1",
			AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI", SessionToken: "session",
		}}},
		{"s3 AWS_DEFAULT_REGION", "s3://backups", map[string]string{"AWS_DEFAULT_REGION": "us-west-2"},
			target{kind: kindS3, s3: s3.Config{Bucket: "backups", Region: "us-west-2"}}},
		{"s3 region in URL wins", "s3://backups?region=ap-south-1", awsEnv, target{kind: kindS3, s3: s3.Config{
			Bucket: "backups", Region: "ap-south-1",
			AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI", SessionToken: "session",
		}}},
		{"s3 MinIO", "s3://backups/repo?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true", noEnv,
			target{kind: kindS3, s3: s3.Config{
				Bucket: "backups", Prefix: "repo", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1", PathStyle: true,
			}}},
		{"s3 SSE-S3, lowercase", "s3://backups?sse=aes256", noEnv,
			target{kind: kindS3, s3: s3.Config{Bucket: "backups", SSE: s3.SSES3}}},
		{"s3 SSE-KMS with key", "s3://backups?sse=aws:kms&sse_kms_key_id=arn:aws:kms:eu-west-1:111122223333:key/abc", noEnv,
			target{kind: kindS3, s3: s3.Config{
				Bucket: "backups", SSE: s3.SSEKMS, SSEKMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/abc",
			}}},
		{"s3 Object Lock", "s3://backups?object_lock_mode=governance&object_lock_days=30", noEnv,
			target{kind: kindS3, s3: s3.Config{
				Bucket: "backups", ObjectLockMode: s3.LockGovernance, ObjectLockRetention: 30 * 24 * time.Hour,
			}}},
		{"gs bucket only", "gs://backups", noEnv, target{kind: kindGCS, gcs: gcs.Config{Bucket: "backups"}}},
		{"gs with everything", "gs://backups/repo/x?endpoint=http://127.0.0.1:4443&anonymous=true", noEnv,
			target{kind: kindGCS, gcs: gcs.Config{
				Bucket: "backups", Prefix: "repo/x", Endpoint: "http://127.0.0.1:4443", WithoutAuthentication: true,
			}}},
		{"gs credentials file", "gs://backups?credentials_file=/etc/lifeboat/sa.json", noEnv,
			target{kind: kindGCS, gcs: gcs.Config{Bucket: "backups", CredentialsFile: "/etc/lifeboat/sa.json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.location, envOf(tt.env))
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.location, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse(%q) =\n  %+v\nwant\n  %+v", tt.location, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		location string
		env      map[string]string
		want     []string // substrings of the error
		secret   string   // must not appear in the error
	}{
		{"empty", "", nil, []string{"empty", "accepted: a path"}, ""},
		{"unknown scheme", "sftp://host/backups", nil, []string{`unknown scheme "sftp"`, "local:", "s3://", "gs://"}, ""},
		{"unknown scheme with secret", "azure://acct:hunter2@container/x", nil, []string{`unknown scheme "azure"`}, "hunter2"},
		{"restic-style s3", "s3:s3.amazonaws.com/bucket", nil, []string{"write s3://"}, ""},
		{"gs without slashes", "gs:bucket/x", nil, []string{"write gs://"}, ""},
		{"local without path", "local:", nil, []string{"needs a path"}, ""},
		{"file with host", "file://nas/backups", nil, []string{`not host "nas"`}, ""},
		{"file with query", "file:///srv/b?sync=1", nil, []string{"no parameters"}, ""},
		{"file without path", "file://", nil, []string{"needs a path"}, ""},
		{"s3 without bucket", "s3:///prefix", nil, []string{"bucket is required"}, ""},
		{"s3 with port", "s3://minio:9000/backups", nil, []string{"host and port", "?endpoint="}, ""},
		{"s3 unknown parameter", "s3://b?endpiont=http://x&foo=1", nil,
			[]string{`unknown parameters "endpiont", "foo"`, "accepted: endpoint, region, path_style, sse, sse_kms_key_id, object_lock_mode, object_lock_days"}, ""},
		{"s3 secret in query", "s3://b?secret_access_key=hunter2", nil, []string{`unknown parameter "secret_access_key"`}, "hunter2"},
		{"s3 credentials in URL", "s3://AKID:hunter2@bucket/x", nil, []string{"credentials in the URL"}, "hunter2"},
		{"s3 repeated parameter", "s3://b?region=a&region=b", nil, []string{"region given 2 times"}, ""},
		{"s3 bad bool", "s3://b?path_style=yes", nil, []string{`path_style="yes"`}, ""},
		{"s3 bad SSE", "s3://b?sse=rot13", nil, []string{`SSE "rot13"`}, ""},
		{"s3 KMS key without KMS", "s3://b?sse_kms_key_id=k", nil, []string{"KMS key ID"}, ""},
		{"s3 lock mode without days", "s3://b?object_lock_mode=COMPLIANCE", nil, []string{"positive retention"}, ""},
		{"s3 lock days without mode", "s3://b?object_lock_days=7", nil, []string{"without a mode"}, ""},
		{"s3 bad lock days", "s3://b?object_lock_mode=GOVERNANCE&object_lock_days=-1", nil, []string{"object_lock_days"}, ""},
		{"s3 bad lock mode", "s3://b?object_lock_mode=forever&object_lock_days=1", nil, []string{`"FOREVER"`}, ""},
		{"s3 bad endpoint", "s3://b?endpoint=127.0.0.1:9000", nil, []string{"endpoint"}, ""},
		{"s3 half the credentials", "s3://b", map[string]string{"AWS_ACCESS_KEY_ID": "AKID"}, []string{"AWS_SECRET_ACCESS_KEY"}, ""},
		{"s3 several problems", "s3://b?foo=1&path_style=maybe&sse=x", nil,
			[]string{`unknown parameter "foo"`, "path_style", `"x"`}, ""},
		{"gs unknown parameter", "gs://b?region=eu", nil, []string{`unknown parameter "region"`, "accepted: endpoint, credentials_file, anonymous"}, ""},
		{"gs bad bool", "gs://b?anonymous=sure", nil, []string{"anonymous"}, ""},
		{"gs credentials and anonymous", "gs://b?anonymous=true&credentials_file=/k.json", nil, []string{"exclude each other"}, ""},
		{"gs without bucket", "gs:///x", nil, []string{"bucket is required"}, ""},
		{"fragment", "gs://b/x#y", nil, []string{"fragment"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.location, envOf(tt.env))
			if err == nil {
				t.Fatalf("parse(%q) = %+v, want an error", tt.location, got)
			}
			t.Log(err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("parse(%q) error %q does not mention %q", tt.location, err, want)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("parse(%q) error %q quotes a secret", tt.location, err)
			}
		})
	}
}

// Open builds the backends without contacting any server.
func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	env := envOf(map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"})
	tests := []struct {
		location, want string
	}{
		{dir, dir},
		{"file://" + filepath.ToSlash(dir), dir},
		{"s3://backups/repo?endpoint=http://127.0.0.1:1&path_style=true", "s3:backups/repo"},
		{"gs://backups/repo/?endpoint=http://127.0.0.1:1&anonymous=true", "gs:backups/repo"},
	}
	for _, tt := range tests {
		t.Run(tt.location, func(t *testing.T) {
			b, err := Open(t.Context(), tt.location, env)
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.location, err)
			}
			if c, ok := b.(interface{ Close() error }); ok {
				defer c.Close()
			}
			if got := b.Location(); got != tt.want {
				t.Errorf("Open(%q).Location() = %q, want %q", tt.location, got, tt.want)
			}
		})
	}
}

func TestCheckLooksAtTheFormOnly(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not", "yet")
	for _, ok := range []string{missing, "s3://bucket/audit?object_lock_mode=governance&object_lock_days=30", "gs://bucket/audit"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("Check created %s (%v)", missing, err)
	}
	for bad, want := range map[string]string{
		"":                                  "location: empty",
		"s3://bucket?object_lock_days=x":    `object_lock_days "x"`,
		"ftp://host/x":                      `unknown scheme "ftp"`,
		"s3://bucket?object_lock_mode=soft": `object lock mode "SOFT"`,
	} {
		if err := Check(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want %q", bad, err, want)
		}
	}
}

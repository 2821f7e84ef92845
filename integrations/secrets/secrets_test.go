package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(path, []byte("postgres://from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Static{"inline": "value", "filed": "file:" + path, "broken": "file:" + path + ".missing"}
	ctx := context.Background()

	if v, err := s.Secret(ctx, "inline"); err != nil || v != "value" {
		t.Fatalf("inline = %q, %v", v, err)
	}
	if v, err := s.Secret(ctx, "filed"); err != nil || v != "postgres://from-file" {
		t.Fatalf("filed = %q, %v", v, err)
	}
	_, err := s.Secret(ctx, "nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "broken, filed, inline") {
		t.Fatalf("unknown secret error = %v", err)
	}
	if _, err := s.Secret(ctx, "broken"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("unreadable file error = %v, want a read error", err)
	}
}

func TestRedactHidesEverySecretValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("from-a-file-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Static{
		"db":    "postgres://app:s3cr3t-pass@db1:5432/orders",
		"token": "tok-abcdef",
		"file":  "file:" + file,
		"short": "ab",
		"gone":  "file:" + filepath.Join(dir, "missing"),
	}
	in := "connect postgres://app:s3cr3t-pass@db1:5432/orders failed; retry with s3cr3t-pass; token tok-abcdef; key from-a-file-0123; ab stays"
	got := s.Redact(context.Background(), in)
	for _, leaked := range []string{"s3cr3t-pass", "tok-abcdef", "from-a-file-0123"} {
		if strings.Contains(got, leaked) {
			t.Errorf("%q left in %q", leaked, got)
		}
	}
	if want := "connect [redacted] failed; retry with [redacted]; token [redacted]; key [redacted]; ab stays"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

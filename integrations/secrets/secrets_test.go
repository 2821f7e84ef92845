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

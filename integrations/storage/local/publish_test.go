package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The link(2) path is what file systems without RENAME_NOREPLACE get; it must keep the same
// contract.
func TestLinkNoReplace(t *testing.T) {
	dir := t.TempDir()
	tmp, p := filepath.Join(dir, "obj"+tempMarker+"1"), filepath.Join(dir, "obj")
	if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := linkNoReplace(tmp, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary name still there after link: %v", err)
	}
	if err := os.WriteFile(tmp, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := linkNoReplace(tmp, p); !errors.Is(err, fs.ErrExist) {
		t.Errorf("link over an existing name: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Errorf("object holds %q, want %q", got, "new")
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// A replica whose new clone fails halfway stays as it was, and a data directory that is not a
// PostgreSQL cluster is refused, never removed.
func TestDevPostgresKeepsWhatExistsWhenPreparingFails(t *testing.T) {
	repo.Integration(t, "PostgreSQL binaries")
	pg, err := localpg.NewEnv(filepath.Join(t.TempDir(), "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	keep := func(dir string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(dir, "existing-data")
		if err := os.WriteFile(marker, []byte("kept"), 0o600); err != nil {
			t.Fatal(err)
		}
		return marker
	}
	intact := func(marker string) {
		t.Helper()
		if b, err := os.ReadFile(marker); err != nil || string(b) != "kept" {
			t.Errorf("%s after the failure: %q, %v", marker, b, err)
		}
	}

	// The primary the replica would clone from is not running: the clone fails.
	primary := &devServer{name: "drill-primary", port: repo.FreePort(t)}
	replica := &devServer{name: "drill-replica", streamOf: "drill-primary", port: primary.port + 1}
	marker := keep(pg.Dir(replica.name))
	byName := map[string]*devServer{primary.name: primary, replica.name: replica}
	if _, err := prepareDevServer(pg, "127.0.0.1", replica, byName); err == nil {
		t.Fatal("a clone from a server that is not running succeeded")
	}
	intact(marker)
	if _, err := os.Stat(pg.Dir(replica.name + ".new")); !os.IsNotExist(err) {
		t.Errorf("the failed clone left %s.new behind: %v", replica.name, err)
	}

	// A primary's directory without PG_VERSION is someone else's: refused, left alone.
	marker = keep(pg.Dir("example"))
	_, err = prepareDevServer(pg, "127.0.0.1", &devServer{name: "example", port: repo.FreePort(t)}, byName)
	if err == nil || !strings.Contains(err.Error(), "not a PostgreSQL data directory") {
		t.Fatalf("preparing over a foreign directory: %v", err)
	}
	intact(marker)

	// A new primary is created aside and moved into place.
	fresh, err := prepareDevServer(pg, "127.0.0.1", &devServer{name: "new-primary", port: repo.FreePort(t)}, byName)
	if err != nil || !fresh {
		t.Fatalf("new primary: fresh %v, %v", fresh, err)
	}
	if _, err := os.Stat(filepath.Join(pg.Dir("new-primary"), "PG_VERSION")); err != nil {
		t.Fatal(err)
	}
}

package chromium

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Names are the names the browser's binary goes by.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// Binary finds a Chromium binary: $CHROMIUM, or one of Names on the PATH. Without one the test is
// skipped, except in CI (CI set and not "false" or "0"), where it fails.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range Names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium binary found (tried $CHROMIUM and " + strings.Join(Names, ", ") + " on the PATH): install it with `apt-get install -y chromium`"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + "; CI is set, so the browser test must run")
	}
	t.Skip(msg + " to run the browser test")
	return ""
}

// Flags are the flags every headless run takes: no sandbox (tests may run as root), no GPU, no
// shared memory file system, no background requests, and a profile of its own in dir.
func Flags(dir string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--no-first-run", "--user-data-dir=" + dir}
}

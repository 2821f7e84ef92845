// Package chromium runs headless Chromium for tests of the pages Lifeboat serves and writes.
package chromium

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// names are the names the browser's binary goes by.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// Find returns a Chromium binary: $CHROMIUM, or one of the usual names on the PATH. Without one
// the test is skipped, except in CI (CI set and not "false" or "0"), where it fails.
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium binary found (tried $CHROMIUM and " + strings.Join(names, ", ") + " on the PATH): install it with `apt-get install -y chromium`"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + "; CI is set, so the browser test must run")
	}
	t.Skip(msg + " to run the browser test")
	return ""
}

// Args are the flags every headless run takes, with a fresh profile in dir.
func Args(dir string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--no-first-run", "--user-data-dir=" + dir}
}

// DumpDOM loads url in headless Chromium, lets virtual time run for budget (timers fire at once,
// network requests complete) and returns the DOM as it then is.
func DumpDOM(t testing.TB, bin, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(Args(t.TempDir()), "--virtual-time-budget="+strconv.Itoa(int(budget/time.Millisecond)), "--dump-dom", url)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

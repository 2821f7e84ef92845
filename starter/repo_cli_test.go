package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// repoCLI runs `lifeboat repo …` in-process against one local repository and records which repo
// commands ran, so that the test can insist every one of them did.
type repoCLI struct {
	t     *testing.T
	env   map[string]string
	ran   map[string]bool
	stdin string
}

func newRepoCLI(t *testing.T, repoDir string) *repoCLI {
	return &repoCLI{t: t, ran: map[string]bool{}, env: map[string]string{
		"TEMPORAL_ADDRESS":       "127.0.0.1:1",
		"LIFEBOAT_REPO":          repoDir,
		"LIFEBOAT_REPO_PASSWORD": "correct horse battery staple",
	}}
}

// run runs lifeboat repo ARGS… and returns its output and exit code.
func (c *repoCLI) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"repo"}, args...)
	code = run(context.Background(), full, config.MapEnv(c.env), strings.NewReader(c.stdin), &out, &errb)
	c.stdin = ""
	// Record the command path: the leading words that are not flags or operands of a known command.
	path := args[0]
	if (path == "key" || path == "repair") && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		path += " " + args[1]
	}
	c.ran[path] = true
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its standard output.
func (c *repoCLI) ok(args ...string) string {
	c.t.Helper()
	stdout, stderr, code := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("lifeboat repo %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// json runs a command with -o json and decodes its output into v.
func (c *repoCLI) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("lifeboat repo %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every `lifeboat repo` command runs for real against a real repository on disk, with the
// outcomes a user relies on checked: what a backup stored comes back byte for byte, a restore
// refuses to replace an existing file unless told to, forget and prune remove exactly what the
// policy does not keep, and check finds the repository clean afterwards.
func TestEveryRepoCommandRuns(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{
		"etc/app.conf":    "listen 8080\n",
		"etc/nginx/site":  "server {}\n",
		"data/orders.csv": strings.Repeat("1,widget,3\n", 5000),
	})
	c := newRepoCLI(t, filepath.Join(dir, "repo"))

	c.ok("init", "--pack-size", "1")
	c.ok("backup", src, "--source", "app", "--tag", "nightly")
	writeTree(t, src, map[string]string{"etc/app.conf": "listen 9090\n"})
	c.ok("backup", src, "--source", "app")
	c.stdin = "streamed bytes\n"
	c.ok("backup", "--stdin", "--name", "stream.txt", "--source", "stream")
	c.ok("backup", "--name", "echo.txt", "--source", "cmd", "--", "echo", "from a command")

	var snaps []struct {
		ID     string `json:"id"`
		Source string `json:"source"`
	}
	c.json(&snaps, "snapshots")
	if len(snaps) != 4 {
		t.Fatalf("snapshots: %d, want 4: %+v", len(snaps), snaps)
	}
	if out := c.ok("snapshots", "--source", "app"); !strings.Contains(out, "2 snapshots") {
		t.Fatalf("snapshots --source app:\n%s", out)
	}
	appOld, appNew := snaps[0].ID, snaps[1].ID

	if out := c.ok("ls", "latest", "--source", "app", "-R"); !strings.Contains(out, "/etc/nginx/site") {
		t.Fatalf("ls -R:\n%s", out)
	}
	if out := c.ok("find", "*.conf"); !strings.Contains(out, "etc/app.conf") {
		t.Fatalf("find:\n%s", out)
	}
	if out := c.ok("diff", appOld[:8], appNew[:8]); !strings.Contains(out, "etc/app.conf") {
		t.Fatalf("diff:\n%s", out)
	}
	if out := c.ok("dump", appNew[:8], "etc/app.conf"); out != "listen 9090\n" {
		t.Fatalf("dump: %q", out)
	}
	if out := c.ok("dump", "latest", "stream.txt", "--source", "stream"); out != "streamed bytes\n" {
		t.Fatalf("dump of a stream: %q", out)
	}

	// Restore: the whole snapshot, then one subtree; an existing file is refused and left as it
	// was, and replaced only with --overwrite.
	target := filepath.Join(dir, "restored")
	c.ok("restore", appNew[:8], "--target", target, "--memory-limit", "32", "--parallel", "2")
	if got := readFile(t, filepath.Join(target, "data/orders.csv")); got != strings.Repeat("1,widget,3\n", 5000) {
		t.Fatalf("restored orders.csv differs (%d bytes)", len(got))
	}
	sub := filepath.Join(dir, "sub")
	c.ok("restore", appOld[:8], "--target", sub, "--path", "etc")
	if got := readFile(t, filepath.Join(sub, "etc/app.conf")); got != "listen 8080\n" {
		t.Fatalf("restore --path etc: app.conf %q", got)
	}
	_, stderr, code := c.run("restore", appNew[:8], "--target", sub, "--path", "etc")
	if code != exitBadOutcome || !strings.Contains(stderr, "exists at the target") {
		t.Fatalf("restore over an existing file: exit %d, stderr:\n%s", code, stderr)
	}
	if got := readFile(t, filepath.Join(sub, "etc/app.conf")); got != "listen 8080\n" {
		t.Fatalf("a refused restore changed the existing file: %q", got)
	}
	c.ok("restore", appNew[:8], "--target", sub, "--path", "etc", "--overwrite")
	if got := readFile(t, filepath.Join(sub, "etc/app.conf")); got != "listen 9090\n" {
		t.Fatalf("restore --overwrite: app.conf %q", got)
	}
	for _, bad := range []string{"../..", "etc/../../x", "/etc"} {
		_, stderr, code := c.run("restore", appNew[:8], "--target", filepath.Join(dir, "bad"), "--path", bad)
		if code != exitUsage || !strings.Contains(stderr, "snapshot path") {
			t.Fatalf("restore --path %q: exit %d, stderr:\n%s", bad, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Fatalf("a refused --path still created the target: %v", err)
	}

	// Keys: add a second passphrase, open with it, list, remove it again.
	pw := filepath.Join(dir, "second.pw")
	if err := os.WriteFile(pw, []byte("second passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var added map[string]string
	c.json(&added, "key", "add", "--new-password-file", pw, "--label", "second")
	if out := c.ok("snapshots", "--password-file", pw); !strings.Contains(out, "4 snapshots") {
		t.Fatalf("open with the added key:\n%s", out)
	}
	var keys []struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	}
	c.json(&keys, "key", "list")
	if len(keys) != 2 {
		t.Fatalf("key list: %+v", keys)
	}
	keyFile := c.ok("key", "generate-file")
	if !strings.HasPrefix(keyFile, "lifeboat repository key file v1") {
		t.Fatalf("key generate-file: %q", keyFile)
	}
	c.ok("key", "remove", added["id"][:8])
	if _, _, code := c.run("snapshots", "--password-file", pw); code != exitUsage {
		t.Fatalf("the removed key still opens the repository (exit %d)", code)
	}

	// Copy everything to a second repository, then check both.
	other := filepath.Join(dir, "offsite")
	c2 := newRepoCLI(t, other)
	c.env["LIFEBOAT_REPO_TO_PASSWORD"] = "offsite passphrase"
	c2.env["LIFEBOAT_REPO_PASSWORD"] = "offsite passphrase"
	c2.ok("init")
	c.ok("copy", "--to", other)
	if out := c2.ok("snapshots"); !strings.Contains(out, "4 snapshots") {
		t.Fatalf("copy: offsite holds\n%s", out)
	}

	// Forget: a dry run removes nothing; the real one keeps the newest of each source and host,
	// and --prune frees the data only the forgotten snapshot used.
	var dry struct {
		Groups []struct {
			Key string `json:"key"`
		} `json:"groups"`
	}
	c.json(&dry, "forget", "--keep-last", "1", "--dry-run")
	c.json(&snaps, "snapshots")
	if len(snaps) != 4 {
		t.Fatalf("forget --dry-run removed snapshots: %d left", len(snaps))
	}
	c.ok("forget", "--keep-last", "1", "--prune")
	c.json(&snaps, "snapshots")
	if len(snaps) != 3 || snaps[0].ID == appOld {
		t.Fatalf("forget --keep-last 1: %+v", snaps)
	}
	if out := c.ok("prune", "--dry-run"); !strings.Contains(out, "would free") {
		t.Fatalf("prune --dry-run:\n%s", out)
	}
	c.ok("prune")
	if out := c.ok("check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check --read-data:\n%s", out)
	}
	if out := c.ok("check", "--read-data-subset", "50%"); !strings.Contains(out, "no errors") {
		t.Fatalf("check --read-data-subset:\n%s", out)
	}
	restoredAgain := filepath.Join(dir, "again")
	c.ok("restore", "latest", "--source", "app", "--target", restoredAgain)
	if got := readFile(t, filepath.Join(restoredAgain, "etc/app.conf")); got != "listen 9090\n" {
		t.Fatalf("restore after prune: %q", got)
	}

	// A lost index file: prune refuses and deletes nothing; repair index finds the packs again from
	// their headers; then prune keeps everything a snapshot needs.
	indexes, err := filepath.Glob(filepath.Join(dir, "repo", "index", "*"))
	if err != nil || len(indexes) == 0 {
		t.Fatalf("no index files: %v", err)
	}
	for _, ix := range indexes {
		if err := os.Remove(ix); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := c.run("prune"); code == exitOK || !strings.Contains(stderr, "repair index") {
		t.Fatalf("prune without an index: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := c.run("repair"); code != exitUsage || !strings.Contains(stderr, "repair index") {
		t.Fatalf("repair without what: exit %d\n%s", code, stderr)
	}
	if out := c.ok("repair", "index"); !strings.Contains(out, "blobs added to the index") {
		t.Fatalf("repair index:\n%s", out)
	}
	c.ok("repair", "index", "--all")
	c.ok("prune")
	if out := c.ok("check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check after repair and prune:\n%s", out)
	}
	if got := c.ok("dump", "latest", "etc/app.conf", "--source", "app"); got != "listen 9090\n" {
		t.Fatalf("dump after repair and prune: %q", got)
	}

	// A temporary file a killed process left an hour ago is reported, and removed on request.
	packs, _ := filepath.Glob(filepath.Join(dir, "repo", "data", "*"))
	leftover := filepath.Join(packs[0], "0123.tmp-killed")
	if err := os.WriteFile(leftover, []byte("half a pack"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(leftover, old, old); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("check"); !strings.Contains(out, "temporary file left over") {
		t.Fatalf("check does not report the leftover temporary file:\n%s", out)
	}
	if out := c.ok("check", "--remove-temps"); !strings.Contains(out, "temporary file removed") {
		t.Fatalf("check --remove-temps:\n%s", out)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("the leftover temporary file is still there: %v", err)
	}

	// --wait: a lock another process holds makes a command wait for it instead of failing.
	holder := exec.Command(os.Args[0], "-test.run", "^TestHoldRepositoryLock$")
	holder.Env = append(os.Environ(), "LIFEBOAT_TEST_HOLD_LOCK="+filepath.Join(dir, "repo"), "LIFEBOAT_REPO_PASSWORD="+c.env["LIFEBOAT_REPO_PASSWORD"])
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "locked" {
		t.Fatalf("lock holder: %q, %v", line, err)
	}
	if _, stderr, code := c.run("prune"); code == exitOK || !strings.Contains(stderr, "locked") {
		t.Fatalf("prune while another process holds a lock: exit %d\n%s", code, stderr)
	}
	go func() { // the holder lets go after a moment
		time.Sleep(500 * time.Millisecond)
		_ = holder.Process.Signal(os.Interrupt)
	}()
	c.ok("prune", "--wait", "1m")
	_ = holder.Wait()

	// Unlock: a lock left by a process that is gone is removed.
	c.ok("unlock")
	if out := c.ok("unlock", "--remove-all"); out == "" {
		t.Fatal("unlock --remove-all printed nothing")
	}

	// Every repo command ran.
	root := (&app{env: func(string) (string, bool) { return "", false }}).rootCommand()
	var missing []string
	for _, p := range commandPaths(root) {
		rest, ok := strings.CutPrefix(p, "repo ")
		if !ok || strings.HasPrefix(rest, "help") {
			continue
		}
		if rest == "key" || rest == "help" { // a group of commands, each run above
			continue
		}
		if !c.ran[rest] && !c2.ran[rest] {
			missing = append(missing, rest)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("repo commands this test does not run: %s", strings.Join(missing, ", "))
	}
}

// TestHoldRepositoryLock is a helper process for TestEveryRepoCommandRuns: it takes an exclusive lock
// on the repository in LIFEBOAT_TEST_HOLD_LOCK, prints "locked", and holds it until interrupted.
func TestHoldRepositoryLock(t *testing.T) {
	dir := os.Getenv("LIFEBOAT_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("run by TestEveryRepoCommandRuns")
	}
	ctx := context.Background()
	be, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repository.Open(ctx, be, repository.Credentials{Passphrase: os.Getenv("LIFEBOAT_REPO_PASSWORD")})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := r.Lock(ctx, true, "test holder")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	fmt.Print("locked")
	<-stop
	_ = lk.Unlock()
}

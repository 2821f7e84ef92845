package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// docBlock is a fenced sh or console block of a document that runs lifeboat, temporal or curl.
type docBlock struct {
	file   string
	line   int
	script []string
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var (
	fence      = regexp.MustCompile("^\\s*```\\s*([a-z]*)")
	runsOurCLI = regexp.MustCompile(`(^|[\s;(|])((bin/)?(lifeboat|temporal)|curl)\s`)
	// expectExit is a trailing "# exit N" comment: the command is documented to exit with N.
	expectExit = regexp.MustCompile(`^(.*\S)\s+#\s*exit (\d+)\b.*$`)
)

// docBlocks returns the blocks of the Markdown file path (named rel in messages) to run: every
// line of an sh block, the $ lines of a console block (with their continuation lines).
func docBlocks(t *testing.T, path, rel string) []docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docBlock
	var cur *docBlock
	lang := ""
	continued := false
	for i, l := range strings.Split(string(b), "\n") {
		if m := fence.FindStringSubmatch(l); m != nil {
			if cur == nil {
				cur, lang = &docBlock{file: rel, line: i + 1}, m[1]
				continue
			}
			if (lang == "sh" || lang == "console") && slices.ContainsFunc(cur.script, runsOurCLI.MatchString) {
				out = append(out, *cur)
			}
			cur, continued = nil, false
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case lang == "sh":
			cur.script = append(cur.script, l)
		case continued:
			cur.script = append(cur.script, l)
		case strings.HasPrefix(l, "$ "):
			cur.script = append(cur.script, strings.TrimPrefix(l, "$ "))
		default:
			continue
		}
		continued = strings.HasSuffix(strings.TrimRight(l, " "), `\`)
	}
	return out
}

// shell is the block as a bash script: a command documented to exit with N may.
func (b docBlock) shell() string {
	lines := make([]string, len(b.script))
	for i, l := range b.script {
		if m := expectExit.FindStringSubmatch(l); m != nil && !strings.HasSuffix(m[1], `\`) {
			l = fmt.Sprintf("{ %s; } || test $? -eq %s", m[1], m[2])
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// TestDocumentedCommandsRunOnTheLocalStack runs the command examples of the README and docs/ as
// written — every fenced sh or console block that runs lifeboat or temporal, in the order the
// documents give them — in a copy of the checkout where `make run` is running on its usual ports,
// with bin/ on PATH. Every block must exit 0, or with the code a "# exit N" comment documents.
func TestDocumentedCommandsRunOnTheLocalStack(t *testing.T) {
	repo.Integration(t, "the local stack")
	root := repo.Root(t)
	for _, port := range []int{7233, 8233, 8091, 15432, 15433, 15434, 15435} {
		if !portIsFree(port) {
			t.Fatalf("port %d is taken: the documented commands use the ports of `make run`; stop what holds it", port)
		}
	}
	checkout := t.TempDir()
	copyTree(t, filepath.Join(root, "examples"), filepath.Join(checkout, "examples"))
	bin := filepath.Join(checkout, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"lifeboat": filepath.Join(binDir, "lifeboat"), "lifeboat-worker": filepath.Join(binDir, "lifeboat-worker"), "temporal": repo.Bin(t, "temporal"),
	} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + checkout, "LANG=C.UTF-8"}

	dev := exec.Command(filepath.Join(bin, "lifeboat"), "--config", "examples/lifeboat.yaml", "dev")
	dev.Dir, dev.Env = checkout, env
	proc := repo.StartProcess(t, "make run", dev, syscall.SIGINT)
	defer proc.Stop()
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(proc.Tail(), "Lifeboat is running."); {
		select {
		case <-proc.Done():
			t.Fatalf("lifeboat dev exited: %v\n%s", proc.Err(), proc.Tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lifeboat dev not up after 2 minutes:\n%s", proc.Tail())
		}
		time.Sleep(200 * time.Millisecond)
	}

	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	sort.Strings(docs)
	var blocks []docBlock
	for _, f := range append(append([]string{filepath.Join(root, "README.md")}, docs...), filepath.Join(root, "examples", "plans", "README.md")) {
		rel, _ := filepath.Rel(root, f)
		blocks = append(blocks, docBlocks(t, f, rel)...)
	}
	if len(blocks) < 10 {
		t.Fatalf("found only %d blocks to run: the extraction is broken", len(blocks))
	}
	session := filepath.Join(t.TempDir(), "session")
	if err := os.WriteFile(session, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		// One terminal: what a block exports, the next ones see.
		script := fmt.Sprintf("source %[1]q\n%[2]s\nexport -p > %[1]q\n", session, b.shell())
		cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = checkout, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("%s: %v\n--- script ---\n%s\n--- output ---\n%s", b, err, b.shell(), out.String())
		}
	}
	t.Logf("ran %d documented blocks", len(blocks))
	if t.Failed() {
		t.Logf("make run:\n%s", proc.Tail())
	}
}

// copyTree copies the regular files and folders under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

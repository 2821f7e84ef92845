package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func example(name string) string { return filepath.Join("..", "examples", "plans", name+".yaml") }

func TestPlanRenderHelp(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "plan", "render", "--help")
	if code != exitOK {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, w := range []string{"PLAN", "--format", "--out", "--force", "recovery.plans_dir", "identity directory", "stylesheet"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("help does not mention %q:\n%s", w, stdout)
		}
	}
	if stdout, _, _ := runCLI(t, "", "plan", "--help"); !strings.Contains(stdout, "\n  render ") {
		t.Errorf("lifeboat plan --help does not list render:\n%s", stdout)
	}
}

func TestPlanRenderFormats(t *testing.T) {
	dir := t.TempDir()
	t.Run("html to a file", func(t *testing.T) {
		out := filepath.Join(dir, "runbook.html")
		_, stderr, code := runCLI(t, "", "plan", "render", example("region-outage"), "--format", "html", "--out", out)
		if code != exitOK {
			t.Fatalf("code %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "<svg ") {
			t.Fatalf("%s: %v\n%.300s", out, err, b)
		}
		if !strings.Contains(stderr, "wrote the runbook of plan region-outage to "+out) {
			t.Errorf("stderr: %s", stderr)
		}
	})
	t.Run("markdown to a file, the graph beside it", func(t *testing.T) {
		out := filepath.Join(dir, "runbook.md")
		_, stderr, code := runCLI(t, "", "plan", "render", example("region-outage"), "--format", "md", "--out", out)
		if code != exitOK {
			t.Fatalf("code %d: %s", code, stderr)
		}
		md, _ := os.ReadFile(out)
		svg, err := os.ReadFile(filepath.Join(dir, "runbook.svg"))
		if err != nil || !strings.HasPrefix(string(svg), "<svg ") {
			t.Fatalf("no graph beside the Markdown: %v", err)
		}
		if !strings.Contains(string(md), "](runbook.svg)") || strings.Contains(string(md), "```svg") {
			t.Errorf("the Markdown does not show the graph beside it:\n%s", md)
		}
	})
	t.Run("markdown on stdout embeds the graph", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "", "plan", "render", example("region-outage"))
		if code != exitOK || !strings.HasPrefix(stdout, "# Runbook: region-outage") || !strings.Contains(stdout, "```svg\n<svg ") {
			t.Fatalf("code %d: %s\n%.300s", code, stderr, stdout)
		}
	})
	t.Run("standard input", func(t *testing.T) {
		b, _ := os.ReadFile(example("malware"))
		stdout, stderr, code := runCLI(t, string(b), "plan", "render", "-", "--format", "html")
		if code != exitOK || !strings.Contains(stdout, "<title>Runbook: malware</title>") {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{example("malware"), "--format", "pdf"}, `--format "pdf": use md or html`},
		{"json", []string{example("malware"), "-o", "json"}, "plan render writes md or html"},
		{"markdown named like its graph", []string{example("malware"), "--out", filepath.Join(dir, "x.svg")}, "name the Markdown file *.md"},
		{"invalid plan", []string{fixture("invalid/broken.yaml")}, "broken.yaml: "},
		{"a name without a configuration", []string{"corrupted-service"}, "no recovery.plans_dir in the configuration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", append([]string{"plan", "render"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("code %d, want %d and %q: %s", code, exitUsage, tt.want, stderr)
			}
		})
	}
}

// TestPlanRenderByName finds a plan by name in the configuration's plans directory, and shows the
// identity directory's contact details beside the plan's.
func TestPlanRenderByName(t *testing.T) {
	plans, err := filepath.Abs(filepath.Join("..", "examples", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "lifeboat.yaml")
	config := `recovery:
  plans_dir: ` + plans + `
identity:
  mode: verified
  people:
    - {id: frank, name: Frank Leroy, email: f.leroy@example.com, phone: "+33612345606"}
`
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "", "--config", cfg, "plan", "render", "corrupted-service")
	if code != exitOK {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, want := range []string{
		"# Runbook: corrupted-service",
		"| Frank Leroy | frank | — | frank.leroy@example.com; f.leroy@example.com (directory) | +33612345606 (directory) |",
		"Contact details marked (directory) come from the worker's identity directory.",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the runbook does not show %q:\n%s", want, stdout)
		}
	}
	_, stderr, code = runCLI(t, "", "--config", cfg, "plan", "render", "no-such-plan")
	if code != exitUsage || !strings.Contains(stderr, `no plan named "no-such-plan" in `+plans+" (plans: compromised-credentials, ") {
		t.Fatalf("code %d: %s", code, stderr)
	}
}

// TestPlanRenderNeverHarmsWhatIsThere: an existing file is kept without --force; a render that
// fails keeps it even with --force; and when the Markdown cannot go in place after its graph did,
// the previous graph is put back. No temporary file is left behind.
func TestPlanRenderNeverHarmsWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "runbook.md"), filepath.Join(dir, "runbook.svg")
	const oldMD, oldSVG = "the runbook printed last year\n", "<svg>last year's graph</svg>\n"
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	intact := func(path, want string) {
		t.Helper()
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s: %v, holds %q, want %q", path, err, b, want)
		}
	}
	onlyFiles := func(want ...string) {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("the folder holds %v, want %v", got, want)
		}
	}
	write(md, oldMD)
	write(svg, oldSVG)

	_, stderr, code := runCLI(t, "", "plan", "render", example("malware"), "--out", md)
	if code != exitUsage || !strings.Contains(stderr, "exists: give --force to replace it") {
		t.Fatalf("without --force: code %d: %s", code, stderr)
	}
	intact(md, oldMD)
	intact(svg, oldSVG)

	_, stderr, code = runCLI(t, "", "plan", "render", fixture("invalid/broken.yaml"), "--out", md, "--force")
	if code != exitUsage {
		t.Fatalf("an invalid plan with --force: code %d: %s", code, stderr)
	}
	intact(md, oldMD)
	intact(svg, oldSVG)
	onlyFiles("runbook.md", "runbook.svg")

	// Markdown written to runbook.html has its graph in runbook.svg, which goes in place first;
	// then the Markdown cannot replace the folder runbook.html, so the old graph is put back.
	folder := filepath.Join(dir, "runbook.html")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(folder, "keep"), "kept")
	_, stderr, code = runCLI(t, "", "plan", "render", example("malware"), "--format", "md", "--out", folder, "--force")
	if code != exitFailure || !strings.Contains(stderr, "--out "+folder) {
		t.Fatalf("replacing a folder: code %d: %s", code, stderr)
	}
	intact(svg, oldSVG)
	intact(filepath.Join(folder, "keep"), "kept")
	intact(md, oldMD)
	onlyFiles("runbook.html", "runbook.md", "runbook.svg")

	_, stderr, code = runCLI(t, "", "plan", "render", example("malware"), "--out", md, "--force")
	if code != exitOK {
		t.Fatalf("with --force: code %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(md); !strings.HasPrefix(string(b), "# Runbook: malware") {
		t.Errorf("--force did not replace the Markdown: %q", b)
	}
	if b, _ := os.ReadFile(svg); !strings.HasPrefix(string(b), "<svg ") {
		t.Errorf("--force did not replace the graph")
	}
	onlyFiles("runbook.html", "runbook.md", "runbook.svg")
}

// TestRunbookDocsRun runs every command docs/runbooks.md shows that has no placeholder, in a
// folder of the test's own where examples/ is the repository's.
func TestRunbookDocsRun(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.Symlink(examples, filepath.Join(tmp, "examples")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	ran := 0
	for _, c := range documentedCommands(string(doc)) {
		if hasPlaceholder(c.args) {
			continue
		}
		args := c.args
		ran++
		if _, stderr, code := runCLI(t, "", args...); code != exitOK {
			t.Errorf("docs/runbooks.md:%d: %s: code %d: %s", c.line, c.text, code, stderr)
		}
	}
	if ran < 3 {
		t.Fatalf("ran only %d documented commands", ran)
	}
}

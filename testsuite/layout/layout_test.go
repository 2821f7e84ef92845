// Package layout checks the project's import rules: the layers (starter → worker → workflows →
// activities → integrations), workflows free of vendor SDKs, tests that drive Lifeboat from
// outside, and notification channels that stand apart from the notify core and from each other;
// and that every package builds for macOS as far as types go.
package layout

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lifeboat-dr/lifeboat/"

// layers orders the top folders: a package may import its own layer and those below it.
var layers = map[string]int{"integrations": 0, "activities": 1, "workflows": 2, "worker": 3, "starter": 4}

// vendorSDKs are the cloud, database, messaging and identity-provider SDKs that workflows must not
// link: an ID token never reaches a workflow, only the assertion the worker signs for it.
var vendorSDKs = []string{"github.com/aws/", "cloud.google.com/go", "google.golang.org/api/", "github.com/jackc/", "github.com/minio/",
	"github.com/coreos/go-oidc", "golang.org/x/oauth2", "github.com/zitadel/"}

// pending are the arrows that break the rules today and are being taken out; the test fails when
// one of them is gone (take it off this list) and when any other breaks a rule.
var pending = []string{
	"integrations/slack imports workflows/approval",
	"testsuite/chaos (tests) imports workflows",
	"testsuite/chaos (tests) imports activities/plan",
	"testsuite/bench (tests) imports activities",
	"testsuite/bench (tests) imports activities/catalog", // the bare ceiling runs check.tcp with its declared timeout and retries
	"testsuite/bench (tests) imports activities/contract",
	"testsuite/bench (tests) imports workflows",
	"testsuite/e2e (tests) imports workflows",
	"testsuite/e2e (tests) imports workflows/approval",
	"testsuite/e2e (tests) imports activities/plan",
}

type pkg struct {
	path            string
	imports, tested []string // project packages imported by the package, and by its tests only
}

func list(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func packages(t *testing.T) []pkg {
	var out []pkg
	for _, line := range strings.Split(strings.TrimSpace(list(t, "-f", "{{.ImportPath}}|{{join .Imports \",\"}}|{{join .TestImports \",\"}},{{join .XTestImports \",\"}}", "./...")), "\n") {
		f := strings.Split(line, "|")
		p := pkg{path: strings.TrimPrefix(f[0], module)}
		own := func(list string) []string {
			var r []string
			for _, imp := range strings.Split(list, ",") {
				if rest, ok := strings.CutPrefix(imp, module); ok && rest != p.path {
					r = append(r, rest)
				}
			}
			return r
		}
		p.imports = own(f[1])
		for _, imp := range own(f[2]) {
			if !slices.Contains(p.imports, imp) && !slices.Contains(p.tested, imp) {
				p.tested = append(p.tested, imp)
			}
		}
		out = append(out, p)
	}
	return out
}

func top(path string) string { t, _, _ := strings.Cut(path, "/"); return t }

func TestImportRules(t *testing.T) {
	var broken []string
	for _, p := range packages(t) {
		from, layered := layers[top(p.path)]
		check := func(imp, label string) {
			switch {
			case top(p.path) == "testsuite":
				// Tests drive Lifeboat from outside: its binaries, the Temporal API, its configuration.
				if to := top(imp); to == "activities" || to == "workflows" || to == "starter" || to == "worker" && imp != "worker/config" {
					broken = append(broken, fmt.Sprintf("%s%s imports %s", p.path, label, imp))
				}
			case layered:
				if to, ok := layers[top(imp)]; ok && to > from {
					broken = append(broken, fmt.Sprintf("%s%s imports %s", p.path, label, imp))
				}
				// Workflows call activities by name (activities/contract); the implementation, and
				// the integrations it links, stay out of them.
				if top(p.path) == "workflows" && imp == "activities" {
					broken = append(broken, fmt.Sprintf("%s%s imports %s", p.path, label, imp))
				}
			}
		}
		for _, imp := range p.imports {
			check(imp, "")
		}
		for _, imp := range p.tested {
			if top(p.path) == "testsuite" {
				check(imp, " (tests)")
			}
		}
	}
	// workflows, and what it links: no vendor SDK.
	deps := strings.Fields(list(t, "-deps", "./workflows/..."))
	for _, sdk := range vendorSDKs {
		for _, d := range deps {
			if strings.HasPrefix(d, sdk) {
				via := "directly"
				if slices.Contains(deps, module+"activities") {
					via = "through activities"
				}
				broken = append(broken, fmt.Sprintf("workflows links %s %s", sdk, via))
				break
			}
		}
	}
	slices.Sort(broken)
	broken = slices.Compact(broken)
	for _, b := range broken {
		if !slices.Contains(pending, b) {
			t.Errorf("%s: against the import rules (starter → worker → workflows → activities → integrations; workflows link no vendor SDK; testsuite drives Lifeboat from outside)", b)
		}
	}
	for _, p := range pending {
		if !slices.Contains(broken, p) {
			t.Errorf("%q no longer happens: take it off the pending list", p)
		}
	}
}

// The README's folder table names every package folder below the top ones.
func TestReadmeFolderTableMatchesTheTree(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Folders\n")
	table, _, _ = strings.Cut(table, "\n## ")
	for _, p := range packages(t) {
		parts := strings.Split(p.path, "/")
		if len(parts) < 2 || parts[0] == "testsuite" && len(parts) > 2 {
			continue
		}
		name := parts[len(parts)-1]
		if len(parts) == 2 && !strings.Contains(table, "`"+name+"`") && !strings.Contains(table, "`"+p.path+"`") && !strings.Contains(table, p.path) {
			t.Errorf("README.md's folder table does not name %s", p.path)
		}
	}
}

// notifyCore holds the notify.Notifier interface; each channel that implements it is a package of
// its own below it, and route, which builds the channels from configuration, is the one package
// there that imports them all.
const notifyCore = "integrations/notify"

// notifyChannel returns the channel a package belongs to ("slack" for integrations/notify/slack and
// its subpackages), or "" for a package that is no channel's: the core, route, internal test support
// and everything outside integrations/notify.
func notifyChannel(path string) string {
	rest, ok := strings.CutPrefix(path, notifyCore+"/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "route" || name == "internal" {
		return ""
	}
	return name
}

// The notification channels stand apart: the core imports none of them (so that workflows, which
// send messages through it, link no channel's SDK), nor does the test support they share, and no
// channel imports another.
func TestNotifyChannelsStandApart(t *testing.T) {
	var channels, broken []string
	for _, p := range packages(t) {
		if c := notifyChannel(p.path); c != "" && !slices.Contains(channels, c) {
			channels = append(channels, c)
		}
		from := notifyChannel(p.path)
		core := p.path == notifyCore || strings.HasPrefix(p.path, notifyCore+"/internal/")
		for _, imp := range append(slices.Clone(p.imports), p.tested...) {
			to := notifyChannel(imp)
			if to != "" && (core || from != "" && from != to) {
				broken = append(broken, fmt.Sprintf("%s imports %s", p.path, imp))
			}
		}
	}
	if len(channels) == 0 {
		t.Fatalf("no channel packages below %s: the rule checks nothing", notifyCore)
	}
	for _, d := range strings.Fields(list(t, "-deps", "./workflows/...")) {
		if c := notifyChannel(strings.TrimPrefix(d, module)); c != "" {
			broken = append(broken, "workflows links "+strings.TrimPrefix(d, module))
		}
	}
	for _, b := range broken {
		t.Errorf("%s: the notify core and its test support import no channel, and a channel imports no other (channels: %s)", b, strings.Join(channels, ", "))
	}
}

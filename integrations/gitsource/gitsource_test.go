package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/gitsource/gitsourcetest"
)

// refsText renders refs as State does.
func refsText(refs []Ref) string {
	var lines []string
	for _, r := range refs {
		lines = append(lines, r.Object+" "+r.Name)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sameAs fails the test unless the mirror holds exactly the refs and history of the server's repo.
func sameAs(t *testing.T, mirror, served string) {
	t.Helper()
	wantRefs, wantLog := gitsourcetest.State(t, served)
	gotRefs, gotLog := gitsourcetest.State(t, mirror)
	if sortedLines(gotRefs) != sortedLines(wantRefs) {
		t.Fatalf("refs:\n%s\nwant:\n%s", gotRefs, wantRefs)
	}
	if gotLog != wantLog {
		t.Fatalf("git log --all:\n%s\nwant:\n%s", gotLog, wantLog)
	}
}

func TestMirrorFollowsTheServerOverAuthenticatedHTTP(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "app")
	repo.Commit("main", "first", map[string]string{"README": "hello"})
	repo.Commit("feature", "feature work", map[string]string{"f.txt": "f"})
	repo.Commit("doomed", "to be deleted", map[string]string{"d.txt": "d"})
	srv := gitsourcetest.NewHTTPServer(t, root, "deploy", "s3cret-token")
	// Every git command line is recorded, to show the credentials are in none.
	argvLog := filepath.Join(t.TempDir(), "argv")
	wrapper := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + argvLog + "\nexec git \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Git: wrapper}
	remote := Remote{URL: srv.URL("app"), Credentials: "deploy:s3cret-token"}

	unlock, err := cache.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	res, err := cache.Sync(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cloned || res.Head != "refs/heads/main" || len(res.Refs) != 3 {
		t.Fatalf("first sync: %+v", res)
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)

	// Rewritten history, a deleted branch, a new branch and a tag.
	rewritten := repo.Commit("feature", "more feature work", map[string]string{"f.txt": "f2"})
	repo.Rewrite("feature", "feature work, squashed")
	repo.Delete("doomed")
	repo.Commit("release/1", "release", map[string]string{"r.txt": "r"})
	repo.Tag("v1")
	res, err = cache.Sync(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cloned {
		t.Fatal("second sync cloned again")
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)
	if _, err := os.Stat(filepath.Join(cache.MirrorDir(), "refs", "heads", "doomed")); err == nil {
		t.Fatal("deleted branch still in the mirror")
	}
	wantRefs, _ := gitsourcetest.State(t, repo.Bare)
	if refsText(res.Refs) != sortedLines(wantRefs) {
		t.Fatalf("sync result refs %v, server %s", res.Refs, wantRefs)
	}
	listed, err := os.ReadFile(filepath.Join(cache.MirrorDir(), RefsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(listed), "HEAD refs/heads/main\n") || !strings.Contains(string(listed), repo.Tip("release/1")+" refs/heads/release/1\n") {
		t.Fatalf("%s:\n%s", RefsFile, listed)
	}
	if strings.Contains(gitsourcetest.Git(t, cache.MirrorDir(), "log", "--all", "--format=%H"), rewritten) {
		t.Fatal("the force-pushed commit is still reachable in the mirror")
	}

	// The credentials are in no command line and nowhere on disk, and a refused login names none
	// of them.
	argv, err := os.ReadFile(argvLog)
	if err != nil || !strings.Contains(string(argv), "fetch --prune --atomic") {
		t.Fatalf("recorded command lines: %q, %v", argv, err)
	}
	if strings.Contains(string(argv), "s3cret") || strings.Contains(string(argv), "ZGVwbG95") {
		t.Fatalf("a command line holds the credentials:\n%s", argv)
	}
	cfg, _ := os.ReadFile(filepath.Join(cache.MirrorDir(), "config"))
	if strings.Contains(string(cfg), "s3cret") || strings.Contains(string(cfg), "ZGVwbG95") {
		t.Fatalf("mirror config holds the credentials:\n%s", cfg)
	}
	repo.Commit("main", "after a refused login", map[string]string{"README": "hello again"})
	_, err = cache.Sync(ctx, Remote{URL: remote.URL, Credentials: "deploy:wrong-password"})
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = cache.Sync(ctx, Remote{URL: remote.URL})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("no credentials: %v", err)
	}
	if err := cache.Verify(ctx, cache.MirrorDir()); err != nil {
		t.Fatalf("mirror after refused logins: %v", err)
	}
	if _, err := cache.Sync(ctx, remote); err != nil {
		t.Fatal(err)
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)
}

func TestFailedFetchLeavesTheMirrorAsItWas(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "app")
	repo.Commit("main", "first", map[string]string{"README": "hello"})
	srv := gitsourcetest.NewHTTPServer(t, root, "", "")
	cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	remote := Remote{URL: srv.URL("app")}
	if _, err := cache.Sync(ctx, remote); err != nil {
		t.Fatal(err)
	}
	before, beforeLog := gitsourcetest.State(t, cache.MirrorDir())

	repo.Commit("main", "second", map[string]string{"README": "changed"})
	srv.Close()
	if _, err := cache.Sync(ctx, remote); err == nil || errors.Is(err, ErrAuth) {
		t.Fatalf("sync from a stopped server: %v", err)
	}
	// A lock file a killed fetch left behind does not stop the next one.
	if err := os.WriteFile(filepath.Join(cache.MirrorDir(), "packed-refs.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	after, afterLog := gitsourcetest.State(t, cache.MirrorDir())
	if after != before || afterLog != beforeLog {
		t.Fatalf("a failed fetch changed the mirror:\n%s\nwas\n%s", after, before)
	}
	if err := cache.Verify(ctx, cache.MirrorDir()); err != nil {
		t.Fatal(err)
	}
	// A rebuild that stopped between its renames (old mirror moved aside, new clone half-written)
	// is undone by the next sync, even one that cannot reach the server.
	if err := os.Rename(cache.MirrorDir(), cache.MirrorDir()+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cache.MirrorDir()+".new", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Sync(ctx, remote); err == nil {
		t.Fatal("sync from a stopped server succeeded")
	}
	if after, afterLog := gitsourcetest.State(t, cache.MirrorDir()); after != before || afterLog != beforeLog {
		t.Fatalf("the interrupted rebuild lost the mirror:\n%s\nwas\n%s", after, before)
	}
	srv.Restart(t)
	if _, err := cache.Sync(ctx, remote); err != nil {
		t.Fatal(err)
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)
	if left, _ := filepath.Glob(cache.MirrorDir() + ".*"); len(left) != 0 {
		t.Fatalf("left beside the mirror: %v", left)
	}
}

func TestDamagedMirrorIsRebuiltAside(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "app")
	repo.Commit("main", "first", map[string]string{"README": "hello"})
	repo.Commit("main", "second", map[string]string{"README": "hello, world"})
	d := gitsourcetest.NewDaemon(t, root)
	cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	remote := Remote{URL: d.URL("app")}
	if _, err := cache.Sync(ctx, remote); err != nil {
		t.Fatal(err)
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)
	// Lose one file's content from the mirror's history: a fetch finds nothing new to bring, and
	// only the check notices.
	objects := filepath.Join(cache.MirrorDir(), "objects")
	packs, _ := filepath.Glob(filepath.Join(objects, "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v", packs)
	}
	pack, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{packs[0], strings.TrimSuffix(packs[0], ".pack") + ".idx"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	gitsourcetest.GitInput(t, cache.MirrorDir(), pack, "unpack-objects", "-q")
	blob := gitsourcetest.Git(t, cache.MirrorDir(), "rev-parse", "main~1:README")
	if err := os.Remove(filepath.Join(objects, blob[:2], blob[2:])); err != nil {
		t.Fatal(err)
	}
	if err := cache.Verify(ctx, cache.MirrorDir()); err == nil {
		t.Fatal("a mirror without objects passed its check")
	}
	res, err := cache.Sync(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Rebuilt {
		t.Fatalf("damaged mirror not rebuilt: %+v", res)
	}
	sameAs(t, cache.MirrorDir(), repo.Bare)
	if left, _ := filepath.Glob(cache.MirrorDir() + ".*"); len(left) != 0 {
		t.Fatalf("left beside the mirror: %v", left)
	}
}

func TestLockExcludesASecondHolder(t *testing.T) {
	cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	unlock, err := cache.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Lock(); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	again, err := cache.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

func TestRefusesOptionsAndTransportHelpersAsURLs(t *testing.T) {
	cache := &Cache{Dir: t.TempDir()}
	for _, u := range []string{"--upload-pack=touch /tmp/x", "ext::sh -c touch% /tmp/x", ""} {
		if _, err := cache.Sync(context.Background(), Remote{URL: u}); err == nil || !strings.Contains(err.Error(), "not a URL or path") {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestCredentialsMustFitTheURL(t *testing.T) {
	cache := &Cache{Dir: t.TempDir()}
	for _, r := range []Remote{
		{URL: "https://example.com/a.git", Credentials: "hunter2"},
		{URL: "git@example.com:a.git", Credentials: "user:hunter2"},
		{URL: "/srv/git/a.git", Credentials: "user:hunter2"},
	} {
		if _, err := cache.Sync(context.Background(), r); !errors.Is(err, ErrBadCredentials) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", r.URL, err)
		}
	}
}

func TestExportWritesEachBranchsCIFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "app")
	repo.Commit("main", "ci", map[string]string{
		".github/workflows/ci.yml": "on: push", ".github/workflows/sub/deploy.yml": "on: tag",
		".gitlab-ci.yml": "stages: [test]", "Jenkinsfile": "pipeline {}", "src/main.go": "package main",
		".github/CODEOWNERS": "* @team",
	})
	repo.Commit("release/1", "release ci", map[string]string{".gitlab-ci.yml": "stages: [release]", ".github/workflows/sub/deploy.yml": ""})
	repo.Commit("docs", "no ci here", map[string]string{".github/workflows/ci.yml": "", ".gitlab-ci.yml": "", "Jenkinsfile": ""})
	cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	if _, err := cache.Sync(ctx, Remote{URL: repo.Bare}); err != nil {
		t.Fatal(err)
	}
	patterns := []string{".github/workflows/**", ".gitlab-ci.yml", "Jenkinsfile"}
	out := filepath.Join(t.TempDir(), "out")
	res, err := cache.Export(ctx, cache.MirrorDir(), out, ExportOptions{Patterns: patterns})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(out, p)
			got[filepath.ToSlash(rel)] = string(b)
		}
		return err
	})
	want := map[string]string{
		"main/.github/workflows/ci.yml":         "on: push",
		"main/.github/workflows/sub/deploy.yml": "on: tag",
		"main/.gitlab-ci.yml":                   "stages: [test]",
		"main/Jenkinsfile":                      "pipeline {}",
		"release/1/.github/workflows/ci.yml":    "on: push",
		"release/1/.gitlab-ci.yml":              "stages: [release]",
		"release/1/Jenkinsfile":                 "pipeline {}",
		BranchesFile:                            repo.Tip("docs") + " docs\n" + repo.Tip("main") + " main\n" + repo.Tip("release/1") + " release/1\n",
	}
	if len(got) != len(want) {
		t.Fatalf("exported %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if res.Files != 7 || len(res.Branches) != 3 {
		t.Fatalf("result %+v", res)
	}

	// Chosen branches only; a name that matches none is an error.
	only := filepath.Join(t.TempDir(), "only")
	if _, err := cache.Export(ctx, cache.MirrorDir(), only, ExportOptions{Branches: []string{"release/*"}, Patterns: patterns}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(only); len(entries) != 2 { // release, .lifeboat-branches
		t.Fatalf("export of release/*: %v", entries)
	}
	_, err = cache.Export(ctx, cache.MirrorDir(), filepath.Join(t.TempDir(), "none"), ExportOptions{Branches: []string{"master"}, Patterns: patterns})
	if !errors.Is(err, ErrNoBranch) {
		t.Fatalf("missing branch: %v", err)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{".github/workflows/**", ".github/workflows/ci.yml", true},
		{".github/workflows/**", ".github/workflows/a/b.yml", true},
		{".github/workflows/**", ".github/CODEOWNERS", false},
		{"Jenkinsfile", "Jenkinsfile", true},
		{"Jenkinsfile", "sub/Jenkinsfile", false},
		{"**/Jenkinsfile", "sub/Jenkinsfile", true},
		{"**/Jenkinsfile", "Jenkinsfile", true},
		{"ci/*.yml", "ci/a.yml", true},
		{"ci/*.yml", "ci/x/a.yml", false},
	} {
		if got := Match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Match(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

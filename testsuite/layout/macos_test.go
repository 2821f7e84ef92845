package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// TestEveryPackageTypeChecksForMacOS type-checks every package of the module, and every package
// it imports, as they are built for macOS on Apple silicon: the files `go build` would pick for
// darwin/arm64, without cgo (as a cross build has it). Lifeboat's own packages, tests included, are
// checked whole; the others' declarations only, which is what Lifeboat's code sees of them. It
// catches what would keep `lifeboat` from building on a Mac (a Linux-only call, a file missing
// its other-platform twin) without compiling every dependency a second time, for another target.
func TestEveryPackageTypeChecksForMacOS(t *testing.T) {
	if testing.Short() {
		t.Skip("lists and parses every dependency")
	}
	pkgs := listForMacOS(t)
	if len(pkgs) < 100 {
		t.Fatalf("go list gave %d packages; want the module and its dependencies", len(pkgs))
	}
	c := &macChecker{fset: token.NewFileSet(), byPath: map[string]*listedPackage{}, done: map[string]*types.Package{}, failed: map[string]bool{}}
	for _, p := range pkgs {
		c.byPath[p.ImportPath] = p
	}
	own := 0
	for _, p := range pkgs {
		if p.Module == nil || !p.Module.Main {
			continue
		}
		own++
		if _, err := c.check(p.ImportPath); err != nil {
			continue // reported once, below
		}
		// Test files: the package with its internal tests, then the external test package, which
		// sees the package with its internal tests (an export_test.go's names).
		if len(p.TestGoFiles) > 0 {
			withTests, err := c.checkFiles(p, p.ImportPath, append(slices.Clone(p.GoFiles), p.TestGoFiles...), true)
			if err != nil {
				if err != errImportFailed {
					t.Errorf("%s (with its tests): %v", p.ImportPath, err)
				}
				continue
			}
			c.underTest, c.variants = withTests, map[string]*types.Package{}
		}
		if len(p.XTestGoFiles) > 0 {
			if _, err := c.checkFiles(p, p.ImportPath+"_test", p.XTestGoFiles, true); err != nil && err != errImportFailed {
				t.Errorf("%s_test: %v", p.ImportPath, err)
			}
		}
		c.underTest, c.variants = nil, nil
	}
	for _, err := range c.errs {
		t.Error(err)
	}
	if own < 20 {
		t.Fatalf("checked %d of Lifeboat's packages; want every one", own)
	}
	t.Logf("type-checked %d of Lifeboat's packages and %d dependencies for darwin/arm64", own, len(c.done)-own)
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
	ImportMap    map[string]string
	Module       *struct{ Main bool }
	Error        *struct{ Err string }
}

// listForMacOS lists the module's packages, their tests' imports and every dependency, for
// darwin/arm64 without cgo.
func listForMacOS(t *testing.T) []*listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-test", "-json=ImportPath,Dir,GoFiles,TestGoFiles,XTestGoFiles,Imports,ImportMap,Module,Error", "./...")
	cmd.Dir = repo.Root(t)
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list for darwin/arm64: %v\n%s", err, stderr.String())
	}
	var pkgs []*listedPackage
	dec := json.NewDecoder(&out)
	for {
		p := new(listedPackage)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		// -test adds test variants ("p [p.test]") and test mains; the checker builds those itself.
		if strings.Contains(p.ImportPath, " ") || strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// macChecker type-checks packages from source, each once, dependencies first.
type macChecker struct {
	fset   *token.FileSet
	byPath map[string]*listedPackage
	done   map[string]*types.Package
	failed map[string]bool
	// errs are the packages that do not type-check, each once.
	errs []error
	// underTest, while an external test package is checked, is the package it tests with its
	// internal test files (an export_test.go's names). The external test package, and every
	// package between them (as go test rebuilds them), see it instead of the package alone;
	// variants holds those packages, checked again against it.
	underTest *types.Package
	variants  map[string]*types.Package
}

// dependsOn reports whether path imports target, directly or not.
func (c *macChecker) dependsOn(path, target string, seen map[string]bool) bool {
	if path == target {
		return true
	}
	if seen[path] {
		return false
	}
	seen[path] = true
	lp, ok := c.byPath[path]
	if !ok {
		return false
	}
	for _, imp := range lp.Imports {
		if c.dependsOn(imp, target, seen) {
			return true
		}
	}
	return false
}

// importFor is the package an import of resolved stands for in the package being checked.
func (c *macChecker) importFor(resolved string) (*types.Package, error) {
	u := c.underTest
	if u == nil || resolved == "unsafe" {
		return c.check(resolved)
	}
	if resolved == u.Path() {
		return u, nil
	}
	if p, ok := c.variants[resolved]; ok {
		return p, nil
	}
	if !c.dependsOn(resolved, u.Path(), map[string]bool{}) {
		return c.check(resolved)
	}
	lp := c.byPath[resolved]
	p, err := c.checkFiles(lp, resolved, lp.GoFiles, lp.Module != nil && lp.Module.Main)
	if err != nil {
		return nil, err
	}
	c.variants[resolved] = p
	return p, nil
}

func (c *macChecker) check(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	if p, ok := c.done[path]; ok {
		return p, nil
	}
	if c.failed[path] {
		return nil, errImportFailed
	}
	lp, ok := c.byPath[path]
	if !ok {
		return nil, fmt.Errorf("%s: not listed for darwin/arm64", path)
	}
	pkg, err := c.checkFiles(lp, path, lp.GoFiles, lp.Module != nil && lp.Module.Main)
	if err != nil {
		c.failed[path] = true
		if err != errImportFailed {
			c.errs = append(c.errs, err)
		}
		return nil, errImportFailed
	}
	c.done[path] = pkg
	return pkg, nil
}

// checkFiles checks files of lp's directory as package path; bodies says whether function bodies
// are checked too (Lifeboat's own code) or only declarations (a dependency's).
func (c *macChecker) checkFiles(lp *listedPackage, path string, files []string, bodies bool) (*types.Package, error) {
	var parsed []*ast.File
	mode := parser.SkipObjectResolution
	for _, name := range files {
		f, err := parser.ParseFile(c.fset, filepath.Join(lp.Dir, name), nil, mode)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, f)
	}
	var firstErr error
	importFailed := false
	conf := types.Config{
		Importer: importerFunc(func(imp string) (*types.Package, error) {
			p, err := c.importFor(resolve(lp, imp))
			importFailed = importFailed || err != nil
			return p, err
		}),
		Sizes:            types.SizesFor("gc", "arm64"),
		IgnoreFuncBodies: !bodies,
		Error: func(err error) {
			if firstErr == nil {
				firstErr = err
			}
		},
		FakeImportC: true,
	}
	pkg, _ := conf.Check(path, c.fset, parsed, nil)
	if importFailed {
		return nil, errImportFailed
	}
	if firstErr != nil {
		return nil, fmt.Errorf("%s for darwin/arm64: %w", path, firstErr)
	}
	return pkg, nil
}

// errImportFailed stands for a package that does not type-check because one it imports does not:
// the error is reported once, for the package where it is.
var errImportFailed = errors.New("an imported package does not type-check for darwin/arm64")

// resolve maps an import in lp's source to the package go list resolved it to (vendored standard
// library packages, for one).
func resolve(lp *listedPackage, imp string) string {
	if to, ok := lp.ImportMap[imp]; ok {
		return to
	}
	return imp
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

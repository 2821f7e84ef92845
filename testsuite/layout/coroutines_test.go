package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// nonBlocking are workflow functions that read a context without ever blocking on it.
var nonBlocking = map[string]bool{"Now": true, "GetLogger": true, "GetInfo": true, "GetMetricsHandler": true, "IsReplaying": true}

// contextName is how workflow code names its contexts (ctx, gctx, actionsCtx, waitsCtx…).
var contextName = regexp.MustCompile(`(^|[a-z])(ctx|Ctx)$`)

// TestCoroutinesBlockOnTheirOwnContext: a goroutine started with workflow.Go must block (Send,
// Receive, Get, Await, Sleep, or any call that may) only on the context it was given. Blocking on
// another coroutine's context panics the workflow task ("trying to block on coroutine which is
// already blocked") when both wait at once — as steps that end in the same task once did.
func TestCoroutinesBlockOnTheirOwnContext(t *testing.T) {
	root := filepath.Join(repo.Root(t), "workflows")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isWorkflowGo(call) || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[1].(*ast.FuncLit)
			if !ok {
				return true
			}
			checked++
			for _, v := range outerContexts(lit) {
				t.Errorf("%s: a goroutine started with workflow.Go passes %s, a context from outside it, to %s: block on the goroutine's own context",
					fset.Position(v.pos), v.name, v.callee)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("found only %d goroutines: the check is broken", checked)
	}
}

func isWorkflowGo(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Go" {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "workflow"
}

type outerUse struct {
	pos          token.Pos
	name, callee string
}

// outerContexts are the calls in lit's body that pass a context declared outside lit.
func outerContexts(lit *ast.FuncLit) []outerUse {
	declaredInside := func(id *ast.Ident) bool {
		if id.Obj == nil {
			return false // declared at package level or in another file: not a local context
		}
		if decl, ok := id.Obj.Decl.(ast.Node); ok {
			return decl.Pos() >= lit.Pos() && decl.End() <= lit.End()
		}
		return false
	}
	var out []outerUse
	ast.Inspect(lit.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		callee := calleeName(call)
		if nonBlocking[callee] {
			return true
		}
		for _, arg := range call.Args {
			id, ok := arg.(*ast.Ident)
			if !ok || !contextName.MatchString(id.Name) || id.Obj == nil || declaredInside(id) {
				continue
			}
			out = append(out, outerUse{pos: id.Pos(), name: id.Name, callee: callee})
		}
		return true
	})
	return out
}

func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.Ident:
		return f.Name
	}
	return "a call"
}

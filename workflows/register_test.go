package workflows

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// typeRecorder is a workflow registry that keeps what RegisterWorkflows registers.
type typeRecorder struct {
	names     []string
	behaviors map[string]workflow.VersioningBehavior
}

func (r *typeRecorder) RegisterWorkflow(w any) {
	r.names = append(r.names, fmt.Sprintf("%T registered without a name", w))
}

func (r *typeRecorder) RegisterDynamicWorkflow(_ any, _ workflow.DynamicRegisterOptions) {
	r.names = append(r.names, "a dynamic workflow")
}

func (r *typeRecorder) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.names = append(r.names, o.Name)
	if r.behaviors == nil {
		r.behaviors = map[string]workflow.VersioningBehavior{}
	}
	r.behaviors[o.Name] = o.VersioningBehavior
}

// registered returns the workflow types RegisterWorkflows registers, in order, with their
// versioning behaviors.
func registered(t *testing.T) *typeRecorder {
	t.Helper()
	var r typeRecorder
	RegisterWorkflows(&r)
	if len(r.names) == 0 {
		t.Fatal("RegisterWorkflows registered nothing")
	}
	return &r
}

// Every workflow type is registered once under its name and declares how its runs move between
// worker versions: a versioned worker refuses to start (the SDK panics) when a type declares none.
func TestEveryWorkflowDeclaresAVersioningBehavior(t *testing.T) {
	r := registered(t)
	seen := map[string]bool{}
	for _, name := range r.names {
		if seen[name] {
			t.Errorf("%s is registered twice", name)
		}
		seen[name] = true
		switch b := r.behaviors[name]; b {
		case workflow.VersioningBehaviorPinned, workflow.VersioningBehaviorAutoUpgrade:
		default:
			t.Errorf("%s declares no versioning behavior (%d): a versioned worker would refuse to start", name, b)
		}
	}
	if got := len(Registrations()); got != len(r.names) {
		t.Errorf("Registrations lists %d types, RegisterWorkflows registers %d", got, len(r.names))
	}
	for _, reg := range Registrations() {
		if strings.TrimSpace(reg.Why) == "" {
			t.Errorf("%s does not say why it is %s", reg.Name, behaviorName(reg.Versioning))
		}
	}
}

// behaviorName is how docs/upgrading.md and the temporal CLI write a versioning behavior.
func behaviorName(b workflow.VersioningBehavior) string {
	switch b {
	case workflow.VersioningBehaviorPinned:
		return "Pinned"
	case workflow.VersioningBehaviorAutoUpgrade:
		return "AutoUpgrade"
	}
	return "unspecified"
}

// docs/upgrading.md lists every workflow type with the behavior it is registered with, and why.
func TestUpgradingDocListsEachWorkflowsBehavior(t *testing.T) {
	b, err := os.ReadFile("../docs/upgrading.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, reg := range Registrations() {
		row := "| `" + reg.Name + "` | " + behaviorName(reg.Versioning) + " | " + reg.Why + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/upgrading.md has no row\n%s", row)
		}
	}
}

// historyFiles returns the recorded histories, each with its workflow type.
func historyFiles(t *testing.T) map[string]*historypb.History {
	t.Helper()
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*historypb.History, len(files))
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(h.GetEvents()) == 0 || h.Events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
			t.Fatalf("%s: does not begin with WorkflowExecutionStarted", f)
		}
		out[filepath.Base(f)] = h
	}
	return out
}

func workflowType(h *historypb.History) string {
	return h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}

// Every registered workflow type has at least one recorded history, so that the replay test
// guards its running workflows; every history is of a registered type.
func TestEveryRegisteredWorkflowHasARecordedHistory(t *testing.T) {
	r := registered(t)
	recorded := map[string][]string{}
	for file, h := range historyFiles(t) {
		recorded[workflowType(h)] = append(recorded[workflowType(h)], file)
	}
	for _, name := range r.names {
		if len(recorded[name]) == 0 {
			t.Errorf("workflow type %s has no recorded history in testdata/histories: add a run of it to recordHistories and record it with go test ./workflows -run TestReplay -record", name)
		}
	}
	for typ, files := range recorded {
		if !slices.Contains(r.names, typ) {
			t.Errorf("%s: workflow type %s is not registered", strings.Join(files, ", "), typ)
		}
	}
}

// versionCalls returns the change IDs of the workflow.GetVersion calls in the package's code, each
// with the highest version the code supports: string literals or constants of the package.
func versionCalls(t *testing.T) map[string]int {
	t.Helper()
	fset := token.NewFileSet()
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, path := range sources {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	consts := map[string]string{}
	var calls []*ast.CallExpr
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				// runner.version calls GetVersion with the change its callers name, which the
				// case below reads from them.
				if n.Recv != nil && n.Name.Name == "version" {
					return false
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					break
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "workflow" && sel.Sel.Name == "GetVersion" {
					calls = append(calls, n)
				}
				// r.version(ctx, change) is GetVersion(ctx, change, DefaultVersion, 1) in runs
				// from before the fast path.
				if sel.Sel.Name == "version" && len(n.Args) == 2 {
					calls = append(calls, &ast.CallExpr{Fun: n.Fun, Lparen: n.Lparen, Args: []ast.Expr{n.Args[0], n.Args[1],
						&ast.Ident{Name: "DefaultVersion"}, &ast.BasicLit{Kind: token.INT, Value: "1"}}})
				}
			}
			return true
		})
	}
	out := map[string]int{}
	for _, c := range calls {
		pos := fset.Position(c.Pos())
		if len(c.Args) != 4 {
			t.Fatalf("%s: GetVersion with %d arguments", pos, len(c.Args))
		}
		var id string
		switch a := c.Args[1].(type) {
		case *ast.BasicLit:
			id, _ = strconv.Unquote(a.Value)
		case *ast.Ident:
			id = consts[a.Name]
		}
		lit, ok := c.Args[3].(*ast.BasicLit)
		if id == "" || !ok || lit.Kind != token.INT {
			t.Fatalf("%s: write GetVersion's change ID as a string constant and its maximum as a number, so that this test can read them", pos)
		}
		supported, _ := strconv.Atoi(lit.Value)
		out[id] = max(out[id], supported)
	}
	if len(out) == 0 {
		t.Fatal("found no workflow.GetVersion call: the search is broken")
	}
	return out
}

// recordedVersions returns the versions each change ID was recorded with in the histories, and
// the files that recorded them.
func recordedVersions(t *testing.T, histories map[string]*historypb.History) map[string]map[int][]string {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	out := map[string]map[int][]string{}
	for file, h := range histories {
		for _, e := range h.Events {
			m := e.GetMarkerRecordedEventAttributes()
			if e.GetEventType() != enumspb.EVENT_TYPE_MARKER_RECORDED || m.GetMarkerName() != "Version" {
				continue
			}
			var id string
			var v int
			if err := dc.FromPayloads(m.GetDetails()["change-id"], &id); err != nil {
				t.Fatalf("%s: event %d: change-id: %v", file, e.GetEventId(), err)
			}
			if err := dc.FromPayloads(m.GetDetails()["version"], &v); err != nil {
				t.Fatalf("%s: event %d: version: %v", file, e.GetEventId(), err)
			}
			if out[id] == nil {
				out[id] = map[int][]string{}
			}
			if !slices.Contains(out[id][v], file) {
				out[id][v] = append(out[id][v], file)
			}
		}
	}
	return out
}

// Every workflow.GetVersion branch the code has, at its newest version, ran in some recorded
// history: a change put behind GetVersion since the last recording is replayed only once a run
// that took it is recorded.
func TestEveryVersionedChangeHasARecordedHistory(t *testing.T) {
	recorded := recordedVersions(t, historyFiles(t))
	for id, newest := range versionCalls(t) {
		if len(recorded[id][newest]) == 0 {
			t.Errorf("change %q (version %d) is in no recorded history: add a run that takes it to recordHistories and record it with go test ./workflows -run TestReplay -record", id, newest)
		}
	}
}

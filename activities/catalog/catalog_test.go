package catalog

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/actions.md")

// docs/actions.md is what the declarations say.
func TestActionsDoc(t *testing.T) {
	const path = "../../docs/actions.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not what the declarations say: run go test ./activities/catalog -run TestActionsDoc -update", path)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		with    map[string]any
		want    Route53Params
		wantErr string
	}{
		{"defaults", map[string]any{"zone_id": "Z1", "record": "db", "value": "x"},
			Route53Params{ZoneID: "Z1", Record: "db", Value: "x", Type: "CNAME", TTL: 60}, ""},
		{"JSON numbers", map[string]any{"zone_id": "Z1", "record": "db", "value": "x", "ttl": float64(30), "type": "A"},
			Route53Params{ZoneID: "Z1", Record: "db", Value: "x", Type: "A", TTL: 30}, ""},
		{"missing", map[string]any{"zone_id": "Z1", "record": "db"}, Route53Params{}, "aws.route53_upsert: parameter value is required"},
		{"unknown", map[string]any{"zone_id": "Z1", "record": "db", "value": "x", "zone": "y"}, Route53Params{},
			`aws.route53_upsert has no parameter "zone" (it has zone_id, record, type, value, ttl)`},
		{"enum", map[string]any{"zone_id": "Z1", "record": "db", "value": "x", "type": "MX"}, Route53Params{},
			`aws.route53_upsert: parameter type: want one of A, AAAA, CNAME, TXT, not "MX"`},
		{"below min", map[string]any{"zone_id": "Z1", "record": "db", "value": "x", "ttl": 0}, Route53Params{},
			"aws.route53_upsert: parameter ttl: want at least 1, not 0"},
		{"fraction", map[string]any{"zone_id": "Z1", "record": "db", "value": "x", "ttl": 1.5}, Route53Params{},
			"aws.route53_upsert: parameter ttl: want a whole number, not 1.5"},
		{"wrong type", map[string]any{"zone_id": 5, "record": "db", "value": "x"}, Route53Params{},
			"aws.route53_upsert: parameter zone_id: want a string, not 5 (quote it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Route53Upsert.Decode(tt.with)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	p, err := PostgresPromote.Decode(map[string]any{"dsn_secret": "orders"})
	if err != nil || p.Wait != time.Minute || p.DSNSecret != "orders" {
		t.Fatalf("promote defaults: %+v %v", p, err)
	}
	if _, err := PostgresPromote.Decode(map[string]any{"dsn_secret": "postgres://u:p@h/db"}); err == nil {
		t.Fatal("a DSN given as a secret name was accepted")
	}
}

// Every mutating action names its targets, so that drill.with can replace them, unless a drill can
// only skip it; and every action that undoes another exists.
func TestDeclarationsAreComplete(t *testing.T) {
	for _, s := range All() {
		if s.Effect == Mutating && len(s.Targets()) == 0 {
			t.Errorf("%s changes something but declares no target parameter", s.Name)
		}
		if s.Undo != "" {
			if _, ok := Lookup(s.Undo); !ok {
				t.Errorf("%s: undone by %s, which is not declared", s.Name, s.Undo)
			}
		}
		if len(s.Outputs) == 0 {
			t.Errorf("%s declares no outputs", s.Name)
		}
	}
}

// Every parameter an action declares is read by the code that carries the action out: a field of
// its parameter struct is used (p.Field) in a function that takes that struct, in activities/ (the
// worker's actions) or workflows/ (the actions the workflow runs itself).
func TestEveryParameterIsRead(t *testing.T) {
	read := map[string]map[string]bool{} // struct type name → fields read
	declared := declaredTypes(t)         // catalog.X → its parameter struct's name
	for _, dir := range []string{"..", "../../workflows"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				var ftype *ast.FuncType
				var body *ast.BlockStmt
				switch fn := n.(type) {
				case *ast.FuncDecl:
					ftype, body = fn.Type, fn.Body
				case *ast.FuncLit:
					ftype, body = fn.Type, fn.Body
				default:
					return true
				}
				if body == nil {
					return true
				}
				vars := map[string]string{} // variable → catalog struct type
				for _, field := range ftype.Params.List {
					if sel, ok := field.Type.(*ast.SelectorExpr); ok {
						if x, ok := sel.X.(*ast.Ident); ok && x.Name == "catalog" {
							for _, name := range field.Names {
								vars[name.Name] = sel.Sel.Name
							}
						}
					}
				}
				// Variables given a decoded value: p, err := catalog.RestoreAsset.Decode(with).
				ast.Inspect(body, func(n ast.Node) bool {
					as, ok := n.(*ast.AssignStmt)
					if !ok || len(as.Rhs) != 1 {
						return true
					}
					call, ok := as.Rhs[0].(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "Decode" {
						return true
					}
					inner, ok := sel.X.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					if x, ok := inner.X.(*ast.Ident); ok && x.Name == "catalog" && declared[inner.Sel.Name] != "" {
						if id, ok := as.Lhs[0].(*ast.Ident); ok {
							vars[id.Name] = declared[inner.Sel.Name]
						}
					}
					return true
				})
				ast.Inspect(body, func(n ast.Node) bool {
					sel, ok := n.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					if x, ok := sel.X.(*ast.Ident); ok {
						if typ, ok := vars[x.Name]; ok {
							if read[typ] == nil {
								read[typ] = map[string]bool{}
							}
							read[typ][sel.Sel.Name] = true
						}
					}
					return true
				})
				return true
			})
		}
	}
	for _, s := range All() {
		typ := s.ParamsType()
		for i := range typ.NumField() {
			if f := typ.Field(i); !read[typ.Name()][f.Name] {
				t.Errorf("%s: parameter %s (%s.%s) is never read", s.Name, s.Params[i].Name, typ.Name(), f.Name)
			}
		}
	}
}

// declaredTypes maps each declaration in actions.go (X = declare[T](…)) to T.
func declaredTypes(t *testing.T) map[string]string {
	file, err := parser.ParseFile(token.NewFileSet(), "actions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok {
			return true
		}
		if ix, ok := call.Fun.(*ast.IndexExpr); ok {
			if fn, ok := ix.X.(*ast.Ident); ok && fn.Name == "declare" {
				if typ, ok := ix.Index.(*ast.Ident); ok {
					out[vs.Names[0].Name] = typ.Name
				}
			}
		}
		return true
	})
	if len(out) != len(All()) {
		t.Fatalf("found %d declarations in actions.go, want %d", len(out), len(All()))
	}
	return out
}

// A check bounds its own attempts by its timeout parameter, given or by default; an action that
// does not bound itself, or a value that is not a duration, gives no bound.
func TestAttemptBound(t *testing.T) {
	for _, tc := range []struct {
		action string
		with   map[string]any
		want   time.Duration
	}{
		{"check.tcp", map[string]any{"address": "db:5432"}, 5 * time.Second},
		{"check.tcp", map[string]any{"address": "db:5432", "timeout": "2s"}, 2 * time.Second},
		{"check.tcp", map[string]any{"address": "db:5432", "timeout": "1m"}, time.Minute},
		{"check.http", map[string]any{"url": "https://status.example.com"}, 10 * time.Second},
		{"check.tcp", map[string]any{"address": "db:5432", "timeout": 3}, 0},
		{"check.dns", map[string]any{"name": "db.example.com"}, 0},
		{"postgres.promote", map[string]any{"dsn_secret": "db"}, 0},
	} {
		s, ok := Lookup(tc.action)
		if !ok {
			t.Fatalf("no action %s", tc.action)
		}
		got, bounded := s.AttemptBound(tc.with)
		if got != tc.want || bounded != (tc.want > 0) {
			t.Errorf("%s %v: %s, %v; want %s", tc.action, tc.with, got, bounded, tc.want)
		}
	}
}

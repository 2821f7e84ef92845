package plan

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzPlanParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nspec: {steps: [{id: a, needs: [a]}]}"))
	f.Add([]byte("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nspec:\n  objectives: {rto: x}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		verr := ValidateWith(p, DefaultActions())
		order, oerr := p.Order()
		if _, err := p.Levels(); (err == nil) != (oerr == nil) {
			t.Fatalf("Order: %v, Levels: %v", oerr, err)
		}
		_ = Diff(p, p)
		for _, s := range p.Spec.Steps {
			p.Resolve(s.ID)
		}
		if verr == nil {
			if oerr != nil || len(order) != len(p.Spec.Steps) {
				t.Fatalf("a valid plan without an order: %v", oerr)
			}
			if d := Diff(p, p); len(d) != 0 {
				t.Fatalf("a plan differs from itself: %v", d)
			}
		}
	})
}

func FuzzPlanExpr(f *testing.F) {
	for _, s := range []string{
		`steps.a.choice == "restore" && steps.b.outputs.lag_seconds < 300`,
		`!(steps.a.status == 'failed') || false`,
		`-1.5 <= steps.x.outputs.n`,
		`((true))`,
		`"\"" == '\''`,
		`steps.a.outputs.k`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			if _, ok := err.(*ExprError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		_ = e.Refs()
		_ = e.comparisons()
		for _, v := range []Value{StringValue("x"), NumberValue(1), BoolValue(true)} {
			_, _ = e.Eval(func(Ref) (Value, bool) { return v, true })
		}
		_, _ = e.Eval(func(Ref) (Value, bool) { return Value{}, false })
	})
}

package plan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// env is the state of a run: steps' statuses, choices and outputs.
var env = map[string]Value{
	"steps.check.status":           StringValue(StatusSucceeded),
	"steps.check.outputs.lag":      NumberValue(120),
	"steps.check.outputs.role":     StringValue("replica"),
	"steps.check.outputs.healthy":  BoolValue(true),
	"steps.decide.choice":          StringValue("restore"),
	"steps.broken.status":          StringValue(StatusFailed),
	"steps.decide.status":          StringValue(StatusSucceeded),
	"steps.check.outputs.zero_lag": NumberValue(0),
}

func lookup(r Ref) (Value, bool) {
	v, ok := env[r.String()]
	return v, ok
}

func TestPlanEval(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{`true`, true},
		{`steps.check.status == "succeeded"`, true},
		{`steps.check.outputs.lag < 300`, true},
		{`steps.check.outputs.lag <= 120 && steps.check.outputs.lag >= 120`, true},
		{`steps.check.outputs.lag > 120.5`, false},
		{`steps.check.outputs.lag != 120`, false},
		{`steps.check.outputs.zero_lag == -0`, true},
		{`-1 < steps.check.outputs.zero_lag`, true},
		{`steps.decide.choice == 'restore'`, true},
		{`steps.check.outputs.healthy`, true},
		{`!steps.check.outputs.healthy`, false},
		{`"a \"quoted\" word" == 'a "quoted" word'`, true},
		// && binds tighter than ||.
		{`true || false && false`, true},
		{`(true || false) && false`, false},
		{`false && false || true`, true},
		// ! binds tighter than &&, and applies to one comparison only in parentheses.
		{`!false && false`, false},
		{`!(steps.broken.status == "succeeded")`, true},
		{`!!true`, true},
		// Short-circuits: the right side's missing output is not looked at.
		{`steps.broken.status == "succeeded" && steps.broken.outputs.lag < 5`, false},
		{`steps.broken.status == "failed" || steps.broken.outputs.lag < 5`, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Eval(lookup)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlanEvalErrors(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"unknown reference", `steps.check.outputs.missing == 1`, "column 1: steps.check.outputs.missing has no value"},
		{"unknown reference on the right", `steps.check.status == "succeeded" && steps.check.outputs.nope`, "column 38: steps.check.outputs.nope has no value"},
		{"output of another type", `steps.check.outputs.role == 1`, `column 26: cannot compare a string ("replica") with a number (1)`},
		{"ordering of strings", `steps.check.outputs.role < 1`, `column 26: < compares numbers, not a string ("replica") and a number (1)`},
		{"a number where a boolean goes", `steps.check.outputs.lag && true`, "column 1: && needs booleans, not a number (120)"},
		{"negating a string", `!steps.check.outputs.role`, `column 2: ! needs a boolean, not a string ("replica")`},
		{"a result that is not a boolean", `steps.check.outputs.role`, `column 1: the condition is a string ("replica"), not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Eval(lookup)
			var ee *ExprError
			if !errors.As(err, &ee) || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanParseExprErrors(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"empty", `  `, "column 1: empty condition"},
		{"single =", `steps.a.status = "failed"`, `column 16: unexpected "=": use == to compare`},
		{"single &", `true & false`, `column 6: unexpected "&": use && for "and"`},
		{"single |", `true | false`, `column 6: unexpected "|": use || for "or"`},
		{"unterminated string", `steps.a.choice == "restore`, "column 19: unterminated string"},
		{"bad escape", `"a\n"`, `column 3: unknown escape: use \\, \" or \'`},
		{"malformed number", `steps.a.outputs.lag < 1.`, `column 23: malformed number "1."`},
		{"number glued to a word", `steps.a.outputs.lag < 10s`, `column 23: malformed number starting "10s"`},
		{"unknown name", `restore == steps.a.choice`, `column 1: unknown name "restore": use steps.<id>.outputs.<key>, steps.<id>.choice or steps.<id>.status, or true or false`},
		{"unknown field", `steps.a.result == 1`, `column 1: unknown reference "steps.a.result": use steps.<id>.outputs.<key>, steps.<id>.choice or steps.<id>.status`},
		{"outputs without a key", `steps.a.outputs == 1`, `column 1: unknown reference "steps.a.outputs"`},
		{"bad step id", `steps.A.status == "failed"`, `column 1: "steps.A.status": "A" is not a step id`},
		{"missing operand", `steps.a.status == `, "column 19: expected a value, a reference or \"(\", found end of condition"},
		{"missing right parenthesis", `(true && false`, "column 15: expected \")\" to close the \"(\" at column 1, found end of condition"},
		{"extra right parenthesis", `true)`, `column 5: unexpected ")" after the condition`},
		{"two values", `true false`, `column 6: unexpected "false" after the condition`},
		{"chained comparison", `1 < steps.a.outputs.x < 3`, `column 23: comparisons do not chain: put parentheses around one side of "<"`},
		{"columns count characters", `"é" == 1`, "column 5: cannot compare a string with a number"},
		{"strange character", `true ; false`, `column 6: unexpected ';'`},
		{"not a boolean", `"yes"`, "column 1: a condition must be true or false, not a string"},
		{"status against a number", `steps.a.status == 1`, "column 16: cannot compare a string with a number"},
		{"ordering strings", `steps.a.choice < "b"`, "column 1: < compares numbers, not a string"},
		{"&& of a number", `true && 1`, "column 9: && needs booleans, not a number"},
		{"! of a string", `!"x"`, "column 2: ! needs a boolean, not a string"},
		{"too deep", strings.Repeat("(", 70) + "true" + strings.Repeat(")", 70), "column 66: condition nests deeper than 64 levels"},
		{"too long", strings.Repeat(" ", MaxExprLen) + "true", "column 1: condition is 4100 bytes: the limit is 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseExpr(tt.expr)
			var ee *ExprError
			if !errors.As(err, &ee) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanRefs(t *testing.T) {
	e, err := ParseExpr(`steps.decide.choice == "restore" && (steps.check.outputs.lag < 300 || steps.decide.choice == "repair") && steps.check.status != "skipped"`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range e.Refs() {
		got = append(got, r.String())
	}
	if want := "steps.decide.choice steps.check.outputs.lag steps.check.status"; strings.Join(got, " ") != want {
		t.Fatalf("refs %v, want %s", got, want)
	}
}

func TestPlanValueOf(t *testing.T) {
	tests := []struct {
		in   any
		want Value
	}{
		{"x", StringValue("x")},
		{true, BoolValue(true)},
		{3, NumberValue(3)},
		{int64(-4), NumberValue(-4)},
		{2.5, NumberValue(2.5)},
		{json.Number("17"), NumberValue(17)},
	}
	for _, tt := range tests {
		got, err := ValueOf(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ValueOf(%#v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ValueOf([]string{"a"}); err == nil {
		t.Error("a list became a value")
	}
}

func TestPlanNestingLimit(t *testing.T) {
	if _, err := ParseExpr(strings.Repeat("(", 64) + "true" + strings.Repeat(")", 64)); err != nil {
		t.Fatalf("64 levels: %v", err)
	}
	if _, err := ParseExpr(strings.Repeat("!", 65) + "true"); err == nil {
		t.Fatal("65 levels of ! parsed")
	}
}

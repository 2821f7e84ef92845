package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on conditions.
const (
	MaxExprLen   = 4096
	maxExprDepth = 64
)

// Field is the part of a step's result a condition refers to.
type Field string

// The fields.
const (
	FieldOutputs Field = "outputs" // steps.<id>.outputs.<key>: an action's (or child plan's) output
	FieldChoice  Field = "choice"  // steps.<id>.choice: the option a decision step chose
	FieldStatus  Field = "status"  // steps.<id>.status: succeeded, failed or skipped
)

// The statuses steps.<id>.status takes.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

var statuses = []string{StatusSucceeded, StatusFailed, StatusSkipped}

// Ref is a reference, in a condition, to a step's result.
type Ref struct {
	Step  string `json:"step"`
	Field Field  `json:"field"`
	// Key is the output's name, for FieldOutputs.
	Key string `json:"key,omitempty"`
}

func (r Ref) String() string {
	if r.Field == FieldOutputs {
		return "steps." + r.Step + ".outputs." + r.Key
	}
	return "steps." + r.Step + "." + string(r.Field)
}

// ValueKind is the type of a condition's value.
type ValueKind int

// The kinds of values.
const (
	anyKind ValueKind = iota // no value, or statically unknown (an output)
	StringKind
	NumberKind
	BoolKind
)

func (k ValueKind) String() string {
	switch k {
	case StringKind:
		return "string"
	case NumberKind:
		return "number"
	case BoolKind:
		return "boolean"
	}
	return "value"
}

// Value is a string, a number or a boolean.
type Value struct {
	kind ValueKind
	s    string
	n    float64
	b    bool
}

// StringValue makes a string value.
func StringValue(s string) Value { return Value{kind: StringKind, s: s} }

// NumberValue makes a number value.
func NumberValue(n float64) Value { return Value{kind: NumberKind, n: n} }

// BoolValue makes a boolean value.
func BoolValue(b bool) Value { return Value{kind: BoolKind, b: b} }

// Kind is the value's type; the zero Value has none.
func (v Value) Kind() ValueKind { return v.kind }

// Str is a string value's string.
func (v Value) Str() string { return v.s }

// Num is a number value's number.
func (v Value) Num() float64 { return v.n }

// Bool is a boolean value's truth.
func (v Value) Bool() bool { return v.b }

func (v Value) equal(w Value) bool { return v.kind == w.kind && v.s == w.s && v.n == w.n && v.b == w.b }

// String writes v as a literal of the condition language.
func (v Value) String() string {
	switch v.kind {
	case StringKind:
		return strconv.Quote(v.s)
	case NumberKind:
		return strconv.FormatFloat(v.n, 'g', -1, 64)
	case BoolKind:
		return strconv.FormatBool(v.b)
	}
	return "<none>"
}

// ValueOf converts an output, as an action returns it or JSON decodes it, to a value: strings,
// booleans, Go numbers and json.Number. Other types are errors.
func ValueOf(v any) (Value, error) {
	switch v := v.(type) {
	case string:
		return StringValue(v), nil
	case bool:
		return BoolValue(v), nil
	case float64:
		return NumberValue(v), nil
	case float32:
		return NumberValue(float64(v)), nil
	case int:
		return NumberValue(float64(v)), nil
	case int64:
		return NumberValue(float64(v)), nil
	case int32:
		return NumberValue(float64(v)), nil
	case uint64:
		return NumberValue(float64(v)), nil
	case uint32:
		return NumberValue(float64(v)), nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return Value{}, fmt.Errorf("number %q: %w", v, err)
		}
		return NumberValue(f), nil
	}
	return Value{}, fmt.Errorf("%T is not a string, number or boolean", v)
}

// ExprError is a condition that does not parse or type-check, or fails to evaluate; Col is the
// 1-based column, in characters, where the problem is.
type ExprError struct {
	Col int
	Msg string
}

func (e *ExprError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Expr is a parsed condition. The language has string ("..." or '...'), number and true/false
// literals; references to steps' results (steps.<id>.outputs.<key>, steps.<id>.choice,
// steps.<id>.status); the comparisons == != < <= > >= (which do not chain); ! (tightest), &&, ||
// (loosest), and parentheses. == and != compare values of one type; the ordering comparisons take
// numbers; !, && and || take booleans and short-circuit.
type Expr struct {
	src  string
	root node
}

// ParseExpr parses and type-checks a condition. Errors are *ExprError.
func ParseExpr(src string) (*Expr, error) {
	if len(src) > MaxExprLen {
		return nil, &ExprError{Col: 1, Msg: fmt.Sprintf("condition is %d bytes: the limit is %d", len(src), MaxExprLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &ExprError{Col: 1, Msg: "condition is not valid UTF-8"}
	}
	p := &parser{src: src}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if p.peek().kind == tokEOF {
		return nil, p.errAt(0, "empty condition")
	}
	root, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t.pos, fmt.Sprintf("unexpected %s after the condition", t.describe()))
	}
	e := &Expr{src: src, root: root}
	k, err := e.check(root)
	if err != nil {
		return nil, err
	}
	if k != anyKind && k != BoolKind {
		return nil, e.errAt(root.pos(), fmt.Sprintf("a condition must be true or false, not a %s", k))
	}
	return e, nil
}

// String returns the condition as written.
func (e *Expr) String() string { return e.src }

// Refs returns the references in the condition, in the order they first appear.
func (e *Expr) Refs() []Ref {
	var refs []Ref
	walk(e.root, func(n node) {
		if r, ok := n.(*refNode); ok && !contains(refs, r.ref) {
			refs = append(refs, r.ref)
		}
	})
	return refs
}

// Eval evaluates the condition. env returns a reference's value, or false when it has none; a
// reference without a value, an operand of the wrong type and a non-boolean result are errors
// (*ExprError). && and || evaluate their right side only when the left does not decide, so
// `steps.a.status == "succeeded" && steps.a.outputs.lag < 5` does not need a's outputs when a failed.
func (e *Expr) Eval(env func(ref Ref) (Value, bool)) (bool, error) {
	v, err := e.eval(e.root, env)
	if err != nil {
		return false, err
	}
	if v.kind != BoolKind {
		return false, e.errAt(e.root.pos(), fmt.Sprintf("the condition is a %s (%s), not true or false", v.kind, v))
	}
	return v.b, nil
}

func (e *Expr) eval(n node, env func(Ref) (Value, bool)) (Value, error) {
	switch n := n.(type) {
	case *litNode:
		return n.v, nil
	case *refNode:
		v, ok := env(n.ref)
		if !ok || v.kind == anyKind {
			return Value{}, e.errAt(n.at, n.ref.String()+" has no value")
		}
		return v, nil
	case *notNode:
		v, err := e.eval(n.x, env)
		if err != nil {
			return Value{}, err
		}
		if v.kind != BoolKind {
			return Value{}, e.errAt(n.x.pos(), fmt.Sprintf("! needs a boolean, not a %s (%s)", v.kind, v))
		}
		return BoolValue(!v.b), nil
	case *binNode:
		l, err := e.eval(n.l, env)
		if err != nil {
			return Value{}, err
		}
		if n.op == "&&" || n.op == "||" {
			if l.kind != BoolKind {
				return Value{}, e.errAt(n.l.pos(), fmt.Sprintf("%s needs booleans, not a %s (%s)", n.op, l.kind, l))
			}
			if l.b == (n.op == "||") {
				return l, nil
			}
			r, err := e.eval(n.r, env)
			if err != nil {
				return Value{}, err
			}
			if r.kind != BoolKind {
				return Value{}, e.errAt(n.r.pos(), fmt.Sprintf("%s needs booleans, not a %s (%s)", n.op, r.kind, r))
			}
			return r, nil
		}
		r, err := e.eval(n.r, env)
		if err != nil {
			return Value{}, err
		}
		return e.compare(n, l, r)
	}
	return Value{}, e.errAt(0, "malformed condition")
}

func (e *Expr) compare(n *binNode, l, r Value) (Value, error) {
	switch n.op {
	case "==", "!=":
		if l.kind != r.kind {
			return Value{}, e.errAt(n.at, fmt.Sprintf("cannot compare a %s (%s) with a %s (%s)", l.kind, l, r.kind, r))
		}
		return BoolValue(l.equal(r) == (n.op == "==")), nil
	}
	if l.kind != NumberKind || r.kind != NumberKind {
		return Value{}, e.errAt(n.at, fmt.Sprintf("%s compares numbers, not a %s (%s) and a %s (%s)", n.op, l.kind, l, r.kind, r))
	}
	var b bool
	switch n.op {
	case "<":
		b = l.n < r.n
	case "<=":
		b = l.n <= r.n
	case ">":
		b = l.n > r.n
	case ">=":
		b = l.n >= r.n
	}
	return BoolValue(b), nil
}

// check returns the static type of n (anyKind for outputs), or the first type error.
func (e *Expr) check(n node) (ValueKind, error) {
	switch n := n.(type) {
	case *litNode:
		return n.v.kind, nil
	case *refNode:
		if n.ref.Field == FieldOutputs {
			return anyKind, nil
		}
		return StringKind, nil
	case *notNode:
		k, err := e.check(n.x)
		if err != nil {
			return 0, err
		}
		if k != anyKind && k != BoolKind {
			return 0, e.errAt(n.x.pos(), fmt.Sprintf("! needs a boolean, not a %s", k))
		}
		return BoolKind, nil
	case *binNode:
		l, err := e.check(n.l)
		if err != nil {
			return 0, err
		}
		r, err := e.check(n.r)
		if err != nil {
			return 0, err
		}
		switch n.op {
		case "&&", "||":
			for _, side := range []struct {
				k ValueKind
				n node
			}{{l, n.l}, {r, n.r}} {
				if side.k != anyKind && side.k != BoolKind {
					return 0, e.errAt(side.n.pos(), fmt.Sprintf("%s needs booleans, not a %s", n.op, side.k))
				}
			}
		case "==", "!=":
			if l != anyKind && r != anyKind && l != r {
				return 0, e.errAt(n.at, fmt.Sprintf("cannot compare a %s with a %s", l, r))
			}
		default:
			for _, side := range []struct {
				k ValueKind
				n node
			}{{l, n.l}, {r, n.r}} {
				if side.k != anyKind && side.k != NumberKind {
					return 0, e.errAt(side.n.pos(), fmt.Sprintf("%s compares numbers, not a %s", n.op, side.k))
				}
			}
		}
		return BoolKind, nil
	}
	return 0, e.errAt(0, "malformed condition")
}

// comparison is a reference compared with a literal.
type comparison struct {
	ref Ref
	lit Value
	col int // of the literal
}

// comparisons returns the references compared with a literal (steps.x.choice == "restore").
func (e *Expr) comparisons() []comparison {
	var out []comparison
	walk(e.root, func(n node) {
		b, ok := n.(*binNode)
		if !ok || b.op == "&&" || b.op == "||" {
			return
		}
		if r, ok := b.l.(*refNode); ok {
			if l, ok := b.r.(*litNode); ok {
				out = append(out, comparison{r.ref, l.v, e.col(l.at)})
			}
		}
		if r, ok := b.r.(*refNode); ok {
			if l, ok := b.l.(*litNode); ok {
				out = append(out, comparison{r.ref, l.v, e.col(l.at)})
			}
		}
	})
	return out
}

// refCols returns each reference with the column where it appears.
func (e *Expr) refCols() []comparison {
	var out []comparison
	walk(e.root, func(n node) {
		if r, ok := n.(*refNode); ok {
			out = append(out, comparison{ref: r.ref, col: e.col(r.at)})
		}
	})
	return out
}

func (e *Expr) col(pos int) int { return utf8.RuneCountInString(e.src[:pos]) + 1 }

func (e *Expr) errAt(pos int, msg string) *ExprError { return &ExprError{Col: e.col(pos), Msg: msg} }

type node interface{ pos() int }

type litNode struct {
	at int
	v  Value
}

type refNode struct {
	at  int
	ref Ref
}

type notNode struct {
	at int
	x  node
}

type binNode struct {
	at   int // the operator's
	op   string
	l, r node
}

func (n *litNode) pos() int { return n.at }
func (n *refNode) pos() int { return n.at }
func (n *notNode) pos() int { return n.at }
func (n *binNode) pos() int { return n.l.pos() }

func walk(n node, f func(node)) {
	f(n)
	switch n := n.(type) {
	case *notNode:
		walk(n.x, f)
	case *binNode:
		walk(n.l, f)
		walk(n.r, f)
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokString
	tokNumber
	tokWord
	tokOp
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
	pos  int
	val  Value
}

func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of condition"
	}
	return strconv.Quote(t.text)
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) errAt(pos int, msg string) *ExprError {
	return &ExprError{Col: utf8.RuneCountInString(p.src[:pos]) + 1, Msg: msg}
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

var (
	stepIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	keyPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)
)

func isWordStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isWordChar(c byte) bool  { return isWordStart(c) || isDigit(c) || c == '-' || c == '.' }

func (p *parser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			p.toks = append(p.toks, token{kind: tokLParen, text: "(", pos: i})
			i++
		case c == ')':
			p.toks = append(p.toks, token{kind: tokRParen, text: ")", pos: i})
			i++
		case c == '"' || c == '\'':
			start := i
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return p.errAt(start, "unterminated string")
				}
				if s[i] == c {
					i++
					break
				}
				if s[i] == '\\' {
					if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != '"' && s[i+1] != '\'') {
						return p.errAt(i, `unknown escape: use \\, \" or \'`)
					}
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			p.toks = append(p.toks, token{kind: tokString, text: s[start:i], pos: start, val: StringValue(b.String())})
		case isDigit(c) || c == '-' && i+1 < len(s) && isDigit(s[i+1]):
			start := i
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			if i < len(s) && s[i] == '.' {
				i++
				if i >= len(s) || !isDigit(s[i]) {
					return p.errAt(start, fmt.Sprintf("malformed number %q", s[start:i]))
				}
				for i < len(s) && isDigit(s[i]) {
					i++
				}
			}
			if i < len(s) && isWordChar(s[i]) {
				return p.errAt(start, fmt.Sprintf("malformed number starting %q", s[start:i+1]))
			}
			f, err := strconv.ParseFloat(s[start:i], 64)
			if err != nil || math.IsInf(f, 0) {
				return p.errAt(start, fmt.Sprintf("malformed number %q", s[start:i]))
			}
			p.toks = append(p.toks, token{kind: tokNumber, text: s[start:i], pos: start, val: NumberValue(f)})
		case isWordStart(c):
			start := i
			for i < len(s) && isWordChar(s[i]) {
				i++
			}
			p.toks = append(p.toks, token{kind: tokWord, text: s[start:i], pos: start})
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch {
			case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "&&" || two == "||":
				p.toks = append(p.toks, token{kind: tokOp, text: two, pos: i})
				i += 2
			case c == '<' || c == '>' || c == '!':
				p.toks = append(p.toks, token{kind: tokOp, text: string(c), pos: i})
				i++
			case c == '=':
				return p.errAt(i, `unexpected "=": use == to compare`)
			case c == '&':
				return p.errAt(i, `unexpected "&": use && for "and"`)
			case c == '|':
				return p.errAt(i, `unexpected "|": use || for "or"`)
			default:
				r, _ := utf8.DecodeRuneInString(s[i:])
				return p.errAt(i, fmt.Sprintf("unexpected %q", r))
			}
		}
	}
	p.toks = append(p.toks, token{kind: tokEOF, pos: len(s)})
	return nil
}

func (p *parser) parseOr(depth int) (node, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && p.peek().text == "||" {
		op := p.next()
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		l = &binNode{at: op.pos, op: op.text, l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd(depth int) (node, error) {
	l, err := p.parseCmp(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOp && p.peek().text == "&&" {
		op := p.next()
		r, err := p.parseCmp(depth)
		if err != nil {
			return nil, err
		}
		l = &binNode{at: op.pos, op: op.text, l: l, r: r}
	}
	return l, nil
}

func isCmp(t token) bool {
	switch t.text {
	case "==", "!=", "<", "<=", ">", ">=":
		return t.kind == tokOp
	}
	return false
}

func (p *parser) parseCmp(depth int) (node, error) {
	l, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	if !isCmp(p.peek()) {
		return l, nil
	}
	op := p.next()
	r, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); isCmp(t) {
		return nil, p.errAt(t.pos, fmt.Sprintf("comparisons do not chain: put parentheses around one side of %q", t.text))
	}
	return &binNode{at: op.pos, op: op.text, l: l, r: r}, nil
}

func (p *parser) parseUnary(depth int) (node, error) {
	if depth > maxExprDepth {
		return nil, p.errAt(p.peek().pos, fmt.Sprintf("condition nests deeper than %d levels", maxExprDepth))
	}
	if t := p.peek(); t.kind == tokOp && t.text == "!" {
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &notNode{at: t.pos, x: x}, nil
	}
	return p.parsePrimary(depth)
}

func (p *parser) parsePrimary(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tokString, tokNumber:
		return &litNode{at: t.pos, v: t.val}, nil
	case tokLParen:
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errAt(c.pos, fmt.Sprintf("expected \")\" to close the \"(\" at column %d, found %s", utf8.RuneCountInString(p.src[:t.pos])+1, c.describe()))
		}
		return x, nil
	case tokWord:
		switch t.text {
		case "true", "false":
			return &litNode{at: t.pos, v: BoolValue(t.text == "true")}, nil
		}
		ref, msg := parseRef(t.text)
		if msg != "" {
			return nil, p.errAt(t.pos, msg)
		}
		return &refNode{at: t.pos, ref: ref}, nil
	}
	return nil, p.errAt(t.pos, fmt.Sprintf("expected a value, a reference or \"(\", found %s", t.describe()))
}

const refForms = "use steps.<id>.outputs.<key>, steps.<id>.choice or steps.<id>.status"

func parseRef(word string) (Ref, string) {
	parts := strings.Split(word, ".")
	if parts[0] != "steps" || len(parts) < 3 {
		return Ref{}, fmt.Sprintf("unknown name %q: %s, or true or false", word, refForms)
	}
	if !stepIDPattern.MatchString(parts[1]) {
		return Ref{}, fmt.Sprintf("%q: %q is not a step id", word, parts[1])
	}
	ref := Ref{Step: parts[1], Field: Field(parts[2])}
	switch {
	case ref.Field == FieldOutputs && len(parts) == 4:
		if !keyPattern.MatchString(parts[3]) {
			return Ref{}, fmt.Sprintf("%q: %q is not an output name", word, parts[3])
		}
		ref.Key = parts[3]
	case (ref.Field == FieldChoice || ref.Field == FieldStatus) && len(parts) == 3:
	default:
		return Ref{}, fmt.Sprintf("unknown reference %q: %s", word, refForms)
	}
	return ref, ""
}

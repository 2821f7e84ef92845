package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// schema is a JSON Schema object, as decoded from docs/plan-schema.json.
type schema = map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	b, err := os.ReadFile("../../docs/plan-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema %v", s["$schema"])
	}
	return s
}

// resolve follows a $ref ("#/$defs/Name") from the root.
func resolve(root, s schema) schema {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := root["$defs"].(schema)[name].(schema)
		if !ok {
			panic("dangling $ref " + ref)
		}
		s = def
	}
}

func yamlTag(f reflect.StructField) (name string, optional bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	return name, strings.Contains(opts, "omitempty")
}

// TestSchemaMatchesTypes walks the Go types from Plan and checks that each struct has a definition
// whose properties are its fields' yaml names, whose required list is its fields without omitempty,
// and whose property types agree with the fields'.
func TestPlanSchemaMatchesTypes(t *testing.T) {
	root := loadSchema(t)
	defs := root["$defs"].(schema)
	seen := map[reflect.Type]bool{}
	durationType := reflect.TypeFor[units.Duration]()
	var walk func(typ reflect.Type)
	// checkField compares a field's type with its property's schema.
	var checkField func(where string, typ reflect.Type, prop schema)
	checkField = func(where string, typ reflect.Type, prop schema) {
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ == durationType {
			if prop["$ref"] != "#/$defs/duration" {
				t.Errorf("%s: a duration, but the schema says %v", where, prop)
			}
			return
		}
		if typ.Kind() == reflect.Struct {
			if want := "#/$defs/" + typ.Name(); prop["$ref"] != want {
				t.Errorf("%s: want $ref %s, schema has %v", where, want, prop)
			}
			walk(typ)
			return
		}
		s := resolve(root, prop)
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Int: "integer", reflect.Bool: "boolean",
			reflect.Slice: "array", reflect.Map: "object"}[typ.Kind()]
		got, _ := s["type"].(string)
		if got == "" && (s["const"] != nil || s["enum"] != nil) && typ.Kind() == reflect.String {
			got = "string"
		}
		if got != want {
			t.Errorf("%s: Go %s is a JSON %s, the schema says %q", where, typ, want, got)
			return
		}
		switch typ.Kind() {
		case reflect.Slice:
			items, _ := s["items"].(schema)
			checkField(where+"[]", typ.Elem(), items)
		case reflect.Map:
			if typ.Elem().Kind() == reflect.Interface {
				return
			}
			values, _ := s["additionalProperties"].(schema)
			checkField(where+".*", typ.Elem(), values)
		}
	}
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		def, ok := defs[typ.Name()].(schema)
		if !ok {
			t.Errorf("no $defs/%s for %s", typ.Name(), typ)
			return
		}
		if def["additionalProperties"] != false {
			t.Errorf("$defs/%s allows unknown properties; Parse does not", typ.Name())
		}
		props, _ := def["properties"].(schema)
		var names, required []string
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			name, optional := yamlTag(f)
			names = append(names, name)
			if !optional {
				required = append(required, name)
			}
			prop, ok := props[name].(schema)
			if !ok {
				t.Errorf("$defs/%s has no property %q (field %s)", typ.Name(), name, f.Name)
				continue
			}
			checkField(typ.Name()+"."+name, f.Type, prop)
		}
		var propNames []string
		for name := range props {
			propNames = append(propNames, name)
		}
		slices.Sort(names)
		slices.Sort(propNames)
		if !slices.Equal(names, propNames) {
			t.Errorf("$defs/%s properties %v, Go fields %v", typ.Name(), propNames, names)
		}
		schemaRequired := asList(def["required"])
		slices.Sort(required)
		slices.Sort(schemaRequired)
		if !slices.Equal(required, schemaRequired) {
			t.Errorf("$defs/%s required %v, Go fields without omitempty %v", typ.Name(), schemaRequired, required)
		}
	}
	if root["$ref"] != "#/$defs/Plan" {
		t.Fatalf("root $ref %v", root["$ref"])
	}
	walk(reflect.TypeFor[Plan]())
	if len(seen) < 15 {
		t.Fatalf("walked only %d types", len(seen))
	}
}

// TestExamplesMatchSchema checks every example plan with the Go validator and with the schema.
func TestPlanExamplesMatchSchema(t *testing.T) {
	root := loadSchema(t)
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	more, _ := filepath.Glob("testdata/diff/*.yaml")
	examples, _ := filepath.Glob("../../examples/plans/*.yaml")
	files = append(append(files, more...), examples...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(b)
			if err != nil {
				t.Fatalf("Go: %v", err)
			}
			if err := ValidateWith(p, DefaultActions()); err != nil {
				t.Fatalf("Go: %v", err)
			}
			var doc any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if errs := schemaCheck(root, root, doc, "$"); len(errs) > 0 {
				t.Fatalf("schema:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

func TestPlanSchemaCheckRejects(t *testing.T) {
	root := loadSchema(t)
	base := string(readFixture(t, "valid/minimal.yaml"))
	tests := []struct{ name, from, to, want string }{
		{"unknown field", "scenario:", "scenaro: x\n  scenario:", `$.spec: unknown property "scenaro"`},
		{"missing field", "metadata: {name: www-restore}", "metadata: {}", `$.metadata: "name" is required`},
		{"bad id", "id: restore", "id: Restore", `$.spec.steps[0].id: "Restore" does not match`},
		{"bad version", "lifeboat.dev/v1", "lifeboat.dev/v2", `$.apiVersion: want "lifeboat.dev/v1"`},
		{"list for a parameter", "asset: www", "asset: [www]", `$.spec.steps[0].with.asset: an array where the schema wants string or integer or boolean`},
		{"a parameter the action lacks", "asset: www", "asset: www, zone: x", `$.spec.steps[0].with: unknown property "zone"`},
		{"a parameter of the wrong type", "asset: www", "asset: 5", `$.spec.steps[0].with.asset: an integer where the schema wants string`},
		{"a required parameter missing", "asset: www, ", "", `$.spec.steps[0].with: "asset" is required`},
		{"an unknown action", "action: restore.asset", "action: restore.everything", `$.spec.steps[0].action: restore.everything is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(strings.Replace(base, tt.from, tt.to, 1)), &doc); err != nil {
				t.Fatal(err)
			}
			errs := schemaCheck(root, root, doc, "$")
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.HasPrefix(e, tt.want) }) {
				t.Fatalf("errors %q, want %q", errs, tt.want)
			}
		})
	}
}

// schemaCheck validates v against the subset of JSON Schema docs/plan-schema.json uses.
func schemaCheck(root, s schema, v any, at string) []string {
	s = resolve(root, s)
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	for _, sub := range asSchemas(s["allOf"]) {
		errs = append(errs, schemaCheck(root, sub, v, at)...)
	}
	if cond, ok := s["if"].(schema); ok && len(schemaCheck(root, cond, v, at)) == 0 {
		if then, ok := s["then"].(schema); ok {
			errs = append(errs, schemaCheck(root, then, v, at)...)
		}
	}
	if c, ok := s["const"]; ok && v != c {
		bad("want %q, got %v", c, v)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		bad("%v is not one of %v", v, enum)
	}
	if typ, ok := s["type"]; ok {
		types := []string{}
		switch typ := typ.(type) {
		case string:
			types = append(types, typ)
		case []any:
			for _, x := range typ {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) {
			bad("%s where the schema wants %s", article(jsonType(v)), strings.Join(types, " or "))
			return errs
		}
	}
	num := func(k string) (int, bool) {
		f, ok := s[k].(float64)
		return int(f), ok
	}
	switch v := v.(type) {
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			bad("%q does not match %s", v, p)
		}
		if n, ok := num("minLength"); ok && len([]rune(v)) < n {
			bad("shorter than %d", n)
		}
		if n, ok := num("maxLength"); ok && len([]rune(v)) > n {
			bad("longer than %d", n)
		}
	case int:
		if n, ok := num("minimum"); ok && v < n {
			bad("%d is below %d", v, n)
		}
		if n, ok := num("maximum"); ok && v > n {
			bad("%d is above %d", v, n)
		}
	case []any:
		if n, ok := num("minItems"); ok && len(v) < n {
			bad("fewer than %d items", n)
		}
		if n, ok := num("maxItems"); ok && len(v) > n {
			bad("more than %d items", n)
		}
		if s["uniqueItems"] == true {
			for i := range v {
				if slices.Index(v, v[i]) < i {
					bad("%v is repeated", v[i])
				}
			}
		}
		if items, ok := s["items"].(schema); ok {
			for i, x := range v {
				errs = append(errs, schemaCheck(root, items, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(schema)
		for _, r := range asList(s["required"]) {
			if _, ok := v[r]; !ok {
				bad("%q is required", r)
			}
		}
		if n, ok := num("minProperties"); ok && len(v) < n {
			bad("fewer than %d properties", n)
		}
		for _, k := range sortedKeys(v) {
			if names, ok := s["propertyNames"].(schema); ok {
				errs = append(errs, schemaCheck(root, names, k, at+"."+k+" (name)")...)
			}
			if p, ok := props[k].(schema); ok {
				errs = append(errs, schemaCheck(root, p, v[k], at+"."+k)...)
				continue
			}
			switch extra := s["additionalProperties"].(type) {
			case bool:
				if !extra {
					bad("unknown property %q", k)
				}
			case schema:
				errs = append(errs, schemaCheck(root, extra, v[k], at+"."+k)...)
			}
		}
	}
	return errs
}

func asSchemas(v any) []schema {
	var out []schema
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(schema))
	}
	return out
}

func asList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestDocs checks docs/plans.md against the package: its complete example is a valid plan, and it
// lists every default action with its parameters.
func TestPlanDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/plans.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example")
	}
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("the example: %v", err)
	}
	if err := ValidateWith(p, DefaultActions()); err != nil {
		t.Fatalf("the example: %v", err)
	}
	// The actions are documented once, in docs/actions.md (generated from package catalog).
	_, actions, _ := strings.Cut(doc, "## Actions")
	actions, _, _ = strings.Cut(actions, "\n## ")
	if !strings.Contains(actions, "(actions.md)") {
		t.Error("docs/plans.md: its Actions section does not point to actions.md")
	}
	for name := range DefaultActions() {
		if strings.Contains(actions, "| `"+name+"` |") {
			t.Errorf("docs/plans.md lists %s itself: actions.md is the one list", name)
		}
	}
}

var updateSchema = flag.Bool("update-schema", false, "rewrite docs/plan-schema.json's action definitions from package catalog")

// The schema's action definitions are what the declarations in package catalog say.
func TestPlanSchemaActionsAreTheDeclarations(t *testing.T) {
	const path = "../../docs/plan-schema.json"
	root := loadSchema(t)
	defs := root["$defs"].(schema)
	var want map[string]any
	b, _ := json.Marshal(catalog.SchemaDefs())
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if *updateSchema {
		for k, v := range want {
			defs[k] = v
		}
		out, err := json.MarshalIndent(root, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for k, v := range want {
		if !reflect.DeepEqual(defs[k], v) {
			t.Errorf("%s: $defs[%q] is not what package catalog declares: run go test ./activities/plan -run TestPlanSchemaActions -update-schema", path, k)
		}
	}
	for k := range defs {
		if strings.HasPrefix(k, "with.") && want[k] == nil {
			t.Errorf("%s: $defs[%q] declares an action that does not exist", path, k)
		}
	}
}

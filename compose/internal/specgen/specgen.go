// Package specgen turns the Compose Specification's JSON Schema into Go
// tables that the compose package walks to check compose files, so that
// no schema is parsed or compiled at run time.
//
// It knows the subset of JSON Schema the specification uses: type,
// properties, patternProperties, additionalProperties (true or false),
// unevaluatedProperties false over an allOf of open object schemas (which
// it flattens into one closed object), required, items, oneOf, anyOf,
// allOf, enum (of strings), minimum, maximum, uniqueItems, pattern and
// $ref to #/$defs. Anything else is an error, so that a new schema that
// needs more fails the generator rather than being checked loosely.
package specgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Patterns maps every regular expression the schema uses to the name of
// the matcher that implements it in the compose package.
var Patterns = map[string]string{
	"^x-":                        "patExtension",
	"^[a-zA-Z0-9._-]+$":          "patName",
	"^.+$":                       "patLine",
	".+":                         "patAnyChar",
	"^[a-z]+$":                   "patLower",
	"[a-zA-Z0-9][a-zA-Z0-9_.-]+": "patContainerName",
	"^(always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+)$": "patPullPolicy",
}

// ignored are keywords that do not constrain a value.
var ignored = map[string]bool{
	"description": true, "deprecated": true, "default": true, "title": true,
	"$schema": true, "$id": true, "$defs": true, "examples": true,
}

// node is one schema, flattened.
type node struct {
	pointer    string
	types      []string
	props      map[string]int
	patterns   map[string]int
	closed     bool
	required   []string
	items      int
	oneOf      []int
	anyOf      []int
	allOf      []int
	enum       []string
	min, max   *float64
	unique     bool
	pattern    string
	ref        int
	hasContent bool
}

type generator struct {
	defs  map[string]any
	nodes []*node
	// byDef holds the node of each definition, made once.
	byDef map[string]int
}

// Generate returns the Go source of the tables for schema, a JSON Schema
// document.
func Generate(schema []byte) ([]byte, error) {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("specgen: %w", err)
	}
	defs, _ := root["$defs"].(map[string]any)
	g := &generator{defs: defs, byDef: map[string]int{}}
	// Node 0 accepts anything: it stands for "no schema".
	g.nodes = append(g.nodes, &node{pointer: "(any)"})
	if _, err := g.compile(root, "#"); err != nil {
		return nil, err
	}
	return g.write()
}

func (g *generator) add(pointer string) (int, *node) {
	n := &node{pointer: pointer}
	g.nodes = append(g.nodes, n)
	return len(g.nodes) - 1, n
}

// compile makes the node of schema s at pointer and returns its index.
func (g *generator) compile(s any, pointer string) (int, error) {
	switch v := s.(type) {
	case bool:
		if v {
			return 0, nil
		}
		return 0, fmt.Errorf("specgen: %s: the schema false is not supported", pointer)
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			for k := range v {
				if k != "$ref" && !ignored[k] {
					return 0, fmt.Errorf("specgen: %s: $ref next to %s is not supported", pointer, k)
				}
			}
			return g.def(ref, pointer)
		}
		i, n := g.add(pointer)
		return i, g.fill(n, v, pointer)
	}
	return 0, fmt.Errorf("specgen: %s: a schema must be an object or a boolean, not %T", pointer, s)
}

// def returns the node of the definition ref names, compiling it once.
func (g *generator) def(ref, pointer string) (int, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return 0, fmt.Errorf("specgen: %s: $ref %q is not a local definition", pointer, ref)
	}
	if i, done := g.byDef[name]; done {
		return i, nil
	}
	s, ok := g.defs[name].(map[string]any)
	if !ok {
		return 0, fmt.Errorf("specgen: %s: $ref %q names no definition", pointer, ref)
	}
	// Reserve the index first: definitions may refer to themselves.
	i, n := g.add(ref)
	g.byDef[name] = i
	return i, g.fill(n, s, ref)
}

// fill sets n from the keywords of schema s.
func (g *generator) fill(n *node, s map[string]any, pointer string) error {
	if _, ok := s["unevaluatedProperties"]; ok {
		var err error
		if s, err = g.flatten(s, pointer); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		v := s[k]
		at := pointer + "/" + k
		var err error
		switch k {
		case "type":
			n.types, err = stringList(v, at)
		case "properties":
			n.props, err = g.schemaMap(v, at)
		case "patternProperties":
			n.patterns, err = g.schemaMap(v, at)
			for p := range n.patterns {
				if Patterns[p] == "" {
					err = fmt.Errorf("specgen: %s: pattern %q has no matcher", at, p)
				}
			}
		case "additionalProperties":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("specgen: %s: only true or false is supported", at)
			}
			n.closed = !b
		case "required":
			n.required, err = stringList(v, at)
		case "items":
			n.items, err = g.compile(v, at)
		case "oneOf":
			n.oneOf, err = g.list(v, at)
		case "anyOf":
			n.anyOf, err = g.list(v, at)
		case "allOf":
			n.allOf, err = g.list(v, at)
		case "enum":
			n.enum, err = stringList(v, at)
		case "minimum":
			n.min, err = number(v, at)
		case "maximum":
			n.max, err = number(v, at)
		case "uniqueItems":
			n.unique, _ = v.(bool)
		case "pattern":
			n.pattern, _ = v.(string)
			if Patterns[n.pattern] == "" {
				err = fmt.Errorf("specgen: %s: pattern %q has no matcher", at, n.pattern)
			}
		default:
			if !ignored[k] {
				err = fmt.Errorf("specgen: %s: keyword %s is not supported", pointer, k)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flatten merges a schema with unevaluatedProperties false and the open
// object schemas of its allOf into one closed object schema.
func (g *generator) flatten(s map[string]any, pointer string) (map[string]any, error) {
	if s["unevaluatedProperties"] != false {
		return nil, fmt.Errorf("specgen: %s: only unevaluatedProperties false is supported", pointer)
	}
	out := map[string]any{}
	props, patterns := map[string]any{}, map[string]any{}
	var required []any
	parts := []map[string]any{s}
	all, _ := s["allOf"].([]any)
	for i, a := range all {
		m, _ := a.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = g.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		if m == nil {
			return nil, fmt.Errorf("specgen: %s/allOf/%d: not an object schema", pointer, i)
		}
		parts = append(parts, m)
	}
	for i, m := range parts {
		for k, v := range m {
			switch {
			case k == "properties":
				maps.Copy(props, v.(map[string]any))
			case k == "patternProperties":
				maps.Copy(patterns, v.(map[string]any))
			case k == "required":
				required = append(required, v.([]any)...)
			case k == "type" && v == "object":
				out["type"] = v
			case i == 0 && (k == "allOf" || k == "unevaluatedProperties"):
			case ignored[k]:
			default:
				return nil, fmt.Errorf("specgen: %s: cannot flatten %s of an allOf part", pointer, k)
			}
		}
	}
	out["type"] = "object"
	out["properties"] = props
	out["patternProperties"] = patterns
	out["additionalProperties"] = false
	if len(required) > 0 {
		out["required"] = required
	}
	return out, nil
}

func (g *generator) schemaMap(v any, at string) (map[string]int, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("specgen: %s: not an object", at)
	}
	out := map[string]int{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i, err := g.compile(m[k], at+"/"+escape(k))
		if err != nil {
			return nil, err
		}
		out[k] = i
	}
	return out, nil
}

func (g *generator) list(v any, at string) ([]int, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("specgen: %s: not an array", at)
	}
	out := make([]int, len(l))
	for i, s := range l {
		var err error
		if out[i], err = g.compile(s, at+"/"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func stringList(v any, at string) ([]string, error) {
	if s, ok := v.(string); ok {
		return []string{s}, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("specgen: %s: not a string or an array of strings", at)
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("specgen: %s/%d: not a string", at, i)
		}
		out[i] = s
	}
	return out, nil
}

func number(v any, at string) (*float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("specgen: %s: not a number", at)
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("specgen: %s: %w", at, err)
	}
	return &f, nil
}

// escape makes a property name a JSON pointer token.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// typeNames are the Go constants of the JSON types.
var typeNames = map[string]string{
	"null": "tNull", "boolean": "tBoolean", "integer": "tInteger", "number": "tNumber",
	"string": "tString", "array": "tArray", "object": "tObject",
}

// typeSet is the set of JSON types node i accepts.
func (g *generator) typeSet(i int) map[string]bool {
	n := g.nodes[i]
	out := map[string]bool{}
	switch {
	case len(n.types) > 0:
		for _, t := range n.types {
			out[t] = true
		}
		if out["number"] {
			out["integer"] = true
		}
	case len(n.oneOf) > 0:
		for _, b := range n.oneOf {
			maps.Copy(out, g.typeSet(b))
		}
	default:
		for t := range typeNames {
			out[t] = true
		}
	}
	return out
}

// checkOneOf makes sure that the branches of every oneOf accept disjoint
// types: the check then only needs to find the branch that matches, and
// reads oneOf as anyOf without accepting more.
func (g *generator) checkOneOf() error {
	for _, n := range g.nodes {
		seen := map[string]bool{}
		for _, b := range n.oneOf {
			for t := range g.typeSet(b) {
				if seen[t] {
					return fmt.Errorf("specgen: %s: two branches of oneOf accept %s", n.pointer, t)
				}
				seen[t] = true
			}
		}
	}
	return nil
}

func (g *generator) write() ([]byte, error) {
	if err := g.checkOneOf(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`// Code generated by specgen from compose-go's compose-spec.json. DO NOT EDIT.

package compose

// specRoot is the schema of a whole compose file.
const specRoot = 1

// specNodes are the schemas of the Compose Specification; node 0 accepts
// anything.
var specNodes = [...]specNode{
`)
	for i, n := range g.nodes {
		fmt.Fprintf(&b, "\t%d: { // %s\n", i, n.pointer)
		if len(n.types) > 0 {
			var ts []string
			for _, t := range n.types {
				name, ok := typeNames[t]
				if !ok {
					return nil, fmt.Errorf("specgen: %s: unknown type %q", n.pointer, t)
				}
				ts = append(ts, name)
			}
			fmt.Fprintf(&b, "\t\ttypes: %s,\n", strings.Join(ts, "|"))
		}
		if len(n.props) > 0 {
			b.WriteString("\t\tprops: []specProp{\n")
			for _, k := range slices.Sorted(maps.Keys(n.props)) {
				fmt.Fprintf(&b, "\t\t\t{%q, %d},\n", k, n.props[k])
			}
			b.WriteString("\t\t},\n")
		}
		if len(n.patterns) > 0 {
			b.WriteString("\t\tpatterns: []specPattern{\n")
			for _, k := range slices.Sorted(maps.Keys(n.patterns)) {
				fmt.Fprintf(&b, "\t\t\t{%s, %d},\n", Patterns[k], n.patterns[k])
			}
			b.WriteString("\t\t},\n")
		}
		if n.closed {
			b.WriteString("\t\tclosed: true,\n")
		}
		writeList(&b, "required", "string", n.required, strconv.Quote)
		if n.items != 0 {
			fmt.Fprintf(&b, "\t\titems: %d,\n", n.items)
		}
		writeList(&b, "oneOf", "specRef", n.oneOf, strconv.Itoa)
		writeList(&b, "anyOf", "specRef", n.anyOf, strconv.Itoa)
		writeList(&b, "allOf", "specRef", n.allOf, strconv.Itoa)
		writeList(&b, "enum", "string", n.enum, strconv.Quote)
		if n.min != nil {
			fmt.Fprintf(&b, "\t\tmin: %v, hasMin: true,\n", strconv.FormatFloat(*n.min, 'f', -1, 64))
		}
		if n.max != nil {
			fmt.Fprintf(&b, "\t\tmax: %v, hasMax: true,\n", strconv.FormatFloat(*n.max, 'f', -1, 64))
		}
		if n.unique {
			b.WriteString("\t\tunique: true,\n")
		}
		if n.pattern != "" {
			fmt.Fprintf(&b, "\t\tpattern: %s,\n", Patterns[n.pattern])
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n\n// specPatterns are the regular expressions the matchers implement.\nvar specPatterns = [...]string{\n")
	for _, p := range slices.Sorted(maps.Keys(Patterns)) {
		fmt.Fprintf(&b, "\t%s: %q,\n", Patterns[p], p)
	}
	b.WriteString("}\n")
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("specgen: formatting: %w", err)
	}
	return out, nil
}

// writeList writes a field of one node whose value is a list.
func writeList[T any](b *bytes.Buffer, field, typ string, l []T, show func(T) string) {
	if len(l) == 0 {
		return
	}
	q := make([]string, len(l))
	for i, v := range l {
		q[i] = show(v)
	}
	fmt.Fprintf(b, "\t\t%s: []%s{%s},\n", field, typ, strings.Join(q, ", "))
}

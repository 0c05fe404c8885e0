package compose

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/schema"
	"go.yaml.in/yaml/v4"

	"github.com/slipway-gitops/slipway/internal/suggest"
)

// InputError is a place in a compose file that the Compose Specification
// does not allow, or a reference to something no file defines.
type InputError struct {
	// File is the compose file as it was named.
	File string
	// Line and Column locate the offending key (or list item), from 1.
	Line, Column int
	// Path is the compose path of the offending value, like
	// services.web.ports[0].
	Path string
	// Message says what is wrong, with a suggestion when one is close.
	Message string
}

// Error formats the error as FILE:LINE:COLUMN: PATH: MESSAGE.
func (e *InputError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Path, e.Message)
}

// loadErrors locates the errors of compose-go's loading that name a
// compose path, in this package's words, and returns nil when err has
// none.
//
// compose-go reports the most specific error of its validation against
// the Compose Specification's JSON Schema as "validating FILE: PATH
// MESSAGE", where PATH joins with dots the keys and list indexes to the
// offending value. Before that, a value that must be a number or a
// boolean and is not fails its conversion, for every value at once, as
// "error while interpolating PATH: MESSAGE", where [] stands for any list
// index and the file is not named.
func loadErrors(err error, srcs []*yamlFile) []error {
	text := err.Error()
	var errs []error
	for _, src := range srcs {
		abs, aerr := filepath.Abs(src.file)
		if aerr != nil {
			continue
		}
		if _, rest, found := strings.Cut(text, "validating "+abs+": "); found {
			l, _ := src.find(rest, " ", nil)
			return src.explain(l)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		path, ok := strings.CutPrefix(line, "error while interpolating ")
		if !ok {
			continue
		}
		value := ""
		if m := castValue.FindStringSubmatch(line); m != nil {
			value, _ = strconv.Unquote(m[1])
		}
		accept := func(n *yaml.Node) bool { return value == "" || resolve(n).Value == value }
		for i, src := range srcs {
			if l, found := src.find(path, ": ", accept); found || i == len(srcs)-1 {
				errs = append(errs, src.explain(l)...)
				break
			}
		}
	}
	return errs
}

// castValue matches the value in the message of a failed conversion,
// like strconv.Atoi: parsing "many": invalid syntax.
var castValue = regexp.MustCompile(`parsing ("(?:[^"\\]|\\.)*")`)

// located is the end of a compose path in the YAML tree.
type located struct {
	// keys are the keys and list indexes from the root.
	keys []string
	// w is the key or item the path ends at; key tells which.
	w   where
	key bool
	// value is the value there.
	value *yaml.Node
	// rest is the text after the path.
	rest string
}

// find follows the compose path at the start of text (PATH, then end,
// then a message) through the file's documents to a value that accept
// takes (nil takes any). Keys may hold dots and spaces themselves, so
// every key that the path starts with is tried. A path that the file does
// not hold as such (a field that extends brought in) ends at the deepest
// key of it that the file holds, and rest then holds the whole text.
func (src *yamlFile) find(text, end string, accept func(*yaml.Node) bool) (located, bool) {
	var deepest located
	for _, root := range src.docs {
		start := located{w: where{at: root}, value: root, rest: text}
		if deepest.value == nil {
			deepest = start
		}
		if l, ok := src.step(start, end, accept, &deepest); ok {
			return l, true
		}
	}
	if deepest.value == nil {
		empty := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
		return located{w: where{at: empty}, value: empty, rest: text}, false
	}
	deepest.rest = text
	return deepest, false
}

// step goes one key or list item further along the path in l.rest, or
// ends the path where end follows it.
func (src *yamlFile) step(l located, end string, accept func(*yaml.Node) bool, deepest *located) (located, bool) {
	if len(l.keys) > len(deepest.keys) {
		*deepest = l
	}
	if rest, ok := strings.CutPrefix(l.rest, end); ok || l.rest == "" {
		if accept != nil && !accept(l.value) {
			return located{}, false
		}
		l.rest = rest
		return l, true
	}
	type child struct {
		names []string
		l     located
	}
	var children []child
	switch v := resolve(l.value); v.Kind {
	case yaml.MappingNode:
		for _, p := range src.pairs(v) {
			k := p[0].Value
			children = append(children, child{[]string{k}, located{w: l.w.key(k, p[0]), key: true, value: p[1]}})
		}
	case yaml.SequenceNode:
		for i, item := range v.Content {
			children = append(children, child{[]string{strconv.Itoa(i), "[]"}, located{w: l.w.index(i, item), value: item}})
		}
	}
	for _, c := range children {
		for _, name := range c.names {
			after, ok := strings.CutPrefix(l.rest, name)
			if !ok || after != "" && after[0] != '.' && !strings.HasPrefix(after, end) {
				continue
			}
			next := c.l
			next.keys = append(l.keys[:len(l.keys):len(l.keys)], name)
			next.rest = after
			if after != "" && after[0] == '.' {
				next.rest = after[1:]
			}
			if r, ok := src.step(next, end, accept, deepest); ok {
				return r, true
			}
		}
	}
	return located{}, false
}

// quoted matches the single-quoted strings of compose-go's messages.
var quoted = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// explain turns compose-go's message about a located value into errors:
// an unknown key is placed at the key itself and gets the closest key
// the specification allows there; a wrong type or enumerated value says
// what the file has.
func (src *yamlFile) explain(l located) []error {
	v := resolve(l.value)
	msg := strings.TrimSpace(l.rest)
	switch {
	case msg == "false schema" && l.key:
		// A key of a mapping whose schema has patterns for its keys, and
		// that no property or pattern allows.
		k := l.keys[len(l.keys)-1]
		return []error{src.errorf(l.w, "unknown key %q%s", k, didYouMean(k, allowedKeys(l.keys[:len(l.keys)-1])))}
	case strings.HasPrefix(msg, "additional properties ") && v.Kind == yaml.MappingNode:
		// The keys of a mapping that no property allows, each quoted.
		var errs []error
		for _, p := range src.pairs(v) {
			if k := p[0].Value; strings.Contains(msg, quote(k)) {
				errs = append(errs, src.errorf(l.w.key(k, p[0]), "unknown key %q%s", k, didYouMean(k, allowedKeys(l.keys))))
			}
		}
		if len(errs) > 0 {
			return errs
		}
	case strings.HasPrefix(msg, "must be a "):
		msg = "must be " + typeWords(strings.TrimPrefix(msg, "must be a "))
		if !interpolated(v) {
			msg += ", not " + typeName(v)
		}
	case strings.HasPrefix(msg, "value must be one of ") && !interpolated(v) && v.Kind == yaml.ScalarNode:
		var want []string
		for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
			want = append(want, strings.ReplaceAll(m[1], `\'`, `'`))
		}
		msg = fmt.Sprintf("%q must be one of %s%s", v.Value, strings.Join(want, ", "), didYouMean(v.Value, want))
	case strings.HasPrefix(msg, "failed to cast to expected type: "):
		for conv, want := range map[string]string{"strconv.Atoi": "an integer", "strconv.ParseInt": "an integer", "strconv.ParseUint": "an integer", "strconv.ParseFloat": "a number"} {
			if strings.Contains(msg, conv+":") {
				msg = fmt.Sprintf("must be %s, not %q", want, v.Value)
			}
		}
	}
	return []error{src.errorf(l.w, "%s", msg)}
}

// quote quotes a key as compose-go's messages do.
func quote(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	return "'" + strings.ReplaceAll(q, `'`, `\'`) + "'"
}

// typeWords rewrites compose-go's type names ("array or string") as
// "a list or a string".
func typeWords(s string) string {
	words := strings.FieldsFunc(strings.ReplaceAll(s, " or ", ","), func(r rune) bool { return r == ',' || r == ' ' })
	for i, w := range words {
		switch w {
		case "array":
			words[i] = "a list"
		case "integer":
			words[i] = "an integer"
		case "null":
		default:
			words[i] = "a " + w
		}
	}
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// allowedKeys returns the keys the Compose Specification names for the
// mapping at path (keys and list indexes), read from the JSON Schema that
// compose-go embeds: the candidates for a misspelled key. compose-go's
// message lists only the keys that are not allowed.
func allowedKeys(path []string) []string {
	var spec map[string]any
	if err := json.Unmarshal([]byte(schema.Schema), &spec); err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	var walk func(s map[string]any, path []string, depth int)
	walk = func(s map[string]any, path []string, depth int) {
		if depth > 64 {
			return // a reference that leads back to itself
		}
		if ref, ok := s["$ref"].(string); ok {
			if def, ok := definition(spec, ref); ok {
				walk(def, path, depth+1)
			}
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			alts, _ := s[k].([]any)
			for _, a := range alts {
				if a, ok := a.(map[string]any); ok {
					walk(a, path, depth+1)
				}
			}
		}
		props, _ := s["properties"].(map[string]any)
		if len(path) == 0 {
			for k := range props {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
			return
		}
		head, rest := path[0], path[1:]
		if p, ok := props[head].(map[string]any); ok {
			walk(p, rest, depth+1)
		}
		patterns, _ := s["patternProperties"].(map[string]any)
		for expr, p := range patterns {
			if re, err := regexp.Compile(expr); err == nil && re.MatchString(head) {
				if p, ok := p.(map[string]any); ok {
					walk(p, rest, depth+1)
				}
			}
		}
		for _, k := range []string{"additionalProperties", "items"} {
			if p, ok := s[k].(map[string]any); ok {
				walk(p, rest, depth+1)
			}
		}
	}
	walk(spec, path, 0)
	slices.Sort(out)
	return out
}

// definition resolves a local reference of the schema, like
// #/$defs/service.
func definition(spec map[string]any, ref string) (map[string]any, bool) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, false
	}
	defs, _ := spec["$defs"].(map[string]any)
	def, ok := defs[name].(map[string]any)
	return def, ok
}

// didYouMean suggests the closest of names to s, when one is close.
func didYouMean(s string, names []string) string {
	if best := suggest.Closest(s, names); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

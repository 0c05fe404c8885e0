package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/slipway-gitops/slipway/internal/suggest"
	"github.com/slipway-gitops/slipway/workflow/plugins"
)

// MaxFileSize is the largest workflow or cluster file accepted, in bytes.
const MaxFileSize = 8 << 20

// MaxValues is the most JSON values (objects, arrays, members' values,
// elements) a workflow or cluster file may hold. A workflow of a thousand
// nodes holds some 30,000. A file of MaxFileSize bytes may hold millions,
// each taking a hundred times its bytes once decoded: the files of a
// repository must not make the service that reads them run out of
// memory.
const MaxValues = 200_000

// Decode parses a workflow file strictly and validates it on its own (links
// to other workflows and clusters are checked by Set). file is the path of
// the file relative to the repository root, workflows/<name>.json; it is used
// in messages and gives the workflow its name.
//
// All problems of the file are returned together as Errors. Plugin nodes
// may name a node type of the built-in plugin catalog.
func Decode(file string, data []byte) (*Workflow, error) {
	return DecodeWith(file, data, plugins.BuiltIn())
}

// DecodeWith is Decode with a plugin catalog: the built-in one with the
// plugins a repository defines (see plugins.Catalog.With).
func DecodeWith(file string, data []byte, catalog *plugins.Catalog) (*Workflow, error) {
	c := &collector{file: file}
	doc, ok := parseJSON(c, data)
	if !ok {
		return nil, c.err()
	}
	accountOfWorkflow(c, doc.(map[string]any))
	k := checker{c: c, catalog: catalog}
	k.check("", "", doc, reflect.TypeFor[Workflow]())
	topLevelOK := c.problems == 0

	var wf Workflow
	if err := json.Unmarshal(data, &wf); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			c.add("", "", "%v", err)
			return nil, c.err()
		}
	}
	c.draft = wf.Status != StatusPublished
	nodesOK := make([]bool, len(wf.Nodes))
	rawNodes, _ := doc.(map[string]any)["nodes"].([]any)
	for i := range wf.Nodes {
		if i >= len(rawNodes) {
			break
		}
		raw, _ := rawNodes[i].(map[string]any)
		nodesOK[i] = k.checkNode(i, raw, &wf.Nodes[i])
	}
	if !topLevelOK {
		return nil, c.err()
	}
	v := validator{c: c, wf: &wf, file: file, nodeOK: nodesOK}
	if err := v.run(); err != nil {
		return nil, err
	}
	wf.Ignored = c.ignored
	return &wf, nil
}

// FileStatus returns the status a workflow file gives, or "" when it
// gives none it can be read from: it tells a draft whose file does not
// decode from a workflow to deploy.
func FileStatus(data []byte) Status {
	var head struct {
		Status any `json:"status"`
	}
	if json.Unmarshal(data, &head) != nil {
		return ""
	}
	s, _ := head.Status.(string)
	return Status(s)
}

// Validate checks a workflow made in Go, whose nodes have their Spec, as
// Decode checks a file: file is the path the workflow's file has. On
// success the workflow is complete as Decode returns it (see
// Workflow.Validated); its nodes' Data is not read.
func Validate(file string, wf *Workflow) error {
	c := &collector{file: file, draft: wf.Status != StatusPublished}
	nodesOK := make([]bool, len(wf.Nodes))
	for i := range wf.Nodes {
		n := &wf.Nodes[i]
		want := NewSpec(n.Type)
		switch {
		case want == nil: // reported by the validator
		case n.Spec == nil:
			c.add(pointer("/nodes", i, "data"), n.ID, "is required")
		case reflect.TypeOf(n.Spec) != reflect.TypeOf(want):
			c.add(pointer("/nodes", i, "data"), n.ID, "is a %T, not the data of a %s node (%T)", n.Spec, n.Type, want)
		default:
			nodesOK[i] = true
		}
	}
	v := validator{c: c, wf: wf, file: file, nodeOK: nodesOK}
	return v.run()
}

// parseJSON decodes data into generic values, keeping numbers exact.
func parseJSON(c *collector, data []byte) (any, bool) {
	if len(data) > MaxFileSize {
		c.add("", "", "file is %d bytes; the limit is %d", len(data), MaxFileSize)
		return nil, false
	}
	if ptr, offset, err := scan(data); err != nil {
		line, col := lineCol(data, offset)
		c.add(ptr, "", "line %d, column %d: %v", line, col, err)
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		c.add("", "", "invalid JSON: %s", syntaxMessage(data, err))
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		c.add("", "", "invalid JSON: %s", syntaxMessage(data, fmt.Errorf("unexpected data after the top-level value at offset %d", dec.InputOffset())))
		return nil, false
	}
	if _, ok := doc.(map[string]any); !ok {
		c.add("", "", "must be a JSON object, not %s", describe(doc))
		return nil, false
	}
	return doc, true
}

// TooManyValues reports whether data holds more than MaxValues JSON
// values, and where the first value past them is: its JSON pointer and its
// byte offset. It reads tokens without keeping them, so that a document
// can be refused before it is decoded; it reports false for data that is
// no JSON, which is left to the decoder that says where.
func TooManyValues(data []byte) (string, int64, bool) {
	ptr, offset, err := scan(data)
	return ptr, offset, errors.Is(err, errTooManyValues)
}

// Problems scan finds.
var (
	errTooManyValues = fmt.Errorf("the file holds more than %d JSON values", MaxValues)
	errDuplicateName = errors.New("a member of this name is given before in the same object: a decoder keeps only the last, which readers of the file may not see")
)

// scan reads data's tokens without keeping them and returns the first of
// the problems that decoding it would hide, with its JSON pointer and
// byte offset: a member name given twice in one object (errDuplicateName),
// or a value past MaxValues (errTooManyValues). Data that is no JSON is
// left to the decoder that says where.
func scan(data []byte) (string, int64, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true))
	for n := 0; ; {
		offset := dec.InputOffset()
		tok, err := dec.ReadToken()
		var se *jsontext.SyntacticError
		switch {
		case errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName):
			return string(se.JSONPointer), se.ByteOffset, errDuplicateName
		case err != nil:
			return "", 0, nil
		}
		if k := tok.Kind(); k == '}' || k == ']' {
			continue
		}
		if kind, length := dec.StackIndex(dec.StackDepth()); kind == '{' && length%2 == 1 {
			continue // a member's name
		}
		if n++; n > MaxValues {
			return string(dec.StackPointer()), offset, errTooManyValues
		}
	}
}

// syntaxMessage adds a line and column to a JSON syntax error.
func syntaxMessage(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; report the byte itself.
		line, col := lineCol(data, max(se.Offset-1, 0))
		return fmt.Sprintf("line %d, column %d: %v", line, col, se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		line, col := lineCol(data, int64(len(data)))
		return fmt.Sprintf("line %d, column %d: unexpected end of input", line, col)
	}
	return err.Error()
}

func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// stem returns the workflow or cluster name a file path gives.
func stem(file string) string {
	return strings.TrimSuffix(path.Base(file), path.Ext(file))
}

// checker compares generic JSON values with Go types, reporting unknown
// fields and wrong types with JSON pointers.
type checker struct {
	c *collector
	// catalog gives plugin nodes that name a node type their apiVersion,
	// kind and fields.
	catalog *plugins.Catalog
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// checkNode checks a node's data against its kind's type and decodes it into
// n.Spec. It reports whether the data was well-formed.
func (k checker) checkNode(i int, raw map[string]any, n *Node) bool {
	base := pointer("", "nodes", i)
	ks := n.Type.spec()
	if ks == nil {
		return false // reported by the validator
	}
	spec := ks.newSpec()
	data, isObject := raw["data"].(map[string]any)
	if !isObject {
		k.c.add(pointer(base, "data"), n.ID, "must be an object, not %s", describe(raw["data"]))
		return false
	}
	before := k.c.problems
	var values map[string]any
	if ks.prepare != nil {
		data, values = ks.prepare(k, pointer(base, "data"), n.ID, data)
	}
	norm := k.check(pointer(base, "data"), n.ID, data, reflect.TypeOf(spec).Elem())
	if k.c.problems > before {
		return false
	}
	b, err := json.Marshal(norm)
	if err == nil {
		err = json.Unmarshal(b, spec)
	}
	if err != nil {
		k.c.add(pointer(base, "data"), n.ID, "%v", err)
		return false
	}
	if p, ok := spec.(*PluginData); ok {
		p.Values = values
	}
	n.Spec = spec
	return true
}

// secretData prepares the data of a secret node: values it holds are
// dropped (see stripSecretValues).
func (k checker) secretData(ptr, nodeID string, data map[string]any) (rest, values map[string]any) {
	return k.stripSecretValues(ptr, nodeID, data), nil
}

// pluginData prepares the data of a plugin node: metadata fields are
// read, the catalog completes it, and the field values are taken out.
func (k checker) pluginData(ptr, nodeID string, data map[string]any) (rest, values map[string]any) {
	data = k.metadataFields(ptr, nodeID, data)
	data = k.fromCatalog(data)
	return k.splitPluginValues(ptr, nodeID, data)
}

// fromCatalog completes the data of a plugin node whose templateId (and
// pluginId) names a node type of the catalog: apiVersion, kind and
// _pluginFields the node does not set come from the catalog.
func (k checker) fromCatalog(data map[string]any) map[string]any {
	tid, _ := data["templateId"].(string)
	pid, _ := data["pluginId"].(string)
	if k.catalog == nil || tid == "" {
		return data
	}
	nt, ok := k.catalog.NodeType(pid, tid)
	if !ok {
		return data
	}
	out := maps.Clone(data)
	if out["apiVersion"] == nil {
		out["apiVersion"] = nt.APIVersion
	}
	if out["kind"] == nil {
		out["kind"] = nt.Kind
	}
	if out["_pluginFields"] == nil {
		fields := make([]any, 0, len(nt.Fields))
		for _, f := range nt.Fields {
			if f.ID == "name" || f.ID == "namespace" {
				continue // the node's own, for the object's metadata
			}
			m := map[string]any{"id": f.ID, "type": f.Type}
			if f.Required {
				m["required"] = true
			}
			if f.Default != nil {
				m["default"] = f.Default
			}
			if len(f.Options) > 0 {
				m["options"] = anySlice(f.Options)
			}
			fields = append(fields, m)
		}
		out["_pluginFields"] = fields
	}
	return out
}

// metadataFields drops the plugin field definitions of name and namespace,
// which KubeOrch declares as fields: they are the node's own, and go to
// the object's metadata.
func (k checker) metadataFields(ptr, nodeID string, data map[string]any) map[string]any {
	defs, ok := data["_pluginFields"].([]any)
	if !ok {
		return data
	}
	kept := make([]any, 0, len(defs))
	for i, d := range defs {
		if m, ok := d.(map[string]any); ok && (m["id"] == "name" || m["id"] == "namespace") {
			k.c.ignored = append(k.c.ignored, Ignored{Pointer: pointer(ptr, "_pluginFields", i), NodeID: nodeID,
				Reason: fmt.Sprintf("a field definition of the node's own %s, which goes to the object's metadata", m["id"])})
			continue
		}
		kept = append(kept, d)
	}
	out := maps.Clone(data)
	out["_pluginFields"] = kept
	return out
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// splitPluginValues separates the values of declared plugin fields from the
// plugin's own fields and type-checks them against their declarations.
func (k checker) splitPluginValues(ptr, nodeID string, data map[string]any) (map[string]any, map[string]any) {
	defs, _ := data["_pluginFields"].([]any)
	declared := map[string]string{}
	for _, d := range defs {
		if m, ok := d.(map[string]any); ok {
			id, _ := m["id"].(string)
			typ, _ := m["type"].(string)
			declared[id] = typ
		}
	}
	own := make(map[string]any, len(data))
	values := map[string]any{}
	for key, val := range data {
		typ, isValue := declared[key]
		if !isValue || key == "" || isPluginOwnField(key) {
			own[key] = val
			continue
		}
		if val == nil {
			continue // a cleared field
		}
		switch typ {
		case "number":
			n, ok := readNumber(val)
			if !ok {
				k.c.add(pointer(ptr, key), nodeID, "must be a number, not %s", describe(val))
				continue
			}
			if i, err := n.Int64(); err == nil {
				values[key] = i
			} else {
				f, _ := n.Float64()
				values[key] = f
			}
		case "boolean":
			switch val {
			case true, "true":
				values[key] = true
			case false, "false":
				values[key] = false
			default:
				k.c.add(pointer(ptr, key), nodeID, "must be true or false, not %s", describe(val))
			}
		case "list":
			if _, ok := val.([]any); !ok {
				k.c.add(pointer(ptr, key), nodeID, "must be a list, not %s", describe(val))
				continue
			}
			values[key] = val
		case "object":
			if _, ok := val.(map[string]any); !ok {
				k.c.add(pointer(ptr, key), nodeID, "must be an object, not %s", describe(val))
				continue
			}
			values[key] = val
		default:
			if _, ok := val.(string); !ok {
				k.c.add(pointer(ptr, key), nodeID, "must be a string, not %s", describe(val))
				continue
			}
			values[key] = val
		}
	}
	return own, values
}

// stripSecretValues reports secret values in a secret node's data with a
// message that says why, and removes them so that they are not reported
// again as unknown fields.
func (k checker) stripSecretValues(ptr, nodeID string, data map[string]any) map[string]any {
	out := make(map[string]any, len(data))
	for key, val := range data {
		if key == "data" || key == "stringData" {
			k.c.add(pointer(ptr, key), nodeID, "secret values must not be stored in git; list key names in keys and supply the values in the cluster (see docs/secrets.md)")
			continue
		}
		out[key] = val
	}
	keys, _ := out["keys"].([]any)
	for i, e := range keys {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if _, has := m["value"]; has {
			k.c.add(pointer(ptr, "keys", i, "value"), nodeID, "secret values must not be stored in git; keep the key name only (see docs/secrets.md)")
			c := make(map[string]any, len(m))
			for mk, mv := range m {
				if mk != "value" {
					c[mk] = mv
				}
			}
			keys[i] = c
		}
	}
	return out
}

// isPluginOwnField reports whether key is a field of PluginData itself.
func isPluginOwnField(key string) bool {
	_, ok := jsonFields(reflect.TypeFor[PluginData]())[key]
	return ok
}

// editorState lists the keys a workflow editor (KubeOrch's canvas) or its
// backend writes into node data that hold canvas or run-time state, with
// what they hold. They are accepted and ignored.
var editorState = map[string]string{
	"id":                 "the editor's copy of the node id",
	"type":               "the editor's copy of the node type",
	"_status":            "run-time status the backend writes after a run",
	"_secretCreated":     "run-time state: whether the backend created the Secret",
	"hasValidationError": "the editor's validation state",
	"_linkedWorkloads":   "the editor's copy of the workloads the policy's edges link; the edges say it",
	"_linkedTarget":      "the editor's copy of the workload the hpa's edge links; the edges say it",
	"parameters":         "the editor's older copy of image, replicas and port; the node's own fields say it",
}

// nestedEditorState lists editor state keys of values nested in node data.
var nestedEditorState = map[reflect.Type]map[string]string{
	reflect.TypeFor[NetworkPeer]():       {"type": "the editor's name of the selector the peer sets; the peer's fields say it"},
	reflect.TypeFor[NetworkPolicyPort](): {"id": "the editor's id of the port"},
}

var (
	nodeSpecType      = reflect.TypeFor[NodeSpec]()
	portRefType       = reflect.TypeFor[PortRef]()
	labelSelectorType = reflect.TypeFor[LabelSelector]()
	pluginOptionType  = reflect.TypeFor[PluginOption]()
)

// stateReason returns what an editor state key of a value of type t holds.
func stateReason(t reflect.Type, key string) (string, bool) {
	if reflect.PointerTo(t).Implements(nodeSpecType) {
		r, ok := editorState[key]
		return r, ok
	}
	r, ok := nestedEditorState[t][key]
	return r, ok
}

// check compares v with t at ptr and returns v as t reads it: editor
// state keys and null fields removed (null means absent, as editors save
// cleared fields), numbers written as strings read as numbers and the
// other way round, and the alternative forms of PortRef, LabelSelector
// and PluginOption in their canonical form.
func (k checker) check(ptr, nodeID string, v any, t reflect.Type) any {
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return v
	}
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			return nil
		}
		k.c.add(ptr, nodeID, "must be %s, not null", want(t))
		return nil
	}
	switch t {
	case portRefType:
		return k.portRef(ptr, nodeID, v)
	case labelSelectorType:
		if m, ok := v.(map[string]any); ok && !isSelectorForm(m) {
			// KubeOrch's flat form: the labels themselves.
			return map[string]any{"matchLabels": k.check(ptr, nodeID, m, reflect.TypeFor[map[string]string]())}
		}
	case pluginOptionType:
		if s, ok := v.(string); ok {
			return map[string]any{"value": s}
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return k.check(ptr, nodeID, v, t.Elem())
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			k.c.add(ptr, nodeID, "must be an object, not %s", describe(v))
			return v
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(m))
		for _, key := range sortedKeys(m) {
			f, known := fields[key]
			if !known {
				if reason, ok := stateReason(t, key); ok {
					k.c.ignored = append(k.c.ignored, Ignored{Pointer: pointer(ptr, key), NodeID: nodeID, Reason: reason})
					continue
				}
				hint := ""
				if best := suggest.Closest(key, sortedKeys(fields)); best != "" {
					hint = fmt.Sprintf("; did you mean %q?", best)
				}
				k.c.add(pointer(ptr, key), nodeID, "unknown field %q%s", key, hint)
				continue
			}
			if m[key] == nil {
				continue
			}
			out[key] = k.check(pointer(ptr, key), nodeID, m[key], f)
		}
		return out
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			k.c.add(ptr, nodeID, "must be an object, not %s", describe(v))
			return v
		}
		out := make(map[string]any, len(m))
		for _, key := range sortedKeys(m) {
			out[key] = k.check(pointer(ptr, key), nodeID, m[key], t.Elem())
		}
		return out
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			k.c.add(ptr, nodeID, "must be an array, not %s", describe(v))
			return v
		}
		out := make([]any, len(s))
		for i, e := range s {
			out[i] = k.check(pointer(ptr, i), nodeID, e, t.Elem())
		}
		return out
	case reflect.String:
		switch x := v.(type) {
		case string:
		case json.Number:
			return x.String() // editors save some text fields as numbers (maxUnavailable: 1)
		default:
			k.c.add(ptr, nodeID, "must be a string, not %s", describe(v))
		}
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
		case string:
			if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
				return b
			}
			k.c.add(ptr, nodeID, "must be true or false, not %s", describe(v))
		default:
			k.c.add(ptr, nodeID, "must be true or false, not %s", describe(v))
		}
	case reflect.Int64:
		n, ok := readNumber(v)
		if !ok {
			k.c.add(ptr, nodeID, "must be a whole number, not %s", describe(v))
			return v
		}
		if _, err := n.Int64(); err != nil {
			k.c.add(ptr, nodeID, "must be a whole number, not %s", n)
		}
		return n
	case reflect.Float64:
		n, ok := readNumber(v)
		if !ok {
			k.c.add(ptr, nodeID, "must be a number, not %s", describe(v))
			return v
		}
		return n
	default:
		k.c.add(ptr, nodeID, "cannot hold a value of Go type %s", t)
	}
	return v
}

// readNumber reads a JSON number, or a string that holds one: editors save
// some number fields as text ("instances": "3").
func readNumber(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if _, err := strconv.ParseFloat(s, 64); err == nil && s != "" && !strings.ContainsAny(s, "xXpP_") {
			return json.Number(s), true
		}
	}
	return "", false
}

// portRef reads a port given by number, by number as text, or by name.
func (k checker) portRef(ptr, nodeID string, v any) any {
	if n, ok := readNumber(v); ok {
		if _, err := n.Int64(); err != nil {
			k.c.add(ptr, nodeID, "must be a whole number or a port name, not %s", n)
		}
		return n
	}
	if s, ok := v.(string); ok {
		return s
	}
	k.c.add(ptr, nodeID, "must be a port number or name, not %s", describe(v))
	return v
}

// isSelectorForm reports whether a selector object is written as
// Kubernetes writes a LabelSelector (matchLabels, matchExpressions) rather
// than as a flat map of labels: a flat map's values are strings.
func isSelectorForm(m map[string]any) bool {
	if len(m) == 0 {
		return false
	}
	for key, val := range m {
		switch key {
		case "matchLabels":
			if _, ok := val.(map[string]any); !ok && val != nil {
				return false
			}
		case "matchExpressions":
			if _, ok := val.([]any); !ok && val != nil {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// jsonFields maps the JSON names of a struct's fields, embedded ones
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// describe names the JSON type of a generic value, for messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string" // never echo strings: they may be secrets
	case json.Number:
		return fmt.Sprintf("a number (%s)", x)
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// want names the JSON type a Go type expects, for messages.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}

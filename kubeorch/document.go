package kubeorch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-gitops/slipway/workflow"
)

// MaxDocumentSize bounds one input document, in bytes.
const MaxDocumentSize = 64 << 20

// Workflow is a KubeOrch workflow as GET /workflows/:id returns it.
type Workflow struct {
	// ID is KubeOrch's database id of the workflow.
	ID string
	// Name is the display name.
	Name        string
	Description string
	// ClusterID is the name of the KubeOrch cluster the workflow runs on.
	ClusterID string
	Status    string
	Tags      []string
	// Nodes and Edges are the canvas as the editor saved it, byte for byte.
	Nodes []json.RawMessage
	Edges []json.RawMessage
	// CurrentVersion is the number of the newest version.
	CurrentVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Deleted is true when deleted_at is set.
	Deleted bool
	// Versions are the versions older documents embed.
	Versions []*Version

	at     location
	fields []string
}

// Version is a KubeOrch workflow version, a document of the
// workflow_versions collection as the versions endpoints return it.
type Version struct {
	// WorkflowID is the id of the workflow the version belongs to.
	WorkflowID string
	// Number is the version number, from 1.
	Number      int
	Nodes       []json.RawMessage
	Edges       []json.RawMessage
	Name        string
	Tag         string
	Description string
	CreatedAt   time.Time
	// CreatedBy is the id of the KubeOrch user who made the version.
	CreatedBy string
	// RestoredFrom is the version this one restored, or 0.
	RestoredFrom int
	// Automatic is true for versions KubeOrch made itself, on a run.
	Automatic bool
	RunStatus string

	at     location
	fields []string
}

// location is where a document was read: its file and JSON pointer.
type location struct {
	file, ptr string
}

func (l location) at(key string) location {
	return location{l.file, l.ptr + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)}
}

func (l location) index(i int) location { return location{l.file, l.ptr + "/" + strconv.Itoa(i)} }

// Documents is what one or more input files hold.
type Documents struct {
	Workflows []*Workflow
	Versions  []*Version
}

// Add appends the documents of o.
func (d *Documents) Add(o *Documents) {
	d.Workflows = append(d.Workflows, o.Workflows...)
	d.Versions = append(d.Versions, o.Versions...)
}

// Parse reads one KubeOrch API document from file: a workflow, a list of
// workflows ({"workflows": [...]} or an array), a version, or a list of
// versions ({"versions": [...]}, as the versions endpoint pages them, or an
// array). Problems are workflow.Errors located by file and JSON pointer.
func Parse(file string, data []byte) (*Documents, error) {
	p := &parser{}
	root := location{file: file}
	if len(data) > MaxDocumentSize {
		p.fail(root, "document is %d bytes; the limit is %d", len(data), MaxDocumentSize)
		return nil, p.errs
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		p.fail(root, "invalid JSON: %v", err)
		return nil, p.errs
	}
	if _, err := dec.Token(); err != io.EOF {
		p.fail(root, "invalid JSON: unexpected data after the document at offset %d", dec.InputOffset())
		return nil, p.errs
	}
	docs := &Documents{}
	p.document(docs, root, raw)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return docs, nil
}

// parser collects the problems of one document.
type parser struct {
	errs workflow.Errors
}

func (p *parser) fail(l location, format string, args ...any) {
	p.errs = append(p.errs, &workflow.Error{File: l.file, Pointer: l.ptr, Message: fmt.Sprintf(format, args...)})
}

// document reads a document of any of the shapes Parse accepts.
func (p *parser) document(docs *Documents, l location, raw json.RawMessage) {
	if items, ok := p.array(l, raw, false); ok {
		for i, it := range items {
			p.document(docs, l.index(i), it)
		}
		return
	}
	m, ok := p.object(l, raw)
	if !ok {
		return
	}
	_, hasNodes := m["nodes"]
	_, hasWorkflowID := m["workflow_id"]
	_, hasVersion := m["version"]
	switch {
	case hasNodes && (hasWorkflowID || hasVersion):
		if v := p.version(l, m); v != nil {
			docs.Versions = append(docs.Versions, v)
		}
	case hasNodes:
		if w := p.workflow(l, m); w != nil {
			docs.Workflows = append(docs.Workflows, w)
		}
	case m["workflows"] != nil:
		p.list(docs, l.at("workflows"), m["workflows"])
	case m["versions"] != nil:
		p.list(docs, l.at("versions"), m["versions"])
	default:
		p.fail(l, "is not a KubeOrch workflow or version: it has no nodes, workflows or versions")
	}
}

func (p *parser) list(docs *Documents, l location, raw json.RawMessage) {
	items, ok := p.array(l, raw, true)
	for i, it := range items {
		if ok {
			p.document(docs, l.index(i), it)
		}
	}
}

func (p *parser) workflow(l location, m map[string]json.RawMessage) *Workflow {
	n := len(p.errs)
	w := &Workflow{at: l, fields: sortedKeys(m)}
	w.ID = p.str(l, m, "id")
	w.Name = p.str(l, m, "name")
	w.Description = p.str(l, m, "description")
	w.ClusterID = p.str(l, m, "cluster_id")
	w.Status = p.str(l, m, "status")
	w.Tags = p.strs(l, m, "tags")
	w.Nodes = p.objects(l, m, "nodes")
	w.Edges = p.objects(l, m, "edges")
	w.CurrentVersion = p.int(l, m, "current_version")
	w.CreatedAt = p.time(l, m, "created_at")
	w.UpdatedAt = p.time(l, m, "updated_at")
	w.Deleted = !p.time(l, m, "deleted_at").IsZero()
	if raw, ok := m["versions"]; ok {
		items, _ := p.array(l.at("versions"), raw, true)
		for i, it := range items {
			vl := l.at("versions").index(i)
			if vm, ok := p.object(vl, it); ok {
				if v := p.version(vl, vm); v != nil {
					v.WorkflowID = w.ID
					w.Versions = append(w.Versions, v)
				}
			}
		}
	}
	if strings.TrimSpace(w.Name) == "" && len(p.errs) == n {
		p.fail(l.at("name"), "is required: the workflow's file name is made from it")
	}
	if len(p.errs) > n {
		return nil
	}
	return w
}

func (p *parser) version(l location, m map[string]json.RawMessage) *Version {
	n := len(p.errs)
	v := &Version{at: l, fields: sortedKeys(m)}
	v.WorkflowID = p.str(l, m, "workflow_id")
	v.Number = p.int(l, m, "version")
	v.Nodes = p.objects(l, m, "nodes")
	v.Edges = p.objects(l, m, "edges")
	v.Name = p.str(l, m, "name")
	v.Tag = p.str(l, m, "tag")
	v.Description = p.str(l, m, "description")
	v.CreatedAt = p.time(l, m, "created_at")
	v.CreatedBy = p.str(l, m, "created_by")
	v.RestoredFrom = p.int(l, m, "restored_from")
	v.Automatic = p.bool(l, m, "is_automatic")
	v.RunStatus = p.str(l, m, "run_status")
	if v.Number < 1 && len(p.errs) == n {
		p.fail(l.at("version"), "must be a version number from 1, not %d", v.Number)
	}
	if len(p.errs) > n {
		return nil
	}
	return v
}

// object decodes raw as a JSON object, keeping its values as written.
func (p *parser) object(l location, raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		p.fail(l, "must be a JSON object, not %s", kindOf(raw))
		return nil, false
	}
	return m, true
}

// array decodes raw as a JSON array; null is an empty one. When must is
// false, a value that is not an array is no problem.
func (p *parser) array(l location, raw json.RawMessage, must bool) ([]json.RawMessage, bool) {
	if isNull(raw) {
		return nil, must
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		if must {
			p.fail(l, "must be an array, not %s", kindOf(raw))
		}
		return nil, false
	}
	return items, true
}

// objects reads an array of objects (nodes, edges), each as written.
func (p *parser) objects(l location, m map[string]json.RawMessage, key string) []json.RawMessage {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	items, ok := p.array(l.at(key), raw, true)
	if !ok {
		return nil
	}
	for i, it := range items {
		if kindOf(it) != "an object" {
			p.fail(l.at(key).index(i), "must be a JSON object, not %s", kindOf(it))
		}
	}
	return items
}

// str reads a string; absent or null is "".
func (p *parser) str(l location, m map[string]json.RawMessage, key string) string {
	var s string
	p.scalar(l, m, key, &s, "a string")
	return s
}

func (p *parser) bool(l location, m map[string]json.RawMessage, key string) bool {
	var b bool
	p.scalar(l, m, key, &b, "true or false")
	return b
}

func (p *parser) int(l location, m map[string]json.RawMessage, key string) int {
	var n int
	p.scalar(l, m, key, &n, "a whole number")
	return n
}

func (p *parser) strs(l location, m map[string]json.RawMessage, key string) []string {
	var s []string
	p.scalar(l, m, key, &s, "an array of strings")
	return s
}

// time reads a time as KubeOrch's API writes it, RFC 3339.
func (p *parser) time(l location, m map[string]json.RawMessage, key string) time.Time {
	var s string
	if !p.scalar(l, m, key, &s, "a time") || s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.fail(l.at(key), "must be an RFC 3339 time such as 2025-01-02T15:04:05Z, not %q", s)
		return time.Time{}
	}
	return t
}

// scalar decodes m[key] into v; absent or null leaves v as is and
// returns false.
func (p *parser) scalar(l location, m map[string]json.RawMessage, key string, v any, want string) bool {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		p.fail(l.at(key), "must be %s, not %s", want, kindOf(raw))
		return false
	}
	return true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// kindOf names the JSON type of raw, for messages.
func kindOf(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package watch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FluxFieldManager is the field manager kustomize-controller applies
// with: a field another manager holds was set outside Flux.
const FluxFieldManager = "kustomize-controller"

// fluxOwnerLabel marks what a Flux Kustomization applied.
const fluxOwnerLabel = "kustomize.toolkit.fluxcd.io/name"

// FieldChange is a field of a Flux-managed object that the deploy tree
// sets and that a manager other than Flux set last: `kubectl scale`,
// `kubectl edit`, a controller. Flux sets it back at its next apply.
type FieldChange struct {
	// Field is the field's path, as in "spec.replicas" or
	// "spec.template.spec.containers[name=web].image".
	Field   string `json:"field"`
	Manager string `json:"manager"`
	// Time is that of the manager's managedFields entry; the API server
	// records none for an update through the scale subresource.
	Time time.Time `json:"time,omitzero"`

	path []pathElem
}

// String says what changed, by whom and, when known, when, as in
// "spec.replicas changed by kubectl-edit at 12:03".
func (c FieldChange) String() string {
	s := c.Field + " changed by " + c.Manager
	if !c.Time.IsZero() {
		s += " at " + c.Time.UTC().Format("15:04")
	}
	return s
}

// pathElem is one step of a managed field's path (fieldsV1): a field of
// a map, the element of a list with these key fields, the element of a
// set with this value, or the element at an index.
type pathElem struct {
	field string
	key   map[string]any
	value any
	index int
	kind  byte // 'f', 'k', 'v' or 'i'
}

// keepForeignFields drops an object's managed fields, except, on an
// object a Flux Kustomization applied, the entries of managers other than
// Flux's outside the status subresource: only those can hold a field the
// deploy tree sets. They are few, so the cache stays small.
func keepForeignFields(u *unstructured.Unstructured) {
	meta, _ := u.Object["metadata"].(map[string]any)
	entries, _ := meta["managedFields"].([]any)
	if len(entries) == 0 {
		return
	}
	var kept []any
	if _, flux := u.GetLabels()[fluxOwnerLabel]; flux {
		for _, e := range entries {
			m, _ := e.(map[string]any)
			if m["manager"] != FluxFieldManager && m["subresource"] != "status" {
				kept = append(kept, e)
			}
		}
	}
	if len(kept) == 0 {
		delete(meta, "managedFields")
		return
	}
	meta["managedFields"] = kept
}

// foreignChanges lists the leaf fields that the managed fields kept by
// keepForeignFields hold, each with its manager and the time of its
// entry, sorted by field; whether the deploy tree sets them is not known here (see
// FieldDrift).
func foreignChanges(u *unstructured.Unstructured) []FieldChange {
	meta, _ := u.Object["metadata"].(map[string]any)
	entries, _ := meta["managedFields"].([]any)
	var out []FieldChange
	for _, e := range entries {
		m, _ := e.(map[string]any)
		manager, _ := m["manager"].(string)
		fields, _ := m["fieldsV1"].(map[string]any)
		var at time.Time
		if s, ok := m["time"].(string); ok {
			at, _ = time.Parse(time.RFC3339, s)
		}
		walkLeaves(fields, nil, func(p []pathElem) {
			out = append(out, FieldChange{Field: pathString(p), Manager: manager, Time: at, path: p})
		})
	}
	slices.SortFunc(out, func(a, b FieldChange) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Manager, b.Manager))
	})
	return out
}

// walkLeaves calls leaf with the path of every leaf of a fieldsV1 set.
// A "." member (the container itself) is not a leaf: owning a map or a
// list element says nothing of the fields the tree sets in it.
func walkLeaves(fields map[string]any, prefix []pathElem, leaf func([]pathElem)) {
	for k, v := range fields {
		if k == "." {
			continue
		}
		e, ok := parseElem(k)
		if !ok {
			continue
		}
		p := append(slices.Clip(prefix), e)
		sub, _ := v.(map[string]any)
		if len(sub) == 0 {
			leaf(p)
			continue
		}
		walkLeaves(sub, p, leaf)
	}
}

// parseElem parses a fieldsV1 member name: "f:name", "k:{json}",
// "v:json" or "i:index".
func parseElem(s string) (pathElem, bool) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || len(kind) != 1 {
		return pathElem{}, false
	}
	e := pathElem{kind: kind[0]}
	switch e.kind {
	case 'f':
		e.field = rest
	case 'k':
		if json.Unmarshal([]byte(rest), &e.key) != nil {
			return pathElem{}, false
		}
	case 'v':
		if json.Unmarshal([]byte(rest), &e.value) != nil {
			return pathElem{}, false
		}
	case 'i':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return pathElem{}, false
		}
		e.index = n
	default:
		return pathElem{}, false
	}
	return e, true
}

// plainField is a field name written as is in a path; others are quoted.
var plainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// pathString writes a path as in "spec.template.spec.containers[name=web].image"
// or `metadata.annotations["example.com/owner"]`.
func pathString(p []pathElem) string {
	var b strings.Builder
	for _, e := range p {
		switch e.kind {
		case 'f':
			if plainField.MatchString(e.field) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(e.field)
			} else {
				b.WriteString("[" + strconv.Quote(e.field) + "]")
			}
		case 'k':
			names := make([]string, 0, len(e.key))
			for n := range e.key {
				names = append(names, n)
			}
			slices.Sort(names)
			for i, n := range names {
				names[i] = n + "=" + scalar(e.key[n])
			}
			b.WriteString("[" + strings.Join(names, ",") + "]")
		case 'v':
			b.WriteString("[=" + scalar(e.value) + "]")
		case 'i':
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return b.String()
}

func scalar(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sets reports whether obj, an object as the deploy tree renders it,
// sets the field at p.
func sets(obj any, p []pathElem) bool {
	cur := obj
	for _, e := range p {
		switch e.kind {
		case 'f':
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			if cur, ok = m[e.field]; !ok {
				return false
			}
		case 'k', 'v', 'i':
			l, ok := cur.([]any)
			if !ok {
				return false
			}
			i := e.index
			if e.kind != 'i' {
				i = slices.IndexFunc(l, e.matches)
			}
			if i < 0 || i >= len(l) {
				return false
			}
			cur = l[i]
		}
	}
	return true
}

// matches reports whether a list item is the one a key or value element
// names. Numbers are compared as JSON writes them. A key field the
// rendered item leaves out is one the API server defaulted (a port's
// protocol), and matches; at least one must be there.
func (e pathElem) matches(item any) bool {
	switch e.kind {
	case 'k':
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		found := false
		for k, v := range e.key {
			have, ok := m[k]
			if ok && !sameJSON(have, v) {
				return false
			}
			found = found || ok
		}
		return found
	case 'v':
		return sameJSON(item, e.value)
	}
	return false
}

func sameJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// RenderedObjects reads the objects a deploy tree renders for a workflow.
type RenderedObjects interface {
	// Rendered returns the object of the workflow's base at deployCommit
	// with ref's group, kind and name (its namespace is the overlay's),
	// or nil when there is none.
	Rendered(ctx context.Context, deployCommit, workflow string, ref Ref) (map[string]any, error)
}

// maxFieldDrifts bounds what a FieldDrift remembers; a full memory starts
// again empty.
const maxFieldDrifts = 4096

// FieldDrift keeps, of each object's foreign changes, those of fields
// the deploy tree at the live revision sets. It remembers which fields a
// deploy commit sets for an object, so that a tree is read again only
// when a deploy commit or the foreign fields change.
type FieldDrift struct {
	r RenderedObjects

	mu   sync.Mutex
	sets map[string][]bool // commit, workflow, object, fields → set by the tree
}

// NewFieldDrift returns a FieldDrift reading rendered objects from r.
func NewFieldDrift(r RenderedObjects) *FieldDrift {
	return &FieldDrift{r: r, sets: map[string][]bool{}}
}

// Apply keeps, on each object of ws, the changes of fields the deploy
// tree at the live revision sets and that the workflow's Kustomization
// k does not tell Flux to ignore (spec.ignore: an HPA's replicas). Without
// a live revision, or when the tree cannot be read, no change is kept.
func (f *FieldDrift) Apply(ctx context.Context, ws *WorkflowStatus, k *unstructured.Unstructured) {
	ignore := ignoreRules(k)
	for i := range ws.Nodes {
		objs := ws.Nodes[i].Objects
		for j := range objs {
			if len(objs[j].Changes) == 0 {
				continue
			}
			objs[j].Changes = f.drifted(ctx, ws, objs[j], ignore)
		}
	}
}

// drifted returns the changes of o that are drift, in a new slice:
// snapshots share the one they hold.
func (f *FieldDrift) drifted(ctx context.Context, ws *WorkflowStatus, o Object, ignore []ignoreRule) []FieldChange {
	if ws.Sync.Live == nil {
		return nil
	}
	commit := ws.Sync.Live.DeployCommit
	var key strings.Builder
	fmt.Fprintf(&key, "%s/%s/%s/%s/%s", commit, ws.Name, o.Group, o.Kind, o.Name)
	for _, c := range o.Changes {
		key.WriteString("\x00" + c.Field)
	}
	f.mu.Lock()
	set, ok := f.sets[key.String()]
	f.mu.Unlock()
	if !ok {
		obj, err := f.r.Rendered(ctx, commit, ws.Name, o.Ref())
		if err != nil {
			return nil
		}
		set = make([]bool, len(o.Changes))
		for i, c := range o.Changes {
			set[i] = obj != nil && sets(obj, c.path)
		}
		f.mu.Lock()
		if len(f.sets) >= maxFieldDrifts {
			f.sets = map[string][]bool{}
		}
		f.sets[key.String()] = set
		f.mu.Unlock()
	}
	var out []FieldChange
	for i, c := range o.Changes {
		if set[i] && !ignored(ignore, o, c.Field) {
			out = append(out, c)
		}
	}
	return out
}

// ignoreRule is one of a Flux Kustomization's spec.ignore rules: fields
// (as paths) Flux leaves alone in objects its target selects.
type ignoreRule struct {
	fields          []string
	group, kind, ns string
	name            *regexp.Regexp
}

// ignoreRules reads a Kustomization's spec.ignore.
func ignoreRules(k *unstructured.Unstructured) []ignoreRule {
	if k == nil {
		return nil
	}
	rules, _, _ := unstructured.NestedSlice(k.Object, "spec", "ignore")
	var out []ignoreRule
	for _, r := range rules {
		m, _ := r.(map[string]any)
		paths, _, _ := unstructured.NestedStringSlice(m, "paths")
		var rule ignoreRule
		for _, p := range paths {
			rule.fields = append(rule.fields, pointerPath(p))
		}
		rule.group, _, _ = unstructured.NestedString(m, "target", "group")
		rule.kind, _, _ = unstructured.NestedString(m, "target", "kind")
		rule.ns, _, _ = unstructured.NestedString(m, "target", "namespace")
		if name, _, _ := unstructured.NestedString(m, "target", "name"); name != "" {
			re, err := regexp.Compile("^(?:" + name + ")$")
			if err != nil {
				continue // Flux refuses it too
			}
			rule.name = re
		}
		out = append(out, rule)
	}
	return out
}

// pointerPath turns a JSON pointer ("/spec/replicas") into a field path
// ("spec.replicas"), its indices as in "containers[0]".
func pointerPath(ptr string) string {
	var p []pathElem
	for _, t := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		if n, err := strconv.Atoi(t); err == nil && len(p) > 0 {
			p = append(p, pathElem{kind: 'i', index: n})
			continue
		}
		p = append(p, pathElem{kind: 'f', field: t})
	}
	return pathString(p)
}

// ignored reports whether a rule tells Flux to leave field of o alone. A
// target's name is a regular expression, as kustomize's are. Rules that
// select by label or annotation are taken to select o when their other
// terms do: the snapshot keeps no labels, and a change Flux may ignore is
// not shown as drift it reverts.
func ignored(rules []ignoreRule, o Object, field string) bool {
	for _, r := range rules {
		if (r.group != "" && r.group != o.Group) || (r.kind != "" && r.kind != o.Kind) ||
			(r.name != nil && !r.name.MatchString(o.Name)) || (r.ns != "" && r.ns != o.Namespace) {
			continue
		}
		for _, p := range r.fields {
			if field == p || strings.HasPrefix(field, p+".") || strings.HasPrefix(field, p+"[") {
				return true
			}
		}
	}
	return false
}

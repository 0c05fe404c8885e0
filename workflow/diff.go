package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
)

// Graph is a workflow read for comparison only: versions from history may
// break rules added later, so nothing is validated, and node data stays as
// generic JSON.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []Edge      `json:"edges"`
}

// GraphNode is a node of a Graph.
type GraphNode struct {
	ID       string         `json:"id"`
	Type     Kind           `json:"type"`
	Position Position       `json:"position"`
	Data     map[string]any `json:"data"`
}

// ParseGraph reads the nodes and edges of a workflow file without
// validating them.
func ParseGraph(data []byte) (*Graph, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var g Graph
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("parse workflow graph: %w", err)
	}
	return &g, nil
}

// DiffFields returns the changed top-level fields of two versions of a
// workflow file, nodes and edges aside, with their secrets Redacted;
// either may fail to parse, and then nothing is reported.
func DiffFields(from, to []byte) []Change {
	var a, b map[string]any
	if json.Unmarshal(from, &a) != nil || json.Unmarshal(to, &b) != nil {
		return nil
	}
	for _, m := range []map[string]any{a, b} {
		delete(m, "nodes")
		delete(m, "edges")
	}
	return diffValues("", shown, a, b)
}

// GraphDiff is what changed between two versions of a workflow. Every list
// is sorted by id, never in map order.
type GraphDiff struct {
	AddedNodes    []NodeDiff `json:"added_nodes"`
	RemovedNodes  []NodeDiff `json:"removed_nodes"`
	ModifiedNodes []NodeDiff `json:"modified_nodes"`
	// MovedNodes changed only their canvas position.
	MovedNodes    []NodeDiff `json:"moved_nodes"`
	AddedEdges    []EdgeDiff `json:"added_edges"`
	RemovedEdges  []EdgeDiff `json:"removed_edges"`
	ModifiedEdges []EdgeDiff `json:"modified_edges"`
}

// Empty reports whether the versions have the same graph.
func (d *GraphDiff) Empty() bool {
	return len(d.AddedNodes)+len(d.RemovedNodes)+len(d.ModifiedNodes)+len(d.MovedNodes)+
		len(d.AddedEdges)+len(d.RemovedEdges)+len(d.ModifiedEdges) == 0
}

// NodeDiff is one added, removed, modified or moved node.
type NodeDiff struct {
	NodeID string `json:"node_id"`
	Type   Kind   `json:"type"`
	// Name is the node's object name (in the newer version, if it has one).
	Name string `json:"name,omitempty"`
	// Changes are the changed data fields of a modified node.
	Changes []Change `json:"changes,omitempty"`
	// OldPosition and NewPosition are set when the node moved.
	OldPosition *Position `json:"old_position,omitempty"`
	NewPosition *Position `json:"new_position,omitempty"`
}

// EdgeDiff is one added, removed or modified edge.
type EdgeDiff struct {
	EdgeID  string   `json:"edge_id"`
	Source  string   `json:"source"`
	Target  string   `json:"target"`
	Changes []Change `json:"changes,omitempty"`
}

// Change is one changed field: Path is a JSON pointer into the node's data
// (or the edge); Old or New is absent when the field was added or removed.
// Secret values are Redacted in both (see Redact).
type Change struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// Diff compares two versions of a workflow graph. The values of changed
// fields that are or may be secrets are Redacted (see Redact), whichever
// version holds them: all of a node's data but its names when either
// version of the node is a secret.
func Diff(from, to *Graph) *GraphDiff {
	d := &GraphDiff{}
	matchByID(from.Nodes, to.Nodes, func(n GraphNode) string { return n.ID }, func(o, n *GraphNode) {
		switch {
		case o == nil:
			d.AddedNodes = append(d.AddedNodes, NodeDiff{NodeID: n.ID, Type: n.Type, Name: nameOf(*n)})
			return
		case n == nil:
			d.RemovedNodes = append(d.RemovedNodes, NodeDiff{NodeID: o.ID, Type: o.Type, Name: nameOf(*o)})
			return
		}
		nd := NodeDiff{NodeID: n.ID, Type: n.Type, Name: nameOf(*n)}
		if o.Type != n.Type {
			nd.Changes = append(nd.Changes, Change{Path: "/type", Old: o.Type, New: n.Type})
		}
		nd.Changes = append(nd.Changes, diffValues("/data", nodeScope(o, n), o.Data, n.Data)...)
		if o.Position != n.Position {
			op, np := o.Position, n.Position
			nd.OldPosition, nd.NewPosition = &op, &np
		}
		switch {
		case len(nd.Changes) > 0:
			d.ModifiedNodes = append(d.ModifiedNodes, nd)
		case nd.NewPosition != nil:
			d.MovedNodes = append(d.MovedNodes, nd)
		}
	})
	matchByID(from.Edges, to.Edges, func(e Edge) string { return e.ID }, func(o, e *Edge) {
		switch {
		case o == nil:
			d.AddedEdges = append(d.AddedEdges, EdgeDiff{EdgeID: e.ID, Source: e.Source, Target: e.Target})
		case e == nil:
			d.RemovedEdges = append(d.RemovedEdges, EdgeDiff{EdgeID: o.ID, Source: o.Source, Target: o.Target})
		default:
			if changes := diffValues("", shown, edgeFields(*o), edgeFields(*e)); len(changes) > 0 {
				d.ModifiedEdges = append(d.ModifiedEdges, EdgeDiff{EdgeID: e.ID, Source: e.Source, Target: e.Target, Changes: changes})
			}
		}
	})
	for _, nodes := range [][]NodeDiff{d.AddedNodes, d.RemovedNodes, d.ModifiedNodes, d.MovedNodes} {
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].NodeID < nodes[j].NodeID })
	}
	for _, edges := range [][]EdgeDiff{d.AddedEdges, d.RemovedEdges, d.ModifiedEdges} {
		sort.Slice(edges, func(i, j int) bool { return edges[i].EdgeID < edges[j].EdgeID })
	}
	return d
}

// matchByID pairs the items of two versions by id and calls visit with
// each pair: old is nil for an added item, new nil for a removed one.
// Versions from history are not validated and may repeat an id: the k-th
// item of an id is paired with the k-th of the other version.
func matchByID[T any](from, to []T, id func(T) string, visit func(old, new *T)) {
	keys := func(items []T) []string {
		seen := map[string]int{}
		out := make([]string, len(items))
		for i, it := range items {
			k := id(it)
			if n := seen[k]; n > 0 {
				k += "\x00" + strconv.Itoa(n)
			}
			out[i] = k
			seen[id(it)]++
		}
		return out
	}
	fromKeys, toKeys := keys(from), keys(to)
	old := make(map[string]*T, len(from))
	for i := range from {
		old[fromKeys[i]] = &from[i]
	}
	kept := make(map[string]bool, len(to))
	for i := range to {
		kept[toKeys[i]] = true
		visit(old[toKeys[i]], &to[i])
	}
	for i := range from {
		if !kept[fromKeys[i]] {
			visit(&from[i], nil)
		}
	}
}

func nameOf(n GraphNode) string {
	s, _ := n.Data["name"].(string)
	return s
}

// edgeFields lists the fields of an edge that matter for comparison.
func edgeFields(e Edge) map[string]any {
	m := map[string]any{"source": e.Source, "target": e.Target}
	for k, v := range map[string]string{"sourceHandle": e.SourceHandle, "targetHandle": e.TargetHandle, "type": e.Type, "label": e.Label} {
		if v != "" {
			m[k] = v
		}
	}
	if e.Animated {
		m["animated"] = true
	}
	return m
}

// diffValues returns the field-level changes from a to b at ptr, which
// sit in scope s, in pointer order, their secrets redacted. Objects are
// compared key by key; anything else (arrays included, whose elements have
// no identity) is compared whole.
func diffValues(ptr string, s scope, a, b any) []Change {
	var out []Change
	diffInto(&out, []string{ptr}, s, a, b)
	return out
}

// diffInto appends the changes at path (JSON pointer tokens, the first one
// a prefix), in scope s, to out; the pointer string is built only for a
// change. A member's scope is decided over both versions of its object.
func diffInto(out *[]Change, path []string, s scope, a, b any) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, dup := am[k]; !dup {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			av, inA := am[k]
			bv, inB := bm[k]
			sub, ks := append(path, k), s.member(k, am, bm)
			switch {
			case !inA:
				*out = append(*out, Change{Path: joinPointer(sub), New: redactValue(bv, ks)})
			case !inB:
				*out = append(*out, Change{Path: joinPointer(sub), Old: redactValue(av, ks)})
			default:
				diffInto(out, sub, ks, av, bv)
			}
		}
		return
	}
	if reflect.DeepEqual(a, b) {
		return
	}
	p := joinPointer(path)
	if p == "" {
		p = "/"
	}
	*out = append(*out, Change{Path: p, Old: redactValue(a, s), New: redactValue(b, s)})
}

// joinPointer builds a JSON pointer from a prefix and tokens.
func joinPointer(path []string) string {
	tokens := make([]any, len(path)-1)
	for i, t := range path[1:] {
		tokens[i] = t
	}
	return pointer(path[0], tokens...)
}

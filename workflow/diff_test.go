package workflow

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func graph(t *testing.T, s string) *Graph {
	t.Helper()
	g, err := ParseGraph([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDiff(t *testing.T) {
	t.Parallel()
	from := graph(t, `{"nodes": [
		{"id": "b", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "b", "replicas": 1, "env": {"A": "1", "B": "2"}}},
		{"id": "a", "type": "service", "position": {"x": 5, "y": 5}, "data": {"name": "a", "port": 80}},
		{"id": "gone", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "gone", "data": {}}},
		{"id": "both", "type": "deployment", "position": {"x": 1, "y": 1}, "data": {"name": "both", "args": ["x"]}}],
	 "edges": [{"id": "e1", "source": "a", "target": "b"}, {"id": "e2", "source": "gone", "target": "b"}]}`)
	to := graph(t, `{"nodes": [
		{"id": "new", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "new", "keys": [{"name": "k"}]}},
		{"id": "both", "type": "deployment", "position": {"x": 2, "y": 2}, "data": {"name": "both", "args": ["x", "y"]}},
		{"id": "a", "type": "service", "position": {"x": 9, "y": 9}, "data": {"name": "a", "port": 80}},
		{"id": "b", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "b", "replicas": 3, "env": {"A": "1", "C": "3"}}}],
	 "edges": [{"id": "e1", "source": "a", "target": "b", "targetHandle": "x"}, {"id": "e3", "source": "new", "target": "b"}]}`)
	got := Diff(from, to)
	want := &GraphDiff{
		AddedNodes:   []NodeDiff{{NodeID: "new", Type: KindSecret, Name: "new"}},
		RemovedNodes: []NodeDiff{{NodeID: "gone", Type: KindConfigMap, Name: "gone"}},
		ModifiedNodes: []NodeDiff{
			{NodeID: "b", Type: KindDeployment, Name: "b", Changes: []Change{
				{Path: "/data/env/B", Old: "2"},
				{Path: "/data/env/C", New: "3"},
				{Path: "/data/replicas", Old: numberOf("1"), New: numberOf("3")},
			}},
			{NodeID: "both", Type: KindDeployment, Name: "both",
				Changes:     []Change{{Path: "/data/args", Old: []any{"x"}, New: []any{"x", "y"}}},
				OldPosition: &Position{1, 1}, NewPosition: &Position{2, 2}},
		},
		MovedNodes:    []NodeDiff{{NodeID: "a", Type: KindService, Name: "a", OldPosition: &Position{5, 5}, NewPosition: &Position{9, 9}}},
		AddedEdges:    []EdgeDiff{{EdgeID: "e3", Source: "new", Target: "b"}},
		RemovedEdges:  []EdgeDiff{{EdgeID: "e2", Source: "gone", Target: "b"}},
		ModifiedEdges: []EdgeDiff{{EdgeID: "e1", Source: "a", Target: "b", Changes: []Change{{Path: "/targetHandle", New: "x"}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if d := Diff(to, to); !d.Empty() {
		t.Errorf("a graph differs from itself: %+v", d)
	}
}

func TestDiffFields(t *testing.T) {
	t.Parallel()
	got := DiffFields([]byte(`{"name": "w", "status": "draft", "tags": ["a"], "nodes": [1], "edges": []}`),
		[]byte(`{"name": "w", "status": "published", "namespace": "x", "nodes": [2], "edges": []}`))
	want := []Change{{Path: "/namespace", New: "x"}, {Path: "/status", Old: "draft", New: "published"}, {Path: "/tags", Old: []any{"a"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DiffFields (-want +got):\n%s", diff)
	}
}

func numberOf(s string) any { return json.Number(s) }

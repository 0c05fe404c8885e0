package ui

import (
	"math"
	"regexp"
	"slices"

	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// validName accepts what can be a workflow file's stem, nothing that
// walks paths.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,252}$`).MatchString

// Node box size and canvas margin, in SVG units.
const (
	nodeW, nodeH = 190, 58
	margin       = 24
)

// Graph is a workflow drawn from its node positions, with each node's
// live health.
type Graph struct {
	Width, Height float64
	Nodes         []GraphNode
	Edges         []GraphEdge
	// Kinds are the edge kinds drawn, for the legend.
	Kinds []string
}

// GraphNode is one node box.
type GraphNode struct {
	ID, Type, Name string
	X, Y           float64
	watch.Result
	Objects []watch.Object
	// Figures are the node's objects' figures in words (see
	// watch.Figures.Summary).
	Figures string
}

// GraphEdge is one edge line from the centre of a node's box to another's.
type GraphEdge struct {
	ID             string
	Kind           string
	X1, Y1, X2, Y2 float64
}

// NewGraph lays out wf with the health of ws's nodes (ws may be nil).
func NewGraph(wf *workflow.Workflow, ws *watch.WorkflowStatus) *Graph {
	live := map[string]watch.Node{}
	if ws != nil {
		for _, n := range ws.Nodes {
			live[n.ID] = n
		}
	}
	g := &Graph{}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, n := range wf.Nodes {
		minX, minY = min(minX, n.Position.X), min(minY, n.Position.Y)
		maxX, maxY = max(maxX, n.Position.X), max(maxY, n.Position.Y)
	}
	if len(wf.Nodes) == 0 {
		minX, minY, maxX, maxY = 0, 0, 0, 0
	}
	at := map[string]*GraphNode{}
	for _, n := range wf.Nodes {
		gn := GraphNode{ID: n.ID, Type: string(n.Type), Name: n.Name(), X: n.Position.X - minX + margin, Y: n.Position.Y - minY + margin,
			Result: watch.Result{Health: watch.Unknown, Reason: "no live objects seen"}}
		if ws != nil && ws.Health == watch.NotWatched {
			gn.Result = ws.Result
		}
		if ln, ok := live[n.ID]; ok {
			gn.Result, gn.Objects, gn.Figures = ln.Result, ln.Objects, ln.Figures()
		}
		if gn.Name == "" {
			gn.Name = n.ID
		}
		g.Nodes = append(g.Nodes, gn)
	}
	for i := range g.Nodes {
		at[g.Nodes[i].ID] = &g.Nodes[i]
	}
	kinds := map[string]bool{}
	for _, e := range wf.Edges {
		s, t := at[e.Source], at[e.Target]
		if s == nil || t == nil {
			continue
		}
		k := edgeKind(s.Type, t.Type)
		kinds[k] = true
		g.Edges = append(g.Edges, GraphEdge{ID: e.ID, Kind: k, X1: s.X + nodeW/2, Y1: s.Y + nodeH/2, X2: t.X + nodeW/2, Y2: t.Y + nodeH/2})
	}
	for k := range kinds {
		g.Kinds = append(g.Kinds, k)
	}
	slices.Sort(g.Kinds)
	g.Width, g.Height = maxX-minX+nodeW+2*margin, maxY-minY+nodeH+2*margin
	return g
}

// edgeKind names what an edge means by the kinds of the nodes it joins,
// whichever way it is drawn.
func edgeKind(a, b string) string {
	has := func(k string) bool { return a == k || b == k }
	switch {
	case has("ingress") && has("service"):
		return "routes"
	case has("service"):
		return "selects"
	case has("configmap"), has("secret"):
		return "configures"
	case has("persistentvolumeclaim"):
		return "mounts"
	case has("hpa"):
		return "scales"
	case has("networkpolicy"):
		return "guards"
	}
	return "links"
}

package ui

import (
	"context"
	"slices"
	"time"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/workflow"
)

// Builds lists the builds the workflow pages show (*build.Service).
type Builds interface {
	List(ctx context.Context) ([]*build.Record, error)
}

// recentBuilds is how many builds of a node a workflow page shows, newest
// first; the script keeps to it as builds start.
const recentBuilds = 10

// buildsData is a workflow page's builds section.
type buildsData struct {
	Nodes []nodeBuilds
	// Keep is how many builds of a node are shown.
	Keep int
	// Row is an empty row the script fills in for a build that starts
	// after the page loaded.
	Row build.Record
}

// nodeBuilds are one node's current and recent builds, newest first.
type nodeBuilds struct {
	ID, Name string
	Builds   []*build.Record
}

// workflowBuilds groups the builds of workflow name by node: each node of
// wf whose build names a repository, in wf's order, then each other node
// that has builds (one removed since, say), by id. all is newest first.
func workflowBuilds(wf *workflow.Workflow, name string, all []*build.Record) *buildsData {
	byNode := map[string][]*build.Record{}
	var others []string
	for _, r := range all {
		if r.Workflow != name {
			continue
		}
		if _, ok := byNode[r.Node]; !ok {
			others = append(others, r.Node)
		}
		if len(byNode[r.Node]) < recentBuilds {
			byNode[r.Node] = append(byNode[r.Node], r)
		}
	}
	d := &buildsData{Keep: recentBuilds}
	for i := range wf.Nodes {
		n := &wf.Nodes[i]
		if w, ok := n.Spec.(workflow.Workload); ok {
			if b := w.ContainerSpec().Build; b != nil && b.RepoURL != "" {
				d.Nodes = append(d.Nodes, nodeBuilds{ID: n.ID, Name: n.Name(), Builds: byNode[n.ID]})
				others = slices.DeleteFunc(others, func(id string) bool { return id == n.ID })
			}
		}
	}
	slices.Sort(others)
	for _, id := range others {
		d.Nodes = append(d.Nodes, nodeBuilds{ID: id, Name: id, Builds: byNode[id]})
	}
	return d
}

// buildDuration says how long an ended build took, to the second; "–"
// while it runs. The script says it the same way.
func buildDuration(r build.Record) string {
	if r.CompletedAt == nil {
		return "–"
	}
	return (time.Duration(r.Duration) * time.Millisecond).Round(time.Second).String()
}

// buildNote says why a build failed or was cancelled, or what became of
// its write-back. The script says it the same way.
func buildNote(r build.Record) string {
	switch {
	case r.Status == build.Failed || r.Status == build.Cancelled:
		return r.Error
	case r.WriteBackSkipped != "":
		return "write-back skipped: " + r.WriteBackSkipped
	case r.WriteBack != "":
		return "written back in " + short(r.WriteBack)
	}
	return ""
}

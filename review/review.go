package review

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// Change says what happened to a workflow or an object.
type Change string

// Changes.
const (
	Added    Change = "added"
	Removed  Change = "removed"
	Modified Change = "modified"
)

// Review is the difference between two versions of a repository.
type Review struct {
	// Base and Head name the compared versions (commits, for example).
	Base string `json:"base"`
	Head string `json:"head"`
	// Summary counts what changed.
	Summary Summary `json:"summary"`
	// Consequences say what Kubernetes and Flux do when the change
	// merges, beyond applying the changed objects.
	Consequences []Consequence `json:"consequences"`
	// Workflows lists the changed workflows by name; cluster-level files
	// are under the name "clusters".
	Workflows []WorkflowReview `json:"workflows"`
	// Problems holds the head's validation errors; a head with problems
	// renders nothing, and the review shows only them.
	Problems workflow.Errors `json:"problems,omitempty"`
	// DryRuns are the server-side dry-runs of the changed objects, one
	// per cluster, when the review was dry-run (see DryRun).
	DryRuns []DryRun `json:"dry_runs,omitempty"`

	// head holds the objects Flux applies at the head, for DryRun.
	head map[ObjectID]appliedObject
}

// Summary counts the changes of a review.
type Summary struct {
	Workflows       int `json:"workflows"`
	ObjectsAdded    int `json:"objects_added"`
	ObjectsRemoved  int `json:"objects_removed"`
	ObjectsModified int `json:"objects_modified"`
}

// WorkflowReview is what changed in one workflow.
type WorkflowReview struct {
	Name   string `json:"name"`
	Change Change `json:"change"`
	// Fields are the changed top-level fields of the workflow file
	// (status, namespace, dependsOn, ...), when both versions have one.
	Fields []workflow.Change `json:"fields,omitempty"`
	// Graph is the node and edge diff of the workflow file, when both
	// versions have one.
	Graph *workflow.GraphDiff `json:"graph,omitempty"`
	// Objects are the changed objects, as Flux applies them.
	Objects []ObjectReview `json:"objects"`
}

// ObjectReview is one changed object, as Flux applies it.
type ObjectReview struct {
	ObjectID
	Change Change `json:"change"`
	// Fields are the changed fields of a modified object.
	Fields []FieldChange `json:"fields,omitempty"`
	// Diff is a unified diff of the object; empty for a removed object,
	// whose content a reviewer does not need to read.
	Diff string `json:"diff,omitempty"`
	// Kept is set on a removed object that Flux leaves in the cluster
	// (its prune is disabled: a Namespace, a claim).
	Kept bool `json:"kept,omitempty"`
}

// Compare reviews the change from base to head. It renders only the
// workflows whose files differ (see compiler.BuildWorkflows), with c, whose
// cache makes the second build cheap, and compares the objects Flux
// applies: each overlay built with kustomize, and the objects of each
// cluster directory. A base that does not build is treated as empty; a
// head that does not build gives a review of its problems.
func Compare(ctx context.Context, c *compiler.Compiler, baseName, headName string, base, head source.Files) (*Review, error) {
	r := &Review{Base: baseName, Head: headName, Consequences: []Consequence{}}
	changed := changedWorkflows(base, head)
	headRes, err := c.BuildWorkflows(ctx, head, changed)
	if problems := workflow.AsErrors(err); problems != nil {
		r.Problems = problems
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", headName, err)
	}
	headObjs, err := applied(headRes.Tree)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", headName, err)
	}
	r.head = headObjs
	baseObjs := map[ObjectID]appliedObject{}
	if baseRes, err := c.BuildWorkflows(ctx, base, changed); err == nil {
		if objs, err := applied(baseRes.Tree); err == nil {
			baseObjs = objs
		}
	}
	byWorkflow := map[string]*WorkflowReview{}
	get := func(name string) *WorkflowReview {
		if w, ok := byWorkflow[name]; ok {
			return w
		}
		w := &WorkflowReview{Name: name, Change: Modified}
		byWorkflow[name] = w
		return w
	}
	ids := map[ObjectID]bool{}
	for id := range baseObjs {
		ids[id] = true
	}
	for id := range headObjs {
		ids[id] = true
	}
	for _, id := range sortedIDs(ids) {
		a, inBase := baseObjs[id]
		b, inHead := headObjs[id]
		if inBase && inHead && a.raw == b.raw {
			continue
		}
		o := ObjectReview{ObjectID: id, Change: Modified}
		owner := b.workflow
		switch {
		case !inBase:
			o.Change = Added
			r.Summary.ObjectsAdded++
		case !inHead:
			o.Change = Removed
			o.Kept = a.kept
			owner = a.workflow
			r.Summary.ObjectsRemoved++
		default:
			o.Fields = fieldChanges(a.fields, b.fields)
			r.Summary.ObjectsModified++
		}
		if o.Change != Removed {
			o.Diff = unified(id.file(), a.yaml, b.yaml)
		}
		w := get(owner)
		w.Objects = append(w.Objects, o)
	}
	for _, name := range changed {
		file := workflow.WorkflowFile(name)
		a, inBase := base[file]
		b, inHead := head[file]
		w := get(name)
		switch {
		case !inBase:
			w.Change = Added
		case !inHead:
			w.Change = Removed
		default:
			w.Fields = workflow.DiffFields(a, b)
			ga, errA := workflow.ParseGraph(a)
			gb, errB := workflow.ParseGraph(b)
			if errA == nil && errB == nil {
				if d := workflow.Diff(ga, gb); !d.Empty() {
					w.Graph = d
				}
			}
			w.Change = deployChange(w.Objects)
		}
		if w.Graph == nil && len(w.Objects) == 0 && w.Change == Modified {
			delete(byWorkflow, name) // a change that changes nothing, like a description
		}
	}
	r.Consequences = consequences(baseObjs, headObjs)
	place(r.Consequences, head, byWorkflow)
	for _, name := range slices.Sorted(maps.Keys(byWorkflow)) {
		r.Workflows = append(r.Workflows, *byWorkflow[name])
	}
	r.Summary.Workflows = len(r.ChangedWorkflows())
	return r, nil
}

// ChangedWorkflows names the workflows whose objects or graph changed.
func (r *Review) ChangedWorkflows() []string {
	var out []string
	for _, w := range r.Workflows {
		if w.Name != clustersGroup {
			out = append(out, w.Name)
		}
	}
	return out
}

// deployChange says what happens on the deploy branch to a workflow
// whose file changed: it comes or goes (its status changed) or changes.
func deployChange(objs []ObjectReview) Change {
	counts := map[Change]int{}
	for _, o := range objs {
		counts[o.Change]++
	}
	switch {
	case len(objs) > 0 && counts[Removed] == len(objs):
		return Removed
	case len(objs) > 0 && counts[Added] == len(objs):
		return Added
	}
	return Modified
}

// clustersGroup collects the objects of cluster directories that belong
// to no workflow.
const clustersGroup = "clusters"

// changedWorkflows names the workflows whose files differ, and every
// workflow when a cluster file differs.
func changedWorkflows(base, head source.Files) []string {
	names := map[string]bool{}
	clusters := false
	for _, p := range unionPaths(base, head) {
		if bytes.Equal(base[p], head[p]) && (base[p] != nil) == (head[p] != nil) {
			continue
		}
		switch {
		case workflow.IsWorkflowFile(p):
			names[strings.TrimSuffix(path.Base(p), ".json")] = true
		case workflow.IsClusterFile(p), workflow.IsPluginFile(p):
			clusters = true // every workflow may render differently
		}
	}
	if clusters {
		for _, src := range []source.Files{base, head} {
			for p := range src {
				if workflow.IsWorkflowFile(p) {
					names[strings.TrimSuffix(path.Base(p), ".json")] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(names))
}

func unionPaths[M ~map[string][]byte](a, b M) []string {
	set := map[string]bool{}
	for p := range a {
		set[p] = true
	}
	for p := range b {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

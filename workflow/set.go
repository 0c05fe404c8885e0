package workflow

import (
	"path"
	"sort"
	"strings"
)

// Source file layout of a workflows repository.
const (
	// WorkflowsDir holds one workflow per file: workflows/<name>.json.
	WorkflowsDir = "workflows"
	// ClustersDir holds one cluster per file: clusters/<name>.json.
	ClustersDir = "clusters"
	// PluginsDir holds the repository's plugin definitions, one per file:
	// plugins/<id>.json (see package plugins).
	PluginsDir = "plugins"
)

// IsPluginFile reports whether a repository path is a plugin definition.
func IsPluginFile(p string) bool {
	return path.Dir(p) == PluginsDir && strings.HasSuffix(p, ".json")
}

// IsWorkflowFile reports whether a repository path is a workflow file.
func IsWorkflowFile(p string) bool {
	return path.Dir(p) == WorkflowsDir && strings.HasSuffix(p, ".json")
}

// IsClusterFile reports whether a repository path is a cluster file.
func IsClusterFile(p string) bool {
	return path.Dir(p) == ClustersDir && strings.HasSuffix(p, ".json")
}

// WorkflowFile returns the path of a workflow's file.
func WorkflowFile(name string) string { return WorkflowsDir + "/" + name + ".json" }

// ClusterFile returns the path of a cluster's file.
func ClusterFile(name string) string { return ClustersDir + "/" + name + ".json" }

// CheckSet checks what only the whole repository can tell: that every
// workflow targets a cluster that exists, that dependsOn names published
// workflows on the same cluster without cycles, and that no two deployed
// workflows render an object of one kind and name into one namespace of a
// cluster (workflows may share a namespace), and that every published
// workflow deploys into a namespace its cluster allows
// (Cluster.AllowedNamespaces). It resolves each workflow's
// cluster (see Workflow.Cluster). Workflows and clusters must be valid on
// their own (Decode, DecodeCluster).
func CheckSet(workflows []*Workflow, clusters []*Cluster) error {
	var errs Errors
	add := func(w *Workflow, ptr, format string, args ...any) {
		c := collector{file: WorkflowFile(w.Name)}
		c.add(ptr, "", format, args...)
		errs = append(errs, c.errs...)
	}
	known := map[string]*Cluster{}
	var defaults []string
	for _, c := range clusters {
		known[c.Name] = c
		if c.Default {
			defaults = append(defaults, c.Name)
		}
	}
	if len(defaults) > 1 {
		sort.Strings(defaults)
		for _, d := range defaults[1:] {
			c := collector{file: ClusterFile(d)}
			c.add("/default", "", "cluster %q is already the default; only one cluster may be", defaults[0])
			errs = append(errs, c.errs...)
		}
	}
	byName := map[string]*Workflow{}
	for _, w := range workflows {
		byName[w.Name] = w
		switch {
		case len(clusters) == 0 && w.ClusterID != "" && w.ClusterID != DefaultCluster:
			add(w, "/cluster_id", "names cluster %q, but the repository defines no clusters (add %s)", w.ClusterID, ClusterFile(w.ClusterID))
		case len(clusters) == 0:
			w.cluster = DefaultCluster
		case w.ClusterID == "" && len(defaults) == 0:
			add(w, "/cluster_id", "is required: no cluster is marked default")
		case w.ClusterID == "":
			w.cluster = defaults[0]
		case known[w.ClusterID] == nil:
			add(w, "/cluster_id", "names cluster %q, which has no file %s", w.ClusterID, ClusterFile(w.ClusterID))
		default:
			w.cluster = w.ClusterID
		}
	}
	external := map[string]map[string]bool{} // cluster → names of Kustomizations Slipway does not render
	for _, c := range clusters {
		if c.Flux == nil {
			continue
		}
		external[c.Name] = map[string]bool{}
		for _, d := range c.Flux.DependsOn {
			if d.Namespace == "" {
				external[c.Name][d.Name] = true
			}
		}
	}
	// objects maps cluster, namespace, kind and name to the workflow and
	// node that render the object.
	type owner struct {
		w    *Workflow
		node string
	}
	objects := map[[4]string]owner{}
	for _, w := range workflows {
		if w.Status != StatusPublished {
			continue
		}
		errs = append(errs, checkAllowedNamespace(w, known[w.Cluster()])...)
		if external[w.Cluster()][w.Name] {
			add(w, "/name", "%q is the name of a Flux Kustomization that cluster %q depends on (%s /flux/dependsOn); the workflow's Kustomization would replace it. Rename the file", w.Name, w.Cluster(), ClusterFile(w.Cluster()))
		}
		if w.Flux != nil {
			for i, d := range w.Flux.DependsOn {
				if dep, ok := byName[d.Name]; ok && d.Namespace == "" && dep.Status == StatusPublished && dep.Cluster() == w.Cluster() {
					add(w, pointer("/flux/dependsOn", i), "names workflow %q; list it in the top-level dependsOn, which Slipway checks", d.Name)
				}
			}
		}
		for _, o := range w.ObjectRefs() {
			key := [4]string{w.Cluster(), w.TargetNamespace(), o.Kind, o.Name}
			prev, dup := objects[key]
			if !dup {
				objects[key] = owner{w, o.NodeID}
				continue
			}
			c := collector{file: WorkflowFile(w.Name)}
			c.add(pointer("/nodes", w.nodeIndex(o.NodeID), "data", "name"), o.NodeID,
				"%s %q in namespace %q on cluster %q is also rendered by workflow %q (node %q); one of them must rename it",
				o.Kind, o.Name, key[1], key[0], prev.w.Name, prev.node)
			errs = append(errs, c.errs...)
		}
		for i, d := range w.DependsOn {
			dep, ok := byName[d]
			switch {
			case !ok:
				add(w, pointer("/dependsOn", i), "names workflow %q, which does not exist", d)
			case dep.Status != StatusPublished:
				add(w, pointer("/dependsOn", i), "names workflow %q, which is %s, not published", d, dep.Status)
			case dep.Cluster() != w.Cluster():
				add(w, pointer("/dependsOn", i), "names workflow %q on cluster %q; dependencies must share the cluster %q", d, dep.Cluster(), w.Cluster())
			}
		}
	}
	for _, cycle := range dependencyCycles(workflows, byName) {
		add(byName[cycle[0]], "/dependsOn", "dependency cycle: %s", strings.Join(cycle, " → "))
	}
	if len(errs) == 0 {
		return nil
	}
	errs.Sort()
	return errs
}

// ObjectRef names an object a workflow renders.
type ObjectRef struct {
	// Kind is the object's Kubernetes kind.
	Kind string
	// Name is the object's name.
	Name string
	// NodeID is the node it is rendered from.
	NodeID string
}

// ObjectRefs lists the namespaced objects a valid workflow renders, in
// node order: one per node, and the headless Service of a statefulset
// whose serviceName no service node has.
func (w *Workflow) ObjectRefs() []ObjectRef {
	var out []ObjectRef
	for i := range w.Nodes {
		n := &w.Nodes[i]
		var kind string
		if s := n.Type.spec(); s != nil {
			kind = s.object
		}
		if p, ok := n.Spec.(*PluginData); ok {
			kind = p.Kind
		}
		if kind == "" {
			continue
		}
		out = append(out, ObjectRef{Kind: kind, Name: n.Name(), NodeID: n.ID})
		if s, ok := n.Spec.(*StatefulSetData); ok && s.ServiceName != "" && w.nodeNamed(KindService, s.ServiceName) == nil {
			out = append(out, ObjectRef{Kind: "Service", Name: s.ServiceName, NodeID: n.ID})
		}
	}
	return out
}

// nodeNamed returns the node of a kind with an object name, or nil.
func (w *Workflow) nodeNamed(kind Kind, name string) *Node {
	for i := range w.Nodes {
		if n := &w.Nodes[i]; n.Type == kind && n.Spec != nil && n.Name() == name {
			return n
		}
	}
	return nil
}

// nodeIndex returns the index of the node with id, or -1.
func (w *Workflow) nodeIndex(id string) int {
	for i := range w.Nodes {
		if w.Nodes[i].ID == id {
			return i
		}
	}
	return -1
}

// dependencyCycles returns each cycle of dependsOn once, starting at its
// smallest name.
func dependencyCycles(workflows []*Workflow, byName map[string]*Workflow) [][]string {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var cycles [][]string
	var visit func(name string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		deps := append([]string(nil), byName[name].DependsOn...)
		sort.Strings(deps)
		for _, d := range deps {
			if _, ok := byName[d]; !ok {
				continue
			}
			switch state[d] {
			case unvisited:
				visit(d)
			case active:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cycles = append(cycles, rotate(append(append([]string(nil), stack[i:]...), d)))
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	names := make([]string, 0, len(workflows))
	for _, w := range workflows {
		names = append(names, w.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return cycles
}

// rotate turns a closed path a→b→c→a into the same cycle starting at its
// smallest name.
func rotate(cycle []string) []string {
	open := cycle[:len(cycle)-1]
	min := 0
	for i, n := range open {
		if n < open[min] {
			min = i
		}
	}
	out := append(append([]string(nil), open[min:]...), open[:min]...)
	return append(out, out[0])
}

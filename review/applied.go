package review

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/workflow"
)

// ObjectID names an object as the cluster knows it.
type ObjectID struct {
	// Cluster is the cluster the object is applied to.
	Cluster    string `json:"cluster"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String names the object for people: "prod Deployment shop/api".
func (id ObjectID) String() string {
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "/" + id.Name
	}
	return fmt.Sprintf("%s %s %s", id.Cluster, id.Kind, name)
}

// file is the object's name in a unified diff.
func (id ObjectID) file() string {
	return path.Join(id.Cluster, strings.ReplaceAll(id.APIVersion, "/", "_"), id.Kind, id.Namespace, id.Name+".yaml")
}

func (id ObjectID) less(o ObjectID) bool {
	a := [...]string{id.Cluster, id.Kind, id.Namespace, id.Name, id.APIVersion}
	b := [...]string{o.Cluster, o.Kind, o.Namespace, o.Name, o.APIVersion}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// appliedObject is one object as Flux applies it.
type appliedObject struct {
	id       ObjectID
	workflow string // the workflow it belongs to, or clustersGroup
	// raw and values are the object as applied; yaml and fields show it
	// with its secret values redacted.
	raw    string
	values map[string]any
	yaml   string
	fields map[string]any
	// kept: Flux leaves the object in the cluster when it leaves the
	// tree (kustomize.toolkit.fluxcd.io/prune: disabled).
	kept bool
	// clusterDir: the object is in a cluster directory, which the
	// cluster's Kustomization applies, not the workflow's.
	clusterDir bool
}

// applied returns the objects Flux applies from a deploy tree: each
// workflow overlay built with kustomize, as the workflow's Flux
// Kustomization builds it (namespace included), and the objects of each
// cluster directory, which the cluster's bootstrap Kustomization applies.
func applied(tree compiler.Tree) (map[ObjectID]appliedObject, error) {
	out := map[ObjectID]appliedObject{}
	add := func(src, cluster, wf string, data []byte) error {
		nodes, err := kio.FromBytes(data)
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		for _, n := range nodes {
			o, err := newApplied(cluster, wf, n)
			if err != nil {
				return fmt.Errorf("read %s: %w", src, err)
			}
			if _, dup := out[o.id]; dup {
				return fmt.Errorf("%s: %s is applied twice", src, o.id)
			}
			out[o.id] = o
		}
		return nil
	}
	for _, p := range tree.Paths() {
		parts := strings.Split(p, "/")
		switch {
		case len(parts) == 5 && parts[0] == "workflows" && parts[2] == "clusters" && parts[4] == "kustomization.yaml":
			dir := path.Dir(p)
			y, err := tree.Kustomize(dir)
			if err != nil {
				return nil, err
			}
			if err := add(dir, parts[3], parts[1], y); err != nil {
				return nil, err
			}
		case parts[0] == "clusters" && path.Ext(p) == ".yaml" && (len(parts) == 3 && parts[2] != "kustomization.yaml" || len(parts) == 4 && parts[2] == "namespaces"):
			if err := add(p, parts[1], "", tree[p]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// partOf is the label that names an object's workflow.
const partOf = "app.kubernetes.io/part-of"

func newApplied(cluster, wf string, n *yaml.RNode) (appliedObject, error) {
	// Comments, like the generated-file header, are not applied.
	clearComments(n.YNode())
	meta, err := n.GetMeta()
	if err != nil {
		return appliedObject{}, err
	}
	clusterDir := wf == ""
	if clusterDir {
		wf = clustersGroup
		if name := meta.Labels[partOf]; name != "" {
			wf = name
		}
	}
	raw, err := n.String()
	if err != nil {
		return appliedObject{}, err
	}
	values, err := n.Map()
	if err != nil {
		return appliedObject{}, err
	}
	// A review is read by more people than the deploy branch: what a
	// check let through (or a value a newer rule would catch) is shown
	// redacted, as workflow diffs are.
	shown, _ := workflow.Redact(values).(map[string]any)
	hideRedacted(n.YNode(), shown)
	s, err := n.String()
	if err != nil {
		return appliedObject{}, err
	}
	return appliedObject{
		id:         ObjectID{Cluster: cluster, APIVersion: meta.APIVersion, Kind: meta.Kind, Namespace: meta.Namespace, Name: meta.Name},
		workflow:   wf,
		raw:        raw,
		values:     values,
		yaml:       s,
		fields:     shown,
		kept:       meta.Annotations[pruneAnnotation] == "disabled",
		clusterDir: clusterDir,
	}, nil
}

// pruneAnnotation is the annotation with which Flux's garbage collection
// skips an object.
const pruneAnnotation = "kustomize.toolkit.fluxcd.io/prune"

// hideRedacted replaces, in place, each scalar of n that redacted, the
// same document as a JSON value with its secrets redacted, shows as
// workflow.Redacted.
func hideRedacted(n *yaml.Node, redacted any) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			hideRedacted(c, redacted)
		}
	case yaml.MappingNode:
		m, _ := redacted.(map[string]any)
		for i := 0; i+1 < len(n.Content); i += 2 {
			hideRedacted(n.Content[i+1], m[n.Content[i].Value])
		}
	case yaml.SequenceNode:
		l, _ := redacted.([]any)
		for i, c := range n.Content {
			if i < len(l) {
				hideRedacted(c, l[i])
			}
		}
	case yaml.ScalarNode:
		if redacted == workflow.Redacted {
			n.Value, n.Tag, n.Style = workflow.Redacted, yaml.NodeTagString, 0
		}
	}
}

func clearComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		clearComments(c)
	}
}

func sortedIDs(m map[ObjectID]bool) []ObjectID {
	ids := make([]ObjectID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].less(ids[j]) })
	return ids
}

package compiler

import (
	"fmt"
	"path"
	"sort"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// renderFunc renders one node into objects. Each node kind has one, in the
// file named for it.
type renderFunc func(rc *renderContext, n *workflow.Node) ([]object, error)

// renderers maps each node kind to its renderFunc; every kind of
// workflow.Kinds has one (TestEveryKindHasARenderer).
var renderers = map[workflow.Kind]renderFunc{
	workflow.KindDeployment:            renderDeployment,
	workflow.KindStatefulSet:           renderStatefulSet,
	workflow.KindDaemonSet:             renderDaemonSet,
	workflow.KindJob:                   renderJob,
	workflow.KindCronJob:               renderCronJob,
	workflow.KindService:               renderService,
	workflow.KindIngress:               renderIngress,
	workflow.KindNetworkPolicy:         renderNetworkPolicy,
	workflow.KindConfigMap:             renderConfigMap,
	workflow.KindSecret:                renderSecret,
	workflow.KindPersistentVolumeClaim: renderPVC,
	workflow.KindHPA:                   renderHPA,
	workflow.KindPlugin:                renderPlugin,
}

// renderContext is what renderers may read: the workflow being rendered,
// its links, the options and the repository's files (for the encrypted
// Secrets of secret nodes).
type renderContext struct {
	wf    *workflow.Workflow
	valid *workflow.Valid
	opts  Options
	files source.Files
}

// Paths of the deploy tree.

// WorkflowDir is the directory of a workflow's base and overlays.
//
// An overlay is at workflows/<workflow>/clusters/<cluster>. Until
// Namespaces moved to the cluster level it was at .../overlays/<cluster>
// and held the Namespace; the path changed with that move on purpose: a
// workflow Kustomization that still has the old path when it meets the new
// tree fails to find it instead of pruning the Namespace (see
// namespaceFile).
func WorkflowDir(name string) string { return path.Join("workflows", name) }

// ClusterDir is the directory Flux's per-cluster Kustomization applies.
func ClusterDir(cluster string) string { return path.Join("clusters", cluster) }

func baseDir(wf string) string                { return path.Join(WorkflowDir(wf), "base") }
func overlayDir(wf, cluster string) string    { return path.Join(WorkflowDir(wf), "clusters", cluster) }
func fluxFile(wf, cluster string) string      { return path.Join(ClusterDir(cluster), wf+".yaml") }
func kustomizationFile(dir string) string     { return path.Join(dir, "kustomization.yaml") }
func sourceFile(wf *workflow.Workflow) string { return workflow.WorkflowFile(wf.Name) }

// renderWorkflow renders one published, validated workflow: its base, its
// overlay for its cluster cl (nil for the implicit default cluster) and
// its Flux Kustomization, with the account it applies as on a cluster with
// tenancy; files are the repository's, for the encrypted Secrets of its
// secret nodes and its environment Secret. It returns the files and the
// number of objects in the base.
func renderWorkflow(valid *workflow.Valid, cl *workflow.Cluster, opts Options, files source.Files) (Tree, int, error) {
	wf := valid.Workflow()
	src := sourceFile(wf)
	rc := &renderContext{wf: wf, valid: valid, opts: opts, files: files}
	tree := Tree{}
	var resources []string
	byFile := map[string]string{}
	flux := resolveFlux(wf, cl, opts, files)
	errs := flux.checkJobDeadlines(wf)
	// place adds object o to the base, or the problem dup makes of the
	// node that rendered its file before.
	place := func(o object, dup func(prev string) *workflow.Error) error {
		name := o.fileName()
		if prev, ok := byFile[name]; ok {
			errs = append(errs, dup(prev))
			return nil
		}
		byFile[name] = o.nodeID
		b, err := o.raw, error(nil)
		if b == nil {
			b, err = marshal(src, o.value)
		}
		if err != nil {
			return err
		}
		tree[path.Join(baseDir(wf.Name), name)] = b
		resources = append(resources, name)
		return nil
	}
	for i := range wf.Nodes {
		n := &wf.Nodes[i]
		render, ok := renderers[n.Type]
		if !ok {
			return nil, 0, fmt.Errorf("%s: node %q: no renderer for node kind %q", src, n.ID, n.Type)
		}
		objs, err := render(rc, n)
		if err != nil {
			errs = append(errs, &workflow.Error{File: src, Pointer: fmt.Sprintf("/nodes/%d", i), NodeID: n.ID, Message: err.Error()})
			continue
		}
		adopt(wf, cl, objs)
		for _, o := range objs {
			err := place(o, func(prev string) *workflow.Error {
				return &workflow.Error{File: src, Pointer: fmt.Sprintf("/nodes/%d", i), NodeID: n.ID,
					Message: fmt.Sprintf("renders %s %q, which node %q renders too", o.kind, o.name, prev)}
			})
			if err != nil {
				return nil, 0, fmt.Errorf("%s: node %q: %w", src, n.ID, err)
			}
		}
	}
	if o, file, ok := renderEnvSecret(rc); ok {
		err := place(o, func(prev string) *workflow.Error {
			return &workflow.Error{File: file, Message: fmt.Sprintf("is the Secret %q, which node %q renders too", o.name, prev)}
		})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", file, err)
		}
	}
	if len(errs) > 0 {
		return nil, 0, errs
	}
	sort.Strings(resources)
	if err := tree.addKustomization(src, baseDir(wf.Name), types.Kustomization{Resources: resources}); err != nil {
		return nil, 0, err
	}
	cluster := wf.Cluster()
	if err := tree.addKustomization(src, overlayDir(wf.Name, cluster), types.Kustomization{
		Namespace: wf.TargetNamespace(),
		Resources: []string{"../../base"},
	}); err != nil {
		return nil, 0, err
	}
	if err := tree.add(src, fluxFile(wf.Name, cluster), flux.objects(wf, opts)...); err != nil {
		return nil, 0, err
	}
	return tree, len(resources), nil
}

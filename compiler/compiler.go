package compiler

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/slipway-gitops/slipway/internal/parallel"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// Compiler turns a workflows repository into a deploy tree. It remembers
// what it decoded and rendered, keyed by file content, so that a build
// after a small change only redoes the changed workflows. A Compiler is
// safe for concurrent use; builds run one at a time.
type Compiler struct {
	opts Options

	mu     sync.Mutex
	loader source.Loader
	units  map[string]*unit
	// checked holds, by cluster, the digest of the cluster directory that
	// kustomize last built without error.
	checked map[string][sha256.Size]byte
}

// unit is the cached rendering of one workflow file.
type unit struct {
	// wf is the workflow as the loader decoded it: the loader returns the
	// same one while the file's content is unchanged.
	wf *workflow.Workflow
	// cluster identifies the cluster, and the content of its file, that
	// tree was rendered for.
	cluster string
	tree    Tree
	objects int
}

// New returns a Compiler.
func New(opts Options) (*Compiler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compiler options: %w", err)
	}
	return &Compiler{opts: opts, units: map[string]*unit{}, checked: map[string][sha256.Size]byte{}}, nil
}

// Result is a built deploy tree and what went into it.
type Result struct {
	// Tree is the deploy tree.
	Tree Tree `json:"-"`
	// Workflows lists every workflow of the source, by name.
	Workflows []WorkflowResult `json:"workflows"`
	// Clusters lists the clusters of the tree, by name.
	Clusters []string `json:"clusters"`
	// Objects counts the rendered objects of all published workflows.
	Objects int `json:"objects"`
	// Decoded and Rendered count the workflows this build decoded and
	// rendered; the others were reused from earlier builds.
	Decoded  int `json:"decoded"`
	Rendered int `json:"rendered"`
}

// WorkflowResult describes one workflow of a build.
type WorkflowResult struct {
	Name      string          `json:"name"`
	Status    workflow.Status `json:"status"`
	Cluster   string          `json:"cluster"`
	Namespace string          `json:"namespace"`
	Objects   int             `json:"objects"`
	// Warnings are what the workflow's user should know but that stops
	// nothing: the canvas defaults a draft has yet to fill in, every
	// problem of a draft whose file does not decode, and editor shapes
	// rendered otherwise than KubeOrch renders them.
	Warnings workflow.Errors `json:"warnings,omitempty"`
	// Ignored lists the editor and run-time state keys of the file.
	Ignored []workflow.Ignored `json:"ignored,omitempty"`
}

// Build validates every workflow and cluster of src and renders the
// published workflows. Any invalid file fails the whole build: the error
// holds every problem (see workflow.AsErrors) and no tree is returned.
func (c *Compiler) Build(ctx context.Context, src source.Files) (*Result, error) {
	return c.build(ctx, src, nil)
}

// BuildWorkflows validates src as Build does but renders only the named
// workflows: its Tree holds their files and every cluster's
// kustomization.yaml, and cluster directories are not built with
// kustomize. It serves reviews of a change, which need only what changed.
func (c *Compiler) BuildWorkflows(ctx context.Context, src source.Files, names []string) (*Result, error) {
	only := make(map[string]bool, len(names))
	for _, n := range names {
		only[n] = true
	}
	return c.build(ctx, src, only)
}

// build is Build, rendering only the workflows in only unless it is nil.
func (c *Compiler) build(ctx context.Context, src source.Files, only map[string]bool) (*Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	selected := func(u *unit) bool {
		return u.wf.Status == workflow.StatusPublished && (only == nil || only[u.wf.Name])
	}

	repo, err := c.loader.Load(ctx, src)
	if err != nil {
		return nil, err
	}
	if err := repo.Err(); err != nil {
		return nil, err
	}
	workflows, clusters := repo.Workflows, repo.Clusters
	if err := c.checkFluxNamespace(workflows); err != nil {
		return nil, err
	}
	clusterByName := map[string]*workflow.Cluster{}
	// clusterKey identifies a cluster and its file's content: a workflow
	// is rendered again when either changes.
	clusterKey := func(name string) string { return name }
	clusterSums := map[string][sha256.Size]byte{}
	for _, cl := range clusters {
		clusterByName[cl.Name] = cl
		clusterSums[cl.Name] = sha256.Sum256(src[workflow.ClusterFile(cl.Name)])
	}
	if len(clusterSums) > 0 {
		clusterKey = func(name string) string { return fmt.Sprintf("%s/%x", name, clusterSums[name]) }
	}

	res := &Result{Decoded: repo.Decoded}
	units := make([]*unit, len(workflows))
	next := make(map[string]*unit, len(workflows))
	for i, wf := range workflows {
		p := sourceFile(wf)
		if u := c.units[p]; u != nil && u.wf == wf {
			units[i] = u
		} else {
			units[i] = &unit{wf: wf}
		}
		next[p] = units[i]
	}
	c.units = next

	renderErrs := make([]error, len(units))
	var rendered atomic.Int64
	err = parallel.For(ctx, len(units), func(i int) {
		u := units[i]
		key := clusterKey(u.wf.Cluster()) + sopsKey(u.wf, src)
		if !selected(u) || (u.tree != nil && u.cluster == key) {
			return
		}
		valid := u.wf.Validated()
		if valid == nil {
			renderErrs[i] = fmt.Errorf("%s: not validated", sourceFile(u.wf))
			return
		}
		tree, objects, err := renderWorkflow(valid, clusterByName[u.wf.Cluster()], c.opts, src)
		if err == nil {
			_, err = tree.Build(overlayDir(u.wf.Name, u.wf.Cluster()))
		}
		if err != nil {
			renderErrs[i] = err
			u.tree = nil
			return
		}
		u.tree, u.cluster, u.objects = tree, key, objects
		rendered.Add(1)
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(renderErrs...); err != nil {
		return nil, err
	}
	res.Rendered = int(rendered.Load())

	res.Tree = Tree{}
	perCluster := map[string][]string{}
	for _, cl := range clusters {
		perCluster[cl.Name] = nil
	}
	if len(clusters) == 0 {
		perCluster[workflow.DefaultCluster] = nil
	}
	// Workflows may share a namespace; it is rendered once, and labelled
	// part of a workflow only when it is one workflow's.
	nsUsers := map[[2]string]int{}
	for _, u := range units {
		if u.wf.Status == workflow.StatusPublished {
			nsUsers[[2]string{u.wf.Cluster(), u.wf.TargetNamespace()}]++
		}
	}
	nsDone := map[[2]string]bool{}
	for _, u := range units {
		wr := WorkflowResult{Name: u.wf.Name, Status: u.wf.Status, Cluster: u.wf.Cluster(), Namespace: u.wf.TargetNamespace(),
			Warnings: u.wf.Warnings, Ignored: u.wf.Ignored}
		if u.wf.Status == workflow.StatusPublished {
			perCluster[wr.Cluster] = append(perCluster[wr.Cluster], u.wf.Name+".yaml")
			key := [2]string{wr.Cluster, wr.Namespace}
			if ns := renderNamespace(u.wf, clusterByName[wr.Cluster]); ns != nil && !nsDone[key] {
				nsDone[key] = true
				if nsUsers[key] > 1 {
					delete(ns.Labels, workflow.LabelPartOf)
				}
				f := namespaceFile(ns.Name)
				if err := res.Tree.add(sourceFile(u.wf), path.Join(ClusterDir(wr.Cluster), f), ns); err != nil {
					return nil, err
				}
				perCluster[wr.Cluster] = append(perCluster[wr.Cluster], f)
			}
		}
		if selected(u) {
			res.Tree.merge(u.tree)
			wr.Objects = u.objects
			res.Objects += u.objects
		}
		res.Workflows = append(res.Workflows, wr)
	}
	// A draft whose file does not decode is listed with its problems as
	// warnings: it renders nothing, and stops nothing else.
	for _, p := range slices.Sorted(maps.Keys(repo.Drafts)) {
		res.Workflows = append(res.Workflows, WorkflowResult{Name: strings.TrimSuffix(path.Base(p), ".json"), Status: workflow.StatusDraft, Warnings: repo.Drafts[p]})
	}
	sort.SliceStable(res.Workflows, func(i, j int) bool { return res.Workflows[i].Name < res.Workflows[j].Name })
	for _, name := range slices.Sorted(maps.Keys(perCluster)) {
		res.Clusters = append(res.Clusters, name)
		files := perCluster[name]
		sort.Strings(files)
		// The name keeps the kustomization valid when the cluster has no
		// published workflow, so that Flux prunes what was there.
		k := types.Kustomization{MetaData: &types.ObjectMeta{Name: name}, Resources: files}
		if err := res.Tree.addKustomization(fmt.Sprintf("the workflows of cluster %s", name), ClusterDir(name), k); err != nil {
			return nil, err
		}
		if only != nil {
			continue
		}
		if err := c.checkCluster(name, files, res.Tree); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkFluxNamespace refuses published workflows that would break the
// namespace of the Flux objects: deploying into it, whatever its name,
// their Kustomizations would prune and relabel there; named like Flux's
// own Kustomization when that namespace is Flux's own (the old layout,
// --flux-namespace flux-system), their Kustomization would replace it;
// named like the deploy branch's GitRepository when each workflow has its
// own (--workflow-sources), theirs would replace it.
func (c *Compiler) checkFluxNamespace(workflows []*workflow.Workflow) error {
	var errs workflow.Errors
	for _, w := range workflows {
		if w.Status != workflow.StatusPublished {
			continue
		}
		if w.TargetNamespace() == c.opts.SourceRefNamespace {
			ptr, node := w.NamespacePointer()
			errs = append(errs, &workflow.Error{File: sourceFile(w), Pointer: ptr, NodeID: node,
				Message: fmt.Sprintf("namespace %q holds the Flux objects; a workflow cannot deploy into it (set namespace)", w.TargetNamespace())})
		}
		if c.opts.SourceRefNamespace == fluxOwnNamespace && w.Name == fluxOwnName {
			errs = append(errs, &workflow.Error{File: sourceFile(w), Pointer: "/name",
				Message: fmt.Sprintf("%q is reserved in %s, where --flux-namespace puts the workflows' Kustomizations: Flux's own Kustomization; rename the file, or give Slipway's Flux objects a namespace of their own", w.Name, fluxOwnNamespace)})
		}
		if c.opts.WorkflowSources != "" && w.Name == c.opts.SourceRefName {
			errs = append(errs, &workflow.Error{File: sourceFile(w), Pointer: "/name",
				Message: fmt.Sprintf("%q is the GitRepository of the deploy branch (--source-ref), and with --workflow-sources each workflow's own GitRepository takes the workflow's name; rename the file", w.Name)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkCluster builds a cluster directory with kustomize unless the same
// content passed before: kustomize's cost grows with the square of the
// number of objects, and a cluster lists every workflow.
func (c *Compiler) checkCluster(name string, files []string, tree Tree) error {
	sub := Tree{}
	h := sha256.New()
	for _, f := range append(files, "kustomization.yaml") {
		p := path.Join(ClusterDir(name), f)
		sub[p] = tree[p]
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(tree[p]))
		h.Write(tree[p])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if c.checked[name] == sum {
		return nil
	}
	if _, err := sub.Build(ClusterDir(name)); err != nil {
		return err
	}
	c.checked[name] = sum
	return nil
}

package deployer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
)

// sourceMoves returns the moves of the workflows' source refs that go
// with deploy commit head, given the refs as listed, with the workflows
// whose ref moves and those whose ref goes, by name.
//
// The ref of each workflow whose tree at head differs from its tree at the
// commit the ref points at, or that has none, moves to head. Listing the
// refs each deploy, rather than remembering them, has a deploy also move
// the refs an interrupted one left behind.
//
// The ref of a workflow head lacks is deleted, in the push that takes the
// workflow out of the deploy branch. Flux needs it no more: the cluster
// Kustomization, applying head, prunes the workflow's GitRepository and
// Kustomization, and kustomize-controller deletes the workflow's objects
// from the Kustomization's inventory, reading no source. Until then the
// GitRepository fails to fetch and keeps the artifact it has. Without the
// layout (Options.WorkflowSources) every ref goes so: the cluster
// Kustomization, applying head, points the workflows' Kustomizations at
// the deploy branch's GitRepository and prunes theirs.
func (d *Deployer) sourceMoves(listed map[plumbing.ReferenceName]plumbing.Hash, head *object.Commit) (moves []gitrepo.RefMove, moved, removed []string, err error) {
	at := map[string]plumbing.Hash{} // without the layout, no workflow keeps a ref
	if d.opts.WorkflowSources {
		if at, err = workflowTrees(head); err != nil {
			return nil, nil, nil, fmt.Errorf("deploy commit %s: %w", gitrepo.ShortID(head.Hash.String()), err)
		}
	}
	// The commits refs point at, read once each: most share a few.
	seen := map[plumbing.Hash]map[string]plumbing.Hash{}
	for _, wf := range slices.Sorted(maps.Keys(at)) {
		name := plumbing.ReferenceName(compiler.WorkflowSourceRef(d.opts.Branch, wf))
		old := listed[name]
		if old == head.Hash {
			continue
		}
		if !old.IsZero() {
			trees, ok := seen[old]
			if !ok {
				// A commit this clone lacks (the branch was rewritten)
				// holds no tree the ref could keep.
				if oc, err := d.target.Commit(old); err == nil {
					trees, _ = workflowTrees(oc)
				}
				seen[old] = trees
			}
			if trees[wf] == at[wf] {
				continue
			}
		}
		moves = append(moves, gitrepo.RefMove{Name: name, Old: old, New: head.Hash})
		moved = append(moved, wf)
	}
	prefix := compiler.WorkflowSourceRef(d.opts.Branch, "")
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		wf := strings.TrimPrefix(name.String(), prefix)
		// A name with a slash is another deploy branch's, deploy/<x>.
		if _, ok := at[wf]; ok || strings.Contains(wf, "/") {
			continue
		}
		moves = append(moves, gitrepo.RefMove{Name: name, Old: listed[name]})
		removed = append(removed, wf)
	}
	return moves, moved, removed, nil
}

// workflowTrees returns the hash of each workflow's tree, workflows/<name>,
// at commit c.
func workflowTrees(c *object.Commit) (map[string]plumbing.Hash, error) {
	root, err := c.Tree()
	if err != nil {
		return nil, err
	}
	dir, err := root.Tree(compiler.WorkflowDir(""))
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return map[string]plumbing.Hash{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]plumbing.Hash, len(dir.Entries))
	for _, e := range dir.Entries {
		if !e.Mode.IsFile() {
			out[e.Name] = e.Hash
		}
	}
	return out, nil
}

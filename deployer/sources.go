package deployer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
)

// moveSources moves the source ref of each workflow whose tree at the
// deploy commit head differs from its tree at the commit the ref points
// at, or that has none, to head, and returns those workflows by name. The
// refs are read from the deploy repository each time, so that a deploy
// also moves the refs an interrupted one left behind. A removed
// workflow's ref stays: it points at a commit that held the workflow, and
// a workflow of that name with the same tree may read it again.
func (d *Deployer) moveSources(ctx context.Context, head plumbing.Hash) ([]string, error) {
	prefix := compiler.WorkflowSourceRef(d.opts.Branch, "")
	refs, err := d.target.Refs(ctx, prefix)
	if err != nil {
		return nil, err
	}
	c, err := d.target.Commit(head)
	if err != nil {
		return nil, err
	}
	at, err := workflowTrees(c)
	if err != nil {
		return nil, fmt.Errorf("deploy commit %s: %w", gitrepo.ShortID(head.String()), err)
	}
	// The commits refs point at, read once each: most share a few.
	seen := map[plumbing.Hash]map[string]plumbing.Hash{}
	var moves []gitrepo.RefMove
	var moved []string
	for _, wf := range slices.Sorted(maps.Keys(at)) {
		name := plumbing.ReferenceName(compiler.WorkflowSourceRef(d.opts.Branch, wf))
		old := refs[name]
		if old == head {
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
		moves = append(moves, gitrepo.RefMove{Name: name, Old: old, New: head})
		moved = append(moved, wf)
	}
	if err := d.target.MoveRefs(ctx, moves); err != nil {
		return nil, fmt.Errorf("move the sources of %d workflows: %w", len(moves), err)
	}
	return moved, nil
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

package gitrepo

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CommitBranch commits files on top of base, as sig, and moves branch
// from old to the new commit by compare-and-swap: a zero old creates the
// branch, and a branch that is not at old fails with ErrConflict. base
// must be old or descend from it: a branch is moved forward, never
// rewritten. A commit that would change none of files fails with
// ErrUnchanged. A clone pushes the branch to its remote. When branch is
// checked out in a local repository, its working tree must be clean and
// is updated.
//
// Unlike EditFiles, which continues a branch's own head, CommitBranch
// starts or continues a branch from a commit of the caller's choosing,
// such as another branch's head.
func (r *Repo) CommitBranch(ctx context.Context, branch string, base *object.Commit, old plumbing.Hash, files map[string][]byte, sig Signature, message string) (*object.Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	worktree, err := r.checkedOut(branch)
	if err != nil {
		return nil, err
	}
	if !old.IsZero() && old != base.Hash {
		oc, err := r.commit(old)
		if err != nil {
			return nil, err
		}
		forward, err := oc.IsAncestor(base)
		if err != nil {
			return nil, fmt.Errorf("commit on %s: walk the history of %s: %w", branch, short(base.Hash), err)
		}
		if !forward {
			return nil, fmt.Errorf("commit on %s: %s does not descend from the branch's head %s, which would be lost", branch, short(base.Hash), short(old))
		}
	}
	h, err := r.commitFiles(base, files, sig, message)
	if err != nil {
		return nil, err
	}
	if err := r.setBranch(ctx, branch, old, h); err != nil {
		return nil, fmt.Errorf("commit on %s: %w", branch, err)
	}
	if worktree {
		if err := r.resetWorktree(h); err != nil {
			return nil, err
		}
	}
	return r.commit(h)
}

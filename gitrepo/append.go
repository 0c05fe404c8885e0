package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Change is one commit for Append: files to write over the commit before.
type Change struct {
	// Files maps repository paths to their new content.
	Files map[string][]byte
	// Author made the change at When.
	Author Signature
	// Committer commits the change; when zero, Author does.
	Committer Signature
	When      time.Time
	Message   string
}

// ErrExists means Append would overwrite a file the branch has.
var ErrExists = errors.New("file exists")

// Append writes changes as consecutive commits on branch, creating the
// branch when it does not exist, and moves the branch once: afterwards it
// has all of them or, on an error, none. It refuses, with ErrExists, to
// overwrite a file the branch already has. When branch is checked out in a
// local repository, its working tree must be clean and is updated. It
// returns the last commit.
func (r *Repo) Append(ctx context.Context, branch string, changes []Change) (*object.Commit, error) {
	if len(changes) == 0 {
		return nil, errors.New("append: no changes")
	}
	for i, ch := range changes {
		if len(ch.Files) == 0 {
			return nil, fmt.Errorf("append: change %d writes no file", i)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	worktree, err := r.checkedOutOrUnborn(branch)
	if err != nil {
		return nil, err
	}
	if err := r.Fetch(ctx); err != nil {
		return nil, err
	}
	head, err := r.Branch(branch)
	if err != nil {
		return nil, err
	}
	var tree *object.Tree
	if !head.IsZero() {
		c, err := r.commit(head)
		if err != nil {
			return nil, err
		}
		if tree, err = c.Tree(); err != nil {
			return nil, fmt.Errorf("read tree of %s: %w", short(head), err)
		}
		for _, ch := range changes {
			for p := range ch.Files {
				if _, err := tree.FindEntry(p); err == nil {
					return nil, fmt.Errorf("append to %s: %s: %w", branch, p, ErrExists)
				}
			}
		}
	}
	parent := head
	for _, ch := range changes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		paths := make([]string, 0, len(ch.Files))
		for p := range ch.Files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		var root plumbing.Hash
		for _, p := range paths {
			blob, err := r.storeBlob(ch.Files[p])
			if err != nil {
				return nil, err
			}
			if root, err = r.setFile(tree, p, blob); err != nil {
				return nil, err
			}
			if tree, err = r.repo.TreeObject(root); err != nil {
				return nil, fmt.Errorf("read tree %s: %w", short(root), err)
			}
		}
		committer := ch.Committer
		if committer == (Signature{}) {
			committer = ch.Author
		}
		if parent, err = r.storeCommitAt(tree.Hash, parent, ch.Author, committer, ch.When, ch.Message); err != nil {
			return nil, err
		}
	}
	if err := r.setBranch(ctx, branch, head, parent); err != nil {
		return nil, fmt.Errorf("append to %s: %w", branch, err)
	}
	if worktree {
		if err := r.resetWorktree(parent); err != nil {
			return nil, err
		}
	}
	return r.commit(parent)
}

// checkedOutOrUnborn is checkedOut, also true for a branch that HEAD names
// but that has no commit yet, as in a repository just made by git init.
func (r *Repo) checkedOutOrUnborn(branch string) (bool, error) {
	if ok, err := r.checkedOut(branch); ok || err != nil || r.url != "" {
		return ok, err
	}
	ref, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil || ref.Type() != plumbing.SymbolicReference || ref.Target() != plumbing.NewBranchReferenceName(branch) {
		return false, nil
	}
	if h, err := r.Branch(branch); err != nil || !h.IsZero() {
		return false, err
	}
	if _, err := r.repo.Worktree(); errors.Is(err, git.ErrIsBareRepository) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

package gitrepo

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUnchanged means an edit would not change the file.
var ErrUnchanged = errors.New("content is unchanged")

// EditFile commits one file's new content on top of branch and returns
// the commit. edit is given the branch's head and the file's content there
// (nil when it has none) and returns the new content, or an error that
// stops the edit; returning the content unchanged stops it with
// ErrUnchanged. The branch moves by compare-and-swap: when it moved
// meanwhile, edit is called again with the new head, so that it judges
// what it overwrites. When branch is checked out in a local repository,
// its working tree must be clean and is updated.
func (r *Repo) EditFile(ctx context.Context, branch, path string, sig Signature, message string, edit func(head *object.Commit, content []byte) ([]byte, error)) (*object.Commit, error) {
	// The working tree is looked at under the lock: another edit's update
	// of it would look like changes.
	r.mu.Lock()
	defer r.mu.Unlock()
	worktree, err := r.checkedOut(branch)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := r.Fetch(ctx); err != nil {
			return nil, err
		}
		head, err := r.Resolve(branch)
		if err != nil {
			return nil, err
		}
		cur, err := fileAt(head, path)
		if err != nil {
			return nil, err
		}
		var content []byte
		if !cur.IsZero() {
			if content, err = r.readBlob(cur); err != nil {
				return nil, err
			}
		}
		next, err := edit(head, content)
		if err != nil {
			return nil, err
		}
		h, err := r.commitFile(head, path, cur, next, sig, message)
		if err != nil {
			return nil, err
		}
		err = r.setBranch(ctx, branch, head.Hash, h)
		if errors.Is(err, ErrConflict) && attempt < MaxAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		if worktree {
			if err := r.resetWorktree(h); err != nil {
				return nil, err
			}
		}
		return r.commit(h)
	}
}

// commitFile stores a commit on head that sets path, whose blob there is
// cur, to content.
func (r *Repo) commitFile(head *object.Commit, path string, cur plumbing.Hash, content []byte, sig Signature, message string) (plumbing.Hash, error) {
	blob, err := r.storeBlob(content)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if blob == cur {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", path, ErrUnchanged)
	}
	tree, err := head.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	root, err := r.setFile(tree, path, blob)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return r.storeCommit(root, head.Hash, sig, message)
}

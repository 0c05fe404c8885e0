package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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
	return r.EditFiles(ctx, branch, sig, message, func(head *object.Commit, read func(path string) ([]byte, error)) (map[string][]byte, error) {
		content, err := read(path)
		if err != nil {
			return nil, err
		}
		next, err := edit(head, content)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{path: next}, nil
	})
}

// EditFiles is EditFile for several files changed in one commit: edit is
// given the branch's head and a function that reads a file there (nil
// when it has none), and returns the new content of the files it
// changes. When none of them changes, the edit stops with ErrUnchanged.
func (r *Repo) EditFiles(ctx context.Context, branch string, sig Signature, message string, edit func(head *object.Commit, read func(path string) ([]byte, error)) (map[string][]byte, error)) (*object.Commit, error) {
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
		files, err := edit(head, func(path string) ([]byte, error) {
			cur, err := fileAt(head, path)
			if err != nil || cur.IsZero() {
				return nil, err
			}
			return r.readBlob(cur)
		})
		if err != nil {
			return nil, err
		}
		h, err := r.commitFiles(head, files, sig, message)
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

// commitFiles stores a commit on head that sets each of files to its
// content; ErrUnchanged when head has them all so.
func (r *Repo) commitFiles(head *object.Commit, files map[string][]byte, sig Signature, message string) (plumbing.Hash, error) {
	tree, err := head.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	paths := slices.Sorted(maps.Keys(files))
	root, changed := tree.Hash, false
	for _, p := range paths {
		cur, err := fileAt(head, p)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		blob, err := r.storeBlob(files[p])
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if blob == cur {
			continue
		}
		changed = true
		if root, err = r.setFile(tree, p, blob); err != nil {
			return plumbing.ZeroHash, err
		}
		if tree, err = r.repo.TreeObject(root); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", short(root), err)
		}
	}
	if !changed {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", strings.Join(paths, ", "), ErrUnchanged)
	}
	return r.storeCommit(root, head.Hash, sig, message)
}

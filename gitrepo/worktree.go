package gitrepo

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// checkedOut reports whether branch is checked out in the working tree of
// a local repository, and fails with ErrDirtyWorktree when it is and has
// changes that an update of the branch would hide.
func (r *Repo) checkedOut(branch string) (bool, error) {
	if r.url != "" {
		return false, nil
	}
	wt, err := r.repo.Worktree()
	if errors.Is(err, git.ErrIsBareRepository) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	head, err := r.repo.Head()
	if err != nil || head.Name() != plumbing.NewBranchReferenceName(branch) {
		return false, nil
	}
	st, err := wt.Status()
	if err != nil {
		return false, fmt.Errorf("status: %w", err)
	}
	if !st.IsClean() {
		return false, fmt.Errorf("branch %s is checked out: %w", branch, ErrDirtyWorktree)
	}
	return true, nil
}

// resetWorktree makes the index and working tree match commit h.
func (r *Repo) resetWorktree(h plumbing.Hash) error {
	wt, err := r.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Reset(&git.ResetOptions{Commit: h, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("update working tree: %w", err)
	}
	return nil
}

package gitrepo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// MaxAttempts bounds the retries of a branch update that lost a race
// (ErrConflict).
const MaxAttempts = 20

// setBranch moves a branch from old to new (old zero: the branch must not
// exist) or fails with ErrConflict. In a local repository it follows git's
// lock-file protocol: the new value is written to <ref>.lock, created
// exclusively, and renamed over the ref, so a process killed at any point
// leaves the branch at old or new. A clone pushes to its remote, whose
// receive-pack does the same. Callers hold r.mu.
func (r *Repo) setBranch(ctx context.Context, branch string, old, new plumbing.Hash) error {
	return r.update(ctx, branch, old, new, nil)
}

// update is setBranch that also moves the refs of moves, each by
// compare-and-swap, and leaves the branch as it is when old equals new. A
// clone pushes the branch and the refs in one atomic push, so that its
// remote moves all or none, and a push that leaves the branch requires it
// at old when the remote lists its refs. A local repository moves the
// branch, then the refs one after another. Callers hold r.mu.
func (r *Repo) update(ctx context.Context, branch string, old, new plumbing.Hash, moves []RefMove) error {
	if old == new && len(moves) == 0 {
		return nil
	}
	if r.url != "" {
		return r.push(ctx, branch, old, new, moves)
	}
	if old != new {
		if err := r.setLocalRef(plumbing.NewBranchReferenceName(branch), branch, old, new); err != nil {
			return err
		}
	}
	return r.moveLocalRefs(moves)
}

// setLocalRef moves ref name of a local repository from old to new by
// git's lock-file protocol, as setBranch says; branch names it in
// messages. Callers hold r.mu.
func (r *Repo) setLocalRef(name plumbing.ReferenceName, branch string, old, new plumbing.Hash) error {
	file := filepath.Join(r.gitDir, filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("update %s: %w", branch, err)
	}
	lock := file + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("update %s: %s exists (another writer holds it; remove it if none runs): %w", branch, lock, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", branch, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(lock)
		}
	}()
	if _, err := f.WriteString(new.String() + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("update %s: %w", branch, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update %s: %w", branch, err)
	}
	cur, err := r.repo.Storer.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !old.IsZero() {
			return fmt.Errorf("update %s: branch was deleted: %w", branch, ErrConflict)
		}
	case err != nil:
		return fmt.Errorf("update %s: %w", branch, err)
	case cur.Hash() != old:
		return fmt.Errorf("update %s: at %s, expected %s: %w", branch, short(cur.Hash()), short(old), ErrConflict)
	}
	if err := os.Rename(lock, file); err != nil {
		return fmt.Errorf("update %s: %w", branch, err)
	}
	committed = true
	return nil
}

// push updates a branch of the remote of a clone from old to new, unless
// they are equal, and the refs of moves, in one atomic push (update).
func (r *Repo) push(ctx context.Context, branch string, old, new plumbing.Hash, moves []RefMove) error {
	// Private refs name the commits to push; their random names keep
	// processes that share the cache apart.
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	opts := &git.PushOptions{RemoteName: "origin", Auth: r.auth, Atomic: len(moves) > 0}
	var tmps []plumbing.ReferenceName
	defer func() {
		for _, tmp := range tmps {
			r.repo.Storer.RemoveReference(tmp)
		}
	}()
	// add pushes dst from old to new; force lets it move to a commit that
	// does not descend from old: the compare-and-swap is RequireRemoteRefs'.
	add := func(dst plumbing.ReferenceName, old, new plumbing.Hash, force bool) error {
		if !old.IsZero() {
			opts.RequireRemoteRefs = append(opts.RequireRemoteRefs, config.RefSpec(old.String()+":"+dst.String()))
		}
		if new.IsZero() {
			opts.RefSpecs = append(opts.RefSpecs, config.RefSpec(":"+dst.String()))
			return nil
		}
		tmp := plumbing.ReferenceName(fmt.Sprintf("refs/slipway/push/%s-%d", hex.EncodeToString(id[:]), len(tmps)))
		if err := r.repo.Storer.SetReference(plumbing.NewHashReference(tmp, new)); err != nil {
			return fmt.Errorf("push %s: %w", dst, err)
		}
		tmps = append(tmps, tmp)
		spec := tmp.String() + ":" + dst.String()
		if force {
			spec = "+" + spec
		}
		opts.RefSpecs = append(opts.RefSpecs, config.RefSpec(spec))
		return nil
	}
	what := branch
	switch {
	case old == new:
		// Only the refs move; the branch must still be where it was read.
		what = fmt.Sprintf("%d refs", len(moves))
		opts.RequireRemoteRefs = append(opts.RequireRemoteRefs, config.RefSpec(old.String()+":"+plumbing.NewBranchReferenceName(branch).String()))
	case len(moves) > 0:
		what = fmt.Sprintf("%s and %d refs", branch, len(moves))
	}
	if old != new {
		if err := add(plumbing.NewBranchReferenceName(branch), old, new, false); err != nil {
			return err
		}
	}
	for _, m := range moves {
		// Forced: a ref follows the deploy branch, which a person may have
		// rewritten.
		if err := add(m.Name, m.Old, m.New, true); err != nil {
			return err
		}
	}
	err := r.repo.PushContext(ctx, opts)
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
	case isRejected(err):
		return remoteError(fmt.Errorf("push %s to %s: %w: %w", what, r.url, ErrConflict, err))
	default:
		return remoteError(fmt.Errorf("push %s to %s: %w", what, r.url, err))
	}
	if old == new {
		return nil
	}
	tracking := plumbing.NewHashReference(r.branchRef(branch), new)
	r.remote.Lock()
	defer r.remote.Unlock()
	if err := r.repo.Storer.SetReference(tracking); err != nil {
		return fmt.Errorf("push %s: record remote branch: %w", branch, err)
	}
	return nil
}

// isRejected reports whether a push failed because the remote branch had
// moved.
func isRejected(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) {
		return true
	}
	msg := err.Error()
	// An atomic push whose refs the remote could not all update, one
	// having moved, fails with "atomic transaction failed".
	for _, s := range []string{"non-fast-forward", "remote ref", "failed to update ref", "fetch first", "stale info", "cannot lock ref", "atomic transaction failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing"
	}
	return ShortID(h.String())
}

// ShortID abbreviates a commit id to the 12 characters that messages show.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

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
	if r.url != "" {
		return r.push(ctx, branch, old, new)
	}
	return r.setLocalRef(plumbing.NewBranchReferenceName(branch), branch, old, new)
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

// push updates a branch of the remote of a clone from old to new.
func (r *Repo) push(ctx context.Context, branch string, old, new plumbing.Hash) error {
	// A private ref names the commit to push; its random name keeps
	// processes that share the cache apart.
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	tmp := plumbing.ReferenceName("refs/slipway/push/" + hex.EncodeToString(id[:]))
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(tmp, new)); err != nil {
		return fmt.Errorf("push %s: %w", branch, err)
	}
	defer r.repo.Storer.RemoveReference(tmp)
	dst := plumbing.NewBranchReferenceName(branch)
	opts := &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec(tmp.String() + ":" + dst.String())},
		Auth:       r.auth,
	}
	if !old.IsZero() {
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(old.String() + ":" + dst.String())}
	}
	err := r.repo.PushContext(ctx, opts)
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
	case isRejected(err):
		return remoteError(fmt.Errorf("push %s to %s: %w: %w", branch, r.url, ErrConflict, err))
	default:
		return remoteError(fmt.Errorf("push %s to %s: %w", branch, r.url, err))
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
	for _, s := range []string{"non-fast-forward", "remote ref", "failed to update ref", "fetch first", "stale info", "cannot lock ref"} {
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

package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// RefMove moves a ref that is not a branch from Old to New; a zero Old
// creates it, a zero New deletes it.
type RefMove struct {
	Name     plumbing.ReferenceName
	Old, New plumbing.Hash
}

// Refs returns the refs whose names start with prefix and the commits they
// point at, as the repository has them now: for a clone, as its remote
// lists them.
func (r *Repo) Refs(ctx context.Context, prefix string) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	keep := func(ref *plumbing.Reference) {
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(ref.Name().String(), prefix) {
			out[ref.Name()] = ref.Hash()
		}
	}
	if r.url == "" {
		iter, err := r.repo.References()
		if err != nil {
			return nil, fmt.Errorf("list refs %s*: %w", prefix, err)
		}
		err = iter.ForEach(func(ref *plumbing.Reference) error { keep(ref); return nil })
		if err != nil {
			return nil, fmt.Errorf("list refs %s*: %w", prefix, err)
		}
		return out, nil
	}
	remote, err := r.repo.Remote("origin")
	if err != nil {
		return nil, fmt.Errorf("list refs %s*: %w", prefix, err)
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, remoteError(fmt.Errorf("list refs %s* of %s: %w: %w", prefix, r.url, ErrUnavailable, err))
	}
	for _, ref := range refs {
		keep(ref)
	}
	return out, nil
}

// moveLocalRefs moves the refs of a local repository one after another,
// each by git's lock-file protocol (setLocalRef, deleteLocalRef). Callers
// hold r.mu.
func (r *Repo) moveLocalRefs(moves []RefMove) error {
	for _, m := range moves {
		var err error
		if m.New.IsZero() {
			err = r.deleteLocalRef(m.Name, m.Old)
		} else {
			err = r.setLocalRef(m.Name, m.Name.String(), m.Old, m.New)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteLocalRef deletes ref name of a local repository, loose or packed,
// when it is at old, holding <ref>.lock meanwhile as git does; it fails
// with ErrConflict when the ref moved. A ref already gone is no error.
// Callers hold r.mu.
func (r *Repo) deleteLocalRef(name plumbing.ReferenceName, old plumbing.Hash) error {
	lock := filepath.Join(r.gitDir, filepath.FromSlash(name.String())) + ".lock"
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("delete %s: %s exists (another writer holds it; remove it if none runs): %w", name, lock, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	f.Close()
	defer os.Remove(lock)
	cur, err := r.repo.Storer.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("delete %s: %w", name, err)
	case cur.Hash() != old:
		return fmt.Errorf("delete %s: at %s, expected %s: %w", name, short(cur.Hash()), short(old), ErrConflict)
	}
	if err := r.repo.Storer.RemoveReference(name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

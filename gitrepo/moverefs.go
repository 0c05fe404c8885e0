package gitrepo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// RefMove moves a ref that is not a branch from Old to New; a zero Old
// creates it.
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

// MoveRefs moves refs by compare-and-swap, failing with ErrConflict when
// one was not at its Old. A clone pushes them to its remote in one atomic
// push, so that the remote moves all or none; git's push cannot require a
// ref to be absent, so a ref created meanwhile is overwritten there. A
// local repository moves them one after another, each under git's
// lock-file protocol.
func (r *Repo) MoveRefs(ctx context.Context, moves []RefMove) error {
	if len(moves) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.url == "" {
		for _, m := range moves {
			if err := r.setLocalRef(m.Name, m.Name.String(), m.Old, m.New); err != nil {
				return err
			}
		}
		return nil
	}
	// Private refs name the commits to push, as push does.
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	opts := &git.PushOptions{RemoteName: "origin", Auth: r.auth, Atomic: true}
	for i, m := range moves {
		tmp := plumbing.ReferenceName(fmt.Sprintf("refs/slipway/push/%s-%d", hex.EncodeToString(id[:]), i))
		if err := r.repo.Storer.SetReference(plumbing.NewHashReference(tmp, m.New)); err != nil {
			return fmt.Errorf("push %s: %w", m.Name, err)
		}
		defer r.repo.Storer.RemoveReference(tmp)
		// Forced: a ref follows the deploy branch, which a person may have
		// rewritten; the compare-and-swap is RequireRemoteRefs'.
		opts.RefSpecs = append(opts.RefSpecs, config.RefSpec("+"+tmp.String()+":"+m.Name.String()))
		if !m.Old.IsZero() {
			opts.RequireRemoteRefs = append(opts.RequireRemoteRefs, config.RefSpec(m.Old.String()+":"+m.Name.String()))
		}
	}
	err := r.repo.PushContext(ctx, opts)
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case isRejected(err):
		return remoteError(fmt.Errorf("push %d refs to %s: %w: %w", len(moves), r.url, ErrConflict, err))
	default:
		return remoteError(fmt.Errorf("push %d refs to %s: %w", len(moves), r.url, err))
	}
}
